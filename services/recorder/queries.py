"""``Query(kind, filters, limit)``: what each kind reads, which filters it takes, how rows come back.

Every kind answers the newest ``limit`` rows matching its filters, oldest first, as plain dicts
(``json`` columns decoded, raw event bodies decoded to their message). Filters are strings, as
they travel on the bus; a filter a kind does not know, or a value that does not parse, is refused
with a message naming it, never ignored. Every kind takes ``since_ns``, ``until_ns`` and
``session`` (a session id: its start to its end).

Two requests serve a restarting gateway, which must neither publish a fill twice nor skip one:

``fills`` with ``after_trade_id=<int>``
    Fills whose trade id is strictly greater (use it with ``symbol``: trade ids are per symbol),
    as rows of ``fills`` (the newest ``limit``, oldest first: a reply of ``limit`` rows may be cut).
``fill_marks`` (not a table scan; takes only ``symbol``)
    One row per symbol that has fills or a venue watermark, by symbol:
    ``{"symbol": str, "venue_mark": int | None, "max_trade_id": int | None}``. ``venue_mark`` is
    the trade id up to which catch-up has stored every venue trade, ``max_trade_id`` the highest
    stored from any source (see :mod:`services.recorder.marks`). Never cut: more symbols than
    ``limit`` is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from common.codec import MessageCodec
from services.recorder import marks
from services.recorder.schema import TABLE
from services.recorder.store import Cond, Store

MAX_LIMIT = 100_000
OPEN_STATES = ("PendingNew", "New", "PartiallyFilled", "PendingCancel", "PendingModify")
ORDER_STATES = (*OPEN_STATES, "Filled", "Canceled", "Expired", "Rejected")


class QueryError(ValueError):
    """A query the recorder refuses: unknown kind or filter, or a value that does not parse."""


@dataclass(frozen=True)
class Kind:
    """One query kind: its table, its filters (name → column, operator) and its time column."""

    table: str
    filters: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    time: str = "ts_event"
    hide: tuple[str, ...] = ()


_SYM = {"symbol": ("symbol", "=")}
_SIDE = {"side": ("side", "=")}

KINDS: dict[str, Kind] = {
    "events": Kind(
        "events",
        {
            "topic": ("topic", "prefix"),
            "type": ("type", "="),
            "source": ("source", "="),
            "symbol": ("topic", "suffix"),
        },
    ),
    "orders": Kind(
        "orders",
        {
            **_SYM,
            **_SIDE,
            "state": ("state", "="),
            "client_order_id": ("client_order_id", "="),
            "open": ("state", "in"),
        },
    ),
    "order_events": Kind(
        "order_events",
        {
            **_SYM,
            **_SIDE,
            "state": ("state", "="),
            "client_order_id": ("client_order_id", "="),
            "source": ("source", "="),
        },
    ),
    "fills": Kind(
        "fills",
        {
            **_SYM,
            **_SIDE,
            "client_order_id": ("client_order_id", "="),
            "source": ("source", "="),
            "after_trade_id": ("trade_id", ">"),
        },
    ),
    "positions": Kind("positions", {**_SYM, "source": ("source", "=")}),
    "account": Kind(
        "account_snapshots",
        {"asset": ("asset", "="), "account": ("account", "="), "market": ("market", "=")},
    ),
    "targets": Kind("targets", {**_SYM, "origin": ("origin", "="), "mode": ("mode", "=")}),
    "risk_events": Kind("risk_events", {**_SYM, "rule": ("rule", "="), "action": ("action", "=")}),
    "commands": Kind(
        "commands", {"service": ("service", "="), "command": ("command", "="), "ok": ("ok", "=")}
    ),
    "status": Kind("service_status", {"service": ("service", "="), "state": ("state", "=")}),
    "market": Kind("market_samples", _SYM),
    "snapshots": Kind("state_snapshots", {"service": ("service", "=")}, hide=("payload",)),
    "sessions": Kind("sessions", {"session_id": ("session_id", "=")}, time="started_ns"),
}


def _parse_bool(name: str, v: str) -> bool:
    low = v.strip().lower()
    if low in ("1", "true", "yes"):
        return True
    if low in ("0", "false", "no"):
        return False
    raise QueryError(f"filter {name} must be true or false, got {v!r}")


def parse_int(name: str, v: str, what: str = "ns since the epoch") -> int:
    """An integer filter's value (a time unless ``what`` says otherwise), or :class:`QueryError`."""
    try:
        return int(v)
    except ValueError:
        raise QueryError(f"filter {name} must be an integer ({what}), got {v!r}") from None


def _value(name: str, raw: str) -> Any:
    """A filter's value, checked: symbols and sides are upper-cased, booleans and states validated."""
    if name in ("symbol", "side"):
        v = raw.strip().upper()
        if name == "side" and v not in ("BUY", "SELL"):
            raise QueryError(f"filter side must be BUY or SELL, got {raw!r}")
        if name == "symbol" and not v.isalnum():
            raise QueryError(f"filter symbol must be a symbol like ETHUSDC, got {raw!r}")
        return v
    if name == "ok":
        return _parse_bool(name, raw)
    if name == "after_trade_id":
        return parse_int(name, raw, "a trade id")
    if (
        name == "state"
        and raw not in ORDER_STATES
        and raw not in ("starting", "running", "paused", "degraded", "stopping")
    ):
        raise QueryError(f"filter state {raw!r} is not an order or service state")
    return raw


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")


def conditions(
    kind: Kind, filters: Mapping[str, str], session_span: Callable[[str], tuple[int, int]] | None = None
) -> list[Cond]:
    """The store conditions of ``filters`` for ``kind``; raises :class:`QueryError` on any bad one."""
    conds: list[Cond] = []
    for name, raw in filters.items():
        if raw == "":
            continue  # an empty filter means "no filter" (what mmctl sends for unset options)
        if name in ("since_ns", "until_ns"):
            conds.append((kind.time, ">=" if name == "since_ns" else "<=", parse_int(name, raw)))
        elif name == "session":
            if session_span is None:
                raise QueryError("filter session is not available here")
            start, end = session_span(raw)
            conds.append((kind.time, ">=", start))
            if end:
                conds.append((kind.time, "<=", end))
        elif name == "open":
            if _parse_bool(name, raw):
                conds.append(("state", "in", OPEN_STATES))
        elif name in kind.filters:
            col, op = kind.filters[name]
            val = _value(name, raw)
            conds.append((col, op, f".{val}" if op == "suffix" else val))
        else:
            allowed = ", ".join(sorted([*kind.filters, "since_ns", "until_ns", "session"]))
            raise QueryError(f"unknown filter {name!r} for {kind.table}; known: {allowed}")
    return conds


class Queries:
    """Runs queries against a store (on a reader thread) and renders the rows."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._codec = MessageCodec()

    def session_span(self, session_id: str) -> tuple[int, int]:
        """(start, end) of a stored session; ``end`` is 0 while it is open."""
        rows = self.store.select("sessions", [("session_id", "=", session_id)], limit=1, order="started_ns")
        if not rows:
            raise QueryError(f"no session {session_id!r}")
        return int(rows[0]["started_ns"]), int(rows[0]["ended_ns"])

    def run(self, kind_name: str, filters: Mapping[str, str], limit: int) -> list[dict[str, Any]]:
        """Rows of ``kind_name`` matching ``filters``: the newest ``limit``, oldest first."""
        if kind_name == "fill_marks":
            return self.fill_marks(filters, limit)
        kind = KINDS.get(kind_name)
        if kind is None:
            known = ", ".join(sorted([*KINDS, "fill_marks", "report", "inspection"]))
            raise QueryError(f"unknown query kind {kind_name!r}; known: {known}")
        _check_limit(limit)
        conds = conditions(kind, filters, self.session_span)
        table = TABLE[kind.table]
        # No surrogate id in answers: PostgreSQL's identity skips values on conflicts, SQLite's does
        # not, and an answer must not depend on the backend.
        cols = [c for c in table.names if c not in kind.hide]
        rows = self.store.select(kind.table, conds, limit=limit, columns=cols, order=kind.time)
        json_cols = [c for c, k in table.columns if k == "json"]
        for r in rows:
            for c in json_cols:
                r[c] = msgspec.json.decode(r[c])
            if kind.table == "events":
                self._render_event(r)
        return rows

    def fill_marks(self, filters: Mapping[str, str], limit: int) -> list[dict[str, Any]]:
        """Per symbol, the venue watermark and the highest stored trade id (see the module doc)."""
        _check_limit(limit)
        symbol = ""
        for name, raw in filters.items():
            if raw == "":
                continue
            if name != "symbol":
                raise QueryError(f"unknown filter {name!r} for fill_marks; known: symbol")
            symbol = _value(name, raw)
        rows = marks.fill_marks(self.store, symbol)
        if len(rows) > limit:
            # A cut list would read as symbols without fills: refuse it.
            raise QueryError(f"fill_marks has {len(rows)} symbols, more than limit {limit}")
        return rows

    def _render_event(self, r: dict[str, Any]) -> None:
        payload = r.pop("payload")
        try:
            r["msg"] = msgspec.to_builtins(self._codec.decode_body(payload))
        except ValueError as exc:
            r["msg"] = {"undecodable": str(exc)}
