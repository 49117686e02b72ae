"""The whole stack under a real supervisord, in a temporary run directory, for system tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common.config import SERVICES
from tests.helpers import PROJECT, free_port, metrics_port_env, wait_until
from tests.venue_proc import KEY, SECRET

BIN = Path(sys.executable).parent


class Stack:
    """supervisord with the project's ``supervisord.conf``; every path under ``run_dir``."""

    def __init__(self, run_dir: Path, env: dict[str, str] | None = None, spot: bool = False) -> None:
        """``spot``: the whole paper profile, as ``make run``, the spot trio included."""
        self.run_dir = run_dir
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        port = free_port()
        base, ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
        self.venue_url = base
        self.console_port = free_port()
        # free metrics ports: a stack in a test never collides with `make run` or another stack
        self.metrics_ports = {svc: free_port() for svc in SERVICES}
        self.env = {
            **os.environ,
            "MM_RUN_DIR": str(run_dir),
            "MM_VENUE_AUTOSTART": "true",
            "MM_API_KEY": KEY,
            "MM_API_SECRET": SECRET,
            "MM_SIMVENUE__PORT": str(port),
            "MM_SIMVENUE__MODEL": "synthetic",  # as tests/cluster.py
            "MM_CONSOLE__PORT": str(self.console_port),
            "MM_VENUE__REST_URL": base,
            "MM_VENUE__WS_PUBLIC_URL": f"{ws}/public",
            "MM_VENUE__WS_MARKET_URL": f"{ws}/market",
            "MM_VENUE__WS_PRIVATE_URL": f"{ws}/private",
            "MM_VENUE__WS_API_URL": f"{ws}/ws-fapi/v1",
            **metrics_port_env(self.metrics_ports),
            **(env or {}),
        }
        if spot:
            self.env.pop("MM_SPOT_SYMBOLS", None)

    def start(self) -> None:
        # as `make run`: a program per extra instance (the paper profile's spot trio)
        conf = self.run_dir / "supervisor.d" / "accounts.conf"
        subprocess.run([str(BIN / "mmctl"), "accounts", "--supervisor", str(conf)], cwd=PROJECT, env=self.env,
                       check=True, timeout=60, capture_output=True)  # fmt: skip
        subprocess.run(
            [str(BIN / "supervisord"), "-c", str(PROJECT / "supervisord.conf")],
            cwd=PROJECT,
            env=self.env,
            check=True,
            timeout=30,
        )
        wait_until(lambda: (self.run_dir / "supervisor.sock").exists(), 15, what="supervisord socket")

    def ctl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(BIN / "supervisorctl"),
                "-c",
                str(PROJECT / "supervisord.conf"),
                "-s",
                f"unix://{self.run_dir}/supervisor.sock",
                *args,
            ],
            cwd=PROJECT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def mmctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "mmctl"), *args],
            cwd=PROJECT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def pid(self, program: str) -> int:
        out = self.ctl("pid", program).stdout.strip()
        return int(out) if out.isdigit() else 0

    def running(self, program: str) -> bool:
        return "RUNNING" in self.ctl("status", program).stdout

    def stop(self) -> None:
        self.ctl("shutdown")
        pidfile = self.run_dir / "supervisord.pid"
        deadline = time.monotonic() + 30
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def log(self, program: str) -> str:
        p = self.run_dir / "logs" / f"{program}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
