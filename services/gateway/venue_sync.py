"""Keeping the OMS equal to the venue: at start-up, after a user-stream gap, and every few seconds.

* Open orders: the venue's list against the OMS's. An order the OMS does not know is adopted
  (ours, by client-id prefix) or canceled (someone else's, per ``foreign_orders``); an order the
  OMS thinks open that the venue no longer lists is queried by client id and settled.
* Positions: ``positionRisk`` overwrites the OMS's positions (the venue is the truth).
* Trades: ``userTrades`` since the last trade id seen, through the OMS's exactly-once filter.
Every repair is counted (``mm_gateway_repairs_total``) and logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from prometheus_client import Counter

from common.binance.errors import BinanceError, UnknownOrder
from common.logging import log
from services.gateway.executor import Emit, Executor
from services.gateway.oms import Effects, Oms
from services.gateway.venue import Venue

REPAIRS = Counter("mm_gateway_repairs_total", "Differences between the OMS and the venue, repaired", ["kind"])


class VenueSync:
    """Compares and repairs; one instance per gateway."""

    def __init__(
        self,
        venue: Venue,
        oms: Oms,
        executor: Executor,
        emit: Emit,
        foreign: str,
        on_repair: Callable[[str, str, str], None],
    ) -> None:
        self.venue = venue
        self.oms = oms
        self.ex = executor
        self.emit = emit
        self.foreign = foreign
        self.on_repair = on_repair
        self.last_trade_id: dict[str, int] = {}

    def _repair(self, kind: str, symbol: str, detail: str) -> None:
        REPAIRS.labels(kind).inc()
        log.warning("oms_repair", kind=kind, symbol=symbol, detail=detail)
        self.on_repair(kind, symbol, detail)

    def emit_tracking(self, eff: Effects) -> None:
        for f in eff.fills:
            self.last_trade_id[f.symbol] = max(self.last_trade_id.get(f.symbol, 0), f.trade_id)
        self.emit(eff)

    async def orders(self, symbol: str, startup: bool = False) -> None:
        rows = await self.venue.open_orders(symbol)
        now = time.time_ns()
        at_venue = {r["clientOrderId"] for r in rows}
        for row in rows:
            rec = self.oms.orders.get(row["clientOrderId"])
            if rec is None or rec.final:
                self.emit_tracking(self.oms.adopt(row, now))
                ours = self.oms.ids.is_ours(row["clientOrderId"])
                if not startup or not ours:
                    self._repair(
                        "unknown_open_order" if ours else "foreign_order", symbol, row["clientOrderId"]
                    )
                if not ours and self.foreign == "cancel":
                    await self.ex.cancel(symbol, [row["clientOrderId"]])
        for rec in self.oms.working(symbol):
            if rec.busy or rec.client_id in at_venue or rec.status not in ("New", "PartiallyFilled"):
                continue
            self._repair("order_not_at_venue", symbol, rec.client_id)
            await self._settle(rec.symbol, rec.client_id)

    async def _settle(self, symbol: str, cid: str) -> None:
        try:
            answer: Any = await self.venue.status(symbol, cid)
        except UnknownOrder:
            answer = None
        self.emit_tracking(self.oms.resolve(cid, answer, time.time_ns()))

    async def positions(self, symbols: list[str]) -> None:
        rows = await self.venue.positions()
        now = time.time_ns()
        seen = set()
        for row in rows:
            if row["symbol"] in symbols:
                seen.add(row["symbol"])
                self._drifts(self.oms.on_position_risk(row, now))
        for sym in symbols:
            if sym not in seen:  # v3 lists only symbols with a position or open orders
                self._drifts(
                    self.oms.venue_position(sym, Decimal(0), Decimal(0), int(time.time() * 1000), now)
                )

    def _drifts(self, eff: Effects) -> None:
        for d in eff.drifts:
            self._repair("position_drift", d.symbol, f"local {d.local} venue {d.venue}")
        self.emit_tracking(eff)

    async def trades(self, symbol: str) -> int:
        """Fills since the last trade id seen (all recent ones on a first call)."""
        from_id = self.last_trade_id.get(symbol)
        rows = await self.venue.user_trades(symbol, from_id + 1 if from_id else None)
        now = time.time_ns()
        new = 0
        for row in rows:
            eff = self.oms.on_user_trade(row, now)
            new += len(eff.fills)
            self.emit_tracking(eff)
        if new:
            self._repair("fills_from_trade_history", symbol, f"{new} fills recovered")
        return new

    async def full(self, symbols: list[str], startup: bool = False) -> None:
        """Everything, symbol by symbol; one symbol's failure does not stop the others."""
        for sym in symbols:
            try:
                await self.orders(sym, startup)
                await self.trades(sym)
            except BinanceError as exc:
                log.warning("venue_sync_failed", symbol=sym, error=str(exc)[:200])
        try:
            await self.positions(symbols)
        except BinanceError as exc:
            log.warning("position_sync_failed", error=str(exc)[:200])
