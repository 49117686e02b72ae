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
from common.messages import AnyCommand, CancelAll, Flatten, GetSnapshot, Kill, Pause, ReloadConfig, Resume

# Who must act on each command.
TARGETS: dict[str, tuple[str, ...]] = {
    "kill": ("risk", "gateway", "strategy"),
    "pause": ("risk", "strategy"),
    "resume": ("risk", "strategy", "gateway"),
    "cancel-all": ("gateway",),
    "flatten": ("gateway",),
    "reload": ("strategy", "risk", "marketdata", "gateway"),
}


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
    """Engage the kill at ``targets`` (the gateway among them), then wait up to ``wait_s`` for the
    gateway's confirmation."""
    deadline = time.monotonic() + wait_s
    acks = await broadcast(client, cmd, targets, ack_timeout_s)
    gw = next((a for a in acks if a["service"] == "gateway"), None)
    if gw is None or not gw["ok"] or not isinstance(gw.get("result"), dict):
        return KillOutcome(acks)
    report: dict[str, Any] = gw["result"]
    while not report.get("done") and time.monotonic() < deadline:
        if on_report is not None:
            on_report(report)
        await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        try:
            report = await client("gateway").call(GetSnapshot(what="kill"), ack_timeout_s)
        except (RequestTimeout, RequestRefused) as exc:
            report = {**report, "why": f"gateway did not answer the kill report: {exc}"}
    if not report.get("done"):
        return KillOutcome(acks, report, KILL_NOT_CONFIRMED)
    return KillOutcome(acks, report, KILL_DONE if all(a["ok"] for a in acks) else KILL_PARTIAL_ACK)
