"""Layer 7: attribution, tear sheet, weekly PDF and letters."""
