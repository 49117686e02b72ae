"""What a ``POST /_admin/fault`` body may say, checked whole before anything is switched on.

:func:`parse` turns the JSON object into a :class:`FaultSpec` or raises :class:`FaultSpecError`
naming the field and what was expected (``gap: expected an integer count, got object``), so a
drill with a typo fails loudly instead of half-applying. The fault meanings are documented on
:class:`services.venue.faults.Faults`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

USER_EVENTS = ("ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE", "TRADE_LITE")
EXECUTIONS = ("NEW", "CANCELED", "CALCULATED", "EXPIRED", "TRADE", "AMENDMENT")
WS_ROUTES = ("all", "public", "market", "private", "api", "public:one", "market:one")
OUTAGE_ROUTES = ("public", "market", "private", "api")
MARKET_DATA_ROUTES = ("public", "market")


class FaultSpecError(ValueError):
    """A refused fault request; the message names the field and what was expected."""


@dataclass(slots=True)
class Html5xx:
    count: int
    status: int  # 502, 503 or 504
    executed: bool  # carried out before the HTML answer


@dataclass(slots=True)
class NonJson200:
    count: int
    executed: bool


@dataclass(slots=True)
class LateNew:
    count: int
    delay_ms: int
    answer: str  # "503" or "timeout"


@dataclass(slots=True)
class DropUserEvent:
    count: int
    event: str
    execution: str  # ORDER_TRADE_UPDATE ``o.x`` to match; "" matches any


@dataclass(slots=True)
class MalformedUser:
    count: int
    value: str


@dataclass(slots=True)
class Ban418:
    seconds: float
    retry_after: bool
    ip: str  # "" = the caller


@dataclass(slots=True)
class WsApi429:
    count: int
    retry_after_ms: int


@dataclass(slots=True)
class WsOutage:
    seconds: float  # 0 ends an outage of these routes
    routes: tuple[str, ...]


@dataclass(slots=True)
class Shock:
    symbol: str
    pct: float


@dataclass(slots=True)
class FaultSpec:
    """One validated fault request; ``None`` (or empty) = not mentioned."""

    clear: bool = False
    delay_ms: int | None = None
    storm_429_s: float | None = None
    clock_skew_ms: int | None = None
    unknown_503: int | None = None
    reject_1008: int | None = None
    malformed: int | None = None
    symbol: str = ""
    stall_s: float | None = None
    gap: int | None = None
    drop_ws: str = ""
    expire_listen_key: str = ""
    shock: Shock | None = None
    html_5xx: Html5xx | None = None
    non_json_200: NonJson200 | None = None
    late_new: LateNew | None = None
    drop_user_event: DropUserEvent | None = None
    malformed_user: MalformedUser | None = None
    ban_418: Ban418 | None = None
    ws_api_429: WsApi429 | None = None
    ws_outage: WsOutage | None = None


@dataclass(frozen=True, slots=True)
class _Known:
    symbols: Sequence[str]
    accounts: Sequence[str]


# ---- scalar checks --------------------------------------------------------------------------


def _kind(x: Any) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, int | float):
        return "number"
    if isinstance(x, str):
        return "string"
    return "array" if isinstance(x, list) else "object" if isinstance(x, dict) else type(x).__name__


def _fail(path: str, what: str, got: str) -> FaultSpecError:
    return FaultSpecError(f"{path}: expected {what}, got {got}")


def _int(path: str, x: Any, what: str, lo: int | None = None) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise _fail(path, what, _kind(x))
    if lo is not None and x < lo:
        raise _fail(path, what, str(x))
    return x


def _count(path: str, x: Any) -> int:
    return _int(path, x, "an integer count", 0)


def _ms(path: str, x: Any) -> int:
    return _int(path, x, "a whole number of milliseconds, 0 or more", 0)


def _seconds(path: str, x: Any, positive: bool = False) -> float:
    what = "a number of seconds" + (" above 0" if positive else ", 0 or more")
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise _fail(path, what, _kind(x))
    if x < 0 or (positive and x == 0):
        raise _fail(path, what, str(x))
    return float(x)


def _bool(path: str, x: Any) -> bool:
    if not isinstance(x, bool):
        raise _fail(path, "true or false", _kind(x))
    return x


def _choice(path: str, x: Any, options: Sequence[Any]) -> Any:
    if not any(type(x) is type(o) and x == o for o in options):
        shown = ", ".join(json.dumps(o) for o in options)
        got = json.dumps(x) if isinstance(x, str | int | float | bool) else _kind(x)
        raise _fail(path, f"one of {shown}", got)
    return x


def _object(path: str, x: Any, required: Sequence[str], optional: Sequence[str]) -> dict[str, Any]:
    if not isinstance(x, dict):
        raise _fail(path, f"an object with {', '.join([*required, *optional])}", _kind(x))
    for k in x:
        if k not in required and k not in optional:
            raise FaultSpecError(f"{path}: unknown field {k!r}; known: {', '.join([*required, *optional])}")
    for k in required:
        if k not in x:
            raise FaultSpecError(f"{path}: missing field {k!r}")
    return x


# ---- one parser per fault -------------------------------------------------------------------


def _html_5xx(path: str, x: Any, k: _Known) -> Html5xx:
    o = _object(path, x, ("executed",), ("count", "status"))
    return Html5xx(
        _count(f"{path}.count", o.get("count", 1)),
        _choice(f"{path}.status", o.get("status", 502), (502, 503, 504)),
        _bool(f"{path}.executed", o["executed"]),
    )


def _non_json_200(path: str, x: Any, k: _Known) -> NonJson200:
    o = _object(path, x, ("executed",), ("count",))
    return NonJson200(_count(f"{path}.count", o.get("count", 1)), _bool(f"{path}.executed", o["executed"]))


def _late_new(path: str, x: Any, k: _Known) -> LateNew:
    o = _object(path, x, (), ("count", "delay_ms", "answer"))
    return LateNew(
        _count(f"{path}.count", o.get("count", 1)),
        _ms(f"{path}.delay_ms", o.get("delay_ms", 1000)),
        _choice(f"{path}.answer", o.get("answer", "503"), ("503", "timeout")),
    )


def _drop_user_event(path: str, x: Any, k: _Known) -> DropUserEvent:
    o = _object(path, x, ("event",), ("count", "execution"))
    event = _choice(f"{path}.event", o["event"], USER_EVENTS)
    execution = ""
    if "execution" in o:
        if event != "ORDER_TRADE_UPDATE":
            raise FaultSpecError(f"{path}.execution: only with event ORDER_TRADE_UPDATE, not {event}")
        execution = _choice(f"{path}.execution", o["execution"], EXECUTIONS)
    return DropUserEvent(_count(f"{path}.count", o.get("count", 1)), event, execution)


def _malformed_user(path: str, x: Any, k: _Known) -> MalformedUser:
    o = _object(path, x, (), ("count", "value"))
    value = o.get("value", "NaN")
    if not isinstance(value, str):
        raise _fail(f"{path}.value", "a string", _kind(value))
    return MalformedUser(_count(f"{path}.count", o.get("count", 1)), value)


def _ban_418(path: str, x: Any, k: _Known) -> Ban418:
    o = _object(path, x, ("seconds",), ("retry_after", "ip"))
    ip = o.get("ip", "")
    if not isinstance(ip, str) or (not ip and "ip" in o):
        raise _fail(f"{path}.ip", "a non-empty string", _kind(ip) if not isinstance(ip, str) else '""')
    return Ban418(
        _seconds(f"{path}.seconds", o["seconds"], positive=True),
        _bool(f"{path}.retry_after", o.get("retry_after", False)),
        ip,
    )


def _ws_api_429(path: str, x: Any, k: _Known) -> WsApi429:
    o = _object(path, x, (), ("count", "retry_after_ms"))
    return WsApi429(
        _count(f"{path}.count", o.get("count", 1)),
        _ms(f"{path}.retry_after_ms", o.get("retry_after_ms", 1000)),
    )


def _ws_outage(path: str, x: Any, k: _Known) -> WsOutage:
    o = _object(path, x, ("seconds",), ("routes",))
    routes = o.get("routes", list(MARKET_DATA_ROUTES))
    if not isinstance(routes, list) or not routes:
        raise _fail(f"{path}.routes", "a non-empty array of routes", _kind(routes) if routes else "[]")
    for i, r in enumerate(routes):
        _choice(f"{path}.routes[{i}]", r, OUTAGE_ROUTES)
    return WsOutage(_seconds(f"{path}.seconds", o["seconds"]), tuple(dict.fromkeys(routes)))


def _shock(path: str, x: Any, k: _Known) -> Shock:
    o = _object(path, x, ("symbol", "pct"), ())
    pct = o["pct"]
    if isinstance(pct, bool) or not isinstance(pct, int | float):
        raise _fail(f"{path}.pct", "a fraction above -1 (-0.12 = 12 % down)", _kind(pct))
    if pct <= -1:
        raise _fail(f"{path}.pct", "a fraction above -1 (-0.12 = 12 % down)", str(pct))
    return Shock(_choice(f"{path}.symbol", o["symbol"], k.symbols), float(pct))


_PARSERS: dict[str, Callable[[str, Any, _Known], Any]] = {
    "clear": lambda p, x, k: _bool(p, x),
    "delay_ms": lambda p, x, k: _ms(p, x),
    "storm_429_s": lambda p, x, k: _seconds(p, x),
    "clock_skew_ms": lambda p, x, k: _int(p, x, "a whole number of milliseconds"),
    "unknown_503": lambda p, x, k: _count(p, x),
    "reject_1008": lambda p, x, k: _count(p, x),
    "malformed": lambda p, x, k: _count(p, x),
    "symbol": lambda p, x, k: _choice(p, x, k.symbols),
    "stall_s": lambda p, x, k: _seconds(p, x),
    "gap": lambda p, x, k: _count(p, x),
    "drop_ws": lambda p, x, k: _choice(p, x, WS_ROUTES),
    "expire_listen_key": lambda p, x, k: _choice(p, x, k.accounts),
    "shock": _shock,
    "html_5xx": _html_5xx,
    "non_json_200": _non_json_200,
    "late_new": _late_new,
    "drop_user_event": _drop_user_event,
    "malformed_user": _malformed_user,
    "ban_418": _ban_418,
    "ws_api_429": _ws_api_429,
    "ws_outage": _ws_outage,
}
FAULT_NAMES = tuple(_PARSERS)


def parse(raw: Any, symbols: Sequence[str], accounts: Sequence[str]) -> FaultSpec:
    """The whole request checked; raises :class:`FaultSpecError` at the first bad field."""
    if not isinstance(raw, dict):
        raise FaultSpecError(f"body: expected a JSON object, got {_kind(raw)}")
    for name in raw:
        if name not in _PARSERS:
            raise FaultSpecError(f"{name}: unknown fault; known: {', '.join(FAULT_NAMES)}")
    known = _Known(symbols, accounts)
    spec = FaultSpec()
    for name, value in raw.items():
        setattr(spec, name, _PARSERS[name](name, value, known))
    for name in ("stall_s", "gap"):
        if name in raw and not spec.symbol:
            raise FaultSpecError(f'{name}: needs "symbol" (one of {", ".join(symbols)})')
    if spec.symbol and "stall_s" not in raw and "gap" not in raw:
        raise FaultSpecError("symbol: only used with stall_s or gap")
    return spec
