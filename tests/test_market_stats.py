"""The market statistics that set the synthetic market against a recording, on a market small
enough to work every figure out by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.backtest.data import DEPTH, TRADE, MarketData
from services.backtest.market_stats import compare, measure, takers
from services.venue.orderbook import BUY, SELL

S = 1_000_000_000


def _market() -> MarketData:
    # book 100 / 101 (ticks), 10 and 30 steps at the touch; three seconds of events
    md = MarketData("X", Decimal("0.01"), Decimal("0.001"), [(BUY, 100, 10), (SELL, 101, 30)])
    md.add(0, 0, DEPTH, ((BUY, 100, 20),))  # top (20 + 30) / 2 = 25 steps, mid 100.5
    # a buy sweeping two prices at t = 0.5 s: 30 at 101 and 5 at 102 -> one taker order, 35 steps
    md.add(S // 2, S // 2, TRADE, (BUY, 101, 30))
    md.add(S // 2, S // 2, TRADE, (BUY, 102, 5))
    md.add(S // 2 + 1, S // 2 + 1, DEPTH, ((SELL, 101, 0), (SELL, 103, 10)))  # asks 103: mid 101.5
    # a sell of 4 steps at one price at t = 2.2 s
    md.add(2 * S + S // 5, 2 * S + S // 5, TRADE, (SELL, 100, 4))
    md.add(3 * S, 3 * S, DEPTH, ((BUY, 99, 7),))  # nothing at the touch changes
    return md


def test_each_figure_on_a_hand_computed_market() -> None:
    md = _market()
    assert [(k.t_ns, k.side, k.steps, k.prices) for k in takers(md)] == [
        (S // 2, 1, 35, 2), (2 * S + S // 5, -1, 4, 1),
    ]  # fmt: skip
    m = measure(md)
    # spreads at the three depth events: 101 - 100, 103 - 100, 103 - 100 = 1, 3, 3 ticks -> median
    # 3, one-tick share 1/3
    assert m["spread_ticks_p50"] == 3 and m["one_tick_share"] == pytest.approx(1 / 3)
    # top sizes (20 + 30) / 2 = 25, (20 + 10) / 2 = 15, 15 steps -> median 15 steps = 0.015
    assert m["top_qty_p50"] == pytest.approx(0.015)
    # 2 taker orders over 3 s of events; sizes 0.035 and 0.004 (p50 and p90 of two: the larger)
    assert m["taker_per_s"] == pytest.approx(2 / 3)
    assert (m["taker_qty_p50"], m["taker_qty_p90"]) == pytest.approx((0.035, 0.035))
    assert m["walk_share"] == 0.5  # one of the two traded at two prices
    # per second 1, 0, 1 -> mean 2/3, population variance 2/9 -> dispersion 1/3
    assert m["dispersion"] == pytest.approx(1 / 3)
    # the buy: mid 100.5 before, 101.5 one second later -> +1; the sell at 2.2 s: mid 101.5
    # before and at 3.2 s (the 3 s event leaves the touch) -> 0; mean +0.5 tick
    assert m["impact_1s_ticks"] == pytest.approx(0.5)


def test_compare_passes_within_25_percent_only() -> None:
    rows = compare({"a": 10.0, "b": 10.0, "c": 0.0}, {"a": 12.5, "b": 12.6, "c": 0.0})
    assert [(name, ok) for name, _r, _s, ok in rows] == [("a", True), ("b", False), ("c", True)]
