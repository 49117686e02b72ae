"""The web console: a page that follows the bus live, and the operator's commands.

* ``GET /`` the page; ``GET /api/state`` the view as JSON; ``GET /api/stream`` server-sent events
  with the view whenever it changed (at most 4 a second);
* ``POST /api/command/<verb>`` (kill, pause, resume, cancel-all, flatten) sends the command to
  every service that must act and answers their acknowledgements, like ``mmctl``.

It binds to loopback. A command needs the ``X-MM-Console`` header (a plain cross-site form post
cannot set it) and, when ``MM_CONSOLE_TOKEN`` is set, ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from importlib import resources
from typing import Any

from aiohttp import web

from common import topics
from common.config import Settings
from common.logging import log
from common.operator import TARGETS, broadcast, build
from common.runtime import Service
from services.console.view import ConsoleView

VERBS = ("kill", "pause", "resume", "cancel-all", "flatten")


class ConsoleService(Service):
    """Serves the console page and forwards operator commands."""

    name = "console"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.view = ConsoleView()
        self.runner: web.AppRunner | None = None

    async def on_start(self) -> None:
        self.subscribe([topics.ALL], lambda t, m, e: self.view.on_message(t, m), services=None)
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/stream", self._stream)
        app.router.add_post("/api/command/{verb}", self._command)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        cfg = self.settings.console
        await web.TCPSite(self.runner, cfg.host, cfg.port, reuse_address=True).start()
        log.info("console_listening", url=f"http://{cfg.host}:{cfg.port}/")

    async def _index(self, req: web.Request) -> web.Response:
        page = resources.files("services.console").joinpath("static/index.html").read_text()
        return web.Response(text=page, content_type="text/html")

    async def _state(self, req: web.Request) -> web.Response:
        return web.json_response(self.view.snapshot())

    async def _stream(self, req: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(req)
        seen = -1
        try:
            while not self.stopping:
                if self.view.version != seen:
                    seen = self.view.version
                    await resp.write(f"data: {json.dumps(self.view.snapshot())}\n\n".encode())
                await asyncio.sleep(0.25)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    async def _command(self, req: web.Request) -> web.Response:
        verb = req.match_info["verb"]
        refusal = self._refuse(req, verb)
        if refusal:
            return web.json_response(
                {"ok": False, "error": refusal}, status=403 if "token" in refusal else 400
            )
        try:
            body: dict[str, Any] = await req.json() if req.can_read_body else {}
        except ValueError:
            return web.json_response({"ok": False, "error": "body must be JSON"}, status=400)
        cmd = build(
            verb,
            str(body.get("symbol", "")),
            f"console: {body.get('reason', 'operator')}",
            bool(body.get("flatten", False)),
        )
        rows = await broadcast(self.client, cmd, TARGETS[verb])
        ok = all(r["ok"] for r in rows)
        log.warning("console_command", verb=verb, ok=ok)
        return web.json_response({"ok": ok, "acks": rows}, status=200 if ok else 502)

    def _refuse(self, req: web.Request, verb: str) -> str:
        if verb not in VERBS:
            return f"unknown command {verb!r}"
        if req.headers.get("X-MM-Console") != "1":
            return "missing X-MM-Console header"
        token = self.settings.console_token
        if token is not None:
            given = req.headers.get("Authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(given, token.get_secret_value()):
                return "bad or missing token"
        return ""

    async def on_stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def status_detail(self) -> dict[str, str]:
        return {"port": str(self.settings.console.port)}
