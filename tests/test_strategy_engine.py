"""The engine contract: risk modes, missing data, exchange filters, the netMax cap, the skew property."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from common.instrument import check_order
from common.params.strategy import SymbolStrategy, params_version
from services.strategy.engine import Decision, decide
from services.strategy.state import StrategyState
from tests.fixtures.strategy_samples import T0_NS, features, inputs, instrument

MS = 1_000_000


def _decide(
    p: SymbolStrategy, position: str = "0", state: StrategyState | None = None, **kw: Any
) -> Decision:
    return decide(inputs(position, "2680", **kw), p, state or StrategyState(), "v1")


def test_halted_and_killed_quote_nothing_and_ask_for_nothing() -> None:
    phase1 = SymbolStrategy.model_validate({"model": "phase1", "phase1": {"takerAfterMs": 0}})
    for mode in ("halted", "killed"):
        d = _decide(phase1, "0.009", risk_mode=mode, last_fill_ns=T0_NS - 10**9, last_fill_side="BUY")
        assert (d.quotes, d.actions, d.record.flags) == ([], [], [mode])
        assert d.publish


def test_an_unknown_risk_mode_fails_closed() -> None:
    d = _decide(SymbolStrategy(), risk_mode="panic")
    assert (d.quotes, d.record.flags) == ([], ["panic"])


def test_inputs_for_another_symbol_are_a_wiring_bug() -> None:
    with pytest.raises(ValueError, match="another symbol"):
        _decide(SymbolStrategy(), features=features(symbol="BTCUSDC"))


def test_missing_stale_or_broken_features_quote_nothing() -> None:
    p = SymbolStrategy()
    cases: dict[str, dict[str, Any]] = {
        "features_missing": {"features": None},
        "features_stale": {"features": features(ts_ns=T0_NS - 2001 * MS)},
        "features_invalid": {"features": features(2680.01, 2680.00)},
    }
    for flag, kw in cases.items():
        d = _decide(p, **kw)
        assert (d.quotes, d.record.flags) == ([], [flag])
    nan = _decide(p, features=features(imbalance=float("nan")))
    assert nan.record.flags == ["features_invalid"]


def test_losing_features_cancels_at_once_even_inside_the_quote_interval() -> None:
    p = SymbolStrategy()
    first = _decide(p)
    gone = _decide(p, state=first.state, now_ns=T0_NS + MS, features=None)
    assert first.quotes and gone.publish and gone.quotes == []


def test_reduce_only_mode_quotes_only_the_reducing_side_up_to_the_position() -> None:
    p = SymbolStrategy()
    d = _decide(p, "0.05", risk_mode="reduce_only")
    assert {q.side for q in d.quotes} == {"SELL"}
    assert all(q.reduce_only for q in d.quotes)
    assert sum(q.qty for q in d.quotes) <= Decimal("0.05")
    assert "reduce_only" in d.record.flags
    assert _decide(p, "0", risk_mode="reduce_only").quotes == []
    short = _decide(p, "-0.02", risk_mode="reduce_only")
    assert {q.side for q in short.quotes} == {"BUY"} and sum(q.qty for q in short.quotes) <= Decimal("0.02")


def test_the_record_carries_model_version_and_inputs() -> None:
    p = SymbolStrategy()
    d = decide(inputs("0.05"), p, StrategyState(), params_version(p))
    assert d.record.model == "asmm" and d.record.params_version == params_version(p)
    assert {
        "mid",
        "microprice",
        "sigma",
        "A",
        "k",
        "q",
        "reservation",
        "half_spread",
        "skew",
        "funding_bias",
    } <= set(d.record.inputs)


def test_decisions_are_deterministic_and_the_state_survives_a_msgpack_round_trip() -> None:
    p = SymbolStrategy()
    a = _decide(p, "0.19")
    b = _decide(p, "0.19")
    assert a == b
    blob = msgspec.msgpack.encode(a.state)
    assert msgspec.msgpack.decode(blob, type=StrategyState) == a.state
    later = dict(now_ns=T0_NS + 10**9, features=features(ts_ns=T0_NS + 10**9))
    assert _decide(p, "0.19", a.state, **later) == _decide(
        p, "0.19", msgspec.msgpack.decode(blob, type=StrategyState), **later
    )


def test_quotes_come_in_canonical_order() -> None:
    d = _decide(SymbolStrategy(), "0.1")
    bids = [q.price for q in d.quotes if q.side == "BUY"]
    asks = [q.price for q in d.quotes if q.side == "SELL"]
    assert [q.side for q in d.quotes] == ["BUY"] * len(bids) + ["SELL"] * len(asks)
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)


MODELS = st.sampled_from(["asmm", "phase1", "phase2", "passive_band"])


@settings(max_examples=150, deadline=None)
@given(
    model=MODELS,
    symbol=st.sampled_from(["ETHUSDC", "BTCUSDC"]),
    mid_ticks=st.integers(100_000, 1_000_000),
    spread_ticks=st.integers(1, 30),
    vol=st.floats(1e-6, 1e-3),
    load=st.floats(-1.0, 1.0),
    mode=st.sampled_from(["normal", "normal", "reduce_only"]),
)
def test_every_quote_passes_the_exchange_filters_and_the_worst_case_net_cap(
    model: str, symbol: str, mid_ticks: int, spread_ticks: int, vol: float, load: float, mode: str
) -> None:
    net_max = 50.0 if model == "passive_band" else 0.21
    p = SymbolStrategy.model_validate({"model": model, "netMax": net_max})
    inst = instrument(symbol)
    tick = float(inst.price_tick)
    bid = mid_ticks * tick
    f = features(bid, (mid_ticks + spread_ticks) * tick, symbol=symbol, vol={"10s": vol, "60s": vol})
    position = (Decimal(repr(load * net_max)) / inst.qty_step).to_integral_value() * inst.qty_step
    d = decide(
        inputs(position, Decimal(repr(bid)), symbol=symbol, features=f, risk_mode=mode), p, StrategyState()
    )
    for q in d.quotes:
        assert check_order(inst, q.price, q.qty, q.reduce_only) == "", q
        assert q.post_only
        assert (
            (q.price < Decimal(repr(f.best_ask)))
            if q.side == "BUY"
            else (q.price > Decimal(repr(f.best_bid)))
        )
    bought = sum((q.qty for q in d.quotes if q.side == "BUY"), Decimal(0))
    sold = sum((q.qty for q in d.quotes if q.side == "SELL"), Decimal(0))
    cap = Decimal(repr(net_max))
    assert position + bought <= cap and position - sold >= -cap
    if mode == "reduce_only":
        assert all(q.reduce_only for q in d.quotes)
        assert bought <= max(-position, Decimal(0)) and sold <= max(position, Decimal(0))


def _best(d: Decision, side: str) -> Decimal | None:
    prices = [q.price for q in d.quotes if q.side == side]
    if not prices:
        return None
    return max(prices) if side == "BUY" else min(prices)


def _not_above(a: Decimal | None, b: Decimal | None) -> bool:
    return a is None or b is None or a <= b


@settings(max_examples=200, deadline=None)
@given(
    model=st.sampled_from(["asmm", "phase2"]),
    variant=st.sampled_from(["avellaneda_stoikov", "glft"]),
    overlays=st.booleans(),
    mid_ticks=st.integers(150_000, 500_000),
    spread_ticks=st.integers(1, 20),
    vol=st.floats(1e-6, 1e-3),
    gamma=st.floats(1e-3, 1.0),
    load=st.floats(0.01, 1.0),
    funding=st.floats(-1e-3, 1e-3),
)
def test_inventory_skew_moves_quotes_toward_reducing_the_position(
    model: str,
    variant: str,
    overlays: bool,
    mid_ticks: int,
    spread_ticks: int,
    vol: float,
    gamma: float,
    load: float,
    funding: float,
) -> None:
    """Long: best bid and ask at or below the flat ones, the centre strictly lower; short: mirrored."""
    p = SymbolStrategy.model_validate(
        {
            "model": model,
            "asmm": {"reservation": {"variant": variant, "gamma": gamma, "gammaUnit": "tick_lot"}},
            "pinning": {"enabled": overlays},
            "grinding": {"enabled": overlays},
        }
    )
    bid = mid_ticks * 0.01
    soon = T0_NS // MS + 1_000_000
    f = features(
        bid,
        (mid_ticks + spread_ticks) * 0.01,
        vol={"10s": vol, "60s": 5e-5},
        funding_rate=funding,
        next_funding_time_ms=soon,
    )
    qty = round(load * 0.21, 3)
    assume(qty >= 0.001)
    flat = decide(inputs("0", features=f), p, StrategyState())
    long = decide(inputs(str(qty), Decimal(repr(bid)), features=f), p, StrategyState())
    short = decide(inputs(str(-qty), Decimal(repr(bid)), features=f), p, StrategyState())
    assert long.record.inputs["centre"] < flat.record.inputs["centre"] < short.record.inputs["centre"]
    for side in ("BUY", "SELL"):
        assert _not_above(_best(long, side), _best(flat, side))
        assert _not_above(_best(flat, side), _best(short, side))
