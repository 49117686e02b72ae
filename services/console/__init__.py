"""The web console: a live view of the system and the operator's buttons, on loopback."""
