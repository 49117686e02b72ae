"""Tick-to-wire tracing: which market event caused an order, and when its bytes left.

The market event is a depth update: marketdata stamps its id and the frame's arrival time on the
``Features`` it causes (``trace_id``, ``trace_ns``); the strategy copies them onto the target they
cause, risk onto the target it approves from it. The gateway, reconciling towards that target,
sets :data:`CAUSE` for the task; the venue clients stamp :data:`WIRE` when a request's bytes are
handed to the socket; :class:`TraceRing` keeps one row per order request sent:
``(symbol, kind, trace_id, trace_ns, target_ns, sent_ns)``. ``GetSnapshot(what="trace")`` to the
gateway returns the rows (``benchmarks/tick_to_wire.py`` joins them with the bus's messages).
Context variables, so concurrent reconciliations of several symbols never mix their causes; the
cost on the hot path is a ``ContextVar.get`` and a tuple append.
"""

from __future__ import annotations

import time
from collections import deque
from contextvars import ContextVar
from typing import Any

CAUSE: ContextVar[tuple[int, int, int]] = ContextVar("mm_trace_cause", default=(0, 0, 0))
"""``(trace_id, trace_ns, target_ns)`` of the target being worked on: the market event and when
the gateway received the target."""
WIRE: ContextVar[list[int] | None] = ContextVar("mm_trace_wire", default=None)
"""Where a venue client stamps the time a request's bytes were handed to the socket."""


def stamp_wire() -> None:
    """Called by the venue clients as a request goes out (WebSocket: after ``send``; REST: as
    the request is handed to the HTTP client)."""
    box = WIRE.get()
    if box is not None:
        box.append(time.time_ns())


class TraceRing:
    """The last ``maxlen`` order requests with their cause and their time on the wire."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self.rows: deque[tuple[str, str, int, int, int, int]] = deque(maxlen=maxlen)

    def record(self, symbol: str, kind: str, sent_ns: int) -> None:
        trace_id, trace_ns, target_ns = CAUSE.get()
        self.rows.append((symbol, kind, trace_id, trace_ns, target_ns, sent_ns))

    def since(self, since_ns: int = 0) -> list[list[Any]]:
        return [list(r) for r in self.rows if r[5] >= since_ns]
