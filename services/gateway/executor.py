"""Carrying out the OMS's actions on the venue: place, modify, cancel, single or batched.

Each request is recorded in the OMS just before it is sent (so the next plan never repeats it),
and every answer goes back to the OMS: success, rejection by code, or unknown outcome (which the
resolver settles by querying by client id, never by resending). The resulting order updates,
fills and positions go to ``emit``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from prometheus_client import Counter, Histogram

from common.binance.errors import BinanceError, OutcomeUnknown, UnknownOrder
from common.logging import log
from services.gateway.caps import Caps, Exposure
from services.gateway.oms import Effects, Oms
from services.gateway.orders import Amend, NewOrder, OrderRecord
from services.gateway.reconcile import Action, CancelOrders, ModifyOrders, PlaceOrders
from services.gateway.venue import Venue

PLACED = Counter("mm_orders_placed_count", "Orders sent to the venue", ["symbol", "side"])
CANCELED = Counter("mm_orders_canceled_count", "Cancels sent to the venue", ["symbol"])
MODIFIED = Counter("mm_orders_modified_count", "Modifies sent to the venue", ["symbol"])
REJECTED = Counter("mm_orders_rejected_total", "Requests the venue refused", ["symbol", "code"])
UNKNOWN = Counter("mm_orders_unknown_outcome_total", "Requests whose outcome was unknown", ["symbol"])
CAP_REFUSED = Counter(
    "mm_gateway_cap_refusals_total", "Orders stopped by the hard caps", ["symbol", "reason"]
)
LATENCY = Histogram(
    "mm_order_latency_seconds",
    "Order path: target received -> request sent -> venue ack -> first fill",
    ["stage", "path"],
    buckets=(1e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0, 10.0),
)

Emit = Callable[[Effects], None]


def _num(d: Decimal) -> str:
    """Plain notation, no trailing zeros: 0.0090 -> "0.009", 1E+1 -> "10" (extra decimals are -1111)."""
    return format(d.normalize(), "f")


def order_params(rec: OrderRecord) -> dict[str, Any]:
    """The wire parameters of a new order (exact decimal strings)."""
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
    return p


class Executor:
    """Sends actions and feeds the answers back to the OMS."""

    def __init__(self, venue: Venue, oms: Oms, caps: Caps, emit: Emit, path: str) -> None:
        self.venue = venue
        self.oms = oms
        self.caps = caps
        self.emit = emit
        self.path = path
        self.target_to_ack_ns: deque[int] = deque(maxlen=100_000)
        self.stages_ns: dict[str, deque[int]] = {
            s: deque(maxlen=100_000) for s in ("target_to_sent", "sent_to_ack")
        }

    async def run(self, action: Action, exposures: dict[str, Exposure], target_ns: int = 0) -> None:
        match action:
            case CancelOrders():
                await self.cancel(action.symbol, list(action.items))
            case PlaceOrders():
                await self._place(action, exposures, target_ns)
            case ModifyOrders():
                await self._modify(action, exposures)

    # ---- place -------------------------------------------------------------------------------

    async def _place(self, action: PlaceOrders, exposures: dict[str, Exposure], target_ns: int) -> None:
        now = time.time_ns()
        recs = []
        for item in action.items:
            why = self.caps.check_place(item, exposures, now)
            if why:
                CAP_REFUSED.labels(item.symbol, why).inc()
                log.warning("cap_refused", symbol=item.symbol, reason=why, side=item.side, qty=str(item.qty))
                continue
            rec, eff = self.oms.submit(item, now, target_ns)
            self.emit(eff)
            recs.append(rec)
        if len(recs) == 1:
            await self._one_place(recs[0])
        elif recs:
            await self._batch_place(recs)

    async def place_one(self, order: NewOrder) -> OrderRecord:
        """Place one order outside a plan (flatten, reduce); returns its record."""
        now = time.time_ns()
        rec, eff = self.oms.submit(order, now)
        self.emit(eff)
        await self._one_place(rec)
        return rec

    async def _one_place(self, rec: OrderRecord) -> None:
        PLACED.labels(rec.symbol, rec.side).inc()
        try:
            answer = await self.venue.place(order_params(rec))
        except BinanceError as exc:
            self._failed(rec.client_id, rec.symbol, "place", exc)
            return
        self.emit(self.oms.on_answer(rec.client_id, "place", answer, time.time_ns()))
        self._observe(rec)

    async def _batch_place(self, recs: list[OrderRecord]) -> None:
        for r in recs:
            PLACED.labels(r.symbol, r.side).inc()
        try:
            answers = await self.venue.place_batch([order_params(r) for r in recs])
        except BinanceError as exc:
            for r in recs:
                self._failed(r.client_id, r.symbol, "place", exc)
            return
        now = time.time_ns()
        for rec, ans in zip(recs, answers, strict=False):
            self._item(rec.client_id, rec.symbol, "place", ans, now)
            self._observe(rec)

    # ---- modify ------------------------------------------------------------------------------

    async def _modify(self, action: ModifyOrders, exposures: dict[str, Exposure]) -> None:
        now = time.time_ns()
        items: list[Amend] = []
        for a in action.items:
            rec = self.oms.orders.get(a.client_id)
            if rec is None:
                continue
            why = self.caps.check_modify(a, rec.filled, rec.open_qty, exposures, now)
            if why:
                CAP_REFUSED.labels(a.symbol, why).inc()
                continue
            self.emit(self.oms.request_modify(a.client_id, a.price, a.qty, now))
            items.append(a)
        await asyncio.gather(*(self._one_modify(a) for a in items))

    async def _one_modify(self, a: Amend) -> None:
        MODIFIED.labels(a.symbol).inc()
        params = {
            "symbol": a.symbol,
            "origClientOrderId": a.client_id,
            "side": a.side,
            "quantity": _num(a.qty),
            "price": _num(a.price),
        }
        try:
            answer = await self.venue.modify(params)
        except BinanceError as exc:
            self._failed(a.client_id, a.symbol, "modify", exc)
            return
        self.emit(self.oms.on_answer(a.client_id, "modify", answer, time.time_ns()))

    # ---- cancel ------------------------------------------------------------------------------

    async def cancel(self, symbol: str, cids: list[str]) -> None:
        now = time.time_ns()
        for cid in cids:
            self.emit(self.oms.request_cancel(cid, now))
        CANCELED.labels(symbol).inc(len(cids))
        if len(cids) == 1:
            try:
                answer = await self.venue.cancel(symbol, cids[0])
            except BinanceError as exc:
                self._failed(cids[0], symbol, "cancel", exc)
                return
            self.emit(self.oms.on_answer(cids[0], "cancel", answer, time.time_ns()))
            return
        try:
            answers = await self.venue.cancel_batch(symbol, cids)
        except BinanceError as exc:
            for cid in cids:
                self._failed(cid, symbol, "cancel", exc)
            return
        now = time.time_ns()
        for cid, ans in zip(cids, answers, strict=False):
            self._item(cid, symbol, "cancel", ans, now)

    # ---- answers -----------------------------------------------------------------------------

    def _item(self, cid: str, symbol: str, kind: Any, ans: Any, now: int) -> None:
        """One item of a batch answer: an order object or ``{"code", "msg"}``."""
        if isinstance(ans, dict) and "code" in ans and "orderId" not in ans:
            REJECTED.labels(symbol, str(ans["code"])).inc()
            self.emit(self.oms.on_reject(cid, kind, int(ans["code"]), str(ans.get("msg", "")), now))
        else:
            self.emit(self.oms.on_answer(cid, kind, ans, now))

    def _failed(self, cid: str, symbol: str, kind: Any, exc: BinanceError) -> None:
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
        self.emit(self.oms.on_error(cid, kind, exc, time.time_ns()))

    def _observe(self, rec: OrderRecord) -> None:
        lat = rec.latency_ns()
        for stage in ("target_to_sent", "sent_to_ack"):
            if stage in lat:
                LATENCY.labels(stage, self.path).observe(lat[stage] / 1e9)
                self.stages_ns[stage].append(lat[stage])
        if "target_to_sent" in lat and "sent_to_ack" in lat:
            self.target_to_ack_ns.append(lat["target_to_sent"] + lat["sent_to_ack"])

    async def resolve_unknowns(self) -> int:
        """Query every order whose outcome is unknown by client id and settle it."""
        pending = self.oms.unresolved()
        for rec in pending:
            try:
                answer: Any = await self.venue.status(rec.symbol, rec.client_id)
            except UnknownOrder:
                answer = None
            except BinanceError as exc:
                log.warning("resolve_failed", client_id=rec.client_id, error=str(exc)[:200])
                continue
            self.emit(self.oms.resolve(rec.client_id, answer, time.time_ns()))
        return len(pending)
