"""Fault injection for chaos and order-safety drills, switched at run time through
``POST /_admin/fault`` (loopback only; :mod:`services.venue.faultspec` checks the request whole).

Each fault is a field here; the REST, WS and stream code consult it. Count faults fire that many
times (``count`` 0 switches one off); timed ones last until a deadline. Defaults in brackets.

Market data and connections:

* ``delay_ms``: added to every REST and WS-API answer.
* ``storm_429_s``: every REST and WS-API request answered 429 for that long (the IP's weight is one
  budget for both; each REST one counts toward a ban).
* ``clock_skew_ms``: the venue's clock runs this far ahead (negative: behind).
* ``stall_s`` with ``symbol``: the symbol's depth and bookTicker go silent, then resume gap-free.
* ``gap`` with ``symbol``: each depth stream of the symbol loses that many events.
* ``malformed``: the next N market-stream messages are preceded by a broken payload.
* ``ws_outage`` ``{"seconds" (required), "routes" [["public", "market"]]}``: the routes' WebSocket
  service is down for that long: their connections are closed at once and every new one is
  refused (HTTP 503 at the handshake) until the end, when they are served again (REST is
  unaffected). The default routes are the market-data streams (seed 002 §5.2's 15-minute WSS
  cut); ``private`` and ``api`` cut the user stream and the WS-API. ``seconds`` 0 ends it.
* ``drop_ws``, ``expire_listen_key``, ``shock``, ``clear``: one-off actions of the admin handler.

The order path:

* ``unknown_503``: the next N new orders are placed, then answered 503 -1006 (outcome unknown).
* ``reject_1008``: the next N new orders are refused 503 -1008 (system throttled).
* ``html_5xx`` ``{"count" [1], "status": 502|503|504 [502], "executed": bool (required)}``: the next
  N REST order requests (POST/PUT/DELETE ``/fapi/v1/order`` and ``/fapi/v1/batchOrders``) get
  that status and a CDN's HTML page (``text/html``); with ``executed`` the request is carried out
  first (order, events and rate counts as usual), without it the venue never sees it.
* ``non_json_200`` ``{"count" [1], "executed": bool (required)}``: as ``html_5xx`` but answered
  200 with a body that is not JSON: the real answer cut in half when executed, else ``OK``.
* ``late_new`` ``{"count" [1], "delay_ms" [1000], "answer": "503"|"timeout" ["503"]}``: the next N
  new orders (REST ``POST /fapi/v1/order``, WS-API ``order.place``) are not placed now but
  answered 503 -1006 ("timeout": REST holds the answer ``delay_ms`` + 5 s, the WS-API never
  answers); ``delay_ms`` later the order lands through the normal exchange path (NEW event,
  resting), even though its recvWindow has passed by then.
* ``ws_api_429`` ``{"count" [1], "retry_after_ms" [1000]}``: the next N WS-API requests get a
  status 429 -1003 frame with ``error.data`` ``{"serverTime", "retryAfter"}``.
* ``ban_418`` ``{"seconds" (required), "retry_after" [false], "ip" [the caller]}``: the IP is banned
  through the rate limiter's ban: REST 418 -1003 "IP(...) banned until <ms>", ``Retry-After``
  only when ``retry_after``; WS-API frames status 418 with ``error.data.retryAfter``.

The user stream (the venue's own records, openOrders and userTrades, are unaffected):

* ``drop_user_event`` ``{"count" [1], "event": ORDER_TRADE_UPDATE|ACCOUNT_UPDATE|TRADE_LITE
  (required), "execution": o.x to match [any]}``: the next N matching events reach nobody.
* ``malformed_user`` ``{"count" [1], "value" ["NaN"]}``: the next N ORDER_TRADE_UPDATE events go out
  with every numeric string of ``o`` (``q p ap l z L n rp sp``) replaced by ``value``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.venue.faultspec import (
    DropUserEvent,
    FaultSpec,
    Html5xx,
    LateNew,
    MalformedUser,
    NonJson200,
    WsApi429,
    WsOutage,
)

NUMERIC_ORDER_FIELDS = frozenset(("q", "p", "ap", "l", "z", "L", "n", "rp", "sp"))
COUNTED = ("html_5xx", "non_json_200", "late_new", "ws_api_429", "drop_user_event", "malformed_user")
LATE_HOLD_S = 5.0  # a "timeout" late_new holds the REST answer this long beyond its delay
_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


@dataclass
class Faults:
    delay_ms: int = 0
    storm_429_until_ms: int = 0
    clock_skew_ms: int = 0
    unknown_503: int = 0
    reject_1008: int = 0
    stall_until_ms: dict[str, int] = field(default_factory=dict)  # symbol -> depth/bookTicker silent until
    malformed: int = 0
    gap: dict[tuple[str, str], int] = field(default_factory=dict)  # (symbol, stream) -> events to drop
    html_5xx: Html5xx | None = None
    non_json_200: NonJson200 | None = None
    late_new: LateNew | None = None
    ws_api_429: WsApi429 | None = None
    drop_user_event: DropUserEvent | None = None
    malformed_user: MalformedUser | None = None
    banned_ips: set[str] = field(default_factory=set)  # by ban_418: the admin lifts them on clear
    ws_down_until_ms: dict[str, int] = field(default_factory=dict)  # route -> refused until

    def apply(self, spec: FaultSpec, now_ms: int) -> list[str]:
        """Switch on what a validated request names; returns what was set, for the answer."""
        done = []
        if spec.clock_skew_ms is not None:  # first: the deadlines below are on the skewed clock
            now_ms += spec.clock_skew_ms - self.clock_skew_ms
            self.clock_skew_ms = spec.clock_skew_ms
            done.append(f"clock_skew_ms={spec.clock_skew_ms}")
        if spec.delay_ms is not None:
            self.delay_ms = spec.delay_ms
            done.append(f"delay_ms={self.delay_ms}")
        if spec.storm_429_s is not None:
            self.storm_429_until_ms = now_ms + int(spec.storm_429_s * 1000)
            done.append("storm_429")
        for name in ("unknown_503", "reject_1008", "malformed"):
            n = getattr(spec, name)
            if n is not None:
                setattr(self, name, n)
                done.append(f"{name}={n}")
        if spec.stall_s is not None:
            self.stall_until_ms[spec.symbol] = now_ms + int(spec.stall_s * 1000)
            done.append(f"stall {spec.symbol}")
        if spec.gap is not None:
            for stream in ("depth@0ms", "depth@100ms", "depth", "depth@500ms"):
                self.gap[(spec.symbol, stream)] = spec.gap
            done.append(f"gap {spec.symbol}")
        if spec.ws_outage is not None:
            done.append(self._outage(spec.ws_outage, now_ms))
        for name in COUNTED:
            f = getattr(spec, name)
            if f is not None:
                setattr(self, name, f if f.count > 0 else None)
                done.append(f"{name}={f.count}")
        return done

    def _outage(self, o: WsOutage, now_ms: int) -> str:
        for route in o.routes:
            self.ws_down_until_ms[route] = now_ms + int(o.seconds * 1000)
        return f"ws_outage {','.join(o.routes)} {o.seconds:g}s"

    def ws_down(self, route: str, now_ms: int) -> bool:
        """Is ``route``'s WebSocket service down (the ``ws_outage`` fault)?"""
        return self.ws_down_until_ms.get(route, 0) > now_ms

    def _take(self, name: str) -> Any:
        """Fire the count fault ``name`` once; None when it is not armed."""
        f = getattr(self, name)
        if f is not None:
            f.count -= 1
            if f.count <= 0:
                setattr(self, name, None)
        return f

    def take_order_answer(self) -> Html5xx | NonJson200 | None:
        """The answer that replaces the next REST order request's, if one is armed (HTML first)."""
        return self._take("html_5xx") or self._take("non_json_200")

    def take_late_new(self) -> LateNew | None:
        return self._take("late_new")

    def take_ws_api_429(self) -> WsApi429 | None:
        return self._take("ws_api_429")

    def user_event(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """The user-stream event as sent: None when dropped, with broken numbers when malformed."""
        d = self.drop_user_event
        if (
            d is not None
            and payload.get("e") == d.event
            and (not d.execution or payload.get("o", {}).get("x") == d.execution)
        ):
            self._take("drop_user_event")
            return None
        m = self.malformed_user
        if m is not None and payload.get("e") == "ORDER_TRADE_UPDATE":
            self._take("malformed_user")
            o = {k: m.value if k in NUMERIC_ORDER_FIELDS else v for k, v in payload["o"].items()}
            return {**payload, "o": o}
        return payload

    def stalled(self, symbol: str, now_ms: int) -> bool:
        return self.stall_until_ms.get(symbol, 0) > now_ms

    def take_gap(self, symbol: str, stream: str) -> bool:
        """True if this event of ``stream`` must be dropped (each depth stream loses its own)."""
        n = self.gap.get((symbol, stream), 0)
        if n > 0:
            self.gap[(symbol, stream)] = n - 1
            return True
        return False

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]


def html_page(status: int) -> str:
    """The error page a CDN edge sends in place of the API's JSON."""
    title = f"{status} {_REASONS[status]}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>CloudFront</center>\r\n</body>\r\n</html>\r\n"
    )


def non_json_body(real: str | None) -> str:
    """A 200 body that is not JSON: the real answer cut in half (never valid: its closing bracket
    is gone), or ``OK`` when the request was not carried out."""
    return real[: max(1, len(real) // 2)] if real else "OK"
