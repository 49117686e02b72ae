"""``mmctl tap TOPIC...``: decoded messages of any topic or family, live."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import sys
from typing import Any

import msgspec

from common import topics
from common.bus import Subscriber
from common.messages import Envelope
from services.mmctl.context import Ctl, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tap", help="print live messages of topics or families (md.book. , sys.heartbeat. , risk.)"
    )
    p.add_argument("topics", nargs="*", default=[""], help="topics or families; none = everything")
    p.add_argument("--json", action="store_true", help="one JSON object per line, for scripts")
    p.add_argument("-n", "--count", type=int, default=0, help="exit after this many messages")
    p.add_argument("--seconds", type=float, default=0.0, help="exit after this many seconds")


def _short(v: Any) -> str:
    if isinstance(v, list):
        if len(v) > 4:
            return "[" + ", ".join(_short(x) for x in v[:3]) + f", … +{len(v) - 3}]"
        return "[" + ", ".join(_short(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_short(x)}" for k, x in list(v.items())[:8]) + "}"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def human(topic: str, msg: Any, env: Envelope) -> str:
    """One line: time, topic, publisher#seq, type and the fields that are not timestamps."""
    data = msgspec.to_builtins(msg)
    kind = data.pop("type", type(msg).__name__)
    ts = dt.datetime.fromtimestamp(data.pop("ts_event", 0) / 1e9, dt.UTC).strftime("%H:%M:%S.%f")
    data.pop("ts_init", None)
    fields = " ".join(f"{k}={_short(v)}" for k, v in data.items())
    return f"{ts} {topic} {env.source}#{env.seq} {kind} {fields}"


async def run(ctl: Ctl, args: argparse.Namespace) -> int:
    subs = [topics.normalize_subscription(t) for t in args.topics] or [topics.ALL]
    done = asyncio.Event()
    seen = 0

    def on_msg(topic: str, msg: Any, env: Envelope) -> None:
        nonlocal seen
        if done.is_set():
            return
        if args.json:
            print_json({"topic": topic, "source": env.source, "seq": env.seq, "msg": msg})
        else:
            sys.stdout.write(human(topic, msg, env) + "\n")
            sys.stdout.flush()
        seen += 1
        if args.count and seen >= args.count:
            done.set()

    endpoints = [ctl.settings.pub_endpoint(s) for s in ctl.settings.services]
    sub = Subscriber(ctl.sync_ctx, endpoints, subs, on_msg, "mmctl")
    sub.start()
    try:
        if args.seconds:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), args.seconds)
        else:
            await done.wait()
    finally:
        sub.close()
    return 0 if (seen or not args.count) else 1
