"""Simulated venue: matching-engine operations per second, and WebSocket fan-out.

1. The exchange core in process (no I/O): a mixed load of new post-only and marketable orders,
   cancels, market-model level updates and tape trades, printed as operations/s with p50/p99.
2. The venue process serving ``<s>@depth@0ms`` to N WebSocket subscribers: depth events
   delivered per second in total, and each subscriber's share.

    .venv/bin/python benchmarks/venue_matching.py [--ops 200000] [--subscribers 1,10,50] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets

from common.config_sections import SimVenueConfig, VenueAccountConfig
from common.metrics import latency_summary
from services.venue.errors import VenueError
from services.venue.exchange import Exchange
from services.venue.orderbook import BUY, SELL

SYM = "ETHUSDC"


def engine_section(n_ops: int) -> None:
    cfg = SimVenueConfig(accounts=[VenueAccountConfig(name="a", balances={"USDC": Decimal(10**9)})])
    clock = [1_700_000_000_000]
    ex = Exchange(cfg, {"a": ("k", "s")}, lambda: clock[0])
    ex.set_mark(SYM, Decimal(2680), Decimal(2680))
    acct = ex.accounts["a"]
    rng = random.Random(1)
    ex.market_levels(SYM, [(s, 268000 - s * (i + 1), 2000) for s in (BUY, SELL) for i in range(100)])
    live: list[int] = []
    lat: list[int] = []
    counts = {"new": 0, "take": 0, "cancel": 0, "levels": 0, "tape": 0, "rejected": 0}
    t_all = time.perf_counter()
    for _ in range(n_ops):
        r = rng.random()
        t0 = time.perf_counter_ns()
        try:
            if r < 0.35:
                side = rng.choice(("BUY", "SELL"))
                off = rng.randint(1, 40)
                px = 268000 - off if side == "BUY" else 268000 + off
                o = ex.place(
                    acct,
                    {
                        "symbol": SYM,
                        "side": side,
                        "type": "LIMIT",
                        "timeInForce": "GTX",
                        "quantity": "0.010",
                        "price": f"{px / 100:.2f}",
                    },
                )
                live.append(o["orderId"])
                counts["new"] += 1
            elif r < 0.40:
                ex.place(
                    acct,
                    {
                        "symbol": SYM,
                        "side": rng.choice(("BUY", "SELL")),
                        "type": "MARKET",
                        "quantity": "0.050",
                    },
                )
                counts["take"] += 1
            elif r < 0.70 and live:
                oid = live.pop(rng.randrange(len(live)))
                ex.cancel(acct, {"symbol": SYM, "orderId": str(oid)})
                counts["cancel"] += 1
            elif r < 0.90:
                side = rng.choice((BUY, SELL))
                ex.market_levels(SYM, [(side, 268000 - side * rng.randint(1, 100), rng.randint(0, 4000))])
                counts["levels"] += 1
            else:
                side = rng.choice((BUY, SELL))
                ex.market_trade(SYM, side, 268000 + side * rng.randint(1, 5), rng.randint(1, 500))
                counts["tape"] += 1
        except VenueError:
            counts["rejected"] += 1
        ex.drain()
        lat.append(time.perf_counter_ns() - t0)
    total = time.perf_counter() - t_all
    print(f"matching engine, in process: {n_ops:,} mixed operations in {total:.2f} s")
    st = latency_summary(lat)
    p50, p99 = st["p50_us"], st["p99_us"]
    print(f"  {n_ops / total:,.0f} ops/s   p50 {p50:.1f} µs   p99 {p99:.1f} µs")
    print("  mix: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


async def _fanout(url: str, n: int, seconds: float) -> list[int]:
    counts = [0] * n

    async def one(i: int) -> None:
        async with websockets.connect(url, max_queue=None) as ws:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    await asyncio.wait_for(ws.recv(), max(0.01, end - time.monotonic()))
                except TimeoutError:
                    break
                counts[i] += 1

    await asyncio.gather(*(one(i) for i in range(n)))
    return counts


def fanout_section(subscribers: list[int], seconds: float) -> None:
    from tests.venue_proc import VenueProc

    streams = "/".join(f"{s}@depth@0ms/{s}@bookTicker" for s in ("ethusdc", "btcusdc", "ethusdt", "btcusdt"))
    with tempfile.TemporaryDirectory() as d, VenueProc(Path(d), "step_ms = 5\n") as v:
        url = f"{v.ws}/public/stream?streams={streams}"
        print(f"WebSocket fan-out (venue process, market step 5 ms, 4 symbols, {seconds:.0f} s per run):")
        for n in subscribers:
            counts = asyncio.run(_fanout(url, n, seconds))
            total = sum(counts)
            print(
                f"  {n:>4} subscribers: {total / seconds:>10,.0f} messages/s delivered in total, "
                f"{min(counts) / seconds:,.0f}-{max(counts) / seconds:,.0f} per subscriber"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--subscribers", default="1,10,50")
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    engine_section(args.ops)
    fanout_section([int(x) for x in args.subscribers.split(",")], args.seconds)


if __name__ == "__main__":
    main()
