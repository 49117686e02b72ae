"""What a market looks like to a market maker, measured the same way on any :class:`MarketData`:
a recorded Binance file or the simulated venue's synthetic market (``calibrate --compare``).

The statistics (the quoting issue's list of where the synthetic market differs from the real one):

* ``spread_ticks_p50`` and ``one_tick_share``: the touch's spread, sampled at every book change;
* ``top_qty_p50``: the size at the best bid and best ask (mean of the two), base units;
* ``taker_per_s``: taker orders a second; a taker order is the trades of one aggressor side at one
  exchange time (a sweep prints one trade per level and maker order it meets);
* ``taker_qty_p50`` / ``taker_qty_p90``: a taker order's size, base units (p90 / p50 shows the tail);
* ``walk_share``: the share of taker orders that trade at more than one price;
* ``dispersion``: variance over mean of the taker orders counted per second (1 for Poisson
  arrivals, more when they cluster);
* ``impact_1s_ticks``: the mid's move from just before a taker order to one second after it, in
  ticks, signed by its side (a permanent price impact shows as a positive mean);
* ``sigma_1s_bps``: the standard deviation of the mid's move over one second, in basis points
  (what the quoting models call σ).

:func:`compare` sets a synthetic figure against a real one: within ±25 % of it (the issue's band
for a single figure), and prints which pass.
"""

from __future__ import annotations

import bisect
import statistics
from dataclasses import dataclass
from typing import cast

from services.backtest.data import DEPTH, TRADE, MarketData
from services.marketdata.book import OrderBook
from services.venue.orderbook import BUY

NS = 1_000_000_000
BAND = 0.25
"""A synthetic figure passes within this share of the real one."""


@dataclass(frozen=True, slots=True)
class Taker:
    """One taker order: when, its side (+1 buy, −1 sell), its size in steps, how many prices."""

    t_ns: int
    side: int
    steps: int
    prices: int


def takers(md: MarketData) -> list[Taker]:
    """The taker orders of ``md`` (trades grouped by exchange time and aggressor side)."""
    out: list[Taker] = []
    key: tuple[int, int] | None = None
    steps, prices = 0, set[int]()
    for t, kind, payload in zip(md.t_exch_ns, md.kind, md.payload, strict=True):
        if kind != TRADE:
            continue
        aggressor, p, q = cast(tuple[int, int, int], payload)
        side = 1 if aggressor == BUY else -1
        if (t, side) != key:
            if key is not None:
                out.append(Taker(key[0], key[1], steps, len(prices)))
            key, steps, prices = (t, side), 0, set()
        steps += q
        prices.add(p)
    if key is not None:
        out.append(Taker(key[0], key[1], steps, len(prices)))
    return out


def _book_path(md: MarketData) -> tuple[list[int], list[float], list[int], list[float]]:
    """At every depth event: its time, the mid in ticks, the spread in ticks, the top size (steps)."""
    book = OrderBook(md.tick, md.step)
    for side, p, q in md.start:
        book.set_level(side == BUY, p, q)
    times: list[int] = []
    mids: list[float] = []
    spreads: list[int] = []
    tops: list[float] = []
    for t, kind, payload in zip(md.t_exch_ns, md.kind, md.payload, strict=True):
        if kind != DEPTH:
            continue
        for side, p, q in cast(tuple[tuple[int, int, int], ...], payload):
            book.set_level(side == BUY, p, q)
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None and ask[0] > bid[0]:
            times.append(t)
            mids.append((ask[0] + bid[0]) / 2)
            spreads.append(ask[0] - bid[0])
            tops.append((bid[1] + ask[1]) / 2)
    return times, mids, spreads, tops


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def measure(md: MarketData) -> dict[str, float]:
    """The statistics of the module docstring for one market."""
    step = float(md.step)
    ts = takers(md)
    times, mids, spreads, tops = _book_path(md)
    span_s = max(md.span_s, 1e-9)
    per_s: dict[int, int] = {}
    for k in ts:
        per_s[k.t_ns // NS] = per_s.get(k.t_ns // NS, 0) + 1
    first = md.t_exch_ns[0] // NS if md.t_exch_ns else 0
    counts = [per_s.get(first + i, 0) for i in range(int(span_s))]
    mean = statistics.fmean(counts) if counts else 0.0
    impacts: list[float] = []
    for k in ts:
        i = bisect.bisect_left(times, k.t_ns) - 1  # the book just before the order
        j = bisect.bisect_right(times, k.t_ns + NS) - 1
        if 0 <= i < j:
            impacts.append(k.side * (mids[j] - mids[i]))
    sizes = [k.steps * step for k in ts]
    moves: list[float] = []
    if times:
        j = 0
        for sec in range(times[0] // NS + 1, times[-1] // NS + 1):
            i, j = j, bisect.bisect_right(times, sec * NS) - 1
            if sec > times[0] // NS + 1 and mids[i] > 0:
                moves.append((mids[j] - mids[i]) / mids[i] * 1e4)
    return {
        "spread_ticks_p50": _pct([float(s) for s in spreads], 0.5),
        "one_tick_share": sum(1 for s in spreads if s == 1) / len(spreads) if spreads else 0.0,
        "top_qty_p50": _pct(tops, 0.5) * step,
        "taker_per_s": len(ts) / span_s,
        "taker_qty_p50": _pct(sizes, 0.5),
        "taker_qty_p90": _pct(sizes, 0.9),
        "walk_share": sum(1 for k in ts if k.prices > 1) / len(ts) if ts else 0.0,
        "dispersion": statistics.pvariance(counts) / mean if mean else 0.0,
        "impact_1s_ticks": statistics.fmean(impacts) if impacts else 0.0,
        "sigma_1s_bps": statistics.pstdev(moves) if len(moves) > 1 else 0.0,
    }


def compare(real: dict[str, float], synth: dict[str, float]) -> list[tuple[str, float, float, bool]]:
    """Per statistic: the real figure, the synthetic one, and whether it lies within ±25 %."""
    out = []
    for name, r in real.items():
        s = synth.get(name, 0.0)
        ok = abs(s - r) <= BAND * abs(r) if r else abs(s) < 1e-9
        out.append((name, r, s, ok))
    return out


def render(rows: list[tuple[str, float, float, bool]]) -> str:
    lines = [f"{'statistic':<18} {'real':>12} {'synthetic':>12}  within ±25 %"]
    for name, r, s, ok in rows:
        lines.append(f"{name:<18} {r:>12.4g} {s:>12.4g}  {'yes' if ok else 'NO'}")
    passed = sum(1 for *_, ok in rows if ok)
    lines.append(f"{passed} of {len(rows)} statistics within ±25 % of the real market")
    return "\n".join(lines)
