"""A simulated venue in its own process, on a free loopback port, for tests over real HTTP/WS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from common.binance.signing import encode_params, hmac_hex
from tests.helpers import PROJECT, die_with_parent, free_port, wait_until

KEY, SECRET = "test-key-0123456789abcdef", "test-secret-fedcba9876543210"
KEY_B, SECRET_B = "test-key-b-0123456789", "test-secret-b-987654321"


def signed_query(params: dict[str, Any], secret: str = SECRET) -> str:
    """A query string signed like Binance's: parameters in order, ``timestamp`` now unless given,
    ``signature`` last."""
    q = encode_params({**params, "timestamp": params.get("timestamp", int(time.time() * 1000))})
    return q + "&signature=" + hmac_hex(secret, q)


def signed_request(
    url: str,
    method: str,
    path: str,
    *,
    key: str = KEY,
    secret: str = SECRET,
    client: str | None = None,
    timeout: float = 10,
    **params: Any,
) -> httpx.Response:
    """A signed REST call to the venue at ``url``. ``client`` sets ``X-Sim-Client``, which the venue
    counts as the caller's IP: a test's own polling then never eats the gateway's request weight."""
    headers = {"X-MBX-APIKEY": key}
    if client is not None:
        headers["X-Sim-Client"] = client
    q = signed_query(params, secret)
    return httpx.request(method, f"{url}{path}?{q}", headers=headers, timeout=timeout)


def resting_buy(symbol: str, qty: str, price: str, **extra: Any) -> dict[str, Any]:
    """The parameters of a LIMIT GTC buy for ``POST /fapi/v1/order`` (``extra``: newClientOrderId, ...)."""
    return {
        "symbol": symbol,
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": qty,
        "price": price,
        **extra,
    }


def book_mid(url: str, symbol: str) -> Decimal:
    """The venue's mid from its bookTicker."""
    t = httpx.get(url + "/fapi/v1/ticker/bookTicker", params={"symbol": symbol}, timeout=5).json()
    return (Decimal(t["bidPrice"]) + Decimal(t["askPrice"])) / 2


class VenueProc:
    """``python -m services.venue`` with a config overlay; knows its URLs and the test keys."""

    def __init__(self, tmp: Path, overlay: str = "", accounts_b: bool = False) -> None:
        self.port = free_port()
        self.run_dir = tmp / "venue-run"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        extra = (
            '\n[[simvenue.accounts]]\nname = "paper"\n'
            '\n[[simvenue.accounts]]\nname = "b"\napi_key_env = "MM_B_KEY"\napi_secret_env = "MM_B_SECRET"\n'
            if accounts_b
            else ""
        )
        cfg = tmp / "venue.toml"
        cfg.write_text(f"[simvenue]\nport = {self.port}\nmetrics_port = 0\n{overlay}\n{extra}")
        self.env = {
            **os.environ,
            "MM_RUN_DIR": str(self.run_dir),
            "MM_CONFIG_FILE": str(cfg),
            "MM_API_KEY": KEY,
            "MM_API_SECRET": SECRET,
            "MM_B_KEY": KEY_B,
            "MM_B_SECRET": SECRET_B,
        }
        self.log = tmp / "venue.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"

    def start(self) -> VenueProc:
        with self.log.open("wb") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.venue"],
                cwd=PROJECT,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - one pre-resolved syscall, no lock
            )
        wait_until(self._up, 20, what=f"venue on {self.port} (log {self.log})")
        return self

    def _up(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"venue exited: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(self.url + "/fapi/v1/ping", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # ---- helpers ------------------------------------------------------------------------------

    def fault(self, **spec: Any) -> dict[str, Any]:
        return httpx.post(self.url + "/_admin/fault", json=spec, timeout=5).json()  # type: ignore[no-any-return]

    def book(self, symbol: str) -> dict[str, Any]:
        return httpx.get(self.url + "/_admin/book", params={"symbol": symbol}, timeout=5).json()  # type: ignore[no-any-return]

    def signed(
        self, method: str, path: str, key: str = KEY, secret: str = SECRET, **params: Any
    ) -> httpx.Response:
        """A signed request with the test keys: parameters in the query string, signature last."""
        return signed_request(self.url, method, path, key=key, secret=secret, **params)

    def __enter__(self) -> VenueProc:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
