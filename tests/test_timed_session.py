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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One trading stack for the module (the calendar test runs first: the session ends paused)."""
    ports = {
        f"MM_{'SIMVENUE' if s == 'venue' else s.upper()}__METRICS_PORT": str(free_port()) for s in SERVICES
    }
    overlay = "[marketdata]\nstale_after_ms = 700\n[schedule]\ncheck_interval_s = 0.5\n"
    with Cluster(tmp_path_factory.mktemp("ops"), overlay, ports) as c:
        c.start("venue", "marketdata", "gateway", "risk", "strategy", "recorder")
        yield c


def test_a_calendar_rule_that_becomes_active_changes_the_quoted_symbols_by_reload(stack: Cluster) -> None:
    """A rule active now, added to the config file while the stack runs: the recorder sees the
    active set change and reloads the services; BTCUSDC stops quoting, ETHUSDC goes on; the rule
    removed, BTCUSDC quotes again."""
    c = stack
    wait_until(lambda: recorder_up(c), 30, what="recorder up")
    wait_until(lambda: c.open_orders("BTCUSDC") and c.open_orders("ETHUSDC"), 40, what="both symbols quoted")
    cfg = c.tmp / "cluster.toml"
    before = cfg.read_text()
    cfg.write_text(before + '\n[[schedule.rules]]\nname = "eth-only"\nsymbols = ["ETHUSDC"]\n')
    wait_until(lambda: c.open_orders("BTCUSDC") == [], 20, what="BTCUSDC quotes withdrawn")
    assert c.open_orders("ETHUSDC"), "ETHUSDC still quoted"
    log = (c.run_dir / "logs" / "recorder.log").read_text()
    assert "calendar_change" in log and "after=eth-only" in log
    cfg.write_text(before)
    wait_until(lambda: c.open_orders("BTCUSDC"), 30, what="BTCUSDC quoted again once the rule is gone")


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
