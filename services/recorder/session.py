"""The session: the span of one ``make run`` that a report covers.

Its id is ``MM_SESSION_ID`` when set; otherwise the recorder keeps it in ``<run_dir>/session``, so a
recorder that crashed or was restarted continues the same session. A session closed cleanly longer
than ``resume_s`` ago is over: the next start opens a new one. The decision is a pure function of
the file, the stored row and the clock (:func:`choose`); the file is written atomically.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SESSION_FILE = "session"


@dataclass(frozen=True)
class Session:
    """The session this recorder writes under."""

    session_id: str
    started_ns: int
    resumed: bool
    host: str
    profile: str
    pid: int

    def row(self, now_ns: int, ended_ns: int = 0) -> tuple[Any, ...]:
        """The ``sessions`` upsert row (``started_ns``, host and profile of a resumed one are kept)."""
        return (self.session_id, self.started_ns, ended_ns, now_ns, self.host, self.profile, self.pid)


def new_id(now_ns: int) -> str:
    """``20261122T101500Z-1a2b3c``: sortable by start time, unique enough per host."""
    stamp = dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def choose(
    env_id: str, file_id: str, stored: dict[str, Any] | None, now_ns: int, resume_s: float
) -> tuple[str, bool]:
    """(session id, resumed?) from the environment, the session file and the stored row of that id.

    ``stored`` is the sessions row of ``env_id or file_id`` (None if there is none).
    """
    if env_id:
        return env_id, stored is not None
    if file_id and stored is not None:
        ended = int(stored.get("ended_ns", 0))
        if ended == 0 or now_ns - ended <= resume_s * 1e9:
            return file_id, True
    if file_id and stored is None:
        return file_id, False  # the file survived but the store is new: keep the operator's id
    return new_id(now_ns), False


def read_file(run_dir: Path) -> str:
    """The id kept in ``<run_dir>/session``, or ``""``."""
    try:
        return (run_dir / SESSION_FILE).read_text().strip()
    except FileNotFoundError:
        return ""


def write_file(run_dir: Path, session_id: str) -> None:
    """Write the session file atomically."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / f".{SESSION_FILE}.tmp"
    tmp.write_text(session_id + "\n")
    os.replace(tmp, run_dir / SESSION_FILE)


def make(session_id: str, resumed: bool, stored: dict[str, Any] | None, profile: str, now_ns: int) -> Session:
    """The :class:`Session` for this process."""
    started = int(stored["started_ns"]) if (resumed and stored) else now_ns
    return Session(
        session_id=session_id,
        started_ns=started,
        resumed=resumed,
        host=socket.gethostname(),
        profile=profile,
        pid=os.getpid(),
    )
