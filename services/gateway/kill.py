"""The kill switch's state and its report: what the gateway promises when it is engaged.

The contract (README, "Safety"): once engaged, nothing but the kill's own reduce-only IOC orders
is sent; every path that can cancel is tried (REST cancel-all, per-order cancels over the WS-API or
REST batches, queries of orders of unknown outcome), respecting 429 Retry-After and 418 bans, until
the venue lists zero open orders for every symbol and no order of unknown outcome can still land.
Only then is the kill ``done``. The engaged state is written to a file under the run directory
before the kill is acknowledged, so it survives a gateway restart; only an operator's Resume
removes it. A file that exists but cannot be read counts as engaged: fail closed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec

from common.logging import log


class KillState(msgspec.Struct, kw_only=True):
    """Whether the kill switch is engaged, since when, by whom, and whether to flatten too."""

    engaged: bool = False
    reason: str = ""
    by: str = ""
    since_ns: int = 0
    flatten: bool = False


class KillReport(msgspec.Struct, kw_only=True):
    """Where a kill stands, as the gateway answers ``Kill`` and ``GetSnapshot(what="kill")``.

    ``done`` means the venue confirmed zero open orders for every symbol, no order of unknown
    outcome remains, and, when flattening was asked, every position is zero. Otherwise ``open``
    names what may still be live per symbol, ``positions`` what is not flat, and ``why`` what is
    in the way (a ban, an unreachable venue, an order that may still land).
    """

    engaged: bool
    done: bool = False
    orders_zero: bool = False
    open: dict[str, list[str]] = msgspec.field(default_factory=dict)
    positions: dict[str, str] = msgspec.field(default_factory=dict)
    why: str = ""
    reason: str = ""
    flatten: bool = False
    attempts: int = 0
    since_ns: int = 0
    confirmed_ns: int = 0
    blocked_until_ns: int = 0  # the end of the last 429 Retry-After / 418 ban the sweep waited out


class KillFile:
    """The kill state on disk, written atomically (temporary file, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> KillState:
        """The saved state; none saved = not engaged; unreadable = engaged (fail closed)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return KillState()
        except OSError as exc:
            log.error("kill_file_unreadable", path=str(self.path), error=str(exc))
            return KillState(engaged=True, reason=f"kill file unreadable: {exc}", since_ns=time.time_ns())
        try:
            return msgspec.json.decode(data, type=KillState)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("kill_file_corrupt", path=str(self.path), error=str(exc))
            return KillState(engaged=True, reason=f"kill file corrupt: {exc}", since_ns=time.time_ns())

    def save(self, state: KillState) -> None:
        """Write ``state``; an engaged kill is on disk when this returns."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(msgspec.json.encode(state))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def clear(self) -> None:
        """Remove the saved state (an operator's Resume)."""
        self.path.unlink(missing_ok=True)
