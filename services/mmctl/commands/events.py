"""``mmctl events [TOPIC] --since 10m``: the recorder's stored messages."""

from __future__ import annotations

import argparse
import time

from common import topics
from common.bus import RequestRefused, RequestTimeout
from common.messages import Query
from services.mmctl.context import Ctl, duration_arg, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("events", help="messages stored by the recorder")
    p.add_argument("topic", nargs="?", default="", help="topic or family (md.book. , risk.event)")
    p.add_argument(
        "--since", default="1h", type=duration_arg, help="how far back: 90s, 10m, 4h, 2d (default 1h)"
    )
    p.add_argument("--type", default="", help="only this message type (Fill, RiskEvent, ...)")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")


async def run(ctl: Ctl, args: argparse.Namespace) -> int:
    since_ns = time.time_ns() - int(args.since * 1e9)
    topic = topics.normalize_subscription(args.topic) if args.topic else ""
    q = Query(
        kind="events",
        filters={"topic": topic, "since_ns": str(since_ns), "type": args.type},
        limit=args.limit,
    )
    try:
        rows = await ctl.client("recorder").call(q)
    except (RequestTimeout, RequestRefused) as exc:
        print(f"recorder did not answer: {exc}")
        return 1
    for r in rows:
        if args.json:
            print_json(r)
        else:
            msg = dict(r["msg"])
            kind = msg.pop("type", r["type"])
            msg.pop("ts_init", None)
            msg.pop("ts_event", None)
            stamp = time.strftime("%H:%M:%S", time.gmtime(r["ts_event"] / 1e9))
            fields = " ".join(f"{k}={v}" for k, v in msg.items())
            print(f"{stamp} {r['topic']} {r['source']}#{r['seq']} {kind} {fields}")
    return 0
