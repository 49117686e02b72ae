"""Market data core throughput: the recorded futures feed replayed through sync + book + features.

Lines are decoded before the clock starts (decoding is timed on its own and reported beside the
core). The core figure is depth events per second through ``BookSync`` (book included),
``OrderBook.top`` and ``MarketFeatures.on_book``; the "with messages" figure also builds the
``BookLevels`` and ``Features`` messages a service would publish for each event. Trades go
through ``MarketFeatures.on_trade`` and are timed separately; bookTickers are not used.

    .venv/bin/python benchmarks/md_throughput.py [--file PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.binance.market import (
    DepthSnapshot,
    DepthUpdate,
    TradeEvent,
    decode_combined,
    snapshot_decoder,
)
from common.metrics import percentile
from services.marketdata.features import MarketFeatures
from services.marketdata.sync import BookSync

DATA = Path(__file__).resolve().parent.parent / "data" / "binance"
FUTURES_FILE = DATA / "usdm_ethusdt_20240808.gz"
PRICE_TICK, QTY_STEP = Decimal("0.01"), Decimal("0.001")
SYMBOL = "ETHUSDT"
TOP_N = 10


def decode_file(path: Path) -> list[Any]:
    """Every line of a recording, decoded: stream events and REST snapshots, in file order."""
    out: list[Any] = []
    with gzip.open(path, "rb") as f:
        for line in f:
            _, raw = line.split(b" ", 1)
            out.append(
                decode_combined(raw)[1] if raw.startswith(b'{"stream"') else snapshot_decoder.decode(raw)
            )
    return out


@dataclass
class ReplayResult:
    """Per-depth-event processing times (ns) and counts of one replay."""

    depth_ns: list[int] = field(default_factory=list)
    trade_ns: list[int] = field(default_factory=list)
    levels: int = 0
    applied: int = 0
    resyncs: int = 0
    wall_s: float = 0.0


def replay(events: list[Any], with_messages: bool) -> ReplayResult:
    """Run one replay of decoded events through a fresh sync, book and feature set."""
    res = ReplayResult()
    sync = BookSync("usdm", PRICE_TICK, QTY_STEP)
    feats = MarketFeatures(SYMBOL, PRICE_TICK, QTY_STEP)
    book, clock = sync.book, time.perf_counter_ns
    t_start = clock()
    for ev in events:
        if isinstance(ev, DepthUpdate):
            t0 = clock()
            if sync.on_event(ev).kind == "applied":
                ts = ev.E * 1_000_000
                bids, asks = book.top(TOP_N)
                feats.on_book(bids, asks, ts, book.last_update_id)
                if with_messages:
                    book.to_levels(TOP_N, SYMBOL, ts)
                    feats.to_message(ts)
            res.depth_ns.append(clock() - t0)
            res.levels += len(ev.b) + len(ev.a)
        elif isinstance(ev, TradeEvent):
            t0 = clock()
            feats.on_trade(float(ev.p), float(ev.q), ev.m, ev.T * 1_000_000)
            res.trade_ns.append(clock() - t0)
        elif isinstance(ev, DepthSnapshot):
            sync.on_snapshot(ev)
    res.wall_s = (clock() - t_start) / 1e9
    res.applied, res.resyncs = sync.events_applied, sync.resyncs
    return res


def _pct(xs: list[int], q: float) -> float:
    return percentile(sorted(xs), q) / 1000


def report(name: str, r: ReplayResult) -> None:
    """Print one replay's figures."""
    n = len(r.depth_ns)
    busy = sum(r.depth_ns) / 1e9
    print(
        f"  {name:<28} {n / busy:>9,.0f} depth events/s   p50 {_pct(r.depth_ns, 0.5):6.1f} µs"
        f"   p99 {_pct(r.depth_ns, 0.99):6.1f} µs   mean levels/event {r.levels / n:.1f}"
        f"   (applied {r.applied}, resyncs {r.resyncs})"
    )
    print(
        f"  {'':<28} trades: {len(r.trade_ns) / (sum(r.trade_ns) / 1e9):>9,.0f}/s"
        f"   p50 {_pct(r.trade_ns, 0.5):6.1f} µs; whole replay incl. trades {r.wall_s * 1000:.0f} ms"
    )


def best_of(repeat: int, run: Callable[[], ReplayResult]) -> ReplayResult:
    """The replay with the least total depth-processing time of ``repeat`` runs."""
    return min((run() for _ in range(repeat)), key=lambda r: sum(r.depth_ns))


def replay_section(args: argparse.Namespace) -> None:
    """Section 1: the recorded feed through the pure core, at full speed on one core."""
    t0 = time.perf_counter()
    events = decode_file(args.file)
    decode_s = time.perf_counter() - t0
    depth = sum(isinstance(e, DepthUpdate) for e in events)
    print(f"== replay of {args.file.name}: {len(events):,} lines, {depth:,} depth events")
    print(f"  decode (gunzip + msgspec, outside the timed section): {len(events) / decode_s:,.0f} lines/s")
    report("sync + book + features", best_of(args.repeat, lambda: replay(events, False)))
    report("... + BookLevels + Features", best_of(args.repeat, lambda: replay(events, True)))
    print(f"  target: >= 20,000 depth events/s (best of {args.repeat} runs, Python {sys.version.split()[0]})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--file", type=Path, default=FUTURES_FILE, help="recorded futures feed (.gz)")
    parser.add_argument("--repeat", type=int, default=3, help="replays per figure; the best is shown")
    parser.add_argument("--live-seconds", type=float, default=20.0, help="running-system section; 0 skips it")
    return parser.parse_args(argv)


def live_section(args: argparse.Namespace) -> None:
    """The running system: venue + marketdata processes, every diff published (``@depth@0ms``).

    The service records, for each md.book it sends, the time from the WS frame's arrival to the
    message leaving the PUB socket; this asks it for the distribution after ``--live-seconds``.
    """
    if args.live_seconds <= 0:
        return
    import tempfile

    from common.messages import GetSnapshot
    from tests.cluster import Cluster
    from tests.helpers import wait_until

    overlay = '[marketdata]\ndepth_speed = "0ms"\npublish_interval_ms = 0\n'
    with tempfile.TemporaryDirectory() as d, Cluster(Path(d), overlay) as c:
        c.start("venue", "marketdata")

        def ready() -> bool:
            return bool((c.request("marketdata", GetSnapshot(what="latency")).result or {}).get("count", 0))

        wait_until(ready, 30)
        time.sleep(args.live_seconds)
        r = c.request("marketdata", GetSnapshot(what="latency")).result
    print(f"running system (venue -> marketdata, depth@0ms, {args.live_seconds:.0f} s):")
    print(
        f"  frame arrival -> md.book sent: {r['count']:,} books   p50 {r['p50_us']:7.1f} µs"
        f"   p99 {r['p99_us']:7.1f} µs   mean {r['mean_us']:.1f} µs   target: p99 < 1000 µs"
    )


def main(argv: list[str] | None = None) -> None:
    """Run each benchmark section in turn; a section is a function of the parsed arguments."""
    args = parse_args(argv)
    replay_section(args)
    live_section(args)


if __name__ == "__main__":
    main()
