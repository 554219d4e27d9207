"""Layer 4: the book (cvxpy MVO and conviction-tilt), costs and the turnover budget."""
