"""Hard caps, the second line behind risk (safety rule 4), checked right before the wire.

A check answers with a refusal reason, or ``""`` to go; it never raises. The exposure it is given
comes from the OMS's live index at the moment of the check, so an order admitted a moment ago
(even one whose request has not left yet) already counts: the caps are cumulative on every path.

Worst case means every order that may be live on a side fills: for a buy,
``position + live buys + this order``; for a sell, ``-position + live sells + this order``. The
limits:

* per symbol: that worst case ≤ ``max_position`` (base units);
* per order: price × size ≤ ``max_order_notional`` — flatten and reduce orders included (they are
  sliced to fit);
* whole account: the sum over symbols of the worse side's worst case × reference price ≤
  ``max_global_notional``, for an order that raises its symbol's worse side (one that does not,
  such as a bid against a short, passes even when the account is above the cap);
* rate: places and modifies per second ≤ ``max_orders_per_second`` (a passing check counts as sent).

A reduce-only order must actually reduce: its side is opposite the position, and every reduce-only
order live on that side plus this one stays within |position| (otherwise the venue answers -2022).
It cannot grow |position| by itself, but it still counts in its side's worst case: a reduce-only
buy that closes a short and the resting bids that then fill add up (short 0.1, bids 0.6 resting:
worst 0.5; buy the 0.1 back and the bids can make it 0.6). So the position and global caps apply
to it too; a reduction that does not fit must first cancel its side's quotes (see
:mod:`flatten`). A modify is judged by its effect: an amend that shrinks exposure passes even
above a cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from common.messages import Side
from common.params.gateway import CapsParams
from services.gateway.budget import NS_PER_S, Window
from services.gateway.orders import Amend, NewOrder

ZERO = Decimal(0)
BAD_ORDER = "bad_order"
POSITION_CAP = "position_cap"
ORDER_NOTIONAL_CAP = "order_notional_cap"
GLOBAL_NOTIONAL_CAP = "global_notional_cap"
ORDERS_PER_SECOND = "orders_per_second"
REDUCE_ONLY_WRONG_SIDE = "reduce_only_wrong_side"
REDUCE_ONLY_BEYOND_POSITION = "reduce_only_beyond_position"


@dataclass(frozen=True, slots=True)
class Exposure:
    """One symbol's position and live open size per side (from the OMS), and a reference price.

    ``reducing_*`` is the part of ``resting_*`` that is reduce-only.
    """

    symbol: str
    position: Decimal = ZERO
    resting_buy: Decimal = ZERO
    resting_sell: Decimal = ZERO
    price: Decimal = ZERO  # mark or mid; 0 = unknown (the order's own price is used)
    reducing_buy: Decimal = ZERO
    reducing_sell: Decimal = ZERO

    def worst(self, side: Side) -> Decimal:
        """The position if every live order of ``side`` filled, as a size on that side."""
        return self.position + self.resting_buy if side == "BUY" else self.resting_sell - self.position

    def worst_notional(self, price: Decimal) -> Decimal:
        return max(self.worst("BUY"), self.worst("SELL"), ZERO) * (self.price or price)

    def with_resting(self, side: Side, delta: Decimal) -> Exposure:
        if side == "BUY":
            return replace(self, resting_buy=self.resting_buy + delta)
        return replace(self, resting_sell=self.resting_sell + delta)

    def reducing(self, side: Side) -> Decimal:
        """Reduce-only size live on ``side``."""
        return self.reducing_buy if side == "BUY" else self.reducing_sell


class Caps:
    """The checks plus the orders-per-second window they share."""

    def __init__(self, params: CapsParams) -> None:
        self.params = params
        self._rate = Window(params.max_orders_per_second, NS_PER_S)

    def check_place(self, order: NewOrder, exposures: Mapping[str, Exposure], now: int) -> str:
        """Refusal reason for placing ``order`` given every symbol's live exposure, or ''."""
        return self._check(
            order.symbol, order.side, order.price, order.qty, ZERO, order.reduce_only, exposures, now
        )

    def check_modify(
        self, amend: Amend, filled: Decimal, open_qty: Decimal, exposures: Mapping[str, Exposure], now: int
    ) -> str:
        """Refusal reason for ``amend`` of an order with ``filled`` done and ``open_qty`` resting, or ''."""
        new_open = amend.qty - filled
        return self._check(
            amend.symbol, amend.side, amend.price, new_open, open_qty, amend.reduce_only, exposures, now
        )

    def rate_room(self, now: int) -> bool:
        """Whether one more place or modify fits in this second's rate cap."""
        return self._rate.available(now) >= 1

    def _check(
        self,
        symbol: str,
        side: Side,
        price: Decimal,
        add: Decimal,
        remove: Decimal,
        reduce_only: bool,
        exposures: Mapping[str, Exposure],
        now: int,
    ) -> str:
        if price <= 0 or add <= 0:
            return BAD_ORDER
        if price * add > self.params.order_cap(symbol):
            return ORDER_NOTIONAL_CAP
        exp = exposures.get(symbol) or Exposure(symbol)
        why = _reduces(exp, side, add - remove) if reduce_only else ""
        why = why or self._exposure(exp, side, price, add - remove, exposures)
        if why:
            return why
        if not self.rate_room(now):
            return ORDERS_PER_SECOND
        self._rate.spend(1, now)
        return ""

    def _exposure(
        self, before: Exposure, side: Side, price: Decimal, delta: Decimal, exposures: Mapping[str, Exposure]
    ) -> str:
        after = before.with_resting(side, delta)
        grows = after.worst(side) > before.worst(side)
        if grows and after.worst(side) > self.params.position_cap(before.symbol):
            return POSITION_CAP
        # the account's worst case is the worse side of each symbol: an order that leaves it where
        # it was (a bid while the short is the worse side) passes even above the cap, so a position
        # over it can still be bought or sold back
        after_notional = after.worst_notional(price)
        if after_notional <= before.worst_notional(price):
            return ""
        others = sum((e.worst_notional(e.price) for s, e in exposures.items() if s != before.symbol), ZERO)
        if others + after_notional > self.params.max_global_notional:
            return GLOBAL_NOTIONAL_CAP
        return ""


def _reduces(exp: Exposure, side: Side, delta: Decimal) -> str:
    """A reduce-only order must shrink the position: opposite side, and all reduce-only size on
    that side within |position| (a shrinking amend always passes)."""
    if delta <= 0:
        return ""
    pos = exp.position
    if pos == 0 or (pos > 0) == (side == "BUY"):
        return REDUCE_ONLY_WRONG_SIDE
    if exp.reducing(side) + delta > abs(pos):
        return REDUCE_ONLY_BEYOND_POSITION
    return ""
