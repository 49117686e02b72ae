"""``mmctl fills [SYMBOL]``: fills stored by the recorder, with their exact totals."""

from __future__ import annotations

import argparse
from decimal import Decimal

from services.mmctl.commands.orders import query, stamp, window
from services.mmctl.context import Ctl, duration_arg, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fills", help="fills from the recorder's store, with totals")
    p.add_argument("symbol", nargs="?", default="", help="one symbol; default all")
    p.add_argument(
        "--since", default="1h", type=duration_arg, help="how far back: 90s, 10m, 4h, 2d (default 1h)"
    )
    p.add_argument("--session", default="", help="a session id instead of --since")
    p.add_argument("--side", choices=("BUY", "SELL"), type=str.upper)
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")


async def run(ctl: Ctl, args: argparse.Namespace) -> int:
    filters = {**window(args), "symbol": args.symbol, "side": args.side or ""}
    rows = await query(ctl, "fills", filters, args.limit)
    if rows is None:
        return 1
    if args.json:
        for r in rows:
            print_json(r)
        return 0
    print(
        f"{'TIME (UTC)':<18} {'SYMBOL':<9} {'TRADE ID':>10} {'CLIENT ID':<24} {'SIDE':<4} {'PRICE':>12} "
        f"{'QTY':>10} {'FEE':>12} {'REALIZED':>12} M SOURCE"
    )
    realized = fees = volume = Decimal(0)
    for r in rows:
        realized += Decimal(r["realized_pnl"])
        fees += Decimal(r["fee"])
        volume += Decimal(r["qty"])
        print(
            f"{stamp(r['ts_event']):<18} {r['symbol']:<9} {r['trade_id']:>10} "
            f"{r['client_order_id'] or '?':<24} {r['side']:<4} {r['price']:>12} {r['qty']:>10} "
            f"{r['fee']:>12} {r['realized_pnl']:>12} {'M' if r['is_maker'] else 'T'} {r['source']}"
        )
    print(f"{len(rows)} fills  volume {volume}  realized {realized}  fees {fees}  net {realized - fees}")
    return 0
