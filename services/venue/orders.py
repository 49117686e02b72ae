"""Orders at the venue: the record Binance keeps for each order and the checks on a new order.

``parse_new_order`` turns request parameters (strings, as Binance receives them) into a
:class:`NewOrder`, raising the error Binance would answer for each bad field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services.venue.errors import BAD_CLIENT_ID, VenueError, err, missing
from services.venue.symbols import VenueSymbol

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
TIFS = ("GTC", "IOC", "FOK", "GTX", "GTD")
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
CONDITIONAL = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
OPEN_STATES = ("NEW", "PARTIALLY_FILLED")


@dataclass(slots=True, frozen=True)
class NewOrder:
    """A validated order request."""

    symbol: str
    side: int
    type: str
    tif: str
    qty: int
    price: int | None
    reduce_only: bool
    client_id: str
    stp: str
    resp_type: str
    good_till: int


@dataclass(slots=True, eq=False)
class VenueOrder:
    """Binance's view of one order; sizes in steps, price in ticks."""

    order_id: int
    account: str
    symbol: str
    client_id: str
    side: int
    type: str
    tif: str
    price: int
    qty: int
    reduce_only: bool
    stp: str
    time_ms: int
    status: str = "NEW"
    executed: int = 0
    cum_quote: Decimal = Decimal(0)
    update_ms: int = 0
    expire_reason: int = 0
    good_till: int = 0
    resting: Any = None  # orderbook.Resting while on the book
    fills: list[int] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def side_str(self) -> str:
        return "BUY" if self.side > 0 else "SELL"

    def avg_price(self, sym: VenueSymbol) -> Decimal:
        if not self.executed:
            return Decimal(0)
        return self.cum_quote / sym.qty_dec(self.executed)


def _bool(params: dict[str, str], name: str) -> bool:
    v = params.get(name, "false").lower()
    if v not in ("true", "false"):
        raise VenueError(-1130, f"Data sent for parameter '{name}' is not valid.")
    return v == "true"


def _side(params: dict[str, str]) -> int:
    side = params.get("side")
    if not side:
        raise missing("side")
    if side not in ("BUY", "SELL"):
        raise VenueError(-1117, "Invalid side.")
    return 1 if side == "BUY" else -1


def _type_and_tif(params: dict[str, str]) -> tuple[str, str]:
    typ = params.get("type")
    if not typ:
        raise missing("type")
    if typ in CONDITIONAL:
        raise VenueError(
            -4120,
            "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
        )
    if typ not in ("LIMIT", "MARKET"):
        raise VenueError(-1116, "Invalid orderType.")
    tif = params.get("timeInForce", "")
    if typ == "LIMIT":
        if not tif:
            raise missing("timeInForce")
        if tif not in TIFS:
            raise VenueError(-1115, "Invalid timeInForce.")
    return typ, tif


def parse_new_order(params: dict[str, str], sym: VenueSymbol, default_stp: str, auto_id: str) -> NewOrder:
    """Validate a new order the way Binance does, in roughly Binance's order of checks."""
    side = _side(params)
    typ, tif = _type_and_tif(params)
    if params.get("positionSide", "BOTH") != "BOTH":
        raise VenueError(-4061, "Order's position side does not match user's setting.")
    qty = sym.parse_qty(params.get("quantity"), market=typ == "MARKET")
    price = sym.parse_price(params.get("price")) if typ == "LIMIT" else None
    if "priceMatch" in params:
        raise VenueError(-5038, "priceMatch is not supported by the simulated venue.")
    cid = params.get("newClientOrderId") or auto_id
    if not CLIENT_ID_RE.match(cid):
        raise err(BAD_CLIENT_ID)
    stp = params.get("selfTradePreventionMode", default_stp)
    if stp not in STP_MODES:
        raise VenueError(-5039, "Invalid self trade prevention mode.")
    resp = params.get("newOrderRespType", "ACK")
    if resp not in ("ACK", "RESULT"):
        raise VenueError(-1130, "Data sent for parameter 'newOrderRespType' is not valid.")
    gtd = int(params.get("goodTillDate", "0") or 0)
    if tif == "GTD" and gtd <= 0:
        raise VenueError(-5040, "goodTillDate is invalid.")
    return NewOrder(sym.name, side, typ, tif, qty, price, _bool(params, "reduceOnly"), cid, stp, resp, gtd)
