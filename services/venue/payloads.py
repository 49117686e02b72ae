"""Binance JSON shapes the venue sends: order objects, user trades, user-stream and market events.

Builders only: they read venue state and return dicts with Binance's field names and string
decimals, so the rest of the venue never spells a wire field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.venue.accounts import Account, PositionState
from services.venue.orders import VenueOrder
from services.venue.symbols import VenueSymbol


def _num(d: Decimal, places: int = 8) -> str:
    q = d.quantize(Decimal(1).scaleb(-places))
    s = format(q.normalize(), "f")
    return s if s not in ("-0",) else "0"


def order_json(o: VenueOrder, sym: VenueSymbol, ack: bool = False) -> dict[str, Any]:
    """The order object of REST and WS-API answers (``ack``: as it was when accepted)."""
    executed = 0 if ack else o.executed
    status = "NEW" if ack else o.status
    return {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": status,
        "clientOrderId": o.client_id,
        "price": sym.price_str(o.price) if o.type == "LIMIT" else "0",
        "avgPrice": _num(o.avg_price(sym)) if executed else "0.00",
        "origQty": sym.qty_str(o.qty),
        "executedQty": sym.qty_str(executed),
        "cumQty": sym.qty_str(executed),
        "cumQuote": _num(o.cum_quote if executed else Decimal(0)),
        "timeInForce": o.tif or "GTC",
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": o.side_str,
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": o.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": o.stp,
        "goodTillDate": o.good_till,
        "time": o.time_ms,
        "updateTime": o.update_ms or o.time_ms,
    }


def order_trade_update(
    o: VenueOrder,
    sym: VenueSymbol,
    x: str,
    now_ms: int,
    notional: tuple[Decimal, Decimal],
    fill: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``ORDER_TRADE_UPDATE`` with every field of the reference; ``fill`` carries l/L/t/n/N/rp/m."""
    f = fill or {}
    body: dict[str, Any] = {
        "s": o.symbol,
        "c": o.client_id,
        "S": o.side_str,
        "o": o.type,
        "f": o.tif or "GTC",
        "q": sym.qty_str(o.qty),
        "p": sym.price_str(o.price) if o.type == "LIMIT" else "0",
        "ap": _num(o.avg_price(sym)),
        "sp": "0",
        "x": x,
        "X": o.status,
        "i": o.order_id,
        "l": sym.qty_str(f.get("qty", 0)),
        "z": sym.qty_str(o.executed),
        "L": sym.price_str(f["price"]) if f else "0",
        "T": now_ms,
        "t": f.get("trade_id", 0),
        "b": _num(notional[0]),
        "a": _num(notional[1]),
        "m": bool(f.get("maker", False)),
        "R": o.reduce_only,
        "wt": "CONTRACT_PRICE",
        "ot": o.type,
        "ps": "BOTH",
        "cp": False,
        "rp": _num(f.get("rp", Decimal(0))),
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": o.stp,
        "pm": "NONE",
        "gtd": o.good_till,
        "er": str(o.expire_reason),
    }
    if f.get("commission"):
        body["N"] = f["commission_asset"]
        body["n"] = _num(f["commission"])
    return {"e": "ORDER_TRADE_UPDATE", "E": now_ms, "T": now_ms, "o": body}


def trade_lite(o: VenueOrder, sym: VenueSymbol, now_ms: int, fill: dict[str, Any]) -> dict[str, Any]:
    return {
        "e": "TRADE_LITE",
        "E": now_ms,
        "T": now_ms,
        "s": o.symbol,
        "q": sym.qty_str(o.qty),
        "p": sym.price_str(o.price) if o.type == "LIMIT" else "0",
        "m": bool(fill["maker"]),
        "c": o.client_id,
        "S": o.side_str,
        "L": sym.price_str(fill["price"]),
        "l": sym.qty_str(fill["qty"]),
        "t": fill["trade_id"],
        "i": o.order_id,
    }


def position_entry(pos: PositionState, mark: Decimal) -> dict[str, Any]:
    return {
        "s": pos.symbol,
        "pa": _num(pos.qty),
        "ep": _num(pos.entry),
        "bep": _num(pos.entry),
        "cr": _num(pos.realized),
        "up": _num(pos.unrealized(mark)),
        "mt": "cross",
        "iw": "0",
        "ps": "BOTH",
    }


def account_update(
    acct: Account,
    reason: str,
    now_ms: int,
    assets: dict[str, Decimal],
    positions: list[tuple[PositionState, Decimal]],
    symbol: str = "",
) -> dict[str, Any]:
    """``ACCOUNT_UPDATE``: ``assets`` maps each changed asset to its balance change (``bc``)."""
    a: dict[str, Any] = {
        "m": reason,
        "B": [
            {"a": asset, "wb": _num(acct.wallet(asset)), "cw": _num(acct.wallet(asset)), "bc": _num(bc)}
            for asset, bc in assets.items()
        ],
        "P": [position_entry(p, mark) for p, mark in positions],
    }
    if symbol:
        a["S"] = symbol
    return {"e": "ACCOUNT_UPDATE", "E": now_ms, "T": now_ms, "a": a}


def user_trade(sym: VenueSymbol, o: VenueOrder, fill: dict[str, Any], now_ms: int) -> dict[str, Any]:
    price = sym.price_dec(fill["price"])
    qty = sym.qty_dec(fill["qty"])
    return {
        "buyer": o.side > 0,
        "commission": _num(fill.get("commission", Decimal(0))),
        "commissionAsset": sym.margin_asset,
        "id": fill["trade_id"],
        "maker": bool(fill["maker"]),
        "orderId": o.order_id,
        "price": sym.price_str(fill["price"]),
        "qty": sym.qty_str(fill["qty"]),
        "quoteQty": _num(price * qty),
        "realizedPnl": _num(fill.get("rp", Decimal(0))),
        "side": o.side_str,
        "positionSide": "BOTH",
        "symbol": o.symbol,
        "time": now_ms,
    }


def num(d: Decimal, places: int = 8) -> str:
    """A Decimal as Binance prints it: plain notation, no trailing zeros."""
    return _num(d, places)
