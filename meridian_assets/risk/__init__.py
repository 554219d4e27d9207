"""Layer 5: factor risk model, pre-trade vetoes, circuit breakers, kill switch, monitors and stress."""
