"""Operator commands shared by ``mmctl`` and the web console: who must act, and the fan-out.

A command goes to every service that must act on it, at once, and each one's acknowledgement
is collected; the caller reports a missing or negative acknowledgement as a failure.

The kill switch has a contract of its own (:func:`kill`): it is acknowledged once engaged, but it
is ``done`` only when the gateway reports that the venue confirmed zero open orders (and zero
positions, with flatten). Until then the gateway's report is polled, and the outcome says what is
still open and why. Exit codes of ``mmctl kill`` (:data:`KILL_EXIT`) follow from it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common.bus import CommandClient, RequestRefused, RequestTimeout
from common.config import Settings
from common.messages import (
    AnyCommand,
    CancelAll,
    Flatten,
    GetSnapshot,
    Kill,
    Pause,
    ReloadConfig,
    Reply,
    Resume,
)
from common.topics import role

# Who must act on each command.
TARGETS: dict[str, tuple[str, ...]] = {
    "kill": ("risk", "gateway", "strategy"),
    "pause": ("risk", "strategy"),
    "resume": ("risk", "strategy", "gateway"),
    "cancel-all": ("gateway",),
    "flatten": ("gateway",),
    "reload": ("strategy", "risk", "marketdata", "gateway"),
}


def route(settings: Settings, targets: tuple[str, ...] | list[str], symbol: str = "") -> tuple[str, ...]:
    """``targets`` with ``gateway`` standing for every account's gateway instance, or for the one
    trading ``symbol`` when a command is about one symbol."""
    out: list[str] = []
    for t in targets:
        if t == "gateway":
            out += [settings.gateway_of(symbol)] if symbol else settings.all_gateways
        else:
            out.append(t)
    return tuple(out)


def build(name: str, symbol: str = "", reason: str = "operator", flatten: bool = False) -> AnyCommand:
    """The command for an operator verb; ValueError for an unknown verb."""
    match name:
        case "kill":
            return Kill(reason=reason, flatten=flatten)
        case "pause":
            return Pause(symbol=symbol, reason=reason)
        case "resume":
            return Resume(symbol=symbol, reason=reason)
        case "cancel-all":
            return CancelAll(symbol=symbol, reason=reason)
        case "flatten":
            return Flatten(symbol=symbol, reason=reason)
        case "reload":
            return ReloadConfig()
    raise ValueError(f"unknown operator command {name!r}")


async def broadcast(
    client: Callable[[str], CommandClient],
    cmd: AnyCommand,
    targets: tuple[str, ...],
    timeout_s: float | None = None,
) -> list[dict[str, Any]]:
    """Send ``cmd`` to every target at once; one row per target with ``ok`` and ``error``."""

    async def one(service: str) -> dict[str, Any]:
        try:
            reply = await client(service).request(cmd, timeout_s)
        except RequestTimeout as exc:
            return {"service": service, "ok": False, "error": f"no acknowledgement: {exc}"}
        except RequestRefused as exc:  # a reply that could not be trusted: the outcome is unknown
            return {"service": service, "ok": False, "error": f"untrusted reply: {exc}"}
        return {"service": service, "ok": reply.ok, "error": reply.error, "result": reply.result}

    return list(await asyncio.gather(*(one(s) for s in targets)))


KILL_DONE = 0
KILL_NOT_CONFIRMED = 3
KILL_GATEWAY_UNREACHED = 4
KILL_PARTIAL_ACK = 5
KILL_EXIT: dict[int, str] = {
    KILL_DONE: "the venue confirmed zero open orders (and zero positions with --flatten); every service "
    "acknowledged",
    KILL_NOT_CONFIRMED: "the kill is engaged and saved, but the venue has not confirmed zero within the "
    "wait: what may still be open is listed; the gateway keeps trying",
    KILL_GATEWAY_UNREACHED: "the gateway did not acknowledge the kill: nothing is known of the venue "
    "(send SIGUSR1 to the gateway; the venue's dead-man's switch cancels within deadman_ms)",
    KILL_PARTIAL_ACK: "the venue confirmed zero, but another service (risk, strategy) did not acknowledge",
}


@dataclass
class KillOutcome:
    """Every acknowledgement, the gateway's last kill report, and the exit code it means."""

    acks: list[dict[str, Any]]
    report: dict[str, Any] = field(default_factory=dict)
    code: int = KILL_GATEWAY_UNREACHED

    @property
    def done(self) -> bool:
        return self.code == KILL_DONE


async def kill(
    client: Callable[[str], CommandClient],
    cmd: Kill,
    wait_s: float,
    ack_timeout_s: float = 5.0,
    on_report: Callable[[dict[str, Any]], None] | None = None,
    targets: tuple[str, ...] = TARGETS["kill"],
) -> KillOutcome:
    """Engage the kill at ``targets`` (every account's gateway among them: :func:`route`), then wait
    up to ``wait_s`` for each gateway's confirmation."""
    deadline = time.monotonic() + wait_s
    acks = await broadcast(client, cmd, targets, ack_timeout_s)
    gws = [a for a in acks if role(a["service"]) == "gateway"]
    if not gws or not all(a["ok"] and isinstance(a.get("result"), dict) for a in gws):
        return KillOutcome(acks)
    reports: dict[str, dict[str, Any]] = {a["service"]: a["result"] for a in gws}
    while not all(r.get("done") for r in reports.values()) and time.monotonic() < deadline:
        if on_report is not None:
            on_report(merge_reports(reports))
        await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        for name, rep in list(reports.items()):
            if rep.get("done"):
                continue
            try:
                reports[name] = await client(name).call(GetSnapshot(what="kill"), ack_timeout_s)
            except (RequestTimeout, RequestRefused) as exc:
                reports[name] = {**rep, "why": f"{name} did not answer the kill report: {exc}"}
    report = merge_reports(reports)
    if not report.get("done"):
        return KillOutcome(acks, report, KILL_NOT_CONFIRMED)
    return KillOutcome(acks, report, KILL_DONE if all(a["ok"] for a in acks) else KILL_PARTIAL_ACK)


def merge_reports(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One kill report from each gateway instance's: done when every one is, what is open anywhere
    (symbols are never in two accounts), each one's report under ``gateways``."""
    if len(reports) == 1:
        return next(iter(reports.values()))
    rows = list(reports.values())
    whys = [f"{name}: {r['why']}" for name, r in reports.items() if r.get("why")]
    return {
        "done": all(r.get("done") for r in rows),
        "flatten": any(r.get("flatten") for r in rows),
        "attempts": max((r.get("attempts") or 0) for r in rows),
        "open": {s: ids for r in rows for s, ids in (r.get("open") or {}).items()},
        "positions": {s: q for r in rows for s, q in (r.get("positions") or {}).items()},
        "why": "; ".join(whys),
        "gateways": reports,
    }


async def marketdata_snapshot(
    client: Callable[[str], CommandClient], services: list[str], timeout_s: float
) -> dict[str, Any]:
    """Every market data instance's symbols (``GetSnapshot(what="all")``: futures and spot) as one
    mapping, symbol -> its row. Raises as :func:`gateway_snapshot` when one does not answer."""
    snaps = await asyncio.gather(*(client(s).call(GetSnapshot(what="all"), timeout_s) for s in services))
    out: dict[str, Any] = {}
    for name, snap in zip(services, snaps, strict=True):
        if not isinstance(snap, dict):
            why = f"{name} answered its snapshot with {type(snap).__name__}, not an object"
            raise RequestRefused(Reply(id="", ok=False, service=name, error=why))
        out.update(snap)
    return out


async def gateway_snapshot(
    client: Callable[[str], CommandClient], gateways: list[str], timeout_s: float
) -> dict[str, Any]:
    """Every account's OMS snapshot (``GetSnapshot(what="oms")``) as one: orders, positions and
    fills of every gateway instance, each one's account balances under ``accounts``, killed if any
    is. Raises :class:`RequestTimeout` / :class:`RequestRefused` when one does not answer (a rebuild
    from some accounts only would take the others' positions for flat)."""
    snaps = await asyncio.gather(*(client(g).call(GetSnapshot(what="oms"), timeout_s) for g in gateways))
    if len(snaps) == 1 and isinstance(snaps[0], dict):
        one = snaps[0]
        return {**one, "accounts": [one["account"]] if one.get("account") else []}
    out: dict[str, Any] = {"orders": [], "positions": [], "fills": [], "held": {}, "accounts": []}
    reasons = []
    for name, snap in zip(gateways, snaps, strict=True):
        if not isinstance(snap, dict):
            why = f"{name} answered its OMS snapshot with {type(snap).__name__}, not an object"
            raise RequestRefused(Reply(id="", ok=False, service=name, error=why))
        for key in ("orders", "positions", "fills"):
            out[key] += snap.get(key) or []
        out["held"].update(snap.get("held") or {})
        if snap.get("account"):
            out["accounts"].append(snap["account"])
        if snap.get("killed"):
            reasons.append(f"{name}: {snap.get('kill_reason', '')}")
    out["killed"] = bool(reasons)
    out["kill_reason"] = "; ".join(reasons)
    return out
