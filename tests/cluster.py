"""Several services as real processes on one isolated run directory, for end-to-end tests.

One config overlay (free ports, the venue's URLs, fast timers) is shared by every process, so
they find each other on the bus and the venue the way they do under supervisord. A background
thread listens to bus topics and keeps what it heard; commands go over the real command channel.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import zmq
import zmq.asyncio

from common.bus import CommandClient, Subscriber
from common.config import SERVICES, Settings, load_settings
from common.messages import AnyCommand, Reply
from tests.helpers import PROJECT, die_with_parent, free_port, wait_until
from tests.venue_proc import KEY, SECRET, signed_request


class Heard:
    """Messages received on the bus, in order, with their topics and receive times."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any, float]] = []
        self.lock = threading.Lock()

    def add(self, topic: str, msg: Any) -> None:
        with self.lock:
            self.items.append((topic, msg, time.monotonic()))

    def of(self, prefix: str, kind: type | None = None) -> list[Any]:
        with self.lock:
            return [
                m for t, m, _ in self.items if t.startswith(prefix) and (kind is None or isinstance(m, kind))
            ]

    def since(self, t0: float, prefix: str = "") -> list[tuple[str, Any]]:
        with self.lock:
            return [(t, m) for t, m, ts in self.items if ts >= t0 and t.startswith(prefix)]


class Cluster:
    """Start services with :meth:`start`; listen with :meth:`listen`; stop everything at the end."""

    def __init__(self, tmp: Path, overlay: str = "", env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.run_dir = tmp / "run"
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.venue_port = free_port()
        base = f"http://127.0.0.1:{self.venue_port}"
        ws = f"ws://127.0.0.1:{self.venue_port}"
        cfg = tmp / "cluster.toml"
        cfg.write_text(
            f"heartbeat_interval_s = 0.5\n"
            f'[venue]\nrest_url = "{base}"\nws_public_url = "{ws}/public"\nws_market_url = "{ws}/market"\n'
            f'ws_private_url = "{ws}/private"\nws_api_url = "{ws}/ws-fapi/v1"\n'
            f"{overlay}\n"
        )
        self.env = {
            **os.environ,
            "MM_RUN_DIR": str(self.run_dir),
            "MM_CONFIG_FILE": str(cfg),
            "MM_PROFILE": "paper",
            "MM_API_KEY": KEY,
            "MM_API_SECRET": SECRET,
            **{f"MM_{s.upper()}__METRICS_PORT": "0" for s in SERVICES if s != "venue"},
            "MM_SIMVENUE__METRICS_PORT": "0",
            "MM_SIMVENUE__PORT": str(self.venue_port),
            # tests build their cases on the textbook market's thin book (an IOC of 400 reaches
            # our bid); a test on the order-flow market asks for it
            "MM_SIMVENUE__MODEL": "synthetic",
            # the paper profile quotes spot ETHUSDT too (make run); a test asks for spot itself
            "MM_SPOT_SYMBOLS": "[]",
            "MM_SPOT_INVENTORY": "{}",
            **(env or {}),
        }
        self.venue_url = base
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.heard = Heard()
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The cluster's settings as loaded first (tests may break the config file on purpose)."""
        if self._settings is None:
            self._settings = self._load()
        return self._settings

    def _load(self) -> Settings:
        keys = {"MM_RUN_DIR", "MM_CONFIG_FILE", "MM_PROFILE"} | {k for k in self.env if k.startswith("MM_")}
        saved = {k: os.environ.get(k) for k in keys}
        os.environ.update({k: self.env[k] for k in saved})
        try:
            return load_settings()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def start(self, *services: str, env: dict[str, str | None] | None = None) -> None:
        """Start ``services``; ``env`` changes their environment (None removes a variable)."""
        run_env = {**self.env, **{k: v for k, v in (env or {}).items() if v is not None}}
        for k, v in (env or {}).items():
            if v is None:
                run_env.pop(k, None)
        for s in services:
            log = (self.run_dir / "logs" / f"{s}.log").open("ab")
            # gateway-b: the gateway of account b; marketdata-spot, gateway-spot: the spot symbols'
            module, _, suffix = s.partition("-")
            flag = "--market" if module == "marketdata" or suffix == "spot" else "--account"
            self.procs[s] = subprocess.Popen(
                [sys.executable, "-m", f"services.{module}", *([flag, suffix] if suffix else [])],
                cwd=PROJECT,
                env=run_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - one pre-resolved syscall, no lock
            )
            log.close()
            if s == "venue":
                wait_until(self._venue_up, 20, what="venue up")

    def _venue_up(self) -> bool:
        self.check_alive("venue")
        try:
            return httpx.get(self.venue_url + "/fapi/v1/ping", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def check_alive(self, service: str) -> None:
        p = self.procs[service]
        if p.poll() is not None:
            raise AssertionError(f"{service} exited with {p.returncode}:\n{self.log(service)[-3000:]}")

    def log(self, service: str) -> str:
        return (self.run_dir / "logs" / f"{service}.log").read_text(errors="replace")

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        self.procs[service].send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.procs[service].wait(15)

    def stop(self) -> None:
        self._stop.set()
        # Reverse start order: the venue goes last, so the others can still cancel on stop.
        for p in reversed(list(self.procs.values())):
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self._listener is not None:
            self._listener.join(5)

    # ---- bus ----------------------------------------------------------------------------

    def listen(self, *topic_list: str) -> Heard:
        """Start a background subscriber for ``topic_list`` (families end with a dot)."""
        settings = self.settings

        def run() -> None:
            async def go() -> None:
                ctx = zmq.Context()
                sub = Subscriber(
                    ctx,
                    [settings.pub_endpoint(s) for s in settings.services],
                    list(topic_list),
                    lambda t, m, e: self.heard.add(t, m),
                    "test",
                )
                sub.start()
                self._ready.set()
                while not self._stop.is_set():
                    await asyncio.sleep(0.05)
                sub.close()
                ctx.term()

            asyncio.run(go())

        self._listener = threading.Thread(target=run, daemon=True)
        self._listener.start()
        self._ready.wait(5)
        return self.heard

    def request(self, service: str, cmd: AnyCommand, timeout: float = 5.0) -> Reply:
        settings = self.settings

        async def go() -> Reply:
            ctx = zmq.asyncio.Context()
            c = CommandClient(ctx, settings.cmd_endpoint(service), "test", timeout_s=timeout)
            try:
                return await c.request(cmd)
            finally:
                c.close()
                ctx.destroy(linger=0)

        return asyncio.run(go())

    def signed(self, method: str, path: str, key: str = KEY, secret: str = SECRET, **params: Any) -> Any:
        """A signed REST call to the venue (as account ``key``, from its own IP); the decoded JSON."""
        return signed_request(
            self.venue_url, method, path, key=key, secret=secret, client="test-harness", **params
        ).json()

    def open_orders(self, symbol: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.signed("GET", "/fapi/v1/openOrders", symbol=symbol)
        return rows

    def fault(self, **spec: Any) -> dict[str, Any]:
        return httpx.post(self.venue_url + "/_admin/fault", json=spec, timeout=5).json()  # type: ignore[no-any-return]

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class FakeRisk:
    """Stands in for the risk service on the bus: ``risk.state`` every 0.3 s and given targets."""

    def __init__(self, settings: Settings) -> None:
        self.endpoint = settings.pub_endpoint("risk")
        self.mode = "normal"
        self.ready = True
        self._targets: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.target_id = 0

    def __enter__(self) -> FakeRisk:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)

    def set_target(self, symbol: str, quotes: list[Any]) -> None:
        with self._lock:
            self._targets[symbol] = quotes

    def _run(self) -> None:
        from common import topics
        from common.bus import Publisher
        from common.messages import RiskState, TargetQuotes

        ctx = zmq.Context()
        pub = Publisher(ctx, self.endpoint, "risk")
        while not self._stop.is_set():
            pub.publish(topics.RISK_STATE, RiskState(mode=self.mode, ready=self.ready))  # type: ignore[arg-type]
            with self._lock:
                targets = dict(self._targets)
            for sym, quotes in targets.items():
                self.target_id += 1
                pub.publish(
                    topics.risk_target(sym),
                    TargetQuotes(symbol=sym, target_id=self.target_id, quotes=quotes, origin="risk"),
                )
            self._stop.wait(0.3)
        pub.close()
        ctx.term()
