"""Fault controls and inspection of the simulated venue, on loopback only (``/_admin/...``).

``POST /_admin/fault`` with a JSON object switches faults on: ``delay_ms``, ``storm_429_s``,
``clock_skew_ms``, ``unknown_503``, ``reject_1008``, ``stall_s`` / ``gap`` (with ``symbol``),
``drop_ws`` (``all``, ``public``, ``market``, ``private``, ``api``), ``expire_listen_key`` (an
account), ``shock`` (``{"symbol": ..., "pct": -0.12}``) and ``clear``. ``GET /_admin/book`` returns
the venue's internal book of a symbol, for tests that check a client's rebuilt book against it.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from common.logging import log
from services.venue.state import VenueState


def _loopback(req: web.Request) -> bool:
    try:
        return ipaddress.ip_address(req.remote or "").is_loopback
    except ValueError:
        return False


async def fault(v: VenueState, req: web.Request, shock: Callable[[str, float], None]) -> web.Response:
    if not _loopback(req):
        return web.json_response({"error": "admin is loopback only"}, status=403)
    try:
        spec: dict[str, Any] = json.loads(await req.text() or "{}")
    except ValueError:
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    done = v.faults.apply(spec, v.now_ms())
    if spec.get("clear"):
        v.faults.clear()
        done.append("cleared")
    if "drop_ws" in spec:
        route = "" if spec["drop_ws"] == "all" else str(spec["drop_ws"])
        n = await v.hub.close_all(route)
        done.append(f"dropped {n} connections")
    if "expire_listen_key" in spec:
        v.listen_keys.force_expire(str(spec["expire_listen_key"]))
        done.append("listen key expired")
    if "shock" in spec:
        s = spec["shock"]
        shock(str(s["symbol"]), float(s["pct"]))
        done.append(f"shock {s['symbol']} {s['pct']}")
    log.warning("fault_injected", spec=spec, done=done)
    return web.json_response({"ok": True, "done": done})


async def book(v: VenueState, req: web.Request) -> web.Response:
    st = v.exchange.symbol(req.query.get("symbol"))
    limit = int(req.query.get("limit", "1000"))
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
    return web.json_response(
        {
            "symbols": {n: {"update_id": st.update_id, "mark": str(st.mark)} for n, st in ex.symbols.items()},
            "open_orders": ex.open_count(),
            "orders": len(ex.orders),
            "connections": v.hub.stats(),
            "next_funding_ms": ex.next_funding_ms,
            "bans": {ip: st.bans for ip, st in v.limiter.ips.items() if st.bans},
            "violations": {ip: st.violations for ip, st in v.limiter.ips.items() if st.violations},
        }
    )
