"""``mmctl orders [SYMBOL]``: orders (current state) or order events stored by the recorder."""

from __future__ import annotations

import argparse
import time
from typing import Any

from common.bus import RequestRefused, RequestTimeout
from common.messages import Query
from services.mmctl.context import Ctl, duration_arg, print_json

STATES = ("PendingNew", "New", "PartiallyFilled", "Filled", "Canceled", "Expired", "Rejected")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("orders", help="orders from the recorder's store (--events: every state change)")
    p.add_argument("symbol", nargs="?", default="", help="one symbol; default all")
    p.add_argument(
        "--since", default="1h", type=duration_arg, help="how far back: 90s, 10m, 4h, 2d (default 1h)"
    )
    p.add_argument("--session", default="", help="a session id instead of --since")
    p.add_argument("--side", choices=("BUY", "SELL"), type=str.upper)
    p.add_argument("--state", choices=STATES, help="only orders (or events) in this state")
    p.add_argument("--open", action="store_true", help="only orders still working")
    p.add_argument(
        "--events", action="store_true", help="the order events instead of each order's last state"
    )
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")


def window(args: argparse.Namespace) -> dict[str, str]:
    """The time filters shared by the store commands: ``--session`` or ``--since``."""
    if args.session:
        return {"session": args.session}
    return {"since_ns": str(time.time_ns() - int(args.since * 1e9))}


async def query(ctl: Ctl, kind: str, filters: dict[str, str], limit: int) -> list[dict[str, Any]] | None:
    """Rows of a recorder query, or None after printing why there are none."""
    try:
        rows: list[dict[str, Any]] = await ctl.client("recorder").call(
            Query(kind=kind, filters=filters, limit=limit)
        )
    except RequestTimeout as exc:
        print(f"recorder did not answer: {exc}")
        return None
    except RequestRefused as exc:
        print(f"recorder refused the query: {exc}")
        return None
    return rows


def stamp(ns: int) -> str:
    """``MM-DD HH:MM:SS.mmm`` (UTC) of a ns timestamp."""
    return time.strftime("%m-%d %H:%M:%S", time.gmtime(ns / 1e9)) + f".{ns // 1_000_000 % 1000:03d}"


async def run(ctl: Ctl, args: argparse.Namespace) -> int:
    filters = {**window(args), "symbol": args.symbol, "side": args.side or "", "state": args.state or ""}
    if args.open and not args.events:
        filters["open"] = "true"
    rows = await query(ctl, "order_events" if args.events else "orders", filters, args.limit)
    if rows is None:
        return 1
    if args.json:
        for r in rows:
            print_json(r)
        return 0
    print(
        f"{'TIME (UTC)':<18} {'SYMBOL':<9} {'CLIENT ID':<24} {'SIDE':<4} {'PRICE':>12} {'QTY':>10} "
        f"{'FILLED':>10} {'STATE':<15} {'LAYER':>5} REASON"
    )
    for r in rows:
        print(
            f"{stamp(r['ts_event']):<18} {r['symbol']:<9} {r['client_order_id']:<24} {r['side']:<4} "
            f"{r['price']:>12} {r['qty']:>10} {r['filled_qty']:>10} {r['state']:<15} {r['layer']:>5} "
            f"{r['reason']}"
        )
    print(f"{len(rows)} {'order events' if args.events else 'orders'}")
    return 0
