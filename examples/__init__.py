"""Apps of "other teams" wired to ``ykmake.monitoring``; tests/integration/examples runs them."""
