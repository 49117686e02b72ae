"""Fault controls and inspection of the simulated venue (``/_admin/...``), for drills and tests.

* ``POST /_admin/fault`` with a JSON object (``Content-Type: application/json``, else 415) switches
  faults on: ``delay_ms``, ``storm_429_s``, ``clock_skew_ms``, ``unknown_503``, ``reject_1008``,
  ``malformed``, ``stall_s`` / ``gap`` (with ``symbol``), ``html_5xx``, ``non_json_200``,
  ``late_new``, ``ws_api_429``, ``ban_418``, ``drop_user_event``, ``malformed_user``,
  ``ws_outage`` (their shapes: :mod:`services.venue.faults`), and does ``drop_ws`` (``all``,
  ``public``, ``market``, ``private``, ``api``), ``expire_listen_key`` (an account), ``shock``
  (``{"symbol": ..., "pct": -0.12}``) and ``clear`` (every fault off and fault bans lifted; applied first).
  The whole request is checked before anything is applied: an unknown name or a value of the wrong
  shape is answered 400 ``{"ok": false, "error": "<field>: expected ..., got ..."}``.
* ``GET /_admin/book?symbol=&limit=``: the venue's internal book, for tests that check a client's
  rebuilt book against it (400 naming a missing or unknown symbol or a bad limit).
* ``GET /_admin/state``: ids, marks, order and connection counts, bans.

Every ``/_admin`` path answers 403 unless the peer is loopback and the ``Host`` header names a
loopback host (a DNS-rebinding page reaches us from loopback, but under its own host name). The
JSON content type keeps cross-site browser forms out: they can only send ``text/plain`` or forms
without a CORS preflight, which the venue never grants.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from common.logging import log
from services.venue import faultspec, rest
from services.venue.faultspec import FaultSpec, FaultSpecError
from services.venue.state import VenueState

Shock = Callable[[str, float], None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Peer(Protocol):
    """What the loopback check reads of a request."""

    @property
    def remote(self) -> str | None: ...

    @property
    def host(self) -> str: ...


def _loopback_ip(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def _host_name(host: str) -> str:
    """``Host`` without its port: ``[::1]:8765`` -> ``::1``, ``127.0.0.1:8765`` -> ``127.0.0.1``."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback_peer(req: Peer) -> bool:
    """May this request use ``/_admin``? Loopback peer and a loopback ``Host`` name."""
    host = _host_name(req.host or "").lower()
    return _loopback_ip(req.remote or "") and (host == "localhost" or _loopback_ip(host))


def _error(status: int, msg: str) -> web.Response:
    return web.json_response({"ok": False, "error": msg}, status=status)


def _guarded(h: Handler) -> Handler:
    async def guarded(req: web.Request) -> web.StreamResponse:
        if not is_loopback_peer(req):
            return _error(403, "admin is loopback only")
        return await h(req)

    return guarded


def routes(v: VenueState, shock: Shock) -> list[web.RouteDef]:
    """The admin routes, each behind the loopback check; register them before any catch-all."""

    async def unknown(req: web.Request) -> web.StreamResponse:
        return _error(404, f"no admin endpoint {req.method} {req.path}")

    return [
        web.post("/_admin/fault", _guarded(lambda r: fault(v, r, shock))),
        web.get("/_admin/book", _guarded(lambda r: book(v, r))),
        web.get("/_admin/state", _guarded(lambda r: state(v, r))),
        web.route("*", "/_admin{tail:.*}", _guarded(unknown)),
    ]


async def fault(v: VenueState, req: web.Request, shock: Shock) -> web.Response:
    if req.content_type != "application/json":
        return _error(415, f"Content-Type must be application/json, not {req.content_type}")
    try:
        raw = json.loads(await req.text())
    except ValueError:
        return _error(400, "body: expected a JSON object, got text that is not JSON")
    try:
        spec = faultspec.parse(raw, list(v.exchange.symbols), list(v.exchange.accounts))
    except FaultSpecError as e:
        return _error(400, str(e))
    done = await _apply(v, spec, rest.client_ip(req), shock)
    log.warning("fault_injected", spec=raw, done=done)
    return web.json_response({"ok": True, "done": done})


async def _apply(v: VenueState, spec: FaultSpec, caller: str, shock: Shock) -> list[str]:
    """Apply a validated request: ``clear`` first, then the faults, then the one-off actions."""
    done = []
    if spec.clear:
        for ip in v.faults.banned_ips:
            v.limiter.unban(ip)
        v.faults.clear()
        done.append("cleared")
    done += v.faults.apply(spec, v.now_ms())
    if spec.ban_418 is not None:
        ip = spec.ban_418.ip or caller
        until = v.now_ms() + int(spec.ban_418.seconds * 1000)
        v.limiter.ban(ip, until, spec.ban_418.retry_after)
        v.faults.banned_ips.add(ip)
        done.append(f"ban_418 {ip} until {until}")
    if spec.drop_ws:
        n = await v.hub.close_all("" if spec.drop_ws == "all" else spec.drop_ws)
        done.append(f"dropped {n} connections")
    if spec.ws_outage is not None and spec.ws_outage.seconds > 0:
        n = sum([await v.hub.close_all(route) for route in spec.ws_outage.routes])
        done.append(f"dropped {n} connections")
    if spec.expire_listen_key:
        v.listen_keys.force_expire(spec.expire_listen_key)
        done.append("listen key expired")
    if spec.shock is not None:
        shock(spec.shock.symbol, spec.shock.pct)
        done.append(f"shock {spec.shock.symbol} {spec.shock.pct}")
    return done


async def book(v: VenueState, req: web.Request) -> web.Response:
    name = req.query.get("symbol", "")
    st = v.exchange.symbols.get(name)
    if st is None:
        got = json.dumps(name) if name else "nothing"
        return _error(400, f"symbol: expected one of {', '.join(v.exchange.symbols)}, got {got}")
    raw = req.query.get("limit", "1000")
    limit = int(raw) if raw.isascii() and raw.isdigit() else 0
    if limit < 1:
        return _error(400, f"limit: expected a whole number above 0, got {json.dumps(raw)}")
    sym = st.sym
    return web.json_response(
        {
            "lastUpdateId": st.update_id,
            "bids": [[sym.price_str(p), sym.qty_str(q)] for p, q in st.book.depth(1, limit)],
            "asks": [[sym.price_str(p), sym.qty_str(q)] for p, q in st.book.depth(-1, limit)],
        }
    )


async def state(v: VenueState, req: web.Request) -> web.Response:
    ex = v.exchange
    now = v.now_ms()
    return web.json_response(
        {
            "symbols": {n: {"update_id": st.update_id, "mark": str(st.mark)} for n, st in ex.symbols.items()},
            "open_orders": ex.open_count(),
            "orders": len(ex.orders),
            "connections": v.hub.stats(),
            "next_funding_ms": ex.next_funding_ms,
            "bans": {ip: st.bans for ip, st in v.limiter.ips.items() if st.bans},
            "banned_until": {ip: s.banned_until for ip, s in v.limiter.ips.items() if s.banned_until > now},
            "violations": {ip: st.violations for ip, st in v.limiter.ips.items() if st.violations},
        }
    )
