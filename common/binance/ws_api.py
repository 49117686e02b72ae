"""Binance USDⓈ-M WebSocket API client (``/ws-fapi/v1``): the low-latency order path.

Requests are ``{"id", "method", "params"}`` signed over the params sorted by name with
``apiKey`` included; answers are matched by id. The connection is opened on demand and
re-opened after a failure. A request whose answer never comes (timeout, dropped connection, a
frame that does not decode) ends in :class:`OutcomeUnknown`: the caller resolves it by querying,
never by resending. Limits, bans and clock offset are shared with the REST client (the venue
counts both paths together): a 429/418 error frame's ``retryAfter`` (epoch ms) stops both.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

import websockets
from prometheus_client import Counter
from websockets.asyncio.client import ClientConnection

from common.binance.errors import BinanceError, MalformedResponse, RateLimited, TransportError, classify
from common.binance.rest import RestClient
from common.binance.signing import hmac_hex, ws_api_payload
from common.logging import log
from common.trace import stamp_wire

ORDER_METHODS = {"order.place": 1, "order.modify": 1}
WS_REQUESTS = Counter("mm_ws_api_requests_total", "WS-API requests sent", ["method", "status"])
WS_ERRORS = Counter(
    "mm_ws_api_errors_total",
    "WS-API requests that failed: the venue's error code, or transport/malformed (no usable answer)",
    ["method", "code"],
)


class WsApiClient:
    """One WS-API connection; ``call()`` is safe to use from many tasks at once."""

    def __init__(
        self, url: str, api_key: str, api_secret: str, rest: RestClient, timeout_s: float = 5.0
    ) -> None:
        self.url = url
        self._key = api_key
        self._secret = api_secret
        self.rest = rest
        self.timeout_s = timeout_s
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self.connected = False

    async def _connection(self) -> ClientConnection:
        if self._ws is not None and self.connected:
            return self._ws
        async with self._lock:
            if self._ws is None or not self.connected:
                try:
                    self._ws = await websockets.connect(
                        self.url,
                        open_timeout=self.timeout_s,
                        close_timeout=1,
                        ping_interval=None,
                        max_size=1 << 22,
                    )
                except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                    raise TransportError(f"ws-api connect failed: {exc}") from exc
                self.connected = True
                self._reader = asyncio.create_task(self._read(self._ws))
                log.info("ws_api_connected", url=self.url)
        return self._ws

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    log.warning("ws_api_frame_malformed", frame=str(raw)[:120])
                    continue  # its request times out: an unknown outcome, resolved by query
                if not isinstance(msg, dict):
                    log.warning("ws_api_frame_malformed", frame=str(raw)[:120])
                    continue
                fut = self._pending.pop(str(msg.get("id")), None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.connected = False
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(TransportError("ws-api connection closed before the answer"))
            self._pending.clear()
            log.warning("ws_api_disconnected")

    async def call(self, method: str, params: dict[str, Any], signed: bool = True) -> Any:
        """One request; returns ``result`` or raises the :mod:`common.binance.errors` tree."""
        orders = ORDER_METHODS.get(method, 0)
        async with self.rest.slot(0 if orders else 1, orders, urgent=method == "order.cancel"):
            return await self._exchange(method, params, signed)

    async def _exchange(self, method: str, params: dict[str, Any], signed: bool) -> Any:
        p = {k: v for k, v in params.items() if v is not None}
        if signed:
            p.update(apiKey=self._key, timestamp=self.rest.now_ms(), recvWindow=self.rest.recv_window_ms)
            p["signature"] = hmac_hex(self._secret, ws_api_payload(p))
        rid = str(next(self._ids))
        try:
            ws = await self._connection()
        except TransportError:
            _transport(method)
            raise
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await ws.send(json.dumps({"id": rid, "method": method, "params": p}))
            stamp_wire()
            answer = await asyncio.wait_for(fut, self.timeout_s)
        except TimeoutError as exc:
            self._pending.pop(rid, None)
            _transport(method)
            raise TransportError(f"{method}: no answer within {self.timeout_s} s") from exc
        except websockets.ConnectionClosed as exc:
            self._pending.pop(rid, None)
            self.connected = False
            _transport(method)
            raise TransportError(f"{method}: connection closed") from exc
        except TransportError:
            _transport(method)
            raise
        return self._result(method, answer)

    def _result(self, method: str, answer: dict[str, Any]) -> Any:
        limits = answer.get("rateLimits")
        self._account(limits if isinstance(limits, list) else [])
        try:
            status = int(answer.get("status", 0))
        except (TypeError, ValueError):
            status = 0
        WS_REQUESTS.labels(method, str(status) if status else "malformed").inc()
        if status == 200:
            return answer.get("result")
        err = answer.get("error")
        err = err if isinstance(err, dict) else {}
        data = err.get("data")
        now = self.rest.now_ms()
        retry_at = data.get("retryAfter") if isinstance(data, dict) else None
        retry = max(0.0, (retry_at - now) / 1000) if isinstance(retry_at, int) else 0.0
        code = err.get("code")
        exc: BinanceError = classify(
            status, code if isinstance(code, int) else 0, str(err.get("msg", "")), retry, now
        )
        if not status:
            exc = MalformedResponse(f"{method}: an answer without a status: {str(answer)[:120]}")
        WS_ERRORS.labels(method, str(code) if isinstance(code, int) and status else "malformed").inc()
        if isinstance(exc, RateLimited):
            self.rest.stop_sending(exc.retry_after)
        return _raise(exc)

    def _account(self, limits: list[dict[str, Any]]) -> None:
        lim = self.rest.limits
        now = self.rest.now_ms()
        for r in limits:
            if not isinstance(r, dict) or not isinstance(r.get("intervalNum"), int):
                continue
            secs = {"SECOND": 1, "MINUTE": 60}.get(r.get("interval", ""), 0) * r["intervalNum"]
            win = {
                ("REQUEST_WEIGHT", 60): lim.weight,
                ("ORDERS", 10): lim.orders_10s,
                ("ORDERS", 60): lim.orders_1m,
            }.get((r.get("rateLimitType", ""), secs))
            if win is not None and isinstance(r.get("count"), int):
                win.roll(now)
                win.used = max(win.used, r["count"])

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(websockets.WebSocketException, OSError):
                await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()


def _transport(method: str) -> None:
    WS_REQUESTS.labels(method, "transport").inc()
    WS_ERRORS.labels(method, "transport").inc()


def _raise(exc: BinanceError) -> Any:
    raise exc
