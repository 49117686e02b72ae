"""What every mmctl command needs: settings, a ZeroMQ context, command clients, output helpers."""

from __future__ import annotations

import argparse
import math
import os
import socket
import sys
from typing import Any

import msgspec
import zmq
import zmq.asyncio

from common import transport
from common.bus import CommandClient
from common.config import Settings


class Ctl:
    """Shared state of one mmctl invocation."""

    def __init__(self, settings: Settings, timeout_s: float) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        settings.curve_keys("mmctl")  # over tcp: ConfigError naming missing key variables, before a socket
        self.ctx = zmq.asyncio.Context()
        self.sync_ctx: zmq.Context[Any] = zmq.Context.shadow(self.ctx.underlying)
        # Over tcp every socket of this context (commands, tap, status) is a CURVE client.
        self._security = transport.secure_for(self.ctx, settings, "mmctl")
        self.sender = f"mmctl@{socket.gethostname()}:{os.getpid()}"
        self._secret = settings.bus_secret.get_secret_value().encode() if settings.bus_secret else None
        self._clients: dict[str, CommandClient] = {}

    def client(self, service: str) -> CommandClient:
        c = self._clients.get(service)
        if c is None:
            c = CommandClient(
                self.ctx,
                self.settings.cmd_endpoint(service),
                self.sender,
                self._secret,
                self.timeout_s,
                target=service,
            )
            self._clients[service] = c
        return c

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        if self._security is not None:
            self._security.close()
        self.ctx.destroy(linger=0)


_json = msgspec.json.Encoder()


def print_json(obj: Any) -> None:
    sys.stdout.write(_json.encode(msgspec.to_builtins(obj)).decode() + "\n")
    sys.stdout.flush()


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90s``, ``10m``, ``4h``, ``2d`` or plain seconds, to seconds; ValueError saying what is
    accepted otherwise."""
    raw = text
    text = text.strip().lower()
    scale = 1
    if text and text[-1] in DURATION_UNITS:
        text, scale = text[:-1], DURATION_UNITS[text[-1]]
    try:
        value = float(text) * scale
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{raw!r} is not a duration: seconds, or a number and s, m, h or d (90s, 10m, 2d)")
    return value


def duration_arg(text: str) -> float:
    """argparse ``type=`` for a duration: a bad one is a usage error (exit 2), never a traceback;
    "" stays 0 (no duration given)."""
    if not text:
        return 0.0
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
