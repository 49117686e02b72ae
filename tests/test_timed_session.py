"""Timed sessions (seed 001 §9): the timer's rules on hand-built cases. The end-to-end run, a session
that ends itself on a trading stack across a recorder restart, is in tests/test_trading_system.py
(it shares that module's stack)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.recorder import timed

S = 1_000_000_000


def test_the_timer_starts_once_ends_when_due_and_survives_on_disk(tmp_path: Path) -> None:
    ts = timed.start(None, "s1", 60, True, 100 * S)
    assert (ts.ends_ns, ts.state, ts.flatten) == (160 * S, "running", True)
    with pytest.raises(timed.TimerError, match="is running; stop it first"):
        timed.start(ts, "s1", 30, False, 110 * S)
    with pytest.raises(timed.TimerError, match="positive duration"):
        timed.start(None, "s1", 0, False, 110 * S)
    assert not timed.due(ts, 159 * S) and timed.due(ts, 160 * S)
    assert timed.describe(ts, 130 * S)["left_s"] == 30.0
    stopped = timed.stop(ts, 120 * S)
    assert stopped.state == "ending" and stopped.ends_ns == 120 * S and timed.due(stopped, 120 * S)
    timed.save(tmp_path, stopped)
    assert timed.load(tmp_path) == stopped  # a restarted recorder finds it and ends it at once
    done = timed.TimedSession(session_id="s1", started_ns=100 * S, ends_ns=120 * S, state="ended")
    with pytest.raises(timed.TimerError, match="no timed session is running"):
        timed.stop(done, 130 * S)
    assert timed.start(done, "s1", 10, False, 130 * S).state == "running"  # a new one after the end
