"""A typed Binance USDⓈ-M REST client over httpx: signing, clock offset, rate limits, error tree.

* Keep-alive connection pool; a timeout on every request.
* SIGNED requests carry ``timestamp`` (local clock + the measured server offset) and
  ``recvWindow``; the HMAC covers the exact query string sent, signature last. A ``-1021`` answer
  resyncs the clock and retries once (the request was certainly not executed).
* Rate limits: the weight and order counts the venue reports in ``X-MBX-USED-WEIGHT-1M`` and
  ``X-MBX-ORDER-COUNT-*`` plus what is in flight predict the next request's cost; a request that
  would cross ``safety`` of a limit waits for the window to roll (or raises :class:`LocalRateLimit`
  if that is too long). 429 and 418 stop *all* sending until their ``Retry-After`` (or the ban-until
  time of a 418's message) has passed; then one request probes the venue while the others wait, so
  every task of the process does not fire at the same instant and earn the IP a ban. Weight and
  bans are per IP: with ``shared`` they are merged with every other process of this machine that
  talks to the same venue (:mod:`common.binance.shared_limits`).
* Errors are raised as the :mod:`common.binance.errors` tree; a timeout, a dropped connection or a
  body that does not decode is :class:`OutcomeUnknown`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from prometheus_client import Counter, Gauge, Histogram

from common.binance.errors import (
    BinanceError,
    InvalidTimestamp,
    LocalRateLimit,
    MalformedResponse,
    RateLimited,
    TransportError,
    classify,
)
from common.binance.shared_limits import SharedLimits
from common.binance.signing import encode_params, hmac_hex
from common.logging import log
from common.trace import stamp_wire

REST_REQUESTS = Counter("mm_rest_requests_total", "REST requests sent", ["endpoint", "status"])
REST_ERRORS = Counter("mm_rest_errors_total", "REST requests answered with an error", ["endpoint", "code"])
REST_LATENCY = Histogram(
    "mm_rest_latency_seconds",
    "REST round-trip time",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
REST_WEIGHT = Gauge("mm_rest_weight_used", "Request weight used in the current minute (venue's figure)")
ORDER_COUNT = Gauge("mm_rest_orders_used", "Orders counted by the venue in the current window", ["window"])


@dataclass
class _Window:
    """One rate-limit window as the venue reports it, plus what we have in flight."""

    limit: int
    length_ms: int
    used: int = 0
    start: int = 0
    inflight: int = 0

    def roll(self, now_ms: int) -> None:
        start = now_ms - now_ms % self.length_ms
        if start != self.start:
            self.start, self.used = start, 0

    def wait_ms(self, now_ms: int) -> int:
        return self.start + self.length_ms - now_ms


@dataclass
class Limits:
    """Rate-limit state shared by every request of one client (one IP, one account)."""

    weight: _Window = field(default_factory=lambda: _Window(2400, 60_000))
    orders_10s: _Window = field(default_factory=lambda: _Window(300, 10_000))
    orders_1m: _Window = field(default_factory=lambda: _Window(1200, 60_000))
    blocked_until_ms: int = 0
    safety: float = 0.8
    urgent_safety: float = 0.95
    recovering: bool = False  # after a 429/418: one request at a time until one is not refused
    probing: bool = False

    def set_from_exchange_info(self, rate_limits: list[dict[str, Any]]) -> None:
        for r in rate_limits:
            secs = {"SECOND": 1, "MINUTE": 60, "DAY": 86400}.get(r["interval"], 60) * int(r["intervalNum"])
            if r["rateLimitType"] == "REQUEST_WEIGHT" and secs == 60:
                self.weight.limit = int(r["limit"])
            elif r["rateLimitType"] == "ORDERS" and secs == 10:
                self.orders_10s.limit = int(r["limit"])
            elif r["rateLimitType"] == "ORDERS" and secs == 60:
                self.orders_1m.limit = int(r["limit"])


T = TypeVar("T")


async def until_answered(call: Callable[[], Awaitable[T]], max_delay_s: float = 5.0) -> T:
    """A start-up call (exchange info, time sync) retried with back-off until the venue answers:
    a service may start before the venue does. Each failure is logged with its error."""
    delay = 0.2
    while True:
        try:
            return await call()
        except BinanceError as exc:
            log.warning("venue_not_ready", error=str(exc)[:200], retry_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)


class RestClient:
    """One connection pool, one key, one set of limits."""

    def __init__(
        self,
        base_url: str,
        api_key: str = "",
        api_secret: str = "",
        timeout_s: float = 5.0,
        recv_window_ms: int = 5000,
        max_wait_s: float = 2.0,
        shared: SharedLimits | None = None,
        market: str = "usdm",
    ) -> None:
        self.shared = shared
        self.market = market
        self._api = "/api/v3" if market == "spot" else "/fapi/v1"
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._secret = api_secret
        self.recv_window_ms = recv_window_ms
        self.max_wait_s = max_wait_s
        self.limits = Limits()
        self.offset_ms = 0
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=60),
            headers={"X-MBX-APIKEY": api_key} if api_key else {},
        )

    async def close(self) -> None:
        await self._http.aclose()
        if self.shared is not None:
            self.shared.close()

    def blocked_for_s(self) -> float:
        """Seconds until sending may resume after a 429/418 (0 = not stopped), this machine-wide."""
        now = self.now_ms()
        if self.shared is not None:
            self.shared.merge_in(self.limits, now)
        return max(0.0, (self.limits.blocked_until_ms - now) / 1000)

    def stop_sending(self, seconds: float) -> None:
        """Stop every request (REST and WS-API) for ``seconds``: a 429's Retry-After, a ban."""
        lim = self.limits
        lim.recovering = True
        lim.blocked_until_ms = max(lim.blocked_until_ms, self.now_ms() + int(seconds * 1000))
        if self.shared is not None:
            self.shared.publish(lim, self.now_ms())

    def now_ms(self) -> int:
        """The venue's clock as we estimate it."""
        return time.time_ns() // 1_000_000 + self.offset_ms

    async def sync_time(self) -> int:
        """Measure the offset to the server clock (midpoint of the round trip); returns it in ms."""
        t0 = time.time_ns()
        data = await self.request("GET", f"{self._api}/time", weight=1)
        t1 = time.time_ns()
        self.offset_ms = int(data["serverTime"]) - (t0 + t1) // 2_000_000
        return self.offset_ms

    # ---- requests -------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        params: list[tuple[str, Any]] | dict[str, Any] | None = None,
        weight: int = 1,
        signed: bool = False,
        orders: int = 0,
        urgent: bool = False,
    ) -> Any:
        """Send one request; returns the decoded JSON or raises a :class:`BinanceError`.

        ``urgent`` (cancels, the dead-man's switch, the kill's listings) may use the weight kept in
        reserve above ``safety``, so taking risk off never waits on the budget the rest spent.
        """
        items = list(params.items()) if isinstance(params, dict) else list(params or [])
        for attempt in (0, 1):
            try:
                return await self._send(method, path, items, weight, signed, orders, urgent)
            except InvalidTimestamp:
                if attempt or not signed:
                    raise
                await self.sync_time()  # -1021 means not executed: resync and try once more
        raise AssertionError("unreachable")

    @contextlib.asynccontextmanager
    async def slot(self, weight: int, orders: int, urgent: bool = False) -> AsyncIterator[None]:
        """Room for one request (REST or WS-API) under every limit, held while it is in flight."""
        probe = await self.admit(weight, orders, urgent)
        limited = False
        try:
            yield
        except RateLimited:
            limited = True
            raise
        finally:
            if probe:
                self.limits.probing = False
                self.limits.recovering = limited

    async def _send(
        self,
        method: str,
        path: str,
        items: list[tuple[str, Any]],
        weight: int,
        signed: bool,
        orders: int,
        urgent: bool,
    ) -> Any:
        async with self.slot(weight, orders, urgent):
            return await self._exchange(method, path, items, weight, signed)

    async def _exchange(
        self, method: str, path: str, items: list[tuple[str, Any]], weight: int, signed: bool
    ) -> Any:
        query = encode_params(items)
        if signed:
            extra = encode_params([("recvWindow", self.recv_window_ms), ("timestamp", self.now_ms())])
            query = f"{query}&{extra}" if query else extra
            query += "&signature=" + hmac_hex(self._secret, query)
        url = f"{path}?{query}" if query else path
        w = self.limits
        w.weight.inflight += weight
        t0 = time.perf_counter()
        stamp_wire()
        try:
            resp = await self._http.request(method, url)
        except httpx.HTTPError as exc:
            REST_REQUESTS.labels(path, "transport").inc()
            REST_ERRORS.labels(path, "transport").inc()
            raise TransportError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        finally:
            w.weight.inflight -= weight
        REST_LATENCY.labels(path).observe(time.perf_counter() - t0)
        REST_REQUESTS.labels(path, str(resp.status_code)).inc()
        self._account(resp)
        if resp.status_code >= 400:
            raise self._error(path, resp)
        try:
            return resp.json()
        except ValueError:
            REST_ERRORS.labels(path, "malformed").inc()
            raise MalformedResponse(
                f"{method} {path}: HTTP {resp.status_code} with a body that is not JSON: {resp.text[:80]!r}",
                status=resp.status_code,
            ) from None

    async def admit(self, weight: int, orders: int, urgent: bool = False) -> bool:
        """Wait for room under every limit, or refuse before sending; True when this request is the
        one that probes the venue after a 429/418 (the caller releases it with the answer)."""
        lim = self.limits
        while True:
            now = self.now_ms()
            if self.shared is not None:
                self.shared.merge_in(lim, now)
            if lim.blocked_until_ms > now:
                raise LocalRateLimit(
                    "sending is stopped after a 429/418 until Retry-After",
                    (lim.blocked_until_ms - now) / 1000,
                )
            if lim.recovering and lim.probing:
                raise LocalRateLimit("after a 429/418 one request probes the venue; the others wait", 0.2)
            wait = 0
            for win, cost in (
                (lim.weight, weight),
                (lim.orders_10s, orders),
                (lim.orders_1m, 1 if orders else 0),
            ):
                win.roll(now)
                share = lim.urgent_safety if urgent else lim.safety
                if cost and win.used + win.inflight + cost > win.limit * share:
                    wait = max(wait, win.wait_ms(now))
            if not wait:
                if lim.recovering:
                    lim.probing = True
                    return True
                return False
            if wait > self.max_wait_s * 1000:
                raise LocalRateLimit(f"rate limit would be crossed; room again in {wait} ms", wait / 1000)
            await asyncio.sleep(wait / 1000 + 0.005)

    def _account(self, resp: httpx.Response) -> None:
        now = self.now_ms()
        lim = self.limits
        for header, win in (
            ("X-MBX-USED-WEIGHT-1M", lim.weight),
            ("X-MBX-ORDER-COUNT-10S", lim.orders_10s),
            ("X-MBX-ORDER-COUNT-1M", lim.orders_1m),
        ):
            val = resp.headers.get(header)
            if val is not None and val.isdigit():
                win.roll(now)
                win.used = max(win.used, int(val))  # out-of-order answers never lower the count
        if self.shared is not None:
            self.shared.publish(lim, now)
        REST_WEIGHT.set(lim.weight.used)
        ORDER_COUNT.labels("10s").set(lim.orders_10s.used)
        ORDER_COUNT.labels("1m").set(lim.orders_1m.used)

    def _error(self, path: str, resp: httpx.Response) -> BinanceError:
        try:
            body = resp.json()
            code, msg = int(body.get("code", 0)), str(body.get("msg", ""))
        except (ValueError, AttributeError, TypeError):
            code, msg = 0, resp.text[:200]
        try:
            retry = float(resp.headers.get("Retry-After", "0") or 0)
        except ValueError:
            retry = 0.0  # an HTTP-date or garbage: the ban-until of the message or the default applies
        err = classify(resp.status_code, code, msg, retry, self.now_ms())
        REST_ERRORS.labels(path, str(code or resp.status_code)).inc()
        if isinstance(err, RateLimited):
            self.stop_sending(err.retry_after)
        return err

    # ---- conveniences ----------------------------------------------------------------------

    async def exchange_info(self) -> dict[str, Any]:
        info: dict[str, Any] = await self.request(
            "GET", f"{self._api}/exchangeInfo", weight=20 if self.market == "spot" else 1
        )
        self.limits.set_from_exchange_info(info.get("rateLimits", []))
        return info

    async def depth(self, symbol: str, limit: int = 1000) -> bytes:
        """The raw snapshot bytes (the caller decodes them with its own Struct)."""
        if self.market == "spot":
            weight = 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
        else:
            weight = 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
        path = f"{self._api}/depth"
        async with self.slot(weight, 0):
            t0 = time.perf_counter()
            try:
                resp = await self._http.get(path, params={"symbol": symbol, "limit": limit})
            except httpx.HTTPError as exc:
                REST_ERRORS.labels(path, "transport").inc()
                raise TransportError(f"depth {symbol}: {exc}") from exc
            REST_LATENCY.labels(path).observe(time.perf_counter() - t0)
            REST_REQUESTS.labels(path, str(resp.status_code)).inc()
            self._account(resp)
            if resp.status_code >= 400:
                raise self._error(path, resp)
            return resp.content
