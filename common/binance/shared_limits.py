"""Rate-limit state shared by every process that talks to one venue from one IP.

Binance counts request weight per IP and bans the IP, not a process: the gateway, market data and
the recorder spend one weight budget and share one ban. Each process's REST client keeps its own
view (:class:`~common.binance.rest.Limits`) and merges it with a small file under the run
directory holding the highest weight reported in the current minute and the latest "stop sending
until" time (a 429's Retry-After, a 418 ban). The file is read before each request and written
after each answer that changes it, under an exclusive ``flock``; a few microseconds each.
A file that cannot be read is ignored (each process then limits itself alone), never fatal.
"""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

_LAYOUT = struct.Struct("<qqq")  # weight window start (ms), weight used, blocked until (ms)


class _Window(Protocol):
    limit: int
    length_ms: int
    used: int
    start: int

    def roll(self, now_ms: int) -> None: ...


class _Limits(Protocol):
    blocked_until_ms: int

    @property
    def weight(self) -> _Window: ...


def shared_path(run_dir: Path, base_url: str) -> Path:
    """The file for one venue address (host and port) under ``run_dir``."""
    netloc = urlsplit(base_url).netloc or "venue"
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in netloc)
    return run_dir / f"ratelimit-{safe}.bin"


class SharedLimits:
    """One venue's shared weight and ban, in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def _read(self) -> tuple[int, int, int]:
        data = os.pread(self._fd, _LAYOUT.size, 0)
        if len(data) < _LAYOUT.size:
            return 0, 0, 0
        start, used, blocked = _LAYOUT.unpack(data)
        return int(start), int(used), int(blocked)

    def merge_in(self, limits: _Limits, now_ms: int) -> None:
        """Take the other processes' weight (same minute) and ban into ``limits``."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            try:
                start, used, blocked = self._read()
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        except OSError:
            return
        w = limits.weight
        w.roll(now_ms)
        if start == w.start:
            w.used = max(w.used, used)
        limits.blocked_until_ms = max(limits.blocked_until_ms, blocked)

    def publish(self, limits: _Limits, now_ms: int) -> None:
        """Write this process's weight and ban, never lowering what another process wrote."""
        w = limits.weight
        w.roll(now_ms)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                start, used, blocked = self._read()
                if start == w.start:
                    used = max(used, w.used)
                elif w.start > start:
                    start, used = w.start, w.used
                blocked = max(blocked, limits.blocked_until_ms)
                os.pwrite(self._fd, _LAYOUT.pack(start, used, blocked), 0)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        except OSError:
            return

    def close(self) -> None:
        os.close(self._fd)
