"""Adverse selection from our own fills' markouts, and ASMM's measured spread floor that prices it
in. Every expected figure is worked out by hand in the comments."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from common.messages import Fill
from common.params.strategy import SymbolStrategy
from services.strategy.core import StrategyCore
from services.strategy.engine import decide
from services.strategy.markouts import MarkoutState, add_fill, resolve
from services.strategy.state import StrategyState
from tests.fixtures.strategy_samples import T0_NS, features, inputs
from tests.test_strategy_core import _ready

S = 1_000_000_000
H = 5 * S


def test_a_markout_against_us_raises_the_cost_and_one_for_us_lowers_it() -> None:
    st = add_fill(add_fill(MarkoutState(), 0, "BUY", 100.0), 0, "SELL", 100.0)
    assert resolve(st, H - 1, 99.99, H, 0.5, 1.0) == st  # not yet 5 s old: nothing measured
    done = resolve(st, H, 99.99, H, 0.5, 1.0)
    # both filled at a mid of 100.00, which is 99.99 five seconds later. The buy: drift -1 bp, an
    # adverse 1 bp, cost 1.0 + 0.5 x (1 - 1.0) = 1.0; the sell: +1 bp for us, cost
    # 1.0 + 0.5 x (-1 - 1.0) = 0.0. One of two against us.
    assert done.cost_bps == pytest.approx(0.0) and (done.fills, done.adverse, done.pending) == (2, 1, ())
    assert done.rate() == 0.5
    assert MarkoutState().cost(1.0) == 1.0  # before any fill: the prior


def _asmm(**asmm: object) -> SymbolStrategy:
    section = {
        "baseSize": 0.01, "maxLayers": 1, "spreadFloor": "measured", "makerFee": 0.0, "minEdge": 0.00005,
        "takeProfitPct": 0.0,
        "reservation": {"variant": "avellaneda_stoikov", "gamma": 0.01, "gammaUnit": "tick_lot",
                        "horizonS": 1.0, "estimateOnline": False, "sigma": 1e-4, "intensityK": 0.1,
                        "intensityA": 1.0},
        **asmm,
    }  # fmt: skip
    off = {"pinning": {"enabled": False}, "grinding": {"enabled": False}, "fundingBias": {"enabled": False}}
    return SymbolStrategy.model_validate({"asmm": section, "adversePriorBps": 1.0, **off})


def _touch(p: SymbolStrategy, state: StrategyState) -> tuple[str, str]:
    d = decide(inputs("0", features=features(1999.99, 2000.01)), p, state)
    prices = {q.side: str(q.price) for q in d.quotes}
    return prices["BUY"], prices["SELL"]


def test_the_measured_floor_is_fee_plus_adverse_selection_plus_edge() -> None:
    p = _asmm()
    # A&S's own half-spread here is 0.1153 (tests/test_strategy_asmm.py); the floor: 0 fee + 1 bp
    # prior + 0.5 bp edge = 1.5 bps of 2000 = 0.30 binds: 1999.70 / 2000.30
    assert _touch(p, StrategyState()) == ("1999.70", "2000.30")
    # fills measured at 3 bps of cost: 0 + 3 + 0.5 = 3.5 bps = 0.70: 1999.30 / 2000.70
    costly = StrategyState(markout=MarkoutState(cost_bps=3.0, fills=10, adverse=8))
    assert _touch(p, costly) == ("1999.30", "2000.70")
    # a maker fee of 1 bp adds 0.20: 1999.10 / 2000.90
    assert _touch(_asmm(makerFee=0.0001), costly) == ("1999.10", "2000.90")
    # markouts in our favour never push the floor below fee + edge: 0.5 bp = 0.10, under A&S's
    # 0.1153, which rules again: 2000 - 0.1153 rounds down to 1999.88, up to 2000.12
    lucky = StrategyState(markout=MarkoutState(cost_bps=-2.0, fills=10, adverse=1))
    assert _touch(p, lucky) == ("1999.88", "2000.12")
    # the fixed floor ignores markouts: max(minSpread 0.0006, 2 x feeBuffer) / 2 = 3 bps = 0.60
    assert _touch(_asmm(spreadFloor="fixed"), costly) == ("1999.40", "2000.60")


def test_the_core_measures_each_fill_at_its_horizon_on_the_features_mid() -> None:
    core = StrategyCore({"ETHUSDC": SymbolStrategy()}, ["ETHUSDC"], "v1", 5.0)
    _ready(core)
    fill = Fill(symbol="ETHUSDC", trade_id=1, client_order_id="a", venue_order_id=1, side="BUY",
                price=Decimal("2680.00"), qty=Decimal("0.01"), fee=Decimal(0), fee_asset="USDC",
                realized_pnl=Decimal(0), is_maker=True, ts_event=T0_NS)  # fmt: skip
    core.on_features(features(ts_ns=T0_NS), T0_NS)  # mid 2680.005 when the buy fills
    core.on_fill(fill)
    core.on_features(features(2679.46, 2679.47, ts_ns=T0_NS + 4 * S), T0_NS + 4 * S)
    assert core.views["ETHUSDC"].state.markout.fills == 0  # 4 s: not yet
    core.on_features(features(2679.46, 2679.47, ts_ns=T0_NS + H), T0_NS + H)
    mk = core.views["ETHUSDC"].state.markout
    # drift (2679.465 - 2680.005) / 2680.005 = -2.0149 bps against the buy; from the default
    # prior of 2.5 bps: cost 2.5 + 0.05 x (2.0149 - 2.5) = 2.4757
    assert (mk.fills, mk.adverse) == (1, 1)
    assert mk.cost_bps == pytest.approx(2.4757, abs=1e-4)
    restored = msgspec.msgpack.decode(msgspec.msgpack.encode(core.views["ETHUSDC"].state), type=StrategyState)
    assert restored.markout == mk  # it survives a restart with the snapshot
