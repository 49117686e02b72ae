"""Backtester speed: our backtester (live ASMM, and the fixed rule) against hftbacktest, on one data set.

One synthetic L2 + trade data set of ``--rows`` events (the simulated venue's synthetic market of
ETHUSDC, :func:`services.backtest.data.synthetic`, cut at the first event where the row count
reaches ``--rows``; a row is one level update or one trade, as hftbacktest counts them) is
generated once and run, in the same process, by

(a) our backtester with the live decision code: ASMM (the ETHUSDC strategy of the paper settings)
    deciding every 100 ms of market time (``quoteIntervalMs`` 100), risk engine in between;
(b) our backtester with the fixed rule (:class:`~services.backtest.fixed.FixedQuoter`): one lot at
    the best bid − n ticks and the best ask + n ticks, requoted every 100 ms, position within ±k
    lots, :func:`~services.backtest.fixed.reference_settings`, no risk engine;
(c) hftbacktest (2.4.x) with the same fixed rule (``quote_loop`` of
    ``benchmarks/hftbacktest_reference.py``, njit) on the same data, converted in memory to its
    event array: exchange time = the event's time, local time = exchange time + feed latency;
    each level update a DEPTH_EVENT (BUY/SELL flag, price = ticks × tick, qty = steps × step, 0
    removes the level), each trade a TRADE_EVENT with the aggressor's side flag; the starting book
    as depth rows one second before the first event (our backtester also starts on it one second
    early). Every row carries both EXCH and LOCAL flags (the feed latency is constant, so both
    orders agree).

Both backtesters use the same latencies (feed, entry, response), risk-averse queues, no partial
fills on our orders' side of hftbacktest (its default), maker fee 0, taker fee 0.0004.

Timed: each run alone, rows / wall seconds (events/s). Excluded: generating the data, building
our ``Backtest`` (venue, gateway, start-up state), converting to hftbacktest's array and numba's
compilation (a warm-up run on the first rows). Target for (a): at least 250,000 events/s.

    .venv/bin/python benchmarks/backtest_speed.py [--rows 2000000] [--quick] [--sides a,b,c]
        [--offset-ticks 0] [--max-lots 5] [--lot 0.010] [--feed-ms 1] [--entry-ms 1]
        [--response-ms 1] [--seed 7] [--run-timeout 600] [--timeout 1800] [--json]

``--quick`` is 200,000 rows (a smoke run). ``--run-timeout`` stops one of our runs once it has
taken that long (the figure is then the rate so far, marked partial); ``--timeout`` bounds the
whole script (faulthandler's watchdog exits the process). Without hftbacktest installed, (c) is
skipped.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from common.config import Settings, load_settings
from services.backtest.api import SYNTHETIC_START_NS, with_strategy
from services.backtest.data import DEPTH, TRADE, MarketData, synthetic
from services.backtest.engine import WARMUP_NS, Backtest, BacktestConfig, Latency, for_symbol
from services.backtest.fixed import FixedQuoter, reference_settings
from services.venue.orderbook import BUY

SYMBOL = "ETHUSDC"
MS = 1_000_000
TARGET_A = 250_000
QUICK_ROWS = 200_000


# ---- the data set ---------------------------------------------------------------------------------


def _cut(md: MarketData, rows: int) -> MarketData:
    """The first events of ``md`` up to (and including) the one where the row count reaches ``rows``."""
    total = 0
    end = len(md)
    for i, (k, p) in enumerate(zip(md.kind, md.payload, strict=True)):
        total += len(cast(tuple[object, ...], p)) if k == DEPTH else 1
        if total >= rows:
            end = i + 1
            break
    out = MarketData(md.symbol, md.tick, md.step, md.start, source=md.source)
    out.t_exch_ns, out.t_local_ns = md.t_exch_ns[:end], md.t_local_ns[:end]
    out.kind, out.payload, out.ids = md.kind[:end], md.payload[:end], md.ids[:end]
    return out


def generate(settings: Settings, rows: int, seed: int) -> tuple[MarketData, dict[str, Any]]:
    """The synthetic market of ETHUSDC with at least ``rows`` rows: the market time needed is
    estimated from a 30 s probe, generated with a margin, then cut at ``rows``."""
    cfg = next(s for s in settings.simvenue.symbols if s.symbol == SYMBOL)
    step_ms = settings.simvenue.step_ms
    t0 = time.perf_counter()
    probe = synthetic(cfg, 30.0, SYNTHETIC_START_NS, step_ms, seed)
    rate = max(1.0, probe.rows / 30.0)  # rows per second of market time
    seconds = rows / rate * 1.05 + 10.0
    while True:
        md = synthetic(cfg, seconds, SYNTHETIC_START_NS, step_ms, seed)
        if md.rows >= rows:
            break
        seconds *= 1.25  # the probe under-estimated the rate: longer, from the start (same seed)
    md = _cut(md, rows)
    info = {
        "generate_s": time.perf_counter() - t0,
        "rows": md.rows,
        "messages": len(md),
        "depth_messages": md.kind.count(DEPTH),
        "trades": md.kind.count(TRADE),
        "start_levels": len(md.start),
        "market_s": md.span_s,
        "source": md.source,
    }
    return md, info


# ---- our backtester ---------------------------------------------------------------------------------


class _OverBudget(Exception):
    """A run of ours took longer than ``--run-timeout``."""


def run_ours(
    md: MarketData, rows: int, cfg: BacktestConfig, strategy: Any, budget_s: float
) -> dict[str, Any]:
    """One run of our backtester; its wall time excludes building the ``Backtest``."""
    t0 = time.perf_counter()
    state = {"frac": 0.0, "start": 0.0}

    def progress(frac: float) -> None:
        state["frac"] = frac
        if time.perf_counter() - state["start"] > budget_s:
            raise _OverBudget

    bt = Backtest(md, cfg, progress=progress, strategy=strategy)
    setup_s = time.perf_counter() - t0
    state["start"] = time.perf_counter()
    try:
        rec = bt.run()
    except _OverBudget:
        wall = time.perf_counter() - state["start"]
        done = round(rows * state["frac"])
        return {
            "rows": done, "wall_s": wall, "events_per_s": done / wall, "setup_s": setup_s,
            "partial": f"stopped after {wall:.0f} s at {state['frac']:.1%} of the events",
            "fills": None, "final_position": None, "pnl": None,
        }  # fmt: skip
    s = rec.summary()
    return {
        "rows": rows, "wall_s": rec.wall_s, "events_per_s": rows / rec.wall_s, "setup_s": setup_s,
        "fills": s["fills"], "final_position": s["final_position"], "pnl": s["pnl"],
        "orders": s["orders_placed"], "errors": len(bt.errors),
    }  # fmt: skip


# ---- hftbacktest ------------------------------------------------------------------------------------


def to_hftbacktest(md: MarketData, feed_ns: int, flags: dict[str, int]) -> np.ndarray:
    """``md`` as hftbacktest's event rows (see the module docstring)."""
    from hftbacktest.types import event_dtype

    both = flags["EXCH_EVENT"] | flags["LOCAL_EVENT"]
    buy, sell = flags["BUY_EVENT"], flags["SELL_EVENT"]
    depth_ev, trade_ev = flags["DEPTH_EVENT"] | both, flags["TRADE_EVENT"] | both
    ev: list[int] = []
    ts: list[int] = []
    px: list[int] = []
    qty: list[int] = []
    t_start = md.t_exch_ns[0] - WARMUP_NS
    for side, p, q in md.start:
        ev.append(depth_ev | (buy if side == BUY else sell))
        ts.append(t_start)
        px.append(p)
        qty.append(q)
    for t, k, payload in zip(md.t_exch_ns, md.kind, md.payload, strict=True):
        if k == DEPTH:
            for side, p, q in cast(tuple[tuple[int, int, int], ...], payload):
                ev.append(depth_ev | (buy if side == BUY else sell))
                ts.append(t)
                px.append(p)
                qty.append(q)
        elif k == TRADE:
            aggressor, p, q = cast(tuple[int, int, int], payload)
            ev.append(trade_ev | (buy if aggressor == BUY else sell))
            ts.append(t)
            px.append(p)
            qty.append(q)
    out = np.zeros(len(ev), event_dtype)
    out["ev"] = np.array(ev, np.uint64)
    exch = np.array(ts, np.int64)
    if np.any(np.diff(exch) < 0):
        raise ValueError("market events out of time order")
    out["exch_ts"] = exch
    out["local_ts"] = exch + feed_ns
    out["px"] = np.array(px, np.float64) * float(md.tick)
    out["qty"] = np.array(qty, np.float64) * float(md.step)
    return out


def run_hftbacktest(md: MarketData, args: argparse.Namespace) -> dict[str, Any]:
    """(c): convert, warm numba up on the first rows, then the timed run on all of them."""
    try:
        import hftbacktest

        from benchmarks import hftbacktest_reference as ref
    except (ImportError, SystemExit) as e:  # the reference script exits 2 without hftbacktest
        return {"skipped": f"hftbacktest not available ({e})"}
    if float(md.tick) != ref.TICK or float(md.step) != ref.LOT_SIZE:
        return {"skipped": f"quote_loop is built for tick {ref.TICK} / lot {ref.LOT_SIZE}"}
    names = ("EXCH_EVENT", "LOCAL_EVENT", "BUY_EVENT", "SELL_EVENT", "DEPTH_EVENT", "TRADE_EVENT")
    flags = {k: int(getattr(hftbacktest, k)) for k in names}
    feed_ns = int(args.feed_ms * MS)
    t0 = time.perf_counter()
    data = to_hftbacktest(md, feed_ns, flags)
    convert_s = time.perf_counter() - t0
    hargs = argparse.Namespace(
        lot=args.lot, offset_ticks=args.offset_ticks, max_lots=args.max_lots, interval_ms=100.0,
        entry_ms=args.entry_ms, response_ms=args.response_ms, maker_fee=0.0, taker_fee=0.0004,
        exchange="no_partial", trace=None,
    )  # fmt: skip
    quote_start = int(data["local_ts"][0])  # the starting book is in by then
    t0 = time.perf_counter()
    warm = np.ascontiguousarray(data[: min(len(data), 20_000)])
    ref.run_strategy(warm, int(warm["local_ts"][-1] - warm["exch_ts"][0]) + 1, quote_start, hargs)
    del warm
    compile_s = time.perf_counter() - t0
    span = int(data["local_ts"][-1] - data["exch_ts"][0]) + 1
    # `data` is passed by pointer: it stays referenced here until the run is over
    stats, fig, _trace, _fills, seconds = ref.run_strategy(data, span, quote_start, hargs)
    rows = len(data)
    return {
        "rows": rows, "wall_s": seconds, "events_per_s": rows / seconds, "setup_s": stats["build_s"],
        "convert_s": convert_s, "compile_s": compile_s, "fills": fig["fills"],
        "final_position": fig["position"], "pnl": round(fig["pnl_after_fees"], 6), "orders": stats["orders"],
        "version": hftbacktest.__version__,
    }  # fmt: skip


# ---- the report -----------------------------------------------------------------------------------


SIDES = {
    "a": "(a) ours, ASMM every 100 ms",
    "b": "(b) ours, fixed rule",
    "c": "(c) hftbacktest, fixed rule",
}


def _print(out: dict[str, Any], args: argparse.Namespace) -> None:
    d = out["data"]
    print(
        f"data: synthetic {SYMBOL} seed {args.seed}: {d['rows']:,} rows ({d['messages']:,} messages: "
        f"{d['depth_messages']:,} depth, {d['trades']:,} trades) + {d['start_levels']} starting levels, "
        f"{d['market_s']:,.0f} s of market time; generated in {d['generate_s']:.1f} s"
    )
    print(
        f"fixed rule: {args.lot} at best bid - {args.offset_ticks} / best ask + {args.offset_ticks} ticks, "
        f"every 100 ms, |position| < {args.max_lots} lots; latency feed {args.feed_ms} / entry "
        f"{args.entry_ms} / response {args.response_ms} ms; risk-averse queues, fees 0 / 0.0004"
    )
    print(
        f"{'side':<30} {'rows':>11} {'wall s':>9} {'events/s':>11} {'fills':>7} {'final pos':>10} "
        f"{'setup s':>8}"
    )
    for key, label in SIDES.items():
        r = out["sides"].get(key)
        if r is None:
            continue
        if "skipped" in r:
            print(f"{label:<30} skipped: {r['skipped']}")
            continue
        fills = "-" if r["fills"] is None else f"{r['fills']:,}"
        pos = "-" if r["final_position"] is None else f"{r['final_position']:+.3f}"
        print(
            f"{label:<30} {r['rows']:>11,} {r['wall_s']:>9.2f} {r['events_per_s']:>11,.0f} {fills:>7} "
            f"{pos:>10} {r['setup_s']:>8.3f}" + (f"   PARTIAL: {r['partial']}" if "partial" in r else "")
        )
    c = out["sides"].get("c")
    if c and "convert_s" in c:
        print(
            f"hftbacktest {c['version']}: conversion {c['convert_s']:.2f} s and numba warm-up "
            f"{c['compile_s']:.2f} s, not timed"
        )
    if "ratio_b_over_c" in out:
        ratio = out["ratio_b_over_c"]
        print(f"fixed rule, ours / hftbacktest: {ratio:.4f} (hftbacktest {1 / ratio:,.0f}x faster)")
    a = out["sides"].get("a")
    if a and "events_per_s" in a:
        verdict = "met" if a["events_per_s"] >= TARGET_A and "partial" not in a else "NOT met"
        print(f"(a): {a['events_per_s']:,.0f} events/s, target ≥ {TARGET_A:,} events/s: {verdict}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=2_000_000, help="rows: level updates + trades")
    p.add_argument("--quick", action="store_true", help=f"a smoke run on {QUICK_ROWS:,} rows")
    p.add_argument("--sides", default="a,b,c", help="which runs: a (ASMM), b (ours, fixed), c (hftbacktest)")
    p.add_argument("--offset-ticks", type=int, default=0, help="n: best bid - n, best ask + n ticks")
    p.add_argument("--max-lots", type=int, default=5, help="k: quote a side only while |position| < k lots")
    p.add_argument("--lot", type=float, default=0.010, help="the fixed rule's order size (ETH)")
    p.add_argument("--feed-ms", type=float, default=1.0)
    p.add_argument("--entry-ms", type=float, default=1.0)
    p.add_argument("--response-ms", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--run-timeout", type=float, default=600.0, help="stop one of our runs after this, s")
    p.add_argument("--timeout", type=float, default=1800.0, help="hard bound on the whole script, s")
    p.add_argument("--json", action="store_true", help="print one JSON dict of the figures")
    args = p.parse_args()
    rows = QUICK_ROWS if args.quick else args.rows
    sides = {s.strip() for s in args.sides.split(",") if s.strip()}
    if not sides <= set(SIDES):
        p.error(f"--sides: one or more of {','.join(SIDES)}")
    faulthandler.dump_traceback_later(args.timeout, exit=True)

    settings = load_settings("paper")
    md, info = generate(settings, rows, args.seed)
    rows = md.rows
    lat = Latency(feed_ns=int(args.feed_ms * MS), entry_ns=int(args.entry_ms * MS),
                  response_ns=int(args.response_ms * MS))  # fmt: skip
    out: dict[str, Any] = {"data": info, "params": vars(args), "target_a_events_per_s": TARGET_A, "sides": {}}

    if "a" in sides:
        s = with_strategy(settings, SYMBOL, SYMBOL, "asmm", {"quoteIntervalMs": 100})
        cfg = BacktestConfig(settings=s, template=SYMBOL, latency=lat, use_risk=True)
        out["sides"]["a"] = run_ours(md, rows, cfg, None, args.run_timeout)
    if "b" in sides:
        s = reference_settings(for_symbol(settings, SYMBOL, SYMBOL), SYMBOL)
        cfg = BacktestConfig(settings=s, template=SYMBOL, latency=lat, use_risk=False)
        quoter = FixedQuoter(SYMBOL, Decimal(repr(args.lot)), args.offset_ticks, args.max_lots, 100)
        out["sides"]["b"] = run_ours(md, rows, cfg, quoter, args.run_timeout)
    if "c" in sides:
        out["sides"]["c"] = run_hftbacktest(md, args)
    b, c = out["sides"].get("b"), out["sides"].get("c")
    if b and c and "events_per_s" in b and "events_per_s" in c:
        out["ratio_b_over_c"] = b["events_per_s"] / c["events_per_s"]
    faulthandler.cancel_dump_traceback_later()

    if args.json:
        print(json.dumps(out, indent=1, default=str))
    else:
        _print(out, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
