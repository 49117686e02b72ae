"""Binance USDⓈ-M trading and account payloads, field names as sent: the one home of their Structs.

Numbers are ``Decimal``, decoded exactly from the venue's strings; a value that is not a finite
number (``"abc"``, ``""``, ``"NaN"``, ``"Infinity"``) fails the decode with a ``msgspec``
ValidationError naming the field, so a broken payload is counted and skipped at the edge and never
reaches the OMS as a number. ``convert`` turns a decoded JSON value into one of these Structs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

import msgspec

ZERO = Decimal(0)

S = TypeVar("S", bound=msgspec.Struct)


def finite(struct: msgspec.Struct, *names: str) -> None:
    """Raise ValueError (a ValidationError once inside a decode) for a field that is not finite."""
    for name in names:
        v = getattr(struct, name)
        if not v.is_finite():
            raise ValueError(f"{name}: {v} is not a finite number")


class VenueOrder(msgspec.Struct, frozen=True, kw_only=True):
    """The order object of REST and WS-API answers (place, modify, cancel, query, openOrders)."""

    orderId: int
    clientOrderId: str
    symbol: str
    status: str
    side: str
    price: Decimal = ZERO
    origQty: Decimal = ZERO
    executedQty: Decimal = ZERO
    avgPrice: Decimal = ZERO
    timeInForce: str = "GTC"
    type: str = "LIMIT"
    reduceOnly: bool = False
    updateTime: int = 0

    def __post_init__(self) -> None:
        finite(self, "price", "origQty", "executedQty", "avgPrice")


class UserTrade(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``GET /fapi/v1/userTrades``."""

    id: int
    orderId: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal = ZERO
    commissionAsset: str = ""
    realizedPnl: Decimal = ZERO
    maker: bool = False
    buyer: bool = False
    quoteQty: Decimal = ZERO
    positionSide: str = "BOTH"
    time: int = 0

    def __post_init__(self) -> None:
        finite(self, "price", "qty", "commission", "realizedPnl", "quoteQty")


class PositionRisk(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``GET /fapi/v3/positionRisk`` (the fields the OMS uses)."""

    symbol: str
    positionAmt: Decimal
    entryPrice: Decimal = ZERO
    unRealizedProfit: Decimal = ZERO
    markPrice: Decimal = ZERO
    positionSide: str = "BOTH"
    updateTime: int = 0

    def __post_init__(self) -> None:
        finite(self, "positionAmt", "entryPrice", "unRealizedProfit", "markPrice")


class AccountAsset(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of ``GET /fapi/v3/account`` ``assets``."""

    asset: str
    walletBalance: Decimal
    availableBalance: Decimal = ZERO
    unrealizedProfit: Decimal = ZERO
    marginBalance: Decimal = ZERO
    maintMargin: Decimal = ZERO
    initialMargin: Decimal = ZERO

    def __post_init__(self) -> None:
        finite(self, "walletBalance", "availableBalance", "unrealizedProfit", "marginBalance")
        finite(self, "maintMargin", "initialMargin")


class AccountInfo(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /fapi/v3/account`` (the fields the gateway uses)."""

    assets: list[AccountAsset] = msgspec.field(default_factory=list)


class BookTicker(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /fapi/v1/ticker/bookTicker`` for one symbol."""

    symbol: str
    bidPrice: Decimal
    bidQty: Decimal
    askPrice: Decimal
    askQty: Decimal

    def __post_init__(self) -> None:
        finite(self, "bidPrice", "bidQty", "askPrice", "askQty")


def convert(payload: Any, kind: type[S]) -> S:
    """A decoded JSON value as ``kind``; raises ``msgspec.ValidationError`` naming the bad field."""
    if isinstance(payload, kind):
        return payload
    return msgspec.convert(payload, kind, strict=False)


def convert_list(payload: Any, kind: type[S]) -> list[S]:
    """A decoded JSON array as a list of ``kind``; raises ``msgspec.ValidationError``."""
    return msgspec.convert(payload, list[kind], strict=False)  # type: ignore[valid-type]
