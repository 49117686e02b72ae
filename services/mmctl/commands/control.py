"""``mmctl kill | pause | resume | cancel-all | flatten | reload``: commands with acknowledgements.

A command goes to every service that must act (``--to`` overrides) and waits for each one's
acknowledgement; a missing or negative acknowledgement makes the exit code 1.

``mmctl kill`` is different: it reports ``done`` only once the gateway says the venue confirmed
zero open orders (and zero positions with ``--flatten``), polling the gateway (every account's
gateway, when there are several) for up to ``--wait`` seconds, and says otherwise what is still
open and why. Its exit codes:

* 0 — done: the venue confirmed zero (and flat with ``--flatten``), every service acknowledged;
* 3 — engaged and saved, not confirmed within ``--wait``: the gateway keeps trying;
* 4 — the gateway did not acknowledge: nothing is known of the venue;
* 5 — the venue confirmed zero, but risk or strategy did not acknowledge;
* 2 — a usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from common.messages import Kill
from common.operator import KILL_EXIT, TARGETS, broadcast, build, kill, route
from common.topics import role
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
            p.add_argument(
                "--wait",
                type=float,
                default=30.0,
                help="seconds to wait for the venue to confirm zero open orders (default 30)",
            )
        p.add_argument("--reason", default="operator")
        p.add_argument(
            "--to", default="", help="comma-separated services (default: " + ", ".join(TARGETS[name]) + ")"
        )
        p.add_argument("--json", action="store_true")


async def run(ctl: Ctl, args: argparse.Namespace) -> int:
    name = args.command
    symbol = getattr(args, "symbol", "")
    asked = tuple(t for t in args.to.split(",") if t) if args.to else TARGETS[name]
    known = ctl.settings.services
    unknown = [t for t in asked if t not in known]
    if unknown:
        print(f"unknown service(s): {', '.join(unknown)} (known: {', '.join(known)})")
        return 2
    # "gateway" is every account's gateway (or the one trading --symbol); gateway-<acct> just that one
    targets = route(ctl.settings, asked, symbol)
    cmd = build(name, symbol, args.reason, getattr(args, "flatten", False))
    if isinstance(cmd, Kill) and any(role(t) == "gateway" for t in targets):
        return await _kill(ctl, cmd, args, targets)
    rows = await broadcast(ctl.client, cmd, targets)
    for r in rows:
        if args.json:
            print_json(r)
        else:
            mark = "ok " if r["ok"] else "FAILED"
            print(f"{mark:<6} {r['service']:<11} {r.get('error') or r.get('result') or ''}")
    return 0 if all(r["ok"] for r in rows) else 1


async def _kill(ctl: Ctl, cmd: Kill, args: argparse.Namespace, targets: tuple[str, ...]) -> int:
    def progress(report: dict[str, Any]) -> None:
        if not args.json:
            print(f"waiting: {_open_text(report)}", file=sys.stderr)

    out = await kill(ctl.client, cmd, args.wait, max(ctl.timeout_s, 5.0), progress, targets)
    if args.json:
        print_json({"code": out.code, "done": out.done, "acks": out.acks, "report": out.report})
        return out.code
    for r in out.acks:
        mark = "ok " if r["ok"] else "FAILED"
        detail = r.get("error") or ("engaged" if role(r["service"]) == "gateway" else r.get("result") or "")
        print(f"{mark:<6} {r['service']:<11} {detail}")
    rep = out.report
    if out.done:
        flat = " and every position flat" if rep.get("flatten") else ""
        print(f"done   the venue confirmed zero open orders{flat} (after {rep.get('attempts', 0)} round(s))")
    elif rep:
        print(f"NOT DONE {_open_text(rep)}")
    print(f"exit {out.code}: {KILL_EXIT[out.code]}")
    return out.code


def _open_text(report: dict[str, Any]) -> str:
    opened = report.get("open") or {}
    orders = ", ".join(f"{s}: {len(ids)} ({', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''})"
                       for s, ids in opened.items())  # fmt: skip
    positions = ", ".join(f"{s} {q}" for s, q in (report.get("positions") or {}).items())
    parts = [f"open orders {orders}" if orders else "", f"positions {positions}" if positions else ""]
    why = report.get("why") or ""
    return "; ".join(p for p in [*parts, why] if p) or "waiting for the venue to confirm"
