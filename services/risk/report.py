"""The published view: :class:`~common.messages.RiskState` with its figures.

Figures are floats named ``<SYMBOL>.<name>`` and ``account.<name>``. Risk's own bookkeeping sits
beside the gateway's numbers (``gw_*``) so the two can be reconciled: ``realized`` against
``gw_fill_realized`` (the sum of the fills' realized PnL) and ``gw_realized`` (the position's),
``upnl`` against ``gw_upnl``, ``account.equity`` against ``account.gw_margin_balance``.
"""

from __future__ import annotations

from decimal import Decimal

from common.messages import RiskMode, RiskState, SymbolRisk
from services.risk import accounts
from services.risk.margin import worst_notional
from services.risk.modes import mode_of, top_hold, worse
from services.risk.pnl import day_pnl, equity, upnl
from services.risk.state import ZERO, EngineState, Hold, SymbolState

NOT_READY = "not ready: waiting for the rebuild"


def risk_state(st: EngineState, now_ns: int) -> RiskState:
    """The whole verdict: the account's mode, each symbol's effective mode, the figures."""
    acct_mode = mode_of(st.account.holds)
    top = top_hold(st.account.holds.values())
    symbols = {n: _symbol(st, s, acct_mode) for n, s in st.symbols.items()}
    mode: RiskMode = acct_mode if st.ready else "halted"
    reason = NOT_READY if not st.ready else (f"{top.rule}: {top.reason}" if top else "")
    return RiskState(
        mode=mode, reason=reason, ready=st.ready, symbols=symbols, figures=figures(st),
        ts_event=now_ns, ts_init=now_ns,
    )  # fmt: skip


def _symbol(st: EngineState, s: SymbolState, acct_mode: RiskMode) -> SymbolRisk:
    mode = worse(acct_mode, mode_of(s.holds))
    if not st.ready:
        return SymbolRisk(mode="halted", reason=NOT_READY)
    at_mode = [h for h in (*st.account.holds.values(), *s.holds.values()) if h.mode == mode]
    top = top_hold(at_mode)
    return SymbolRisk(mode=mode, reason=f"{top.rule}: {top.reason}" if top else "", until_ns=_until(at_mode))


def _until(holds: list[Hold]) -> int:
    """When the mode may lift by itself: the latest timed hold; 0 if any needs an operator or its cause."""
    if not holds or any(h.release in ("operator", "condition") for h in holds):
        return 0
    return max(h.until_ns for h in holds)


def figures(st: EngineState) -> dict[str, float]:
    """Every symbol's and the account's figures."""
    out: dict[str, float] = {}
    for name, s in st.symbols.items():
        out.update({f"{name}.{k}": v for k, v in symbol_figures(s).items()})
    out.update({f"account.{k}": v for k, v in account_figures(st).items()})
    if st.account_of:  # several accounts: each one's own figures, ``account.<name>.<figure>``
        for name in accounts.names(st):
            out.update({f"account.{name}.{k}": v for k, v in one_account_figures(st, name).items()})
    return out


def one_account_figures(st: EngineState, name: str) -> dict[str, float]:
    """One account's equity, day PnL, notional, worst-case notional and margin ratio among several."""
    syms = [st.symbols[n] for n in accounts.symbols_of(st, name)]
    out = {
        "pnl_day": float(accounts.day(st, name)),
        "notional": float(sum((abs(s.book.qty) * s.book.mark for s in syms), ZERO)),
        "worst_notional": float(sum((worst_notional(s) for s in syms), ZERO)),
    }
    eq = accounts.equity(st, name)
    if eq is not None:
        maint = st.account.parts[name].maint
        out["equity"] = float(eq)
        out["margin_ratio"] = float(maint / eq) if eq > 0 else 0.0
    return out


def symbol_figures(s: SymbolState) -> dict[str, float]:
    """Position, PnL (own and the gateway's), worst case, market and churn figures of one symbol."""
    b, m = s.book, s.market
    return {
        "position": float(b.qty), "entry": float(b.entry), "mark": float(b.mark),
        "upnl": float(upnl(b)), "realized": float(b.realized), "fees": float(b.fees),
        "funding": float(b.funding), "pnl_day": float(day_pnl(b)),
        "gw_fill_realized": float(b.gw_fill_realized), "gw_realized": float(b.gw_realized),
        "gw_fees": float(b.gw_fees), "gw_funding": float(b.gw_funding), "gw_upnl": float(b.gw_upnl),
        "position_mismatches": float(b.mismatches),
        "worst_long": float(b.qty + s.bid_total), "worst_short": float(b.qty - s.ask_total),
        "worst_notional": float(worst_notional(s)), "notional": float(abs(b.qty) * b.mark),
        "mid": m.mid, "latency_ms": m.latency_ms, "move": max(m.mid_move, m.mark_move),
        "bands_fired": float(len(s.bands.fired)), "churn_throttled": float(s.churn.throttled),
        "churn_deferred": float(s.churn.deferred),
        "open_orders": float(len(s.orders)),
        "unlayered_buy": _unlayered(s, "BUY"), "unlayered_sell": _unlayered(s, "SELL"),
    }  # fmt: skip


def _unlayered(s: SymbolState, side: str) -> float:
    """Open size of our live orders without a layer (flatten, reduce, foreign): beside the target."""
    return float(sum((o.open_qty for o in s.orders.values() if o.layer < 0 and o.side == side), ZERO))


def account_figures(st: EngineState) -> dict[str, float]:
    """Equity, the day's PnL and peak, drawdown, notional, leverage, margin ratio."""
    a = st.account
    books = [s.book for s in st.symbols.values()]
    eq = equity(a, books)
    notional = sum((abs(b.qty) * b.mark for b in books), ZERO)
    out = {
        "pnl_day": float(sum((day_pnl(b) for b in books), ZERO)),
        "worst_notional": float(sum((worst_notional(s) for s in st.symbols.values()), ZERO)),
        "notional": float(notional), "wallet": float(a.wallet + a.wallet_adj), "maint": float(a.maint),
        "gw_margin_balance": float(a.gw_margin_balance), "peak_equity": float(a.peak_equity),
    }  # fmt: skip
    if eq is not None:
        out.update(_equity_figures(eq, a.peak_equity, a.maint, notional))
    return out


def _equity_figures(eq: Decimal, peak: Decimal, maint: Decimal, notional: Decimal) -> dict[str, float]:
    return {
        "equity": float(eq),
        "drawdown": float((peak - eq) / peak) if peak > 0 else 0.0,
        "leverage": float(notional / eq) if eq > 0 else 0.0,
        "margin_ratio": float(maint / eq) if eq > 0 else 0.0,
    }
