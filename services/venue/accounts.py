"""Accounts of the simulated venue: wallet balances per asset and one-way positions per symbol.

Pure bookkeeping with exact Decimals, as Binance books it: a fill that reduces a position
realises ``(exit - entry) * closed * sign``; the wallet moves by realised PnL minus commission;
funding moves the wallet by ``-qty * mark * rate`` (longs pay a positive rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(slots=True)
class PositionState:
    symbol: str
    margin_asset: str
    qty: Decimal = ZERO
    entry: Decimal = ZERO
    realized: Decimal = ZERO
    update_ms: int = 0

    def unrealized(self, mark: Decimal) -> Decimal:
        return (mark - self.entry) * self.qty if self.qty else ZERO


@dataclass(slots=True)
class Account:
    """One API key's account."""

    name: str
    api_key: str
    secret: str
    balances: dict[str, Decimal]
    default_leverage: int = 20
    leverage: dict[str, int] = field(default_factory=dict)
    positions: dict[str, PositionState] = field(default_factory=dict)

    def position(self, symbol: str, margin_asset: str) -> PositionState:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = PositionState(symbol, margin_asset)
        return pos

    def lev(self, symbol: str) -> int:
        return self.leverage.get(symbol, self.default_leverage)

    def book_fill(
        self, pos: PositionState, signed_qty: Decimal, price: Decimal, fee: Decimal, now_ms: int
    ) -> Decimal:
        """Apply a fill to ``pos`` and the wallet; returns the realised PnL of this fill (before fees)."""
        realized = ZERO
        q = pos.qty
        if q and (q > 0) != (signed_qty > 0):
            closed = min(abs(q), abs(signed_qty))
            realized = (price - pos.entry) * closed * (1 if q > 0 else -1)
            new_q = q + signed_qty
            if new_q == 0:
                pos.entry = ZERO
            elif (new_q > 0) != (q > 0):
                pos.entry = price  # flipped: the rest opens at this price
        else:
            new_q = q + signed_qty
            pos.entry = (pos.entry * abs(q) + price * abs(signed_qty)) / abs(new_q)
        pos.qty = new_q
        pos.realized += realized
        pos.update_ms = now_ms
        self.balances[pos.margin_asset] = self.balances.get(pos.margin_asset, ZERO) + realized - fee
        return realized

    def book_funding(self, pos: PositionState, mark: Decimal, rate: Decimal) -> Decimal:
        """Settle funding on one position; returns the wallet change (negative when paying)."""
        amount = -(pos.qty * mark * rate)
        self.balances[pos.margin_asset] = self.balances.get(pos.margin_asset, ZERO) + amount
        return amount

    def wallet(self, asset: str) -> Decimal:
        return self.balances.get(asset, ZERO)
