"""Layer 6: execution through alpaca-py and the simulated venue."""
