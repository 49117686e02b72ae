"""The venue's symbols: exact conversions between Binance strings and integer ticks/steps, filters."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from common.config_sections import VenueSymbolConfig
from services.venue.errors import VenueError, missing


def _decimals(x: Decimal) -> int:
    exp = x.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


class VenueSymbol:
    """One tradable symbol with its filters, as ``exchangeInfo`` describes it."""

    def __init__(self, cfg: VenueSymbolConfig) -> None:
        self.cfg = cfg
        self.name = cfg.symbol
        self.tick = cfg.price_tick
        self.step = cfg.qty_step
        self.price_precision = _decimals(cfg.price_tick)
        self.qty_precision = _decimals(cfg.qty_step)
        self.margin_asset = cfg.quote_asset

    # ---- conversions -----------------------------------------------------------------------

    def price_str(self, ticks: int) -> str:
        return str((self.tick * ticks).quantize(Decimal(1).scaleb(-self.price_precision)))

    def qty_str(self, steps: int) -> str:
        return str((self.step * steps).quantize(Decimal(1).scaleb(-self.qty_precision)))

    def price_dec(self, ticks: int) -> Decimal:
        return self.tick * ticks

    def qty_dec(self, steps: int) -> Decimal:
        return self.step * steps

    def parse_price(self, raw: str | None, name: str = "price") -> int:
        """A price string to ticks, with Binance's filter errors (-1111, -4013, -4014)."""
        p = _parse(raw, name)
        if _decimals(p) > self.price_precision:
            raise VenueError(-1111, "Precision is over the maximum defined for this asset.")
        if p < self.cfg.min_price:
            raise VenueError(-4013, "Price less than min price.")
        if p > self.cfg.max_price:
            raise VenueError(-4013, "Price greater than max price.")
        if (p - self.cfg.min_price) % self.tick != 0:
            raise VenueError(-4014, "Price not increased by tick size.")
        return int(p / self.tick)

    def parse_qty(self, raw: str | None, market: bool = False) -> int:
        """A quantity string to steps, checked against LOT_SIZE or MARKET_LOT_SIZE."""
        q = _parse(raw, "quantity")
        if q <= 0:
            raise VenueError(-4003, "Quantity less than or equal to zero.")
        if _decimals(q) > self.qty_precision:
            raise VenueError(-1111, "Precision is over the maximum defined for this asset.")
        if q < self.cfg.min_qty:
            raise VenueError(-4004, "Quantity less than min quantity.")
        if q > (self.cfg.market_max_qty if market else self.cfg.max_qty):
            raise VenueError(-4005, "Quantity greater than max quantity.")
        if (q - self.cfg.min_qty) % self.step != 0:
            raise VenueError(-4023, "Quantity not increased by step size.")
        return int(q / self.step)

    # ---- exchangeInfo ----------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        c = self.cfg
        return {
            "symbol": c.symbol,
            "pair": c.symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": c.base_asset,
            "quoteAsset": c.quote_asset,
            "marginAsset": c.quote_asset,
            "pricePrecision": self.price_precision,
            "quantityPrecision": self.qty_precision,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "settlePlan": 0,
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": str(c.min_price),
                    "maxPrice": str(c.max_price),
                    "tickSize": str(c.price_tick),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": str(c.min_qty),
                    "maxQty": str(c.max_qty),
                    "stepSize": str(c.qty_step),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": str(c.min_qty),
                    "maxQty": str(c.market_max_qty),
                    "stepSize": str(c.qty_step),
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": c.max_num_orders},
                {"filterType": "MIN_NOTIONAL", "notional": str(c.min_notional)},
                {
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": str(c.percent_up),
                    "multiplierDown": str(c.percent_down),
                    "multiplierDecimal": "4",
                },
            ],
            "orderTypes": [
                "LIMIT",
                "MARKET",
                "STOP",
                "STOP_MARKET",
                "TAKE_PROFIT",
                "TAKE_PROFIT_MARKET",
                "TRAILING_STOP_MARKET",
            ],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        }


def _parse(raw: str | None, name: str) -> Decimal:
    if raw is None or raw == "":
        raise missing(name)
    try:
        d = Decimal(raw)
    except InvalidOperation:
        raise VenueError(
            -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        ) from None
    if not d.is_finite():
        raise missing(name)
    return d
