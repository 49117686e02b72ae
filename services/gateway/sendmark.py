"""When this account's gateway last sent an order or amend, kept on disk across a crash.

A request can still land until the venue's recvWindow has passed, so a new gateway must not place
anything until that long after its predecessor's last send (:class:`~services.gateway.core.GatewayCore`
holds until then and lists the venue's orders again). The mark is 8 bytes under the run directory,
written before each request leaves (a ``pwrite``, a few microseconds). A mark that cannot be read
counts as "just now": the new gateway waits the full horizon (fail safe).
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

from common.logging import log

_NS = struct.Struct("<q")


class SendMark:
    """The last send time (ns, wall clock) in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def last(self) -> int:
        """The last send time; 0 when nothing was ever sent; now when the mark is unreadable."""
        try:
            data = os.pread(self._fd, _NS.size, 0)
        except OSError as exc:
            log.error("send_mark_unreadable", path=str(self.path), error=str(exc))
            return time.time_ns()
        if not data:
            return 0
        if len(data) != _NS.size:
            log.error("send_mark_corrupt", path=str(self.path), size=len(data))
            return time.time_ns()
        return int(_NS.unpack(data)[0])

    def touch(self, now_ns: int) -> None:
        """Record a send at ``now_ns`` (before the request leaves)."""
        try:
            os.pwrite(self._fd, _NS.pack(now_ns), 0)
        except OSError as exc:
            log.error("send_mark_write_failed", path=str(self.path), error=str(exc))

    def close(self) -> None:
        os.close(self._fd)
