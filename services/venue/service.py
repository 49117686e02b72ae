"""The simulated Binance venue as a service: HTTP + WebSocket on loopback, the market model's loop,
the timed streams, and the exchange's timers (funding, dead-man's switches, listenKey expiry)."""

from __future__ import annotations

import asyncio
import math
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import Counter, Gauge, Histogram

from common.config import Settings
from common.logging import log
from common.runtime import Service
from services.venue import admin, persist, rest, ws
from services.venue.apikeys import account_keys, read_only_keys
from services.venue.exchange import Exchange
from services.venue.market import MarketStep, generated
from services.venue.market.live import LiveFeedMarket
from services.venue.market.replay import ReplayMarket
from services.venue.spot import SpotExchange
from services.venue.spot_ws import SPOT_SPEEDS_MS, SpotSide, spot_routes
from services.venue.state import VenueState
from services.venue.streams import SPEEDS_MS

ORDERS_OPEN = Gauge("mm_venue_open_orders", "Open orders at the simulated venue")
WS_CONNECTIONS = Gauge("mm_venue_ws_connections", "WebSocket connections to the simulated venue")
MARKET_STEPS = Counter("mm_venue_market_steps_total", "Market model steps applied")
SAVE_SECONDS = Histogram("mm_venue_state_save_seconds", "Time to encode and write the venue's saved state")


class VenueService(Service):
    """Serves the venue and drives its market."""

    name = "venue"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.runner: web.AppRunner | None = None

    async def on_start(self) -> None:
        cfg = self.settings.simvenue
        self.v = VenueState(cfg, account_keys(cfg), read_only_keys(cfg))
        self._saved = 0
        if cfg.persist:
            self._restore()
        self.markets: dict[str, Any] = {}
        for s in cfg.symbols:
            if cfg.model == "live":
                live = LiveFeedMarket(s, cfg.live_ws_url, cfg.live_rest_url)
                self.markets[s.symbol] = live
                self.spawn(live.run(), f"live-{s.symbol}", critical=False)
            elif cfg.model == "replay" or s.replay_file:
                path = s.replay_file or _default_replay()
                self.markets[s.symbol] = ReplayMarket(
                    path, float(s.price_tick), float(s.qty_step), cfg.replay_speed
                )
            else:  # a generated market goes on from the restored mark
                mark = self.v.exchange.symbols[s.symbol].mark
                self.markets[s.symbol] = generated(
                    s.model_copy(update={"start_price": mark}), cfg.model, cfg.seed
                )
        spot_model = cfg.model if cfg.model in ("synthetic", "flow") else "synthetic"
        self.spot_markets: dict[str, Any] = {
            s.symbol: ReplayMarket(s.replay_file, float(s.price_tick), float(s.qty_step), cfg.replay_speed)
            if s.replay_file
            else generated(s, spot_model, cfg.seed)
            for s in cfg.spot_symbols
        }
        self.marks: dict[str, tuple[float, float]] = {}
        self._t0 = time.monotonic()
        self._last = self._t0
        self._step_market()  # a book exists before the first client arrives
        self.spot_side = SpotSide(self.v)
        self.v.on_spot_events = self.spot_side.dispatch
        self.runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, cfg.host, cfg.port, reuse_address=True)
        await site.start()
        log.info("venue_listening", host=cfg.host, port=cfg.port, model=cfg.model, symbols=len(self.markets))
        self.spawn(self._market_loop(), "market")
        for speed, ms in SPEEDS_MS.items():
            self.spawn(self._every(ms / 1000, lambda s=speed: self.v.flush_timed(s)), f"depth-{speed}")
        if self.spot_side.streams:
            for speed, ms in SPOT_SPEEDS_MS.items():
                self.spawn(
                    self._every(ms / 1000, lambda s=speed: self.spot_side.flush_timed(s)), f"spot-{speed}"
                )
        self.spawn(self._every(1.0, lambda: self.v.mark_events("1s")), "mark-1s")
        self.spawn(self._every(3.0, lambda: self.v.mark_events("3s")), "mark-3s")
        self.spawn(self._every(0.02, self._tick), "timers")
        if cfg.persist:
            self.spawn(self._save_loop(cfg.persist_interval_s), "persist")

    # ---- persistence ----------------------------------------------------------------------------

    @property
    def _state_path(self) -> Path:
        return self.settings.run_path / self.settings.simvenue.state_file

    def _restore(self) -> None:
        """The saved accounts, orders and history (:mod:`services.venue.persist`), before any client."""
        snap = persist.read(self._state_path)  # VenueStateError: the start fails, saying why
        if snap is None:
            log.info("venue_state_fresh", file=str(self._state_path))
            return
        got = persist.restore(self.v.exchange, snap, self._state_path, self.v.spot)
        self._saved = self._changes()
        log.info("venue_state_restored", file=str(self._state_path), **got)

    def _changes(self) -> int:
        return self.v.exchange.changes + self.v.spot.changes

    async def _save_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._save()

    async def _save(self) -> None:
        """Save when an account changed since the last save; the snapshot is taken here, on the
        exchange's loop, and encoded and written in a thread."""
        changes = self._changes()
        if changes == self._saved:
            return
        snap = persist.snapshot(self.v.exchange, self.v.spot)
        t0 = time.perf_counter()
        await asyncio.to_thread(lambda: persist.write(self._state_path, persist.encode(snap)))
        SAVE_SECONDS.observe(time.perf_counter() - t0)
        self._saved = changes

    def _app(self) -> web.Application:
        v = self.v
        app = web.Application(client_max_size=1 << 20)
        handler = rest.make_handler(v)
        for method, path in rest.ROUTES:
            app.router.add_route(method, path, handler)
        for route in ("public", "market"):
            app.router.add_get(f"/{{route:{route}}}/ws", lambda r: ws.market_stream(v, r))
            app.router.add_get(f"/{{route:{route}}}/ws/{{streams:.*}}", lambda r: ws.market_stream(v, r))
            app.router.add_get(f"/{{route:{route}}}/stream", lambda r: ws.market_stream(v, r))
        app.router.add_get("/ws", lambda r: ws.market_stream(v, r))
        app.router.add_get("/ws/{streams:.*}", lambda r: ws.market_stream(v, r))
        app.router.add_get("/stream", lambda r: ws.market_stream(v, r))
        app.router.add_get("/private/ws", lambda r: ws.user_stream(v, r))
        app.router.add_get("/private/ws/{key}", lambda r: ws.user_stream(v, r))
        app.router.add_get("/ws-fapi/v1", lambda r: ws.ws_api(v, r))
        spot_routes(app, self.spot_side)
        if self.settings.simvenue.admin:
            app.router.add_routes(admin.routes(v, self.shock))
        app.router.add_route("*", "/{tail:.*}", handler)  # unknown paths answer Binance-style 404
        return app

    # ---- loops ------------------------------------------------------------------------------

    async def _every(self, interval: float, fn: Any) -> None:
        next_at = time.monotonic()
        while True:
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            fn()

    async def _market_loop(self) -> None:
        step = self.settings.simvenue.step_ms / 1000
        while True:
            await asyncio.sleep(step)
            self._step_market()

    def _step_market(self) -> None:
        now = time.monotonic()
        dt, self._last = max(1e-3, now - self._last), now
        for symbol, m in self.markets.items():
            steps = m.step(now - self._t0) if isinstance(m, ReplayMarket) else [m.step(dt)]
            for s in steps:
                self._apply(symbol, s)
            if steps:
                self._update_mark(symbol, steps[-1].mid, dt)
        for symbol, m in self.spot_markets.items():
            for s in m.step(now - self._t0) if isinstance(m, ReplayMarket) else [m.step(dt)]:
                self._apply(symbol, s, self.v.spot)
        MARKET_STEPS.inc()
        self.v.dispatch()

    def _apply(self, symbol: str, s: MarketStep, ex: Exchange | SpotExchange | None = None) -> None:
        """One market step on the futures exchange (or ``ex``, the spot one)."""
        ex = ex or self.v.exchange
        if s.pre:
            ex.market_levels(symbol, s.pre)
        for aggressor, price, qty in s.trades:
            ex.market_trade(symbol, aggressor, price, qty)
        if s.post:
            ex.market_levels(symbol, s.post)

    def _update_mark(self, symbol: str, mid: float, dt: float) -> None:
        """Mark: the mid smoothed over about a second; index: over about three."""
        if mid <= 0:
            return
        mark, index = self.marks.get(symbol, (mid, mid))
        mark += (mid - mark) * (1 - math.exp(-dt / 1.0))
        index += (mid - index) * (1 - math.exp(-dt / 3.0))
        self.marks[symbol] = (mark, index)
        tick = self.v.exchange.symbols[symbol].sym.tick
        self.v.exchange.set_mark(
            symbol, Decimal(repr(round(mark / float(tick)))) * tick, Decimal(repr(index))
        )

    def _tick(self) -> None:
        self.v.exchange.tick()
        ws.expire_listen_keys(self.v)
        self.v.dispatch()
        ORDERS_OPEN.set(self.v.exchange.open_count())
        WS_CONNECTIONS.set(len(self.v.hub.conns))

    def shock(self, symbol: str, pct: float) -> None:
        """The fault control's price shock: the market jumps by ``pct``."""
        m = self.markets[symbol]
        if isinstance(m, ReplayMarket):
            self._apply(symbol, m.shock(pct))
            self.v.dispatch()
        else:
            m.shock(pct)

    def status_detail(self) -> dict[str, str]:
        return {
            "open_orders": str(self.v.exchange.open_count()),
            "ws": str(len(self.v.hub.conns)),
        }

    async def on_stop(self) -> None:
        if self.runner is not None:
            self.v.stopping.set()
            await self.v.hub.close_all()
            await self.runner.cleanup()
        if self.settings.simvenue.persist and hasattr(self, "v"):
            await self._save()  # what the last requests changed


def _default_replay() -> str:
    from common.config import PROJECT_ROOT

    return str(PROJECT_ROOT / "data" / "binance" / "usdm_ethusdt_20240808.gz")
