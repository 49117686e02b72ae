"""State snapshots for crash recovery: the latest per service, answered to ``GetSnapshot(what="state")``.

Strategy and risk publish ``StateSnapshot(service, payload)`` on ``state.<service>`` at their own
interval. The recorder stores each (keeping the newest ``snapshot_history`` rows per service) and
also keeps the newest in memory as it arrives, so a service that restarts a moment after
publishing gets that snapshot even before the batch holding it is committed; after a recorder
restart the answer comes from the store.
"""

from __future__ import annotations

from typing import Any

import msgspec

from common.messages import StateSnapshot
from services.recorder.store import Store

_decoder = msgspec.msgpack.Decoder(StateSnapshot)


class SnapshotMissing(LookupError):
    """No snapshot of that service has been recorded."""


class LatestSnapshots:
    """The newest snapshot per service seen on the bus since this recorder started."""

    def __init__(self) -> None:
        self._latest: dict[str, StateSnapshot] = {}
        self.undecodable = 0

    def offer(self, body: bytes) -> None:
        """Keep ``body`` if it is a newer :class:`StateSnapshot` than the one held for its service."""
        try:
            snap = _decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.undecodable += 1
            return
        held = self._latest.get(snap.service)
        if held is None or snap.ts_event >= held.ts_event:
            self._latest[snap.service] = snap

    def get(self, service: str) -> dict[str, Any] | None:
        """The held snapshot of ``service`` as a ``GetSnapshot`` answer, or None."""
        snap = self._latest.get(service)
        return (
            None if snap is None else {"service": snap.service, "ts": snap.ts_event, "payload": snap.payload}
        )


def stored(store: Store, service: str) -> dict[str, Any] | None:
    """The newest stored snapshot of ``service`` (reader thread)."""
    rows = store.select("state_snapshots", [("service", "=", service)], limit=1)
    if not rows:
        return None
    r = rows[0]
    return {"service": r["service"], "ts": r["ts_event"], "payload": r["payload"]}


def newest(memory: dict[str, Any] | None, disk: dict[str, Any] | None, service: str) -> dict[str, Any]:
    """The newer of the in-memory and stored snapshots; :class:`SnapshotMissing` if neither exists."""
    found = [s for s in (memory, disk) if s is not None]
    if not found:
        raise SnapshotMissing(f"no state snapshot recorded for service {service!r}")
    return max(found, key=lambda s: int(s["ts"]))
