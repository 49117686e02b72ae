"""The venue's REST API: Binance's USDⓈ-M paths, parameters, weights, signing and error payloads.

One request wrapper does what every Binance endpoint shares: faults, rate limits (weight per IP,
order counts per account, with the ``X-MBX-*`` headers), parameter parsing from query string and
form body (the query string wins), the API key and its permission (a read-only key gets -2015 on
TRADE endpoints), the HMAC signature over the exact bytes sent, and the ``timestamp``/``recvWindow``
rule. The endpoint functions only do their own work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from common.binance.signing import verify_hmac
from common.logging import log
from services.venue.accounts import Account
from services.venue.errors import BAD_KEY, UNKNOWN_503, VenueError, err, missing
from services.venue.faults import LATE_HOLD_S, html_page, non_json_body
from services.venue.faultspec import Html5xx
from services.venue.payloads import num, order_json
from services.venue.state import VenueState, dumps

Params = dict[str, str]
Handler = Callable[[VenueState, Account | None, Params], Any]

# Binance's security types: TRADE and USER_DATA are signed; only a trading key may use TRADE.
NONE, USER_STREAM, USER_DATA, TRADE = "NONE", "USER_STREAM", "USER_DATA", "TRADE"
SIGNED = (USER_DATA, TRADE)

NEW_ORDER = ("POST", "/fapi/v1/order")
# The order requests an armed html_5xx / non_json_200 fault answers in place of the venue.
ORDER_REQUESTS = frozenset(
    {NEW_ORDER, ("PUT", "/fapi/v1/order"), ("DELETE", "/fapi/v1/order")}
    | {(m, "/fapi/v1/batchOrders") for m in ("POST", "PUT", "DELETE")}
)


@dataclass(frozen=True)
class Endpoint:
    handler: Handler
    security: str
    weight: int | Callable[[Params], int] = 1
    orders: int = 0  # order-count units per request (10 s window)


def _depth_weight(p: Params) -> int:
    limit = int(p.get("limit", "500") or 500)
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def _per_symbol(single: int, every: int) -> Callable[[Params], int]:
    return lambda p: single if p.get("symbol") else every


# ---- public ---------------------------------------------------------------------------------


def ping(v: VenueState, a: Account | None, p: Params) -> Any:
    return {}


def server_time(v: VenueState, a: Account | None, p: Params) -> Any:
    return {"serverTime": v.now_ms()}


def exchange_info(v: VenueState, a: Account | None, p: Params) -> Any:
    return {
        "timezone": "UTC",
        "serverTime": v.now_ms(),
        "futuresType": "U_MARGINED",
        "rateLimits": v.limiter.limits_json(),
        "exchangeFilters": [],
        "assets": [
            {"asset": x, "marginAvailable": True, "autoAssetExchange": "0"}
            for x in sorted({st.sym.margin_asset for st in v.exchange.symbols.values()})
        ],
        "symbols": [st.sym.info() for st in v.exchange.symbols.values()],
    }


def depth(v: VenueState, a: Account | None, p: Params) -> Any:
    st = v.exchange.symbol(p.get("symbol"))
    limit = int(p.get("limit", "500") or 500)
    if limit not in (5, 10, 20, 50, 100, 500, 1000):
        raise VenueError(-1130, "Data sent for parameter 'limit' is not valid.")
    now = v.now_ms()
    sym = st.sym
    return {
        "lastUpdateId": st.update_id,
        "E": now,
        "T": now,
        "bids": [[sym.price_str(px), sym.qty_str(q)] for px, q in st.book.depth(1, limit)],
        "asks": [[sym.price_str(px), sym.qty_str(q)] for px, q in st.book.depth(-1, limit)],
    }


def book_ticker(v: VenueState, a: Account | None, p: Params) -> Any:
    def one(name: str) -> dict[str, Any]:
        st = v.exchange.symbols[name]
        b, k = st.book.top(1), st.book.top(-1)
        return {
            "symbol": name,
            "bidPrice": st.sym.price_str(b[0]) if b else "0",
            "bidQty": st.sym.qty_str(b[1]) if b else "0",
            "askPrice": st.sym.price_str(k[0]) if k else "0",
            "askQty": st.sym.qty_str(k[1]) if k else "0",
            "time": v.now_ms(),
            "lastUpdateId": st.update_id,
        }

    if p.get("symbol"):
        return one(v.exchange.symbol(p["symbol"]).sym.name)
    return [one(n) for n in v.exchange.symbols]


def premium_index(v: VenueState, a: Account | None, p: Params) -> Any:
    def one(name: str) -> dict[str, Any]:
        m = v.mark_payload(name, v.now_ms())
        return {
            "symbol": name,
            "markPrice": m["p"],
            "indexPrice": m["i"],
            "estimatedSettlePrice": m["P"],
            "lastFundingRate": m["r"],
            "interestRate": "0.00010000",
            "nextFundingTime": m["T"],
            "time": m["E"],
        }

    if p.get("symbol"):
        return one(v.exchange.symbol(p["symbol"]).sym.name)
    return [one(n) for n in v.exchange.symbols]


# ---- trading --------------------------------------------------------------------------------


def _acct(a: Account | None) -> Account:
    assert a is not None
    return a


def new_order(v: VenueState, a: Account | None, p: Params) -> Any:
    if v.faults.reject_1008 > 0:
        v.faults.reject_1008 -= 1
        raise VenueError(
            -1008,
            "Request throttled by system-level protection. Reduce-only/close-position orders are exempt. "
            "Please try again.",
            503,
        )
    res = v.exchange.place(_acct(a), p)
    if v.faults.unknown_503 > 0:
        v.faults.unknown_503 -= 1
        v.dispatch()
        raise VenueError(-1006, UNKNOWN_503, 503)
    return res


def query_order(v: VenueState, a: Account | None, p: Params) -> Any:
    o = v.exchange.find(_acct(a), p)
    return order_json(o, v.exchange.symbols[o.symbol].sym)


def open_order(v: VenueState, a: Account | None, p: Params) -> Any:
    o = v.exchange.find(_acct(a), p)
    if not o.is_open:
        raise VenueError(-2013, "Order does not exist.")
    return query_order(v, a, p)


def cancel_order(v: VenueState, a: Account | None, p: Params) -> Any:
    return v.exchange.cancel(_acct(a), p)


def modify_order(v: VenueState, a: Account | None, p: Params) -> Any:
    return v.exchange.modify(_acct(a), p)


def cancel_all(v: VenueState, a: Account | None, p: Params) -> Any:
    v.exchange.cancel_all(_acct(a), p.get("symbol") or "")
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def open_orders(v: VenueState, a: Account | None, p: Params) -> Any:
    acct = _acct(a)
    sym = v.exchange.symbol(p["symbol"]).sym.name if p.get("symbol") else ""
    return [order_json(o, v.exchange.symbols[o.symbol].sym) for o in v.exchange.open_orders(acct, sym)]


def _json_list(p: Params, name: str, max_len: int) -> list[Any]:
    raw = p.get(name)
    if not raw:
        raise missing(name)
    try:
        items = json.loads(raw)
    except json.JSONDecodeError:
        raise VenueError(-1130, f"Data sent for parameter '{name}' is not valid.") from None
    if not isinstance(items, list) or not items:
        raise VenueError(-1130, f"Data sent for parameter '{name}' is not valid.")
    if len(items) > max_len:
        raise VenueError(-4006 if max_len == 5 else -1130, f"Batch size over limit: at most {max_len}.")
    return items


def _batch(v: VenueState, items: list[Any], op: Callable[[dict[str, str]], Any]) -> list[Any]:
    """Per-item results: order objects mixed with ``{"code","msg"}`` for the ones that failed."""
    out: list[Any] = []
    for item in items:
        try:
            out.append(op({str(k): _s(x) for k, x in item.items()}))
        except VenueError as e:
            out.append(e.payload())
    return out


def _s(x: Any) -> str:
    return ("true" if x else "false") if isinstance(x, bool) else str(x)


def batch_new(v: VenueState, a: Account | None, p: Params) -> Any:
    acct = _acct(a)
    return _batch(v, _json_list(p, "batchOrders", 5), lambda it: v.exchange.place(acct, it))


def batch_modify(v: VenueState, a: Account | None, p: Params) -> Any:
    acct = _acct(a)
    return _batch(v, _json_list(p, "batchOrders", 5), lambda it: v.exchange.modify(acct, it))


def batch_cancel(v: VenueState, a: Account | None, p: Params) -> Any:
    acct = _acct(a)
    symbol = p.get("symbol") or ""
    if p.get("orderIdList"):
        ids = [{"symbol": symbol, "orderId": str(i)} for i in _json_list(p, "orderIdList", 10)]
    else:
        ids = [
            {"symbol": symbol, "origClientOrderId": str(c)}
            for c in _json_list(p, "origClientOrderIdList", 10)
        ]
    return _batch(v, ids, lambda it: v.exchange.cancel(acct, it))


def user_trades(v: VenueState, a: Account | None, p: Params) -> Any:
    acct = _acct(a)
    sym = v.exchange.symbol(p.get("symbol")).sym.name
    rows = [t for t in v.exchange.trades[acct.name] if t["symbol"] == sym]
    if p.get("orderId"):
        rows = [t for t in rows if t["orderId"] == int(p["orderId"])]
    if p.get("fromId"):
        rows = [t for t in rows if t["id"] >= int(p["fromId"])]
    if p.get("startTime"):
        rows = [t for t in rows if t["time"] >= int(p["startTime"])]
    if p.get("endTime"):
        rows = [t for t in rows if t["time"] <= int(p["endTime"])]
    limit = min(int(p.get("limit", "500") or 500), 1000)
    return rows[:limit] if p.get("fromId") else rows[-limit:]


def countdown(v: VenueState, a: Account | None, p: Params) -> Any:
    sym = p.get("symbol") or ""
    ms = int(p.get("countdownTime") or -1)
    if ms < 0:
        raise missing("countdownTime")
    v.exchange.countdown(_acct(a), sym, ms)
    return {"symbol": sym, "countdownTime": str(ms)}


def leverage(v: VenueState, a: Account | None, p: Params) -> Any:
    acct = _acct(a)
    st = v.exchange.symbol(p.get("symbol"))
    try:
        lev = int(p.get("leverage") or 0)
    except ValueError:
        raise VenueError(-1130, "Data sent for parameter 'leverage' is not valid.") from None
    if not 1 <= lev <= st.sym.cfg.max_leverage:  # the symbol's first bracket, as Binance's differ
        raise VenueError(-4028, f"Leverage {lev} is not valid")
    acct.leverage[st.sym.name] = lev
    return {"leverage": lev, "maxNotionalValue": "1000000", "symbol": st.sym.name}


def commission(v: VenueState, a: Account | None, p: Params) -> Any:
    st = v.exchange.symbol(p.get("symbol"))
    maker, taker = v.exchange.fee_rates(st)
    return {
        "symbol": st.sym.name,
        "makerCommissionRate": num(maker),
        "takerCommissionRate": num(taker),
        "rpiCommissionRate": "0",
    }


def account(v: VenueState, a: Account | None, p: Params) -> Any:
    return v.exchange.margin(_acct(a)).account_json(v.now_ms())


def balance(v: VenueState, a: Account | None, p: Params) -> Any:
    return v.exchange.margin(_acct(a)).balances_json(v.now_ms())


def position_risk(v: VenueState, a: Account | None, p: Params) -> Any:
    rows = v.exchange.margin(_acct(a)).positions_json(v.now_ms())
    if p.get("symbol"):
        rows = [r for r in rows if r["symbol"] == p["symbol"]]
    return rows


def rate_limit_order(v: VenueState, a: Account | None, p: Params) -> Any:
    return [x for x in v.limiter.limits_json() if x["rateLimitType"] == "ORDERS"]


def listen_key_post(v: VenueState, a: Account | None, p: Params) -> Any:
    return {"listenKey": v.listen_keys.create(_acct(a).name, v.now_ms())}


def listen_key_put(v: VenueState, a: Account | None, p: Params) -> Any:
    return {"listenKey": v.listen_keys.keepalive(_acct(a).name, v.now_ms())}


def listen_key_delete(v: VenueState, a: Account | None, p: Params) -> Any:
    v.listen_keys.delete(_acct(a).name)
    return {}


ROUTES: dict[tuple[str, str], Endpoint] = {
    ("GET", "/fapi/v1/ping"): Endpoint(ping, NONE),
    ("GET", "/fapi/v1/time"): Endpoint(server_time, NONE),
    ("GET", "/fapi/v1/exchangeInfo"): Endpoint(exchange_info, NONE),
    ("GET", "/fapi/v1/depth"): Endpoint(depth, NONE, _depth_weight),
    ("GET", "/fapi/v1/ticker/bookTicker"): Endpoint(book_ticker, NONE, _per_symbol(2, 5)),
    ("GET", "/fapi/v1/premiumIndex"): Endpoint(premium_index, NONE, _per_symbol(1, 10)),
    NEW_ORDER: Endpoint(new_order, TRADE, 0, orders=1),
    ("GET", "/fapi/v1/order"): Endpoint(query_order, USER_DATA),
    ("GET", "/fapi/v1/openOrder"): Endpoint(open_order, USER_DATA),
    ("DELETE", "/fapi/v1/order"): Endpoint(cancel_order, TRADE),
    ("PUT", "/fapi/v1/order"): Endpoint(modify_order, TRADE, 0, orders=1),
    ("POST", "/fapi/v1/batchOrders"): Endpoint(batch_new, TRADE, 5, orders=5),
    ("PUT", "/fapi/v1/batchOrders"): Endpoint(batch_modify, TRADE, 5, orders=5),
    ("DELETE", "/fapi/v1/batchOrders"): Endpoint(batch_cancel, TRADE),
    ("DELETE", "/fapi/v1/allOpenOrders"): Endpoint(cancel_all, TRADE),
    ("GET", "/fapi/v1/openOrders"): Endpoint(open_orders, USER_DATA, _per_symbol(1, 40)),
    ("GET", "/fapi/v1/userTrades"): Endpoint(user_trades, USER_DATA, 5),
    ("POST", "/fapi/v1/countdownCancelAll"): Endpoint(countdown, TRADE, 10),
    ("POST", "/fapi/v1/leverage"): Endpoint(leverage, TRADE),
    ("GET", "/fapi/v1/commissionRate"): Endpoint(commission, USER_DATA, 20),
    ("GET", "/fapi/v1/rateLimit/order"): Endpoint(rate_limit_order, USER_DATA),
    ("GET", "/fapi/v2/account"): Endpoint(account, USER_DATA, 5),
    ("GET", "/fapi/v3/account"): Endpoint(account, USER_DATA, 5),
    ("GET", "/fapi/v2/balance"): Endpoint(balance, USER_DATA, 5),
    ("GET", "/fapi/v3/balance"): Endpoint(balance, USER_DATA, 5),
    ("GET", "/fapi/v2/positionRisk"): Endpoint(position_risk, USER_DATA, 5),
    ("GET", "/fapi/v3/positionRisk"): Endpoint(position_risk, USER_DATA, 5),
    ("POST", "/fapi/v1/listenKey"): Endpoint(listen_key_post, USER_STREAM),
    ("PUT", "/fapi/v1/listenKey"): Endpoint(listen_key_put, USER_STREAM),
    ("DELETE", "/fapi/v1/listenKey"): Endpoint(listen_key_delete, USER_STREAM),
}


# ---- the request wrapper --------------------------------------------------------------------


def split_signature(query: str, body: str) -> tuple[str, str]:
    """(signed payload, signature): the signature must be the last parameter of query or body."""
    for part, other, first in ((query, body, True), (body, query, False)):
        idx = part.rfind("signature=")
        if idx == 0 or (idx > 0 and part[idx - 1] == "&"):
            sig = part[idx + len("signature=") :]
            rest = part[: max(0, idx - 1)]
            return (rest + other, sig) if first else (other + rest, sig)
    raise missing("signature")


def authenticate(
    v: VenueState, req: web.Request, ep: Endpoint, query: str, body: str, p: Params
) -> Account | None:
    if ep.security == NONE:
        return None
    key = req.headers.get("X-MBX-APIKEY", "")
    if not key:
        raise VenueError(-2014, "API-key format invalid.", 401)
    cred = v.keys.lookup(key)
    if cred is None or (ep.security == TRADE and not cred.can_trade):
        raise err(BAD_KEY, 401)  # unknown key, or a read-only key on a TRADE endpoint
    if ep.security in SIGNED:
        payload, sig = split_signature(query, body)
        if "timestamp" not in p:
            raise missing("timestamp")
        if not verify_hmac(cred.secret, payload, sig):
            raise VenueError(-1022, "Signature for this request is not valid.")
        check_timestamp(v, p)
    return cred.account


def check_timestamp(v: VenueState, p: Params) -> None:
    """Binance's rule: ``timestamp < serverTime + 1000`` and ``serverTime - timestamp <= recvWindow``."""
    try:
        ts = int(p["timestamp"])
        window = int(p.get("recvWindow", "5000") or 5000)
    except ValueError:
        raise VenueError(
            -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        ) from None
    if window > v.cfg.recv_window_max_ms or window <= 0:
        raise VenueError(-1131, "recvWindow must be less than 60000")
    now = v.now_ms()
    if ts >= now + 1000:
        raise VenueError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now - ts > window:
        raise VenueError(-1021, "Timestamp for this request is outside of the recvWindow.")


def parse_params(query: str, body: str) -> Params:
    p = dict(parse_qsl(body, keep_blank_values=True))
    p.update(parse_qsl(query, keep_blank_values=True))  # the query string wins
    return p


def client_ip(req: web.Request) -> str:
    return req.headers.get("X-Sim-Client", "") or req.remote or "?"


async def handle(v: VenueState, req: web.Request) -> web.Response:
    """Every REST request goes through here. An armed ``html_5xx`` / ``non_json_200`` fault answers an
    order request in the venue's place, after letting it through when the fault says ``executed``."""
    edge = v.faults.take_order_answer() if (req.method, req.path) in ORDER_REQUESTS else None
    if edge is None:
        return await _answer(v, req)
    real = await _answer(v, req) if edge.executed else None
    log.info("fault_order_answer_replaced", path=req.path, fault=type(edge).__name__, executed=edge.executed)
    if isinstance(edge, Html5xx):
        return web.Response(status=edge.status, text=html_page(edge.status), content_type="text/html")
    body = non_json_body(real.text if real is not None else None)
    return web.Response(text=body, content_type="application/json" if real is not None else "text/plain")


async def _late_new(v: VenueState, acct: Account, p: Params) -> None:
    """The ``late_new`` fault: the order lands later; now, answer 503 -1006 or hold the answer
    until the client has given up."""
    late = v.faults.take_late_new()
    if late is None:
        return
    v.place_later(acct, p, late.delay_ms)
    if late.answer == "timeout":
        await v.hold(late.delay_ms / 1000 + LATE_HOLD_S)
    raise VenueError(-1006, UNKNOWN_503, 503)


async def _answer(v: VenueState, req: web.Request) -> web.Response:
    """The venue's own answer: faults, limits, authentication, then the endpoint."""
    ep = ROUTES.get((req.method, req.path))
    ip = client_ip(req)
    acct: Account | None = None
    try:
        if ep is None:
            raise VenueError(-1000 if req.path.startswith("/fapi") else -1, "Unknown endpoint.", 404)
        if v.faults.delay_ms:
            await asyncio.sleep(v.faults.delay_ms / 1000)
        now = v.now_ms()
        if v.faults.storm_429_until_ms > now:
            v.limiter._violation(v.limiter._ip(ip), now)  # a storm still counts toward a ban
            raise VenueError(-1003, "Too many requests; please back off.", 429, {"Retry-After": "1"})
        query = req.rel_url.raw_query_string  # the bytes as sent: that is what was signed
        body = await req.text() if req.method != "GET" else ""
        p = parse_params(query, body)
        weight = ep.weight(p) if callable(ep.weight) else ep.weight
        v.limiter.admit(ip, weight, now)
        acct = authenticate(v, req, ep, query, body, p)
        if ep.orders and acct is not None:
            v.limiter.count_orders(acct.name, ep.orders, now, ip)
        if (req.method, req.path) == NEW_ORDER:
            await _late_new(v, _acct(acct), p)
        result = ep.handler(v, acct, p)
        status, text = 200, dumps(result)
    except VenueError as e:
        status, text = e.status, dumps(e.payload())
        headers = {**e.headers, **v.limiter.headers(ip, acct.name if acct else None, v.now_ms())}
        v.dispatch()
        return web.Response(status=status, text=text, content_type="application/json", headers=headers)
    v.dispatch()
    headers = v.limiter.headers(ip, acct.name if acct else None, v.now_ms())
    return web.Response(status=status, text=text, content_type="application/json", headers=headers)


def make_handler(v: VenueState) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def h(req: web.Request) -> web.Response:
        return await handle(v, req)

    return h
