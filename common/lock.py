"""Single-instance lock: a second copy of a service refuses to start (the seeds' "shadow runner")."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class AlreadyRunning(RuntimeError):
    """Another process holds the service's lock."""


class SingleInstanceLock:
    """An exclusive ``flock`` on ``<run_dir>/<service>.lock``, held for the life of the process.

    The kernel drops the lock when the process dies, even by ``kill -9``, so a stale file never
    blocks a restart.
    """

    def __init__(self, path: Path, service: str) -> None:
        self.path = path
        self.service = service
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise AlreadyRunning(
                f"another {self.service} is already running (pid {holder}, lock {self.path}); "
                f"refusing to start a second copy"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> SingleInstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
