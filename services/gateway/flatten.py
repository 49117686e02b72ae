"""Taker actions with an acknowledgement: reduce a position, or close it, inside every cap.

Maker first: reduce-only post-only orders at the touch on the reducing side, given
``maker_wait_s`` to fill; then, for what is left, reduce-only IOC orders priced at the touch plus
``max_slippage_pct``, so a taker never pays more than the bound. Every order is a slice no larger
than the per-order notional cap (and the venue's quantity limits), admitted by the guard like any
other order: the rate cap paces the slices, a reduction whose side's quotes leave it no room under
the position cap first cancels those quotes (they would add to what the reduction buys or sells
back; the next plan re-places what fits), and a reduce-only order that would no longer reduce
(the position moved) ends the reduction. The kill switch's flatten is taker only (IOC orders never
rest, so the venue stays at zero open orders). Orders placed here carry layer -1, so target
reconciliation leaves them alone.

Every reduction's cost is measured (seed 001 §10: the fills' average price against the market):
the slippage in bps from the mid when it began to the average price of what it filled, positive
when it cost us, on ``mm_reduce_slippage_bps{symbol,mode}``, in the ``reduce_done`` log line and
in :attr:`Reducer.last`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

import msgspec
from prometheus_client import Histogram

from common.binance.errors import BinanceError
from common.binance.trading import BookTicker, convert
from common.instrument import price_for_side, qty_down
from common.logging import log
from common.messages import Instrument, Side
from services.gateway.caps import GLOBAL_NOTIONAL_CAP, ORDERS_PER_SECOND, POSITION_CAP
from services.gateway.executor import Executor
from services.gateway.guard import Purpose
from services.gateway.orders import NewOrder, OrderRecord

ZERO = Decimal(0)
RATE_RETRY_S = 0.1
RATE_WAIT_MAX_S = 5.0
TOUCH_WAIT_S = 2.0
"""How long a reduction waits for a price on the side it needs (a sweep can empty one for a moment)."""
TOUCH_RETRY_S = 0.05
SLIPPAGE = Histogram(
    "mm_reduce_slippage_bps",
    "Reductions: the fills' average price against the mid when the reduction began, bps (cost > 0)",
    ["symbol", "mode"],
    buckets=(-5, -2, -1, 0, 0.5, 1, 2, 3, 5, 10, 20, 50),
)


def slippage_bps(side: Side, mid: Decimal, filled: Decimal, notional: Decimal) -> float | None:
    """What a reduction cost against ``mid``: selling below it or buying above it is positive."""
    if filled <= 0 or mid <= 0:
        return None
    avg = notional / filled
    return float((mid - avg) / mid * 10_000 if side == "SELL" else (avg - mid) / mid * 10_000)


class Reducer:
    """Runs reductions for the gateway; ``position(symbol)`` is the OMS's signed position now."""

    def __init__(
        self,
        executor: Executor,
        instruments: dict[str, Instrument],
        order_cap: Callable[[str], Decimal],
        position: Callable[[str], Decimal],
    ) -> None:
        self.ex = executor
        self.instruments = instruments
        self.order_cap = order_cap
        self.position = position
        self.last: dict[str, tuple[float | None, Decimal]] = {}
        """Per symbol, the last reduction's slippage in bps (None: nothing filled) and size filled."""
        self._acc: dict[str, list[Decimal]] = {}
        """Per symbol under reduction: [the mid when it began, the notional filled so far]."""

    async def reduce(
        self,
        symbol: str,
        qty: Decimal,
        mode: str,
        max_slippage_pct: float,
        maker_wait_s: float,
        purpose: Purpose = "reduce",
    ) -> Decimal:
        """Reduce the position by up to ``qty``; returns the size filled. Venue errors propagate."""
        inst = self.instruments[symbol]
        position = self.position(symbol)
        want = qty_down(inst, min(abs(qty), abs(position)))
        if want <= 0:
            return ZERO
        side: Side = "SELL" if position > 0 else "BUY"
        done = ZERO
        acc = self._acc[symbol] = [ZERO, ZERO]
        if mode in ("maker", "maker_first_then_taker") and purpose != "kill":
            done += await self._maker(inst, side, want, maker_wait_s, purpose)
        left = qty_down(inst, want - done)
        if left > 0 and mode in ("taker", "maker_first_then_taker"):
            done += await self._taker(inst, side, left, max_slippage_pct, purpose)
        slip = slippage_bps(side, acc[0], done, acc[1])
        self.last[symbol] = (slip, done)
        if slip is not None:
            SLIPPAGE.labels(symbol, mode).observe(slip)
        log.info(
            "reduce_done", symbol=symbol, side=side, wanted=str(want), filled=str(done), mode=mode,
            slippage_bps=None if slip is None else round(slip, 3),
        )  # fmt: skip
        return done

    def slices(self, inst: Instrument, qty: Decimal, price: Decimal, market: bool = False) -> list[Decimal]:
        """``qty`` cut into orders each within the notional cap and the venue's size limit."""
        if price <= 0:
            raise ValueError(f"{inst.symbol}: cannot size a reduction at price {price}")
        cap = qty_down(inst, self.order_cap(inst.symbol) / price)
        limit = (inst.market_max_qty if market and inst.market_max_qty else inst.max_qty) or qty
        size = min(cap, limit)
        if size < inst.min_qty or size <= 0:
            return []
        out = []
        left = qty
        while left >= inst.min_qty:
            part = min(size, left)
            out.append(part)
            left = qty_down(inst, left - part)
        return out

    async def _touch(self, inst: Instrument, need: Side) -> tuple[Decimal, Decimal]:
        """The best bid and ask, once the side ``need`` has a price: a taker's sweep can leave a side
        empty (bookTicker price 0) for a moment. BinanceError if it stays empty ``TOUCH_WAIT_S``."""
        end = time.monotonic() + TOUCH_WAIT_S
        while True:
            try:
                t = convert(await self.ex.venue.book_ticker(inst.symbol), BookTicker)
            except msgspec.ValidationError as exc:
                raise BinanceError(f"bookTicker for {inst.symbol} malformed: {exc}") from None
            if (t.bidPrice if need == "BUY" else t.askPrice) > 0:
                acc = self._acc.get(inst.symbol)
                if acc is not None and not acc[0] and t.bidPrice > 0 and t.askPrice > 0:
                    acc[0] = (t.bidPrice + t.askPrice) / 2  # the reduction's reference mid
                return t.bidPrice, t.askPrice
            if time.monotonic() > end:
                which = "bid" if need == "BUY" else "ask"
                raise BinanceError(
                    f"{inst.symbol}: no {which} in the book for {TOUCH_WAIT_S:g} s "
                    f"(bookTicker {t.bidPrice} / {t.askPrice}): nothing to price the reduction from"
                )
            await asyncio.sleep(TOUCH_RETRY_S)

    async def _maker(
        self, inst: Instrument, side: Side, qty: Decimal, wait_s: float, purpose: Purpose
    ) -> Decimal:
        bid, ask = await self._touch(inst, "SELL" if side == "SELL" else "BUY")
        price = ask if side == "SELL" else bid  # join our side of the book: rests, never takes
        recs = []
        for part in self.slices(inst, qty, price):
            rec = await self._send(inst, side, price, part, "GTX", purpose)
            if rec is None:
                break
            recs.append(rec)
        await self._wait(recs, wait_s)
        open_ids = [r.client_id for r in recs if not r.final]
        if open_ids:
            await self.ex.cancel(inst.symbol, open_ids)
            await self._wait(recs, 1.0)
        self._acc[inst.symbol][1] += sum((r.filled * (r.avg_price or r.price) for r in recs), ZERO)
        return sum((r.filled for r in recs), ZERO)

    async def _taker(
        self, inst: Instrument, side: Side, qty: Decimal, slip: float, purpose: Purpose
    ) -> Decimal:
        bid, ask = await self._touch(inst, "BUY" if side == "SELL" else "SELL")  # the side we take from
        bound = bid * Decimal(repr(1 - slip)) if side == "SELL" else ask * Decimal(repr(1 + slip))
        price = price_for_side(inst, side, bound)  # rounds toward our side: never past the slippage bound
        done = ZERO
        for part in self.slices(inst, qty, price):
            rec = await self._send(inst, side, price, part, "IOC", purpose)
            if rec is None:
                break
            await self._wait([rec], 2.0)
            done += rec.filled
            self._acc[inst.symbol][1] += rec.filled * (rec.avg_price or rec.price)
            if rec.filled < part:
                break  # no more liquidity inside the bound
        return done

    async def _send(
        self, inst: Instrument, side: Side, price: Decimal, qty: Decimal, tif: str, purpose: Purpose
    ) -> OrderRecord | None:
        """One reduce-only limit order through the guard; waits out the rate cap; None if refused."""
        order = NewOrder(symbol=inst.symbol, side=side, price=price, qty=qty, tif=tif, reduce_only=True)
        end = time.monotonic() + RATE_WAIT_MAX_S
        made_room = False
        while True:
            adm = await self.ex.place_one(order, purpose)
            if adm.ok:
                return adm.record
            if adm.reason in (POSITION_CAP, GLOBAL_NOTIONAL_CAP) and not made_room:
                await self._cancel_quotes(inst.symbol, side)
                made_room = True
                continue
            if adm.reason != ORDERS_PER_SECOND or time.monotonic() > end:
                return None
            await asyncio.sleep(RATE_RETRY_S)

    async def _cancel_quotes(self, symbol: str, side: Side) -> None:
        """Cancel our quotes on ``side`` (not other reductions) so a reduction fits the caps."""
        work = self.ex.oms.working(symbol)
        ids = [r.client_id for r in work if r.side == side and r.layer >= 0 and r.owned]
        if ids:
            log.info("reduce_cancels_quotes", symbol=symbol, side=side, orders=len(ids))
            await self.ex.cancel(symbol, ids)

    async def _wait(self, recs: list[OrderRecord], seconds: float) -> None:
        """Wait until every record is final or ``seconds`` pass."""
        end = time.monotonic() + seconds
        while not all(r.final for r in recs) and time.monotonic() < end:
            await asyncio.sleep(0.02)
