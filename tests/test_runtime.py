"""The service runtime: heartbeat, status, single instance, and the shared stop path."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import zmq

from common import topics
from common.bus import CommandClient, Subscriber
from common.config import Settings
from common.messages import Envelope, GetStatus, Heartbeat, Pause, Shutdown
from common.runtime import wait_set
from tests.helpers import PROJECT, run


class _Proc:
    """A service process whose output goes to a file (no pipes to leak or fill)."""

    def __init__(self, service: str, log: Path) -> None:
        self.log = log
        with log.open("wb") as fh:
            self.p = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}"],
                cwd=PROJECT,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        self.pid = self.p.pid

    def wait(self, timeout: float = 15) -> int:
        return self.p.wait(timeout=timeout)

    def output(self) -> bytes:
        return self.log.read_bytes()

    def stop(self) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.wait()


def _start(service: str, run_dir: Path, n: int = 0) -> _Proc:
    return _Proc(service, run_dir / f"{service}-{n}.out")


async def _first_heartbeat(
    settings: Settings, service: str, timeout: float = 10.0, state: str = "running"
) -> Heartbeat:
    """The first heartbeat of ``service`` in ``state`` (a service beats "starting" during its start)."""
    ctx = zmq.Context()
    got: list[Heartbeat] = []

    def on(t: str, m: Any, e: Envelope) -> None:
        if m.state == state:
            got.append(m)

    sub = Subscriber(ctx, [settings.pub_endpoint(service)], [topics.sys_heartbeat(service)], on, "test")
    sub.start()
    try:
        for _ in range(int(timeout / 0.02)):
            if got:
                return got[0]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no heartbeat from {service}")
    finally:
        sub.close()
        ctx.term()


def test_a_second_instance_refuses_to_start(settings: Settings, run_env: Path) -> None:
    first = _start("recorder", run_env, 1)
    try:
        hb = run(_first_heartbeat(settings, "recorder"))
        assert hb.pid == first.pid
        second = _start("recorder", run_env, 2)
        assert second.wait(20) == 3
        out = second.output()
        assert b"refusing to start a second copy" in out
        assert str(first.pid).encode() in out
        assert first.p.poll() is None
    finally:
        assert first.stop() == 0


def test_sigterm_and_the_shutdown_command_share_one_stop_path(settings: Settings, run_env: Path) -> None:
    proc = _start("recorder", run_env, 1)
    try:
        run(_first_heartbeat(settings, "recorder"))

        async def ask() -> tuple[Any, Any]:
            import zmq.asyncio

            ctx = zmq.asyncio.Context()
            c = CommandClient(ctx, settings.cmd_endpoint("recorder"), "test", timeout_s=5)
            status = await c.call(GetStatus())
            bye = await c.call(Shutdown(reason="test"))
            c.close()
            ctx.destroy()
            return status, bye

        status, bye = run(ask())
        assert status["service"] == "recorder" and status["pid"] == proc.pid and status["state"] == "running"
        assert bye == {"stopping": True}
        assert proc.wait() == 0
        out = proc.output()
        assert b"service_stopping" in out and b"Shutdown from test" in out
    finally:
        proc.stop()

    proc = _start("recorder", run_env, 2)
    run(_first_heartbeat(settings, "recorder"))
    assert proc.stop() == 0
    assert b"signal SIGTERM" in proc.output()
    # The lock died with the process: a new copy starts at once.
    proc = _start("recorder", run_env, 3)
    try:
        assert run(_first_heartbeat(settings, "recorder")).pid == proc.pid
    finally:
        proc.stop()


def test_a_starting_service_says_not_ready_and_still_stops_on_sigterm(
    settings: Settings, run_env: Path
) -> None:
    """Risk waits for market data at start (none runs here): commands that need its state are
    refused with "not ready" instead of reaching half-built state, its status says "starting",
    and SIGTERM ends it although the start never finished."""
    proc = _start("risk", run_env, 1)
    try:
        run(_first_heartbeat(settings, "risk", state="starting"))

        async def ask() -> tuple[Any, Any]:
            import zmq.asyncio

            ctx = zmq.asyncio.Context()
            c = CommandClient(ctx, settings.cmd_endpoint("risk"), "test", timeout_s=5)
            status = await c.call(GetStatus())
            pause = await c.request(Pause(reason="test"))
            c.close()
            ctx.destroy()
            return status, pause

        status, pause = run(ask())
        assert status["state"] == "starting" and status["detail"] == {}
        assert not pause.ok and pause.error.startswith("not ready: risk is starting")
        assert proc.stop() == 0
        assert b"signal SIGTERM" in proc.output()
    finally:
        proc.stop()


def test_a_bad_config_value_stops_a_service_at_start_with_the_key_named(
    run_env: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("MM_RECORDER__BATCH_MAX", "zero")
    proc = _start("recorder", run_env)
    assert proc.wait(20) == 2
    assert b"recorder.batch_max = 'zero'" in proc.output()


def test_pin_cpus_leaves_two_core_machines_unpinned() -> None:
    from common.runtime import pin_cpus

    before = os.sched_getaffinity(0)
    try:
        chosen = pin_cpus("gateway", [])
        n = os.cpu_count() or 1
        assert chosen == ([n - 1] if n >= 3 else [])
        assert pin_cpus("risk", [0]) == [0]
        assert os.sched_getaffinity(0) == {0}
    finally:
        os.sched_setaffinity(0, before)


def test_a_loop_waiting_on_an_event_stops_when_cancelled_as_the_event_fires() -> None:
    """A cancellation that arrives as the awaited event is set must still end the loop.

    asyncio.wait_for on Python 3.11 returns the result instead (CPython gh-86296): a service's
    ``while True`` loop then never ends and its stop hangs until SIGKILL.
    """

    async def go() -> tuple[bool, int]:
        ev = asyncio.Event()
        rounds = 0

        async def loop() -> None:
            nonlocal rounds
            while True:
                await wait_set(ev, 10.0)
                rounds += 1

        task = asyncio.create_task(loop())
        await asyncio.sleep(0)  # the loop is waiting
        ev.set()  # the wait completes on the next turn of the loop...
        task.cancel()  # ...and the cancellation arrives at the same time
        done, _ = await asyncio.wait({task}, timeout=2.0)
        if not done:
            task.cancel()
        return task in done and task.cancelled(), rounds

    cancelled, rounds = asyncio.run(go())
    assert cancelled and rounds == 0
