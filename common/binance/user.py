"""Binance USDⓈ-M user-data-stream events, field names as sent (reference A.7).

Decoded with one tagged union on ``e``; unknown event types and malformed payloads raise
``msgspec`` errors the caller counts and skips. Numbers are ``Decimal``, exact; a value that is not
a finite number (``"abc"``, ``""``, ``"NaN"``) fails the decode naming the field, so it never
reaches the OMS.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from common.binance.trading import ZERO, finite


class OrderData(msgspec.Struct, frozen=True):
    """``ORDER_TRADE_UPDATE.o``."""

    s: str
    c: str
    S: str
    o: str
    x: str
    X: str
    i: int
    q: Decimal
    p: Decimal
    ap: Decimal = ZERO
    f: str = "GTC"
    l: Decimal = ZERO  # noqa: E741 - Binance's field name
    z: Decimal = ZERO
    L: Decimal = ZERO
    N: str = ""
    n: Decimal = ZERO
    T: int = 0
    t: int = 0
    m: bool = False
    R: bool = False
    rp: Decimal = ZERO
    er: str = "0"
    V: str = ""

    def __post_init__(self) -> None:
        finite(self, "q", "p", "ap", "l", "z", "L", "n", "rp")


class OrderTradeUpdate(msgspec.Struct, frozen=True, tag_field="e", tag="ORDER_TRADE_UPDATE"):
    E: int
    T: int
    o: OrderData


class TradeLite(msgspec.Struct, frozen=True, tag_field="e", tag="TRADE_LITE"):
    E: int
    T: int
    s: str
    q: Decimal
    p: Decimal
    m: bool
    c: str
    S: str
    L: Decimal
    l: Decimal  # noqa: E741
    t: int
    i: int

    def __post_init__(self) -> None:
        finite(self, "q", "p", "L", "l")


class BalanceData(msgspec.Struct, frozen=True):
    a: str
    wb: Decimal
    cw: Decimal = ZERO
    bc: Decimal = ZERO

    def __post_init__(self) -> None:
        finite(self, "wb", "cw", "bc")


class PositionData(msgspec.Struct, frozen=True):
    s: str
    pa: Decimal
    ep: Decimal
    up: Decimal = ZERO
    cr: Decimal = ZERO
    bep: Decimal = ZERO
    mt: str = "cross"
    ps: str = "BOTH"

    def __post_init__(self) -> None:
        finite(self, "pa", "ep", "up", "cr", "bep")


class AccountData(msgspec.Struct, frozen=True):
    m: str
    B: list[BalanceData] = msgspec.field(default_factory=list)
    P: list[PositionData] = msgspec.field(default_factory=list)
    S: str = ""


class AccountUpdate(msgspec.Struct, frozen=True, tag_field="e", tag="ACCOUNT_UPDATE"):
    E: int
    T: int
    a: AccountData


class ListenKeyExpired(msgspec.Struct, frozen=True, tag_field="e", tag="listenKeyExpired"):
    E: int
    listenKey: str = ""


UserEvent = OrderTradeUpdate | TradeLite | AccountUpdate | ListenKeyExpired

user_event_decoder = msgspec.json.Decoder(UserEvent)
