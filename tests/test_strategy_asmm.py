"""ASMM on hand-computed cases: reservation, ladder, floor, momentum, pressure, funding, take profit.

The hand case: ETHUSDC touch 1999.99 / 2000.01 (mid 2000), fixed σ = 1e-4 per √s (20 ticks/√s),
A&S with γ = 0.01 per tick·lot, τ = 1 s, k = 0.1 per tick. Spread = γσ²τ + (2/γ)ln(1+γ/k)
= 4 + 200·ln 1.1 = 23.06204 ticks, so half = 0.1153102. A lot is baseSize = 0.01.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from common.params.strategy import SymbolStrategy
from services.strategy.engine import Decision, decide
from services.strategy.legs import LAYER_TAKE_PROFIT
from services.strategy.reservation import glft_coefficients, glft_half_spread_skew
from services.strategy.state import StrategyState
from tests.fixtures.strategy_samples import T0_NS, features, inputs

OFF = {"pinning": {"enabled": False}, "grinding": {"enabled": False}, "fundingBias": {"enabled": False}}


def _params(**asmm: Any) -> SymbolStrategy:
    reservation = {
        "variant": "avellaneda_stoikov", "gamma": 0.01, "gammaUnit": "tick_lot", "horizonS": 1.0,
        "estimateOnline": False, "sigma": 1e-4, "intensityK": 0.1, "intensityA": 1.0,
    }  # fmt: skip
    reservation.update(asmm.pop("reservation", {}))
    section = {
        "baseSize": 0.01,
        "maxLayers": 3,
        "spreadFloor": "fixed",
        "minSpread": 0.0001,
        "feeBuffer": 0.00005,
        "reservation": reservation,
    }
    section.update(asmm)
    return SymbolStrategy.model_validate({"asmm": section, **OFF})


def _run(p: SymbolStrategy, position: str = "0", entry: str = "0", **kw: Any) -> Decision:
    state = kw.pop("state", StrategyState())
    kw.setdefault("features", features(1999.99, 2000.01))
    return decide(inputs(position, entry, **kw), p, state)


def _book(d: Decision) -> list[tuple[str, int, str, str, bool]]:
    return [(q.side, q.layer, str(q.price), str(q.qty), q.reduce_only) for q in d.quotes]


def test_flat_hand_case_three_layers_each_side() -> None:
    d = _run(_params())
    assert _book(d) == [
        ("BUY", 0, "1999.88", "0.010", False),
        ("BUY", 1, "1999.76", "0.009", False),
        ("BUY", 2, "1999.63", "0.008", False),
        ("SELL", 0, "2000.12", "0.010", False),
        ("SELL", 1, "2000.24", "0.009", False),
        ("SELL", 2, "2000.37", "0.008", False),
    ]
    assert d.record.inputs["half_spread"] == pytest.approx(0.1153102, abs=1e-7)
    assert d.record.inputs["sigma"] == pytest.approx(20.0)
    assert d.record.model == "asmm"
    assert "sigma_fixed" in d.record.flags


def test_long_two_lots_shifts_the_reservation_down_8_ticks_with_a_take_profit() -> None:
    d = _run(_params(takeProfitPct=0.0025), position="0.02", entry="2010")
    assert d.record.inputs["reservation"] == pytest.approx(1999.92)
    assert _book(d) == [
        ("BUY", 0, "1999.80", "0.010", False),
        ("BUY", 1, "1999.68", "0.009", False),
        ("BUY", 2, "1999.55", "0.008", False),
        ("SELL", 0, "2000.04", "0.010", False),
        ("SELL", 1, "2000.16", "0.009", False),
        ("SELL", 2, "2000.29", "0.008", False),
        ("SELL", LAYER_TAKE_PROFIT, "2015.03", "0.020", True),
    ]
    # the ladder's legs carry no reduce-only flag (netMax bounds them); the take-profit alone is
    # reduce-only, for the whole position and no more


def test_take_profit_already_reached_rests_at_the_touch() -> None:
    d = _run(_params(takeProfitPct=0.0025), position="0.02", entry="1990")
    tp = [q for q in d.quotes if q.layer == LAYER_TAKE_PROFIT]
    assert [(str(q.price), str(q.qty), q.reduce_only) for q in tp] == [("2000.00", "0.020", True)]


def test_glft_variant_uses_the_closed_form_half_spread_and_skew() -> None:
    p = _params(reservation={"variant": "glft"})
    d = _run(p, position="0.03")
    half, skew = glft_half_spread_skew(20.0, *glft_coefficients(1.0, 0.1, 0.01))
    assert d.record.inputs["half_spread"] == pytest.approx(half * 0.01)
    assert d.record.inputs["skew"] == pytest.approx(skew * 0.01)
    assert d.record.inputs["reservation"] == pytest.approx(2000.0 - 3 * skew * 0.01)
    best_bid = max(q.price for q in d.quotes if q.side == "BUY")
    assert best_bid == Decimal(str(int((2000.0 - 3 * skew * 0.01 - half * 0.01) * 100) / 100))


def test_min_spread_floors_the_total_spread() -> None:
    d = _run(_params(minSpread=0.0006, feeBuffer=0.0002))
    bid = max(q.price for q in d.quotes if q.side == "BUY")
    ask = min(q.price for q in d.quotes if q.side == "SELL")
    assert d.record.inputs["half_spread"] == pytest.approx(0.6)
    assert (bid, ask) == (Decimal("1999.40"), Decimal("2000.60"))


def test_online_estimates_come_from_features_when_present() -> None:
    p = _params(reservation={"estimateOnline": True, "volKey": "60s"})
    f = features(1999.99, 2000.01, vol={"10s": 1e-4, "60s": 6e-5}, intensity_a=2.0, intensity_k=0.2)
    d = _run(p, features=f)
    assert d.record.inputs["sigma"] == pytest.approx(6e-5 * 2000 / 0.01)  # per √s, in ticks
    assert (d.record.inputs["A"], d.record.inputs["k"]) == (2.0, 0.2)
    assert not {"sigma_fixed", "intensity_fixed"} & set(d.record.flags)


def test_momentum_pushes_the_ask_back_in_a_rally_and_leaves_the_bid() -> None:
    p = _params(momentumThreshold=0.0006, momentumThresholdSigmas=0)
    first = _run(p)
    later = T0_NS + 500_000_000
    f = features(2003.99, 2004.01, ts_ns=later)
    rally = _run(p, features=f, now_ns=later, state=first.state)
    calm = _run(p, features=f, now_ns=later)
    ema = 2000.0 + 0.08 * 4.0  # one quote interval later the EMA has moved alpha of the way
    momentum = 2004.0 / ema - 1
    excess = (momentum - 0.0006) * 2004.0
    assert rally.record.inputs["momentum"] == pytest.approx(momentum)
    assert "momentum" in rally.record.flags
    ask = {q.layer: q.price for q in rally.quotes if q.side == "SELL"}
    calm_ask = {q.layer: q.price for q in calm.quotes if q.side == "SELL"}
    assert float(ask[0] - calm_ask[0]) == pytest.approx(excess, abs=0.011)
    assert [q for q in rally.quotes if q.side == "BUY"] == [q for q in calm.quotes if q.side == "BUY"]


def test_the_momentum_threshold_is_two_standard_deviations_of_the_ema_gap() -> None:
    from services.strategy.models.asmm import momentum_threshold

    a = _params().asmm
    # σ = 1e-4 per √s, a 500 ms interval, alpha 0.08: τ = 0.5 / 0.08 = 6.25 s, the gap's standard
    # deviation 1e-4 x √3.125 = 1.7678e-4, twice that 3.5355e-4
    assert momentum_threshold(a, 1e-4, 500) == pytest.approx(3.5355e-4, rel=1e-4)
    # without σ, or with z = 0, the fixed threshold
    assert momentum_threshold(a, 0.0, 500) == a.momentum_threshold
    fixed = _params(momentumThresholdSigmas=0).asmm
    assert momentum_threshold(fixed, 1e-4, 500) == fixed.momentum_threshold
    # the hand case's σ is fixed at 1e-4 per √s. A 0.80 rally in one interval: the EMA moves
    # 0.08 x 0.80 = 0.064, momentum 0.736 / 2000.064 = 3.680e-4: past 3.5355e-4, short of 6e-4
    later = T0_NS + 500_000_000
    f = features(2000.79, 2000.81, ts_ns=later)
    for params, acts in ((_params(), True), (_params(momentumThresholdSigmas=0), False)):
        first = _run(params)
        rally = _run(params, features=f, now_ns=later, state=first.state)
        assert rally.record.inputs["momentum"] == pytest.approx(0.736 / 2000.064)
        assert ("momentum" in rally.record.flags) is acts


def test_inventory_pressure_shifts_the_centre_toward_reducing() -> None:
    p = SymbolStrategy.model_validate({**_params().model_dump(), "net_max": 0.2})
    d = _run(p, position="0.18")
    push = 0.5 * ((0.9 - 0.4) / 0.6) ** 2.5
    assert d.record.inputs["pressure"] == pytest.approx(push)
    assert d.record.inputs["centre"] == pytest.approx(
        d.record.inputs["reservation"] - push * 0.1153102, abs=1e-6
    )
    assert "inventory_pressure" in d.record.flags


def test_positive_funding_ahead_lowers_both_sides() -> None:
    p = SymbolStrategy.model_validate({**_params().model_dump(), "funding_bias": {"enabled": True}})
    soon = (T0_NS // 1_000_000) + 1_800_000  # 30 min ahead, half of the 1 h horizon
    f = features(1999.99, 2000.01, funding_rate=0.0001, next_funding_time_ms=soon)
    d = _run(p, features=f)
    assert d.record.inputs["funding_bias"] == pytest.approx(-0.5 * 0.0001 * 2000.0)
    assert _book(d)[0][2] == "1999.78" and _book(d)[3][2] == "2000.02"


def test_layers_that_netmax_cannot_hold_are_reported_missing_in_the_record() -> None:
    # three layers a side of 0.010, 0.009, 0.008 (decay 0.9); netMax 0.019 holds the first two of
    # each side (0.010 + 0.009), so by hand 4 layers are quoted and 2 are missing
    p = _params()
    tight = SymbolStrategy.model_validate({**p.model_dump(by_alias=True), "netMax": 0.019})
    d = _run(tight)
    assert [(q.side, q.layer) for q in d.quotes] == [("BUY", 0), ("BUY", 1), ("SELL", 0), ("SELL", 1)]
    assert (d.record.inputs["layers_quoted"], d.record.inputs["layers_missing"]) == (4.0, 2.0)
    assert "layers_missing" in d.record.flags
    full = _run(p)  # the default netMax (0.21) holds all six
    assert (full.record.inputs["layers_quoted"], full.record.inputs["layers_missing"]) == (6.0, 0.0)
    assert "layers_missing" not in full.record.flags


def test_book_and_trade_imbalance_lean_the_centre_the_way_the_pressure_points() -> None:
    # lean = (0.2 · 0.5 + 0.2 · (−0.25)) · half = 0.05 · 0.1153102 = 0.0057655: centre 2000.0057655,
    # bid0 1999.8904553 → 1999.89, ask0 2000.1210757 → 2000.13; layers 0.1153102 then ×1.2 apart
    f = features(1999.99, 2000.01, imbalance=0.5, trade_imbalance=-0.25)
    d = _run(_params(), features=f)
    assert _book(d) == [
        ("BUY", 0, "1999.89", "0.010", False),
        ("BUY", 1, "1999.77", "0.009", False),
        ("BUY", 2, "1999.63", "0.008", False),
        ("SELL", 0, "2000.13", "0.010", False),
        ("SELL", 1, "2000.24", "0.009", False),
        ("SELL", 2, "2000.38", "0.008", False),
    ]
    assert d.record.inputs["lean"] == pytest.approx(0.0057655, abs=1e-7)
    assert "flow_lean" in d.record.flags
    off = _run(_params(flow={"enabled": False}), features=f)
    assert [q.price for q in off.quotes] == [q.price for q in _run(_params()).quotes]


def test_toxic_flow_by_vpin_thins_the_ladder_and_spreads_its_layers() -> None:
    # VPIN 0.9 against the 0.8 threshold: x = 0.5; layers round(3 · (1 − 0.5 · 0.5)) = 2 a side,
    # gap 0.1153102 · (1 + 1.0 · 0.5) = 0.1729653: bid1 1999.8846898 − 0.1729653 = 1999.7117 → 1999.71
    d = _run(_params(), features=features(1999.99, 2000.01, vpin=0.9))
    assert _book(d) == [
        ("BUY", 0, "1999.88", "0.010", False),
        ("BUY", 1, "1999.71", "0.009", False),
        ("SELL", 0, "2000.12", "0.010", False),
        ("SELL", 1, "2000.29", "0.009", False),
    ]
    assert d.record.inputs["toxicity"] == pytest.approx(0.5) and "toxic_flow" in d.record.flags
    # at or below the threshold nothing changes
    calm = _run(_params(), features=features(1999.99, 2000.01, vpin=0.8))
    assert len(calm.quotes) == 6 and "toxic_flow" not in calm.record.flags


def test_the_inventory_cap_shrinks_with_volatility_and_never_below_its_floor() -> None:
    """netMax 0.21 at refSigma 1.2e-4: at σ(60 s) = 2.4e-4 the strategy quotes within 0.105 (half),
    at 8e-4 within 0.3 · 0.21 = 0.063 (the floor); at 5e-5 (calm) the whole 0.21."""
    p = _params(baseSize=0.02, maxLayers=24)

    def bids(vol60: float) -> tuple[float, Decision]:
        f = features(1999.99, 2000.01, vol={"1s": 1e-4, "10s": 1e-4, "60s": vol60})
        d = _run(p, features=f)
        return float(sum(q.qty for q in d.quotes if q.side == "BUY")), d

    total, d = bids(5e-5)
    assert d.record.inputs["net_max"] == pytest.approx(0.21) and "net_max_adapted" not in d.record.flags
    assert 0.105 < total <= 0.21
    total, d = bids(2.4e-4)
    assert d.record.inputs["net_max"] == pytest.approx(0.105) and "net_max_adapted" in d.record.flags
    assert 0.08 < total <= 0.105
    total, d = bids(8e-4)
    assert d.record.inputs["net_max"] == pytest.approx(0.063)
    assert 0.04 < total <= 0.063


def test_gamma_per_unit_of_quote_currency_means_the_same_risk_aversion_on_every_symbol() -> None:
    """γ = 100 per USDC, A&S, σ 1e-4/√s, τ 1 s; 60 USDC of inventory on each symbol.
    ETHUSDC (tick 0.01, lot 0.01, mid 2000): 3 lots, γ per tick·lot = 100 · 0.01 · 0.01 = 0.01,
    σ = 20 ticks: shift q·γ·σ²·τ = 3 · 0.01 · 400 = 12 ticks = 0.12 USDC = 0.6 bps.
    BTCUSDC (tick 0.1, lot 0.001, mid 60000): 1 lot, γ per tick·lot = 100 · 0.1 · 0.001 = 0.01,
    σ = 60 ticks: shift 1 · 0.01 · 3600 = 36 ticks = 3.6 USDC = 0.6 bps."""
    res = {"gamma": 100.0, "gammaUnit": "quote"}
    eth = _run(_params(reservation=res), position="0.03")
    btc_p = _params(reservation=res, baseSize=0.001)
    btc = decide(
        inputs("0.001", "0", symbol="BTCUSDC", features=features(59999.9, 60000.1, symbol="BTCUSDC")),
        btc_p,
        StrategyState(),
    )
    eth_bps = (2000.0 - eth.record.inputs["reservation"]) / 2000.0 * 1e4
    btc_bps = (60000.0 - btc.record.inputs["reservation"]) / 60000.0 * 1e4
    assert eth_bps == pytest.approx(0.6, rel=1e-6) and btc_bps == pytest.approx(0.6, rel=1e-6)
