"""One order's record and its state machine, driven by our requests, venue answers and the user stream.

The record keeps the venue's lifecycle (``status``: PendingNew → New → PartiallyFilled → a final
status) apart from what we asked for (``intent``: cancel or modify, with the requested price and
size) and from the requests still awaiting an answer (``inflight``) or whose outcome is unknown
(``unknown``). The published :data:`OrderState` is derived: a final status wins, then a pending
cancel or modify, then the status. Because a REST answer and the user stream race, the status
only moves forward (a ``NEW`` ack that arrives after a ``TRADE`` event changes nothing) and a
final status the venue reported is final; anything impossible is returned as an anomaly, never
raised.

Unknown outcomes are settled by evidence, never by hope. A place whose answer never came (timeout,
503, an HTML page from the edge) may still land: a query answering "no such order" does not prove
it never will, so the record stays live (counted by every cap) until ``horizon`` has passed since
it was sent (longer than the venue's recvWindow, after which the matching engine refuses it).
Only then is it settled as Rejected, marked ``inferred``; a final status we inferred revives if the
venue later shows the order open (a late NEW event, an openOrders listing).

Every function here mutates one record and returns the anomalies it met; :mod:`oms` turns the
before/after difference into exactly one ``OrderUpdate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from common.binance.trading import VenueOrder
from common.binance.user import OrderData
from common.messages import OrderState, OrderUpdate, Side

Status = Literal["PendingNew", "New", "PartiallyFilled", "Filled", "Canceled", "Expired", "Rejected"]
RequestKind = Literal["place", "modify", "cancel"]
Intent = Literal["cancel", "modify"]

ZERO = Decimal(0)
FINAL: frozenset[str] = frozenset({"Filled", "Canceled", "Expired", "Rejected"})
_RANK = {"PendingNew": 0, "New": 1, "PartiallyFilled": 2}
VENUE_STATUS: dict[str, Status] = {
    "NEW": "New",
    "PARTIALLY_FILLED": "PartiallyFilled",
    "FILLED": "Filled",
    "CANCELED": "Canceled",
    "EXPIRED": "Expired",
    "EXPIRED_IN_MATCH": "Expired",
    "REJECTED": "Rejected",
}
EXPIRY_REASONS = {
    "1": "stp",
    "2": "ioc_remainder",
    "3": "ioc_stp",
    "4": "reduce_only_knocked_out",
    "5": "liquidation",
    "6": "gte_unmet",
    "7": "delisted",
    "8": "stop_expired",
    "9": "market_remainder",
}
POST_ONLY_CODE = -5022
_NOT_OPEN_CODES = (-2011, -2013)  # cancel / modify of an order the venue does not hold open
_DUPLICATE_ID_CODE = -4116


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order to place (the OMS gives it a client id when it is actually sent)."""

    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    layer: int = -1
    tif: str = "GTX"
    reduce_only: bool = False
    target_id: int = 0
    order_type: str = "LIMIT"


@dataclass(frozen=True, slots=True)
class Amend:
    """A modify of a resting order: ``qty`` is the new total size (filled part included)."""

    client_id: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    layer: int = -1
    reduce_only: bool = False


@dataclass(slots=True)
class OrderRecord:
    """What the OMS knows about one order. Times are ns on the caller's clock."""

    client_id: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    layer: int = -1
    tif: str = "GTX"
    reduce_only: bool = False
    order_type: str = "LIMIT"
    owned: bool = True
    target_id: int = 0
    venue_id: int = 0
    status: Status = "PendingNew"
    filled: Decimal = ZERO
    avg_price: Decimal = ZERO
    intent: Intent | None = None
    pending_price: Decimal | None = None
    pending_qty: Decimal | None = None
    inflight: set[RequestKind] = field(default_factory=set)
    unknown: set[RequestKind] = field(default_factory=set)
    trades: dict[int, Decimal] = field(default_factory=dict)
    booked: dict[int, Decimal] = field(default_factory=dict)
    modify_requests: int = 0
    reason: str = ""
    error_code: int = 0
    inferred: bool = False
    booked_base: Decimal = ZERO
    unbooked_ms: int = 0
    queries: int = 0
    ts_query_ns: int = 0
    ts_cancel_ns: int = 0
    ts_target_ns: int = 0
    ts_sent_ns: int = 0
    ts_ack_ns: int = 0
    ts_first_fill_ns: int = 0
    ts_done_ns: int = 0
    ts_update_ns: int = 0

    @property
    def final(self) -> bool:
        """Filled, Canceled, Expired or Rejected: nothing changes its status any more."""
        return self.status in FINAL

    @property
    def state(self) -> OrderState:
        """The published state: a final status, else a pending cancel/modify, else the status."""
        if self.final:
            return self.status
        if self.intent == "cancel":
            return "PendingCancel"
        if self.intent == "modify":
            return "PendingModify"
        return self.status

    @property
    def busy(self) -> bool:
        """Not to be touched by reconciliation: unacknowledged, pending, or of unknown outcome."""
        return self.status == "PendingNew" or bool(self.intent or self.inflight or self.unknown)

    @property
    def unbooked(self) -> Decimal:
        """Filled size the venue reported (an order object, a cumulative size, a TRADE_LITE) that no
        published fill has moved the position by yet: a fill event was lost or is still on its way.
        Zero once its fills are published or a venue position figure covers it."""
        return max(ZERO, self.filled - self.booked_base - sum(self.booked.values(), ZERO))

    @property
    def acknowledged(self) -> bool:
        """The venue confirmed the order exists (New or PartiallyFilled), and it is not final."""
        return self.status in ("New", "PartiallyFilled")

    @property
    def open_qty(self) -> Decimal:
        """What can still fill: zero once final."""
        return ZERO if self.final else max(ZERO, self.qty - self.filled)

    @property
    def worst_open_qty(self) -> Decimal:
        """The larger of the resting size and a pending modify's, for worst-case exposure."""
        if self.pending_qty is None or self.final:
            return self.open_qty
        return max(self.open_qty, self.pending_qty - self.filled)

    def view(self) -> tuple[object, ...]:
        """What a subscriber sees; an ``OrderUpdate`` is due when it changes."""
        return (self.state, self.price, self.qty, self.filled, self.avg_price, self.venue_id != 0)

    def update(self, now: int, ts_event: int = 0) -> OrderUpdate:
        """The record as a bus message."""
        return OrderUpdate(
            symbol=self.symbol,
            client_order_id=self.client_id,
            venue_order_id=self.venue_id,
            side=self.side,
            price=self.price,
            qty=self.qty,
            filled_qty=self.filled,
            avg_price=self.avg_price,
            state=self.state,
            layer=self.layer,
            time_in_force=self.tif,
            reduce_only=self.reduce_only,
            reason=self.reason,
            error_code=self.error_code,
            ts_event=ts_event or now,
            ts_init=now,
        )

    def latency_ns(self) -> dict[str, int]:
        """The latency record: target → sent → ack → first fill (only the stages that happened)."""
        out: dict[str, int] = {}
        if self.ts_target_ns and self.ts_sent_ns:
            out["target_to_sent"] = self.ts_sent_ns - self.ts_target_ns
        if self.ts_sent_ns and self.ts_ack_ns:
            out["sent_to_ack"] = self.ts_ack_ns - self.ts_sent_ns
        if self.ts_sent_ns and self.ts_first_fill_ns:
            out["sent_to_first_fill"] = self.ts_first_fill_ns - self.ts_sent_ns
        return out


# ---- status moves -------------------------------------------------------------------------------


def advance(rec: OrderRecord, status: Status, now: int, reason: str = "") -> list[str]:
    """Move the status forward with what the venue reported.

    A regression is a late message (ignored) and a second final status an anomaly, except on a
    record whose final status we only inferred: the venue's word replaces the inference, and an
    order it shows open comes back to life.
    """
    if rec.final and rec.inferred:
        return _revive(rec, status, now, reason)
    if rec.final:
        if status in FINAL and status != rec.status:
            return [f"{status.lower()}_after_{rec.status.lower()}"]
        return []  # a duplicate, or a late ack of an earlier stage
    if status in FINAL:
        rec.status, rec.ts_done_ns = status, now
        rec.intent = rec.pending_price = rec.pending_qty = None
        rec.unknown.clear()  # a final status answers every open question about the order
        if reason:
            rec.reason = reason
    elif _RANK[status] >= _RANK[rec.status]:
        rec.status = status
    return []


def _revive(rec: OrderRecord, status: Status, now: int, reason: str) -> list[str]:
    """The venue contradicts a final status we inferred: its word wins."""
    rec.inferred = False
    if status in FINAL:
        rec.status, rec.ts_done_ns = status, now
        rec.reason = reason or rec.reason
        return [] if status == rec.status else ["inferred_final_corrected"]
    rec.status, rec.ts_done_ns, rec.reason, rec.error_code = status, 0, "", 0
    return ["revived_order"]


def settle_inferred(rec: OrderRecord, status: Status, now: int, reason: str) -> list[str]:
    """A final status we infer (the venue no longer knows the order), which the venue may overrule."""
    out = advance(rec, status, now, reason)
    if rec.final:
        rec.inferred = True
    return out


def _apply_fill_totals(rec: OrderRecord, cum: Decimal, avg: Decimal, now: int) -> None:
    """Cumulative size (never decreasing: out-of-order messages) and the venue's average price."""
    if cum >= rec.filled and cum > 0 and avg > 0:
        rec.avg_price = avg  # the venue's figure wins over one computed from trades
    rec.filled = max(rec.filled, cum)
    if rec.filled > 0 and not rec.ts_first_fill_ns:
        rec.ts_first_fill_ns = now


def count_trade(rec: OrderRecord, trade_id: int, qty: Decimal, price: Decimal, now: int) -> None:
    """One trade of this order from any source, counted once into its filled size."""
    if trade_id in rec.trades:
        return
    rec.trades[trade_id] = qty
    total = sum(rec.trades.values(), ZERO)
    if total > rec.filled:
        notional = rec.avg_price * rec.filled + price * (total - rec.filled)
        rec.filled, rec.avg_price = total, notional / total
    if not rec.ts_first_fill_ns:
        rec.ts_first_fill_ns = now
    if rec.status == "PendingNew":
        rec.unknown.discard("place")  # a trade proves the place went through
    if not rec.final or rec.inferred:
        advance(rec, "Filled" if rec.filled >= rec.qty else "PartiallyFilled", now)


def apply_snapshot(rec: OrderRecord, vo: VenueOrder, now: int, take_terms: bool) -> list[str]:
    """A venue order object (ack or query): ids, totals, status; price and size when ``take_terms``."""
    status = VENUE_STATUS.get(vo.status)
    if status is None:
        return [f"unknown_status_{vo.status}"]
    if vo.orderId:
        rec.venue_id = vo.orderId
    before = rec.unbooked
    _apply_fill_totals(rec, vo.executedQty, vo.avgPrice, now)
    if take_terms and not rec.final and vo.origQty > 0:
        rec.price, rec.qty = vo.price, vo.origQty
    out = advance(rec, status, now)
    return [*out, *_unbooked(rec, before, vo.updateTime)]


def _unbooked(rec: OrderRecord, before: Decimal, venue_ms: int) -> list[str]:
    """An anomaly when the venue's totals show fills we have not booked (the caller syncs trades)."""
    if rec.unbooked > before:
        rec.unbooked_ms = max(rec.unbooked_ms, venue_ms)
        return ["unbooked_fill"]
    return []


def book_all(rec: OrderRecord, venue_ms: int) -> None:
    """A venue position figure made at ``venue_ms`` includes every fill of this order the venue had
    reported by then (``unbooked_ms`` is the venue's time of the report that revealed them)."""
    if rec.unbooked and (not venue_ms or rec.unbooked_ms <= venue_ms):
        rec.booked_base = rec.filled - sum(rec.booked.values(), ZERO)


# ---- our requests -------------------------------------------------------------------------------


def request_cancel(rec: OrderRecord, now: int) -> list[str]:
    """We are about to send a cancel."""
    if rec.final:
        return ["cancel_of_final_order"]
    if "cancel" in rec.inflight:
        return ["cancel_already_pending"]
    rec.intent = "cancel"  # again if an earlier cancel (or cancel-all) was not confirmed
    rec.pending_price = rec.pending_qty = None
    rec.inflight.add("cancel")
    rec.reason, rec.error_code = "", 0
    rec.ts_update_ns = rec.ts_cancel_ns = now
    return []


def cancel_all_accepted(rec: OrderRecord, now: int) -> list[str]:
    """A cancel-all of the order's symbol was accepted: the order is on its way out.

    The venue's answer names no order, so each one stays PendingCancel until its CANCELED event
    (or a query) confirms it; reconciliation re-sends the cancel if that does not come.
    """
    if rec.final or rec.intent == "cancel":
        return []
    rec.intent = "cancel"
    rec.pending_price = rec.pending_qty = None
    rec.ts_cancel_ns = now
    return []


def request_modify(rec: OrderRecord, price: Decimal, qty: Decimal, now: int) -> list[str]:
    """We are about to send a modify (the venue keeps the client id; the order loses priority)."""
    if rec.final:
        return ["modify_of_final_order"]
    if rec.busy:
        return ["modify_of_busy_order"]
    if rec.order_type != "LIMIT":
        return ["modify_of_non_limit_order"]
    rec.intent = "modify"
    rec.pending_price, rec.pending_qty = price, qty
    rec.inflight.add("modify")
    rec.modify_requests += 1
    rec.reason, rec.error_code = "", 0
    rec.ts_update_ns = now
    return []


# ---- venue answers to our requests --------------------------------------------------------------


def on_answer(rec: OrderRecord, kind: RequestKind, vo: VenueOrder, now: int) -> list[str]:
    """The venue accepted a request (REST or WS-API); ``vo`` is its order object."""
    rec.inflight.discard(kind)
    rec.unknown.discard(kind)
    if kind == "place" and not rec.ts_ack_ns:
        rec.ts_ack_ns = now
    if kind == "modify" and rec.intent == "modify":
        rec.intent = rec.pending_price = rec.pending_qty = None
        if vo.status == "CANCELED":
            rec.reason = "modify_canceled"  # a GTX that would cross, or size at or below filled
    if kind == "cancel" and rec.intent == "cancel":
        rec.reason = "canceled"
    return apply_snapshot(rec, vo, now, take_terms=kind != "cancel")


def on_reject(rec: OrderRecord, kind: RequestKind, code: int, msg: str, now: int) -> list[str]:
    """The venue refused a request: it certainly did nothing."""
    rec.inflight.discard(kind)
    if kind == "place":
        return _place_rejected(rec, code, msg, now)
    if code in _NOT_OPEN_CODES:
        if not rec.final:
            rec.unknown.add(kind)  # filled or canceled meanwhile: only a query can tell
        return []
    if rec.intent == kind:
        rec.intent = rec.pending_price = rec.pending_qty = None
    rec.reason, rec.error_code = f"{kind}_rejected: {msg}", code
    return []


def _place_rejected(rec: OrderRecord, code: int, msg: str, now: int) -> list[str]:
    if code == _DUPLICATE_ID_CODE:
        rec.unknown.add("place")  # an order with this id exists: ours, resent; query it
        return ["duplicate_client_id"]
    if rec.status != "PendingNew":
        return ["place_rejected_after_venue_confirmed"]
    rec.error_code = code
    return advance(rec, "Rejected", now, "post_only" if code == POST_ONLY_CODE else msg or "rejected")


def on_unknown(rec: OrderRecord, kind: RequestKind, now: int) -> list[str]:
    """No answer, or one meaning 'maybe' (timeout, 5xx, -1006/-1007, an undecodable 200): the
    request may have been carried out. Stay pending, and live for every cap, until a query settles it."""
    rec.inflight.discard(kind)
    if rec.final and not rec.inferred:
        return []
    if kind == "place" and rec.status != "PendingNew":
        return []  # the stream already confirmed it
    if kind == "modify" and rec.intent != "modify":
        return []  # the AMENDMENT event already arrived
    rec.unknown.add(kind)
    rec.ts_query_ns = now  # the resolver asks at once
    return []


QUERY_BACKOFF_NS = (250_000_000, 500_000_000, 1_000_000_000, 2_000_000_000)
"""Delays between queries of an order the venue does not know yet (a place that may still land)."""


def resolve(rec: OrderRecord, vo: VenueOrder | None, now: int, horizon_ns: int) -> list[str]:
    """A query by client id for an unknown outcome: ``vo`` is the order, None if the venue has none.

    None for a place sent less than ``horizon_ns`` ago proves nothing (it may still land): the
    record stays unknown and is asked again after a back-off. Past the horizon, or for an order
    the venue had acknowledged, it is settled as Rejected / Canceled, inferred (revivable).
    """
    if vo is None:
        if rec.final:
            rec.unknown.clear()
            return []
        if rec.status == "PendingNew" and now - rec.ts_sent_ns < horizon_ns:
            rec.ts_query_ns = now + QUERY_BACKOFF_NS[min(rec.queries, len(QUERY_BACKOFF_NS) - 1)]
            rec.queries += 1
            return []
        rec.unknown.clear()
        if rec.status == "PendingNew":
            return settle_inferred(rec, "Rejected", now, "not_found")
        return ["acknowledged_order_not_found", *settle_inferred(rec, "Canceled", now, "not_found")]
    kinds = set(rec.unknown)
    rec.unknown.clear()
    if rec.intent in kinds:
        rec.intent = rec.pending_price = rec.pending_qty = None
    if not rec.ts_ack_ns:
        rec.ts_ack_ns = now
    return apply_snapshot(rec, vo, now, take_terms=True)


# ---- the user stream ----------------------------------------------------------------------------


def on_event(rec: OrderRecord, o: OrderData, now: int) -> list[str]:
    """One ``ORDER_TRADE_UPDATE``; fills are counted by the OMS (``count_trade``) before this."""
    status = VENUE_STATUS.get(o.X)
    if status is None:
        return [f"unknown_status_{o.X}"]
    rec.venue_id = o.i or rec.venue_id
    if not rec.ts_ack_ns:
        rec.ts_ack_ns = now
    if rec.status == "PendingNew":
        rec.unknown.discard("place")
    before = rec.unbooked
    _apply_fill_totals(rec, o.z, o.ap, now)
    lost = _unbooked(rec, before, o.T)
    if lost:
        return [*lost, *_event_status(rec, o, status, now)]
    return _event_status(rec, o, status, now)


def _event_status(rec: OrderRecord, o: OrderData, status: Status, now: int) -> list[str]:
    match o.x:
        case "NEW" | "TRADE" | "CALCULATED":
            return advance(rec, status, now)
        case "AMENDMENT":
            return _amended(rec, o, status, now)
        case "CANCELED":
            return advance(rec, status, now, _cancel_reason(rec))
        case "EXPIRED":
            return advance(rec, status, now, "expired:" + EXPIRY_REASONS.get(o.er, o.er))
    return [f"unknown_execution_type_{o.x}"]


def _amended(rec: OrderRecord, o: OrderData, status: Status, now: int) -> list[str]:
    if rec.final:
        return ["amendment_after_final"]
    rec.price, rec.qty = o.p, o.q
    if rec.intent == "modify":
        rec.intent = rec.pending_price = rec.pending_qty = None
        rec.unknown.discard("modify")
    return advance(rec, status, now)


def _cancel_reason(rec: OrderRecord) -> str:
    if rec.intent == "cancel":
        return "canceled"
    if rec.intent == "modify":
        return "modify_canceled"
    return "venue_canceled"  # cancel-all, the dead-man's switch, the web UI
