"""Keeping the OMS equal to the venue: at start-up, after a user-stream gap, and every few seconds.

* Open orders: the venue's list against the OMS's. An order the OMS does not know (or thought
  final) is adopted (ours, by client-id prefix) or canceled (someone else's, per
  ``foreign_orders``). An order the OMS thinks open that the venue did not list, and that was
  acknowledged before the listing was asked for, is queried by client id and settled; pending
  cancels and modifies are checked too, and a cancel the venue has not confirmed within
  ``cancel_confirm_s`` is sent again. Only a request still in flight is left to its answer.
* Positions: ``positionRisk`` overwrites the OMS's positions (the venue is the truth). A symbol the
  venue omits (no position, no open order) is flat as of the moment the request left.
* Trades: ``userTrades`` from the contiguous watermark — every trade id at or below it is known —
  paged until caught up, through the OMS's exactly-once filter. Fills seen on the user stream do not
  move the watermark, so a fill that streams in after a gap never hides one the gap lost.
Every repair is counted (``mm_gateway_repairs_total``) and logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
from prometheus_client import Counter

from common.binance.errors import BinanceError, UnknownOrder
from common.binance.trading import VenueOrder, convert
from common.logging import log
from common.messages.base import NS_PER_S
from services.gateway.executor import Emit, Executor
from services.gateway.oms import Effects, Oms
from services.gateway.venue import VenuePort

REPAIRS = Counter("mm_gateway_repairs_total", "Differences between the OMS and the venue, repaired", ["kind"])
BAD_ROWS = Counter("mm_gateway_bad_venue_rows_total", "Venue rows that failed to decode", ["endpoint"])
PAGE = 1000


class VenueSync:
    """Compares and repairs; one instance per gateway. ``trade_mark[symbol]`` is the watermark."""

    def __init__(
        self,
        venue: VenuePort,
        oms: Oms,
        executor: Executor,
        emit: Emit,
        foreign: str,
        on_repair: Callable[[str, str, str], None],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.clock = clock
        self.venue = venue
        self.oms = oms
        self.ex = executor
        self.emit = emit
        self.foreign = foreign
        self.on_repair = on_repair
        self.trade_mark: dict[str, int] = {}
        self._confirm_ns = int(oms.params.cancel_confirm_s * NS_PER_S)

    def _repair(self, kind: str, symbol: str, detail: str) -> None:
        REPAIRS.labels(kind).inc()
        log.warning("oms_repair", kind=kind, symbol=symbol, detail=detail)
        self.on_repair(kind, symbol, detail)

    async def orders(self, symbol: str, startup: bool = False, urgent: bool = False) -> None:
        """Compare and repair one symbol's open orders (``urgent``: the kill's listing, which may use
        the weight kept in reserve)."""
        asked_ns = self.clock()
        rows = self._valid(await self.venue.open_orders(symbol, urgent), "openOrders")
        now = self.clock()
        at_venue = {vo.clientOrderId for vo in rows}
        for vo in rows:
            rec = self.oms.orders.get(vo.clientOrderId)
            if rec is not None and not rec.final:
                continue
            self.emit(self.oms.adopt(vo, now))
            ours = self.oms.ids.is_ours(vo.clientOrderId)
            if rec is not None:
                self._repair("final_order_open_at_venue", symbol, vo.clientOrderId)
            elif not startup or not ours:
                self._repair("unknown_open_order" if ours else "foreign_order", symbol, vo.clientOrderId)
            if not ours and self.foreign == "cancel":
                await self.ex.cancel(symbol, [vo.clientOrderId])
        stale_cancels = []
        for rec in self.oms.working(symbol):
            if rec.client_id in at_venue:
                if rec in self.oms.unconfirmed_cancels(symbol, now, self._confirm_ns):
                    stale_cancels.append(rec.client_id)
                continue
            if rec.inflight or rec.unknown or not rec.acknowledged or rec.ts_ack_ns > asked_ns:
                continue  # an answer is coming, the resolver has it, or it is newer than the listing
            self._repair("order_not_at_venue", symbol, rec.client_id)
            await self._settle(symbol, rec.client_id)
        if stale_cancels:
            self._repair("cancel_not_confirmed", symbol, ",".join(stale_cancels[:10]))
            await self.ex.cancel(symbol, stale_cancels)

    @staticmethod
    def _valid(rows: Any, endpoint: str) -> list[VenueOrder]:
        """The rows that decode; each that does not is counted and logged (never fatal)."""
        if not isinstance(rows, list):
            raise BinanceError(f"{endpoint}: expected a list, got {type(rows).__name__}")
        out = []
        for row in rows:
            try:
                out.append(convert(row, VenueOrder))
            except msgspec.ValidationError as exc:
                BAD_ROWS.labels(endpoint).inc()
                log.warning("venue_row_malformed", endpoint=endpoint, error=str(exc)[:200])
        return out

    async def _settle(self, symbol: str, cid: str) -> None:
        try:
            answer: Any = await self.venue.status(symbol, cid)
        except UnknownOrder:
            answer = None
        self.emit(self.oms.resolve(cid, answer, self.clock()))

    async def positions(self, symbols: list[str]) -> None:
        asked_ms = self.venue.rest.now_ms()  # the venue's clock when the request left
        rows = await self.venue.positions()
        if not isinstance(rows, list):
            raise BinanceError(f"positionRisk: expected a list, got {type(rows).__name__}")
        now = self.clock()
        seen = set()
        for row in rows:
            sym = row.get("symbol") if isinstance(row, dict) else None
            if sym in symbols:
                seen.add(sym)
                self._drifts(self.oms.on_position_risk(row, now, asked_ms))
        for sym in symbols:
            if sym not in seen:  # v3 lists only symbols with a position or open orders
                self._drifts(
                    self.oms.venue_position(sym, Decimal(0), Decimal(0), asked_ms, now, as_of_ms=asked_ms)
                )

    def _drifts(self, eff: Effects) -> None:
        for d in eff.drifts:
            self._repair("position_drift", d.symbol, f"local {d.local} venue {d.venue}")
        self.emit(eff)

    async def trades(self, symbol: str) -> int:
        """Every trade above the watermark, page by page; returns how many were new fills.

        With no watermark yet (nothing known of this symbol), the latest trades are read only to
        set it: they are history, not new fills.
        """
        mark = self.trade_mark.get(symbol)
        if mark is None:
            # Binance answers this with the last 7 days only. None there: with no trade ever (asked
            # from id 1) every trade from now on is new (mark 0); with older ones, the mark stays
            # unknown until a trade shows (0 would read that whole history as new fills)
            rows = _rows(await self.venue.user_trades(symbol, None, limit=1))
            if rows:
                self.trade_mark[symbol] = _newest(rows)
            elif not _rows(await self.venue.user_trades(symbol, 1, limit=1)):
                self.trade_mark[symbol] = 0
            return 0
        new = 0
        while True:
            start = mark
            rows = _rows(await self.venue.user_trades(symbol, mark + 1, PAGE))
            now = self.clock()
            for row in rows:
                eff = self.oms.on_user_trade(row, now)
                new += len(eff.fills)
                self.emit(eff)
                tid = row.get("id") if isinstance(row, dict) else None
                if isinstance(tid, int) and not eff.anomalies:
                    mark = max(mark, tid)
            self.trade_mark[symbol] = mark
            if len(rows) < PAGE or mark == start:
                break
        if new:
            self._repair("fills_from_trade_history", symbol, f"{new} fills recovered")
        return new

    def seed(self, marks: dict[str, int]) -> None:
        """Watermarks from an earlier session (the recorder's), where none is known yet."""
        for sym, mark in marks.items():
            self.trade_mark.setdefault(sym, mark)

    async def check_mark(self, symbol: str) -> None:
        """At start-up, against the venue's newest trade: a watermark above it belongs to another
        incarnation of the venue (a testnet reset, a simulated venue started afresh, a store older
        than the venue's), from which no trade would ever be read again. It is dropped, and the
        newest trade sets it anew, as for a symbol never seen (the venue's position is adopted as
        always). Fills remembered as published above that trade come from the same other
        incarnation (this one has not made them yet) and are forgotten: its trades will reuse
        their ids. Binance answers the newest trades of the last 7 days only: with none there
        (an idle symbol), nothing can be told and nothing changes."""
        mark = self.trade_mark.get(symbol)
        if mark is None and not any(k[0] == symbol for k in self.oms.published()):
            return
        rows = _rows(await self.venue.user_trades(symbol, None, limit=1))
        if not rows:
            return
        newest = _newest(rows)
        forgotten = self.oms.forget_fills_above(symbol, newest)
        if mark is not None and newest < mark:
            del self.trade_mark[symbol]
        if forgotten or (mark is not None and newest < mark):
            self._repair(
                "trade_mark_ahead_of_venue",
                symbol,
                f"mark {mark}, venue's newest {newest}, {forgotten} fills forgotten",
            )

    async def full(self, symbols: list[str], startup: bool = False) -> None:
        """Everything, symbol by symbol; one symbol's failure does not stop the others."""
        for sym in symbols:
            try:
                await self.orders(sym, startup)
                if startup:
                    await self.check_mark(sym)
                await self.trades(sym)
            except BinanceError as exc:
                log.warning("venue_sync_failed", symbol=sym, error=str(exc)[:200])
        try:
            await self.positions(symbols)
        except BinanceError as exc:
            log.warning("position_sync_failed", error=str(exc)[:200])


def _rows(rows: Any) -> list[Any]:
    if not isinstance(rows, list):
        raise BinanceError(f"userTrades: expected a list, got {type(rows).__name__}")
    return rows


def _newest(rows: list[Any]) -> int:
    """The highest trade id of a ``userTrades`` page (0: none)."""
    return max((r["id"] for r in rows if isinstance(r, dict) and isinstance(r.get("id"), int)), default=0)
