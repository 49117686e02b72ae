"""The guardian: spot's dead-man's switch as a process of its own (:mod:`services.guardian.core`).

It hears ``sys.heartbeat.gateway-spot`` and, once the gateway has been silent for the gateway's
``deadman_ms``, cancels every open order of each spot symbol with the account's key
(``DELETE /api/v3/openOrders``) and lists them again, once a second, until the venue shows none.
Every sweep is logged and counted (``mm_guardian_sweeps_total``); ``mmctl status`` shows the
switch's state.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client import Counter, Gauge

from common import topics
from common.binance.errors import BinanceError
from common.binance.rest import RestClient
from common.config import SPOT_GATEWAY, Settings
from common.logging import log
from common.messages import Envelope, Heartbeat
from common.runtime import CommandError, Service
from services.gateway.spot import Inventory, SpotVenue
from services.guardian.core import SpotSwitch

SWEEPS = Counter("mm_guardian_sweeps_total", "Spot cancel sweeps after gateway-spot fell silent", ["result"])
LEFT = Gauge("mm_guardian_open_orders", "Spot orders the venue listed after the last sweep", ["symbol"])


class GuardianService(Service):
    """Holds the spot account's dead-man's switch."""

    name = "guardian"

    def __init__(self, settings: Settings, instance: str = "") -> None:
        super().__init__(settings, instance)
        self.switch = SpotSwitch(silence_ns=settings.gateway.deadman_ms * 1_000_000)
        key, secret = settings.account_credentials("main")
        venue = settings.venue
        self.rest = RestClient(venue.spot_rest, key, secret, venue.http_timeout_s, market="spot")
        # the spot gateway's own calls (cancel-all taking -2011 for "nothing open", the listing)
        self.venue = SpotVenue(self.rest, None, Inventory({}, {}))
        self.has_keys = bool(key and secret)
        self.left: dict[str, int] = {}

    async def on_start(self) -> None:
        if not self.has_keys:
            raise CommandError(f"{self.name} needs MM_API_KEY and MM_API_SECRET (the spot account's key)")
        self.subscribe([topics.sys_heartbeat(SPOT_GATEWAY)], self._on_message)
        self.spawn(self._watch(), "watch")

    def _on_message(self, topic: str, msg: Any, env: Envelope) -> None:
        if isinstance(msg, Heartbeat) and msg.service == SPOT_GATEWAY:
            now = time.time_ns()
            if self.switch.clean or self.switch.due(now):  # back after a silence the switch acted on
                log.info("guardian_gateway_back", silent_s=round(self.switch.silent_s(now), 1))
            self.switch.on_heartbeat(now)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = time.time_ns()
            if not self.switch.due(now):
                continue
            log.warning("guardian_sweep", silent_s=round(self.switch.silent_s(now), 1),
                        symbols=self.settings.spot_symbols)  # fmt: skip
            left = await self._sweep()
            self.switch.swept(left)
            SWEEPS.labels("clean" if left == 0 else "orders_left").inc()
            log.warning("guardian_swept", open_left=left, sweeps=self.switch.sweeps)
            if left:
                await asyncio.sleep(1.0)

    async def _sweep(self) -> int:
        """Cancel every spot symbol's open orders, then count what the venue still lists (a symbol
        that could not be read counts as one left: the sweep runs again)."""
        total = 0
        for sym in self.settings.spot_symbols:
            try:
                await self.venue.cancel_all(sym)
            except BinanceError as exc:
                log.error("guardian_cancel_failed", symbol=sym, error=str(exc)[:200])
            try:
                n = len(await self.venue.open_orders(sym, urgent=True))
            except BinanceError as exc:
                log.error("guardian_list_failed", symbol=sym, error=str(exc)[:200])
                n = 1
            self.left[sym] = n
            LEFT.labels(sym).set(n)
            total += n
        return total

    def status_detail(self) -> dict[str, str]:
        sw = self.switch
        state = (
            "waiting for gateway-spot"
            if not sw.armed
            else "silent: sweeping"
            if sw.due(time.time_ns())
            else "armed"
        )
        out = {"switch": state, "window_ms": str(self.settings.gateway.deadman_ms), "sweeps": str(sw.sweeps)}
        if sw.clean:
            out["switch"] = "swept: no spot order open"
        return out

    async def on_stop(self) -> None:
        await self.rest.close()
