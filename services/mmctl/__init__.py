"""``mmctl``: the operator's command line (status, tap, kill, pause, resume, queries, reports)."""
