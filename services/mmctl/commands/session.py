"""``mmctl session start | status | stop``: a timed session at the recorder (seed 001 §9).

``start --duration 4h [--flatten-at-end]`` starts one (refused while another runs); at its end the
recorder pauses quoting, cancels every order (and flattens), and saves the metrics, the log tails
and the report under ``<run_dir>/sessions/``. ``stop`` ends it now and, with ``--wait``, waits until
the end is done and says how it went; ``status`` says where it stands. The timer lives in the
recorder's run directory, so it survives restarts. Exit codes: 0 done, 1 refused or not
acknowledged, 3 the end not finished within ``--wait``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from common.bus import RequestTimeout
from common.messages import SessionTimer
from services.mmctl.context import Ctl, duration_arg, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("session", help="timed sessions: start one that ends itself, see it, stop it")
    p.add_argument("action", choices=("start", "status", "stop"))
    p.add_argument("--duration", type=duration_arg, default=0.0, help="start: how long (90s, 30m, 4h)")
    p.add_argument("--flatten-at-end", action="store_true", help="start: close positions at the end")
    p.add_argument("--wait", type=float, default=0.0, help="stop: seconds to wait for the end to finish")
    p.add_argument("--json", action="store_true")


async def _ask(ctl: Ctl, cmd: SessionTimer) -> tuple[bool, Any]:
    try:
        reply = await ctl.client("recorder").request(cmd, ctl.timeout_s)
    except RequestTimeout as exc:
        return False, f"the recorder did not answer: {exc}"
    return reply.ok, reply.result if reply.ok else reply.error


def _show(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    for k, v in result.items():
        print(f"{k:<15} {v}")


async def run(ctl: Ctl, args: argparse.Namespace) -> int:
    if args.action == "start" and not args.duration:
        print("mmctl session start: --duration is required (e.g. --duration 4h)", file=sys.stderr)
        return 2
    cmd = SessionTimer(action=args.action, duration_s=args.duration, flatten=args.flatten_at_end)
    ok, result = await _ask(ctl, cmd)
    if not ok:
        print(f"mmctl session {args.action}: {result}", file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.wait
    while args.action == "stop" and result.get("state") != "ended" and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        ok, answer = await _ask(ctl, SessionTimer(action="status"))
        result = answer if ok else result
    _show(result, args.json)
    return 3 if args.action == "stop" and args.wait and result.get("state") != "ended" else 0
