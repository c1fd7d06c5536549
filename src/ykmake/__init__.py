"""YkMake monitoring."""
