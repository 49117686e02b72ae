"""The backtester: the same pure quoting code the live strategy runs, driven in one process."""
