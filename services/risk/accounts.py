"""Several accounts under one risk engine (seed 003 §7, seed 004): each account's own limits beside
the global ones.

Each symbol is traded by one account (``EngineState.account_of``; a symbol it does not name is the
primary account's, ``main``). The account figures the global rules read (wallet, maintenance
margin, equity) are the sums over every account; an account with limits in
``risk.params.accounts.<name>`` is also held to them:

* ``account_notional`` (clip): the worst-case notional of the account's symbols stays within its
  ``totalNotionalMax``, shared out like the global cap (:func:`room`);
* ``account_daily_loss`` (each of its symbols): the day PnL of its symbols since the last resume at
  or below −``dailyMax`` halts them and cancels their orders until 00:00 UTC or a resume;
* ``account_margin_ratio`` (each of its symbols): its maintenance margin over its equity at or
  above ``marginRatioMax`` makes them reduce-only while it lasts.
"""

from __future__ import annotations

from decimal import Decimal

from common.instrument import round_down
from common.messages import Account, CancelAll, Instrument
from common.params.risk import AccountRiskParams, RiskParams
from services.risk.context import next_day
from services.risk.margin import worst_notional
from services.risk.modes import Changes
from services.risk.pnl import day_pnl, upnl
from services.risk.state import ZERO, AccountPart, EngineState

PRIMARY = "main"


def account_of(st: EngineState, symbol: str) -> str:
    return st.account_of.get(symbol, PRIMARY)


def names(st: EngineState) -> list[str]:
    """Every account the engine knows of: the primary one and each one a symbol is traded by."""
    return sorted({PRIMARY, *st.account_of.values()})


def symbols_of(st: EngineState, account: str) -> list[str]:
    return [n for n in st.symbols if account_of(st, n) == account]


def on_account(st: EngineState, acct: Account) -> None:
    """One account's balances: its part, then the sums the global rules read. Equity is known once
    every account has been heard from. A spot wallet is kept apart: it bounds what spot symbols
    rest (:func:`spot_room`) and is no margin."""
    if acct.market == "spot":
        st.spot_wallet = {b.asset: b.wallet for b in acct.balances}
        return
    part = st.account.parts.setdefault(acct.account, AccountPart())
    part.wallet = sum((b.wallet for b in acct.balances), ZERO)
    part.maint = sum((b.maint_margin for b in acct.balances), ZERO)
    part.margin_balance = sum((b.margin_balance for b in acct.balances), ZERO)
    part.adj, part.seen = ZERO, True
    a, parts = st.account, st.account.parts.values()
    a.wallet = sum((p.wallet for p in parts), ZERO)
    a.maint = sum((p.maint for p in parts), ZERO)
    a.gw_margin_balance = sum((p.margin_balance for p in parts), ZERO)
    a.wallet_adj = sum((p.adj for p in parts), ZERO)
    a.seen = all(n in st.account.parts and st.account.parts[n].seen for n in names(st))


def spot_room(st: EngineState, inst: Instrument, outside_buy: Decimal, outside_sell: Decimal,
              top_bid: Decimal) -> tuple[Decimal, Decimal]:  # fmt: skip
    """What a spot symbol's bids and asks may total, in base units: its asks the base held, its bids
    the quote held at ``top_bid`` (the highest price a bid of the target asks), less what orders
    outside the target lock. Our resting orders' locks are in the wallet's totals, and the target
    replaces them. Nothing before the wallet is known."""
    base = st.spot_wallet.get(inst.base_asset, ZERO)
    quote = st.spot_wallet.get(inst.quote_asset, ZERO)
    buy = round_down(quote / top_bid, inst.qty_step) - outside_buy if top_bid > 0 else ZERO
    return max(buy, ZERO), max(base - outside_sell, ZERO)


def book(st: EngineState, symbol: str, amount: Decimal) -> None:
    """A wallet change risk booked (realized PnL less fees, funding) before the gateway's next balance."""
    st.account.wallet_adj += amount
    st.account.parts.setdefault(account_of(st, symbol), AccountPart()).adj += amount


def equity(st: EngineState, account: str) -> Decimal | None:
    """The account's wallet, what risk booked since, and its symbols' unrealized PnL."""
    part = st.account.parts.get(account)
    if part is None or not part.seen:
        return None
    return part.wallet + part.adj + sum((upnl(st.symbols[n].book) for n in symbols_of(st, account)), ZERO)


def day(st: EngineState, account: str) -> Decimal:
    """The day PnL of the account's symbols."""
    return sum((day_pnl(st.symbols[n].book) for n in symbols_of(st, account)), ZERO)


def room(st: EngineState, p: RiskParams, name: str, mark: Decimal, step: Decimal) -> Decimal | None:
    """The worst-case |position| the account's notional cap leaves to ``name`` (None: no account cap)."""
    acct = account_of(st, name)
    ap = p.accounts.get(acct)
    if ap is None:
        return None
    others = sum((worst_notional(st.symbols[n]) for n in symbols_of(st, acct) if n != name), ZERO)
    if mark <= 0:
        return ZERO
    return round_down(max(ap.total_notional_max - others, ZERO) / mark, step)


def rules(st: EngineState, p: RiskParams, ch: Changes) -> None:
    """The daily loss and the margin ratio of every account that has limits."""
    for acct, ap in p.accounts.items():
        syms = symbols_of(st, acct)
        if syms:
            _daily_loss(st, acct, ap, syms, ch)
            _margin(st, acct, ap, syms, ch)


def _daily_loss(st: EngineState, acct: str, ap: AccountRiskParams, syms: list[str], ch: Changes) -> None:
    part = st.account.parts.setdefault(acct, AccountPart())
    pnl = day(st, acct)
    since = pnl - part.daily_base
    if since > -ap.daily_max or all("account_daily_loss" in st.symbols[n].holds for n in syms):
        return
    reason = f"account {acct} day PnL {since:.2f} <= -dailyMax {ap.daily_max}"
    figures = {"pnl_day": float(pnl), "since_resume": float(since), "daily_max": float(ap.daily_max)}
    for n in syms:
        hold = ch.make("account_daily_loss", "halted", reason, "day", next_day(ch.now), figures)
        if ch.hold(n, st.symbols[n].holds, hold):
            ch.act(CancelAll(symbol=n, reason=f"account_daily_loss: {reason}"))


def _margin(st: EngineState, acct: str, ap: AccountRiskParams, syms: list[str], ch: Changes) -> None:
    eq = equity(st, acct)
    if eq is None:
        return
    maint = st.account.parts[acct].maint
    ratio = float(maint / eq) if eq > 0 else (0.0 if maint <= 0 else float("inf"))
    limit = ap.margin_ratio_max

    def explain() -> tuple[str, dict[str, float]]:
        why = f"account {acct} margin ratio {ratio:.2%} (maint {maint:.2f} / equity {eq:.2f}) vs {limit:.0%}"
        return why, {"margin_ratio": min(ratio, 1e9), "limit": limit}

    for n in syms:
        holds = st.symbols[n].holds
        ch.condition(n, holds, "account_margin_ratio", ratio >= limit, ratio < limit, "reduce_only", explain)


def rebase(st: EngineState, symbol: str = "") -> None:
    """After a resume lifted an account's day-loss hold: count its day loss again from now."""
    for acct in [account_of(st, symbol)] if symbol else names(st):
        st.account.parts.setdefault(acct, AccountPart()).daily_base = day(st, acct)


def start_day(st: EngineState) -> None:
    for part in st.account.parts.values():
        part.daily_base = ZERO
