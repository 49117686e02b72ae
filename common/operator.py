"""Operator commands shared by ``mmctl`` and the web console: who must act, and the fan-out.

A command goes to every service that must act on it, at once, and each one's acknowledgement
is collected; the caller reports a missing or negative acknowledgement as a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from common.bus import CommandClient, RequestTimeout
from common.messages import AnyCommand, CancelAll, Flatten, Kill, Pause, ReloadConfig, Resume

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
