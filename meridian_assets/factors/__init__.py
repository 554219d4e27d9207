"""Layer 2: within-sector factor scores, composite, crowding and the factor tear sheet."""
