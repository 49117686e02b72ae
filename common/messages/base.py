"""The base of every bus message and the envelope that carries it.

Messages are frozen, keyword-only msgspec Structs tagged with their class name (field ``type``).
Schemas evolve by adding fields with defaults only; unknown fields are ignored on decode, so an
older decoder reads a newer message. The publisher wraps each message in an :class:`Envelope`
that carries the protocol major, the publisher's name and epoch, and a per-topic ``seq``.
"""

from __future__ import annotations

import time

import msgspec

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


def now_ns() -> int:
    """Wall-clock time in nanoseconds since the epoch (the bus's only clock)."""
    return time.time_ns()


class Message(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Base class: ``ts_event`` is when the thing happened, ``ts_init`` when this object was made (ns)."""

    ts_event: int = msgspec.field(default_factory=time.time_ns)
    ts_init: int = msgspec.field(default_factory=time.time_ns)


class Envelope(msgspec.Struct, frozen=True, array_like=True):
    """What travels in the payload frame of ``[topic, payload]``.

    ``epoch`` is the publisher's start time (ns): a new epoch means a restarted publisher,
    whose ``seq`` numbering starts again at 1. ``seq`` counts per (publisher, topic), so a
    subscriber to any subset of topics can detect gaps.
    """

    pv: int
    source: str
    epoch: int
    seq: int
    msg: msgspec.Raw
