"""The OMS's book: every order record, fills exactly once, positions, and what each input changed.

:class:`Oms` is the one object the gateway shell feeds. Each call takes the caller's clock
(``now``, ns), mutates the book and returns :class:`Effects`: the ``OrderUpdate``s (one per change
of an order's published view), ``Fill``s, ``Position``s to publish, position drifts against the
venue, and anomalies to count and log. It never raises on venue input.

Fills are deduplicated on (symbol, trade id, side) across ``ORDER_TRADE_UPDATE``, ``TRADE_LITE``
and REST ``userTrades`` replays; the side is in the key because a self-trade gives both of our
orders the same trade id. ``TRADE_LITE`` carries no fee, realized PnL or cumulative size, so by
default it only advances the order (filled size, first-fill time) and the ``Fill`` waits for
``ORDER_TRADE_UPDATE`` or a ``userTrades`` replay (``fills_from_trade_lite`` changes that).

Positions follow our fills (Binance's average entry: a fill that adds re-averages, one that reduces
keeps the entry, a flip starts at the fill price) and are overwritten by the venue's figure from
``ACCOUNT_UPDATE`` or ``positionRisk``, which is the truth; a fill at or before the venue figure's
time is already in it, and a venue figure older than our last fill is stale and skipped.

The OMS is the one owner of what may be live at the venue: every record that is not final —
working, in flight, pending cancel or modify, or of unknown outcome — is in the per-symbol live
index that :meth:`Oms.exposure` sums, so every cap and worst case counts the same orders, and an
order counts from the moment it is submitted (before its request is even sent).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, NamedTuple, TypeVar

import msgspec

from common.binance.errors import BinanceError, OutcomeUnknown
from common.binance.trading import PositionRisk, UserTrade, VenueOrder, convert
from common.binance.user import AccountUpdate, OrderData, OrderTradeUpdate, TradeLite
from common.messages import Fill, OrderUpdate, Position, Side
from common.messages.base import NS_PER_MS, NS_PER_S
from common.params.gateway import OmsParams
from services.gateway import orders
from services.gateway.caps import Exposure
from services.gateway.client_ids import ClientIds
from services.gateway.orders import NewOrder, OrderRecord, RequestKind

ZERO = Decimal(0)


class Anomaly(NamedTuple):
    """Something that should not happen, ignored: ``kind`` is a short event name."""

    kind: str
    client_id: str = ""
    detail: str = ""


class PositionDrift(NamedTuple):
    """Our position from fills against the venue's, when they differ beyond the tolerance."""

    symbol: str
    local: Decimal
    venue: Decimal


@dataclass(slots=True)
class Effects:
    """What one input changed; the shell publishes fills, then updates, then positions."""

    updates: list[OrderUpdate] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    drifts: list[PositionDrift] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)

    def merge(self, other: Effects) -> Effects:
        self.updates += other.updates
        self.fills += other.fills
        self.positions += other.positions
        self.drifts += other.drifts
        self.anomalies += other.anomalies
        return self


@dataclass(slots=True)
class PositionBook:
    """One symbol's one-way position as we track it."""

    symbol: str
    qty: Decimal = ZERO
    entry: Decimal = ZERO
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    unrealized: Decimal = ZERO
    mark: Decimal = ZERO
    last_fill_ms: int = 0
    venue_ms: int = 0
    as_of_ms: int = 0  # when the venue's last figure was made (it holds every fill up to then)

    def apply_fill(self, signed_qty: Decimal, price: Decimal, ts_ms: int) -> None:
        """Move the position by one fill, unless the venue's last figure already includes it."""
        if ts_ms and ts_ms <= self.venue_ms:
            return
        q, new_q = self.qty, self.qty + signed_qty
        if q and (q > 0) != (signed_qty > 0):
            if new_q == 0:
                self.entry = ZERO
            elif (new_q > 0) != (q > 0):
                self.entry = price  # flipped: the rest opens at this price
        elif new_q:
            self.entry = (self.entry * abs(q) + price * abs(signed_qty)) / abs(new_q)
        self.qty = new_q
        self.last_fill_ms = max(self.last_fill_ms, ts_ms)

    def message(self, now: int) -> Position:
        return Position(
            symbol=self.symbol,
            qty=self.qty,
            entry_price=self.entry,
            unrealized_pnl=self.unrealized,
            mark_price=self.mark,
            realized_pnl=self.realized,
            fees=self.fees,
            fills_through_ms=self.venue_ms,
            ts_event=now,
            ts_init=now,
        )


K = TypeVar("K", bound=Hashable)


class _Bounded(Generic[K]):
    """A set that forgets its oldest members beyond ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._set: set[K] = set()
        self._order: deque[K] = deque()

    def __contains__(self, key: object) -> bool:
        return key in self._set

    def keys(self) -> list[K]:
        return list(self._order)

    def drop(self, gone: Callable[[K], bool]) -> int:
        """Forget every member ``gone`` says; how many."""
        before = len(self._order)
        self._order = deque(k for k in self._order if not gone(k))
        self._set = set(self._order)
        return before - len(self._order)

    def add(self, key: K) -> None:
        if key in self._set:
            return
        self._set.add(key)
        self._order.append(key)
        if len(self._order) > self.size:
            self._set.discard(self._order.popleft())


class Oms:
    """Orders by client id, fills once, positions per symbol."""

    def __init__(self, ids: ClientIds, params: OmsParams | None = None) -> None:
        self.ids = ids
        self.params = params or OmsParams()
        self.orders: dict[str, OrderRecord] = {}
        self.positions: dict[str, PositionBook] = {}
        self._live: dict[str, dict[str, OrderRecord]] = {}
        self._unbooked: dict[str, dict[str, OrderRecord]] = {}
        self._by_venue: dict[tuple[str, int], str] = {}
        self._seen: _Bounded[tuple[str, int, str]] = _Bounded(self.params.seen_trades_max)
        self._retired: _Bounded[str] = _Bounded(self.params.retired_ids_max)
        self._horizon_ns = int(self.params.unknown_horizon_s * NS_PER_S)
        self.base_assets: dict[str, str] = {}
        """Spot symbols' base assets: a commission paid in it comes out of what a buy adds."""

    # ---- the order path -------------------------------------------------------------------------

    def _step(self, rec: OrderRecord, now: int, fn: Callable[[], list[str]], ts_event: int = 0) -> Effects:
        """Run one transition; an ``OrderUpdate`` if the published view changed."""
        before = rec.view()
        eff = Effects(anomalies=[Anomaly(a, rec.client_id) for a in fn()])
        return self._emit(rec, before, now, eff, ts_event)

    def _emit(
        self, rec: OrderRecord, before: tuple[object, ...], now: int, eff: Effects, ts: int = 0
    ) -> Effects:
        """Add the ``OrderUpdate`` to ``eff`` when ``rec``'s published view differs from ``before``."""
        if rec.venue_id:
            self._by_venue[(rec.symbol, rec.venue_id)] = rec.client_id
        self._index(rec)
        if rec.view() != before:
            rec.ts_update_ns = now
            eff.updates.append(rec.update(now, ts))
        return eff

    def _get(self, cid: str) -> OrderRecord | None:
        return self.orders.get(cid)

    def _index(self, rec: OrderRecord) -> None:
        """Keep the live index equal to "every record that is not final"."""
        live = self._live.setdefault(rec.symbol, {})
        if rec.final:
            live.pop(rec.client_id, None)
        else:
            live[rec.client_id] = rec
        unbooked = self._unbooked.setdefault(rec.symbol, {})
        if rec.unbooked:
            pos = self.positions.get(rec.symbol)
            if pos is not None and rec.unbooked_ms and rec.unbooked_ms <= pos.as_of_ms:
                orders.book_all(rec, pos.as_of_ms)  # the venue's last position figure includes it
        if rec.unbooked:
            unbooked[rec.client_id] = rec
        else:
            unbooked.pop(rec.client_id, None)

    def submit(self, order: NewOrder, now: int, target_ns: int = 0) -> tuple[OrderRecord, Effects]:
        """A new order about to be sent: its record (PendingNew) with a fresh client id."""
        cid = self.ids.next(order.symbol, order.side, order.layer)
        rec = OrderRecord(
            client_id=cid,
            symbol=order.symbol,
            side=order.side,
            price=order.price,
            qty=order.qty,
            layer=order.layer,
            tif=order.tif,
            reduce_only=order.reduce_only,
            order_type=order.order_type,
            target_id=order.target_id,
            inflight={"place"},
            ts_target_ns=target_ns,
            ts_sent_ns=now,
            ts_update_ns=now,
        )
        self.orders[cid] = rec
        self._index(rec)
        return rec, Effects(updates=[rec.update(now)])

    def request_cancel(self, cid: str, now: int) -> Effects:
        """A cancel of ``cid`` about to be sent (single, batch or part of a kill)."""
        rec = self._get(cid)
        if rec is None:
            return Effects(anomalies=[Anomaly("cancel_of_unknown_order", cid)])
        return self._step(rec, now, lambda: orders.request_cancel(rec, now))

    def request_modify(self, cid: str, price: Decimal, qty: Decimal, now: int) -> Effects:
        """A modify of ``cid`` to ``price`` and total size ``qty`` about to be sent."""
        rec = self._get(cid)
        if rec is None:
            return Effects(anomalies=[Anomaly("modify_of_unknown_order", cid)])
        return self._step(rec, now, lambda: orders.request_modify(rec, price, qty, now))

    def on_answer(self, cid: str, kind: RequestKind, answer: VenueOrder | Any, now: int) -> Effects:
        """The venue's success answer to a place, modify or cancel (its order object).

        An answer that is not a valid order object says the request reached the venue but not
        what it did: the outcome is unknown and a query settles it.
        """
        rec = self._get(cid)
        if rec is None:
            return Effects(anomalies=[Anomaly("answer_for_unknown_order", cid)])
        try:
            vo = convert(answer, VenueOrder)
        except msgspec.ValidationError as exc:
            eff = self.on_unknown(cid, kind, now)
            eff.anomalies.append(Anomaly("malformed_answer", cid, str(exc)[:200]))
            return eff
        return self._step(rec, now, lambda: orders.on_answer(rec, kind, vo, now))

    def on_reject(self, cid: str, kind: RequestKind, code: int, msg: str, now: int) -> Effects:
        """The venue refused the request (or its batch item) with ``code``: nothing happened."""
        rec = self._get(cid)
        if rec is None:
            return Effects(anomalies=[Anomaly("reject_for_unknown_order", cid, str(code))])
        return self._step(rec, now, lambda: orders.on_reject(rec, kind, code, msg, now))

    def on_unknown(self, cid: str, kind: RequestKind, now: int) -> Effects:
        """The request's outcome is unknown (timeout, 503, -1006/-1007): query before anything else."""
        rec = self._get(cid)
        if rec is None:
            return Effects(anomalies=[Anomaly("unknown_outcome_for_unknown_order", cid)])
        return self._step(rec, now, lambda: orders.on_unknown(rec, kind, now))

    def on_error(self, cid: str, kind: RequestKind, exc: BinanceError, now: int) -> Effects:
        """Route an exception of :mod:`common.binance.errors` to ``on_unknown`` or ``on_reject``."""
        if isinstance(exc, OutcomeUnknown):
            return self.on_unknown(cid, kind, now)
        return self.on_reject(cid, kind, exc.code, exc.msg, now)

    def resolve(self, cid: str, answer: VenueOrder | Any | None, now: int) -> Effects:
        """The answer of a query by client id; None when the venue has no such order (-2013).

        "No such order" for a place that may still land keeps it unknown (see
        :func:`services.gateway.orders.resolve`); a malformed answer settles nothing.
        """
        rec = self._get(cid)
        if rec is None:
            return Effects(anomalies=[Anomaly("resolve_of_unknown_order", cid)])
        try:
            vo = None if answer is None else convert(answer, VenueOrder)
        except msgspec.ValidationError as exc:
            return Effects(anomalies=[Anomaly("malformed_answer", cid, str(exc)[:200])])
        return self._step(rec, now, lambda: orders.resolve(rec, vo, now, self._horizon_ns))

    def cancel_all_accepted(self, symbol: str, sent_ns: int, now: int) -> Effects:
        """The venue accepted a cancel-all of ``symbol`` sent at ``sent_ns``.

        Every order it acknowledged before then is PendingCancel until its CANCELED event; an
        order still unacknowledged may have landed after the cancel-all and stays as it is.
        """
        eff = Effects()
        for rec in list(self._live.get(symbol, {}).values()):
            if rec.acknowledged and rec.ts_ack_ns <= sent_ns:
                before = rec.view()
                eff.anomalies += [Anomaly(a, rec.client_id) for a in orders.cancel_all_accepted(rec, now)]
                self._emit(rec, before, now, eff)
        return eff

    def adopt(self, answer: VenueOrder | Any, now: int) -> Effects:
        """An open order found on the venue (``openOrders``), ours or not; revives an inferred final."""
        try:
            vo = convert(answer, VenueOrder)
        except msgspec.ValidationError as exc:
            return Effects(anomalies=[Anomaly("malformed_answer", "", str(exc)[:200])])
        rec = self._get(vo.clientOrderId)
        if rec is None:
            side: Side = "BUY" if vo.side == "BUY" else "SELL"
            rec = self._new_record(vo.clientOrderId, vo.symbol, side, vo.price, vo.origQty, now)
            rec.tif, rec.reduce_only, rec.order_type = vo.timeInForce, vo.reduceOnly, vo.type
        return self._step(rec, now, lambda: orders.apply_snapshot(rec, vo, now, take_terms=True))

    def _new_record(
        self, cid: str, symbol: str, side: Side, price: Decimal, qty: Decimal, now: int
    ) -> OrderRecord:
        parsed = self.ids.parse(cid)
        rec = OrderRecord(
            client_id=cid,
            symbol=symbol,
            side=side,
            price=price,
            qty=qty,
            layer=parsed.layer if parsed else -1,
            owned=parsed is not None,
            ts_update_ns=now,
        )
        self.orders[cid] = rec
        self._index(rec)
        return rec

    # ---- the user stream ------------------------------------------------------------------------

    def on_order_trade_update(self, ev: OrderTradeUpdate, now: int) -> Effects:
        """One ``ORDER_TRADE_UPDATE``; an order we do not know yet is adopted."""
        o = ev.o
        eff = Effects()
        rec = self._get(o.c)
        if rec is None and o.c not in self._retired:
            rec = self._adopt_event(o, now)
            eff.anomalies.append(Anomaly("adopted" if rec.owned else "adopted_foreign", o.c))
        if rec is None:  # a late event of a pruned order: its fill still counts
            if o.x in ("TRADE", "CALCULATED"):
                eff.merge(self._trade_from_event(o, None, now))
            return eff
        before = rec.view()
        if o.x in ("TRADE", "CALCULATED"):
            eff.merge(self._trade_from_event(o, rec, now))
        eff.anomalies += [Anomaly(a, rec.client_id) for a in orders.on_event(rec, o, now)]
        return self._emit(rec, before, now, eff, ev.E * NS_PER_MS)

    def _adopt_event(self, o: OrderData, now: int) -> OrderRecord:
        side: Side = "BUY" if o.S == "BUY" else "SELL"
        rec = self._new_record(o.c, o.s, side, o.p, o.q, now)
        rec.tif, rec.reduce_only, rec.order_type = o.f, o.R, o.o
        return rec

    def _trade_from_event(self, o: OrderData, rec: OrderRecord | None, now: int) -> Effects:
        qty = o.l
        if qty <= 0:
            return Effects()
        return self._trade(
            rec,
            Fill(
                symbol=o.s,
                trade_id=o.t,
                client_order_id=o.c,
                venue_order_id=o.i,
                side="BUY" if o.S == "BUY" else "SELL",
                price=o.L,
                qty=qty,
                fee=o.n if o.N else ZERO,
                fee_asset=o.N,
                realized_pnl=o.rp,
                is_maker=o.m,
                layer=rec.layer if rec else -1,
                ts_event=o.T * NS_PER_MS,
                ts_init=now,
            ),
            now,
        )

    def _trade(self, rec: OrderRecord | None, fill: Fill, now: int, publish: bool = True) -> Effects:
        """Count one trade into its order, and publish it and move the position the first time."""
        if not fill.trade_id:
            return Effects(anomalies=[Anomaly("trade_without_id", fill.client_order_id)])
        if rec is not None:
            orders.count_trade(rec, fill.trade_id, fill.qty, fill.price, now)
        if not publish:
            return Effects()  # in the order's size now; in the position once published
        if rec is not None:
            rec.booked[fill.trade_id] = fill.qty
        key = (fill.symbol, fill.trade_id, fill.side)
        if key in self._seen:
            return Effects()
        self._seen.add(key)
        pos = self._position(fill.symbol)
        signed = fill.qty if fill.side == "BUY" else -fill.qty
        if fill.fee_asset and fill.fee_asset == self.base_assets.get(fill.symbol):
            signed -= fill.fee  # spot: the base commission is taken from the base received
        pos.apply_fill(signed, fill.price, fill.ts_event // NS_PER_MS)
        pos.realized += fill.realized_pnl
        pos.fees += fill.fee
        return Effects(fills=[fill], positions=[pos.message(now)])

    def remember_fills(self, fills: Iterable[Fill]) -> None:
        """Fills already published by an earlier session (from the recorder): a replay skips them."""
        self.remember((f.symbol, f.trade_id, f.side) for f in fills)

    def remember(self, keys: Iterable[tuple[str, int, str]]) -> None:
        """Fills already published, by (symbol, trade id, side): a replay skips them."""
        for k in keys:
            self._seen.add(k)

    def forget_fills_above(self, symbol: str, trade_id: int) -> int:
        """Forget the published fills of ``symbol`` above ``trade_id``: trade ids of another
        incarnation of the venue, which its own trades may reach again; how many."""
        return self._seen.drop(lambda k: k[0] == symbol and k[1] > trade_id)

    def published(self) -> list[tuple[str, int, str]]:
        """Every fill this OMS published or was told of, as (symbol, trade id, side), oldest first
        (the newest ``seen_trades_max``)."""
        return self._seen.keys()

    def on_trade_lite(self, ev: TradeLite, now: int) -> Effects:
        """``TRADE_LITE``: the fastest news of a fill (no fee, no realized PnL, no cumulative size)."""
        rec = self._get(ev.c)
        fill = Fill(
            symbol=ev.s,
            trade_id=ev.t,
            client_order_id=ev.c,
            venue_order_id=ev.i,
            side="BUY" if ev.S == "BUY" else "SELL",
            price=ev.L,
            qty=ev.l,
            fee=ZERO,
            fee_asset="",
            realized_pnl=ZERO,
            is_maker=ev.m,
            layer=rec.layer if rec else -1,
            ts_event=ev.T * NS_PER_MS,
            ts_init=now,
        )
        return self._trade_of_order(rec, fill, now, self.params.fills_from_trade_lite)

    def on_user_trade(self, trade: UserTrade | Any, now: int) -> Effects:
        """One row of a REST ``userTrades`` replay (after a reconnect or at start-up)."""
        try:
            tr = convert(trade, UserTrade)
        except msgspec.ValidationError as exc:
            return Effects(anomalies=[Anomaly("malformed_user_trade", "", str(exc)[:200])])
        cid = self._by_venue.get((tr.symbol, tr.orderId), "")
        rec = self._get(cid)
        fill = Fill(
            symbol=tr.symbol,
            trade_id=tr.id,
            client_order_id=cid,
            venue_order_id=tr.orderId,
            side="BUY" if tr.side == "BUY" else "SELL",
            price=tr.price,
            qty=tr.qty,
            fee=tr.commission,
            fee_asset=tr.commissionAsset,
            realized_pnl=tr.realizedPnl,
            is_maker=tr.maker,
            layer=rec.layer if rec else -1,
            ts_event=tr.time * NS_PER_MS,
            ts_init=now,
        )
        return self._trade_of_order(rec, fill, now)

    def _trade_of_order(self, rec: OrderRecord | None, fill: Fill, now: int, publish: bool = True) -> Effects:
        if rec is None:
            return self._trade(None, fill, now, publish)
        before = rec.view()
        rec.venue_id = rec.venue_id or fill.venue_order_id
        return self._emit(rec, before, now, self._trade(rec, fill, now, publish), fill.ts_event)

    # ---- positions from the venue -----------------------------------------------------------------

    def _position(self, symbol: str) -> PositionBook:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = PositionBook(symbol)
        return pos

    def venue_position(
        self,
        symbol: str,
        qty: Decimal,
        entry: Decimal,
        update_ms: int,
        now: int,
        unrealized: Decimal = ZERO,
        as_of_ms: int = 0,
    ) -> Effects:
        """The venue's figure for one symbol overwrites ours unless older than our last fill.

        ``update_ms`` is when the position last changed; ``as_of_ms`` when the figure was made (the
        request's time for positionRisk, the event time of ACCOUNT_UPDATE): it includes every fill
        the venue had reported by then, so fills we learned of only from an order's totals are
        booked by it.
        """
        pos = self._position(symbol)
        if update_ms and update_ms < pos.last_fill_ms:
            return Effects(anomalies=[Anomaly("stale_venue_position", "", symbol)])
        eff = Effects()
        if abs(pos.qty - qty) > self.params.position_drift_tolerance:
            eff.drifts.append(PositionDrift(symbol, pos.qty, qty))
        changed = (pos.qty, pos.entry, pos.unrealized) != (qty, entry, unrealized)
        pos.qty, pos.entry, pos.unrealized = qty, entry, unrealized
        pos.venue_ms = max(pos.venue_ms, update_ms)
        pos.as_of_ms = max(pos.as_of_ms, as_of_ms or update_ms)
        for rec in list(self._unbooked.get(symbol, {}).values()):
            orders.book_all(rec, pos.as_of_ms)
            self._index(rec)
        if changed:
            eff.positions.append(pos.message(now))
        return eff

    def on_user_event(self, ev: object, now: int) -> Effects:
        """One decoded user-data event: order updates, trade lites and account updates change the
        OMS; any other event (a listenKey expiry, a margin call) changes nothing here."""
        match ev:
            case OrderTradeUpdate():
                return self.on_order_trade_update(ev, now)
            case TradeLite():
                return self.on_trade_lite(ev, now)
            case AccountUpdate():
                return self.on_account_update(ev, now)
        return Effects()

    def on_account_update(self, ev: AccountUpdate, now: int) -> Effects:
        """``ACCOUNT_UPDATE``: each changed position (one-way mode) is the venue's truth."""
        eff = Effects()
        for p in ev.a.P:
            if p.ps != "BOTH":
                eff.anomalies.append(Anomaly("hedge_mode_position", "", p.s))
                continue
            eff.merge(self.venue_position(p.s, p.pa, p.ep, ev.T, now, p.up, as_of_ms=ev.E))
        return eff

    def on_position_risk(self, row: PositionRisk | Any, now: int, asked_ms: int = 0) -> Effects:
        """One row of ``positionRisk`` asked for at ``asked_ms`` (venue clock)."""
        try:
            pr = convert(row, PositionRisk)
        except msgspec.ValidationError as exc:
            return Effects(anomalies=[Anomaly("malformed_position", "", str(exc)[:200])])
        if pr.positionSide != "BOTH":
            return Effects(anomalies=[Anomaly("hedge_mode_position", "", pr.symbol)])
        self._position(pr.symbol).mark = pr.markPrice
        return self.venue_position(
            pr.symbol, pr.positionAmt, pr.entryPrice, pr.updateTime, now, pr.unRealizedProfit, asked_ms
        )

    # ---- views ----------------------------------------------------------------------------------

    def working(self, symbol: str) -> list[OrderRecord]:
        """The symbol's orders that may be live at the venue (ours and foreign): every record that
        is not final, for reconciliation, caps and the kill switch."""
        return list(self._live.get(symbol, {}).values())

    def live_symbols(self) -> list[str]:
        """Symbols with at least one order that may be live."""
        return [s for s, live in self._live.items() if live]

    def unresolved(self, now: int) -> list[OrderRecord]:
        """Orders with a request of unknown outcome due for a query: query each by client id, then
        ``resolve`` (an order the venue does not know yet is asked again after a back-off)."""
        return [
            r for live in self._live.values() for r in live.values() if r.unknown and r.ts_query_ns <= now
        ]

    def exposure(self, symbol: str, price: Decimal = ZERO) -> Exposure:
        """Position and worst-case open size per side over every order that may be live; ``price``
        is the reference (mark/mid)."""
        work = self._live.get(symbol, {}).values()
        pos = self._position(symbol)
        ref = price or pos.mark or pos.entry or max((r.price for r in work), default=ZERO)
        # Fills the venue reported that no published fill booked yet may or may not be in the
        # position figure already: each side counts them against itself until a venue figure made
        # after them settles it (right either way, never short on the side that matters).
        buy = sell = reduce_buy = reduce_sell = ZERO
        for r in self._unbooked.get(symbol, {}).values():
            if r.side == "BUY":
                buy += r.unbooked
            else:
                sell += r.unbooked
        for r in work:
            q = r.worst_open_qty
            if r.side == "BUY":
                buy += q
                reduce_buy += q if r.reduce_only else ZERO
            else:
                sell += q
                reduce_sell += q if r.reduce_only else ZERO
        return Exposure(
            symbol=symbol,
            position=pos.qty,
            resting_buy=buy,
            resting_sell=sell,
            reducing_buy=reduce_buy,
            reducing_sell=reduce_sell,
            price=ref,
        )

    def exposures(self, prices: Mapping[str, Decimal], also: str = "") -> dict[str, Exposure]:
        """Every symbol with a position, an order that may be live or fills not booked yet (and
        ``also``, the symbol being checked), for the caps."""
        symbols = {s for s, p in self.positions.items() if p.qty} | set(self.live_symbols())
        symbols |= {s for s, recs in self._unbooked.items() if recs}
        if also:
            symbols.add(also)
        return {s: self.exposure(s, prices.get(s, ZERO)) for s in symbols}

    def unconfirmed_cancels(self, symbol: str, now: int, after_ns: int) -> list[OrderRecord]:
        """Orders whose cancel was accepted or sent more than ``after_ns`` ago with no answer in
        flight and no CANCELED event yet: the venue may still hold them."""
        return [
            r
            for r in self._live.get(symbol, {}).values()
            if r.intent == "cancel" and "cancel" not in r.inflight and now - r.ts_cancel_ns > after_ns
        ]

    def snapshot(self, now: int, symbols: Iterable[str] | None = None) -> Effects:
        """Every open order and every position as messages (for ``GetSnapshot``)."""
        want = None if symbols is None else set(symbols)
        return Effects(
            updates=[
                r.update(now)
                for r in self.orders.values()
                if not r.final and (want is None or r.symbol in want)
            ],
            positions=[p.message(now) for s, p in self.positions.items() if want is None or s in want],
        )

    def prune(self, now: int) -> int:
        """Forget final orders older than ``keep_finished_s``; their ids are remembered as retired."""
        horizon = now - int(self.params.keep_finished_s * 1e9)
        old = [r for r in self.orders.values() if r.final and r.ts_done_ns <= horizon]
        for r in old:
            del self.orders[r.client_id]
            self._by_venue.pop((r.symbol, r.venue_id), None)
            self._retired.add(r.client_id)
        return len(old)
