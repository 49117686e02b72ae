"""PnL bookkeeping from fills, funding and the mark, exact, booked as Binance books it.

A fill that reduces a position realizes ``(price − entry) × closed × sign``; one that adds moves the
entry to the size-weighted average; a flip opens the rest at the fill price. Fees are counted in
the margin asset (no BNB discount), funding is signed as received (a payment is negative).
Unrealized PnL is ``(mark − entry) × qty`` at the mark price. The day's PnL of a symbol is
``realized − fees + funding + (unrealized − unrealized at 00:00)``, so the account's day PnL is the
change of its equity since 00:00 (transfers aside).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from common.messages import Fill, Position
from common.messages.base import NS_PER_MS
from services.risk.state import ZERO, AccountState, Book

RECENT_TRADES = 2048
"""Fills remembered per symbol, so one the gateway publishes twice (a restart's catch-up) is booked once."""


def fill_key(fill: Fill) -> int:
    """A fill's identity within its symbol: trade id and side (a self-trade gives both of our
    orders the same trade id, one buy and one sell), as one int for a compact snapshot."""
    return fill.trade_id * 2 + (1 if fill.side == "BUY" else 0)


def book_fill(b: Book, fill: Fill) -> Decimal | None:
    """Apply one fill; returns its realized PnL before fees, or None for a fill already booked."""
    key = fill_key(fill)
    if key in b.recent_trades:
        return None
    b.recent_trades.append(key)
    del b.recent_trades[:-RECENT_TRADES]
    if fill.ts_event and fill.ts_event // NS_PER_MS <= b.fills_through_ms:
        # The venue's position reached us first and already holds this fill (Binance sends
        # ACCOUNT_UPDATE and ORDER_TRADE_UPDATE in either order): moving the book again would
        # book a close as an open, so the venue's own realized PnL of the trade is booked.
        realized = fill.realized_pnl
    else:
        signed = fill.qty if fill.side == "BUY" else -fill.qty
        realized = _trade(b, signed, fill.price)
    b.realized += realized
    b.fees += fill.fee
    b.day_realized += realized
    b.day_fees += fill.fee
    b.gw_fill_realized += fill.realized_pnl
    return realized


def _trade(b: Book, signed: Decimal, price: Decimal) -> Decimal:
    """Move the position by ``signed`` at ``price``; returns the realized PnL."""
    q = b.qty
    new_q = q + signed
    if q and (q > 0) != (signed > 0):
        closed = min(abs(q), abs(signed))
        realized = (price - b.entry) * closed * (1 if q > 0 else -1)
        if new_q == 0:
            b.entry = ZERO
        elif (new_q > 0) != (q > 0):
            b.entry = price
        b.qty = new_q
        return realized
    b.entry = (b.entry * abs(q) + price * abs(signed)) / abs(new_q)
    b.qty = new_q
    return ZERO


def restore_day(b: Book, fills: Iterable[Fill]) -> None:
    """The day's figures from the day's fills (a rebuild), as the venue booked them.

    The position is not moved and nothing reaches the wallet: the gateway's position and the
    account's wallet already include every one of these fills. Each is remembered, so a copy that
    arrives again live is not booked twice.
    """
    b.day_realized = b.day_fees = ZERO
    for f in fills:
        b.day_realized += f.realized_pnl
        b.day_fees += f.fee
        key = fill_key(f)
        if key not in b.recent_trades:
            b.recent_trades.append(key)
    del b.recent_trades[:-RECENT_TRADES]


def book_funding(b: Book, amount: Decimal) -> None:
    """Book one funding settlement (positive when received)."""
    b.funding += amount
    b.day_funding += amount


def apply_position(b: Book, pos: Position) -> bool:
    """Take the gateway's position as the truth; returns True when it differed from risk's own."""
    differs = (pos.qty, pos.entry_price) != (b.qty, b.entry)
    if differs:
        b.mismatches += 1
    b.qty, b.entry = pos.qty, pos.entry_price
    b.fills_through_ms = max(b.fills_through_ms, pos.fills_through_ms)
    if b.mark <= 0 < pos.mark_price:
        b.mark = pos.mark_price
    b.gw_realized, b.gw_fees, b.gw_funding = pos.realized_pnl, pos.fees, pos.funding
    b.gw_upnl = pos.unrealized_pnl
    return differs


def upnl(b: Book) -> Decimal:
    """Unrealized PnL at the mark (zero while no mark is known)."""
    return (b.mark - b.entry) * b.qty if b.qty and b.mark > 0 else ZERO


def day_pnl(b: Book) -> Decimal:
    """The symbol's PnL since 00:00 UTC (or since the engine first ran that day)."""
    return b.day_realized - b.day_fees + b.day_funding + upnl(b) - b.day_upnl_base


def roll_day(b: Book) -> None:
    """Start a new day: the day's counters restart and today's unrealized PnL is measured from now."""
    b.day_realized = b.day_fees = b.day_funding = ZERO
    b.day_upnl_base = upnl(b)


def equity(acct: AccountState, books: Iterable[Book]) -> Decimal | None:
    """Wallet (the gateway's, plus what risk booked since) and unrealized PnL; None before any account."""
    if not acct.seen:
        return None
    return acct.wallet + acct.wallet_adj + sum((upnl(b) for b in books), ZERO)
