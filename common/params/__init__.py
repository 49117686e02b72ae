"""Typed parameter sets of the quoting models and risk rules, with the seeds' names and defaults."""
