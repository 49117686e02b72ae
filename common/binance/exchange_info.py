"""``exchangeInfo`` symbols translated, once, into the domain :class:`Instrument`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from common.messages import Instrument


def _filters(sym: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["filterType"]: f for f in sym.get("filters", [])}


def instrument(sym: dict[str, Any], market: str = "usdm") -> Instrument:
    """One ``exchangeInfo.symbols[]`` entry as an Instrument; raises KeyError if a filter is missing."""
    f = _filters(sym)
    price, lot = f["PRICE_FILTER"], f["LOT_SIZE"]
    mlot = f.get("MARKET_LOT_SIZE", lot)
    notional = f.get("MIN_NOTIONAL", f.get("NOTIONAL", {}))  # spot calls it NOTIONAL
    pct = f.get("PERCENT_PRICE", {})
    return Instrument(
        symbol=sym["symbol"],
        market=market,  # type: ignore[arg-type]
        base_asset=sym.get("baseAsset", ""),
        quote_asset=sym.get("quoteAsset", ""),
        margin_asset=sym.get("marginAsset", sym.get("quoteAsset", "")),
        price_tick=Decimal(price["tickSize"]),
        qty_step=Decimal(lot["stepSize"]),
        min_price=Decimal(price.get("minPrice", "0")),
        max_price=Decimal(price.get("maxPrice", "0")),
        min_qty=Decimal(lot["minQty"]),
        max_qty=Decimal(lot["maxQty"]),
        market_min_qty=Decimal(mlot["minQty"]),
        market_max_qty=Decimal(mlot["maxQty"]),
        min_notional=Decimal(notional.get("notional", notional.get("minNotional", "0"))),
        percent_up=Decimal(pct.get("multiplierUp", "0")),
        percent_down=Decimal(pct.get("multiplierDown", "0")),
        max_num_orders=int(
            f.get("MAX_NUM_ORDERS", {}).get("limit", f.get("MAX_NUM_ORDERS", {}).get("maxNumOrders", 200))
        ),
    )


def instruments(info: dict[str, Any], symbols: list[str], market: str = "usdm") -> dict[str, Instrument]:
    """The Instruments of ``symbols``; raises ValueError naming any symbol the venue does not list."""
    by_name = {s["symbol"]: s for s in info.get("symbols", [])}
    missing = [s for s in symbols if s not in by_name]
    if missing:
        raise ValueError(f"the venue does not list {', '.join(missing)}")
    return {s: instrument(by_name[s], market) for s in symbols}
