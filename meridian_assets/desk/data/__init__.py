"""What each desk page shows, built from the snapshot by plain functions (one module per page)."""
