"""Carrying out the OMS's actions on the venue: place, modify, cancel, cancel-all, single or batched.

Every place and modify passes :class:`~services.gateway.guard.Guard` item by item, which records it
in the OMS before its request leaves (so the next check and the next plan count it). Every answer
goes back to the OMS: success, rejection by code, or unknown outcome (which the resolver settles
by querying by client id, never by resending). The resulting order updates, fills and positions go
to ``emit``. Refusals are counted per reason and logged at most once a minute per (symbol, reason).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import Counter, Histogram

from common.binance.errors import BinanceError, OutcomeUnknown, UnknownOrder
from common.logging import log
from common.trace import WIRE, TraceRing
from services.gateway.guard import Admission, Guard, Purpose
from services.gateway.oms import Effects, Oms
from services.gateway.orders import Amend, NewOrder, OrderRecord, RequestKind
from services.gateway.reconcile import Action, CancelOrders, ModifyOrders, PlaceOrders
from services.gateway.venue import VenuePort

PLACED = Counter(
    "mm_orders_placed", "Orders sent to the venue (seed: mm_orders_placed_count)", ["symbol", "side"]
)
CANCELED = Counter(
    "mm_orders_canceled", "Cancels sent to the venue (seed: mm_orders_canceled_count)", ["symbol"]
)
MODIFIED = Counter("mm_orders_modified", "Modifies sent to the venue", ["symbol"])
REJECTED = Counter("mm_orders_rejected_total", "Requests the venue refused", ["symbol", "code"])
UNKNOWN = Counter("mm_orders_unknown_outcome_total", "Requests whose outcome was unknown", ["symbol"])
CAP_REFUSED = Counter(
    "mm_gateway_cap_refusals_total",
    "Orders and amends stopped before the wire (kill switch, holds, hard caps)",
    ["symbol", "reason"],
)
LATENCY = Histogram(
    "mm_order_latency_seconds",
    "Order path: target received -> request sent -> venue ack -> first fill",
    ["stage", "path"],
    buckets=(1e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0, 10.0),
)
LOG_EVERY_NS = 60 * 1_000_000_000
T = TypeVar("T")

Emit = Callable[[Effects], None]


def _num(d: Any) -> str:
    """Plain notation, no trailing zeros: 0.0090 -> "0.009", 1E+1 -> "10" (extra decimals are -1111)."""
    return format(d.normalize(), "f")


def order_params(rec: OrderRecord, stp: str = "") -> dict[str, Any]:
    """The wire parameters of a new order (exact decimal strings).

    ``stp`` sets ``selfTradePreventionMode``; Binance applies it only to GTC/IOC/GTD takers (never
    GTX or FOK), so it is sent for those only.
    """
    p: dict[str, Any] = {
        "symbol": rec.symbol,
        "side": rec.side,
        "type": rec.order_type,
        "quantity": _num(rec.qty),
        "newClientOrderId": rec.client_id,
        "newOrderRespType": "RESULT" if rec.tif in ("IOC", "FOK") or rec.order_type == "MARKET" else "ACK",
    }
    if rec.order_type == "LIMIT":
        p["price"] = _num(rec.price)
        p["timeInForce"] = rec.tif
    if rec.reduce_only:
        p["reduceOnly"] = "true"
    if stp and rec.tif in ("GTC", "IOC", "GTD"):
        p["selfTradePreventionMode"] = stp
    return p


class Executor:
    """Sends actions and feeds the answers back to the OMS."""

    def __init__(
        self,
        venue: VenuePort,
        oms: Oms,
        guard: Guard,
        emit: Emit,
        path: str,
        stp: str = "",
        clock: Callable[[], int] = time.time_ns,
        on_send: Callable[[int], None] = lambda now_ns: None,
    ) -> None:
        self.clock = clock
        self.on_send = on_send
        self.venue = venue
        self.oms = oms
        self.guard = guard
        self.emit = emit
        self.path = path
        self.stp = stp
        self.target_to_ack_ns: deque[int] = deque(maxlen=100_000)
        self.stages_ns: dict[str, deque[int]] = {
            s: deque(maxlen=100_000) for s in ("target_to_sent", "sent_to_ack")
        }
        self._logged: dict[tuple[str, str], int] = {}
        self.trace = TraceRing()

    async def run(self, action: Action, target_ns: int = 0) -> None:
        match action:
            case CancelOrders():
                await self.cancel(action.symbol, list(action.items))
            case PlaceOrders():
                await self._place(action, target_ns)
            case ModifyOrders():
                await self._modify(action)

    async def _on_wire(self, symbol: str, kind: str, call: Awaitable[T]) -> T:
        """``call`` with the moment its bytes leave recorded against the cause (:mod:`common.trace`)."""
        box: list[int] = []
        token = WIRE.set(box)
        try:
            return await call
        finally:
            WIRE.reset(token)
            if box:
                self.trace.record(symbol, kind, box[0])

    def refused(self, symbol: str, why: str, what: str = "") -> None:
        """Count a refusal; log it at most once a minute per (symbol, reason)."""
        CAP_REFUSED.labels(symbol, why).inc()
        now = time.monotonic_ns()
        if now - self._logged.get((symbol, why), -LOG_EVERY_NS) >= LOG_EVERY_NS:
            self._logged[(symbol, why)] = now
            log.warning("order_refused", symbol=symbol, reason=why, order=what)

    # ---- place -------------------------------------------------------------------------------

    async def _place(self, action: PlaceOrders, target_ns: int) -> None:
        recs = []
        for item in action.items:
            adm = self.guard.place(item, self.clock(), "quote", target_ns)
            if not adm.ok:
                self.refused(item.symbol, adm.reason, f"{item.side} {item.qty}@{item.price}")
                continue
            self.emit(adm.effects)
            assert adm.record is not None
            recs.append(adm.record)
        if len(recs) == 1:
            await self._one_place(recs[0])
        elif recs:
            await self._batch_place(recs)

    async def place_one(self, order: NewOrder, purpose: Purpose) -> Admission:
        """Place one order outside a plan (flatten, reduce, the kill's flatten) through the guard;
        the admission says whether it was sent, and its record follows the venue's answers."""
        adm = self.guard.place(order, self.clock(), purpose)
        if not adm.ok:
            self.refused(order.symbol, adm.reason, f"{order.side} {order.qty}@{order.price} {purpose}")
            return adm
        self.emit(adm.effects)
        assert adm.record is not None
        await self._one_place(adm.record)
        return adm

    async def _one_place(self, rec: OrderRecord) -> None:
        PLACED.labels(rec.symbol, rec.side).inc()
        self.on_send(self.clock())
        try:
            answer = await self._on_wire(rec.symbol, "place", self.venue.place(order_params(rec, self.stp)))
        except BinanceError as exc:
            self._failed(rec.client_id, rec.symbol, "place", exc)
            return
        self.emit(self.oms.on_answer(rec.client_id, "place", answer, self.clock()))
        self._observe(rec)

    async def _batch_place(self, recs: list[OrderRecord]) -> None:
        for r in recs:
            PLACED.labels(r.symbol, r.side).inc()
        self.on_send(self.clock())
        try:
            batch = self.venue.place_batch([order_params(r, self.stp) for r in recs])
            answers = await self._on_wire(recs[0].symbol, "batch", batch)
        except BinanceError as exc:
            for r in recs:
                self._failed(r.client_id, r.symbol, "place", exc)
            return
        self._items([(r.client_id, r.symbol) for r in recs], "place", answers)
        for rec in recs:
            self._observe(rec)

    # ---- modify ------------------------------------------------------------------------------

    async def _modify(self, action: ModifyOrders) -> None:
        items: list[Amend] = []
        for a in action.items:
            adm = self.guard.modify(a, self.clock())
            if not adm.ok:
                if adm.reason != "not_live":
                    self.refused(a.symbol, adm.reason, f"modify {a.client_id}")
                continue
            self.emit(adm.effects)
            items.append(a)
        await asyncio.gather(*(self._one_modify(a) for a in items))

    async def _one_modify(self, a: Amend) -> None:
        MODIFIED.labels(a.symbol).inc()
        self.on_send(self.clock())
        params = {
            "symbol": a.symbol,
            "origClientOrderId": a.client_id,
            "side": a.side,
            "quantity": _num(a.qty),
            "price": _num(a.price),
        }
        try:
            answer = await self._on_wire(a.symbol, "modify", self.venue.modify(params))
        except BinanceError as exc:
            self._failed(a.client_id, a.symbol, "modify", exc)
            return
        self.emit(self.oms.on_answer(a.client_id, "modify", answer, self.clock()))

    # ---- cancel ------------------------------------------------------------------------------

    async def cancel(self, symbol: str, cids: list[str]) -> None:
        """Cancel these orders (one request, or batches of up to 10); a record whose cancel is
        already in flight or that is final is skipped, one whose cancel went unconfirmed is re-sent."""
        now = self.clock()
        send = []
        for cid in cids:
            eff = self.oms.request_cancel(cid, now)
            self.emit(eff)
            if not eff.anomalies:
                send.append(cid)
        CANCELED.labels(symbol).inc(len(send))
        if len(send) == 1:
            try:
                answer = await self.venue.cancel(symbol, send[0])
            except BinanceError as exc:
                self._failed(send[0], symbol, "cancel", exc)
                return
            self.emit(self.oms.on_answer(send[0], "cancel", answer, self.clock()))
            return
        for i in range(0, len(send), 10):
            chunk = send[i : i + 10]
            try:
                answers = await self.venue.cancel_batch(symbol, chunk)
            except BinanceError as exc:
                for cid in chunk:
                    self._failed(cid, symbol, "cancel", exc)
                continue
            self._items([(c, symbol) for c in chunk], "cancel", answers)

    async def cancel_all(self, symbol: str) -> None:
        """``DELETE allOpenOrders`` for ``symbol``; raises the venue's error. On success every order
        the venue had acknowledged is PendingCancel until its CANCELED event confirms it."""
        sent = self.clock()
        await self.venue.cancel_all(symbol)
        self.emit(self.oms.cancel_all_accepted(symbol, sent, self.clock()))

    # ---- answers -----------------------------------------------------------------------------

    def _items(self, keys: list[tuple[str, str]], kind: RequestKind, answers: Any) -> None:
        """A batch answer: one order object or ``{"code", "msg"}`` per item, in order. An answer
        that is not such a list settles nothing: every item's outcome is unknown."""
        now = self.clock()
        if not isinstance(answers, list) or len(answers) != len(keys):
            for cid, symbol in keys:
                UNKNOWN.labels(symbol).inc()
                self.emit(self.oms.on_unknown(cid, kind, now))
            log.warning("batch_answer_malformed", kind=kind, items=len(keys), answer=str(answers)[:200])
            return
        for (cid, symbol), ans in zip(keys, answers, strict=True):
            if isinstance(ans, dict) and "code" in ans and "orderId" not in ans:
                code = ans.get("code")
                REJECTED.labels(symbol, str(code)).inc()
                self.emit(self.oms.on_reject(cid, kind, int(code) if isinstance(code, int) else 0,
                                             str(ans.get("msg", "")), now))  # fmt: skip
            else:
                self.emit(self.oms.on_answer(cid, kind, ans, now))

    def _failed(self, cid: str, symbol: str, kind: RequestKind, exc: BinanceError) -> None:
        if isinstance(exc, OutcomeUnknown):
            UNKNOWN.labels(symbol).inc()
            log.warning(
                "order_outcome_unknown", symbol=symbol, kind=kind, client_id=cid, error=str(exc)[:200]
            )
        elif not isinstance(exc, UnknownOrder):
            REJECTED.labels(symbol, str(exc.code)).inc()
            if exc.code != -5022:
                log.warning(
                    "order_rejected", symbol=symbol, kind=kind, client_id=cid, code=exc.code, msg=exc.msg
                )
        self.emit(self.oms.on_error(cid, kind, exc, self.clock()))

    def _observe(self, rec: OrderRecord) -> None:
        lat = rec.latency_ns()
        for stage in ("target_to_sent", "sent_to_ack"):
            if stage in lat:
                LATENCY.labels(stage, self.path).observe(lat[stage] / 1e9)
                self.stages_ns[stage].append(lat[stage])
        if "target_to_sent" in lat and "sent_to_ack" in lat:
            self.target_to_ack_ns.append(lat["target_to_sent"] + lat["sent_to_ack"])

    async def resolve_unknowns(self) -> int:
        """Query every order whose outcome is unknown and due by client id, and settle it."""
        pending = self.oms.unresolved(self.clock())
        for rec in pending:
            try:
                answer: Any = await self.venue.status(rec.symbol, rec.client_id)
            except UnknownOrder:
                answer = None
            except BinanceError as exc:
                log.warning("resolve_failed", client_id=rec.client_id, error=str(exc)[:200])
                continue
            self.emit(self.oms.resolve(rec.client_id, answer, self.clock()))
        return len(pending)
