"""The spot dead-man's switch: what stands in for ``countdownCancelAll``, which spot does not have."""
