"""Alerts reach people: a real Alertmanager (Debian's ``prometheus-alertmanager``) runs the config
``mmctl alertmanager-config`` writes, against local stand-ins for the Telegram Bot API (its
``api_url``), a Slack webhook, WeCom's API and an SMTP server. A P0 alert reaches all four; a P1
alert the chat channels and not email (``[alerts] routes``); the secrets come from the environment
and are what each stand-in receives."""

from __future__ import annotations

import json
import shutil
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.helpers import PROJECT, die_with_parent, free_port, wait_until

TOKEN, HOOK_PATH, WECOM_SECRET = "123456:test-bot-token", "/slack/T000/B000/xyz", "wecom-test-secret"


class Inbox:
    """What the stand-ins received, by channel."""

    def __init__(self) -> None:
        self.got: dict[str, list[str]] = {"telegram": [], "slack": [], "wecom": [], "email": []}
        self.lock = threading.Lock()

    def add(self, channel: str, text: str) -> None:
        with self.lock:
            self.got[channel].append(text)

    def has(self, channel: str, needle: str) -> bool:
        with self.lock:
            return any(needle in t for t in self.got[channel])


def _strings(x: Any) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(x, str):
        return [x]
    if isinstance(x, dict):
        x = list(x.values())
    return [s for v in x for s in _strings(v)] if isinstance(x, list) else []


def _http_standin(inbox: Inbox) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # WeCom's token exchange
            url = urlparse(self.path)
            q = parse_qs(url.query)
            if url.path == "/wecom/gettoken" and q.get("corpsecret") == [WECOM_SECRET]:
                self._reply({"errcode": 0, "errmsg": "ok", "access_token": "wecom-token", "expires_in": 7200})
            else:
                self._reply({"errcode": 40001, "errmsg": "invalid credential"})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            url = urlparse(self.path)
            if url.path == f"/telegram/bot{TOKEN}/sendMessage":
                form = parse_qs(raw.decode()) if b"=" in raw and not raw.startswith(b"{") else {}
                text = form["text"][0] if form else json.loads(raw).get("text", "")
                inbox.add("telegram", text)
                self._reply(
                    {"ok": True, "result": {"message_id": 1, "date": 0, "chat": {"id": 42, "type": "group"}}}
                )
            elif url.path == HOOK_PATH:
                inbox.add("slack", "\n".join(_strings(json.loads(raw))))  # text sits in attachments
                self._reply({"ok": True})
            elif url.path == "/wecom/message/send" and parse_qs(url.query).get("access_token") == [
                "wecom-token"
            ]:
                inbox.add("wecom", json.loads(raw).get("text", {}).get("content", ""))
                self._reply({"errcode": 0, "errmsg": "ok"})
            else:
                self.send_response(404)
                self.end_headers()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _smtp_standin(inbox: Inbox) -> socketserver.ThreadingTCPServer:
    """Just enough SMTP (RFC 5321) for one client: no TLS, no auth, every message accepted."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 standin ESMTP\r\n")
            while line := self.rfile.readline():
                cmd = line.decode(errors="replace").strip().upper()
                if cmd.startswith(("EHLO", "HELO")):
                    self.wfile.write(b"250-standin\r\n250 8BITMIME\r\n")
                elif cmd == "DATA":
                    self.wfile.write(b"354 go ahead\r\n")
                    body = []
                    while (part := self.rfile.readline()) not in (b".\r\n", b""):
                        body.append(part.decode(errors="replace"))
                    inbox.add("email", "".join(body).replace("=\r\n", ""))
                    self.wfile.write(b"250 queued\r\n")
                elif cmd == "QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")

    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, Inbox]]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, (
        "Alertmanager is missing: install Debian's prometheus-alertmanager (apt-get install "
        "prometheus-alertmanager; .ci/run does it)"
    )
    inbox = Inbox()
    http, smtp = _http_standin(inbox), _smtp_standin(inbox)
    base = f"http://127.0.0.1:{http.server_address[1]}"
    overlay = tmp_path / "alerts.toml"
    overlay.write_text(
        "[alerts]\n"
        f'telegram_chat_id = 42\ntelegram_api_url = "{base}/telegram"\n'
        f'email_to = "ops@example.org"\nemail_from = "mm@example.org"\n'
        f'email_smarthost = "127.0.0.1:{smtp.server_address[1]}"\nemail_require_tls = false\n'
        f'wecom_corp_id = "corp"\nwecom_agent_id = "1000002"\nwecom_api_url = "{base}/wecom/"\n'
        'group_wait = { P0 = "0s", P1 = "0s", P2 = "0s" }\n'
    )
    env = {
        "MM_CONFIG_FILE": str(overlay),
        "MM_TELEGRAM_BOT_TOKEN": TOKEN,
        "MM_SLACK_WEBHOOK_URL": base + HOOK_PATH,
        "MM_WECOM_SECRET": WECOM_SECRET,
    }
    cfg = tmp_path / "alertmanager.yml"
    p = subprocess.run(
        [sys.executable, "-m", "services.mmctl", "alertmanager-config", "--out", str(cfg)],
        cwd=PROJECT, env={**_base_env(), **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert cfg.stat().st_mode & 0o777 == 0o600
    port = free_port()
    log = (tmp_path / "am.log").open("w")
    proc = subprocess.Popen(
        [binary, f"--config.file={cfg}", f"--storage.path={tmp_path / 'am-data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=log, preexec_fn=die_with_parent,  # noqa: PLW1509
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), 30, what="Alertmanager ready")
        yield url, inbox
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        for srv in (http, smtp):
            srv.shutdown()
            srv.server_close()


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("MM_")}


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _fire(url: str, name: str, severity: str, summary: str) -> None:
    alert = {
        "labels": {"alertname": name, "severity": severity, "symbol": "ETHUSDC"},
        "annotations": {"summary": summary, "runbook_url": f"docs/runbook.md#{name.lower()}"},
    }
    r = httpx.post(url + "/api/v2/alerts", json=[alert], timeout=5)
    assert r.status_code == 200, r.text


def test_a_p0_alert_reaches_every_channel_and_a_p1_alert_the_chat_only(
    alertmanager: tuple[str, Inbox],
) -> None:
    url, inbox = alertmanager
    _fire(url, "KillEngaged", "P0", "The kill switch is engaged: nothing is quoted")
    line = "[P0] KillEngaged: The kill switch is engaged: nothing is quoted (docs/runbook.md#killengaged)"
    for channel in ("telegram", "slack", "wecom", "email"):
        wait_until(lambda c=channel: inbox.has(c, line), 30, what=f"the P0 alert on {channel}")
    _fire(url, "MarketDataStale", "P1", "ETHUSDC: market data not live for 30 s")
    for channel in ("telegram", "slack", "wecom"):
        wait_until(
            lambda c=channel: inbox.has(c, "[P1] MarketDataStale"), 30, what=f"the P1 alert on {channel}"
        )
    assert not inbox.has("email", "MarketDataStale"), "P1 is not routed to email"


def test_without_any_channel_the_config_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "none.toml").write_text("[alerts]\n")
    p = subprocess.run(
        [sys.executable, "-m", "services.mmctl", "alertmanager-config"],
        cwd=PROJECT, env={**_base_env(), "MM_CONFIG_FILE": str(tmp_path / "none.toml")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 2
    assert "no alert channel is configured: telegram (MM_TELEGRAM_BOT_TOKEN" in p.stderr
    assert "Traceback" not in p.stderr
