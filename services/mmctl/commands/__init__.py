"""One module per mmctl command; each exposes ``add_parser(subparsers)`` and ``async run(ctl, args)``."""
