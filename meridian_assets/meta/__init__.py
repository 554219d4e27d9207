"""Meta layer: sleeves, backtests, diagnostics, allocation and config-change proposals."""
