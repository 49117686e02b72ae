"""Binance USDⓈ-M user-data-stream events, field names as sent (reference A.7).

Decoded with one tagged union on ``e``; unknown event types and malformed payloads raise
``msgspec`` errors the caller counts and skips.
"""

from __future__ import annotations

import msgspec


class OrderData(msgspec.Struct, frozen=True):
    """``ORDER_TRADE_UPDATE.o``."""

    s: str
    c: str
    S: str
    o: str
    x: str
    X: str
    i: int
    q: str
    p: str
    ap: str = "0"
    f: str = "GTC"
    l: str = "0"  # noqa: E741 - Binance's field name
    z: str = "0"
    L: str = "0"
    N: str = ""
    n: str = "0"
    T: int = 0
    t: int = 0
    m: bool = False
    R: bool = False
    rp: str = "0"
    er: str = "0"
    V: str = ""


class OrderTradeUpdate(msgspec.Struct, frozen=True, tag_field="e", tag="ORDER_TRADE_UPDATE"):
    E: int
    T: int
    o: OrderData


class TradeLite(msgspec.Struct, frozen=True, tag_field="e", tag="TRADE_LITE"):
    E: int
    T: int
    s: str
    q: str
    p: str
    m: bool
    c: str
    S: str
    L: str
    l: str  # noqa: E741
    t: int
    i: int


class BalanceData(msgspec.Struct, frozen=True):
    a: str
    wb: str
    cw: str = "0"
    bc: str = "0"


class PositionData(msgspec.Struct, frozen=True):
    s: str
    pa: str
    ep: str
    up: str = "0"
    cr: str = "0"
    bep: str = "0"
    mt: str = "cross"
    ps: str = "BOTH"


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
