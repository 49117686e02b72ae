"""Phase 2: spread and layer count from volatility, depth and imbalance; the invMax shrink.

Hand case: touch 2000.00 / 2000.01 (mid 2000.005), σ(10s) = 8e-5 per √s, volRef 2e-4,
volSpreadMult 5, depth 120 ≥ depthRef 50: half = (0.0008/2 + 5·8e-5)·mid = 0.0008·2000.005 = 1.600004;
layers = 4 + round(20·(1 − 8e-5/2e-4)) = 16.
"""

from __future__ import annotations

from typing import Any

import pytest

from common.params.strategy import SymbolStrategy
from services.strategy.engine import Decision, decide
from services.strategy.state import StrategyState
from tests.fixtures.strategy_samples import features, inputs

OFF = {"pinning": {"enabled": False}, "grinding": {"enabled": False}, "fundingBias": {"enabled": False}}


def _run(position: str = "0", phase2: dict[str, Any] | None = None, **feat: Any) -> Decision:
    section = {
        "baseSize": 0.01, "layerSizeDecay": 1.0, "minLayers": 4, "maxLayers": 24,
        "volRef": 2e-4, "volSpreadMult": 5.0, **(phase2 or {}),
    }  # fmt: skip
    p = SymbolStrategy.model_validate({"model": "phase2", "phase2": section, **OFF})
    feat.setdefault("vol", {"10s": 8e-5})
    return decide(inputs(position, features=features(2000.00, 2000.01, **feat)), p, StrategyState())


def _side(d: Decision, side: str) -> list[str]:
    return [str(q.price) for q in d.quotes if q.side == side]


def test_hand_case_spread_and_layers() -> None:
    d = _run()
    assert d.record.inputs["half_spread"] == pytest.approx(1.600004)
    assert d.record.inputs["layers"] == 16
    assert _side(d, "BUY")[:3] == ["1998.40", "1996.80", "1994.88"]
    assert _side(d, "SELL")[:3] == ["2001.61", "2003.21", "2005.13"]
    assert (len(_side(d, "BUY")), len(_side(d, "SELL"))) == (16, 16)


def test_higher_volatility_widens_and_thins_the_ladder() -> None:
    d = _run(vol={"10s": 2e-4})
    assert d.record.inputs["half_spread"] == pytest.approx(0.0014 * 2000.005)
    assert d.record.inputs["layers"] == 4


def test_a_thin_book_widens_by_depth_widen_and_keeps_min_layers() -> None:
    d = _run(depth_bid=0.0, depth_ask=0.0)
    assert d.record.inputs["thin"] == 1.0
    assert d.record.inputs["half_spread"] == pytest.approx(1.600004 * 1.5)
    assert d.record.inputs["layers"] == 4


def test_missing_volatility_quotes_the_base_spread_and_says_so() -> None:
    d = _run(vol={})
    assert d.record.inputs["half_spread"] == pytest.approx(0.0004 * 2000.005)
    assert d.record.inputs["layers"] == 24
    assert "vol_missing" in d.record.flags


def test_bid_heavy_imbalance_leans_the_centre_up() -> None:
    d = _run(imbalance=0.5)
    assert d.record.inputs["centre"] == pytest.approx(2000.005 + 0.3 * 0.5 * 1.600004)


def test_inventory_inside_inv_max_leans_the_centre_against_it() -> None:
    d = _run("0.05")
    assert d.record.inputs["centre"] == pytest.approx(2000.005 - 0.5 * 0.5 * 1.600004)
    assert _side(d, "BUY")[0] == "1998.00"


def test_beyond_inv_max_the_adding_side_shrinks() -> None:
    long = _run("0.15")
    assert (len(_side(long, "BUY")), len(_side(long, "SELL"))) == (4, 16)
    assert "over_inv_max" in long.record.flags
    short = _run("-0.15", phase2={"overLimitShrink": 0.0})
    assert (len(_side(short, "BUY")), len(_side(short, "SELL"))) == (16, 0)


def test_the_inventory_target_leans_with_the_trend_within_its_share_of_inv_max() -> None:
    """Seed 000 §2.2. Quote interval 500 ms, trendAlpha 0.05: τ = 10 s; one standard deviation of the
    mid's gap to its EMA is σ·√(τ/2) = 8e-5·√5 = 1.78885e-4. A gap of one such (z = 1) against a
    full trend at 2: target = 0.3 · invMax 0.1 · 0.5 = 0.015. Flat, the load is (0 − 0.015)/0.1 =
    −0.15 and the centre moves up by invSkew 0.5 · 0.15 = 0.075 half-spreads: 2000.005 + 0.075 ·
    1.600004 = 2000.1250003. Holding the target (0.015 long), the centre is the mid."""
    from services.strategy.state import MomentumState
    from tests.fixtures.strategy_samples import T0_NS

    mid = 2000.005

    def run(position: str, gap: float) -> Decision:
        p = SymbolStrategy.model_validate({
            "model": "phase2", "phase2": {"baseSize": 0.01, "layerSizeDecay": 1.0, "minLayers": 4,
                                          "maxLayers": 24, "volRef": 2e-4, "volSpreadMult": 5.0}, **OFF,
        })  # fmt: skip
        st = StrategyState(momentum=MomentumState(ema=mid / (1 + gap), ts_ns=T0_NS))
        f = features(2000.00, 2000.01, vol={"10s": 8e-5})
        return decide(inputs(position, features=f), p, st)

    d = run("0", 1.78885e-4)
    assert d.record.inputs["trend_target"] == pytest.approx(0.015, rel=1e-4)
    assert d.record.inputs["centre"] == pytest.approx(2000.1250003, abs=1e-5)
    assert "trend_lean" in d.record.flags
    assert run("0.015", 1.78885e-4).record.inputs["centre"] == pytest.approx(mid, abs=1e-5)
    assert run("0", 8e-4).record.inputs["trend_target"] == pytest.approx(0.03)  # capped at a full trend
    assert run("0", -8e-4).record.inputs["trend_target"] == pytest.approx(-0.03)  # a falling market
