"""Soak and chaos under supervisord: the whole stack trades for ``MM_SOAK_SECONDS`` (default 300)
while faults rain on it (dropped streams, depth gaps, unknown order outcomes, 429 storms, a
stalled feed, ``kill -9`` of random services), then must end consistent: every venue trade stored
once, the gateway's position equal to the venue's, and a kill leaving zero open orders.

Bounded in time and stops by itself. Not part of ``make test``: ``make test-slow`` runs it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_until
from tests.stack import Stack
from tests.test_supervisor import _open_orders, _store_equals_venue
from tests.venue_proc import signed_request

SOAK_S = float(os.environ.get("MM_SOAK_SECONDS", "300"))
pytestmark = [pytest.mark.slow, pytest.mark.system, pytest.mark.timeout(SOAK_S + 600)]

FAULTS = [
    {"drop_ws": "all"},
    {"symbol": "ETHUSDC", "gap": 1},
    {"symbol": "BTCUSDC", "stall_s": 2.0},
    {"unknown_503": 2},
    {"storm_429_s": 1.5},
    {"delay_ms": 200},
    {"delay_ms": 0},
]
KILLABLE = ("marketdata", "strategy", "risk", "gateway", "recorder")


def test_the_stack_survives_a_soak_with_faults_and_stays_consistent(run_env: Path) -> None:
    seconds = SOAK_S
    rng = random.Random(int(os.environ.get("MM_SOAK_SEED", "1")))
    with Stack(run_env) as stack:
        wait_until(lambda: _open_orders(stack) > 0, 90, interval=1.0, what="quoting")
        end = time.monotonic() + seconds
        injected: list[str] = []
        while time.monotonic() < end:
            time.sleep(rng.uniform(3.0, 8.0))
            if rng.random() < 0.25:
                svc = rng.choice(KILLABLE)
                pid = stack.pid(svc)
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    injected.append(f"kill -9 {svc}")
            else:
                spec = rng.choice(FAULTS)
                httpx.post(f"{stack.venue_url}/_admin/fault", json=spec, timeout=5)
                injected.append(json.dumps(spec))
        httpx.post(f"{stack.venue_url}/_admin/fault", json={"clear": True}, timeout=5)
        print("soak faults:", injected)
        wait_until(
            lambda: all(stack.running(s) for s in KILLABLE), 60, interval=1.0, what="all running again"
        )
        assert stack.mmctl("kill", "--reason", "soak over").returncode == 0
        wait_until(lambda: _open_orders(stack) == 0, 20, interval=0.5, what="zero open orders after the kill")
        wait_until(
            lambda: _store_equals_venue(stack), 120, interval=3.0, what="every venue trade stored once"
        )
        rows = {r["service"]: r for r in map(json.loads, stack.mmctl("status", "--json").stdout.splitlines())}
        for sym in ("ETHUSDC", "BTCUSDC"):  # the gateway's detail reads "orders=N pos=Q"
            ours = Decimal(rows["gateway"]["detail"][sym].split("pos=")[1])
            assert ours == _venue_position(stack, sym), (sym, ours, injected)


def _venue_position(stack: Stack, symbol: str) -> Decimal:
    rows = signed_request(stack.venue_url, "GET", "/fapi/v3/positionRisk", client="test").json()
    return next((Decimal(r["positionAmt"]) for r in rows if r["symbol"] == symbol), Decimal(0))
