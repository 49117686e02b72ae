"""Market data: the local L2 book, its sync with the venue stream, and derived features."""
