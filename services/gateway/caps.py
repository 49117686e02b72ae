"""Hard caps, the second line behind risk (safety rule 4), checked right before the wire.

A check answers with a refusal reason, or ``""`` to go; it never raises. Worst case means every
resting order of a side fills: for a buy, ``position + resting buys + this order``; for a sell,
``-position + resting sells + this order``. The limits:

* per symbol: that worst case ≤ ``max_position`` (base units);
* per order: price × size ≤ ``max_order_notional``;
* whole account: the sum over symbols of the worse side's worst case × reference price ≤
  ``max_global_notional``;
* rate: places and modifies per second ≤ ``max_orders_per_second`` (a passing check counts as sent).

Reduce-only orders cannot grow a position, so only the order notional and the rate apply to them.
A modify is judged by its effect: an amend that shrinks exposure passes even above a cap.
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


@dataclass(frozen=True, slots=True)
class Exposure:
    """One symbol's position and resting size per side (from the OMS), and a reference price."""

    symbol: str
    position: Decimal = ZERO
    resting_buy: Decimal = ZERO
    resting_sell: Decimal = ZERO
    price: Decimal = ZERO  # mark or mid; 0 = unknown (the order's own price is used)

    def worst(self, side: Side) -> Decimal:
        """The position if every resting order of ``side`` filled, as a size on that side."""
        return self.position + self.resting_buy if side == "BUY" else self.resting_sell - self.position

    def worst_notional(self, price: Decimal) -> Decimal:
        return max(self.worst("BUY"), self.worst("SELL"), ZERO) * (self.price or price)

    def with_resting(self, side: Side, delta: Decimal) -> Exposure:
        if side == "BUY":
            return replace(self, resting_buy=self.resting_buy + delta)
        return replace(self, resting_sell=self.resting_sell + delta)


class Caps:
    """The checks plus the orders-per-second window they share."""

    def __init__(self, params: CapsParams) -> None:
        self.params = params
        self._rate = Window(params.max_orders_per_second, NS_PER_S)

    def check_place(self, order: NewOrder, exposures: Mapping[str, Exposure], now: int) -> str:
        """Refusal reason for placing ``order`` given every symbol's exposure, or ''."""
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
        if price * add > self.params.max_order_notional:
            return ORDER_NOTIONAL_CAP
        if not reduce_only:
            why = self._exposure(symbol, side, price, add - remove, exposures)
            if why:
                return why
        if self._rate.available(now) < 1:
            return ORDERS_PER_SECOND
        self._rate.spend(1, now)
        return ""

    def _exposure(
        self, symbol: str, side: Side, price: Decimal, delta: Decimal, exposures: Mapping[str, Exposure]
    ) -> str:
        before = exposures.get(symbol) or Exposure(symbol)
        after = before.with_resting(side, delta)
        grows = after.worst(side) > before.worst(side)
        if grows and after.worst(side) > self.params.position_cap(symbol):
            return POSITION_CAP
        others = sum((e.worst_notional(e.price) for s, e in exposures.items() if s != symbol), ZERO)
        total_after = others + after.worst_notional(price)
        if grows and total_after > self.params.max_global_notional:
            return GLOBAL_NOTIONAL_CAP
        return ""
