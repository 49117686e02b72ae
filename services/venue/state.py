"""Everything the venue's handlers share: the exchange, limits, keys, streams, connections, faults.

``dispatch()`` turns the exchange's events into stream messages and user-stream pushes; every
handler calls it after it changed something, so messages leave in the order things happened.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import msgspec

from common.config_sections import SimVenueConfig
from common.logging import log
from common.runtime import wait_set
from services.venue.accounts import Account
from services.venue.apikeys import KeyRing
from services.venue.errors import VenueError
from services.venue.exchange import DepthBatch, Exchange, PublicTrade, UserEvent
from services.venue.faults import Faults
from services.venue.hub import Hub
from services.venue.listenkeys import ListenKeys
from services.venue.ratelimit import RateLimiter
from services.venue.spot import SpotExchange
from services.venue.streams import SymbolStreams

_json = msgspec.json.Encoder()


def dumps(obj: Any) -> str:
    return _json.encode(obj).decode()


class VenueState:
    """The shared state of one venue process."""

    def __init__(
        self,
        cfg: SimVenueConfig,
        keys: dict[str, tuple[str, str]],
        read_keys: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.faults = Faults()
        self.exchange = Exchange(cfg, keys, self.now_ms)
        self.spot = SpotExchange(cfg, list(self.exchange.accounts), self.now_ms)
        self.on_spot_events: Callable[[list[Any]], None] | None = None  # spot streams and user data
        self.keys = KeyRing(self.exchange.accounts, read_keys or {})
        self.stopping = asyncio.Event()  # wakes answers held by a fault when the venue stops
        self.limiter = RateLimiter(
            cfg.weight_per_minute,
            cfg.orders_per_10s,
            cfg.orders_per_minute,
            cfg.ban_after_violations,
            cfg.ban_base_s,
            cfg.ban_max_s,
        )
        # spot is another host with its own counts: 6,000 weight a minute, orders per 10 s and per day
        self.spot_limiter = RateLimiter(
            cfg.spot_weight_per_minute,
            cfg.spot_orders_per_10s,
            cfg.spot_orders_per_day,
            cfg.ban_after_violations,
            cfg.ban_base_s,
            cfg.ban_max_s,
            long_window="1D",
        )
        self.listen_keys = ListenKeys(int(cfg.listen_key_ttl_s * 1000))
        self.streams = {name: SymbolStreams(st.sym) for name, st in self.exchange.symbols.items()}
        self.hub = Hub()
        self.agg_ids = itertools.count(900_000_001)
        self.started_ms = self.now_ms()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.faults.clock_skew_ms

    def dispatch(self) -> None:
        """Send what the exchange produced since the last call."""
        spot = self.spot.drain()
        if spot and self.on_spot_events is not None:
            self.on_spot_events(spot)
        events = self.exchange.drain()
        if not events:
            return
        trades: dict[str, list[PublicTrade]] = {}
        for ev in events:
            if isinstance(ev, DepthBatch):
                self._depth(ev)
            elif isinstance(ev, PublicTrade):
                trades.setdefault(ev.symbol, []).append(ev)
                self._publish(f"{self.streams[ev.symbol].lower}@trade", self.streams[ev.symbol].trade(ev))
            elif isinstance(ev, UserEvent):
                payload = self.faults.user_event(ev.payload)
                if payload is None:
                    log.info("fault_user_event_dropped", account=ev.account, event=ev.payload.get("e"))
                else:
                    self.hub.publish_user(ev.account, dumps(payload))
        for symbol, ts in trades.items():
            ss = self.streams[symbol]
            for agg in ss.agg_trades(ts, self.agg_ids):
                self._publish(f"{ss.lower}@aggTrade", agg)

    def place_later(self, acct: Account, params: dict[str, str], delay_ms: int) -> None:
        """The ``late_new`` fault: place a new order ``delay_ms`` from now through the normal path
        (ids, NEW event, matching), whatever its timestamp and recvWindow say by then."""
        asyncio.get_running_loop().call_later(delay_ms / 1000, self._land, acct, dict(params))

    def _land(self, acct: Account, params: dict[str, str]) -> None:
        try:
            res = self.exchange.place(acct, params)
        except VenueError as e:  # refused on landing (e.g. a GTX that would now take): no record
            log.warning("fault_late_order_refused", account=acct.name, code=e.code, msg=e.msg)
        else:
            log.info("fault_late_order_landed", account=acct.name, order_id=res["orderId"])
        self.dispatch()

    async def hold(self, seconds: float) -> None:
        """Sleep ``seconds`` (an answer a fault holds back), or less if the venue stops meanwhile."""
        await wait_set(self.stopping, seconds)

    def _publish(self, stream: str, payload: dict[str, Any]) -> None:
        if not self.hub.has_listeners(stream):
            return
        if self.faults.malformed > 0:
            self.faults.malformed -= 1
            self.hub.publish(stream, '{"e":"depthUpdate","E":"not a time","b":[["1"]]}')  # a broken payload
        self.hub.publish(stream, dumps(payload))

    def _depth(self, batch: DepthBatch) -> None:
        ss = self.streams[batch.symbol]
        ev = ss.on_batch(batch)
        now = self.now_ms()
        if self.faults.stalled(batch.symbol, now):
            ss.deferred.append(ev)  # a stall delays the stream; it resumes without a gap
            return
        for held in ss.deferred:
            self._publish(f"{ss.lower}@depth@0ms", held)
        ss.deferred.clear()
        if not self._gap(batch.symbol, "depth@0ms"):
            self._publish(f"{ss.lower}@depth@0ms", ev)
        tick = ss.ticker(batch, now)
        if tick is not None:
            self._publish(f"{ss.lower}@bookTicker", tick)

    def _gap(self, symbol: str, stream: str) -> bool:
        if self.faults.take_gap(symbol, stream):
            log.info("fault_depth_gap", symbol=symbol, stream=stream)
            return True
        return False

    def flush_timed(self, speed: str) -> None:
        """Send the merged diffs of one timed depth stream (100 ms, 250 ms or 500 ms)."""
        now = self.now_ms()
        for symbol, ss in self.streams.items():
            if self.faults.stalled(symbol, now):
                continue
            ev = ss.flush(speed, now)
            if ev is not None and not self._gap(symbol, speed):
                self._publish(f"{ss.lower}@{speed}", ev)

    def mark_events(self, speed: str) -> None:
        """``markPriceUpdate`` on ``<s>@markPrice`` (3 s) or ``<s>@markPrice@1s``."""
        now = self.now_ms()
        for symbol in self.exchange.symbols:
            ss = self.streams[symbol]
            stream = f"{ss.lower}@markPrice" + ("@1s" if speed == "1s" else "")
            self._publish(stream, self.mark_payload(symbol, now))

    def mark_payload(self, symbol: str, now: int) -> dict[str, Any]:
        st = self.exchange.symbols[symbol]
        mark = st.sym.price_str(round(st.mark / st.sym.tick)) if st.mark else "0"
        return {
            "e": "markPriceUpdate",
            "E": now,
            "s": symbol,
            "p": mark,
            "ap": mark,
            "i": str(st.index.quantize(st.sym.tick)),
            "P": mark,
            "r": str(st.funding_rate),
            "T": self.exchange.next_funding_ms,
        }
