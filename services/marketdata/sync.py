"""Keeping a local book in step with Binance's diff-depth stream: the sync state machine, pure.

The caller feeds it every ``<s>@depth`` event and every REST snapshot it fetched; the machine
decides, from update ids alone, whether an event is applied, buffered or ignored, or whether the
book is broken and a fresh snapshot is needed. Two rule sets (reference A.6 and B.4):

* ``usdm`` (futures): drop events with ``u < L``; the first applied one has ``U <= L <= u``, or
  follows the snapshot exactly (``pu == L``: a snapshot taken between two events, which the
  documented rule would refuse for ever on a quiet book); then each event's ``pu`` equals the
  previous ``u``. An event older than the book is out of order.
* ``spot``: drop (and later ignore) events with ``u <= L`` (then ``u <=`` the local id); the first
  applied one has ``U <= L+1 <= u``; then ``U <= local id + 1``, else a gap.

Any gap, out-of-order event, crossed book, bad level or buffer overflow moves the machine to
``resyncing``: the book is emptied and :attr:`BookSync.book_valid` stays false until a snapshot
bridges the buffered stream again. A snapshot older than the first buffered event is rejected
("snapshot_too_old"; spot's documented ``L < first U`` is off by one, ``L == U - 1`` bridges).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Literal

import msgspec

from common.binance.market import DepthSnapshot, DepthUpdate
from services.marketdata.book import InvalidLevelError, OrderBook

Market = Literal["usdm", "spot"]
SyncState = Literal["waiting_snapshot", "live", "resyncing"]
OutcomeKind = Literal["applied", "buffered", "ignored", "needs_snapshot"]
ResyncReason = Literal[
    "gap", "out_of_order", "crossed", "invalid_level", "buffer_overflow", "snapshot_too_old", "reset"
]

DEFAULT_MAX_BUFFER = 5_000
"""Events held while waiting for a snapshot (minutes of a busy 100 ms stream, a few MB)."""


class Outcome(msgspec.Struct, frozen=True):
    """What one call did. ``applied`` counts the diffs applied (a snapshot replays the buffer)."""

    kind: OutcomeKind
    reason: ResyncReason | None = None
    applied: int = 0

    @property
    def needs_snapshot(self) -> bool:
        """True when the caller must fetch a fresh REST snapshot."""
        return self.kind == "needs_snapshot"


APPLIED = Outcome("applied", applied=1)
BUFFERED = Outcome("buffered")
IGNORED = Outcome("ignored")

Verdict = Literal["apply", "ignore"] | ResyncReason


def _usdm_verdict(ev: DepthUpdate, last: int, first: bool) -> Verdict:
    start, end = ev.U, ev.u
    if first:
        if end < last:
            return "ignore"
        # U <= L <= u (reference A.6, step 5), or the event right after the snapshot: its pu is L,
        # so it holds exactly the updates after the snapshot (step 6's rule applied to L)
        return "apply" if start <= last or ev.pu == last else "snapshot_too_old"
    if ev.pu == last:
        return "apply"
    return "out_of_order" if end <= last else "gap"


def _spot_verdict(ev: DepthUpdate, last: int, first: bool) -> Verdict:
    start, end = ev.U, ev.u
    if end <= last:
        return "ignore"
    if start <= last + 1:
        return "apply"
    return "snapshot_too_old" if first else "gap"


class BookSync:
    """One symbol's book and the rules that keep it true to the venue.

    ``on_apply`` (optional) is called after every diff applied and checked, replayed ones
    included, with the book in its new state. The counters are for metrics.
    """

    def __init__(
        self,
        market: Market,
        price_tick: Decimal,
        qty_step: Decimal,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        on_apply: Callable[[DepthUpdate], None] | None = None,
    ) -> None:
        if market not in ("usdm", "spot"):
            raise ValueError(f"market must be 'usdm' or 'spot', got {market!r}")
        if max_buffer < 1:
            raise ValueError(f"max_buffer must be >= 1, got {max_buffer}")
        self.market: Market = market
        self.book = OrderBook(price_tick, qty_step)
        self.max_buffer = max_buffer
        self.state: SyncState = "waiting_snapshot"
        self._verdict = _usdm_verdict if market == "usdm" else _spot_verdict
        self._on_apply = on_apply
        self._buffer: list[DepthUpdate] = []
        self._first = True
        self.last_reason: ResyncReason | None = None
        self.last_error = ""
        self.resyncs = 0
        self.resync_reasons: dict[str, int] = {}
        self.events_applied = 0
        self.events_ignored = 0
        self.snapshots_applied = 0

    @property
    def book_valid(self) -> bool:
        """True only while live: never read the book otherwise."""
        return self.state == "live"

    @property
    def last_update_id(self) -> int:
        """The update id the book reflects (0 while not live)."""
        return self.book.last_update_id

    @property
    def buffered(self) -> int:
        """Events waiting for a snapshot."""
        return len(self._buffer)

    def on_event(self, ev: DepthUpdate) -> Outcome:
        """Feed one diff-depth event, in arrival order."""
        if self.state != "live":
            return self._hold(ev)
        verdict = self._verdict(ev, self.book.last_update_id, self._first)
        if verdict == "apply":
            return self._apply(ev)
        if verdict == "ignore":
            self.events_ignored += 1
            return IGNORED
        return self._resync(verdict, ev)

    def on_snapshot(self, snap: DepthSnapshot) -> Outcome:
        """Install a REST snapshot and replay the buffered events that follow it.

        Also valid while live (the book restarts from the snapshot). ``applied`` in the result
        counts the replayed diffs.
        """
        pending, self._buffer = self._buffer, []
        try:
            self.book.apply_snapshot(snap.lastUpdateId, snap.bids, snap.asks)
        except InvalidLevelError as exc:
            self.last_error = str(exc)
            return self._resync("invalid_level", None, pending)
        if self.book.is_crossed():
            return self._resync("crossed", None, pending)
        self.state, self._first = "live", True
        self.snapshots_applied += 1
        return self._replay(pending)

    def reset(self, reason: ResyncReason = "reset") -> Outcome:
        """Forget the stream (e.g. the socket reconnected): a fresh snapshot is needed."""
        return self._resync(reason, None)

    def _replay(self, pending: list[DepthUpdate]) -> Outcome:
        applied = 0
        for i, ev in enumerate(pending):
            out = self.on_event(ev)
            if out.kind == "needs_snapshot":
                self._buffer.extend(pending[i + 1 :])
                return Outcome("needs_snapshot", out.reason, applied)
            applied += out.applied
        return Outcome("applied", applied=applied)

    def _hold(self, ev: DepthUpdate) -> Outcome:
        if len(self._buffer) >= self.max_buffer:
            return self._resync("buffer_overflow", ev)
        self._buffer.append(ev)
        return BUFFERED

    def _apply(self, ev: DepthUpdate) -> Outcome:
        book = self.book
        try:
            book.apply_levels(ev.b, ev.a)
        except InvalidLevelError as exc:
            self.last_error = str(exc)
            return self._resync("invalid_level", None)
        book.last_update_id = ev.u
        self._first = False
        if book.is_crossed():
            return self._resync("crossed", ev)
        self.events_applied += 1
        if self._on_apply is not None:
            self._on_apply(ev)
        return APPLIED

    def _resync(
        self, reason: ResyncReason, keep: DepthUpdate | None, rest: list[DepthUpdate] | None = None
    ) -> Outcome:
        # The event that broke the chain starts the new buffer: the next snapshot may bridge it.
        self.state, self._first = "resyncing", True
        self.book.clear()
        self._buffer = ([keep] if keep is not None else []) + (rest or [])
        self.last_reason = reason
        self.resyncs += 1
        self.resync_reasons[reason] = self.resync_reasons.get(reason, 0) + 1
        return Outcome("needs_snapshot", reason)
