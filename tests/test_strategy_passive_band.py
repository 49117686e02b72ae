"""Passive band: far-edge placement, minimum order value, kept until it drifts out, and the KPI accumulator.

Hand case: touch 2000.00 / 2000.01, reference = mid = 2000.005, placement 0.004·0.8 = 0.32%:
bid 2000.005·0.9968 = 1993.604984 → 1993.60, ask 2000.005·1.0032 = 2006.405016 → 2006.41;
sizes ⌈10000/1993.60⌉ = 5.017 and ⌈10000/2006.41⌉ = 4.985 (steps of 0.001).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from common.instrument import check_order
from common.messages import Quote
from common.params.strategy import SymbolStrategy
from services.strategy.engine import Decision, decide
from services.strategy.kpi import BandKpi
from services.strategy.state import StrategyState
from tests.fixtures.strategy_samples import T0_NS, features, inputs, instrument

S = 1_000_000_000
PARAMS = SymbolStrategy.model_validate({"model": "passive_band", "netMax": 100.0})


def _run(bid: float, state: StrategyState | None = None, now: int = T0_NS, **kw: Any) -> Decision:
    params = kw.pop("params", PARAMS)
    f = features(bid, round(bid + 0.01, 2), ts_ns=now, **kw.pop("feat", {}))
    return decide(inputs(now_ns=now, features=f, **kw), params, state or StrategyState())


def _book(d: Decision) -> list[tuple[str, str, str]]:
    return [(q.side, str(q.price), str(q.qty)) for q in d.quotes]


def test_one_order_a_side_at_the_far_edge_worth_the_minimum_value() -> None:
    d = _run(2000.00)
    assert _book(d) == [("BUY", "1993.60", "5.017"), ("SELL", "2006.41", "4.985")]
    for q in d.quotes:
        assert q.price * q.qty >= 10000
        assert check_order(instrument(), q.price, q.qty, q.reduce_only) == ""


def test_orders_stay_put_while_inside_the_band_and_near_their_place() -> None:
    first = _run(2000.00)
    moved = _run(2001.00, first.state, T0_NS + S)
    assert _book(moved) == _book(first)
    assert not moved.publish
    assert "replaced" not in moved.record.flags


def test_an_order_that_drifts_out_is_replaced_and_published() -> None:
    first = _run(2000.00)
    moved = _run(2002.00, first.state, T0_NS + S)
    assert _book(moved) == [("BUY", "1995.59", "5.012"), ("SELL", "2008.42", "4.980")]
    assert moved.publish and "replaced" in moved.record.flags


def test_several_orders_a_side_step_inward_but_stay_in_the_band() -> None:
    p = SymbolStrategy.model_validate(
        {"model": "passive_band", "netMax": 100.0, "passiveBand": {"ordersPerSide": 2}}
    )
    d = _run(2000.00, params=p)
    prices = [float(q.price) for q in d.quotes]
    assert len(prices) == 4
    for price in prices:
        assert 0.002 <= abs(price - 2000.005) / 2000.005 <= 0.004


def test_the_reference_can_be_the_twap_with_the_mid_as_fallback() -> None:
    p = SymbolStrategy.model_validate(
        {"model": "passive_band", "netMax": 100.0, "passiveBand": {"reference": "twap"}}
    )
    d = _run(2000.00, params=p, feat={"twap": 2001.0})
    assert _book(d)[0][1] == "1994.59"
    fallback = _run(2000.00, params=p)
    assert "reference_fallback" in fallback.record.flags
    assert _book(fallback)[0][1] == "1993.60"


def test_a_cold_start_adopts_working_orders_that_are_in_place() -> None:
    working = (
        Quote(side="BUY", price=Decimal("1993.70"), qty=Decimal("5.016"), layer=0),
        Quote(side="SELL", price=Decimal("2006.30"), qty=Decimal("4.985"), layer=0),
    )
    d = _run(2000.00, working=working)
    assert _book(d) == [("BUY", "1993.70", "5.016"), ("SELL", "2006.30", "4.985")]


def test_kpis_integrate_time_in_band_two_sided_time_min_value_share_and_fill_ratio() -> None:
    band = PARAMS.passive_band
    quotes = _run(2000.00).quotes
    k = BandKpi().observe(T0_NS, 2000.005, quotes, band).placed(quotes, band)
    k = k.observe(T0_NS + S, 2002.005, quotes, band)  # the bid is now 0.42% away: out of band
    k = k.observe(T0_NS + 3 * S, 2002.005, quotes, band)
    small = [Quote(side="BUY", price=Decimal("1995"), qty=Decimal("1"), layer=0)]
    k = k.placed(small, band).filled()
    ratios = k.ratios()
    assert ratios["time_in_band"] == pytest.approx(1 / 3)
    assert ratios["two_sided_time"] == pytest.approx(1 / 3)
    assert ratios["min_value_share"] == pytest.approx(2 / 3)
    assert ratios["fill_ratio"] == pytest.approx(1 / 3)
    assert BandKpi().ratios() == {
        "time_in_band": 0.0,
        "two_sided_time": 0.0,
        "min_value_share": 0.0,
        "fill_ratio": 0.0,
        "response_within_100ms": 1.0,
    }


def test_the_response_kpi_counts_excursions_back_within_100_ms_and_keeps_the_longest() -> None:
    k = BandKpi().responded(40_000_000).responded(100_000_000).responded(250_000_000)
    assert k.ratios()["response_within_100ms"] == pytest.approx(2 / 3)  # 100 ms itself is in time
    assert k.response_max_ns == 250_000_000
    assert k.summary().endswith("adjust<=100ms=67% (max 250 ms)")
