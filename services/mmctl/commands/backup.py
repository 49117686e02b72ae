"""``mmctl backup DIR`` and ``mmctl restore DIR``: the recorder's store and Parquet lake, saved while
running and put back into an empty run directory (:mod:`services.recorder.backup`). They read the
configuration but need no bus: the backup copies files and the database directly."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.config import ConfigError, load_settings
from services.recorder.backup import BackupError, backup, restore


def add_parser(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("backup", help="save the recorder's store and lake into a new directory")
    b.add_argument("dir", type=Path)
    r = sub.add_parser("restore", help="put a backup back (the recorder stopped, the run dir empty)")
    r.add_argument("dir", type=Path)
    r.add_argument("--force", action="store_true", help="restore over a store or lake that holds data")


def run_offline(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.profile)
        if args.command == "backup":
            m = backup(settings, args.dir)
            print(f"backed up to {args.dir}: {sum(m['tables'].values())} rows ({m['backend']}), "
                  f"{m['lake_parts']} lake parts")  # fmt: skip
        else:
            m = restore(settings, args.dir, args.force)
            print(f"restored from {args.dir} into {settings.run_path}: {sum(m['tables'].values())} rows, "
                  f"{m['lake_parts']} lake parts")  # fmt: skip
    except (ConfigError, BackupError) as exc:
        print(f"mmctl {args.command}: {exc}", file=sys.stderr)
        return 2
    return 0
