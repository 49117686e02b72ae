"""The web console answers only to its own address, and only an allowed caller reaches the services.

A DNS-rebinding page (a hostile name resolving to 127.0.0.1) sends its own name as ``Host`` and its
own ``Origin``; both are refused with 403 before anything is sent on the bus. Bound beyond loopback,
the console will not start without ``MM_CONSOLE_TOKEN``. The console runs as a real process; the
services it commands are stand-in command servers that record what reaches them.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest
import zmq.asyncio
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from common.bus import CommandHandler, CommandServer
from common.config import ConfigError, Settings, load_settings
from common.config_sections import ConsoleConfig
from common.messages import Reply, Request
from services.console import auth
from services.console.service import ConsoleGuard
from tests.helpers import PROJECT, free_port, run, wait_until

TOKEN = "console-test-token-1f9a"
RESUME = {"reason": "test"}
CONSOLE_HEADER = {"X-MM-Console": "1"}


class Console:
    """``python -m services.console`` on a free loopback port, output to a file."""

    def __init__(self, run_dir: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        monkeypatch.setenv("MM_CONSOLE__PORT", str(self.port))
        monkeypatch.setenv("MM_CONSOLE__METRICS_PORT", str(self.metrics_port))
        for key, val in env.items():
            monkeypatch.setenv(key, val)
        self.settings = load_settings()
        self.out = run_dir / "console.out"
        with self.out.open("wb") as fh:
            self.p = subprocess.Popen(
                [sys.executable, "-m", "services.console"], cwd=PROJECT, stdout=fh, stderr=subprocess.STDOUT
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        def serving() -> bool:
            if self.p.poll() is not None:
                raise AssertionError(f"console exited {self.p.returncode}: {self.out.read_text()}")
            try:
                return httpx.get(self.url + "/api/me", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(serving, 30, interval=0.1, what="the console serving /api/state")

    def refused_count(self, reason: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "mm_console_refused_requests_total" and sample.labels == {"reason": reason}:
                    return sample.value
        return 0.0

    def stop(self) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.p.wait(timeout=20)


@pytest.fixture
def console_factory(run_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Console]]:
    started: list[Console] = []

    class Started(Console):
        def __init__(self, **env: str) -> None:  # type: ignore[override]
            super().__init__(run_env, monkeypatch, **env)
            started.append(self)
            self.wait_ready()

    yield Started
    for c in started:
        assert c.stop() == 0, c.out.read_text()


class StandIns:
    """Command servers where risk, strategy, gateway and marketdata listen; each records the
    commands it gets."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.received: list[tuple[str, str]] = []
        self.commands: list[tuple[str, Any]] = []
        self.ctx = zmq.asyncio.Context()
        self.servers: list[CommandServer] = []

    def _answer(self, service: str) -> CommandHandler:
        async def answer(req: Request) -> Reply:
            self.received.append((service, type(req.cmd).__name__))
            self.commands.append((service, req.cmd))
            return Reply(id=req.id, ok=True, service=service)

        return answer

    async def __aenter__(self) -> StandIns:
        for s in ("risk", "strategy", "gateway", "marketdata"):
            server = CommandServer(self.ctx, self.settings.cmd_endpoint(s), s, self._answer(s))
            server.start()
            self.servers.append(server)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for server in self.servers:
            await server.close()
        self.ctx.destroy(linger=0)


async def _status_without_host(port: int, path: str) -> int:
    """An HTTP/1.0 request that carries no Host header at all (httpx always sends one)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    return int(status_line.split()[1])


def test_a_rebinding_host_is_refused_everywhere_and_no_command_reaches_the_services(
    console_factory: type[Console],
) -> None:
    console = console_factory()
    evil = {"Host": f"evil.example:{console.port}"}

    async def go() -> None:
        async with StandIns(console.settings) as services, httpx.AsyncClient(timeout=10) as http:
            for path in ("/", "/api/state", "/api/stream"):
                r = await http.get(console.url + path, headers=evil)
                assert r.status_code == 403, (path, r.text)
            for verb in ("resume", "flatten"):
                r = await http.post(
                    f"{console.url}/api/command/{verb}", json=RESUME, headers={**evil, **CONSOLE_HEADER}
                )
                assert r.status_code == 403, (verb, r.text)
                assert "host" in r.json()["error"].lower()
            assert await _status_without_host(console.port, "/api/state") == 403
            assert services.received == []

    run(go())
    assert console.refused_count("host") == 6


def test_a_foreign_origin_is_refused_even_with_the_console_host(console_factory: type[Console]) -> None:
    console = console_factory()
    own_host = {"Host": console.host, **CONSOLE_HEADER}

    async def go() -> None:
        async with StandIns(console.settings) as services, httpx.AsyncClient(timeout=10) as http:
            for origin in ("http://evil.example", f"http://evil.example:{console.port}", "null"):
                r = await http.post(
                    console.url + "/api/command/resume", json=RESUME, headers={**own_host, "Origin": origin}
                )
                assert r.status_code == 403, (origin, r.text)
            for path in ("/api/state", "/api/stream"):
                r = await http.get(console.url + path, headers={"Origin": "http://evil.example"})
                assert r.status_code == 403, (path, r.text)
            assert services.received == []

    run(go())
    assert console.refused_count("origin") == 5


def test_the_console_own_host_and_origin_reach_the_services(console_factory: type[Console]) -> None:
    console = console_factory(MM_CONSOLE__ALLOWED_HOSTS='["mm.example.org"]')
    port = console.port
    callers = [
        {"Host": f"127.0.0.1:{port}", "Origin": f"http://127.0.0.1:{port}"},
        {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"},
        {"Host": f"[::1]:{port}", "Origin": f"http://[::1]:{port}"},
        {"Host": "mm.example.org", "Origin": "https://mm.example.org"},  # behind a reverse proxy
        {"Host": f"127.0.0.1:{port}"},  # curl: no Origin
    ]

    async def go() -> None:
        async with StandIns(console.settings) as services, httpx.AsyncClient(timeout=10) as http:
            for headers in callers:
                assert (await http.get(console.url + "/", headers=headers)).status_code == 200, headers
                services.received.clear()
                r = await http.post(
                    console.url + "/api/command/resume", json=RESUME, headers={**headers, **CONSOLE_HEADER}
                )
                assert r.status_code == 200 and r.json()["ok"], (headers, r.text)
                assert sorted(services.received) == [
                    ("gateway", "Resume"),
                    ("risk", "Resume"),
                    ("strategy", "Resume"),
                ]
            services.received.clear()
            r = await http.post(console.url + "/api/command/resume", json=RESUME)  # no X-MM-Console
            assert r.status_code == 400
            assert services.received == []

    run(go())


def test_with_a_token_a_command_without_the_right_bearer_is_refused(console_factory: type[Console]) -> None:
    console = console_factory(MM_CONSOLE_TOKEN=TOKEN)
    base = {"Host": console.host, "Origin": f"http://{console.host}", **CONSOLE_HEADER}
    wrong: list[dict[str, str | bytes]] = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},  # no scheme
        {"Authorization": "Bearer é".encode()},
        {"Authorization": b"Bearer \xff"},  # not UTF-8
    ]

    async def go() -> None:
        async with StandIns(console.settings) as services, httpx.AsyncClient(timeout=10) as http:
            for auth in wrong:
                r = await http.post(
                    console.url + "/api/command/resume", json=RESUME, headers={**base, **auth}
                )
                assert r.status_code == 403, (auth, r.text)
            assert services.received == []
            r = await http.post(
                console.url + "/api/command/resume",
                json=RESUME,
                headers={**base, "Authorization": f"Bearer {TOKEN}"},
            )
            assert r.status_code == 200 and r.json()["ok"], r.text
            assert len(services.received) == 3

    run(go())
    assert console.refused_count("token") == len(wrong)
    assert TOKEN not in console.out.read_text()


def test_a_console_bound_beyond_loopback_without_a_token_refuses_to_start(
    run_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("MM_CONSOLE__HOST", "0.0.0.0")
    monkeypatch.setenv("MM_CONSOLE__PORT", str(port))
    out = run_env / "console.out"
    with out.open("wb") as fh:
        p = subprocess.Popen(
            [sys.executable, "-m", "services.console"], cwd=PROJECT, stdout=fh, stderr=subprocess.STDOUT
        )
    assert p.wait(timeout=30) != 0
    text = out.read_text()
    assert "console.host" in text and "MM_CONSOLE_TOKEN" in text, text
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_a_non_loopback_console_is_accepted_with_a_token_and_an_empty_token_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"console\.host.*MM_CONSOLE_TOKEN"):
        ConsoleGuard(ConsoleConfig(host="192.0.2.10"), None)
    ConsoleGuard(ConsoleConfig(host="192.0.2.10"), SecretStr(TOKEN))
    with pytest.raises(ConfigError, match="MM_CONSOLE_TOKEN"):
        ConsoleGuard(ConsoleConfig(), SecretStr(""))


@pytest.mark.parametrize("value", ["http://mm.example.org", "mm.example.org/console", "*.example.org", ""])
def test_an_allowed_host_that_is_not_a_host_header_value_is_a_config_error(
    run_env: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MM_CONSOLE__ALLOWED_HOSTS", f'["{value}"]')
    with pytest.raises(ConfigError, match=r"console\.allowed_hosts"):
        load_settings()


OPERATOR_TOTP = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of RFC 6238's secret


def _users() -> str:
    return ",".join([
        auth.user_entry("alice", "operator", "alice-password", OPERATOR_TOTP),
        auth.user_entry("bob", "viewer", "bob-password", None),
    ])  # fmt: skip


async def _login(
    http: httpx.AsyncClient, url: str, user: str, password: str, code: str = ""
) -> httpx.Response:
    return await http.post(url + "/api/login", json={"user": user, "password": password, "totp": code})


def test_with_logins_a_viewer_reads_and_only_an_operator_with_a_code_commands(
    console_factory: type[Console],
) -> None:
    users = _users()
    console = console_factory(MM_CONSOLE_USERS=users)

    async def go() -> None:
        async with StandIns(console.settings) as services:
            async with httpx.AsyncClient(timeout=10) as anon:
                assert (await anon.get(console.url + "/api/state")).status_code == 401
                assert (await anon.get(console.url + "/api/series")).status_code == 401
                assert (await anon.get(console.url + "/")).status_code == 200  # the login page
                assert (await anon.get(console.url + "/api/me")).json() == {
                    "logins": True,
                    "user": None,
                    "role": None,
                }
                r = await anon.post(console.url + "/api/command/pause", json=RESUME, headers=CONSOLE_HEADER)
                assert r.status_code == 401
            async with httpx.AsyncClient(timeout=10) as bob:
                assert (await _login(bob, console.url, "bob", "wrong-password")).status_code == 401
                r = await _login(bob, console.url, "bob", "bob-password")
                assert r.status_code == 200 and r.json()["role"] == "viewer"
                assert (
                    "httponly" in r.headers["set-cookie"].lower()
                    and "samesite=strict" in r.headers["set-cookie"].lower()
                )
                assert (await bob.get(console.url + "/api/state")).status_code == 200
                r = await bob.post(console.url + "/api/command/pause", json=RESUME, headers=CONSOLE_HEADER)
                assert r.status_code == 403 and "operator" in r.json()["error"]
            assert services.received == []
            async with httpx.AsyncClient(timeout=10) as alice:
                assert (
                    await _login(alice, console.url, "alice", "alice-password", "000000")
                ).status_code == 401
                code = auth.totp(auth.b32decode(OPERATOR_TOTP), time.time())
                r = await _login(alice, console.url, "alice", "alice-password", code)
                assert r.status_code == 200 and r.json()["role"] == "operator", r.text
                r = await alice.post(console.url + "/api/command/pause", json=RESUME, headers=CONSOLE_HEADER)
                assert r.status_code == 200 and r.json()["ok"], r.text
                assert sorted(services.received) == [("risk", "Pause"), ("strategy", "Pause")]
                assert all("console alice" in c.reason for _, c in services.commands)
                await alice.post(console.url + "/api/logout")
                assert (await alice.get(console.url + "/api/state")).status_code == 401

    run(go())
    out = console.out.read_text()
    assert "alice-password" not in out and users not in out and OPERATOR_TOTP not in out
    assert "console_login" in out


def test_an_operator_edit_is_validated_written_and_reloaded_by_every_service(
    console_factory: type[Console], run_env: Path
) -> None:
    console = console_factory()  # no users: the loopback console of `make run`
    key = "strategy.symbols.ETHUSDC.asmm.base_size"
    url = console.url + "/api/params"

    async def go() -> None:
        async with StandIns(console.settings) as services, httpx.AsyncClient(timeout=10) as http:
            r = await http.post(url, json={"key": key, "value": "-1"}, headers=CONSOLE_HEADER)
            assert r.status_code == 400 and "base_size" in r.json()["error"], r.text
            r = await http.post(
                url, json={"key": "risk.params.daily_max", "value": "1"}, headers=CONSOLE_HEADER
            )
            assert r.status_code == 400 and "only strategy.symbols" in r.json()["error"]
            r = await http.post(url, json={"key": "strategy.symbols.ETHUSDC.asmm.nonsense", "value": "1"},
                                headers=CONSOLE_HEADER)  # fmt: skip
            assert r.status_code == 400
            assert not (run_env / "overrides.toml").exists() and services.received == []
            r = await http.post(url, json={"key": key, "value": "0.012"})  # no X-MM-Console
            assert r.status_code == 400
            r = await http.post(url, json={"key": key, "value": "0.012"}, headers=CONSOLE_HEADER)
            assert r.status_code == 200, r.text
            assert (r.json()["before"], r.json()["after"]) == (0.009, 0.012)  # the seed's default, then ours
            assert sorted(services.received) == [
                ("gateway", "ReloadConfig"), ("marketdata", "ReloadConfig"),
                ("risk", "ReloadConfig"), ("strategy", "ReloadConfig"),
            ]  # fmt: skip
            assert all(c.reason == f"console operator: {key} 0.009 -> 0.012" for _, c in services.commands)

    run(go())
    assert load_settings().strategy.symbols["ETHUSDC"].asmm.base_size == 0.012  # what a service reloads
