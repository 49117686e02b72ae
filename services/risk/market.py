"""Market-condition rules: feed state, data age, book against mark, venue latency, price shocks.

* ``feed``: a FeedStatus other than ``live`` (or none yet) quotes nothing until live again;
* ``market_data``: no Features or MarkPrice yet, or the latest older than ``marketDataMaxAgeSeconds``
  (by ``now − ts_init``, so ``now`` must come from the clock that stamps ``ts_init``);
* ``book_mark``: a crossed or non-finite book, or a mid away from the mark by more than
  ``bookMarkMaxDeviationPct`` (seed 004's order-book inconsistency), quotes nothing;
* ``latency``: the venue latency the shell feeds (an order-ack EWMA) above ``latencyPauseMs`` quotes
  nothing; above ``latencyMs`` the approval drops the innermost layers (see :mod:`approval`);
* ``shock``: the mid or the mark moving more than ``shockPct`` within ``shockWindowSeconds`` pulls
  the quotes and halts the symbol for ``haltSeconds``; the halt lifts once that time has passed and
  no such move remains in the window.
"""

from __future__ import annotations

import math

from common.messages import CancelAll, Features, MarkPrice
from services.risk.context import NS, SymbolView
from services.risk.state import Market, Window


def on_features(m: Market, f: Features, window_s: float) -> None:
    """Take the book's touch and mid; a finite positive mid enters the shock window."""
    m.mid, m.best_bid, m.best_ask, m.features_ns = f.mid, f.best_bid, f.best_ask, f.ts_init
    if math.isfinite(f.mid) and f.mid > 0:
        m.mid_move = _push(m.mid_hi, m.mid_lo, f.ts_init, f.mid, int(window_s * NS))


def on_mark(m: Market, mp: MarkPrice, window_s: float) -> None:
    """Take a positive mark price into the view and its shock window (the caller drops the rest)."""
    m.mark, m.mark_ns = float(mp.mark_price), mp.ts_init
    m.mark_move = _push(m.mark_hi, m.mark_lo, mp.ts_init, m.mark, int(window_s * NS))


def _push(hi: Window, lo: Window, ts: int, price: float, window_ns: int) -> float:
    """Add a sample to the window's running maximum and minimum; the largest move of ``price`` in it.

    ``hi`` keeps the samples no later one exceeds (prices falling), ``lo`` those no later one
    undercuts (prices rising), so their first entries are the window's extremes: O(1) amortized.
    """
    while hi and hi[-1][1] <= price:
        hi.pop()
    while lo and lo[-1][1] >= price:
        lo.pop()
    hi.append((ts, price))
    lo.append((ts, price))
    for q in (hi, lo):
        drop = 0
        while q[drop][0] < ts - window_ns:
            drop += 1
        del q[:drop]
    return max(price / lo[0][1] - 1.0, 1.0 - price / hi[0][1])


def market_rules(v: SymbolView) -> None:
    """Every market-condition rule of one symbol."""
    _feed(v)
    _freshness(v)
    _book_mark(v)
    _latency(v)
    _shock(v)


def _feed(v: SymbolView) -> None:
    m = v.s.market
    live = m.feed == "live"

    def explain() -> tuple[str, dict[str, float]]:
        return f"feed {m.feed}" + (f": {m.feed_reason}" if m.feed_reason and not live else ""), {}

    v.ch.condition(v.name, v.s.holds, "feed", not live, live, "halted", explain)


def _freshness(v: SymbolView) -> None:
    m, limit = v.s.market, v.p.market_data_max_age_seconds
    f_age = (v.now - m.features_ns) / NS if m.features_ns else -1.0
    m_age = (v.now - m.mark_ns) / NS if m.mark_ns else -1.0
    # a message stamped slightly ahead of ``now`` (another host's clock) counts as fresh
    bad = not (m.features_ns and m.mark_ns and f_age <= limit and m_age <= limit)

    def explain() -> tuple[str, dict[str, float]]:
        ages = f"features {f_age:.1f}s, mark {m_age:.1f}s (-1 = none yet)"
        why = f"market data missing or older than {limit:g}s: {ages}" if bad else f"market data fresh: {ages}"
        return why, {"features_age_s": f_age, "mark_age_s": m_age, "limit_s": limit}

    v.ch.condition(v.name, v.s.holds, "market_data", bad, not bad, "halted", explain)


def _book_mark(v: SymbolView) -> None:
    m = v.s.market
    if not m.features_ns or m.mark <= 0:
        return
    sane = all(map(math.isfinite, (m.mid, m.best_bid, m.best_ask))) and m.mid > 0
    dev = abs(m.mid - m.mark) / m.mark if sane else -1.0
    crossed = sane and 0 < m.best_ask <= m.best_bid
    bad = not sane or crossed or dev > v.p.book_mark_max_deviation_pct

    def explain() -> tuple[str, dict[str, float]]:
        why = "book crossed" if crossed else f"mid {m.mid:g} vs mark {m.mark:g}: {dev:.3%}"
        why = why if sane else f"book not finite: bid {m.best_bid}, ask {m.best_ask}, mid {m.mid}"
        return why, {"deviation": dev, "limit": v.p.book_mark_max_deviation_pct, "crossed": float(crossed)}

    v.ch.condition(v.name, v.s.holds, "book_mark", bad, not bad, "halted", explain)


def _latency(v: SymbolView) -> None:
    ms, limit = v.s.market.latency_ms, v.p.latency_pause_ms

    def explain() -> tuple[str, dict[str, float]]:
        return f"venue latency {ms:.0f} ms vs pause above {limit:.0f} ms", {
            "latency_ms": ms,
            "limit_ms": limit,
        }

    v.ch.condition(v.name, v.s.holds, "latency", ms > limit, ms <= limit, "halted", explain)


def _shock(v: SymbolView) -> None:
    m, p, holds = v.s.market, v.p, v.s.holds
    move = max(m.mid_move, m.mark_move)
    figures = {"move": move, "limit": p.shock_pct, "mid_move": m.mid_move, "mark_move": m.mark_move}
    held = holds.get("shock")
    if held is None and move > p.shock_pct:
        until = v.now + int(p.halt_seconds * NS)
        reason = f"price moved {move:.2%} within {p.shock_window_seconds:g}s (limit {p.shock_pct:.2%})"
        v.ch.hold(v.name, holds, v.ch.make("shock", "halted", reason, "cooldown", until, figures))
        v.ch.act(CancelAll(symbol=v.name, reason=f"shock: {reason}"))
    elif held is not None and v.now >= held.until_ns and move <= p.shock_pct:
        v.ch.release(
            v.name, holds, "shock", f"cool-down of {p.halt_seconds:g}s over, move {move:.2%}", figures
        )
