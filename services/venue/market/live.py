"""Paper trading on live market data (seed 000 §5.9): the simulated venue's market taken from a real
venue's public streams (``simvenue.model = "live"``, the ``paper-live`` profile).

For each symbol, :meth:`LiveFeedMarket.run` holds the public depth stream (``<s>@depth@100ms`` on
``/public``) and the trade stream (``<s>@trade`` on ``/market``) of ``simvenue.live_ws_url``, and
keeps the book in step with a REST snapshot from ``simvenue.live_rest_url`` by the marketdata
service's own sync rules (:class:`~services.marketdata.sync.BookSync`). Every diff applied becomes
the other participants' sizes at the simulated venue, every public trade a tape trade that consumes
the queue ahead of our resting orders (the venue's queue-position model), so our orders fill
locally against the real book: no key, no order ever reaches the real venue. A snapshot replaces
the whole book (levels no longer present go to zero). While the feed is broken the book stays as it
was and the venue's market data goes stale with it.

:meth:`step` hands the venue what arrived since the last step. The defaults point at Binance
(``wss://fstream.binance.com``, ``https://fapi.binance.com``); tests point them at another
simulated venue on loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import httpx
import msgspec
import websockets
from prometheus_client import Counter

from common.binance.market import DepthUpdate, TradeEvent, decode_combined, snapshot_decoder
from common.config_sections import VenueSymbolConfig
from common.logging import log
from services.marketdata.sync import BookSync
from services.venue.market import MarketStep
from services.venue.orderbook import BUY, SELL

BAD_FRAMES = Counter(
    "mm_venue_live_bad_frames_total", "Frames of the live feed that did not decode (skipped)", ["symbol"]
)


class LiveFeedMarket:
    """The live market of one symbol (see the module docstring)."""

    def __init__(self, cfg: VenueSymbolConfig, ws_url: str, rest_url: str) -> None:
        self.cfg = cfg
        self.symbol = cfg.symbol
        self.ws_url, self.rest_url = ws_url.rstrip("/"), rest_url.rstrip("/")
        self.tick, self.step_size = cfg.price_tick, cfg.qty_step
        self.sync = BookSync("usdm", cfg.price_tick, cfg.qty_step)
        self.levels: dict[int, set[int]] = {BUY: set(), SELL: set()}  # prices we have set at the venue
        self.pending = MarketStep()
        self.resyncs = 0
        self.bad_frames = 0
        self._need_snapshot = asyncio.Event()

    def shock(self, pct: float) -> None:
        """The fault control's shock has no hold on a live market: ignored (logged)."""
        log.warning("shock_ignored_on_live_market", symbol=self.symbol, pct=pct)

    # ---- what the venue reads every step --------------------------------------------------------

    def step(self, dt: float) -> MarketStep:
        out, self.pending = self.pending, MarketStep()
        bid, ask = self.sync.book.best_bid(), self.sync.book.best_ask()
        if self.sync.book_valid and bid is not None and ask is not None:
            out.mid = (bid[0] + ask[0]) / 2 * float(self.tick)
        return out

    # ---- the feed -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Hold both streams and keep the book synced, for ever (reconnecting with a back-off)."""
        low = self.symbol.lower()
        await asyncio.gather(
            self._stream(f"{self.ws_url}/public/stream?streams={low}@depth@100ms", self._on_depth_frame),
            self._stream(f"{self.ws_url}/market/stream?streams={low}@trade", self._on_trade_frame),
            self._snapshots(),
        )

    async def _stream(self, url: str, on_frame: Callable[[str | bytes], None]) -> None:
        delay = 0.2
        while True:
            try:
                async with websockets.connect(url, open_timeout=10, close_timeout=1, max_size=1 << 24) as ws:
                    delay = 0.2
                    if "/public/" in url:
                        self.sync.reset("reset")
                        self._need_snapshot.set()
                    async for raw in ws:
                        on_frame(raw)
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                log.warning("live_feed_disconnected", symbol=self.symbol, url=url, error=str(exc)[:200])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _decode(self, raw: str | bytes) -> object | None:
        try:
            _, ev = decode_combined(raw.encode() if isinstance(raw, str) else raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            BAD_FRAMES.labels(self.symbol).inc()
            self.bad_frames += 1
            if self.bad_frames == 1:  # the first says what; the rest are counted
                log.warning("live_feed_bad_frame", symbol=self.symbol, error=str(exc)[:200])
            return None
        return ev

    def _on_depth_frame(self, raw: str | bytes) -> None:
        ev = self._decode(raw)
        if not isinstance(ev, DepthUpdate):
            return
        out = self.sync.on_event(ev)
        if out.applied:
            self._levels(ev.b, BUY)
            self._levels(ev.a, SELL)
        if out.needs_snapshot:
            self.resyncs += 1
            self._need_snapshot.set()

    def _on_trade_frame(self, raw: str | bytes) -> None:
        ev = self._decode(raw)
        if isinstance(ev, TradeEvent):
            aggressor = SELL if ev.m else BUY  # m: the buyer was the maker, so the seller took
            self.pending.trades.append((aggressor, self._p(ev.p), self._q(ev.q)))

    async def _snapshots(self) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while True:
                await self._need_snapshot.wait()
                self._need_snapshot.clear()
                await asyncio.sleep(0.3)  # let diffs arrive first: the snapshot must not predate them
                try:
                    r = await http.get(
                        f"{self.rest_url}/fapi/v1/depth", params={"symbol": self.symbol, "limit": 1000}
                    )
                    snap = snapshot_decoder.decode(r.content)
                except (httpx.HTTPError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                    log.warning("live_snapshot_failed", symbol=self.symbol, error=str(exc)[:200])
                    await asyncio.sleep(1.0)
                    self._need_snapshot.set()
                    continue
                out = self.sync.on_snapshot(snap)
                if self.sync.book_valid:
                    self._replace_book()
                    log.info("live_book_synced", symbol=self.symbol, last_update_id=self.sync.last_update_id)
                if out.needs_snapshot or not self.sync.book_valid:
                    self._need_snapshot.set()

    # ---- to the venue's units -------------------------------------------------------------------

    def _p(self, s: str | Decimal) -> int:
        return int((Decimal(s) / self.tick).to_integral_value())

    def _q(self, s: str | Decimal) -> int:
        return int((Decimal(s) / self.step_size).to_integral_value())

    def _levels(self, levels: list[tuple[str, str]], side: int) -> None:
        for p, q in levels:
            price, qty = self._p(p), self._q(q)
            self.pending.pre.append((side, price, qty))
            (self.levels[side].add if qty else self.levels[side].discard)(price)

    def _replace_book(self) -> None:
        """The synced book as the venue's market levels; levels it no longer has go to zero."""
        bids, asks = self.sync.book.top(1000)
        for side, levels in ((BUY, bids), (SELL, asks)):
            now = {p for p, _ in levels}
            self.pending.pre += [(side, p, 0) for p in self.levels[side] - now]
            self.pending.pre += [(side, p, q) for p, q in levels]
            self.levels[side] = now
