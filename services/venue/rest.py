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
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from prometheus_client import Counter

from common.binance.signing import verify_hmac
from common.logging import log
from services.venue import spot_rest
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

ERRORS = Counter("mm_venue_errors_total", "REST requests the venue refused, by Binance error code", ["code"])


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
    return trade_page([t for t in v.exchange.trades[acct.name] if t["symbol"] == sym], p)


def trade_page(rows: list[dict[str, Any]], p: Params) -> list[dict[str, Any]]:
    """``userTrades`` / ``myTrades``: one symbol's trades filtered by orderId, fromId and a time
    window; the first ``limit`` from ``fromId``, else the last ``limit``. A parameter that is not
    a whole number is refused with -1130 naming it."""
    order_id, from_id = _int_param(p, "orderId"), _int_param(p, "fromId")
    if order_id:
        rows = [t for t in rows if t["orderId"] == order_id]
    if from_id:
        rows = [t for t in rows if t["id"] >= from_id]
    rows = _window(rows, p, lambda t: t["time"])
    limit = min(_int_param(p, "limit") or 500, 1000)
    return rows[:limit] if from_id else rows[-limit:]


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
    v.exchange.changes += 1
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


# ---- what widely used clients call at start-up or to read history ------------------------------

KLINE_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
    "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000,
    "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
}  # fmt: skip
DAY_MS = 86_400_000


def _limit(p: Params, default: int, most: int) -> int:
    try:
        n = int(p.get("limit") or default)
    except ValueError:
        raise VenueError(-1130, "Data sent for parameter 'limit' is not valid.") from None
    if not 1 <= n <= most:
        raise VenueError(-1130, "Data sent for parameter 'limit' is not valid.")
    return n


def _int_param(p: Params, name: str) -> int:
    """A whole-number parameter (0 when absent); -1130 naming it when it is not one."""
    try:
        return int(p.get(name) or 0)
    except ValueError:
        raise VenueError(-1130, f"Data sent for parameter '{name}' is not valid.") from None


def _window(rows: list[Any], p: Params, time_of: Callable[[Any], int]) -> list[Any]:
    """``startTime`` / ``endTime`` (ms, inclusive) applied to ``rows``."""
    lo, hi = _int_param(p, "startTime"), _int_param(p, "endTime")
    return [r for r in rows if time_of(r) >= lo and (not hi or time_of(r) <= hi)]


def _kline_weight(p: Params) -> int:
    n = int(p.get("limit") or 500) if (p.get("limit") or "500").isdigit() else 500
    return 1 if n < 100 else 2 if n < 500 else 5 if n <= 1000 else 10


def leverage_bracket(v: VenueState, a: Account | None, p: Params) -> Any:
    """One bracket per symbol (the venue's margin model: one maintenance rate, the first bracket's
    leverage): a list, or the symbol's object when one is named (as Binance answers)."""
    mmr = float(v.exchange.cfg.maintenance_margin_rate)

    def one(st: Any) -> dict[str, Any]:
        bracket = {"bracket": 1, "initialLeverage": st.sym.cfg.max_leverage, "notionalCap": 9_000_000_000,
                   "notionalFloor": 0, "maintMarginRatio": mmr, "cum": 0.0}  # fmt: skip
        return {"symbol": st.sym.name, "notionalCoef": 1.0, "brackets": [bracket]}

    if p.get("symbol"):
        return one(v.exchange.symbol(p["symbol"]))
    return [one(st) for st in v.exchange.symbols.values()]


def income(v: VenueState, a: Account | None, p: Params) -> Any:
    rows = list(v.exchange.income[_acct(a).name])
    if p.get("symbol"):
        rows = [r for r in rows if r["symbol"] == p["symbol"]]
    if p.get("incomeType"):
        rows = [r for r in rows if r["incomeType"] == p["incomeType"]]
    if not p.get("startTime") and not p.get("endTime"):  # Binance: the last 7 days by default
        rows = [r for r in rows if r["time"] >= v.now_ms() - 7 * DAY_MS]
    rows = _window(rows, p, lambda r: r["time"])
    return rows[: _limit(p, 100, 1000)]


def position_side_get(v: VenueState, a: Account | None, p: Params) -> Any:
    _acct(a)
    return {"dualSidePosition": False}


def position_side_post(v: VenueState, a: Account | None, p: Params) -> Any:
    _acct(a)
    want = (p.get("dualSidePosition") or "").lower()
    if want not in ("true", "false"):
        raise missing("dualSidePosition")
    if want == "false":
        raise VenueError(-4059, "No need to change position side.")
    raise VenueError(
        -4061, "Order's position side does not match user's setting: this venue is one-way only."
    )


def multi_assets_get(v: VenueState, a: Account | None, p: Params) -> Any:
    _acct(a)
    return {"multiAssetsMargin": False}


def margin_type(v: VenueState, a: Account | None, p: Params) -> Any:
    acct, st = _acct(a), v.exchange.symbol(p.get("symbol"))
    want = (p.get("marginType") or "").upper()
    if want not in ("ISOLATED", "CROSSED"):
        raise VenueError(-1130, "Data sent for parameter 'marginType' is not valid.")
    key = (acct.name, st.sym.name)
    if v.exchange.margin_types.get(key, "CROSSED") == want:
        raise VenueError(-4046, "No need to change margin type.")
    if want == "ISOLATED":
        raise VenueError(-4048, "Margin type cannot be changed: this venue keeps cross margin only.")
    v.exchange.margin_types[key] = want
    v.exchange.changes += 1
    return {"code": 200, "msg": "success"}


def all_orders(v: VenueState, a: Account | None, p: Params) -> Any:
    acct, st = _acct(a), v.exchange.symbol(p.get("symbol"))
    rows = [o for o in v.exchange.orders.values() if o.account == acct.name and o.symbol == st.sym.name]
    if p.get("orderId"):
        rows = [o for o in rows if o.order_id >= _int_param(p, "orderId")]
    rows = _window(sorted(rows, key=lambda o: o.order_id), p, lambda o: o.time_ms)
    limit = _limit(p, 500, 1000)
    rows = rows[:limit] if p.get("orderId") else rows[-limit:]
    return [order_json(o, st.sym) for o in rows]


def ticker_24hr(v: VenueState, a: Account | None, p: Params) -> Any:
    now = v.now_ms()

    def one(name: str) -> dict[str, Any]:
        st = v.exchange.symbols[name]
        sym = st.sym
        ts = [t for t in v.exchange.public_trades[name] if t.time_ms > now - DAY_MS]
        if not ts:
            m = str(st.mark)
            prices = {k: m for k in ("weightedAvgPrice", "lastPrice", "openPrice", "highPrice", "lowPrice")}
            return {"symbol": name, "priceChange": "0", "priceChangePercent": "0.000", **prices,
                    "lastQty": "0",
                    "volume": "0", "quoteVolume": "0", "openTime": now - DAY_MS, "closeTime": now,
                    "firstId": -1, "lastId": -1, "count": 0}  # fmt: skip
        vol = sum(t.qty for t in ts)
        quote = sum((sym.price_dec(t.price) * sym.qty_dec(t.qty) for t in ts), Decimal(0))
        first, last = sym.price_dec(ts[0].price), sym.price_dec(ts[-1].price)
        high, low = max(t.price for t in ts), min(t.price for t in ts)
        return {
            "symbol": name, "priceChange": num(last - first),
            "priceChangePercent": f"{(last / first - 1) * 100:.3f}",
            "weightedAvgPrice": num(quote / sym.qty_dec(vol), 8), "lastPrice": num(last),
            "lastQty": sym.qty_str(ts[-1].qty), "openPrice": num(first),
            "highPrice": sym.price_str(high), "lowPrice": sym.price_str(low),
            "volume": sym.qty_str(vol), "quoteVolume": num(quote), "openTime": ts[0].time_ms,
            "closeTime": now,
            "firstId": ts[0].trade_id, "lastId": ts[-1].trade_id, "count": len(ts),
        }  # fmt: skip

    if p.get("symbol"):
        return one(v.exchange.symbol(p["symbol"]).sym.name)
    return [one(n) for n in v.exchange.symbols]


def ticker_price(v: VenueState, a: Account | None, p: Params) -> Any:
    def one(name: str) -> dict[str, Any]:
        st = v.exchange.symbols[name]
        ts = v.exchange.public_trades[name]
        price = st.sym.price_str(ts[-1].price) if ts else str(st.mark)
        return {"symbol": name, "price": price, "time": ts[-1].time_ms if ts else v.now_ms()}

    if p.get("symbol"):
        return one(v.exchange.symbol(p["symbol"]).sym.name)
    return [one(n) for n in v.exchange.symbols]


def funding_rate(v: VenueState, a: Account | None, p: Params) -> Any:
    names = [v.exchange.symbol(p["symbol"]).sym.name] if p.get("symbol") else list(v.exchange.symbols)
    rows = [
        {"symbol": n, "fundingRate": num(rate, 8), "fundingTime": t, "markPrice": num(mark, 8)}
        for n in names
        for t, rate, mark in v.exchange.funding_history[n]
    ]
    rows = _window(sorted(rows, key=lambda r: r["fundingTime"]), p, lambda r: r["fundingTime"])
    limit = _limit(p, 100, 1000)
    return rows[:limit] if p.get("startTime") else rows[-limit:]


def public_trades(v: VenueState, a: Account | None, p: Params) -> Any:
    st = v.exchange.symbol(p.get("symbol"))
    sym = st.sym
    rows = list(v.exchange.public_trades[sym.name])[-_limit(p, 500, 1000) :]
    return [
        {
            "id": t.trade_id,
            "price": sym.price_str(t.price),
            "qty": sym.qty_str(t.qty),
            "quoteQty": num(sym.price_dec(t.price) * sym.qty_dec(t.qty)),
            "time": t.time_ms,
            "isBuyerMaker": t.buyer_is_maker,
        }
        for t in rows
    ]


def agg_trades(v: VenueState, a: Account | None, p: Params) -> Any:
    """Consecutive trades of one taker order at one price, aggregated; ``a`` is the run's first
    trade id (unique and increasing per symbol)."""
    st = v.exchange.symbol(p.get("symbol"))
    sym = st.sym
    runs: list[list[Any]] = []
    for t in v.exchange.public_trades[sym.name]:
        if runs and runs[-1][0].taker_key == t.taker_key and runs[-1][0].price == t.price:
            runs[-1].append(t)
        else:
            runs.append([t])
    rows = [
        {
            "a": r[0].trade_id,
            "p": sym.price_str(r[0].price),
            "q": sym.qty_str(sum(t.qty for t in r)),
            "f": r[0].trade_id,
            "l": r[-1].trade_id,
            "T": r[-1].time_ms,
            "m": r[0].buyer_is_maker,
        }
        for r in runs
    ]
    if p.get("fromId"):
        rows = [r for r in rows if r["a"] >= _int_param(p, "fromId")]
    rows = _window(rows, p, lambda r: r["T"])
    limit = _limit(p, 500, 1000)
    return rows[:limit] if p.get("fromId") or p.get("startTime") else rows[-limit:]


def _agg_json(sym: Any, r: list[Any]) -> dict[str, Any]:
    return {
        "a": r[0].trade_id, "p": sym.price_str(r[0].price), "q": sym.qty_str(sum(t.qty for t in r)),
        "f": r[0].trade_id, "l": r[-1].trade_id, "T": r[-1].time_ms, "m": r[0].buyer_is_maker,
    }  # fmt: skip


def klines(v: VenueState, a: Account | None, p: Params) -> Any:
    """Candles from the venue's recent public trades; an interval without a trade repeats the last
    close with no volume (as Binance's do)."""
    st = v.exchange.symbol(p.get("symbol"))
    sym = st.sym
    step = KLINE_MS.get(p.get("interval") or "")
    if step is None:
        raise VenueError(-1120, "Invalid interval.")
    limit = _limit(p, 500, 1500)
    ts = sorted(v.exchange.public_trades[sym.name], key=lambda t: (t.time_ms, t.trade_id))
    if not ts:
        return []
    last = max(v.now_ms(), ts[-1].time_ms)  # a clock moved back must not hide the latest trades
    start = max(ts[0].time_ms // step * step, _int_param(p, "startTime") // step * step)
    end = min(last, _int_param(p, "endTime") or last)
    out: list[list[Any]] = []
    i, close = 0, ts[0].price
    for t0 in range(start, end + 1, step):
        while i < len(ts) and ts[i].time_ms < t0:
            close = ts[i].price
            i += 1
        j = i
        while j < len(ts) and ts[j].time_ms < t0 + step:
            j += 1
        bucket = ts[i:j]
        o, h, lo, c = (bucket[0].price, max(x.price for x in bucket), min(x.price for x in bucket),
                       bucket[-1].price) if bucket else (close, close, close, close)  # fmt: skip
        vol = sum(x.qty for x in bucket)
        quote = sum((sym.price_dec(x.price) * sym.qty_dec(x.qty) for x in bucket), Decimal(0))
        buy = [x for x in bucket if not x.buyer_is_maker]
        out.append([
            t0, sym.price_str(o), sym.price_str(h), sym.price_str(lo), sym.price_str(c), sym.qty_str(vol),
            t0 + step - 1, num(quote), len(bucket), sym.qty_str(sum(x.qty for x in buy)),
            num(sum((sym.price_dec(x.price) * sym.qty_dec(x.qty) for x in buy), Decimal(0))), "0",
        ])  # fmt: skip
        close, i = c, j
    return out[-limit:] if not p.get("startTime") else out[:limit]


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
    ("GET", "/fapi/v1/leverageBracket"): Endpoint(leverage_bracket, USER_DATA),
    ("GET", "/fapi/v1/income"): Endpoint(income, USER_DATA, 30),
    ("GET", "/fapi/v1/positionSide/dual"): Endpoint(position_side_get, USER_DATA, 30),
    ("POST", "/fapi/v1/positionSide/dual"): Endpoint(position_side_post, TRADE),
    ("GET", "/fapi/v1/multiAssetsMargin"): Endpoint(multi_assets_get, USER_DATA, 30),
    ("POST", "/fapi/v1/marginType"): Endpoint(margin_type, TRADE),
    ("GET", "/fapi/v1/allOrders"): Endpoint(all_orders, USER_DATA, 5),
    ("GET", "/fapi/v1/ticker/24hr"): Endpoint(ticker_24hr, NONE, _per_symbol(1, 40)),
    ("GET", "/fapi/v1/ticker/price"): Endpoint(ticker_price, NONE, _per_symbol(1, 2)),
    ("GET", "/fapi/v2/ticker/price"): Endpoint(ticker_price, NONE, _per_symbol(1, 2)),
    ("GET", "/fapi/v1/fundingRate"): Endpoint(funding_rate, NONE),
    ("GET", "/fapi/v1/klines"): Endpoint(klines, NONE, _kline_weight),
    ("GET", "/fapi/v1/trades"): Endpoint(public_trades, NONE, 5),
    ("GET", "/fapi/v1/aggTrades"): Endpoint(agg_trades, NONE, 20),
    **{route: Endpoint(h, sec, w, orders=n) for route, (h, sec, w, n) in spot_rest.routes().items()},
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
    lim = v.spot_limiter if req.path.startswith("/api/") else v.limiter  # spot counts apart
    try:
        if ep is None:
            raise VenueError(-1000 if req.path.startswith("/fapi") else -1, "Unknown endpoint.", 404)
        if v.faults.delay_ms:
            await asyncio.sleep(v.faults.delay_ms / 1000)
        now = v.now_ms()
        if v.faults.storm_429_until_ms > now:
            lim._violation(lim._ip(ip), now)  # a storm still counts toward a ban
            raise VenueError(-1003, "Too many requests; please back off.", 429, {"Retry-After": "1"})
        query = req.rel_url.raw_query_string  # the bytes as sent: that is what was signed
        body = await req.text() if req.method != "GET" else ""
        p = parse_params(query, body)
        weight = ep.weight(p) if callable(ep.weight) else ep.weight
        lim.admit(ip, weight, now)
        acct = authenticate(v, req, ep, query, body, p)
        if ep.orders and acct is not None:
            lim.count_orders(acct.name, ep.orders, now, ip)
        if (req.method, req.path) == NEW_ORDER:
            await _late_new(v, _acct(acct), p)
        result = ep.handler(v, acct, p)
        status, text = 200, dumps(result)
    except VenueError as e:
        ERRORS.labels(str(e.code)).inc()
        status, text = e.status, dumps(e.payload())
        headers = {**e.headers, **lim.headers(ip, acct.name if acct else None, v.now_ms())}
        v.dispatch()
        return web.Response(status=status, text=text, content_type="application/json", headers=headers)
    v.dispatch()
    headers = lim.headers(ip, acct.name if acct else None, v.now_ms())
    return web.Response(status=status, text=text, content_type="application/json", headers=headers)


def make_handler(v: VenueState) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def h(req: web.Request) -> web.Response:
        return await handle(v, req)

    return h
