"""Messages: round trip through the codec, tagged-union dispatch, and schema evolution."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from common.codec import CommandCodec, DecodeError, MessageCodec
from common.messages import (
    Account,
    Balance,
    BookLevels,
    DecisionRecord,
    Features,
    FeedStatus,
    Fill,
    Heartbeat,
    Instrument,
    Kill,
    MarkPrice,
    OrderUpdate,
    Position,
    Quote,
    Reply,
    Request,
    RiskEvent,
    RiskState,
    SymbolRisk,
    TargetQuotes,
    Trade,
)
from common.protocol import PROTOCOL_MAJOR

SAMPLES = [
    Heartbeat(service="gateway", pid=1, version="0.1.0", started_ns=5),
    Instrument(
        symbol="ETHUSDC",
        price_tick=Decimal("0.01"),
        qty_step=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal("1000"),
        min_notional=Decimal("20"),
    ),
    BookLevels(
        symbol="ETHUSDC",
        last_update_id=7,
        ts_exchange=1,
        price_tick=Decimal("0.01"),
        qty_step=Decimal("0.001"),
        bids=[(268162, 1165)],
        asks=[(268163, 73077)],
    ),
    Trade(symbol="ETHUSDC", trade_id=9, price=Decimal("2681.62"), qty=Decimal("0.5"), buyer_is_maker=True),
    MarkPrice(
        symbol="ETHUSDC",
        mark_price=Decimal("2681.5"),
        index_price=Decimal("2681.4"),
        funding_rate=Decimal("0.0001"),
        next_funding_time_ms=1,
    ),
    Features(
        symbol="ETHUSDC",
        best_bid=1.0,
        best_ask=2.0,
        bid_qty=1.0,
        ask_qty=1.0,
        mid=1.5,
        microprice=1.5,
        spread=1.0,
        spread_bps=6666.0,
        depth_bid=1.0,
        depth_ask=1.0,
        imbalance=0.0,
        vol={"1s": 0.1},
    ),
    FeedStatus(symbol="ETHUSDC", state="stale", reason="no update for 5 s"),
    TargetQuotes(
        symbol="ETHUSDC",
        target_id=3,
        quotes=[Quote(side="BUY", price=Decimal("2681.60"), qty=Decimal("0.009"), layer=0)],
        decision=DecisionRecord(model="asmm", inputs={"mid": 2681.6}),
    ),
    OrderUpdate(
        symbol="ETHUSDC",
        client_order_id="mm-abc",
        side="BUY",
        price=Decimal("2681.60"),
        qty=Decimal("0.009"),
        state="New",
    ),
    Fill(
        symbol="ETHUSDC",
        trade_id=11,
        client_order_id="mm-abc",
        venue_order_id=5,
        side="SELL",
        price=Decimal("2681.70"),
        qty=Decimal("0.009"),
        fee=Decimal("0"),
        fee_asset="USDC",
        realized_pnl=Decimal("0.0009"),
        is_maker=True,
    ),
    Position(symbol="ETHUSDC", qty=Decimal("-0.009"), entry_price=Decimal("2681.70")),
    Account(balances=[Balance(asset="USDC", wallet=Decimal("1000"))]),
    RiskState(mode="halted", reason="shock", symbols={"ETHUSDC": SymbolRisk(mode="halted")}),
    RiskEvent(rule="shockPct", action="halt", symbol="ETHUSDC", figures={"move_pct": 0.12}),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_survives_an_envelope_round_trip(msg: msgspec.Struct) -> None:
    codec = MessageCodec()
    payload = codec.encode(msg, "gateway", 123, 42)  # type: ignore[arg-type]
    env = codec.decode_envelope(payload)
    assert (env.pv, env.source, env.epoch, env.seq) == (PROTOCOL_MAJOR, "gateway", 123, 42)
    assert codec.decode_body(env.msg) == msg


def test_decimals_stay_exact_on_the_wire() -> None:
    codec = MessageCodec()
    q = Quote(side="SELL", price=Decimal("0.1") + Decimal("0.2"), qty=Decimal("1.000"), layer=1)
    t = TargetQuotes(symbol="X", target_id=1, quotes=[q])
    back = codec.decode_body(msgspec.msgpack.encode(t))
    assert isinstance(back, TargetQuotes)
    assert back.quotes[0].price == Decimal("0.3")
    assert str(back.quotes[0].qty) == "1.000"


def test_match_dispatches_on_the_decoded_class() -> None:
    codec = MessageCodec()
    seen = []
    for m in SAMPLES:
        decoded = codec.decode_body(msgspec.msgpack.encode(m))
        match decoded:
            case Fill(trade_id=tid):
                seen.append(("fill", tid))
            case RiskState(mode=mode):
                seen.append(("risk", mode))
            case _:
                pass
    assert seen == [("fill", 11), ("risk", "halted")]


def test_an_older_decoder_reads_a_newer_message_with_an_added_field() -> None:
    class TradeV2(msgspec.Struct, frozen=True, kw_only=True, tag="Trade"):
        ts_event: int = 0
        ts_init: int = 0
        symbol: str
        trade_id: int
        price: str
        qty: str
        buyer_is_maker: bool
        venue_latency_ms: float = 0.0  # added in a later minor version

    newer = msgspec.msgpack.encode(
        TradeV2(
            symbol="ETHUSDC", trade_id=1, price="1.5", qty="2", buyer_is_maker=False, venue_latency_ms=3.0
        )
    )
    old = MessageCodec().decode_body(newer)
    assert isinstance(old, Trade)
    assert old.price == Decimal("1.5")


def test_a_newer_decoder_fills_defaults_for_fields_an_older_publisher_lacks() -> None:
    class HeartbeatV0(msgspec.Struct, frozen=True, kw_only=True, tag="Heartbeat"):
        ts_event: int = 0
        ts_init: int = 0
        service: str
        pid: int
        version: str
        started_ns: int

    old = msgspec.msgpack.encode(HeartbeatV0(service="risk", pid=2, version="0.0.9", started_ns=1))
    hb = MessageCodec().decode_body(old)
    assert isinstance(hb, Heartbeat)
    assert hb.state == "running" and hb.detail == {}


def test_another_protocol_major_is_refused() -> None:
    codec = MessageCodec()
    payload = msgspec.msgpack.encode([PROTOCOL_MAJOR + 1, "x", 1, 1, msgspec.msgpack.encode(SAMPLES[0])])
    with pytest.raises(DecodeError, match="protocol major"):
        codec.decode_envelope(payload)


def test_a_malformed_body_names_its_kind() -> None:
    body = msgspec.msgpack.encode({"type": "Fill", "symbol": "ETHUSDC"})
    with pytest.raises(DecodeError) as exc:
        MessageCodec().decode_body(body)
    assert exc.value.kind == "Fill"


def test_messages_are_frozen_and_keyword_only() -> None:
    hb = Heartbeat(service="x", pid=1, version="v", started_ns=0)
    with pytest.raises(AttributeError):
        hb.pid = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        Heartbeat("x", 1, "v", 0)  # type: ignore[misc]


def test_requests_and_replies_round_trip() -> None:
    codec = CommandCodec()
    req = Request(id="r1", sender="mmctl", deadline_ns=10, cmd=Kill(reason="test", flatten=True))
    assert codec.decode_request(codec.encode(req)) == req
    rep = Reply(id="r1", ok=False, error="nope", service="risk", result={"a": [1, 2]})
    assert codec.decode_reply(codec.encode(rep)) == rep
