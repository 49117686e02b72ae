"""WebSocket connections of the venue and the fan-out of stream messages to them.

Each connection has a bounded outgoing queue drained by its own writer task, so one slow client
never delays the others: a client that falls ``max_queue`` messages behind is disconnected, as
Binance drops slow consumers. Messages are serialised once per stream; combined-stream
connections get the ``{"stream": ..., "data": ...}`` wrapper built around the same bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict
from typing import Any

from aiohttp import web

from common.logging import log

_SERIALS = itertools.count(1)


class Conn:
    """One WebSocket client: its route, subscriptions (market) or account (user stream)."""

    def __init__(self, ws: web.WebSocketResponse, route: str, combined: bool, max_queue: int) -> None:
        self.ws = ws
        self.route = route
        self.combined = combined
        self.streams: set[str] = set()
        self.account = ""
        self.listen_key = ""
        self.muted = False  # user stream after listenKeyExpired
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(max_queue)
        self.writer: asyncio.Task[None] | None = None
        self.sent = 0
        self.serial = next(_SERIALS)

    def push(self, text: str) -> bool:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            return False
        return True

    async def run_writer(self) -> None:
        while True:
            text = await self.queue.get()
            if text is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            self.sent += 1


class Hub:
    """Who listens to what, and delivery."""

    def __init__(self, max_queue: int = 10_000) -> None:
        self.max_queue = max_queue
        self.conns: set[Conn] = set()
        self.by_stream: dict[str, set[Conn]] = defaultdict(set)
        self.by_account: dict[str, set[Conn]] = defaultdict(set)

    def open(self, ws: web.WebSocketResponse, route: str, combined: bool) -> Conn:
        c = Conn(ws, route, combined, self.max_queue)
        c.writer = asyncio.create_task(c.run_writer())
        self.conns.add(c)
        return c

    def close(self, c: Conn) -> None:
        self.conns.discard(c)
        for s in c.streams:
            self.by_stream[s].discard(c)
        if c.account:
            self.by_account[c.account].discard(c)
        with contextlib.suppress(asyncio.QueueFull):
            c.queue.put_nowait(None)

    def subscribe(self, c: Conn, streams: list[str]) -> None:
        for s in streams:
            c.streams.add(s)
            self.by_stream[s].add(c)

    def unsubscribe(self, c: Conn, streams: list[str]) -> None:
        for s in streams:
            c.streams.discard(s)
            self.by_stream[s].discard(c)

    def attach_account(self, c: Conn, account: str, key: str) -> None:
        c.account, c.listen_key = account, key
        self.by_account[account].add(c)

    def has_listeners(self, stream: str) -> bool:
        return bool(self.by_stream.get(stream))

    def publish(self, stream: str, data: str) -> None:
        """Send one stream message (``data`` is the JSON text) to every subscriber."""
        conns = self.by_stream.get(stream)
        if not conns:
            return
        wrapped = ""
        for c in list(conns):
            if c.combined:
                if not wrapped:
                    wrapped = f'{{"stream":"{stream}","data":{data}}}'
                ok = c.push(wrapped)
            else:
                ok = c.push(data)
            if not ok:
                self._drop_slow(c)

    def publish_user(self, account: str, data: str) -> None:
        for c in list(self.by_account.get(account, ())):
            if not c.muted and not c.push(data):
                self._drop_slow(c)

    def _drop_slow(self, c: Conn) -> None:
        log.warning("ws_slow_consumer_dropped", route=c.route, queued=c.queue.qsize())
        self.close(c)
        asyncio.get_running_loop().create_task(c.ws.close(code=1008, message=b"slow consumer"))

    async def close_all(self, route: str = "") -> int:
        """Close every connection (of one route): the ``drop_ws`` fault and shutdown. A route
        ending in ``:one`` closes only the oldest connection of that route (a drill for clients
        that hold two)."""
        base, _, one = route.partition(":")
        victims = sorted((c for c in self.conns if not base or c.route == base), key=lambda c: c.serial)
        if one:
            victims = victims[:1]
        for c in victims:
            self.close(c)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await c.ws.close(code=1001, message=b"going away")
        return len(victims)

    def stats(self) -> dict[str, Any]:
        by_route: dict[str, int] = defaultdict(int)
        for c in self.conns:
            by_route[c.route] += 1
        return {
            "connections": len(self.conns),
            "streams": sum(1 for v in self.by_stream.values() if v),
            "by_route": dict(by_route),
        }
