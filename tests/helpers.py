"""Test helpers: free ports, isolated config overlays, condition waits (never fixed sleeps)."""

from __future__ import annotations

import asyncio
import ctypes
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PROJECT = Path(__file__).resolve().parent.parent
DATA = PROJECT / "data" / "binance"  # recorded Binance data (data/README.md)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only calls it
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for a service started by a test: the kernel sends it SIGTERM when the test
    process dies (an aborted run, a timeout, a fixture that failed before its cleanup), so no
    service outlives the run and holds its ports for the next one (Linux ``PR_SET_PDEATHSIG``).

    Between fork and exec it makes one system call through a function resolved at import, taking
    no Python lock, so it is safe beside the tests' listener threads."""
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_until(
    cond: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str | Callable[[], str] = ""
) -> Any:
    """Poll ``cond`` until it returns something truthy; fail with ``what`` (or what it returns,
    when it is a function: the state at the timeout) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        val = cond()
        if val:
            return val
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {said or cond}")
        time.sleep(interval)


async def async_wait_until(
    cond: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        val = cond()
        if val:
            return val
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or cond}")
        await asyncio.sleep(interval)


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def write_overlay(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def metrics_port_env(ports: dict[str, int]) -> dict[str, str]:
    """``MM_<SECTION>__METRICS_PORT`` for each service's port (the venue's section is simvenue)."""
    return {
        f"MM_{'SIMVENUE' if svc == 'venue' else svc.upper()}__METRICS_PORT": str(p)
        for svc, p in ports.items()
    }
