"""The web console: a page that follows the bus live, and the operator's commands.

* ``GET /`` the page; ``GET /api/state`` the view as JSON; ``GET /api/stream`` server-sent events
  with the view whenever it changed (at most 4 a second);
* ``GET /api/series`` the charts' data; ``GET /api/params`` each symbol's effective strategy
  parameters (asked of the strategy service);
* ``POST /api/command/<verb>`` (kill, pause, resume, cancel-all, flatten) sends the command to
  every service that must act and answers their acknowledgements, like ``mmctl``;
* ``POST /api/params`` ``{"key": "strategy.symbols.ETHUSDC.asmm.base_size", "value": "0.012"}``
  writes the edit to the run directory's ``overrides.toml`` once the whole configuration loads
  with it (:mod:`common.overrides`), then sends ``ReloadConfig`` (reason: who changed what from
  what) to every service ``mmctl reload`` reaches, and answers their acknowledgements;
* ``POST /api/login`` ``{"user", "password", "totp"}``, ``POST /api/logout``, ``GET /api/me``.

Logins (:mod:`services.console.auth`), when ``MM_CONSOLE_USERS`` names users: every ``/api/``
read needs a session (viewer or operator); commands and edits need an operator's session (whose
login took a TOTP code) or the bearer token. Without users the console is open to whoever passes
the checks below (the loopback default of ``make run``).

Who may talk to it (:class:`ConsoleGuard`), checked before any handler runs, so a refused command
never reaches the bus:

* **Host.** Every request's ``Host`` header must name the console: ``console.host:console.port``
  as configured and, on a loopback bind, ``localhost``, ``127.0.0.1`` and ``[::1]`` with that
  port, or one of ``console.allowed_hosts`` (exact values, for a reverse proxy). A missing or
  other Host is refused with 403: a DNS-rebinding page (a hostile name that resolves to
  127.0.0.1) sends its own name as Host.
* **Origin.** A request carrying ``Origin`` is refused with 403 unless it is ``http://`` or
  ``https://`` followed by one of those Host values. Requests without Origin (curl, scripts, the
  page's own GETs) pass.
* **Commands** also need the ``X-MM-Console: 1`` header (else 400; a plain cross-site form post
  cannot set it) and, when ``MM_CONSOLE_TOKEN`` is set, ``Authorization: Bearer <token>``
  (compared in constant time; else 403).
* **Token.** Bound to an address that is not loopback, the console refuses to start without
  ``MM_CONSOLE_TOKEN`` or ``MM_CONSOLE_USERS`` (:class:`~common.config.ConfigError`); an empty
  token is refused too.

Refusals are counted in ``mm_console_refused_requests_total{reason}`` and logged once per reason
(never the token). The rules are fixed at start: a config reload does not change them.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import time
from collections.abc import Mapping
from importlib import resources
from typing import Any, NamedTuple

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import Counter
from pydantic import SecretStr

from common import overrides, topics
from common.bus import RequestRefused, RequestTimeout
from common.config import ConfigError, Settings
from common.config_sections import ConsoleConfig
from common.logging import log
from common.messages import GetSnapshot, Kill, ReloadConfig
from common.operator import KILL_EXIT, KILL_NOT_CONFIRMED, TARGETS, broadcast, build, kill, route
from common.runtime import Service
from services.console.auth import Login, parse_users
from services.console.view import ConsoleView

VERBS = ("kill", "pause", "resume", "cancel-all", "flatten")
KILL_WAIT_S = 20.0  # how long a console kill waits for the venue to confirm zero before answering 202

REFUSED = Counter(
    "mm_console_refused_requests_total",
    "Console requests refused: bad Host or Origin, no console header, bad token or role (before any "
    "handler), a body that is not the JSON asked for, a parameter edit the configuration refuses",
    ["reason"],
)
LOGINS = Counter("mm_console_logins_total", "Console login attempts by outcome", ["outcome"])
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
COOKIE = "mm_session"
STATIC = {"chart.js": "application/javascript"}


class Refusal(NamedTuple):
    """Why a request is refused: the metric label, the HTTP status, the text the client gets."""

    reason: str
    status: int
    error: str


def is_loopback(host: str) -> bool:
    """Whether the bind address ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost: may resolve to anything
        return False


def allowed_hosts(cfg: ConsoleConfig) -> frozenset[str]:
    """The ``Host`` header values the console answers to (lower case)."""
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    names = {host.lower(), *(LOOPBACK_NAMES if is_loopback(cfg.host) else ())}
    values = {f"{n}:{cfg.port}" for n in names}
    if cfg.port == 80:  # browsers leave the default port out of Host and Origin
        values |= names
    return frozenset(values | set(cfg.allowed_hosts))


class ConsoleGuard:
    """Decides whether a request may be served; pure, built once at start.

    Raises :class:`ConfigError` when the console would listen beyond this machine without a token.
    """

    def __init__(self, cfg: ConsoleConfig, token: SecretStr | None, logins: bool = False) -> None:
        secret = token.get_secret_value() if token is not None else None
        if secret is not None and not secret.strip():
            raise ConfigError("MM_CONSOLE_TOKEN is set but empty: set a real token or unset it")
        if secret is None and not logins and not is_loopback(cfg.host):
            raise ConfigError(
                f"console.host = {cfg.host!r} is not a loopback address: set MM_CONSOLE_USERS (logins, "
                "`mmctl console-user`) or MM_CONSOLE_TOKEN in the environment (commands then need "
                "'Authorization: Bearer <token>'), or bind console.host to 127.0.0.1"
            )
        self.hosts = allowed_hosts(cfg)
        self.origins = frozenset(f"{scheme}://{h}" for h in self.hosts for scheme in ("http", "https"))
        self._token = secret.encode() if secret is not None else None

    def check_request(self, headers: Mapping[str, str]) -> Refusal | None:
        """Host and Origin, for every request."""
        host = headers.get("Host")
        if host is None or host.lower() not in self.hosts:
            return Refusal("host", 403, "Host header does not name this console (console.allowed_hosts)")
        origin = headers.get("Origin")
        if origin is not None and origin.lower() not in self.origins:
            return Refusal("origin", 403, "Origin is not this console's page")
        return None

    def check_command(self, headers: Mapping[str, str], operator_session: bool = False) -> Refusal | None:
        """The console header and, when a token is set, the bearer token (an operator's login
        session stands for it)."""
        if headers.get("X-MM-Console") != "1":
            return Refusal("console_header", 400, "missing X-MM-Console header")
        if self._token is not None and not operator_session and not self.bearer_ok(headers):
            return Refusal("token", 403, "bad or missing token")
        return None

    def bearer_ok(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries the configured bearer token."""
        if self._token is None:
            return False
        scheme, _, given = headers.get("Authorization", "").partition(" ")
        # Bytes, not str: compare_digest raises on non-ASCII str, and aiohttp decodes header
        # bytes that are not UTF-8 as surrogates; the client picks them.
        matches = hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), self._token)
        return scheme.lower() == "bearer" and matches


class ConsoleService(Service):
    """Serves the console page and forwards operator commands."""

    name = "console"

    def __init__(self, settings: Settings) -> None:
        users = settings.console_users.get_secret_value() if settings.console_users else ""
        self.login = Login(parse_users(users))  # before any socket: a bad entry stops the start
        self.guard = ConsoleGuard(settings.console, settings.console_token, self.login.enabled)
        super().__init__(settings)
        self.view = ConsoleView(
            accounts={
                a: (g, settings.account_symbols(a))
                for a, g in zip(settings.account_names, settings.gateways, strict=True)
            }
        )
        self.runner: web.AppRunner | None = None
        self._logged_refusals: set[str] = set()

    async def on_start(self) -> None:
        self.subscribe([topics.ALL], lambda t, m, e: self.view.on_message(t, m), services=None)
        app = web.Application(middlewares=[self._check_request])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/me", self._me)
        app.router.add_post("/api/login", self._login)
        app.router.add_post("/api/logout", self._logout)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/stream", self._stream)
        app.router.add_get("/api/series", self._series)
        app.router.add_get("/api/params", self._params)
        app.router.add_post("/api/params", self._edit)
        app.router.add_post("/api/command/{verb}", self._command)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        cfg = self.settings.console
        await web.TCPSite(self.runner, cfg.host, cfg.port, reuse_address=True).start()
        log.info("console_listening", url=f"http://{cfg.host}:{cfg.port}/", hosts=sorted(self.guard.hosts))

    @web.middleware
    async def _check_request(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = self.guard.check_request(request.headers)
        if refusal is not None:
            return self._refused(request, refusal)
        open_paths = ("/", "/api/me", "/api/login", "/api/logout")
        public = request.path in open_paths or request.path.startswith("/static/")
        if not public and self._role(request) is None:
            return web.json_response({"ok": False, "error": "log in first"}, status=401)
        return await handler(request)

    def _role(self, req: web.Request) -> str | None:
        """``operator``, ``viewer`` or None (not logged in). Without users, everyone who passed
        the guard is an operator (the token rule still applies to commands)."""
        if not self.login.enabled or self.guard.bearer_ok(req.headers):
            return "operator"
        s = self.login.session(req.cookies.get(COOKIE), time.time())
        return s.role if s is not None else None

    def _user(self, req: web.Request) -> str:
        s = self.login.session(req.cookies.get(COOKIE), time.time())
        return s.user if s is not None else "token" if self.guard.bearer_ok(req.headers) else "operator"

    def _may_command(self, req: web.Request) -> Refusal | None:
        """Commands and edits: the console header; an operator (session or token) when there are
        users; else the token rule."""
        if self.login.enabled:
            if req.headers.get("X-MM-Console") != "1":
                return Refusal("console_header", 400, "missing X-MM-Console header")
            if self._role(req) != "operator":
                return Refusal("role", 403, "an operator's login is needed")
            return None
        return self.guard.check_command(req.headers)

    def _refused(self, req: web.Request, refusal: Refusal) -> web.Response:
        REFUSED.labels(refusal.reason).inc()
        if refusal.reason not in self._logged_refusals:  # once per reason: the counter has the rest
            self._logged_refusals.add(refusal.reason)
            log.warning(
                "console_request_refused",
                reason=refusal.reason,
                path=req.path[:100],
                host=req.headers.get("Host", "")[:100],
                origin=req.headers.get("Origin", "")[:100],
            )
        return web.json_response({"ok": False, "error": refusal.error}, status=refusal.status)

    async def _index(self, req: web.Request) -> web.Response:
        page = resources.files("services.console").joinpath("static/index.html").read_text()
        return web.Response(text=page, content_type="text/html")

    async def _static(self, req: web.Request) -> web.Response:
        name = req.match_info["name"]
        if name not in STATIC:
            return web.json_response({"ok": False, "error": "not found"}, status=404)
        text = resources.files("services.console").joinpath(f"static/{name}").read_text()
        return web.Response(text=text, content_type=STATIC[name])

    async def _me(self, req: web.Request) -> web.Response:
        role = self._role(req)
        user = self._user(req) if role is not None and self.login.enabled else None
        return web.json_response({"logins": self.login.enabled, "user": user, "role": role})

    async def _login(self, req: web.Request) -> web.Response:
        try:
            body = await req.json()
            name, password, code = str(body["user"]), str(body["password"]), str(body.get("totp", ""))
        except (ValueError, KeyError, TypeError):
            return self._refused(req, Refusal("bad_body", 400, "want JSON with user and password"))
        token, outcome = self.login.login(name[:64], password[:256], code[:12], time.time())
        LOGINS.labels(outcome).inc()
        log.warning("console_login", user=name[:64], outcome=outcome)
        if token is None:
            status = 429 if outcome == "locked" else 401
            text = (
                "too many failed logins: wait a minute"
                if outcome == "locked"
                else "bad name, password or code"
            )
            return web.json_response({"ok": False, "error": text}, status=status)
        s = self.login.session(token, time.time())
        resp = web.json_response({"ok": True, "user": name, "role": s.role if s else None})
        resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/", max_age=12 * 3600)
        return resp

    async def _logout(self, req: web.Request) -> web.Response:
        self.login.logout(req.cookies.get(COOKIE))
        resp = web.json_response({"ok": True})
        resp.del_cookie(COOKIE, path="/")
        return resp

    async def _series(self, req: web.Request) -> web.Response:
        return web.json_response(self.view.series())

    async def _params(self, req: web.Request) -> web.Response:
        try:
            params = await self.client("strategy").call(GetSnapshot(what="params"), timeout_s=2.0)
        except (RequestTimeout, RequestRefused) as exc:
            return web.json_response({"ok": False, "error": f"strategy: {exc}"[:300]}, status=502)
        return web.json_response({"ok": True, "symbols": params})

    async def _edit(self, req: web.Request) -> web.Response:
        refusal = self._may_command(req)
        if refusal is not None:
            return self._refused(req, refusal)
        try:
            body = await req.json()
            key, text = str(body["key"]), str(body["value"])
        except (ValueError, KeyError, TypeError):
            return self._refused(req, Refusal("bad_body", 400, "want JSON with key and value"))
        try:
            _, before, value = overrides.edit(self.settings, key, text)
        except ConfigError as exc:
            log.warning("console_param_edit_refused", key=key[:100], error=str(exc)[:300])
            return self._refused(req, Refusal("bad_edit", 400, str(exc)[:500]))
        reason = f"console {self._user(req)}: {key} {before} -> {value}"
        log.warning("console_param_edit", key=key, before=str(before), after=str(value), user=self._user(req))
        rows = await broadcast(
            self.client, ReloadConfig(reason=reason), route(self.settings, TARGETS["reload"])
        )
        ok = all(r["ok"] for r in rows)
        return web.json_response({"ok": ok, "key": key, "before": before, "after": value, "acks": rows},
                                 status=200 if ok else 502)  # fmt: skip

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
        if verb not in VERBS:
            return web.json_response({"ok": False, "error": f"unknown command {verb!r}"}, status=400)
        refusal = self._may_command(req)
        if refusal is not None:
            return self._refused(req, refusal)
        try:
            body: dict[str, Any] = await req.json() if req.can_read_body else {}
        except ValueError:
            return self._refused(req, Refusal("bad_body", 400, "body must be JSON"))
        who = f"console {self._user(req)}" if self.login.enabled else "console"
        cmd = build(
            verb,
            str(body.get("symbol", "")),
            f"{who}: {body.get('reason', 'operator')}",
            bool(body.get("flatten", False)),
        )
        if isinstance(cmd, Kill):
            return await self._kill(cmd, body)
        rows = await broadcast(
            self.client, cmd, route(self.settings, TARGETS[verb], str(body.get("symbol", "")))
        )
        ok = all(r["ok"] for r in rows)
        log.warning("console_command", verb=verb, ok=ok)
        return web.json_response({"ok": ok, "acks": rows}, status=200 if ok else 502)

    async def _kill(self, cmd: Kill, body: dict[str, Any]) -> web.Response:
        """The kill contract (common.operator.kill): 200 only once the venue confirmed zero; 202
        while engaged but not confirmed (the report says what is open and why); 502 when the
        gateway did not acknowledge."""
        try:
            wait_s = min(max(float(body.get("wait_s", KILL_WAIT_S)), 0.0), 120.0)
        except (TypeError, ValueError):
            return web.json_response({"ok": False, "error": "wait_s must be a number"}, status=400)
        out = await kill(self.client, cmd, wait_s, targets=route(self.settings, TARGETS["kill"]))
        log.warning("console_command", verb="kill", done=out.done, code=out.code)
        status = 200 if out.done else 202 if out.code == KILL_NOT_CONFIRMED else 502
        payload = {"ok": out.done, "done": out.done, "code": out.code, "meaning": KILL_EXIT[out.code],
                   "acks": out.acks, "report": out.report}  # fmt: skip
        return web.json_response(payload, status=status)

    async def on_stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def status_detail(self) -> dict[str, str]:
        return {"port": str(self.settings.console.port)}
