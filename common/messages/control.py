"""Service liveness and operator commands with their replies.

Commands are VerbNoun and travel over REQ/REP inside a :class:`Request` with an id and a
deadline; every reply says ``ok`` or carries an ``error``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import msgspec

from common.messages.base import Message

ServiceStateName = Literal["starting", "running", "paused", "degraded", "stopping"]


class Heartbeat(Message, frozen=True, kw_only=True):
    """Liveness on ``sys.heartbeat.<service>``, once per configured interval."""

    service: str
    pid: int
    version: str
    started_ns: int
    state: ServiceStateName = "running"
    detail: dict[str, str] = msgspec.field(default_factory=dict)


class ServiceStatus(Message, frozen=True, kw_only=True):
    """A change of a service's state, on ``sys.status.<service>``."""

    service: str
    state: ServiceStateName
    reason: str = ""


class CommandAudit(Message, frozen=True, kw_only=True):
    """Every command a service received and what it answered, on ``sys.command.<service>``."""

    service: str
    request_id: str
    sender: str
    command: str
    ok: bool
    error: str = ""
    args: dict[str, str] = msgspec.field(default_factory=dict)


class StateSnapshot(Message, frozen=True, kw_only=True):
    """A service's resumable state (``state.<service>``), stored by the recorder for crash recovery."""

    service: str
    payload: bytes


# ---- commands ---------------------------------------------------------------------------------


class Command(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Base of every command."""


class Kill(Command, frozen=True, kw_only=True):
    """Kill switch: stop quoting everywhere, cancel every order, optionally flatten."""

    reason: str = "operator"
    flatten: bool = False


class Pause(Command, frozen=True, kw_only=True):
    """Stop quoting (one symbol or all) until Resume; resting orders are canceled."""

    symbol: str = ""
    reason: str = "operator"


class Resume(Command, frozen=True, kw_only=True):
    """Lift a Pause, a halt whose cool-down has passed, or a Kill (operator only)."""

    symbol: str = ""
    reason: str = "operator"


class CancelAll(Command, frozen=True, kw_only=True):
    """Cancel every open order (one symbol or all)."""

    symbol: str = ""
    reason: str = "operator"


class Flatten(Command, frozen=True, kw_only=True):
    """Close the position with reduce-only orders: maker first, then taker within a slippage bound."""

    symbol: str = ""
    reason: str = "operator"
    max_slippage_pct: float = 0.003
    maker_wait_s: float = 2.0


class ReducePosition(Command, frozen=True, kw_only=True):
    """Reduce one symbol's position by ``qty`` (exact); ``mode`` maker, taker or maker_first_then_taker."""

    symbol: str
    qty: Decimal
    mode: Literal["maker", "taker", "maker_first_then_taker"] = "maker_first_then_taker"
    max_slippage_pct: float = 0.003
    maker_wait_s: float = 2.0
    reason: str = ""


class ReloadConfig(Command, frozen=True, kw_only=True):
    """Re-read the config files; a bad value is refused and the old set kept. ``reason`` says
    why (who edited which parameter), for the audit record."""

    reason: str = ""


class Shutdown(Command, frozen=True, kw_only=True):
    """Stop the service gracefully (the same path as SIGTERM)."""

    reason: str = "operator"


class GetStatus(Command, frozen=True, kw_only=True):
    """Ask a service for its status (state, version, uptime, details)."""


class GetSnapshot(Command, frozen=True, kw_only=True):
    """Ask for a snapshot to rebuild from: ``what`` names it (e.g. "oms", "book", "risk")."""

    what: str = ""
    symbol: str = ""


class Query(Command, frozen=True, kw_only=True):
    """A read-only query to the recorder: ``kind`` is events, orders, fills, ... with filters."""

    kind: str
    filters: dict[str, str] = msgspec.field(default_factory=dict)
    limit: int = 1000


class SessionTimer(Command, frozen=True, kw_only=True):
    """A timed session at the recorder (seed 001 §9): ``start`` one of ``duration_s`` (cancel,
    optionally flatten, snapshot and report at its end), ``stop`` it now, or ask its ``status``."""

    action: Literal["start", "stop", "status"]
    duration_s: float = 0.0
    flatten: bool = False


AnyCommand = (
    Kill
    | Pause
    | Resume
    | CancelAll
    | Flatten
    | ReducePosition
    | ReloadConfig
    | Shutdown
    | GetStatus
    | GetSnapshot
    | Query
    | SessionTimer
)


class Request(msgspec.Struct, frozen=True, kw_only=True):
    """A command with its id, sender, absolute deadline (ns) and the service it is for.

    ``target`` sits under the request's HMAC, so a signed request is good for one service only
    ("" from clients older than the field; a server with a bus secret refuses those).
    """

    id: str
    sender: str
    deadline_ns: int
    cmd: AnyCommand
    pv: int = 1
    target: str = ""


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """Every reply says ok, or carries an error; ``result`` is plain data (maps, lists, scalars)."""

    id: str
    ok: bool
    error: str = ""
    service: str = ""
    result: Any = None
