"""Timed sessions (seed 001 §9): the timer's rules on hand-built cases, and, end to end, a session
that ends itself on a trading stack, with the recorder killed and restarted in the middle: at the
end nothing rests at the venue, the position is flat, quoting stays paused, and the metrics, the
log tails and the report are saved."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from common.config import SERVICES
from services.recorder import timed
from tests.cluster import Cluster
from tests.drills.support import mmctl
from tests.helpers import free_port, wait_until
from tests.test_recorder_nolose_e2e import recorder_up

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


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Cluster]:
    ports = {
        f"MM_{'SIMVENUE' if s == 'venue' else s.upper()}__METRICS_PORT": str(free_port()) for s in SERVICES
    }
    with Cluster(tmp_path, "[marketdata]\nstale_after_ms = 700\n", ports) as c:
        c.start("venue", "marketdata", "gateway", "risk", "strategy", "recorder")
        yield c


def _position(c: Cluster, sym: str) -> Decimal:
    rows = [p for p in c.signed("GET", "/fapi/v3/positionRisk") if p["symbol"] == sym]
    return Decimal(rows[0]["positionAmt"]) if rows else Decimal(0)


def test_a_timed_session_ends_itself_flat_with_its_files_across_a_recorder_restart(stack: Cluster) -> None:
    c = stack
    wait_until(lambda: recorder_up(c), 30, what="recorder up")
    wait_until(lambda: len(c.open_orders("ETHUSDC")) > 0, 40, what="quotes resting")
    r = c.signed("POST", "/fapi/v1/order", symbol="ETHUSDC", side="BUY", type="MARKET", quantity="0.050")
    assert r.get("orderId"), r
    code, started = mmctl(c, "session", "start", "--duration", "8s", "--flatten-at-end")
    assert code == 0 and started["state"] == "running" and started["flatten_at_end"], started
    c.kill("recorder", signal.SIGKILL)  # the timer lives on disk
    c.start("recorder")
    wait_until(lambda: recorder_up(c), 30, what="recorder back")

    def ended() -> dict | None:  # type: ignore[type-arg]
        code, st = mmctl(c, "session", "status")
        return st if code == 0 and st["state"] == "ended" else None

    st = wait_until(ended, 90, interval=1.0, what="the session ended")
    assert st["outcome"].startswith("flat, no open order"), st
    assert c.open_orders("ETHUSDC") == [] and c.open_orders("BTCUSDC") == []
    assert _position(c, "ETHUSDC") == 0
    folder = Path(st["folder"])
    assert (folder / "report" / "report.md").read_text().startswith("#")
    proms = list((folder / "metrics").glob("*.prom"))
    assert len(proms) >= 6 and all("mm_service_up" in p.read_text() for p in proms), proms
    assert (folder / "logs" / "gateway.log").stat().st_size > 0
    wait_until(lambda: c.open_orders("ETHUSDC") == [], 5, what="still nothing quoted (paused)")
    code, again = mmctl(c, "session", "stop")
    assert code == 1 and again is None  # nothing running to stop
