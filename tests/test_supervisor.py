"""Under real supervisord: the stack starts, mmctl sees it, and a kill -9 is repaired within 5 s."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.stack import Stack

pytestmark = pytest.mark.system


def _heartbeat_pid(stack: Stack, service: str) -> int:
    out = stack.mmctl("tap", f"sys.heartbeat.{service}", "-n", "1", "--seconds", "5", "--json").stdout
    for line in out.splitlines():
        return int(json.loads(line)["msg"]["pid"])
    return 0


def test_a_service_killed_with_kill_9_is_back_with_a_live_heartbeat_within_5_s(run_env: Path) -> None:
    with Stack(run_env) as stack:
        wait_until(lambda: stack.running("recorder"), 30, what="recorder RUNNING")
        pid = wait_until(lambda: _heartbeat_pid(stack, "recorder"), 30, what="first heartbeat")
        assert pid == stack.pid("recorder")

        status = stack.mmctl("status", "--json")
        rows = {r["service"]: r for r in map(json.loads, status.stdout.splitlines())}
        assert rows["recorder"]["up"] and rows["recorder"]["pid"] == pid
        assert rows["recorder"]["heartbeat_age_s"] < 3

        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        new_pid = wait_until(
            lambda: (p := _heartbeat_pid(stack, "recorder")) and p != pid and p,
            10,
            what="heartbeat from a new recorder",
        )
        assert time.monotonic() - killed_at < 5.0, "restart took longer than 5 s"
        assert new_pid == stack.pid("recorder")
