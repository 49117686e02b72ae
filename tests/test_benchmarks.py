"""The benchmark scripts still run and still measure what they say (tiny sizes; no timing asserted).

Each one is run as the README runs it; the test checks the exit code and the facts in its output
that are not timings: every depth event applied with no resync, every bus message received.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.helpers import PROJECT


def _bench(name: str, *args: str) -> str:
    r = subprocess.run(
        [sys.executable, f"benchmarks/{name}.py", *args],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert re.search(r"p50", r.stdout) and re.search(r"p99", r.stdout), r.stdout
    return r.stdout


def test_md_throughput_applies_every_recorded_depth_event_without_a_resync() -> None:
    out = _bench("md_throughput", "--repeat", "1", "--live-seconds", "0")
    runs = re.findall(r"\(applied (\d+), resyncs (\d+)\)", out)
    assert runs and all(int(a) == 6581 and r == "0" for a, r in runs), out


def test_bus_latency_delivers_every_message_on_every_path() -> None:
    # the project's bus on both paths (one hop, a chain of four processes); the raw pyzmq floor is
    # the benchmark's yardstick, not something of ours to test
    out = _bench("bus_latency", "--messages", "300", "--burst", "3000", "--kinds", "bus")
    ratios = re.findall(r"\s(\d\.\d{3})\s*$", out, re.M)
    assert len(ratios) == 2 and all(x == "1.000" for x in ratios), out


@pytest.mark.parametrize(
    ("name", "args", "expect"),
    [
        ("risk_check", ("--checks", "300"), r"seed churn budget\s+[\d.]+\s+[\d.]+"),
        ("strategy_decision", ("--decisions", "300", "--service-seconds", "0"), r"asmm \(GLFT\)\s+[\d.]+"),
        ("venue_matching", ("--ops", "2000", "--subscribers", "1", "--seconds", "1"), r"[\d,]+ ops/s"),
        ("recorder_ingest", ("--messages", "2000", "--seconds", "1", "--no-postgres"), r"2,000/2,000 commit"),
    ],
)
def test_the_other_benchmarks_run_and_report(name: str, args: tuple[str, ...], expect: str) -> None:
    out = _bench(name, *args)
    assert re.search(expect, out), out


def test_tick_to_wire_traces_orders_to_their_market_event_and_prints_the_floor() -> None:
    """The running stack's orders are joined to the depth update that caused them, every stage
    found for each, and the raw chain floor is measured in the same run."""
    out = _bench("tick_to_wire", "--seconds", "3", "--floor-messages", "100")
    traced = int(re.search(r"; (\d+) orders traced", out).group(1))  # type: ignore[union-attr]
    assert traced > 0, out
    stages = re.findall(r"^(.+?)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(\d+)$", out, re.M)
    counts = {name.strip(): int(n) for name, n in stages}
    assert counts["TOTAL frame -> wire"] == traced and counts["gateway (target -> wire)"] == traced, out
    assert [n for name, n in counts.items() if name.startswith("floor")] == [100], out
    assert "ratio to the floor" in out
