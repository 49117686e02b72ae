"""Loss rules on the day's PnL and equity, and the UTC day roll.

* ``pnl_band`` (symbol): the day PnL at or below ``pnlMin`` or at or above ``pnlMax`` makes the
  symbol reduce-only; it lifts once back inside by ``lossReleaseRatio`` (above pnlMin × ratio,
  below pnlMax × ratio) or at the day roll.
* ``stop_loss`` (symbol): the day PnL since the last resume at or below ``stopLoss`` halts the
  symbol, cancels its orders and flattens it; only an operator resume lifts it (and re-bases it).
* ``daily_loss`` (account): the account's day PnL since the last resume at or below −``dailyMax``
  halts everything and cancels every order until 00:00 UTC (or an operator resume, which re-bases).
* ``drawdown`` (account): equity below the day's peak by ``maxDrawdownPct`` of it halts everything
  until 00:00 UTC, cancels every order and, with ``drawdownFlatten`` (seed 000 §7), flattens.
"""

from __future__ import annotations

from decimal import Decimal

from common.messages import CancelAll, Flatten
from services.risk import accounts
from services.risk.context import DAY_NS, AccountView, SymbolView, next_day
from services.risk.modes import ACCOUNT, Changes
from services.risk.pnl import day_pnl, equity, roll_day
from services.risk.state import ZERO, EngineState


def symbol_loss_rules(v: SymbolView) -> None:
    """The PnL band and the stop loss of one symbol."""
    pnl = day_pnl(v.s.book)
    _pnl_band(v, pnl)
    _stop_loss(v, pnl)


def account_loss_rules(a: AccountView) -> None:
    """The daily loss limit and the intraday drawdown of the account."""
    _daily_loss(a)
    if a.equity is not None:
        _drawdown(a, a.equity)


def start_day(st: EngineState, now_ns: int) -> bool:
    """Make the UTC day of ``now_ns`` the engine's day, restarting the day's figures if it was not;
    True when a new day began."""
    acct = st.account
    if now_ns < acct.day_start_ns + DAY_NS:
        return False
    acct.day_start_ns = now_ns // DAY_NS * DAY_NS
    for s in st.symbols.values():
        roll_day(s.book)
        s.stop_base = ZERO
    acct.daily_base = ZERO
    accounts.start_day(st)
    acct.peak_equity = equity(acct, (s.book for s in st.symbols.values())) or ZERO
    return True


def roll_if_new_day(st: EngineState, now_ns: int, ch: Changes) -> None:
    """At the first evaluation of a new UTC day: restart the day's figures and lift the day holds."""
    if not start_day(st, now_ns):
        return
    acct = st.account
    for rule in [r for r, h in acct.holds.items() if h.release == "day"]:
        ch.release(ACCOUNT, acct.holds, rule, "a new UTC day began")
    for name, s in st.symbols.items():  # an account's day loss holds its symbols
        for rule in [r for r, h in s.holds.items() if h.release == "day"]:
            ch.release(name, s.holds, rule, "a new UTC day began")


def _pnl_band(v: SymbolView, pnl: Decimal) -> None:
    lo, hi, ratio = v.p.pnl_min, v.p.pnl_max, v.p.loss_release_ratio
    trigger = pnl <= lo or pnl >= hi
    clear = lo * ratio < pnl < hi * ratio

    def explain() -> tuple[str, dict[str, float]]:
        why = f"day PnL {pnl:.2f} vs band [{lo}, {hi}], lifted inside [{lo * ratio}, {hi * ratio}]"
        return why, {"pnl_day": float(pnl), "pnl_min": float(lo), "pnl_max": float(hi)}

    v.ch.condition(v.name, v.s.holds, "pnl_band", trigger, clear, "reduce_only", explain)


def _stop_loss(v: SymbolView, pnl: Decimal) -> None:
    since = pnl - v.s.stop_base
    if since > v.p.stop_loss or "stop_loss" in v.s.holds:
        return
    reason = f"day PnL {since:.2f} <= stopLoss {v.p.stop_loss}"
    figures = {"pnl_day": float(pnl), "since_resume": float(since), "stop_loss": float(v.p.stop_loss)}
    v.ch.hold(v.name, v.s.holds, v.ch.make("stop_loss", "halted", reason, "operator", figures=figures))
    v.ch.act(CancelAll(symbol=v.name, reason=f"stop_loss: {reason}"))
    v.ch.act(Flatten(symbol=v.name, reason=f"stop_loss: {reason}"))


def _daily_loss(a: AccountView) -> None:
    acct = a.st.account
    pnl = sum((day_pnl(s.book) for s in a.st.symbols.values()), ZERO)
    since = pnl - acct.daily_base
    if since > -a.p.daily_max or "daily_loss" in acct.holds:
        return
    reason = f"account day PnL {since:.2f} <= -dailyMax {a.p.daily_max}"
    figures = {"pnl_day": float(pnl), "since_resume": float(since), "daily_max": float(a.p.daily_max)}
    hold = a.ch.make("daily_loss", "halted", reason, "day", next_day(a.now), figures)
    a.ch.hold(ACCOUNT, acct.holds, hold)
    a.ch.act(CancelAll(reason=f"daily_loss: {reason}"))


def _drawdown(a: AccountView, eq: Decimal) -> None:
    acct = a.st.account
    acct.peak_equity = max(acct.peak_equity, eq)
    peak = acct.peak_equity
    if peak <= 0 or "drawdown" in acct.holds:
        return
    dd = float((peak - eq) / peak)
    if dd < a.p.max_drawdown_pct:
        return
    reason = f"equity {eq:.2f} is {dd:.2%} below the day's peak {peak:.2f} (limit {a.p.max_drawdown_pct:.2%})"
    figures = {"equity": float(eq), "peak": float(peak), "drawdown": dd, "limit": a.p.max_drawdown_pct}
    a.ch.hold(ACCOUNT, acct.holds, a.ch.make("drawdown", "halted", reason, "day", next_day(a.now), figures))
    a.ch.act(CancelAll(reason=f"drawdown: {reason}"))
    if a.p.drawdown_flatten:
        a.ch.act(Flatten(reason=f"drawdown: {reason}"))
