"""The market data service: venue streams in, local books and features out on ``md.*``.

Two combined-stream connections per venue: ``/public`` for diff depth, ``/market`` for trades
and mark price. Each symbol's book syncs on its own (a resync fetches one snapshot and leaves the
other symbols alone). Publishing: ``md.book.<S>`` on every applied diff (or coalesced to
``publish_interval_ms``), ``md.features.<S>`` every ``features_interval_ms``, ``md.trade``,
``md.mark``, and ``md.status.<S>`` on every change and once a second.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections import deque
from decimal import Decimal
from typing import Any

import msgspec
from prometheus_client import Counter, Gauge, Histogram

from common import topics
from common.binance.errors import BinanceError, LocalRateLimit, RateLimited
from common.binance.exchange_info import instruments
from common.binance.market import (
    AggTradeEvent,
    DepthUpdate,
    MarkPriceEvent,
    TradeEvent,
    decode_combined,
    snapshot_decoder,
)
from common.binance.rest import RestClient, until_answered
from common.binance.shared_limits import SharedLimits, shared_path
from common.config import Settings
from common.logging import log
from common.messages import AnyCommand, GetSnapshot, MarkPrice, Request
from common.metrics import latency_summary
from common.runtime import CommandError, Service
from services.marketdata.capture import Capture
from services.marketdata.connection import StreamConnection
from services.marketdata.features import FeatureConfig
from services.marketdata.feed import Freshness, SymbolFeed

MD_BAD = Counter(
    "mm_md_bad_messages_total", "Venue stream frames that failed to decode and were skipped", ["kind"]
)
MD_RESYNCS = Counter("mm_md_resyncs_total", "Book resyncs", ["symbol", "reason"])
SEEN_DEPTH = 512
MD_CONN_DROPS = Counter(
    "mm_md_redundant_connection_drops_total",
    "A redundant market data connection that ended while another of its group carried on",
    ["group"],
)
MD_STATE = Gauge("mm_md_feed_live", "1 while a symbol's feed is live", ["symbol"])
MD_LATENCY = Histogram(
    "mm_md_frame_to_publish_seconds",
    "From a depth frame's arrival to its md.book leaving the socket",
    buckets=(2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.05),
)
MD_MID = Gauge("mm_mid_price", "Mid price", ["symbol"])
MD_BID = Gauge("mm_bid_price", "Best bid", ["symbol"])
MD_ASK = Gauge("mm_ask_price", "Best ask", ["symbol"])


class Seen:
    """Which events arrived already, by symbol: the last :data:`SEEN_DEPTH` identities of each
    (a depth diff by its first and last update id and event time, a mark by its event time). With
    redundant connections the first arrival is used and the copies dropped; an identity never seen,
    even one lower than the last (a venue that restarted), goes on to the book's own checks."""

    def __init__(self) -> None:
        self._keys: dict[str, set[tuple[int, ...]]] = {}
        self._order: dict[str, deque[tuple[int, ...]]] = {}

    def first(self, stream: str, key: tuple[int, ...]) -> bool:
        keys = self._keys.setdefault(stream, set())
        if key in keys:
            return False
        order = self._order.setdefault(stream, deque())
        keys.add(key)
        order.append(key)
        if len(order) > SEEN_DEPTH:
            keys.discard(order.popleft())
        return True


class MarketDataService(Service):
    """Streams, books, features, status."""

    name = "marketdata"

    def __init__(self, settings: Settings, instance: str = "") -> None:
        super().__init__(settings, instance)
        venue = settings.venue
        # ``marketdata-spot`` serves the spot symbols (seed 003) from the spot endpoints, with spot's
        # book rules; ``marketdata`` the futures ones.
        self.market = "spot" if self.name == "marketdata-spot" else venue.market
        self.symbols = list(settings.spot_symbols) if self.market == "spot" else list(settings.symbols)
        self.rest_url = venue.spot_rest if self.market == "spot" else venue.rest_url
        shared = SharedLimits(shared_path(settings.run_path, self.rest_url))  # one IP: one weight, one ban
        self.rest = RestClient(
            self.rest_url, timeout_s=venue.http_timeout_s, shared=shared, market=self.market
        )
        self.feeds: dict[str, SymbolFeed] = {}
        self.capture: Capture | None = None

    async def on_start(self) -> None:
        cfg = self.settings.marketdata
        venue = self.settings.venue
        info = await until_answered(self.rest.exchange_info)
        await until_answered(self.rest.sync_time)
        self.instruments = instruments(info, self.symbols, self.market)
        fresh = Freshness(cfg.stale_after_ms, cfg.max_exchange_lag_ms)
        self.feeds = {
            s: SymbolFeed(
                inst,
                self.market,
                cfg.book_levels,
                fresh,
                FeatureConfig(vpin_bucket_qty=cfg.vpin_bucket_qty.get(s, 100.0)),
                cfg.max_buffer,
            )
            for s, inst in self.instruments.items()
        }
        for s, inst in self.instruments.items():
            self.publish(topics.md_instrument(s), inst)
        self.by_lower = {s.lower(): s for s in self.feeds}
        self.snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self.latency_ns: deque[int] = deque(maxlen=200_000)
        self.capture = (
            Capture(self.settings.run_path / cfg.capture_dir, cfg.capture_rotate_mb) if cfg.capture else None
        )
        self._bad_logged: set[str] = set()
        self.bad_counts: dict[str, int] = {}
        self._last_trade: dict[str, int] = {}
        lows = [s.lower() for s in self.feeds]
        if self.market == "spot":  # one base for every spot stream; 100 ms or 1 s diffs; no mark price
            depth = "depth" if cfg.depth_speed in ("250ms", "500ms") else "depth@100ms"
            public = "/".join(f"{s}@{depth}" for s in lows)
            market = "/".join(f"{s}@trade" for s in lows)
            bases = (venue.spot_ws, venue.spot_ws)
        else:
            depth = "depth" if cfg.depth_speed == "250ms" else f"depth@{cfg.depth_speed}"
            public = "/".join(f"{s}@{depth}" for s in lows)
            market = "/".join(f"{s}@{cfg.trade_stream}/{s}@markPrice@1s" for s in lows)
            bases = (venue.ws_public_url, venue.ws_market_url)
        self.up: dict[str, set[int]] = {"public": set(), "market": set()}
        self.seen = Seen()
        for (name, base, streams), copy in itertools.product(
            (("public", bases[0], public), ("market", bases[1], market)),
            range(cfg.connections),
        ):
            conn = StreamConnection(
                name if cfg.connections == 1 else f"{name}-{copy + 1}",
                f"{base}/stream?streams={streams}",
                self._on_frame,
                functools.partial(self._on_conn, name, copy),
                cfg.reconnect_min_s,
                cfg.reconnect_max_s,
                cfg.rotate_after_s,
                idle_s=max(10.0, cfg.stale_after_ms / 500),
            )
            self.spawn(conn.run(), f"ws-{name}-{copy + 1}")
        self.spawn(self._status_loop(), "status")
        self.spawn(self._time_loop(), "time-sync")
        if cfg.publish_interval_ms:
            self.spawn(self._every(cfg.publish_interval_ms / 1000, self._publish_books), "book-coalesce")
        if cfg.features_interval_ms:
            self.spawn(self._every(cfg.features_interval_ms / 1000, self._publish_features), "features")

    # ---- stream frames -----------------------------------------------------------------------

    def _on_conn(self, name: str, copy: int, up: bool) -> None:
        """A connection of a stream group came up or went down. The book depends on the group, not
        on one connection: it needs a snapshot when the first connection comes up, and is lost only
        when the last one goes down; a redundant connection's end is counted and replaced."""
        group = self.up[name]
        was = bool(group)
        (group.add if up else group.discard)(copy)
        if not up and group:
            MD_CONN_DROPS.labels(name).inc()
            log.warning("md_connection_lost_redundant", group=name, left=len(group))
        if name != "public" or was == bool(group):
            return
        for s, feed in self.feeds.items():
            if up:
                feed.connected = True
                self._want_snapshot(s)
            else:
                feed.disconnected()
                self._emit_status(s)

    def _on_frame(self, raw: str | bytes, recv_ns: int) -> None:
        data = raw.encode() if isinstance(raw, str) else raw
        try:
            stream, ev = decode_combined(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._bad("frame", str(exc))
            return
        symbol = self.by_lower.get(stream.partition("@")[0])
        if symbol is None:
            self._bad("symbol", stream)
            return
        feed = self.feeds[symbol]
        match ev:
            case DepthUpdate(U=first, u=last, E=e_ms):
                if self.seen.first(symbol, (first, last, e_ms)):  # a redundant copy otherwise
                    self._capture(symbol, recv_ns, data)
                    self._on_depth(feed, ev, recv_ns)
            case TradeEvent(t=tid, p=p, q=q, m=m, T=t_ms) | AggTradeEvent(a=tid, p=p, q=q, m=m, T=t_ms):
                if tid > self._last_trade.get(symbol, -1):  # overlapping connections repeat trades
                    self._last_trade[symbol] = tid
                    self._capture(symbol, recv_ns, data)
                    self.publish(topics.md_trade(symbol), feed.on_trade(p, q, m, tid, t_ms))
            case MarkPriceEvent(E=e_ms):
                if self.seen.first(symbol + "@mark", (e_ms,)):
                    self._capture(symbol, recv_ns, data)
                    self.publish(topics.md_mark(symbol), feed.on_mark(ev))
            case _:
                self._capture(symbol, recv_ns, data)

    def _capture(self, symbol: str, recv_ns: int, data: bytes) -> None:
        """The raw capture keeps each event once, as it first arrived (not a redundant copy)."""
        if self.capture is not None:
            self.capture.write(symbol, recv_ns, data)

    def _on_depth(self, feed: SymbolFeed, ev: DepthUpdate, recv_ns: int) -> None:
        try:
            out = feed.on_depth(ev, recv_ns, self.rest.offset_ms)
        except ValueError as exc:  # an off-tick level: the sync already marked the book broken
            self._bad("level", str(exc))
            out = None
        if out is not None and out.applied and self.settings.marketdata.publish_interval_ms == 0:
            self._publish_book(feed, recv_ns)
        if out is None or out.needs_snapshot:
            reason = feed.sync.last_reason or "invalid"
            MD_RESYNCS.labels(feed.symbol, reason).inc()
            self._emit_status(feed.symbol)
            self._want_snapshot(feed.symbol)

    def _publish_book(self, feed: SymbolFeed, recv_ns: int) -> None:
        if feed.state != "live":
            self._emit_status(feed.symbol)  # the recovery is announced before the first good book
        msg = feed.book_message(recv_ns or time.time_ns())
        if msg is None:
            return
        self.publish(topics.md_book(feed.symbol), msg)
        if recv_ns:
            lat = time.time_ns() - recv_ns
            self.latency_ns.append(lat)
            MD_LATENCY.observe(lat / 1e9)
        if self.settings.marketdata.features_interval_ms == 0:
            self._publish_feature(feed)

    def _publish_books(self) -> None:
        for feed in self.feeds.values():
            if feed.dirty:
                self._publish_book(feed, 0)

    def _publish_features(self) -> None:
        for feed in self.feeds.values():
            if feed.features_dirty:
                self._publish_feature(feed)

    def _publish_feature(self, feed: SymbolFeed) -> None:
        msg = feed.features_message(time.time_ns())
        if msg is None:
            return
        self.publish(topics.md_features(feed.symbol), msg)
        if self.market == "spot" and msg.mid > 0:
            # Spot has no mark price: the book's mid stands in, so risk, strategy and the console
            # value spot inventory as they value futures (funding 0, no index of its own).
            mid = Decimal(repr(msg.mid))
            mark = MarkPrice(symbol=feed.symbol, mark_price=mid, index_price=mid, funding_rate=Decimal(0),
                             next_funding_time_ms=0, ts_event=msg.ts_event)  # fmt: skip
            self.publish(topics.md_mark(feed.symbol), mark)
        MD_MID.labels(feed.symbol).set(msg.mid)
        MD_BID.labels(feed.symbol).set(msg.best_bid)
        MD_ASK.labels(feed.symbol).set(msg.best_ask)

    def _bad(self, kind: str, detail: str) -> None:
        MD_BAD.labels(kind).inc()
        self.bad_counts[kind] = self.bad_counts.get(kind, 0) + 1
        if kind not in self._bad_logged:
            self._bad_logged.add(kind)
            log.warning("md_bad_message", kind=kind, detail=detail[:300])

    # ---- snapshots ---------------------------------------------------------------------------

    def _want_snapshot(self, symbol: str) -> None:
        task = self.snapshot_tasks.get(symbol)
        if task is None or task.done():
            self.snapshot_tasks[symbol] = self.spawn(
                self._snapshot(symbol), f"snapshot-{symbol}", critical=False
            )

    async def _snapshot(self, symbol: str) -> None:
        """Fetch snapshots until one bridges the buffered stream; back off on errors and limits."""
        feed = self.feeds[symbol]
        delay = 0.2
        await asyncio.sleep(0.05)  # let the first diffs arrive: the snapshot must not predate them
        while feed.connected and not feed.sync.book_valid:
            try:
                cfg = self.settings.marketdata
                limit = cfg.spot_snapshot_limit if self.market == "spot" else cfg.snapshot_limit
                raw = await self.rest.depth(symbol, limit)
                snap = snapshot_decoder.decode(raw)
            except (LocalRateLimit, RateLimited) as exc:
                await asyncio.sleep(max(getattr(exc, "wait_s", 0), getattr(exc, "retry_after", 0), delay))
                continue
            except (BinanceError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.warning("snapshot_failed", symbol=symbol, error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            if self.capture is not None:
                self.capture.write(symbol, time.time_ns(), raw)
            out = feed.on_snapshot(snap, time.time_ns())
            if feed.sync.book_valid:
                log.info(
                    "book_synced", symbol=symbol, last_update_id=feed.sync.last_update_id, applied=out.applied
                )
                self._publish_book(feed, 0)
                self._emit_status(symbol)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    # ---- status and timers -------------------------------------------------------------------

    def _emit_status(self, symbol: str) -> None:
        st = self.feeds[symbol].evaluate(time.time_ns())
        if st is not None:
            log.info("feed_status", symbol=symbol, state=st.state, reason=st.reason)
            self.publish(topics.md_status(symbol), st)
            MD_STATE.labels(symbol).set(1 if st.state == "live" else 0)

    async def _status_loop(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(0.1)
            n += 1
            now = time.time_ns()
            for s, feed in self.feeds.items():
                self._emit_status(s)
                if n % 10 == 0:
                    self.publish(topics.md_status(s), feed.status(now))

    async def _time_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.marketdata.time_sync_interval_s)
            try:
                await self.rest.sync_time()
            except BinanceError as exc:
                log.warning("time_sync_failed", error=str(exc))

    async def _every(self, interval: float, fn: Any) -> None:
        while True:
            await asyncio.sleep(interval)
            fn()

    # ---- commands ----------------------------------------------------------------------------

    async def on_command(self, cmd: AnyCommand, req: Request) -> Any:
        match cmd:
            case GetSnapshot(what=what, symbol=symbol):
                return self._snapshot_reply(what, symbol)
        raise CommandError(f"marketdata does not handle {type(cmd).__name__}")

    def _snapshot_reply(self, what: str, symbol: str) -> dict[str, Any]:
        if what == "stats":
            return {
                "bad": dict(self.bad_counts),
                "resyncs": {s: dict(f.sync.resync_reasons) for s, f in self.feeds.items()},
                "published_books": len(self.latency_ns),
            }
        if what == "latency":
            return latency_summary(self.latency_ns)
        syms = [symbol] if symbol else list(self.feeds)
        unknown = [s for s in syms if s not in self.feeds]
        if unknown:
            raise CommandError(f"unknown symbol {unknown[0]}")
        now = time.time_ns()
        out: dict[str, Any] = {}
        for s in syms:
            feed = self.feeds[s]
            out[s] = {
                "instrument": msgspec.to_builtins(feed.inst),
                "status": msgspec.to_builtins(feed.status(now)),
                "book": msgspec.to_builtins(feed.book_message(now)) if feed.sync.book_valid else None,
                "features": msgspec.to_builtins(feed.features_message(now)) if feed.sync.book_valid else None,
            }
        return out

    def status_detail(self) -> dict[str, str]:
        return {s: f.state for s, f in self.feeds.items()}

    async def on_stop(self) -> None:
        if self.capture is not None:
            self.capture.close()
        await self.rest.close()
