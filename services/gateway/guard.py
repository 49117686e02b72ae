"""The one door every order and amend passes right before the wire, whatever asked for it.

Pure and synchronous: a check and, when it passes, the OMS record in the same call, with no
``await`` between them, so the next check (of the same plan, another symbol's pass, a flatten, the
kill switch) already counts this order. In order:

1. the kill switch: while engaged nothing is sent but the kill's own reduce-only IOC orders;
2. holds (risk silent, market data stale, paused): quotes wait; reduce and flatten orders go;
3. the hard caps of :mod:`caps` against the OMS's live orders, cumulatively.

Every refusal has a reason; the caller counts it and decides whether to retry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from services.gateway.caps import Caps
from services.gateway.oms import Effects, Oms
from services.gateway.orders import Amend, NewOrder, OrderRecord

Purpose = Literal["quote", "reduce", "kill"]
"""Why an order is sent: a target quote, a reduce/flatten command, or the kill switch's flatten."""

KILLED = "killed"


@dataclass(slots=True)
class Admission:
    """The outcome of one check: the new record (places), the refusal reason, what to publish."""

    record: OrderRecord | None = None
    reason: str = ""
    effects: Effects = field(default_factory=Effects)

    @property
    def ok(self) -> bool:
        return not self.reason


class Guard:
    """Checks against the kill switch, holds and caps; records what passes in the OMS at once.

    ``killed()`` says whether the kill switch is engaged; ``hold(symbol)`` why quoting is held
    ("" = not held); ``marks`` are the reference prices for notional caps.
    """

    def __init__(
        self,
        oms: Oms,
        caps: Caps,
        marks: Mapping[str, Decimal],
        killed: Callable[[], bool],
        hold: Callable[[str], str],
    ) -> None:
        self.oms = oms
        self.caps = caps
        self.marks = marks
        self.killed = killed
        self.hold = hold

    def _gate(self, symbol: str, purpose: Purpose) -> str:
        if self.killed():
            return "" if purpose == "kill" else KILLED
        if purpose == "quote":
            return self.hold(symbol)
        return ""

    def place(self, order: NewOrder, now: int, purpose: Purpose, target_ns: int = 0) -> Admission:
        """Admit a new order: its PendingNew record is in the OMS when this returns ok."""
        why = self._gate(order.symbol, purpose)
        if purpose == "kill" and not why and not (order.reduce_only and order.tif == "IOC"):
            why = "kill_orders_must_be_reduce_only_ioc"
        if not why:
            why = self.caps.check_place(order, self.oms.exposures(self.marks, order.symbol), now)
        if why:
            return Admission(reason=why)
        rec, eff = self.oms.submit(order, now, target_ns)
        return Admission(record=rec, effects=eff)

    def modify(self, amend: Amend, now: int) -> Admission:
        """Admit an amend of a quote: its PendingModify is in the OMS when this returns ok."""
        rec = self.oms.orders.get(amend.client_id)
        if rec is None or rec.final:
            return Admission(reason="not_live")
        why = self._gate(amend.symbol, "quote")
        if not why:
            exposures = self.oms.exposures(self.marks, amend.symbol)
            why = self.caps.check_modify(amend, rec.filled, rec.open_qty, exposures, now)
        if why:
            return Admission(reason=why)
        return Admission(
            record=rec, effects=self.oms.request_modify(amend.client_id, amend.price, amend.qty, now)
        )
