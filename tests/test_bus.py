"""The bus: PUB/SUB delivery, the family rule, topic ownership, bad input, gaps, deadlines, the
lazy-pirate rule, HMAC."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq
import zmq.asyncio

from common import metrics, topics
from common.bus import (
    CommandClient,
    CommandServer,
    Publisher,
    RequestRefused,
    RequestTimeout,
    Subscriber,
    sign,
)
from common.codec import CommandCodec
from common.messages import GetStatus, Reply, Request, Trade
from tests.helpers import async_wait_until, run


def _trade(i: int) -> Trade:
    return Trade(symbol="ETHUSDC", trade_id=i, price=Decimal("1.5"), qty=Decimal(1), buyer_is_maker=False)


def _ep(tmp_path: Path, name: str) -> str:
    return f"ipc://{tmp_path / name}"


def test_subscriber_receives_in_order_and_families_end_on_a_dot(tmp_path: Path) -> None:
    async def go() -> None:
        ctx = zmq.Context()
        pub = Publisher(ctx, _ep(tmp_path, "p"), "marketdata")
        got: list[tuple[str, int]] = []
        sub = Subscriber(
            ctx,
            [_ep(tmp_path, "p")],
            [topics.family("md", "trade"), "md.book.ETH"],
            lambda t, m, e: got.append((t, m.trade_id)),
            "test",
        )
        sub.start()
        await asyncio.sleep(0.2)  # slow-joiner: let the subscription reach the publisher
        for i in range(1, 101):
            pub.publish(topics.md_trade("ETHUSDC"), _trade(i))
            pub.publish(topics.md_book("ETHUSDC"), _trade(i))  # not subscribed: md.book.ETH is exact
        await async_wait_until(lambda: len(got) >= 100, what="100 trades")
        await asyncio.sleep(0.05)
        assert [i for _, i in got] == list(range(1, 101))
        assert {t for t, _ in got} == {"md.trade.ETHUSDC"}
        assert sub.gaps == 0
        sub.close()
        pub.close()
        ctx.term()

    run(go())


def test_a_malformed_message_is_counted_and_dropped_and_the_subscriber_lives_on(tmp_path: Path) -> None:
    async def go() -> None:
        ctx = zmq.Context()
        raw = ctx.socket(zmq.PUB)
        raw.bind(_ep(tmp_path, "raw"))
        got: list[Any] = []
        sub = Subscriber(ctx, [_ep(tmp_path, "raw")], [""], lambda t, m, e: got.append(m), "badinput")
        sub.start()
        await asyncio.sleep(0.2)
        before = metrics.BUS_DECODE_ERRORS.labels("badinput", "envelope")._value.get()
        raw.send_multipart([b"md.trade.X", b"\xc1 not msgpack"])
        raw.send_multipart([b"md.trade.X"])  # one frame only
        body = msgspec.msgpack.encode({"type": "Trade", "symbol": "X"})  # missing fields
        raw.send_multipart([b"md.trade.X", msgspec.msgpack.encode([1, "src", 1, 1, msgspec.Raw(body)])])
        good = Publisher(ctx, _ep(tmp_path, "good"), "marketdata")
        sub._sock.connect(_ep(tmp_path, "good"))
        await asyncio.sleep(0.2)
        good.publish("md.trade.X", _trade(7))
        await async_wait_until(lambda: got, what="the good message")
        assert [m.trade_id for m in got] == [7]
        assert sub.decode_errors == 3
        assert metrics.BUS_DECODE_ERRORS.labels("badinput", "envelope")._value.get() == before + 1
        assert metrics.BUS_DECODE_ERRORS.labels("badinput", "Trade")._value.get() >= 1
        sub.close()
        good.close()
        raw.close()
        ctx.term()

    run(go())


def test_a_handler_that_raises_does_not_kill_the_subscriber(tmp_path: Path) -> None:
    async def go() -> None:
        ctx = zmq.Context()
        pub = Publisher(ctx, _ep(tmp_path, "p"), "marketdata")
        got: list[int] = []

        def handler(t: str, m: Any, e: Any) -> None:
            if m.trade_id == 1:
                raise RuntimeError("bug in handler")
            got.append(m.trade_id)

        sub = Subscriber(ctx, [_ep(tmp_path, "p")], [""], handler, "handlerbug")
        sub.start()
        await asyncio.sleep(0.2)
        pub.publish("md.trade.X", _trade(1))
        pub.publish("md.trade.X", _trade(2))
        await async_wait_until(lambda: got == [2], what="message after the failing one")
        assert metrics.BUS_HANDLER_ERRORS.labels("handlerbug", "Trade")._value.get() == 1
        sub.close()
        pub.close()
        ctx.term()

    run(go())


def test_gaps_in_a_publishers_sequence_are_detected_per_topic(tmp_path: Path) -> None:
    async def go() -> None:
        ctx = zmq.Context()
        pub = Publisher(ctx, _ep(tmp_path, "p"), "marketdata")
        gaps: list[tuple[str, int]] = []
        got: list[int] = []
        sub = Subscriber(
            ctx,
            [_ep(tmp_path, "p")],
            ["md.trade.A"],
            lambda t, m, e: got.append(e.seq),
            "gaptest",
            on_gap=lambda topic, src, n: gaps.append((topic, n)),
        )
        sub.start()
        await asyncio.sleep(0.2)
        pub.publish("md.trade.A", _trade(1))
        pub.publish("md.trade.B", _trade(1))  # other topic: not a gap for A
        pub._seq["md.trade.A"] += 3  # as if three messages were lost at the HWM
        pub.publish("md.trade.A", _trade(2))
        await async_wait_until(lambda: len(got) == 2, what="two messages")
        assert got == [1, 5]
        assert gaps == [("md.trade.A", 3)]
        sub.close()
        pub.close()
        ctx.term()

    run(go())


def test_a_request_that_times_out_rebuilds_the_socket_and_the_next_one_works(tmp_path: Path) -> None:
    async def go() -> None:
        ctx = zmq.asyncio.Context()
        ep = _ep(tmp_path, "cmd")
        mute = ctx.socket(zmq.ROUTER)  # receives, never answers
        mute.bind(ep)
        client = CommandClient(ctx, ep, "test", timeout_s=0.2)
        with pytest.raises(RequestTimeout):
            await client.request(GetStatus())
        assert client.rebuilds == 1
        mute.close(linger=0)

        async def answer(req: Request) -> Reply:
            return Reply(id=req.id, ok=True, result={"pong": True})

        server = CommandServer(ctx, ep, "svc", answer)
        server.start()
        # A REQ socket that was not rebuilt would be stuck waiting for the first reply (EFSM).
        reply = await client.request(GetStatus(), timeout_s=2.0)
        assert reply.ok and reply.result == {"pong": True}
        client.close()
        await server.close()
        ctx.destroy(linger=0)

    run(go())


def test_a_request_that_cannot_even_be_sent_times_out_instead_of_waiting_forever(tmp_path: Path) -> None:
    """A REQ socket with no peer to hand the request to blocks its send (what a server whose CURVE
    handshake refused our key leaves us with; here made certain with ZMQ_IMMEDIATE and nobody at
    the endpoint): the deadline covers the send as well as the reply."""

    async def go() -> None:
        ctx = zmq.asyncio.Context()
        client = CommandClient(ctx, _ep(tmp_path, "nobody"), "test", timeout_s=0.2)
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.IMMEDIATE, 1)  # queue nothing until a connection completes
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(_ep(tmp_path, "nobody"))
        client._sock = sock  # the socket the client would have made, with nothing to send to
        async with asyncio.timeout(5):  # the old client waited here forever
            with pytest.raises(RequestTimeout, match=r"no reply from .* within 0\.2 s"):
                await client.request(GetStatus())
        assert client.rebuilds == 1
        client.close()
        ctx.destroy(linger=0)

    run(go())


def test_an_expired_deadline_is_refused(tmp_path: Path) -> None:
    async def go() -> None:
        ctx = zmq.asyncio.Context()
        ep = _ep(tmp_path, "cmd")
        calls = []

        async def answer(req: Request) -> Reply:
            calls.append(req)
            return Reply(id=req.id, ok=True)

        server = CommandServer(ctx, ep, "svc", answer)
        server.start()
        req_sock = ctx.socket(zmq.REQ)
        req_sock.connect(ep)
        codec = CommandCodec()
        await req_sock.send(codec.encode(Request(id="late", sender="t", deadline_ns=1, cmd=GetStatus())))
        reply = codec.decode_reply(await asyncio.wait_for(req_sock.recv(), 2))
        assert not reply.ok and "deadline" in reply.error
        assert calls == []
        req_sock.close(linger=0)
        await server.close()
        ctx.destroy(linger=0)

    run(go())


def test_with_a_bus_secret_unsigned_and_replayed_requests_are_refused(tmp_path: Path) -> None:
    async def go() -> None:
        ctx = zmq.asyncio.Context()
        ep = _ep(tmp_path, "cmd")
        secret = b"s3cret-bus-key"
        handled: list[str] = []

        async def answer(req: Request) -> Reply:
            handled.append(req.id)
            return Reply(id=req.id, ok=True)

        server = CommandServer(ctx, ep, "svc", answer, secret=secret)
        server.start()
        stranger = CommandClient(ctx, ep, "stranger", secret=None, timeout_s=1, target="svc")
        wrong = CommandClient(ctx, ep, "wrong", secret=b"guess", timeout_s=1, target="svc")
        friend = CommandClient(ctx, ep, "friend", secret=secret, timeout_s=1, target="svc")
        r1 = await stranger.request(GetStatus())
        with pytest.raises(RequestRefused) as r2:  # the refusal is signed with a secret it lacks
            await wrong.request(GetStatus())
        r3 = await friend.request(GetStatus())
        assert (r1.ok, r3.ok) == (False, True)
        assert "unauthenticated" in r1.error and "unauthenticated" in r2.value.reply.error

        # Replay the exact signed frames of a captured request: refused.
        codec = CommandCodec()
        payload = codec.encode(
            Request(id="once", sender="x", deadline_ns=time.time_ns() + 10**10, cmd=GetStatus(), target="svc")
        )
        sock = ctx.socket(zmq.REQ)
        sock.connect(ep)
        replies = []
        for _ in range(2):
            await sock.send_multipart([sign(secret, payload), payload])
            mac, body = await asyncio.wait_for(sock.recv_multipart(), 2)
            # PROTOCOL.md: HMAC-SHA256(secret, "reply" + 4-byte big-endian len(id) + id + payload)
            assert mac == hmac.new(secret, b"reply\x00\x00\x00\x04once" + body, hashlib.sha256).digest()
            replies.append(codec.decode_reply(body))
        assert replies[0].ok and not replies[1].ok and "replay" in replies[1].error
        assert handled.count("once") == 1
        for c in (stranger, wrong, friend):
            c.close()
        sock.close(linger=0)
        await server.close()
        ctx.destroy(linger=0)

    run(go())


def test_topic_builders_and_operator_patterns() -> None:
    assert topics.sys_heartbeat("risk") == "sys.heartbeat.risk"
    with pytest.raises(ValueError):
        topics.md_book("ETH.USDC")
    assert topics.normalize_subscription("md.book") == "md.book."
    assert topics.normalize_subscription("md.book.ETHUSDC") == "md.book.ETHUSDC"
    assert topics.normalize_subscription("risk.state") == "risk.state"
    assert topics.normalize_subscription("risk") == "risk."
    assert topics.normalize_subscription("state.strategy") == "state.strategy"
