"""The ZeroMQ bus for asyncio: PUB/SUB for data and events here, REQ/ROUTER commands in
:mod:`common.commands` (re-exported from here).

Hot path rules: a subscriber is a plain ZeroMQ socket watched with ``loop.add_reader`` and
drained of every ready message per wake-up, with one synchronous handler call per message and
no task per message. Publishing never blocks (PUB drops at the high-water mark; subscribers see
the gap in ``seq``).

Trust: a subscriber acts on a topic only from the service that owns it
(:func:`common.topics.owner`). A message whose envelope ``source`` is not the owner is dropped
and counted (``mm_bus_untrusted_messages_total``). A subscriber connected to one publisher only
(``publisher=``, as every service's are: :meth:`common.runtime.Service.subscribe`) also drops
every topic that publisher does not own: over tcp the CURVE handshake (:mod:`common.transport`)
has proved who is at the other end, so the connection itself vouches for the owner, not only
the ``source`` it writes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import zmq
from prometheus_client import Counter
from prometheus_client.core import REGISTRY, CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from common import metrics, transport
from common.codec import DecodeError, MessageCodec
from common.commands import (
    CommandClient,
    CommandHandler,
    CommandServer,
    RequestRefused,
    RequestTimeout,
    sign,
    sign_reply,
)
from common.logging import log
from common.messages import Envelope, Message
from common.topics import owned_by, owner, topic_family

__all__ = [
    "CommandClient",
    "CommandHandler",
    "CommandServer",
    "Handler",
    "Publisher",
    "RequestRefused",
    "RequestTimeout",
    "Subscriber",
    "sign",
    "sign_reply",
]

Handler = Callable[[str, Any, Envelope], None]
"""A subscriber callback: (topic, decoded message, envelope). Runs synchronously on the loop."""

_MAX_DRAIN = 2000  # messages handled per wake-up before yielding to the loop

_LIVE: list[Any] = []  # publishers and subscribers whose counts the metrics collector reads

UNTRUSTED = Counter(
    "mm_bus_untrusted_messages_total",
    "Bus messages dropped because their publisher does not own the topic",
    ["service", "topic_family"],
)


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
        try:
            self._sock.setsockopt(zmq.SNDHWM, hwm)
            self._sock.setsockopt(zmq.LINGER, 0)
            transport.bind(self._sock, endpoint)
        except Exception:
            # Nobody else holds this socket: left open, it would keep zmq_ctx_term waiting for ever.
            self._sock.close(linger=0)
            raise
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

    A message from a publisher that does not own its topic is dropped and counted, logged once
    per (source, family). ``publisher`` names the one service ``endpoints`` belong to, when they
    do: then only that service's topics are taken at all.
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
        publisher: str | None = None,
    ) -> None:
        self.service = service
        self.publisher = publisher
        self.endpoints = list(endpoints)
        self._handler = handler
        self._on_gap = on_gap
        self._decode = decode
        self._codec = MessageCodec()
        self._sock = ctx.socket(zmq.SUB)
        self._exact: set[str] = set()
        self._families: list[str] = []
        try:
            self._sock.setsockopt(zmq.RCVHWM, hwm)
            self._sock.setsockopt(zmq.LINGER, 0)
            for t in topics:
                self.subscribe(t)
            for ep in self.endpoints:
                transport.connect(self._sock, ep)
        except Exception:
            self._sock.close(linger=0)  # as in Publisher: an orphan socket blocks zmq_ctx_term
            raise
        self._last: dict[tuple[str, str], tuple[int, int]] = {}
        self._logged_kinds: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = self._sock.getsockopt(zmq.FD)
        self._scheduled = False
        self._closed = False
        self._topic_info: dict[str, tuple[str, str | None]] = {}  # topic -> (family, trusted source)
        self._received: dict[str, int] = {}
        self._logged_untrusted: set[tuple[str, str]] = set()
        _LIVE.append(self)
        self.received = 0
        self.gaps = 0
        self.decode_errors = 0
        self.untrusted = 0

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
        info = self._topic_info.get(topic)  # the one dict lookup the trust check costs
        if info is None:
            info = self._topic_info[topic] = self._describe(topic)
        fam, trusted = info
        if env.source != trusted and not (self.publisher is None and trusted and owned_by(topic, env.source)):
            self._untrusted(env.source, fam, topic)
            return
        self.received += 1
        self._received[fam] = self._received.get(fam, 0) + 1
        self._check_seq(topic, env)
        msg = env.msg
        try:
            self._handler(topic, msg, env)
        except Exception as exc:  # noqa: BLE001 - a handler bug must not kill the subscriber
            kind = type(msg).__name__
            metrics.BUS_HANDLER_ERRORS.labels(self.service, kind).inc()
            log.opt(exception=exc).error("bus_handler_failed", topic=topic, kind=kind)

    def _describe(self, topic: str) -> tuple[str, str | None]:
        """A topic's family and the only source trusted on it: its owner, when this socket may
        hear the owner at all (None, matching no source, when it may not)."""
        who = owner(topic)
        if not who or self.publisher is None:
            return topic_family(topic), who or None
        # a socket connected to one publisher trusts it on its own topics (an extra account's
        # gateway instance, ``gateway-b``, owns ``oms.*`` as ``gateway`` does)
        return topic_family(topic), self.publisher if owned_by(topic, self.publisher) else None

    def _untrusted(self, source: str, fam: str, topic: str) -> None:
        self.untrusted += 1
        UNTRUSTED.labels(self.service, fam).inc()
        # Once per (source, family); a flood of invented sources cannot grow the set without end.
        if (source, fam) not in self._logged_untrusted and len(self._logged_untrusted) < 1000:
            self._logged_untrusted.add((source, fam))
            log.warning(
                "bus_untrusted_message",
                source=source[:64],
                topic=topic[:128],
                owner=owner(topic) or "(none)",
                connected_to=self.publisher or "(every publisher)",
            )

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
