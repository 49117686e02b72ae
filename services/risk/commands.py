"""Operator and strategy commands: Kill, Pause, Resume, and the taker actions risk passes on.

* ``Kill``: the account is killed (every target empty), every order canceled, and everything
  flattened if the Kill asks for it; only ``Resume`` of the whole account lifts it.
* ``Pause`` (one symbol or all): halted, orders canceled, until ``Resume``.
* ``Resume`` (one symbol, or all with the account): lifts the operator holds (pause, kill,
  stop_loss), the day holds (daily_loss, drawdown) and any cool-down whose time has passed. A
  lifted loss hold is re-based at the figure of the moment (stop loss and daily loss count again
  from here, the drawdown from the equity of now), otherwise it would fire again at once.
  Conditions (feed, latency, thresholds) are not the operator's to lift: they follow their cause.
* ``CancelAll`` and ``Flatten`` go to the gateway as they are.
* ``ReducePosition`` (the strategy's grinding and Phase 1 closes, or an operator): refused before
  the rebuild, when killed, or without a position; its size is cut to the position and rounded
  down to the step, and refused below minQty.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from common.instrument import round_down
from common.messages import CancelAll, Command, Flatten, Instrument, Kill, Pause, ReducePosition, Resume
from common.params.risk import RiskParams
from services.risk import accounts
from services.risk.modes import ACCOUNT, Changes
from services.risk.pnl import day_pnl, equity
from services.risk.state import ZERO, EngineState, Hold, SymbolState

LIFTABLE = ("operator", "day")


class CommandRefused(ValueError):
    """A command risk will not carry out; the message says why (the shell replies with it)."""


def apply(
    cmd: Command, st: EngineState, p: RiskParams, instruments: Mapping[str, Instrument], ch: Changes
) -> None:
    """Carry out one command at ``ch.now``: holds into ``st``, events and gateway actions into ``ch``."""
    match cmd:
        case Kill():
            _kill(cmd, st, ch)
        case Pause():
            _pause(cmd, st, p, ch)
        case Resume():
            _resume(cmd, st, p, ch)
        case CancelAll() | Flatten():
            ch.act(cmd)
            ch.note("command", type(cmd).__name__, cmd.symbol, cmd.reason, {})
        case ReducePosition():
            fwd = _reduce(cmd, st, instruments)
            ch.act(fwd)
            figures = {"qty": float(fwd.qty), "asked": float(cmd.qty)}
            ch.note("command", "ReducePosition", cmd.symbol, cmd.reason, figures)
        case _:
            raise CommandRefused(f"risk does not handle {type(cmd).__name__}")


def _kill(cmd: Kill, st: EngineState, ch: Changes) -> None:
    reason = f"kill: {cmd.reason}"
    ch.hold(ACCOUNT, st.account.holds, ch.make("kill", "killed", reason, "operator"))
    ch.act(CancelAll(reason=reason))
    if cmd.flatten:
        ch.act(Flatten(reason=reason))


def _pause(cmd: Pause, st: EngineState, p: RiskParams, ch: Changes) -> None:
    reason = f"pause: {cmd.reason}"
    holds = st.account.holds if not cmd.symbol else _known(cmd.symbol, st, p).holds
    ch.hold(cmd.symbol, holds, ch.make("pause", "halted", reason, "operator"))
    ch.act(CancelAll(symbol=cmd.symbol, reason=reason))


def _resume(cmd: Resume, st: EngineState, p: RiskParams, ch: Changes) -> None:
    names = [cmd.symbol] if cmd.symbol else list(st.symbols)
    if cmd.symbol:
        _known(cmd.symbol, st, p)
    else:
        lifted = _lift(ACCOUNT, st.account.holds, cmd.reason, ch)
        if "daily_loss" in lifted:
            st.account.daily_base = sum((day_pnl(s.book) for s in st.symbols.values()), ZERO)
        accounts.rebase(st)
        if "drawdown" in lifted:
            st.account.peak_equity = equity(st.account, (s.book for s in st.symbols.values())) or ZERO
    for name in names:
        s = st.symbols[name]
        lifted = _lift(name, s.holds, cmd.reason, ch)
        if "stop_loss" in lifted:
            s.stop_base = day_pnl(s.book)
        if cmd.symbol and "account_daily_loss" in lifted:
            accounts.rebase(st, name)


def _lift(scope: str, holds: dict[str, Hold], why: str, ch: Changes) -> list[str]:
    """Release what an operator may lift; returns the rules lifted."""
    rules = [
        r
        for r, h in holds.items()
        if h.release in LIFTABLE or (h.release == "cooldown" and ch.now >= h.until_ns)
    ]
    for r in rules:
        ch.release(scope, holds, r, f"operator resume: {why}")
    return rules


def _known(name: str, st: EngineState, p: RiskParams) -> SymbolState:
    if name not in st.symbols and name not in p.symbols:
        raise CommandRefused(f"unknown symbol {name!r}")
    return st.symbol(name)


def _reduce(cmd: ReducePosition, st: EngineState, instruments: Mapping[str, Instrument]) -> ReducePosition:
    if not st.ready:
        raise CommandRefused("not ready: risk is rebuilding its state")
    if "kill" in st.account.holds:
        raise CommandRefused("killed: no orders until resumed")
    inst, s = instruments.get(cmd.symbol), st.symbols.get(cmd.symbol)
    if inst is None or s is None or not s.book.qty:
        raise CommandRefused(f"no position in {cmd.symbol!r} to reduce")
    qty = min(round_down(cmd.qty, inst.qty_step), round_down(abs(s.book.qty), inst.qty_step))
    if qty < inst.min_qty:
        raise CommandRefused(f"reduce of {cmd.qty} {cmd.symbol} is below minQty {inst.min_qty}")
    return msgspec.structs.replace(cmd, qty=qty) if qty != cmd.qty else cmd
