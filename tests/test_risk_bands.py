"""Drawdown bands (reduce 15 / 25 / 40 % at 5 / 8 / 12 USDC of unrealized loss) and convergence."""

from __future__ import annotations

from decimal import Decimal

from common.messages import ReducePosition
from services.risk.engine import Outcome, RiskEngine
from tests.fixtures.risk_samples import T0_NS, S, feed_market, fill, ladder, loose, ready_engine, target

D = Decimal
BANDS = {"drawdownBands": [5, 8, 12], "reduceFractions": [0.15, 0.25, 0.40], "reduceCooldownSeconds": 120}


def _at(e: RiskEngine, t: int, eth: str) -> Outcome:
    feed_market(e, "ETHUSDC", eth, T0_NS + t)
    feed_market(e, "BTCUSDC", "61000.0", T0_NS + t)
    return e.tick(T0_NS + t)


def _reductions(out: Outcome) -> list[tuple[Decimal, str]]:
    return [(a.qty, a.mode) for a in out.actions if isinstance(a, ReducePosition)]


def _sell(e: RiskEngine, qty: str, price: str, trade: int) -> None:
    e.on_fill(fill("ETHUSDC", "SELL", price, qty, trade))


def test_each_band_reduces_its_fraction_once_with_the_cooldown_between() -> None:
    e = ready_engine(loose(ETHUSDC=BANDS))
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "0.2", 1))
    assert _reductions(_at(e, S, "2656.00")) == []  # 4.80
    out = _at(e, 2 * S, "2655.00")  # 5.00: band 1, 15 % of 0.2
    assert _reductions(out) == [(D("0.030"), "maker_first_then_taker")]
    cmd = out.actions[0]
    assert isinstance(cmd, ReducePosition) and cmd.max_slippage_pct == 0.0003 and cmd.symbol == "ETHUSDC"
    assert [(ev.rule, ev.action) for ev in out.events] == [("drawdown_band", "reduce")]
    _sell(e, "0.030", "2655.00", 2)
    assert _reductions(_at(e, 3 * S, "2655.00")) == []  # 4.25 on 0.17: band 1 not released, not again
    assert _reductions(_at(e, 60 * S, "2632.00")) == []  # 8.16: band 2, but inside the cool-down
    out = _at(e, 122 * S, "2632.00")
    assert _reductions(out) == [(D("0.042"), "maker_first_then_taker")]  # 25 % of 0.17, down to the step
    _sell(e, "0.042", "2632.00", 3)
    assert _reductions(_at(e, 200 * S, "2580.00")) == []  # 12.8 on 0.128: cool-down until 242 s
    assert _reductions(_at(e, 243 * S, "2580.00")) == [(D("0.051"), "maker_first_then_taker")]  # 40 %
    assert e.state(0).figures["ETHUSDC.bands_fired"] == 3.0


def test_bands_are_released_when_the_loss_recedes_and_fire_again() -> None:
    e = ready_engine(loose(ETHUSDC=BANDS))
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "0.2", 1))
    assert _reductions(_at(e, S, "2620.00")) == [(D("0.080"), "maker_first_then_taker")]  # 12: deepest only
    _sell(e, "0.080", "2620.00", 2)
    out = _at(e, 2 * S, "2665.00")  # 1.80 on 0.12: below half of every band
    assert [ev.action for ev in out.events] == ["release", "release", "release"]
    assert _reductions(_at(e, 130 * S, "2638.00")) == [(D("0.018"), "maker_first_then_taker")]  # 5.04


def test_a_jump_over_several_bands_fires_the_deepest_once() -> None:
    e = ready_engine(loose(ETHUSDC=BANDS))
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "0.2", 1))
    assert _reductions(_at(e, S, "2610.00")) == [(D("0.080"), "maker_first_then_taker")]
    assert _reductions(_at(e, 500 * S, "2610.00")) == []  # 14 on 0.2 still: every band is spent


def test_reduce_only_convergence_above_the_threshold_until_the_loss_halves() -> None:
    e = ready_engine(loose(ETHUSDC={"reduceOnlyThreshold": 25}))
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "0.2", 1))
    out = _at(e, S, "2555.00")  # 25
    assert [(ev.rule, ev.action, ev.to_mode) for ev in out.events] == [
        ("reduce_only_threshold", "hold", "reduce_only")
    ]
    t = e.check(target("ETHUSDC", ladder("ETHUSDC", "2555.00", 20, "0.015")), T0_NS + S).targets[0]
    assert t.mode == "reduce_only" and {q.side for q in t.quotes} == {"SELL"}
    assert sum(q.qty for q in t.quotes) == D("0.2") and all(q.reduce_only for q in t.quotes)
    assert _at(e, 2 * S, "2615.00").events == []  # 13: not yet below half the threshold
    out = _at(e, 3 * S, "2620.00")  # 12
    assert [(ev.rule, ev.action, ev.to_mode) for ev in out.events] == [
        ("reduce_only_threshold", "release", "normal")
    ]


def test_the_market_trigger_reduces_as_taker_after_an_adverse_move_since_entry() -> None:
    e = ready_engine(loose(ETHUSDC={"reduceOnlyThreshold": 5, "reduceOnlyMarketTriggerPct": 0.01}))
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "0.2", 1))
    assert _reductions(_at(e, S, "2654.00")) == []  # 5.2: reduce-only, but 0.97 % adverse
    out = _at(e, 2 * S, "2653.00")  # 1.01 %
    assert _reductions(out) == [(D("0.200"), "taker")]
    assert _reductions(_at(e, 3 * S, "2650.00")) == []  # once per cool-down
    assert _reductions(_at(e, 123 * S, "2650.00")) == [(D("0.200"), "taker")]
