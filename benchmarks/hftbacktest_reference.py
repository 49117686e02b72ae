"""Reference run of the open-source backtester hftbacktest (PyPI ``hftbacktest`` 2.4.x) on the
recorded Binance USD-M futures file, to validate our own backtester against it.

    .venv/bin/python benchmarks/hftbacktest_reference.py [--offset-ticks 0] [--max-lots 5]
        [--lot 0.010] [--entry-ms 1] [--response-ms 1] [--interval-ms 100] [--json]
        [--exchange no_partial|partial] [--base-latency-ms 0] [--trace OUT.npz]
        [--synthetic-rows N] [--timeout 300]

Needs ``hftbacktest>=2.4,<2.5`` (the test extra, installed by ``make venv``; it pulls numba and
pins numpy<2.3); without it the script says so and exits 2. ``tests/test_backtest_hftbacktest.py``
runs it and compares our backtester's figures with its own.

Data
    ``data/binance/usdm_ethusdt_20240808.gz`` (hftbacktest's own examples/usdm/ethusdt_20240808.gz):
    ``<local ns> <json>`` lines; combined-stream depth@0ms diffs, trades, bookTickers and one REST
    depth snapshot. It is converted with ``hftbacktest.data.utils.binancefutures.convert`` into a
    temporary ``.npz`` (in a TemporaryDirectory, never in the repository), which:
      * uses Binance's transaction time ``T`` (ms -> ns) as the exchange timestamp and the
        recorder's receive time as the local timestamp; ``E`` is ignored;
      * keeps only ``X == "MARKET"`` trades; drops bookTicker (unless opt="t", and even then only
        as custom events 103/104 that never touch the book); ignores U/u/pu sequence numbers;
      * turns the REST snapshot into DEPTH_CLEAR (up to its deepest price) + DEPTH_SNAPSHOT rows
        *inline* in the stream at the snapshot's ``T``;
      * shifts every local timestamp by the largest negative feed latency (+ ``base_latency``):
        the recorder's clock was ~1.27 s behind the exchange's, so local_ts += 1.272 s and the
        minimum feed latency (local - T) becomes exactly ``base_latency`` (0 by default);
      * splits rows whose exchange and local order disagree into an exchange-only and a
        local-only row (``correct_event_order``).

Initial book
    The REST snapshot is in the stream (the converter does not produce a separate snapshot), so
    the whole converted file is fed and ``initial_snapshot`` is not used, as in hftbacktest's
    "Data Preparation" example for a first day (``create_last_snapshot`` is what it uses to carry
    the end-of-day book into the *next* day's file). The strategy does not quote before the
    local side has processed the snapshot rows (``quote_start`` below); the diffs before it only
    build a partial book.

Simulator (per asset, ``BacktestAsset`` builder)
    .data([npz]) .linear_asset(1.0) .constant_order_latency(entry_ns, response_ns)
    .risk_adverse_queue_model() .no_partial_fill_exchange() (hftbacktest's default; the
    .partial_fill_exchange() option stops with InvalidOrderStatus (14) on this file in 2.4.4, a
    known bug, and its local state ignores partial fills) .trading_value_fee_model(0.0, 0.0004)
    .tick_size(0.01) .lot_size(0.001) -> HashMapMarketDepthBacktest([asset]).
    hftbacktest runs exchange rows by exch_ts and local rows by (corrected) local_ts on one
    clock; an order sent at local time t reaches the exchange at t + entry and its response is
    seen locally at exch time + response.

Strategy (njit, fixed)
    Every ``interval`` of data time (``hbt.elapse(interval)``; the clock is hftbacktest's
    ``current_timestamp`` = corrected local time, starting at the first row's timestamp):
      * desired bid = best_bid_tick - n, desired ask = best_ask_tick + n (local book), qty = lot;
      * quote the bid only if position < +k*lot, the ask only if position > -k*lot (compared in
        integer units of lot_size, so float drift cannot flip the test);
      * at most one order per side: a resting order at the desired price is left alone; one at
        another price (or on a side that must not quote) is cancelled and, if wanted, a new GTX
        limit order is submitted in the same step (cancel + new are not chained on the ack);
      * a side with a request in flight (req != NONE) is left alone that step.
    Orders are counted when submitted; fills, GTX expiries and cancels are read from the order
    dict (before ``clear_inactive_orders``) and checked against ``state_values.num_trades``.

Figures
    fills = ``hbt.state_values(0).num_trades`` (one per fill; with no_partial_fill one per order);
    position = ``hbt.position(0)``; balance, fee = ``state_values(0).balance / .fee`` (local view,
    i.e. after the 1 ms response latency); final mid = (best_bid + best_ask)/2 of the local book at
    the last row; PnL after fees = equity = balance + position * mid - fee (exactly hftbacktest's
    LinearAsset::equity; balance starts at 0 and excludes fees). Nothing is flattened at the end.
    Timing: conversion, numba compilation (a warm-up on the first rows) and the timed run are
    reported separately; events/s = converted rows / run seconds (a row is one price-level update,
    one trade, or a snapshot level; both exchange and local processors consume rows with both
    flags), and also recorded messages (depth diffs + trades) / s.

``--synthetic-rows N`` instead times the same strategy on N generated rows (random-walk book,
20 levels a side, 1-tick spread, constant 5 ms feed latency), to get a throughput on a large set.
Every run is bounded by ``--timeout`` (faulthandler's watchdog exits the process).
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

try:
    import hftbacktest
    from hftbacktest import (
        BUY,
        BUY_EVENT,
        CANCELED,
        DEPTH_EVENT,
        DEPTH_SNAPSHOT_EVENT,
        EXCH_EVENT,
        EXPIRED,
        FILLED,
        GTX,
        LIMIT,
        LOCAL_EVENT,
        NEW,
        NONE,
        SELL_EVENT,
        TRADE_EVENT,
        BacktestAsset,
        HashMapMarketDepthBacktest,
    )
    from hftbacktest.data.utils import binancefutures
    from hftbacktest.order import PARTIALLY_FILLED
    from hftbacktest.types import event_dtype
    from numba import njit
except ImportError as e:  # pragma: no cover - the test extra installs it (make venv)
    print(f'hftbacktest is not installed ({e}): make venv, or .venv/bin/pip install "hftbacktest>=2.4,<2.5"',
          file=sys.stderr)  # fmt: skip
    sys.exit(2)

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = PROJECT / "data" / "binance" / "usdm_ethusdt_20240808.gz"
TICK = 0.01
LOT_SIZE = 0.001
INVALID_TICK = 1 << 62  # best_bid_tick is i64::MIN / best_ask_tick i64::MAX on an empty side

# --trace: the state at every step, and each of our fills (seen_ts = the step that saw it).
TRACE_DTYPE = np.dtype(
    [
        ("ts", "i8"),
        ("best_bid_tick", "i8"),
        ("best_ask_tick", "i8"),
        ("position", "f8"),
        ("balance", "f8"),
        ("fee", "f8"),
        ("num_trades", "i8"),
    ]
)
FILL_DTYPE = np.dtype(
    [("seen_ts", "i8"), ("exch_ts", "i8"), ("side", "i8"), ("price", "f8"), ("qty", "f8"), ("order_id", "i8")]
)
STAT_KEYS = (
    "steps",
    "quote_steps",
    "orders_buy",
    "orders_sell",
    "cancels",
    "expired_gtx",
    "canceled_seen",
    "fills_seen_buy",
    "fills_seen_sell",
    "first_quote_ts",
    "max_abs_pos_units",
    "end_code",
)


@contextlib.contextmanager
def stdout_to_stderr():
    """The converter prints (some of it from numba, at the C level): keep stdout for our output."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@njit
def quote_loop(hbt, lot, offset_ticks, max_pos_units, interval, quote_start, max_steps, trace, fills):
    """The fixed strategy. Returns stats (int64[len(STAT_KEYS)]), and fills the trace/fills arrays."""
    stats = np.zeros(12, np.int64)
    stats[9] = -1
    lot_units = np.int64(round(lot / LOT_SIZE))
    next_oid = np.uint64(1)
    n_fill = 0
    step = 0
    code = 0
    while step < max_steps:
        code = hbt.elapse(interval)
        if code != 0:
            break
        ts = hbt.current_timestamp
        depth = hbt.depth(0)
        bb = depth.best_bid_tick
        ba = depth.best_ask_tick

        # Read our orders: fills / expiries / cancels since the last step, and the live ones.
        bid_live_id = np.uint64(0)
        ask_live_id = np.uint64(0)
        bid_live_n = 0
        ask_live_n = 0
        bid_live_tick = np.int64(0)
        ask_live_tick = np.int64(0)
        bid_busy = False
        ask_busy = False
        values = hbt.orders(0).values()
        while values.has_next():
            o = values.get()
            st = o.status
            if st == FILLED:
                if n_fill < fills.shape[0]:
                    fills[n_fill].seen_ts = ts
                    fills[n_fill].exch_ts = o.exch_timestamp
                    fills[n_fill].side = o.side
                    fills[n_fill].price = o.exec_price
                    fills[n_fill].qty = o.exec_qty
                    fills[n_fill].order_id = o.order_id
                n_fill += 1
                if o.side == BUY:
                    stats[7] += 1
                else:
                    stats[8] += 1
            elif st == EXPIRED:
                stats[5] += 1
            elif st == CANCELED:
                stats[6] += 1
            elif o.req != NONE:
                if o.side == BUY:
                    bid_busy = True
                else:
                    ask_busy = True
            elif st == NEW or st == PARTIALLY_FILLED:  # noqa: PLR1714, SIM109 (plain for numba)
                if o.side == BUY:
                    bid_live_n += 1
                    bid_live_id = o.order_id
                    bid_live_tick = o.price_tick
                else:
                    ask_live_n += 1
                    ask_live_id = o.order_id
                    ask_live_tick = o.price_tick
        hbt.clear_inactive_orders(0)

        pos = hbt.position(0)
        pos_units = np.int64(round(pos / LOT_SIZE))
        stats[10] = max(stats[10], abs(pos_units))

        if step < trace.shape[0]:
            sv = hbt.state_values(0)
            trace[step].ts = ts
            trace[step].best_bid_tick = bb
            trace[step].best_ask_tick = ba
            trace[step].position = pos
            trace[step].balance = sv.balance
            trace[step].fee = sv.fee
            trace[step].num_trades = sv.num_trades
        step += 1

        if ts < quote_start or bb <= -INVALID_TICK or ba >= INVALID_TICK or bb >= ba:
            continue
        stats[1] += 1
        if stats[9] < 0:
            stats[9] = ts

        want_bid = pos_units < max_pos_units
        want_ask = pos_units > -max_pos_units
        bid_tick = bb - offset_ticks
        ask_tick = ba + offset_ticks

        if not bid_busy:
            keep = want_bid and bid_live_n == 1 and bid_live_tick == bid_tick
            if not keep:
                if bid_live_n > 0:
                    # (bid_live_n > 1 does not happen: a side is busy until its cancel is acked)
                    hbt.cancel(0, bid_live_id, False)
                    stats[4] += 1
                if want_bid:
                    hbt.submit_buy_order(
                        0, next_oid, bid_tick * TICK, lot_units * LOT_SIZE, GTX, LIMIT, False
                    )
                    next_oid += np.uint64(1)
                    stats[2] += 1
        if not ask_busy:
            keep = want_ask and ask_live_n == 1 and ask_live_tick == ask_tick
            if not keep:
                if ask_live_n > 0:
                    hbt.cancel(0, ask_live_id, False)
                    stats[4] += 1
                if want_ask:
                    hbt.submit_sell_order(
                        0, next_oid, ask_tick * TICK, lot_units * LOT_SIZE, GTX, LIMIT, False
                    )
                    next_oid += np.uint64(1)
                    stats[3] += 1
    stats[0] = step
    stats[11] = code
    return stats, n_fill


def build_backtest(data, args):
    asset = (
        BacktestAsset()
        .data(data)
        .linear_asset(1.0)
        .constant_order_latency(int(args.entry_ms * 1e6), int(args.response_ms * 1e6))
        .risk_adverse_queue_model()
        .trading_value_fee_model(args.maker_fee, args.taker_fee)
        .tick_size(TICK)
        .lot_size(LOT_SIZE)
    )
    asset = asset.partial_fill_exchange() if args.exchange == "partial" else asset.no_partial_fill_exchange()
    return HashMapMarketDepthBacktest([asset])


def run_strategy(data, span_ns: int, quote_start: int, args):
    """Builds a backtest on ``data`` (npz path(s) or an ndarray that the caller keeps alive) and runs
    the strategy to the end of the data. Returns (stats dict, figures dict, trace, fills, seconds)."""
    interval = int(args.interval_ms * 1e6)
    max_steps = span_ns // interval + 10
    trace = np.zeros(max_steps if args.trace else 0, TRACE_DTYPE)
    fills = np.zeros(max_steps * 2 + 16 if args.trace else 0, FILL_DTYPE)
    max_pos_units = round(args.max_lots * args.lot / LOT_SIZE)
    t0 = time.perf_counter()
    hbt = build_backtest(data, args)
    build_s = time.perf_counter() - t0
    stats_arr, n_fill = quote_loop(
        hbt, args.lot, args.offset_ticks, max_pos_units, interval, quote_start, max_steps, trace, fills
    )
    seconds = time.perf_counter() - t0
    if stats_arr[11] not in (0, 1):
        hint = (
            " (InvalidOrderStatus: hftbacktest 2.4.4's PartialFillExchange bug when a fill exactly"
            " exhausts an order, nkaz001/hftbacktest#301/#312; use --exchange no_partial)"
            if stats_arr[11] == 14 and args.exchange == "partial"
            else ""
        )
        raise RuntimeError(f"hbt.elapse returned {stats_arr[11]} at step {stats_arr[0]}{hint}")
    sv = hbt.state_values(0)
    depth = hbt.depth(0)
    mid = (depth.best_bid + depth.best_ask) / 2.0
    position = hbt.position(0)
    balance, fee = sv.balance, sv.fee
    figures = {
        "fills": int(sv.num_trades),
        "position": round(position, 9),
        "balance": balance,
        "fee": fee,
        "final_mid": mid,
        "pnl_gross": balance + position * mid,
        "pnl_after_fees": balance + position * mid - fee,
        "trading_volume": sv.trading_volume,
        "trading_value": sv.trading_value,
        "end_ts": int(hbt.current_timestamp),
    }
    hbt.close()
    stats: dict[str, Any] = {k: int(v) for k, v in zip(STAT_KEYS, stats_arr, strict=True)}
    stats["build_s"] = build_s  # asset + HashMapMarketDepthBacktest construction (npz loading)
    stats["orders"] = stats["orders_buy"] + stats["orders_sell"]
    return stats, figures, trace[: stats["steps"]], fills[: min(n_fill, len(fills))], seconds


def scan_raw(path: Path) -> dict:
    """Message counts and the recorder clock offset, read straight from the raw file."""
    counts = {"depth": 0, "trade": 0, "bookTicker": 0, "snapshot": 0, "other": 0}
    after = {"depth": 0, "trade": 0}
    offsets = []
    seen_snapshot = False
    with gzip.open(path, "rt") as f:
        for line in f:
            ts, raw = line.split(" ", 1)
            msg = json.loads(raw)
            data = msg.get("data")
            if data is None:
                if "lastUpdateId" in msg:
                    counts["snapshot"] += 1
                    seen_snapshot = True
                    offsets.append(int(ts) - int(msg["T"]) * 1_000_000)
                else:
                    counts["other"] += 1
                continue
            e = data.get("e")
            kind = {"depthUpdate": "depth", "trade": "trade", "bookTicker": "bookTicker"}.get(e, "other")
            counts[kind] += 1
            if kind in after and seen_snapshot:
                after[kind] += 1
            if "T" in data and kind != "bookTicker":
                offsets.append(int(ts) - int(data["T"]) * 1_000_000)
    off = np.array(offsets)
    return {
        "messages": counts,
        "depth_trade_after_snapshot": after,
        "raw_local_minus_T_ms": {
            "min": off.min() / 1e6,
            "median": float(np.median(off)) / 1e6,
            "max": off.max() / 1e6,
        },
    }


def synthetic_events(n_rows: int, seed: int = 7) -> np.ndarray:
    """A random-walk book in hftbacktest's event format: a 20-level snapshot per side, then level
    updates (60%), trades at the touch with a matching level update (25%), 1-tick moves (15%);
    exponential inter-arrival times (mean 0.5 ms), constant 5 ms feed latency, all rows flagged
    EXCH|LOCAL (exchange and local order agree)."""
    rng = np.random.default_rng(seed)
    return _synth(n_rows, rng.random((n_rows, 4)), rng.exponential(500_000.0, n_rows))


@njit
def _synth(n_rows, u, gaps):
    levels = 20
    out = np.zeros(n_rows, event_dtype)
    bid = np.int64(268_000)
    ts = np.int64(1_723_161_256_000_000_000)
    latency = np.int64(5_000_000)
    both = EXCH_EVENT | LOCAL_EVENT
    r = 0
    for i in range(levels):
        for side in range(2):
            if r < n_rows:
                tick = bid - i if side == 0 else bid + 1 + i
                out[r].ev = DEPTH_SNAPSHOT_EVENT | (BUY_EVENT if side == 0 else SELL_EVENT) | both
                out[r].exch_ts = ts
                out[r].local_ts = ts + latency
                out[r].px = tick * 0.01
                out[r].qty = 1.0 + i
                r += 1
    k = 0
    while r < n_rows:
        ts += np.int64(gaps[k % n_rows]) + 1
        a, b, c, d = u[k % n_rows, 0], u[k % n_rows, 1], u[k % n_rows, 2], u[k % n_rows, 3]
        k += 1
        if a < 0.60:
            side = 0 if b < 0.5 else 1
            lvl = np.int64(c * c * levels)
            tick = bid - lvl if side == 0 else bid + 1 + lvl
            out[r].ev = DEPTH_EVENT | (BUY_EVENT if side == 0 else SELL_EVENT) | both
            out[r].exch_ts = ts
            out[r].local_ts = ts + latency
            out[r].px = tick * 0.01
            out[r].qty = round(0.001 + d * 30.0, 3)
            r += 1
        elif a < 0.85:
            buyer = b < 0.5
            out[r].ev = TRADE_EVENT | (BUY_EVENT if buyer else SELL_EVENT) | both
            out[r].exch_ts = ts
            out[r].local_ts = ts + latency
            out[r].px = (bid + 1 if buyer else bid) * 0.01
            out[r].qty = round(0.001 + c * 2.0, 3)
            r += 1
            if r < n_rows:
                out[r].ev = DEPTH_EVENT | (SELL_EVENT if buyer else BUY_EVENT) | both
                out[r].exch_ts = ts
                out[r].local_ts = ts + latency
                out[r].px = (bid + 1 if buyer else bid) * 0.01
                out[r].qty = round(0.001 + d * 20.0, 3)
                r += 1
        else:
            up = b < 0.5
            # up: the ask touch (bid+1) goes, a bid appears there, and a new far ask level is
            # added at bid+1+levels; down: the mirror image.
            for j in range(3):
                if r >= n_rows:
                    break
                if j == 0:
                    tick = bid + 1 if up else bid
                    side = 1 if up else 0
                    qty = 0.0
                elif j == 1:
                    tick = bid + 1 if up else bid
                    side = 0 if up else 1
                    qty = 0.5 + c * 5.0
                else:
                    tick = bid + 1 + levels if up else bid - levels
                    side = 1 if up else 0
                    qty = 1.0 + d * 10.0
                out[r].ev = DEPTH_EVENT | (BUY_EVENT if side == 0 else SELL_EVENT) | both
                out[r].exch_ts = ts
                out[r].local_ts = ts + latency
                out[r].px = tick * 0.01
                out[r].qty = round(qty, 3)
                r += 1
            bid = bid + 1 if up else bid - 1
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--file", type=Path, default=DEFAULT_FILE)
    p.add_argument(
        "--offset-ticks", type=int, default=0, help="n: bid at best_bid - n ticks, ask at best_ask + n"
    )
    p.add_argument("--max-lots", type=int, default=5, help="k: quote a side only while |position| < k lots")
    p.add_argument("--lot", type=float, default=0.010, help="order size in ETH (one 'lot' of the strategy)")
    p.add_argument("--entry-ms", type=float, default=1.0)
    p.add_argument("--response-ms", type=float, default=1.0)
    p.add_argument("--interval-ms", type=float, default=100.0)
    p.add_argument("--maker-fee", type=float, default=0.0)
    p.add_argument("--taker-fee", type=float, default=0.0004)
    p.add_argument("--exchange", choices=("no_partial", "partial"), default="no_partial")
    p.add_argument(
        "--base-latency-ms", type=float, default=0.0, help="converter's base_latency (min feed latency)"
    )
    p.add_argument("--trace", type=Path, help="write per-step state and our fills to this .npz")
    p.add_argument(
        "--synthetic-rows", type=int, default=0, help="time on N synthetic rows instead of the file"
    )
    p.add_argument("--timeout", type=float, default=300.0, help="hard bound on the whole run, seconds")
    p.add_argument("--json", action="store_true", help="print one JSON dict of the figures")
    args = p.parse_args()
    if args.trace and PROJECT in args.trace.resolve().parents:
        p.error("--trace must be outside the repository")
    faulthandler.dump_traceback_later(args.timeout, exit=True)

    out: dict = {
        "hftbacktest": hftbacktest.__version__,
        "numba": __import__("numba").__version__,
        "numpy": np.__version__,
        "params": {
            k: getattr(args, k)
            for k in (
                "offset_ticks",
                "max_lots",
                "lot",
                "entry_ms",
                "response_ms",
                "interval_ms",
                "maker_fee",
                "taker_fee",
                "exchange",
                "base_latency_ms",
            )
        },
    }
    with tempfile.TemporaryDirectory(prefix="hbt_ref_") as tmp:
        if args.synthetic_rows:
            t0 = time.perf_counter()
            data = synthetic_events(args.synthetic_rows)
            out["generate_s"] = time.perf_counter() - t0
            span = int(data["exch_ts"][-1] - data["exch_ts"][0]) + int(
                data["local_ts"][-1] - data["exch_ts"][-1]
            )
            quote_start = int(data["local_ts"][0])
            feed: object = data  # passed by pointer: `data` must stay alive while the backtest runs
            raw = None
        else:
            raw = scan_raw(args.file)
            npz = os.path.join(tmp, "feed.npz")
            t0 = time.perf_counter()
            with stdout_to_stderr():
                data = binancefutures.convert(
                    str(args.file),
                    output_filename=npz,
                    combined_stream=True,
                    base_latency=int(args.base_latency_ms * 1e6),
                    buffer_size=5_000_000,
                )
            out["convert_s"] = time.perf_counter() - t0
            span = int(
                max(data["exch_ts"].max(), data["local_ts"].max())
                - min(data["exch_ts"].min(), data["local_ts"].min())
            )
            ev = data["ev"]
            snap_local = ((ev & DEPTH_SNAPSHOT_EVENT) == DEPTH_SNAPSHOT_EVENT) & ((ev & LOCAL_EVENT) != 0)
            quote_start = int(data["local_ts"][snap_local].max()) if snap_local.any() else 0
            feed = [npz]
            lat = data["local_ts"] - data["exch_ts"]
            out["data"] = {
                **raw,
                "converted_rows": len(data),
                "rows_exch_and_local": int(((ev & EXCH_EVENT) != 0).__and__((ev & LOCAL_EVENT) != 0).sum()),
                "rows_depth": int(((ev & 0xFF) == 1).sum()),
                "rows_trade": int(((ev & 0xFF) == 2).sum()),
                "rows_snapshot": int(((ev & 0xFF) == 4).sum()),
                "first_ts": int(min(data["exch_ts"].min(), data["local_ts"].min())),
                "span_s": span / 1e9,
                "local_ts_shift_ms": -raw["raw_local_minus_T_ms"]["min"] + args.base_latency_ms,
                "feed_latency_ms_after_correction": {
                    "min": float(lat.min()) / 1e6,
                    "median": float(np.median(lat)) / 1e6,
                    "max": float(lat.max()) / 1e6,
                },
                "quote_start_ts": quote_start,
            }

        # numba compiles quote_loop on the first call: warm it up on a slice so the timed run is pure.
        t0 = time.perf_counter()
        warm = np.ascontiguousarray(data[: min(len(data), 20_000)])
        warm_args = argparse.Namespace(**{**vars(args), "trace": None})
        run_strategy(warm, int(warm["local_ts"][-1] - warm["exch_ts"][0]) + 1, 0, warm_args)
        out["compile_s"] = time.perf_counter() - t0

        stats, figures, trace, fills, seconds = run_strategy(feed, span, quote_start, args)
        del warm

    n_rows = len(data)
    out["stats"] = stats
    out["figures"] = figures
    out["timing"] = {
        "run_s": seconds,
        "build_s": stats.pop("build_s"),
        "rows": n_rows,
        "rows_per_s": n_rows / seconds,
    }
    if raw is not None:
        msgs = raw["messages"]["depth"] + raw["messages"]["trade"]
        out["timing"]["depth_trade_messages"] = msgs
        out["timing"]["messages_per_s"] = msgs / seconds
        if (
            figures["fills"] != stats["fills_seen_buy"] + stats["fills_seen_sell"]
            and args.exchange == "no_partial"
        ):
            out["warning"] = "num_trades differs from the FILLED orders seen"
    if args.trace:
        np.savez(args.trace, trace=trace, fills=fills)
        out["trace"] = str(args.trace)

    if args.json:
        print(json.dumps(out, indent=1, default=float))
    else:
        f, s, t = figures, stats, out["timing"]
        print(f"hftbacktest {out['hftbacktest']} (numba {out['numba']}, numpy {out['numpy']})")
        print(
            f"params: n={args.offset_ticks} ticks, k={args.max_lots} lots of {args.lot}, "
            f"latency {args.entry_ms}/{args.response_ms} ms, every {args.interval_ms} ms, "
            f"{args.exchange} exchange, "
            f"RiskAdverseQueueModel, fees maker {args.maker_fee} taker {args.taker_fee}"
        )
        if "data" in out:
            d = out["data"]
            print(
                f"data: {d['converted_rows']:,} rows ({d['rows_depth']:,} depth, {d['rows_trade']:,} trade, "
                f"{d['rows_snapshot']:,} snapshot), span {d['span_s']:.1f} s; local clock shifted "
                f"+{d['local_ts_shift_ms']:.1f} ms; feed latency after correction min/median/max "
                f"{d['feed_latency_ms_after_correction']['min']:.1f}/"
                f"{d['feed_latency_ms_after_correction']['median']:.1f}/"
                f"{d['feed_latency_ms_after_correction']['max']:.1f} ms"
            )
        print(
            f"steps {s['steps']:,} (quoting {s['quote_steps']:,}); orders placed {s['orders']:,} "
            f"(buy {s['orders_buy']:,}, sell {s['orders_sell']:,}); cancels sent {s['cancels']:,}; "
            f"GTX expired {s['expired_gtx']:,}"
        )
        print(
            f"fills {f['fills']:,} (buy {s['fills_seen_buy']:,}, sell {s['fills_seen_sell']:,}); "
            f"final position {f['position']:+.3f} ETH; volume {f['trading_volume']:.3f} ETH"
        )
        print(
            f"PnL after fees {f['pnl_after_fees']:+.6f} USDT = balance {f['balance']:+.6f} "
            f"+ position x mid {f['final_mid']:.3f} - fee {f['fee']:.6f}"
        )
        extra = f", {t['messages_per_s']:,.0f} depth+trade messages/s" if "messages_per_s" in t else ""
        conv = f"convert {out['convert_s']:.2f} s, " if "convert_s" in out else ""
        print(
            f"wall: {conv}numba compile {out['compile_s']:.2f} s, run {t['run_s']:.3f} s "
            f"(of which building/loading {t['build_s']:.3f} s) -> "
            f"{t['rows_per_s']:,.0f} rows/s{extra}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
