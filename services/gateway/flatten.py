"""Taker actions with an acknowledgement: reduce a position, or close it.

Maker first: a reduce-only post-only order at the touch on the reducing side, given
``maker_wait_s`` to fill; then, for what is left, a reduce-only IOC order priced at the touch
plus ``max_slippage_pct``, so a taker never pays more than the bound. Orders placed here carry
layer -1, so target reconciliation leaves them alone.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from common.instrument import price_for_side, qty_down
from common.logging import log
from common.messages import Instrument, Side
from services.gateway.executor import Executor
from services.gateway.orders import NewOrder, OrderRecord

ZERO = Decimal(0)


class Reducer:
    """Runs reductions for the gateway."""

    def __init__(self, executor: Executor, instruments: dict[str, Instrument]) -> None:
        self.ex = executor
        self.instruments = instruments

    async def reduce(
        self,
        symbol: str,
        qty: Decimal,
        position: Decimal,
        mode: str,
        max_slippage_pct: float,
        maker_wait_s: float,
    ) -> Decimal:
        """Reduce ``position`` (signed) by up to ``qty``; returns the size filled."""
        inst = self.instruments[symbol]
        want = qty_down(inst, min(abs(qty), abs(position)))
        if want <= 0 or position == 0:
            return ZERO
        side: Side = "SELL" if position > 0 else "BUY"
        done = ZERO
        if mode in ("maker", "maker_first_then_taker"):
            done += await self._maker(inst, side, want, maker_wait_s)
        left = qty_down(inst, want - done)
        if left > 0 and mode in ("taker", "maker_first_then_taker"):
            done += await self._taker(inst, side, left, max_slippage_pct)
        log.info("reduce_done", symbol=symbol, side=side, wanted=str(want), filled=str(done), mode=mode)
        return done

    async def _touch(self, inst: Instrument) -> tuple[Decimal, Decimal]:
        t = await self.ex.venue.book_ticker(inst.symbol)
        return Decimal(t["bidPrice"]), Decimal(t["askPrice"])

    async def _maker(self, inst: Instrument, side: Side, qty: Decimal, wait_s: float) -> Decimal:
        bid, ask = await self._touch(inst)
        price = ask if side == "SELL" else bid  # join our side of the book: rests, never takes
        rec = await self._reduce(inst, side, price, qty, "GTX")
        filled = await self._wait(rec, wait_s)
        if not rec.final:
            await self.ex.cancel(inst.symbol, [rec.client_id])
            filled = await self._wait(rec, 1.0)
        return filled

    async def _taker(self, inst: Instrument, side: Side, qty: Decimal, slip: float) -> Decimal:
        bid, ask = await self._touch(inst)
        bound = bid * Decimal(repr(1 - slip)) if side == "SELL" else ask * Decimal(repr(1 + slip))
        price = price_for_side(inst, side, bound)  # rounds toward our side: never past the slippage bound
        rec = await self._reduce(inst, side, price, qty, "IOC")
        return await self._wait(rec, 2.0)

    async def _reduce(
        self, inst: Instrument, side: Side, price: Decimal, qty: Decimal, tif: str
    ) -> OrderRecord:
        """A reduce-only limit order: it can shrink the position, never flip or grow it."""
        order = NewOrder(symbol=inst.symbol, side=side, price=price, qty=qty, tif=tif, reduce_only=True)
        return await self.ex.place_one(order)

    async def _wait(self, rec: OrderRecord, seconds: float) -> Decimal:
        """Wait until ``rec`` is final or ``seconds`` pass; returns its filled size."""
        end = time.monotonic() + seconds
        while not rec.final and time.monotonic() < end:
            await asyncio.sleep(0.02)
        return rec.filled
