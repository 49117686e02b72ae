"""mmctl entry point: parses the command line and runs one command module."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from types import ModuleType

from common.config import ConfigError, load_settings
from common.operator import TARGETS
from services.mmctl.commands import (
    accounts,
    alertmanager,
    backtest,
    backup,
    console_user,
    control,
    events,
    fills,
    keys,
    orders,
    report,
    session,
    status,
    tap,
)
from services.mmctl.context import Ctl

MODULES: dict[str, ModuleType] = {
    "status": status,
    "tap": tap,
    "events": events,
    "orders": orders,
    "fills": fills,
    "report": report,
    "session": session,
    "accounts": accounts,
    **{name: control for name in TARGETS},
}
OFFLINE: dict[str, ModuleType] = {
    "keys": keys,
    "backtest": backtest,
    "backup": backup,
    "restore": backup,
    "alertmanager-config": alertmanager,
    "console-user": console_user,
}
"""Commands that run without config or bus (``run_offline(args)``)."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmctl", description="Operate the market maker.")
    p.add_argument("--profile", help="config profile (default: $MM_PROFILE or paper)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each reply")
    sub = p.add_subparsers(dest="command", required=True)
    added: set[int] = set()
    for mod in [*MODULES.values(), *OFFLINE.values()]:
        if id(mod) not in added:
            mod.add_parser(sub)
            added.add(id(mod))
    return p


async def _run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.profile)
        ctl = Ctl(settings, args.timeout)  # over tcp: refuses missing CURVE keys of mmctl
    except ConfigError as exc:
        print(f"mmctl: {exc}", file=sys.stderr)
        return 2
    try:
        return int(await MODULES[args.command].run(ctl, args))
    finally:
        ctl.close()


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        if args.command in OFFLINE:
            sys.exit(OFFLINE[args.command].run_offline(args))
        try:
            code = asyncio.run(_run(args))
        except KeyboardInterrupt:
            code = 130
    except BrokenPipeError:  # `mmctl status | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    sys.exit(code)
