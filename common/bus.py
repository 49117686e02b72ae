"""The ZeroMQ bus for asyncio: PUB/SUB for data and events, REQ/ROUTER for commands.

Hot path rules: a subscriber is a plain ZeroMQ socket watched with ``loop.add_reader`` and
drained of every ready message per wake-up, with one synchronous handler call per message and
no task per message. Publishing never blocks (PUB drops at the high-water mark; subscribers see
the gap in ``seq``).

Commands use REQ/ROUTER: every request has an id and an absolute deadline; a client whose
request timed out closes and rebuilds its socket (the lazy-pirate rule), so a lost reply can
never wedge it. When a bus secret is set, every request carries an HMAC-SHA256 of its payload
and the server refuses requests without a valid one, stale ones, and replays.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from prometheus_client.core import REGISTRY, CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from common import metrics
from common.codec import CommandCodec, DecodeError, MessageCodec
from common.logging import log
from common.messages import AnyCommand, Envelope, Message, Reply, Request
from common.topics import topic_family

Handler = Callable[[str, Any, Envelope], None]
"""A subscriber callback: (topic, decoded message, envelope). Runs synchronously on the loop."""

_MAX_DRAIN = 2000  # messages handled per wake-up before yielding to the loop

_LIVE: list[Any] = []  # publishers and subscribers whose counts the metrics collector reads


class _BusCollector(Collector):
    """Message counts read at scrape time: the hot path only bumps a dict entry."""

    def collect(self) -> Iterator[Metric]:
        pub = CounterMetricFamily(
            "mm_bus_messages_published", "Bus messages published", labels=["service", "topic_family"]
        )
        rec = CounterMetricFamily(
            "mm_bus_messages_received", "Bus messages received", labels=["service", "topic_family"]
        )
        for obj in list(_LIVE):
            if isinstance(obj, Publisher):
                for fam, n in obj.published.items():
                    pub.add_metric([obj.source, fam], n)
            else:
                for fam, n in obj._received.items():
                    rec.add_metric([obj.service, fam], n)
        yield pub
        yield rec


REGISTRY.register(_BusCollector())


class RequestTimeout(TimeoutError):
    """A request got no reply before its deadline; the client socket has been rebuilt."""


class RequestRefused(RuntimeError):
    """The server answered with ``ok = false``; ``reply.error`` says why."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.error)
        self.reply = reply


def _ensure_ipc_dir(endpoint: str) -> None:
    if endpoint.startswith("ipc://"):
        Path(endpoint[len("ipc://") :]).parent.mkdir(parents=True, exist_ok=True)


def sign(secret: bytes, payload: bytes) -> bytes:
    """HMAC-SHA256 of a command payload."""
    return hmac.new(secret, payload, hashlib.sha256).digest()


class Publisher:
    """A bound PUB socket that numbers each topic's messages and never blocks."""

    def __init__(self, ctx: zmq.Context[Any], endpoint: str, source: str, hwm: int = 200_000) -> None:
        self.source = source
        self.epoch = time.time_ns()
        self.endpoint = endpoint
        self._codec = MessageCodec()
        self._seq: dict[str, int] = {}
        self._topics: dict[str, bytes] = {}
        self._sock = ctx.socket(zmq.PUB)
        self._sock.setsockopt(zmq.SNDHWM, hwm)
        self._sock.setsockopt(zmq.LINGER, 0)
        _ensure_ipc_dir(endpoint)
        self._sock.bind(endpoint)
        self._family_of: dict[str, str] = {}
        self.published: dict[str, int] = {}
        _LIVE.append(self)

    def publish(self, topic: str, msg: Message) -> None:
        """Encode and send ``msg`` on ``topic``; drops silently at the HWM (seen as a gap downstream)."""
        seq = self._seq.get(topic, 0) + 1
        self._seq[topic] = seq
        tb = self._topics.get(topic)
        if tb is None:
            tb = self._topics[topic] = topic.encode()
            self._family_of[topic] = topic_family(topic)
        payload = self._codec.encode(msg, self.source, self.epoch, seq)
        try:
            self._sock.send_multipart((tb, payload), zmq.NOBLOCK)
        except zmq.Again:
            return
        fam = self._family_of[topic]
        self.published[fam] = self.published.get(fam, 0) + 1

    def close(self) -> None:
        self._sock.close(linger=0)
        if self in _LIVE:
            _LIVE.remove(self)


class Subscriber:
    """A SUB socket connected to publishers, drained on readiness, calling ``handler`` per message.

    A payload that fails to decode is counted (``mm_bus_decode_errors_total``), logged once per
    kind and dropped. A handler that raises is counted and logged; the subscriber keeps running.
    Gaps in a publisher's per-topic ``seq`` are counted and reported to ``on_gap``.
    """

    def __init__(
        self,
        ctx: zmq.Context[Any],
        endpoints: Iterable[str],
        topics: Iterable[str],
        handler: Handler,
        service: str,
        on_gap: Callable[[str, str, int], None] | None = None,
        hwm: int = 200_000,
        decode: bool = True,
    ) -> None:
        self.service = service
        self._handler = handler
        self._on_gap = on_gap
        self._decode = decode
        self._codec = MessageCodec()
        self._sock = ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.RCVHWM, hwm)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._exact: set[str] = set()
        self._families: list[str] = []
        for t in topics:
            self.subscribe(t)
        for ep in endpoints:
            self._sock.connect(ep)
        self._last: dict[tuple[str, str], tuple[int, int]] = {}
        self._logged_kinds: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = self._sock.getsockopt(zmq.FD)
        self._scheduled = False
        self._closed = False
        self._family_of: dict[str, str] = {}
        self._received: dict[str, int] = {}
        _LIVE.append(self)
        self.received = 0
        self.gaps = 0
        self.decode_errors = 0

    def subscribe(self, topic: str) -> None:
        """Subscribe to a family (ends with ``.``, or ``""`` for all) or to one exact topic."""
        if topic == "" or topic.endswith("."):
            self._families.append(topic)
        else:
            self._exact.add(topic)
        self._sock.setsockopt(zmq.SUBSCRIBE, topic.encode())

    def unsubscribe(self, topic: str) -> None:
        if topic in self._families:
            self._families.remove(topic)
        self._exact.discard(topic)
        self._sock.setsockopt(zmq.UNSUBSCRIBE, topic.encode())

    def _wanted(self, topic: str) -> bool:
        # ZeroMQ matches prefixes: an exact subscription to md.book.ETH would also let
        # md.book.ETHUSDC through. Exact topics must match whole; families match by prefix.
        if topic in self._exact:
            return True
        return any(topic.startswith(f) for f in self._families)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Begin dispatching on the running loop."""
        self._loop = loop or asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._on_readable)
        # Messages may already be queued (edge-triggered FD): drain once now.
        self._loop.call_soon(self._on_readable)

    def _on_readable(self) -> None:
        self._scheduled = False
        if self._closed:
            return
        sock = self._sock
        for _ in range(_MAX_DRAIN):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError as exc:
                log.warning("bus_recv_failed", error=str(exc))
                return
            self._dispatch(frames)
        # More may be waiting and the FD will not fire again for them: come back soon.
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._on_readable)

    def _dispatch(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self._bad("frames", f"expected [topic, payload], got {len(frames)} frames")
            return
        topic = frames[0].decode("utf-8", "replace")
        if not self._wanted(topic):
            return
        try:
            if self._decode:
                env: Any = self._codec.decode(frames[1])
            else:
                env = self._codec.decode_envelope(frames[1])
        except DecodeError as exc:
            self._bad(exc.kind, exc.detail, topic)
            return
        self.received += 1
        fam = self._family_of.get(topic)
        if fam is None:
            fam = self._family_of[topic] = topic_family(topic)
        self._received[fam] = self._received.get(fam, 0) + 1
        self._check_seq(topic, env)
        msg = env.msg
        try:
            self._handler(topic, msg, env)
        except Exception as exc:  # noqa: BLE001 - a handler bug must not kill the subscriber
            kind = type(msg).__name__
            metrics.BUS_HANDLER_ERRORS.labels(self.service, kind).inc()
            log.opt(exception=exc).error("bus_handler_failed", topic=topic, kind=kind)

    def _check_seq(self, topic: str, env: Any) -> None:
        key = (env.source, topic)
        prev = self._last.get(key)
        self._last[key] = (env.epoch, env.seq)
        if prev is None or prev[0] != env.epoch:
            return
        missed = env.seq - prev[1] - 1
        if missed > 0:
            self.gaps += missed
            metrics.BUS_GAPS.labels(self.service, topic_family(topic)).inc(missed)
            if self._on_gap is not None:
                self._on_gap(topic, env.source, missed)

    def _bad(self, kind: str, detail: str, topic: str = "") -> None:
        self.decode_errors += 1
        metrics.BUS_DECODE_ERRORS.labels(self.service, kind).inc()
        if kind not in self._logged_kinds:
            self._logged_kinds.add(kind)
            log.warning("bus_decode_failed", kind=kind, topic=topic, detail=detail[:300])

    def close(self) -> None:
        if self in _LIVE:
            _LIVE.remove(self)
        self._closed = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        self._sock.close(linger=0)


CommandHandler = Callable[[Request], Awaitable[Reply]]


class CommandServer:
    """A ROUTER socket answering :class:`Request` s; each request runs as its own task."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str,
        service: str,
        handler: CommandHandler,
        secret: bytes | None = None,
        max_clock_skew_s: float = 300.0,
    ) -> None:
        self.service = service
        self._handler = handler
        self._secret = secret
        self._skew_ns = int(max_clock_skew_s * 1e9)
        self._codec = CommandCodec()
        self._sock = ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        _ensure_ipc_dir(endpoint)
        self._sock.bind(endpoint)
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._serve(), name=f"{self.service}-commands")

    async def _serve(self) -> None:
        while True:
            try:
                frames = await self._sock.recv_multipart()
            except zmq.ZMQError as exc:
                if exc.errno == zmq.ENOTSOCK:
                    return
                log.warning("command_recv_failed", error=str(exc))
                continue
            t = asyncio.create_task(self._one(frames))
            self._inflight.add(t)
            t.add_done_callback(self._inflight.discard)

    async def _one(self, frames: list[bytes]) -> None:
        # REQ peers: [identity, b"", (mac,) payload]
        if len(frames) < 3 or frames[1] != b"":
            metrics.BUS_DECODE_ERRORS.labels(self.service, "request-frames").inc()
            return
        ident, body = frames[0], frames[2:]
        reply = await self._answer(body)
        try:
            await self._sock.send_multipart([ident, b"", self._codec.encode(reply)])
        except zmq.ZMQError as exc:
            log.warning("command_reply_failed", error=str(exc))

    async def _answer(self, body: list[bytes]) -> Reply:
        if self._secret is not None:
            if len(body) != 2 or not hmac.compare_digest(body[0], sign(self._secret, body[1])):
                metrics.COMMANDS.labels(self.service, "?", "unauthenticated").inc()
                log.warning("command_unauthenticated")
                return Reply(
                    id="", ok=False, error="unauthenticated: missing or bad HMAC", service=self.service
                )
            payload = body[1]
        else:
            payload = body[-1]
        try:
            req = self._codec.decode_request(payload)
        except DecodeError as exc:
            metrics.BUS_DECODE_ERRORS.labels(self.service, "request").inc()
            return Reply(id="", ok=False, error=f"bad request: {exc.detail[:200]}", service=self.service)
        name = type(req.cmd).__name__
        refusal = self._refuse(req)
        if refusal:
            metrics.COMMANDS.labels(self.service, name, "refused").inc()
            return Reply(id=req.id, ok=False, error=refusal, service=self.service)
        try:
            reply = await self._handler(req)
        except Exception as exc:  # noqa: BLE001 - answer every request, whatever the handler did
            log.opt(exception=exc).error("command_failed", command=name)
            reply = Reply(id=req.id, ok=False, error=f"{type(exc).__name__}: {exc}", service=self.service)
        metrics.COMMANDS.labels(self.service, name, "ok" if reply.ok else "error").inc()
        return reply

    def _refuse(self, req: Request) -> str:
        now = time.time_ns()
        if req.deadline_ns < now:
            return "deadline exceeded before the request was handled"
        if self._secret is not None:
            if req.deadline_ns - now > self._skew_ns:
                return "deadline too far in the future (clock skew or replay)"
            if req.id in self._seen:
                return "replayed request id"
            self._seen[req.id] = req.deadline_ns
            while self._seen and next(iter(self._seen.values())) < now:
                self._seen.popitem(last=False)
            if len(self._seen) > 100_000:
                self._seen.popitem(last=False)
        return ""

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for t in list(self._inflight):
            t.cancel()
        self._sock.close(linger=0)


class CommandClient:
    """A lazy-pirate REQ client: one request at a time; a timeout rebuilds the socket."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str,
        sender: str,
        secret: bytes | None = None,
        timeout_s: float = 3.0,
    ) -> None:
        self.endpoint = endpoint
        self.sender = sender
        self.timeout_s = timeout_s
        self._ctx = ctx
        self._secret = secret
        self._codec = CommandCodec()
        self._lock = asyncio.Lock()
        self._sock: zmq.asyncio.Socket | None = None
        self.rebuilds = 0

    def _socket(self) -> zmq.asyncio.Socket:
        if self._sock is None:
            s = self._ctx.socket(zmq.REQ)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(self.endpoint)
            self._sock = s
        return self._sock

    def _rebuild(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
        self.rebuilds += 1

    async def request(self, cmd: AnyCommand, timeout_s: float | None = None) -> Reply:
        """Send ``cmd`` and wait for its reply; raises :class:`RequestTimeout` after the deadline."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        req = Request(
            id=uuid.uuid4().hex,
            sender=self.sender,
            deadline_ns=time.time_ns() + int(timeout * 1e9),
            cmd=cmd,
        )
        payload = self._codec.encode(req)
        frames = [sign(self._secret, payload), payload] if self._secret is not None else [payload]
        async with self._lock:
            sock = self._socket()
            try:
                await sock.send_multipart(frames)
                if not await sock.poll(timeout * 1000):
                    raise TimeoutError
                raw = await sock.recv()
            except (TimeoutError, zmq.ZMQError) as exc:
                self._rebuild()
                metrics.REQUEST_TIMEOUTS.labels(self.sender, self.endpoint).inc()
                raise RequestTimeout(f"no reply from {self.endpoint} within {timeout:.3g} s") from exc
        try:
            reply = self._codec.decode_reply(raw)
        except DecodeError as exc:
            raise RequestRefused(Reply(id=req.id, ok=False, error=f"bad reply: {exc.detail}")) from exc
        if reply.id and reply.id != req.id:
            self._rebuild()
            raise RequestRefused(Reply(id=req.id, ok=False, error="reply to another request"))
        return reply

    async def call(self, cmd: AnyCommand, timeout_s: float | None = None) -> Any:
        """Like :meth:`request` but returns ``result`` and raises :class:`RequestRefused` if not ok."""
        reply = await self.request(cmd, timeout_s)
        if not reply.ok:
            raise RequestRefused(reply)
        return reply.result

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
