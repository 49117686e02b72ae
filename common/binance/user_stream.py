"""The user data stream, kept alive: listenKey lifecycle, connection, and gap reporting.

* POST a listenKey, connect to ``<private>/ws/<key>``, PUT a keepalive every ``keepalive_s``
  (Binance: the key lives 60 minutes from the last keepalive; we send one every 30-50).
* ``-1125`` on keepalive or a ``listenKeyExpired`` event: POST a new key and reconnect.
* Any reconnect is a gap: events may have been missed, so ``on_gap`` is called once the new
  stream is up and the owner reconciles through REST (open orders, positions, trades).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import msgspec
import websockets

from common.binance.errors import BinanceError, ListenKeyInvalid
from common.binance.rest import RestClient
from common.binance.user import ListenKeyExpired, UserEvent, user_event_decoder
from common.logging import log

KNOWN = (b'"ORDER_TRADE_UPDATE"', b'"TRADE_LITE"', b'"ACCOUNT_UPDATE"', b'"listenKeyExpired"')


class UserStream:
    """Calls ``on_event(event, recv_ns)`` for each decoded event, ``on_gap()`` after every (re)connect."""

    def __init__(
        self,
        rest: RestClient,
        private_url: str,
        on_event: Callable[[UserEvent, int], None],
        on_gap: Callable[[], None],
        on_bad: Callable[[str], None],
        keepalive_s: float = 1800.0,
        idle_s: float = 600.0,
    ) -> None:
        self.rest = rest
        self.url = private_url.rstrip("/")
        self.on_event = on_event
        self.on_gap = on_gap
        self.on_bad = on_bad
        self.keepalive_s = keepalive_s
        self.idle_s = idle_s
        self.key = ""
        self.connected = False
        self.reconnects = 0
        self._renew = asyncio.Event()

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                self.key = (await self.rest.request("POST", "/fapi/v1/listenKey"))["listenKey"]
                async with websockets.connect(
                    f"{self.url}/ws/{self.key}",
                    ping_interval=None,
                    open_timeout=10,
                    close_timeout=1,
                    max_size=1 << 22,
                ) as ws:
                    self.connected = True
                    backoff = 0.2
                    log.info("user_stream_connected")
                    self.on_gap()
                    await self._pump(ws)
            except (BinanceError, OSError, TimeoutError, websockets.WebSocketException) as exc:
                log.warning("user_stream_down", error=str(exc)[:200], retry_s=round(backoff, 2))
            self.connected = False
            self.reconnects += 1
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, 10.0)

    async def _pump(self, ws: websockets.ClientConnection) -> None:
        keeper = asyncio.create_task(self._keepalive())
        recv: asyncio.Task[str | bytes] | None = None
        try:
            while not self._renew.is_set():
                recv = asyncio.create_task(ws.recv())
                renew = asyncio.create_task(self._renew.wait())
                done, _ = await asyncio.wait(
                    {recv, renew}, timeout=self.idle_s, return_when=asyncio.FIRST_COMPLETED
                )
                renew.cancel()
                if recv not in done:
                    return
                self._frame(recv.result(), time.time_ns())
        finally:
            self._renew.clear()
            for task in (keeper, recv):
                if task is not None and not task.done():
                    task.cancel()
            # retrieve every outcome: a receive that failed as the connection closed is expected
            await asyncio.gather(*(t for t in (keeper, recv) if t is not None), return_exceptions=True)

    def _frame(self, raw: str | bytes, recv_ns: int) -> None:
        data = raw.encode() if isinstance(raw, str) else raw
        if not any(k in data[:40] for k in KNOWN):
            return  # other event types (ACCOUNT_CONFIG_UPDATE, MARGIN_CALL...) are not ours to act on
        try:
            ev = user_event_decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.on_bad(f"{exc}: {data[:200]!r}")
            return
        if isinstance(ev, ListenKeyExpired):
            log.warning("listen_key_expired")
            self._renew.set()
            return
        self.on_event(ev, recv_ns)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s)
            try:
                await self.rest.request("PUT", "/fapi/v1/listenKey")
            except ListenKeyInvalid:
                log.warning("listen_key_invalid_on_keepalive")
                self._renew.set()
                return
            except BinanceError as exc:
                log.warning("listen_key_keepalive_failed", error=str(exc)[:200])
