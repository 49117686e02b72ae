"""The venue's spot WebSocket side: market streams under ``/spot`` and the spot WebSocket API.

* ``/spot/ws/<streams>``, ``/spot/stream?streams=...`` (and SUBSCRIBE on ``/spot/ws``):
  ``<s>@depth@100ms`` and ``<s>@depth`` (1,000 ms) with spot's ids (``U``, ``u``, no ``pu``: each
  event's ``U`` is the previous one's ``u`` + 1, as spot's book procedure checks), ``<s>@bookTicker``
  (``u, s, b, B, a, A`` only) and ``<s>@trade``.
* ``/spot/ws-api/v3``: ``order.place``, ``order.cancel``, ``order.cancelReplace``, ``order.status``,
  ``openOrders.status``, ``openOrders.cancelAll``, ``account.status``, ``myTrades``, and user data
  the way spot gives it now that listenKeys are gone (``reference/binance-api.md`` B.5):
  ``userDataStream.subscribe.signature`` (any key type, no logon) answers ``{subscriptionId}`` and
  the account's ``executionReport`` and ``outboundAccountPosition`` events then arrive on that
  connection as ``{"subscriptionId": n, "event": {...}}``; ``userDataStream.unsubscribe`` ends it
  with ``eventStreamTerminated``.

Spot has its own :class:`~services.venue.hub.Hub`: a spot and a futures symbol of the same name
never share a stream.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from aiohttp import WSMsgType, web

from services.venue import rest, spot_rest
from services.venue.errors import VenueError
from services.venue.exchange import DepthBatch, PublicTrade, UserEvent
from services.venue.hub import Conn, Hub
from services.venue.state import VenueState, dumps
from services.venue.streams import SymbolStreams, _Pending
from services.venue.symbols import VenueSymbol
from services.venue.ws import api_account

SPOT_SPEEDS_MS = {"depth@100ms": 100, "depth": 1000}
SPOT_STREAM_KINDS = ("depth", "depth@100ms", "bookTicker", "trade")
_SUBSCRIPTIONS = itertools.count(0)


class SpotStreams(SymbolStreams):
    """One spot symbol's streams: the futures merging with spot's payloads."""

    def __init__(self, sym: VenueSymbol) -> None:
        super().__init__(sym)
        self.pending = {k: _Pending() for k in SPOT_SPEEDS_MS}

    def _event(
        self, stream: str, first: int, last: int, bids: dict[int, int], asks: dict[int, int], now: int
    ) -> dict[str, Any]:
        self.last_u[stream] = last
        return {"e": "depthUpdate", "E": now, "s": self.sym.name, "U": first, "u": last,
                "b": self._levels(bids), "a": self._levels(asks)}  # fmt: skip

    def ticker(self, batch: DepthBatch, now: int) -> dict[str, Any] | None:
        t = super().ticker(batch, now)
        if t is None:
            return None
        return {k: t[k] for k in ("u", "s", "b", "B", "a", "A")}

    def trade(self, t: PublicTrade) -> dict[str, Any]:
        sym = self.sym
        return {"e": "trade", "E": t.time_ms, "s": t.symbol, "t": t.trade_id, "p": sym.price_str(t.price),
                "q": sym.qty_str(t.qty), "T": t.time_ms, "m": t.buyer_is_maker, "M": True}  # fmt: skip


class SpotSide:
    """The spot streams' state and fan-out, and the WS API's user-data subscriptions."""

    def __init__(self, v: VenueState) -> None:
        self.v = v
        self.hub = Hub()
        self.streams = {name: SpotStreams(st.sym) for name, st in v.spot.symbols.items()}
        self.by_lower = {name.lower(): name for name in self.streams}

    def dispatch(self, events: list[UserEvent | PublicTrade | DepthBatch]) -> None:
        for ev in events:
            if isinstance(ev, DepthBatch):
                ss = self.streams[ev.symbol]
                ss.on_batch(ev)
                tick = ss.ticker(ev, self.v.now_ms())
                if tick is not None:
                    self._publish(f"{ss.lower}@bookTicker", tick)
            elif isinstance(ev, PublicTrade):
                ss = self.streams[ev.symbol]
                self._publish(f"{ss.lower}@trade", ss.trade(ev))
            else:
                for c in list(self.hub.by_account.get(ev.account, ())):
                    c.push(f'{{"subscriptionId":{c.listen_key},"event":{dumps(ev.payload)}}}')

    def flush_timed(self, speed: str) -> None:
        now = self.v.now_ms()
        for ss in self.streams.values():
            ev = ss.flush(speed, now)
            if ev is not None:
                self._publish(f"{ss.lower}@{speed}", ev)

    def _publish(self, stream: str, payload: dict[str, Any]) -> None:
        if self.hub.has_listeners(stream):
            self.hub.publish(stream, dumps(payload))

    def allowed(self, stream: str) -> bool:
        sym, _, kind = stream.partition("@")
        return sym in self.by_lower and kind in SPOT_STREAM_KINDS


async def market_stream(side: SpotSide, req: web.Request) -> web.StreamResponse:
    """``/spot/ws/<streams>`` and ``/spot/stream?streams=...``."""
    combined = req.path.rstrip("/").endswith("/stream")
    names = req.query.get("streams", "") if combined else req.match_info.get("streams", "")
    streams = [s for s in names.split("/") if s]
    bad = [s for s in streams if not side.allowed(s)]
    if bad:
        return web.json_response({"code": -1121, "msg": f"Invalid stream: {bad[0]}"}, status=400)
    v = side.v
    ws = web.WebSocketResponse(heartbeat=v.cfg.ws_ping_interval_s, max_msg_size=1 << 20)
    await ws.prepare(req)
    conn = side.hub.open(ws, "spot", combined)
    side.hub.subscribe(conn, streams)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                conn.push(dumps(_control(side, conn, msg.data)))
    finally:
        side.hub.close(conn)
    return ws


def _control(side: SpotSide, conn: Conn, text: str) -> dict[str, Any]:
    try:
        req = json.loads(text)
        method, params, rid = req["method"], req.get("params", []), req.get("id")
    except (ValueError, KeyError, TypeError):
        return {"error": {"code": 3, "msg": "Invalid JSON: expected an object with method"}, "id": None}
    if method == "SUBSCRIBE":
        bad = [s for s in params if not side.allowed(s)]
        if bad:
            return {"error": {"code": 2, "msg": f"Invalid request: unknown stream {bad[0]}"}, "id": rid}
        side.hub.subscribe(conn, list(params))
        return {"result": None, "id": rid}
    if method == "UNSUBSCRIBE":
        side.hub.unsubscribe(conn, list(params))
        return {"result": None, "id": rid}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(conn.streams), "id": rid}
    return {"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"}, "id": rid}


# ---- the spot WebSocket API -------------------------------------------------------------------

SPOT_WS_METHODS = {
    "order.place": ("POST", "/api/v3/order"),
    "order.cancel": ("DELETE", "/api/v3/order"),
    "order.cancelReplace": ("POST", "/api/v3/order/cancelReplace"),
    "order.status": ("GET", "/api/v3/order"),
    "openOrders.status": ("GET", "/api/v3/openOrders"),
    "openOrders.cancelAll": ("DELETE", "/api/v3/openOrders"),
    "account.status": ("GET", "/api/v3/account"),
    "myTrades": ("GET", "/api/v3/myTrades"),
}


async def ws_api(side: SpotSide, req: web.Request) -> web.StreamResponse:
    v = side.v
    ip = rest.client_ip(req)
    try:
        v.spot_limiter.admit(ip, 2, v.now_ms())  # connecting costs 2 weight
    except VenueError as e:
        return web.json_response(e.payload(), status=e.status, headers=e.headers)
    ws = web.WebSocketResponse(heartbeat=v.cfg.ws_ping_interval_s, max_msg_size=1 << 20)
    await ws.prepare(req)
    conn = side.hub.open(ws, "spot-api", False)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                conn.push(dumps(_api_call(side, conn, ip, msg.data)))
                v.dispatch()  # the answer first, then the events it caused
                await asyncio.sleep(0)
    finally:
        side.hub.close(conn)
    return ws


def _api_call(side: SpotSide, conn: Conn, ip: str, text: str) -> dict[str, Any]:
    """One request's answer, with ``rateLimits`` unless the request said ``returnRateLimits=false``."""
    v = side.v
    rid: Any = None
    p: dict[str, str] = {}
    try:
        req = json.loads(text)
        rid, method = req.get("id"), req.get("method", "")
        p = {k: rest._s(x) for k, x in (req.get("params") or {}).items()}
        v.spot_limiter.check_ban(ip, v.now_ms())
        out: dict[str, Any] = {"id": rid, "status": 200, "result": _dispatch(side, conn, ip, method, p)}
    except VenueError as e:
        out = {"id": rid, "status": e.status, "error": e.ws_payload()}
    except (ValueError, TypeError, AttributeError):
        out = {"id": rid, "status": 400, "error": {"code": -1102, "msg": "Malformed request."}}
    if p.get("returnRateLimits") != "false":
        acct = v.keys.lookup(p.get("apiKey", ""))
        out["rateLimits"] = v.spot_limiter.rate_limits(ip, acct.account.name if acct else None, v.now_ms())
    return out


def _dispatch(side: SpotSide, conn: Conn, ip: str, method: str, p: dict[str, str]) -> Any:
    v = side.v
    now = v.now_ms()
    if method == "ping":
        return {}
    if method == "time":
        return {"serverTime": now}
    if method == "exchangeInfo":
        return spot_rest.exchange_info(v, None, p)
    if method == "userDataStream.subscribe.signature":
        v.spot_limiter.admit(ip, 2, now)
        acct = api_account(v, p, rest.USER_DATA)
        if conn.account:
            raise VenueError(-1210, "This connection already has a subscription to this account.")
        conn.listen_key = str(
            next(_SUBSCRIPTIONS)
        )  # the subscription id, where the futures hub keeps its key
        side.hub.attach_account(conn, acct.name, conn.listen_key)
        return {"subscriptionId": int(conn.listen_key)}
    if method == "userDataStream.unsubscribe":
        if conn.account:
            side.hub.by_account[conn.account].discard(conn)
            conn.push(dumps({"subscriptionId": int(conn.listen_key),
                             "event": {"e": "eventStreamTerminated", "E": now}}))  # fmt: skip
            conn.account = ""
        return {}
    route = SPOT_WS_METHODS.get(method)
    if route is None:
        raise VenueError(-1000, f"Unknown method {method!r}.")
    ep = rest.ROUTES[route]
    weight = ep.weight(p) if callable(ep.weight) else ep.weight
    v.spot_limiter.admit(ip, weight, now)
    acct = api_account(v, p, ep.security)
    if ep.orders:
        v.spot_limiter.count_orders(acct.name, ep.orders, now, ip)
    return ep.handler(
        v, acct, {k: x for k, x in p.items() if k not in ("apiKey", "signature", "returnRateLimits")}
    )


def spot_routes(app: web.Application, side: SpotSide) -> None:
    app.router.add_get("/spot/ws", lambda r: market_stream(side, r))
    app.router.add_get("/spot/ws/{streams:.*}", lambda r: market_stream(side, r))
    app.router.add_get("/spot/stream", lambda r: market_stream(side, r))
    app.router.add_get("/spot/ws-api/v3", lambda r: ws_api(side, r))
