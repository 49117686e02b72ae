"""Local stand-ins for the alert channels: the Telegram Bot API (under ``/telegram``), a Slack
webhook (``HOOK_PATH``), WeCom's API (under ``/wecom/``) and an SMTP server. Each records what it
received in an :class:`Inbox`; :func:`standins` starts them and stops them at the end."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

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


@contextmanager
def standins() -> Iterator[tuple[Inbox, str, int]]:
    """(inbox, base URL of the HTTP stand-ins, SMTP port)."""
    inbox = Inbox()
    http, smtp = _http_standin(inbox), _smtp_standin(inbox)
    try:
        yield inbox, f"http://127.0.0.1:{http.server_address[1]}", smtp.server_address[1]
    finally:
        for srv in (http, smtp):
            srv.shutdown()
            srv.server_close()
