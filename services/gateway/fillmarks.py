"""What this gateway published on ``oms.fill``, kept across its own restarts.

Per symbol: the trade id up to which every trade of the account went through the OMS
(``VenueSync.trade_mark``), and the fills published above it (a user-stream fill lands before the
history pass that moves the mark). A restart resumes from this file: the trades above the mark are
read from the venue's history and every one not listed is published.

The recorder's fill marks (``Query(kind="fill_marks")``) answer another question, what the store
holds. Its catch-up reads the venue's trade history with its own key, so a trade that filled while
the gateway was down can be stored, and under the recorder's venue mark, without ever having been
published for risk and the strategy. They are the fallback for a symbol this file does not know (a
new run directory, a symbol added since).

The file is written after the fills are published: a kill between the two publishes those fills
again on restart, which risk and the strategy take once (they key fills by trade id and side);
never the other way round, which would lose them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import msgspec
from prometheus_client import Counter

from common.logging import log

ERRORS = Counter(
    "mm_gateway_fill_marks_errors_total",
    "The gateway's fill-marks file unreadable (the recorder's marks used instead) or not written",
    ["what"],
)

FillKey = tuple[str, int, str]
"""(symbol, trade id, side): a self-trade gives our buy and our sell one trade id."""


class _File(msgspec.Struct, forbid_unknown_fields=True):
    marks: dict[str, int]
    published: list[tuple[str, int, str]]


class FillMarks:
    """The file's reader and writer; ``save`` skips a write when nothing changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last: tuple[dict[str, int], frozenset[FillKey]] | None = None

    def load(self) -> tuple[dict[str, int], list[FillKey]] | None:
        """The marks and fills of the last session; None when there is no file or it cannot be
        read (said in the log: the recorder's marks are used instead)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._unreadable(str(exc))
            return None
        try:
            f = msgspec.json.decode(raw, type=_File)
        except msgspec.DecodeError as exc:
            self._unreadable(str(exc))
            return None
        self._last = (dict(f.marks), frozenset(f.published))
        return dict(f.marks), list(f.published)

    def _unreadable(self, error: str) -> None:
        ERRORS.labels("unreadable").inc()
        log.error("fill_marks_unreadable", path=str(self.path), error=error[:200])

    def save(self, marks: Mapping[str, int], published: Iterable[FillKey]) -> frozenset[FillKey]:
        """Write ``marks`` and the ``published`` fills above them (to a temporary name, then renamed,
        so a kill leaves the old file or the new one, never half of one); returns those fills, the
        caller's set from then on. An unchanged state is not written again."""
        keep = frozenset(k for k in published if k[1] > marks.get(k[0], -1))
        state = (dict(marks), keep)
        if state == self._last:
            return keep
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_bytes(msgspec.json.encode(_File(marks=dict(marks), published=sorted(keep))))
            os.replace(tmp, self.path)
        except OSError as exc:
            ERRORS.labels("write_failed").inc()
            log.error("fill_marks_write_failed", path=str(self.path), error=str(exc)[:200])
            return keep
        self._last = state
        return keep
