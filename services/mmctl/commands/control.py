"""``mmctl kill | pause | resume | cancel-all | flatten | reload``: commands with acknowledgements.

The kill switch goes to every service that must act (``--to`` overrides) and waits for each one's
acknowledgement; a missing or negative acknowledgement makes the exit code non-zero, so a script
or an operator knows the switch did not fully take.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from common.bus import RequestTimeout
from common.config import SERVICES
from common.messages import AnyCommand, CancelAll, Flatten, Kill, Pause, ReloadConfig, Resume
from services.mmctl.context import Ctl, print_json

# Who must act on each command, in the order they are asked.
TARGETS: dict[str, tuple[str, ...]] = {
    "kill": ("risk", "gateway", "strategy"),
    "pause": ("risk", "strategy"),
    "resume": ("risk", "strategy"),
    "cancel-all": ("gateway",),
    "flatten": ("gateway",),
    "reload": ("strategy", "risk", "marketdata", "gateway"),
}


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


def build(name: str, args: argparse.Namespace) -> AnyCommand:
    sym = getattr(args, "symbol", "")
    match name:
        case "kill":
            return Kill(reason=args.reason, flatten=args.flatten)
        case "pause":
            return Pause(symbol=sym, reason=args.reason)
        case "resume":
            return Resume(symbol=sym, reason=args.reason)
        case "cancel-all":
            return CancelAll(symbol=sym, reason=args.reason)
        case "flatten":
            return Flatten(symbol=sym, reason=args.reason)
        case "reload":
            return ReloadConfig()
    raise ValueError(name)


async def broadcast(ctl: Ctl, cmd: AnyCommand, targets: tuple[str, ...]) -> list[dict[str, Any]]:
    """Send ``cmd`` to every target at once; one row per target with ok / error."""

    async def one(service: str) -> dict[str, Any]:
        try:
            reply = await ctl.client(service).request(cmd)
        except RequestTimeout as exc:
            return {"service": service, "ok": False, "error": f"no acknowledgement: {exc}"}
        return {"service": service, "ok": reply.ok, "error": reply.error, "result": reply.result}

    return list(await asyncio.gather(*(one(s) for s in targets)))


async def run(ctl: Ctl, args: argparse.Namespace) -> int:
    name = args.command
    targets = tuple(t for t in args.to.split(",") if t) if args.to else TARGETS[name]
    unknown = [t for t in targets if t not in SERVICES]
    if unknown:
        print(f"unknown service(s): {', '.join(unknown)}")
        return 2
    rows = await broadcast(ctl, build(name, args), targets)
    for r in rows:
        if args.json:
            print_json(r)
        else:
            mark = "ok " if r["ok"] else "FAILED"
            print(f"{mark:<6} {r['service']:<11} {r.get('error') or r.get('result') or ''}")
    return 0 if all(r["ok"] for r in rows) else 1
