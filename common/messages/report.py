"""The session report's data (``Query(kind="report")``'s reply): what the recorder computes from
its store and ``mmctl report`` or the recorder draws (:mod:`common.report`)."""

from __future__ import annotations

from typing import Any

import msgspec


class Series(msgspec.Struct, frozen=True):
    """A time series: ``t`` in seconds since the epoch (UTC), ``v`` the values."""

    t: list[float] = msgspec.field(default_factory=list)
    v: list[float] = msgspec.field(default_factory=list)


class SymbolFigures(msgspec.Struct, frozen=True):
    """One symbol's totals over the window; exact figures as decimal text."""

    symbol: str
    fills: int
    buys: int
    sells: int
    maker_fills: int
    volume: str
    notional: str
    realized_pnl: str
    fees: str
    net_pnl: str
    position: str
    unrealized_pnl: str
    orders: int
    cancels: int
    rejects: int
    held_back: int = 0
    quoted_spread_bps: float = 0.0
    captured_bps: float = 0.0
    markouts_bps: dict[str, float] = msgspec.field(default_factory=dict)
    """Size-weighted markouts of the fills (:mod:`common.markouts`) by horizon ("1s", "5s", "30s"),
    against the recorded market samples' mid; a horizon no fill reaches is absent."""


class ReportData(msgspec.Struct, kw_only=True):
    """Everything a report shows, computed from the store."""

    since_ns: int
    until_ns: int
    generated_ns: int
    session: dict[str, Any] | None = None
    symbols: list[SymbolFigures] = msgspec.field(default_factory=list)
    totals: dict[str, str] = msgspec.field(default_factory=dict)
    fees_by_asset: dict[str, str] = msgspec.field(default_factory=dict)
    realized: dict[str, Series] = msgspec.field(default_factory=dict)
    unrealized: dict[str, Series] = msgspec.field(default_factory=dict)
    inventory: dict[str, Series] = msgspec.field(default_factory=dict)
    quoted_spread: dict[str, Series] = msgspec.field(default_factory=dict)
    market_spread: dict[str, Series] = msgspec.field(default_factory=dict)
    captured: dict[str, Series] = msgspec.field(default_factory=dict)
    minutes: list[float] = msgspec.field(default_factory=list)
    per_minute: dict[str, list[int]] = msgspec.field(default_factory=dict)
    latency_ms: list[float] = msgspec.field(default_factory=list)
    latency: dict[str, float] = msgspec.field(default_factory=dict)
    risk_events: list[dict[str, Any]] = msgspec.field(default_factory=list)
    risk_rules: dict[str, int] = msgspec.field(default_factory=dict)
    command_errors: list[dict[str, Any]] = msgspec.field(default_factory=list)
    degraded: list[dict[str, Any]] = msgspec.field(default_factory=list)
    notes: list[str] = msgspec.field(default_factory=list)
    band: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)
    """Per passive-band symbol, seed 003's five KPIs over the window (from the strategy's snapshots)."""
