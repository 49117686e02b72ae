"""The venue's spot REST API (``/api/v3``): Binance's paths, parameters, weights and payloads, on
the shared request wrapper of :mod:`services.venue.rest` (signing, keys, limits, faults).

Weights as ``reference/binance-api.md`` B.2 gives them. The spot request weight shares the
venue's one IP window with futures (Binance keeps them apart: 6,000 a minute on spot).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from services.venue.accounts import Account
from services.venue.errors import VenueError
from services.venue.orderbook import BUY
from services.venue.spot import SpotExchange, _amount
from services.venue.state import VenueState

Params = dict[str, str]


def _spot(v: VenueState) -> SpotExchange:
    return v.spot


def _acct(a: Account | None) -> str:
    assert a is not None, "a signed endpoint always has an account"
    return a.name


def exchange_info(v: VenueState, a: Account | None, p: Params) -> Any:
    sp = _spot(v)
    wanted = [s for s in sp.symbols.values() if not p.get("symbol") or s.sym.name == p["symbol"]]
    if p.get("symbol") and not wanted:
        raise VenueError(-1121, "Invalid symbol.")
    return {
        "timezone": "UTC",
        "serverTime": v.now_ms(),
        "rateLimits": [
            *v.spot_limiter.limits_json(),
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": [_symbol_info(st.sym) for st in wanted],
    }


def _symbol_info(sym: Any) -> dict[str, Any]:
    c = sym.cfg
    return {
        "symbol": c.symbol, "status": "TRADING", "baseAsset": c.base_asset, "baseAssetPrecision": 8,
        "quoteAsset": c.quote_asset, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "icebergAllowed": False, "ocoAllowed": False,
        "otoAllowed": False, "quoteOrderQtyMarketAllowed": False, "allowTrailingStop": False,
        "cancelReplaceAllowed": True, "amendAllowed": False, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": f"{c.min_price:f}", "maxPrice": f"{c.max_price:f}",
             "tickSize": f"{c.price_tick:f}"},
            {"filterType": "LOT_SIZE", "minQty": f"{c.min_qty:f}", "maxQty": f"{c.max_qty:f}",
             "stepSize": f"{c.qty_step:f}"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": f"{c.min_qty:f}", "maxQty": f"{c.market_max_qty:f}",
             "stepSize": f"{c.qty_step:f}"},
            {"filterType": "NOTIONAL", "minNotional": f"{c.min_notional:f}", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": c.max_num_orders},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }  # fmt: skip


def _depth_weight(p: Params) -> int:
    limit = _limit(p)
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def _limit(p: Params) -> int:
    try:
        limit = int(p.get("limit", "100") or 100)
    except ValueError:
        raise VenueError(-1100, "Illegal characters found in parameter 'limit'.") from None
    return limit


def depth(v: VenueState, a: Account | None, p: Params) -> Any:
    st = _spot(v).symbol(p.get("symbol"))
    limit = _limit(p)
    if not 1 <= limit <= 5000:
        raise VenueError(-1100, "Illegal characters found in parameter 'limit'; legal range is '1-5000'.")
    sym = st.sym
    return {
        "lastUpdateId": st.update_id,
        "bids": [[sym.price_str(px), sym.qty_str(q)] for px, q in st.book.depth(BUY, limit)],
        "asks": [[sym.price_str(px), sym.qty_str(q)] for px, q in st.book.depth(-BUY, limit)],
    }


def book_ticker(v: VenueState, a: Account | None, p: Params) -> Any:
    sp = _spot(v)
    rows = [sp.symbol(p["symbol"])] if p.get("symbol") else list(sp.symbols.values())
    out = []
    for st in rows:
        sym, bid, ask = st.sym, st.book.top(BUY), st.book.top(-BUY)
        out.append({
            "symbol": sym.name,
            "bidPrice": sym.price_str(bid[0]) if bid else "0.00000000",
            "bidQty": sym.qty_str(bid[1]) if bid else "0.00000000",
            "askPrice": sym.price_str(ask[0]) if ask else "0.00000000",
            "askQty": sym.qty_str(ask[1]) if ask else "0.00000000",
        })  # fmt: skip
    return out[0] if p.get("symbol") else out


def new_order(v: VenueState, a: Account | None, p: Params) -> Any:
    return _spot(v).place(_acct(a), p)


def query_order(v: VenueState, a: Account | None, p: Params) -> Any:
    return _spot(v).query_json(_spot(v).find(_acct(a), p, -2013))


def cancel_order(v: VenueState, a: Account | None, p: Params) -> Any:
    return _spot(v).cancel(_acct(a), p)


def open_orders(v: VenueState, a: Account | None, p: Params) -> Any:
    sp = _spot(v)
    if p.get("symbol"):
        sp.symbol(p["symbol"])
    return [
        sp.query_json(o)
        for o in sorted(sp.open_orders(_acct(a), p.get("symbol", "")), key=lambda o: o.order_id)
    ]


def cancel_open(v: VenueState, a: Account | None, p: Params) -> Any:
    return _spot(v).cancel_open(_acct(a), p.get("symbol"))


def cancel_replace(v: VenueState, a: Account | None, p: Params) -> Any:
    return _spot(v).cancel_replace(_acct(a), p)


def account(v: VenueState, a: Account | None, p: Params) -> Any:
    sp = _spot(v)
    w = sp.wallet(_acct(a))
    rows = w.rows()
    if p.get("omitZeroBalances") == "true":
        zero = _amount(Decimal(0))
        rows = [r for r in rows if r["free"] != zero or r["locked"] != zero]
    maker, taker = f"{sp.maker_fee:f}", f"{sp.taker_fee:f}"
    return {
        "makerCommission": int(sp.maker_fee * 10000), "takerCommission": int(sp.taker_fee * 10000),
        "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": maker, "taker": taker, "buyer": "0.00000000", "seller": "0.00000000"},
        "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
        "requireSelfTradePrevention": False, "preventSor": False, "updateTime": v.now_ms(),
        "accountType": "SPOT", "balances": rows, "permissions": ["SPOT"], "uid": abs(hash(_acct(a))) % 10**9,
    }  # fmt: skip


def my_trades(v: VenueState, a: Account | None, p: Params) -> Any:
    sp = _spot(v)
    st = sp.symbol(p.get("symbol"))
    from services.venue.rest import trade_page  # rest imports this module for its routes

    return trade_page([t for t in sp.trades.get(_acct(a), []) if t["symbol"] == st.sym.name], p)


def _per_symbol(single: int, every: int) -> Callable[[Params], int]:
    return lambda p: single if p.get("symbol") else every


def routes() -> dict[tuple[str, str], tuple[Any, str, Any, int]]:
    """(handler, security, weight, order count) per spot path; :mod:`services.venue.rest` wraps them."""
    return {
        ("GET", "/api/v3/ping"): (lambda v, a, p: {}, "NONE", 1, 0),
        ("GET", "/api/v3/time"): (lambda v, a, p: {"serverTime": v.now_ms()}, "NONE", 1, 0),
        ("GET", "/api/v3/exchangeInfo"): (exchange_info, "NONE", 20, 0),
        ("GET", "/api/v3/depth"): (depth, "NONE", _depth_weight, 0),
        ("GET", "/api/v3/ticker/bookTicker"): (book_ticker, "NONE", _per_symbol(2, 4), 0),
        ("POST", "/api/v3/order"): (new_order, "TRADE", 1, 1),
        ("GET", "/api/v3/order"): (query_order, "USER_DATA", 4, 0),
        ("DELETE", "/api/v3/order"): (cancel_order, "TRADE", 1, 0),
        ("GET", "/api/v3/openOrders"): (open_orders, "USER_DATA", _per_symbol(6, 80), 0),
        ("DELETE", "/api/v3/openOrders"): (cancel_open, "TRADE", 1, 0),
        ("POST", "/api/v3/order/cancelReplace"): (cancel_replace, "TRADE", 1, 1),
        ("GET", "/api/v3/account"): (account, "USER_DATA", 20, 0),
        ("GET", "/api/v3/myTrades"): (my_trades, "USER_DATA", 20, 0),
    }
