"""The venue's WebSocket endpoints: market streams, the user data stream and the WS-API.

* ``/public`` (depth, bookTicker) and ``/market`` (trade, aggTrade, markPrice), raw
  (``/ws/<s1>/<s2>``) or combined (``/stream?streams=a/b``), with SUBSCRIBE, UNSUBSCRIBE,
  LIST_SUBSCRIPTIONS and SET_PROPERTY; legacy unrouted ``/ws`` and ``/stream`` serve public
  streams only, as Binance does since 2026.
* ``/private/ws/<listenKey>``: the account's user data events.
* ``/ws-fapi/v1``: ``order.place``, ``order.cancel``, ``order.modify``, ``order.status`` and the
  ``userDataStream.*`` methods, signed over the params sorted by name with ``apiKey`` included.
  A read-only key gets status 401 -2015 for the order methods; a banned IP gets status 418 with
  ``error.data.retryAfter``; the ``ws_api_429`` and ``late_new`` faults act here too.

While a ``ws_outage`` fault holds a route, its handshakes are answered 503 (no upgrade).

Servers ping every ``ws_ping_interval_s``; a client sending more than ``ws_max_incoming_per_s``
messages in a second is disconnected; every connection is closed after ``ws_max_lifetime_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from common.binance.signing import verify_hmac, ws_api_payload
from common.logging import log
from services.venue import rest
from services.venue.accounts import Account
from services.venue.errors import BAD_KEY, UNKNOWN_503, VenueError, err
from services.venue.hub import Conn
from services.venue.state import VenueState, dumps

PUBLIC_KINDS = ("depth", "bookTicker")
MARKET_KINDS = ("trade", "aggTrade", "markPrice")


def stream_allowed(v: VenueState, route: str, stream: str) -> bool:
    """Is ``stream`` a known stream of a known symbol, served on ``route``?"""
    sym, _, rest_ = stream.partition("@")
    if sym.upper() not in v.exchange.symbols or not rest_:
        return False
    kind = rest_.split("@")[0]
    valid = rest_ in (
        "depth",
        "depth@0ms",
        "depth@100ms",
        "depth@500ms",
        "bookTicker",
        "trade",
        "aggTrade",
        "markPrice",
        "markPrice@1s",
    )
    if not valid:
        return False
    return kind in (PUBLIC_KINDS if route == "public" else MARKET_KINDS)


class _Budget:
    """Incoming messages per second of one connection."""

    def __init__(self, per_s: int) -> None:
        self.per_s, self.window, self.count = per_s, 0, 0

    def ok(self) -> bool:
        now = int(time.monotonic())
        if now != self.window:
            self.window, self.count = now, 0
        self.count += 1
        return self.count <= self.per_s


async def _open(v: VenueState, req: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=v.cfg.ws_ping_interval_s, max_msg_size=1 << 20)
    await ws.prepare(req)
    return ws


def _down(v: VenueState, route: str) -> web.Response | None:
    """The answer to a handshake on a route the ``ws_outage`` fault has down, else None."""
    if not v.faults.ws_down(route, v.now_ms()):
        return None
    return web.Response(status=503, text=f"/{route} streams unavailable (ws_outage)")


async def _lifetime(v: VenueState, ws: web.WebSocketResponse) -> None:
    await asyncio.sleep(v.cfg.ws_max_lifetime_s)
    await ws.close(code=1000, message=b"connection lifetime reached")


async def market_stream(v: VenueState, req: web.Request) -> web.StreamResponse:
    """``/<route>/ws/<streams>`` and ``/<route>/stream?streams=...``."""
    route = req.match_info.get("route", "public") or "public"
    if (down := _down(v, route)) is not None:
        return down
    combined = req.path.rstrip("/").endswith("/stream")
    names = req.query.get("streams", "") if combined else req.match_info.get("streams", "")
    streams = [s for s in names.split("/") if s]
    bad = [s for s in streams if not stream_allowed(v, route, s)]
    if bad:
        return web.json_response({"code": -1121, "msg": f"Invalid stream for /{route}: {bad[0]}"}, status=400)
    ws = await _open(v, req)
    conn = v.hub.open(ws, route, combined)
    v.hub.subscribe(conn, streams)
    await _serve(v, ws, conn, _control)
    return ws


Answer = Callable[[VenueState, Conn, str], dict[str, Any]]


async def _serve(v: VenueState, ws: web.WebSocketResponse, conn: Conn, answer: Answer) -> None:
    """Answer a stream connection's text frames until it closes: the venue's 24 h lifetime applies and
    more than ``wsMaxIncomingPerS`` frames a second closes it with 1008, as Binance does."""
    life = asyncio.create_task(_lifetime(v, ws))
    budget = _Budget(v.cfg.ws_max_incoming_per_s)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            if not budget.ok():
                await ws.close(code=1008, message=b"too many incoming messages")
                break
            conn.push(dumps(answer(v, conn, msg.data)))
    finally:
        life.cancel()
        v.hub.close(conn)


def _control(v: VenueState, conn: Conn, text: str) -> dict[str, Any]:
    try:
        req = json.loads(text)
        method, params, rid = req["method"], req.get("params", []), req.get("id")
    except (ValueError, KeyError, TypeError):
        return {"error": {"code": 3, "msg": "Invalid JSON: expected an object with method"}, "id": None}
    if method == "SUBSCRIBE":
        bad = [s for s in params if not stream_allowed(v, conn.route, s)]
        if bad:
            return {"error": {"code": 2, "msg": f"Invalid request: unknown stream {bad[0]}"}, "id": rid}
        v.hub.subscribe(conn, list(params))
        return {"result": None, "id": rid}
    if method == "UNSUBSCRIBE":
        v.hub.unsubscribe(conn, list(params))
        return {"result": None, "id": rid}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(conn.streams), "id": rid}
    if method == "SET_PROPERTY" and params and params[0] == "combined":
        conn.combined = bool(params[1])
        return {"result": None, "id": rid}
    if method == "GET_PROPERTY" and params and params[0] == "combined":
        return {"result": conn.combined, "id": rid}
    return {"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"}, "id": rid}


async def user_stream(v: VenueState, req: web.Request) -> web.StreamResponse:
    """``/private/ws/<listenKey>``, ``/private/ws?listenKey=``, or ``/private/ws`` then SUBSCRIBE a key."""
    if (down := _down(v, "private")) is not None:
        return down
    key = req.match_info.get("key") or req.query.get("listenKey", "")
    account = v.listen_keys.account_of(key, v.now_ms()) if key else None
    if key and account is None:
        return web.json_response({"code": -1125, "msg": "This listenKey does not exist."}, status=400)
    ws = await _open(v, req)
    conn = v.hub.open(ws, "private", False)
    if account is not None:
        v.hub.attach_account(conn, account, key)
    await _serve(v, ws, conn, _subscribe_key)
    return ws


def _subscribe_key(v: VenueState, conn: Conn, text: str) -> dict[str, Any]:
    """SUBSCRIBE with listenKeys as params attaches the connection to their account."""
    try:
        req = json.loads(text)
        method, params, rid = req["method"], req.get("params", []), req.get("id")
    except (ValueError, KeyError, TypeError):
        return {"error": {"code": 3, "msg": "Invalid JSON: expected an object with method"}, "id": None}
    if method != "SUBSCRIBE":
        return {"error": {"code": 2, "msg": f"Invalid request: {method} on the user data stream"}, "id": rid}
    for key in params if isinstance(params, list) else [params]:
        account = v.listen_keys.account_of(str(key), v.now_ms())
        if account is None:
            return {"error": {"code": -1125, "msg": "This listenKey does not exist."}, "id": rid}
        v.hub.attach_account(conn, account, str(key))
    return {"result": None, "id": rid}


def expire_listen_keys(v: VenueState) -> None:
    """Push ``listenKeyExpired`` to the connections of keys whose time ran out; they then go quiet."""
    now = v.now_ms()
    for key, account in v.listen_keys.expire_due(now):
        for c in list(v.hub.by_account.get(account, ())):
            if c.listen_key == key and not c.muted:
                c.push(dumps({"e": "listenKeyExpired", "E": now, "listenKey": key}))
                c.muted = True
        log.info("listen_key_expired", account=account)


# ---- WS-API ---------------------------------------------------------------------------------

WS_METHODS = {
    "order.place": ("POST", "/fapi/v1/order"),
    "order.cancel": ("DELETE", "/fapi/v1/order"),
    "order.modify": ("PUT", "/fapi/v1/order"),
    "order.status": ("GET", "/fapi/v1/order"),
    "userDataStream.start": ("POST", "/fapi/v1/listenKey"),
    "userDataStream.ping": ("PUT", "/fapi/v1/listenKey"),
    "userDataStream.stop": ("DELETE", "/fapi/v1/listenKey"),
}


async def ws_api(v: VenueState, req: web.Request) -> web.StreamResponse:
    if (down := _down(v, "api")) is not None:
        return down
    ip = rest.client_ip(req)
    try:
        v.limiter.admit(ip, 5, v.now_ms())  # the handshake costs 5 weight
    except VenueError as e:
        return web.json_response(e.payload(), status=e.status, headers=e.headers)
    ws = await _open(v, req)
    conn = v.hub.open(ws, "api", False)  # known to the hub for drop_ws; answers go out directly below
    life = asyncio.create_task(_lifetime(v, ws))
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                answer = await _api_call(v, ip, msg.data)
                if answer is not None:
                    await ws.send_str(dumps(answer))
                v.dispatch()  # the answer first, then the streams (as the exchange acks before it reports)
    finally:
        life.cancel()
        v.hub.close(conn)
    return ws


class _NoAnswer(Exception):
    """The request is never answered (the ``late_new`` fault with ``answer: "timeout"``)."""


async def _api_call(v: VenueState, ip: str, text: str) -> dict[str, Any] | None:
    rid: Any = None
    acct: Account | None = None
    try:
        req = json.loads(text)
        rid, method = req.get("id"), req.get("method", "")
        params = {k: rest._s(x) for k, x in (req.get("params") or {}).items()}
        if v.faults.delay_ms:
            await asyncio.sleep(v.faults.delay_ms / 1000)
        v.limiter.check_ban(ip, v.now_ms())  # a banned IP gets 418 even for ping and time
        _ws_api_429(v)
        result, acct = _api_dispatch(v, ip, method, params)
        status, body = 200, {"result": result}
    except _NoAnswer:
        return None
    except VenueError as e:
        status, body = e.status, {"error": e.ws_payload()}
    except (ValueError, TypeError, AttributeError):
        status, body = 400, {"error": {"code": -1102, "msg": "Malformed request."}}
    return {"id": rid, "status": status, **body, "rateLimits": _rate_limits(v, ip, acct)}


def _ws_api_429(v: VenueState) -> None:
    """The ``ws_api_429`` fault: Binance's WS-API 429 frame, ``retryAfter`` in epoch ms. A 429
    storm (``storm_429_s``) answers the WS-API too: the IP's request weight is one budget for REST
    and the WS-API, so an exhausted IP is refused on both."""
    now = v.now_ms()
    retry_after = v.faults.storm_429_until_ms if v.faults.storm_429_until_ms > now else 0
    if not retry_after:
        f = v.faults.take_ws_api_429()
        retry_after = now + f.retry_after_ms if f is not None else 0
    if retry_after:
        raise VenueError(
            -1003,
            "Too much request weight used; please use WebSocket Streams for live updates to avoid "
            "polling the API.",
            429,
            data={"serverTime": now, "retryAfter": retry_after},
        )


def _api_dispatch(v: VenueState, ip: str, method: str, p: dict[str, str]) -> tuple[Any, Account | None]:
    if method == "ping":
        return {}, None
    if method == "time":
        return {"serverTime": v.now_ms()}, None
    if method == "session.logon":
        raise VenueError(-4056, "session.logon needs an Ed25519 key; sign each request instead.")
    route = WS_METHODS.get(method)
    if route is None:
        raise VenueError(-1000, f"Unknown method {method!r}.")
    ep = rest.ROUTES[route]
    now = v.now_ms()
    v.limiter.admit(ip, 1 if ep.weight == 0 else (ep.weight if isinstance(ep.weight, int) else 1), now)
    acct = api_account(v, p, ep.security)
    if ep.orders:
        v.limiter.count_orders(acct.name, ep.orders, now, ip)
    if method == "order.place":
        late = v.faults.take_late_new()
        if late is not None:  # lands later; answered 503 now, or never
            v.place_later(acct, p, late.delay_ms)
            if late.answer == "timeout":
                raise _NoAnswer
            raise VenueError(-1006, UNKNOWN_503, 503)
        if v.faults.unknown_503 > 0:
            v.faults.unknown_503 -= 1
            v.exchange.place(acct, p)
            raise VenueError(-1006, UNKNOWN_503, 503)
    return ep.handler(v, acct, p), acct


def api_account(v: VenueState, p: dict[str, str], security: str) -> Account:
    """The account of a WS-API request's ``apiKey``; a TRADE method needs a trading key, a signed
    one a valid signature over the sorted params and a timestamp inside the recvWindow."""
    cred = v.keys.lookup(p.get("apiKey", ""))
    if cred is None or (security == rest.TRADE and not cred.can_trade):
        raise err(BAD_KEY, 401)  # unknown key, or a read-only key on an order method
    if security in rest.SIGNED:
        if not verify_hmac(cred.secret, ws_api_payload(p), p.get("signature", "")):
            raise VenueError(-1022, "Signature for this request is not valid.")
        rest.check_timestamp(v, p)
    return cred.account


def _rate_limits(v: VenueState, ip: str, acct: Account | None) -> list[dict[str, Any]]:
    return v.limiter.rate_limits(ip, acct.name if acct else None, v.now_ms())


async def close_quietly(ws: web.WebSocketResponse) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.close()
