"""Modes and commands: kill, pause, resume, taker requests, the restart that approves nothing until ready."""

from __future__ import annotations

from decimal import Decimal

import pytest

from common.messages import (
    CancelAll,
    Flatten,
    Kill,
    Pause,
    Position,
    ReducePosition,
    Resume,
    Shutdown,
    TargetQuotes,
)
from common.params.risk import RiskParams
from services.risk.commands import CommandRefused
from services.risk.engine import RiskEngine
from tests.fixtures.risk_samples import (
    PRICES,
    T0_NS,
    S,
    account,
    feed,
    feed_market,
    fill,
    instrument,
    ladder,
    loose,
    ready_engine,
    target,
)

D = Decimal


def _check(e: RiskEngine, symbol: str = "ETHUSDC", t: int = 1) -> TargetQuotes:
    quotes = ladder(symbol, PRICES[symbol], 2, "0.01" if symbol == "ETHUSDC" else "0.001")
    return e.check(target(symbol, quotes, target_id=t, ts=T0_NS + t), T0_NS + t).targets[0]


def test_kill_empties_every_target_cancels_and_flattens_until_resumed() -> None:
    e = ready_engine()
    _check(e, "BTCUSDC")
    out = e.on_command(Kill(reason="test", flatten=True), T0_NS + 2)
    assert [(type(a), a.symbol) for a in out.actions] == [(CancelAll, ""), (Flatten, "")]
    assert [(ev.rule, ev.action, ev.to_mode) for ev in out.events] == [("kill", "hold", "killed")]
    assert [(t.symbol, t.quotes, t.mode) for t in out.targets] == [("BTCUSDC", [], "killed")]
    st = e.state(T0_NS + 2)
    assert (st.mode, st.symbols["ETHUSDC"].mode, st.symbols["ETHUSDC"].until_ns) == ("killed", "killed", 0)
    assert _check(e, t=3).quotes == [] and _check(e, "BTCUSDC", 4).quotes == []
    out = e.on_command(Resume(), T0_NS + 5)
    assert [(ev.rule, ev.action, ev.to_mode) for ev in out.events] == [("kill", "release", "normal")]
    assert len(_check(e, t=6).quotes) == 4


def test_a_kill_without_flatten_only_cancels() -> None:
    out = ready_engine().on_command(Kill(), T0_NS)
    assert [type(a) for a in out.actions] == [CancelAll]


def test_pause_and_resume_one_symbol_or_all() -> None:
    e = ready_engine()
    out = e.on_command(Pause(symbol="ETHUSDC"), T0_NS + 1)
    assert [(type(a), a.symbol) for a in out.actions] == [(CancelAll, "ETHUSDC")]
    assert _check(e, t=2).quotes == [] and len(_check(e, "BTCUSDC", 3).quotes) == 4
    e.on_command(Resume(symbol="ETHUSDC"), T0_NS + 4)
    assert len(_check(e, t=5).quotes) == 4
    e.on_command(Pause(), T0_NS + 6)
    assert e.state(0).mode == "halted" and _check(e, "BTCUSDC", 7).quotes == []
    e.on_command(Resume(), T0_NS + 8)
    assert e.state(0).mode == "normal" and len(_check(e, "BTCUSDC", 9).quotes) == 4


def test_resume_does_not_lift_a_condition_whose_cause_remains() -> None:
    e = ready_engine()
    e.on_feed_status(feed("ETHUSDC", "stale"))
    e.tick(T0_NS + 1)
    e.on_command(Resume(), T0_NS + 2)
    assert e.state(0).symbols["ETHUSDC"].mode == "halted"


def test_only_strategy_targets_are_checked() -> None:
    e = ready_engine()
    with pytest.raises(ValueError, match="origin 'risk'"):
        e.check(TargetQuotes(symbol="ETHUSDC", target_id=1, quotes=[], origin="risk"), T0_NS)


def test_unknown_commands_and_symbols_are_refused() -> None:
    e = ready_engine()
    with pytest.raises(CommandRefused, match="does not handle Shutdown"):
        e.on_command(Shutdown(), T0_NS)
    with pytest.raises(CommandRefused, match="unknown symbol"):
        e.on_command(Pause(symbol="DOGEUSDC"), T0_NS)


def test_taker_requests_are_cut_to_the_position_and_refused_without_one() -> None:
    e = ready_engine()
    with pytest.raises(CommandRefused, match="no position"):
        e.on_command(ReducePosition(symbol="ETHUSDC", qty=D("0.01")), T0_NS)
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "0.05", 1))
    out = e.on_command(ReducePosition(symbol="ETHUSDC", qty=D("0.0809"), reason="grind"), T0_NS + 1)
    assert [a.qty for a in out.actions if isinstance(a, ReducePosition)] == [D("0.050")]
    assert len(out.actions) == 1
    e.on_command(Kill(), T0_NS + 2)
    with pytest.raises(CommandRefused, match="killed"):
        e.on_command(ReducePosition(symbol="ETHUSDC", qty=D("0.01")), T0_NS + 3)


def test_after_a_restart_nothing_is_approved_until_the_rebuild_is_marked_ready() -> None:
    e = RiskEngine(RiskParams(), {"ETHUSDC": instrument("ETHUSDC")})
    t = _check(e)
    assert (t.quotes, t.mode, t.clipped) == ([], "halted", ["not ready: waiting for the rebuild"])
    st = e.state(T0_NS)
    assert (st.ready, st.mode, st.symbols["ETHUSDC"].mode) == (False, "halted", "halted")
    assert e.tick(T0_NS).events == []
    e.on_position(Position(symbol="ETHUSDC", qty=D("0.1"), entry_price=D("2680"), ts_event=0, ts_init=0))
    e.on_account(account())
    e.on_feed_status(feed("ETHUSDC"))
    feed_market(e, "ETHUSDC", "2680.00", T0_NS)
    out = e.mark_ready(T0_NS + 1)
    assert out.state_changed and out.events[0].rule == "ready" and e.state(T0_NS).ready
    approved = _check(e, t=2)
    assert len(approved.quotes) == 4 and approved.mode == "normal"


def test_a_snapshot_restores_modes_bands_and_the_day() -> None:
    p = loose(dailyMax=500, ETHUSDC={"stopLoss": -40, "drawdownBands": [5, 8, 12], "shockPct": 0.1})
    e = ready_engine(p)
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "0.5", 1, fee="0.5"))
    feed_market(e, "ETHUSDC", "2600.00", T0_NS + S)
    feed_market(e, "BTCUSDC", "61000.0", T0_NS + S)
    e.on_command(Pause(symbol="BTCUSDC"), T0_NS + S)
    before = e.tick(T0_NS + S)
    assert {ev.rule for ev in before.events} >= {"stop_loss", "drawdown_band"}
    restored = RiskEngine.restore(p, e.snapshot(), {s: instrument(s) for s in PRICES})
    assert not restored.ready and _check(restored).quotes == []
    restored.mark_ready(T0_NS + 2 * S)
    a, b = e.state(T0_NS + 2 * S), restored.state(T0_NS + 2 * S)
    assert (a.symbols, a.figures) == (b.symbols, b.figures)
    assert b.symbols["ETHUSDC"].reason.startswith("stop_loss") and b.symbols["BTCUSDC"].mode == "halted"
    assert b.figures["ETHUSDC.pnl_day"] == -40.5 and b.figures["ETHUSDC.bands_fired"] == 3.0
