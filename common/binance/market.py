"""Binance market-stream and market-data REST payloads (USDⓈ-M and Spot), field names as sent.

Prices and quantities stay strings here, as Binance sends them; the book turns them into exact
integers of tick and step.
"""

from __future__ import annotations

import msgspec

Level = tuple[str, str]


class DepthUpdate(msgspec.Struct, frozen=True):
    """``<s>@depth`` diff event. Futures carry ``pu`` and ``T``; Spot has neither (``pu`` = -1)."""

    e: str
    E: int
    s: str
    U: int
    u: int
    b: list[Level]
    a: list[Level]
    pu: int = -1
    T: int = 0


class DepthSnapshot(msgspec.Struct, frozen=True):
    """``GET /fapi/v1/depth`` or ``/api/v3/depth``. ``E``/``T`` are futures only."""

    lastUpdateId: int
    bids: list[Level]
    asks: list[Level]
    E: int = 0
    T: int = 0


class BookTicker(msgspec.Struct, frozen=True):
    """``<s>@bookTicker``; shares the update-id sequence of the depth stream on futures."""

    u: int
    s: str
    b: str
    B: str
    a: str
    A: str
    e: str = "bookTicker"
    E: int = 0
    T: int = 0


class TradeEvent(msgspec.Struct, frozen=True):
    """``<s>@trade``: ``m`` true means the buyer was the maker (a sell aggressor)."""

    e: str
    E: int
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool
    X: str = "MARKET"


class AggTradeEvent(msgspec.Struct, frozen=True):
    """``<s>@aggTrade``."""

    e: str
    E: int
    s: str
    a: int
    p: str
    q: str
    f: int
    l: int  # noqa: E741 - Binance's field name
    T: int
    m: bool
    nq: str = ""


class MarkPriceEvent(msgspec.Struct, frozen=True):
    """``<s>@markPrice[@1s]``: mark, index, funding rate ``r`` and next funding time ``T`` (ms)."""

    e: str
    E: int
    s: str
    p: str
    i: str
    r: str
    T: int
    P: str = "0"
    ap: str = ""


MarketEvent = DepthUpdate | BookTicker | TradeEvent | AggTradeEvent | MarkPriceEvent


class Combined(msgspec.Struct, frozen=True):
    """Combined-stream wrapper ``{"stream": ..., "data": {...}}``; data decoded per stream name."""

    stream: str
    data: msgspec.Raw


_decoders: dict[str, msgspec.json.Decoder[object]] = {
    "depth": msgspec.json.Decoder(DepthUpdate),
    "bookTicker": msgspec.json.Decoder(BookTicker),
    "trade": msgspec.json.Decoder(TradeEvent),
    "aggTrade": msgspec.json.Decoder(AggTradeEvent),
    "markPrice": msgspec.json.Decoder(MarkPriceEvent),
}
_combined = msgspec.json.Decoder(Combined)


def stream_kind(stream: str) -> str:
    """``ethusdt@depth@100ms`` -> ``depth``; ``ethusdt@markPrice@1s`` -> ``markPrice``."""
    parts = stream.split("@")
    return parts[1] if len(parts) > 1 else ""


def decode_stream_data(stream: str, data: bytes | msgspec.Raw) -> MarketEvent:
    """Decode one stream's payload by the stream's name; raises msgspec DecodeError or ValidationError."""
    dec = _decoders.get(stream_kind(stream))
    if dec is None:
        raise msgspec.ValidationError(f"unsupported stream {stream!r}")
    return dec.decode(data)  # type: ignore[return-value]


def decode_combined(frame: bytes | str) -> tuple[str, MarketEvent]:
    """Decode a combined-stream frame into (stream name, event)."""
    c = _combined.decode(frame)
    return c.stream, decode_stream_data(c.stream, c.data)


snapshot_decoder = msgspec.json.Decoder(DepthSnapshot)
