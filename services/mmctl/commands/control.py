"""``mmctl kill | pause | resume | cancel-all | flatten | reload``: commands with acknowledgements.

The kill switch goes to every service that must act (``--to`` overrides) and waits for each one's
acknowledgement; a missing or negative acknowledgement makes the exit code non-zero, so a script
or an operator knows the switch did not fully take.
"""

from __future__ import annotations

import argparse

from common.config import SERVICES
from common.operator import TARGETS, broadcast, build
from services.mmctl.context import Ctl, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    for name, helptext in (
        ("kill", "kill switch: stop quoting, cancel every order (and flatten with --flatten)"),
        ("pause", "stop quoting (a symbol or all) until resume"),
        ("resume", "resume quoting after pause, halt or kill"),
        ("cancel-all", "cancel every open order (a symbol or all)"),
        ("flatten", "close positions with reduce-only orders (a symbol or all)"),
        ("reload", "reload config files; a bad value is refused and the old set kept"),
    ):
        p = sub.add_parser(name, help=helptext)
        if name not in ("kill", "reload"):
            p.add_argument("symbol", nargs="?", default="", help="one symbol; default all")
        if name == "kill":
            p.add_argument("--flatten", action="store_true", help="also close every position")
        p.add_argument("--reason", default="operator")
        p.add_argument(
            "--to", default="", help="comma-separated services (default: " + ", ".join(TARGETS[name]) + ")"
        )
        p.add_argument("--json", action="store_true")


async def run(ctl: Ctl, args: argparse.Namespace) -> int:
    name = args.command
    targets = tuple(t for t in args.to.split(",") if t) if args.to else TARGETS[name]
    unknown = [t for t in targets if t not in SERVICES]
    if unknown:
        print(f"unknown service(s): {', '.join(unknown)}")
        return 2
    cmd = build(name, getattr(args, "symbol", ""), args.reason, getattr(args, "flatten", False))
    rows = await broadcast(ctl.client, cmd, targets)
    for r in rows:
        if args.json:
            print_json(r)
        else:
            mark = "ok " if r["ok"] else "FAILED"
            print(f"{mark:<6} {r['service']:<11} {r.get('error') or r.get('result') or ''}")
    return 0 if all(r["ok"] for r in rows) else 1
