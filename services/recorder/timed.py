"""Timed sessions (seed 001 §9): a run of a set length that finishes itself.

``mmctl session start --duration 4h [--flatten-at-end]`` asks the recorder to hold a timer; when it
runs out (or on ``mmctl session stop``) the recorder ends the session: it pauses quoting on every
symbol (risk and the strategy, as ``mmctl pause`` does), cancels every order and, when asked,
flattens (the gateway), waits until the gateway shows no open order (and no position, with
flatten), then saves a metrics snapshot of every service, the tail of every log and the session
report (the one ``mmctl report`` makes) under ``<run_dir>/sessions/<id>/``. Quoting stays paused
until an operator resumes (``mmctl resume``).

:class:`TimedSession` is the state, kept in ``<run_dir>/timed_session.json`` (written atomically)
so it survives restarts: a recorder that comes back finds the timer and, if the end passed while it
was down, or an end was under way, ends the session at once. The functions here are pure or touch
only that file; :mod:`services.recorder.service` runs the end.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Literal

import msgspec

TIMER_FILE = "timed_session.json"
State = Literal["running", "ending", "ended"]


class TimedSession(msgspec.Struct, kw_only=True):
    """One timed session: its id, span, what happens at the end and how it went."""

    session_id: str
    started_ns: int
    ends_ns: int
    flatten: bool = False
    state: State = "running"
    ended_ns: int = 0
    outcome: str = ""
    folder: str = ""


class TimerError(ValueError):
    """A session command that cannot be taken (one already runs, none runs, a bad duration)."""


def load(run_dir: Path) -> TimedSession | None:
    """The saved session, or None (none, or a file that does not decode: said in the log by the caller)."""
    try:
        return msgspec.json.decode((run_dir / TIMER_FILE).read_bytes(), type=TimedSession)
    except FileNotFoundError:
        return None


def save(run_dir: Path, ts: TimedSession) -> None:
    """Write ``ts`` atomically (temporary file, fsync, rename)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (TIMER_FILE + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(msgspec.json.encode(ts))
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(run_dir / TIMER_FILE)


def start(
    current: TimedSession | None, session_id: str, duration_s: float, flatten: bool, now_ns: int
) -> TimedSession:
    """A new timed session; refused while another is running or ending."""
    if duration_s <= 0:
        raise TimerError(f"a session needs a positive duration, not {duration_s:g} s")
    if current is not None and current.state != "ended":
        raise TimerError(f"session {current.session_id} is {current.state}; stop it first")
    return TimedSession(
        session_id=session_id, started_ns=now_ns, ends_ns=now_ns + int(duration_s * 1e9), flatten=flatten
    )


def stop(current: TimedSession | None, now_ns: int) -> TimedSession:
    """End the running session now (its end procedure runs next)."""
    if current is None or current.state == "ended":
        raise TimerError("no timed session is running")
    return msgspec.structs.replace(current, state="ending", ends_ns=min(current.ends_ns, now_ns))


def due(current: TimedSession | None, now_ns: int) -> bool:
    """Whether the end procedure must run now (time is up, or an end was under way)."""
    return current is not None and (
        current.state == "ending" or (current.state == "running" and now_ns >= current.ends_ns)
    )


def describe(ts: TimedSession | None, now_ns: int | None = None) -> dict[str, object]:
    """What ``mmctl session status`` prints."""
    if ts is None:
        return {"state": "none"}
    now = now_ns if now_ns is not None else time.time_ns()
    out: dict[str, object] = {
        "session_id": ts.session_id, "state": ts.state, "flatten_at_end": ts.flatten,
        "started": _utc(ts.started_ns), "ends": _utc(ts.ends_ns),
    }  # fmt: skip
    if ts.state == "running":
        out["left_s"] = round(max(0.0, (ts.ends_ns - now) / 1e9), 1)
    if ts.state == "ended":
        out.update(ended=_utc(ts.ended_ns), outcome=ts.outcome, folder=ts.folder)
    return out


def _utc(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ns / 1e9))
