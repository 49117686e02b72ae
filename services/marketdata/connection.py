"""One WebSocket connection to the venue's market streams, kept alive.

Reconnects with capped exponential backoff and jitter; answers the server's pings (the
websockets library does); reconnects when nothing arrives for ``idle_s``; and before the venue's
24-hour cut it opens a fresh connection first and only then closes the old one, so no update is
lost (the feed drops the duplicates of the overlap).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable

import websockets
from websockets.asyncio.client import ClientConnection

from common.logging import log

FrameHandler = Callable[[str | bytes, int], None]


class StreamConnection:
    """Feeds every frame of ``url`` to ``on_frame(raw, recv_ns)``; tells ``on_state`` of (dis)connects."""

    def __init__(
        self,
        name: str,
        url: str,
        on_frame: FrameHandler,
        on_state: Callable[[bool], None],
        min_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        rotate_after_s: float = 23.5 * 3600,
        idle_s: float = 10.0,
    ) -> None:
        self.name = name
        self.url = url
        self.on_frame = on_frame
        self.on_state = on_state
        self.min_backoff = min_backoff_s
        self.max_backoff = max_backoff_s
        self.rotate_after = rotate_after_s
        self.idle_s = idle_s
        self.connects = 0
        self.rotations = 0

    async def _open(self) -> ClientConnection:
        return await websockets.connect(
            self.url, ping_interval=None, open_timeout=10, close_timeout=2, max_size=1 << 24, max_queue=None
        )

    async def run(self) -> None:
        backoff = self.min_backoff
        while True:
            try:
                ws = await self._open()
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
                log.warning("ws_connect_failed", conn=self.name, error=str(exc), retry_s=round(backoff, 2))
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, self.max_backoff)
                continue
            self.connects += 1
            backoff = self.min_backoff
            log.info("ws_connected", conn=self.name, url=self.url)
            self.on_state(True)
            await self._pump(ws)
            self.on_state(False)
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))

    async def _pump(self, ws: ClientConnection) -> None:
        """Read until the connection ends; swap in a fresh one before the rotation deadline."""
        deadline = time.monotonic() + self.rotate_after
        try:
            while True:
                if time.monotonic() >= deadline:
                    ws = await self._rotate(ws)
                    deadline = time.monotonic() + self.rotate_after
                try:  # asyncio.timeout, not wait_for: see common.runtime.wait_set
                    async with asyncio.timeout(self.idle_s):
                        raw = await ws.recv()
                except TimeoutError:
                    log.warning("ws_idle_reconnect", conn=self.name, idle_s=self.idle_s)
                    return
                self.on_frame(raw, time.time_ns())
        except websockets.ConnectionClosed as exc:
            log.warning("ws_closed", conn=self.name, code=exc.rcvd.code if exc.rcvd else None)
        finally:
            with contextlib.suppress(websockets.WebSocketException, OSError):
                await ws.close()

    async def _rotate(self, old: ClientConnection) -> ClientConnection:
        """Make before break: the new connection is receiving before the old one closes."""
        try:
            new = await self._open()
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            log.warning("ws_rotate_failed", conn=self.name, error=str(exc))
            return old
        # Drain what the old connection already has, then hand over.
        while True:
            try:
                async with asyncio.timeout(0.05):
                    raw = await old.recv()
            except (TimeoutError, websockets.ConnectionClosed):
                break
            self.on_frame(raw, time.time_ns())
        with contextlib.suppress(websockets.WebSocketException, OSError):
            await old.close()
        self.rotations += 1
        log.info("ws_rotated", conn=self.name)
        return new
