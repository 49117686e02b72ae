"""The report's PNG charts, drawn with matplotlib's object API (no pyplot state, no display).

One function per chart; each writes its file even when the window holds no data for it (the chart
then says so), so a report always has the same set of files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from common.messages.report import ReportData, Series

SIZE = (10, 4.2)


def _times(ts: list[float]) -> npt.NDArray[np.datetime64]:
    """Seconds since the epoch (UTC) as datetimes matplotlib puts on a time axis."""
    return (np.asarray(ts, dtype=np.float64) * 1e9).astype("datetime64[ns]")


def _empty(ax: Axes, what: str) -> None:
    ax.text(
        0.5, 0.5, f"no {what} in this window", ha="center", va="center", transform=ax.transAxes, color="grey"
    )


def _finish(ax: Axes, drew: bool, what: str, zero_line: bool = False) -> None:
    """A legend over what was drawn, or the "no ... in this window" note when nothing was."""
    if not drew:
        _empty(ax, what)
        return
    if zero_line:
        ax.axhline(0, color="black", linewidth=0.6)
    ax.legend(fontsize=8)


def _steps(ax: Axes, series: dict[str, Series], label: str = "{}", end: float | None = None) -> bool:
    drew = False
    for sym, s in sorted(series.items()):
        if s.t:
            t, v = list(s.t), list(s.v)
            if end is not None and end > t[-1]:
                t.append(end)
                v.append(v[-1])
            ax.step(_times(t), v, where="post", label=label.format(sym), linewidth=1.1)
            drew = True
    return drew


def _save(fig: Figure, out: Path, name: str) -> str:
    fig.tight_layout()
    file = f"{name}.png"
    fig.savefig(out / file, dpi=100)
    return file


def _frame(title: str, ylabel: str, rows: int = 1) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(SIZE[0], SIZE[1] * rows))
    axes = [fig.add_subplot(rows, 1, i + 1) for i in range(rows)]
    axes[0].set_title(title)
    for ax in axes:
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("time (UTC)")
    return fig, axes


def pnl(data: ReportData, out: Path) -> str:
    """Realized (after fees) and unrealized PnL per symbol."""
    fig, (ax,) = _frame("PnL", "quote asset")
    end = data.until_ns / 1e9
    drew = _steps(ax, data.realized, "{} realized (after fees)", end)
    drew = _steps(ax, data.unrealized, "{} unrealized", end) or drew
    _finish(ax, drew, "fills or positions")
    return _save(fig, out, "pnl")


def inventory(data: ReportData, out: Path) -> str:
    """Position per symbol."""
    fig, (ax,) = _frame("Inventory", "position (base asset)")
    _finish(ax, _steps(ax, data.inventory, "{}", data.until_ns / 1e9), "positions", zero_line=True)
    return _save(fig, out, "inventory")


def spread(data: ReportData, out: Path) -> str:
    """Quoted (approved targets) and market spread; spread captured per fill."""
    fig, (top, bottom) = _frame("Quoted vs market spread", "bps", rows=2)
    drew = _steps(top, data.quoted_spread, "{} quoted (approved)", data.until_ns / 1e9)
    for sym, s in sorted(data.market_spread.items()):
        if s.t:
            top.plot(_times(s.t), s.v, linewidth=0.6, alpha=0.6, label=f"{sym} market")
            drew = True
    _finish(top, drew, "targets or market samples")
    bottom.set_title("Spread captured per fill (vs mid)")
    any_fill = False
    for sym, s in sorted(data.captured.items()):
        if s.t:
            bottom.scatter(_times(s.t), s.v, s=6, label=sym)
            any_fill = True
    _finish(bottom, any_fill, "fills with a market mid", zero_line=True)
    return _save(fig, out, "spread")


def _per_minute(ax: Axes, data: ReportData, keys: list[str]) -> bool:
    t = _times(data.minutes)
    drew = False
    for k in keys:
        vals = data.per_minute.get(k, [])
        if any(vals):
            ax.plot(t, vals, label=k.replace("_", " "), linewidth=1.0, drawstyle="steps-post")
            drew = True
    return drew


def activity(data: ReportData, out: Path) -> str:
    """Orders, cancels and fills per minute."""
    fig, (ax,) = _frame("Activity per minute", "count / minute")
    _finish(ax, _per_minute(ax, data, ["orders", "cancels", "fills"]), "orders or fills")
    return _save(fig, out, "activity")


def latency(data: ReportData, out: Path) -> str:
    """Histogram of order-path latency with p50 and p99."""
    fig, (ax,) = _frame("Order-path latency (PendingNew → New)", "orders")
    ax.set_xlabel("milliseconds")
    if data.latency_ms:
        ax.hist(data.latency_ms, bins=60, color="tab:blue", alpha=0.8)
        for q, style in (("p50", "--"), ("p99", ":")):
            ax.axvline(data.latency[q], color="black", linestyle=style, label=f"{q} {data.latency[q]:.2f} ms")
    _finish(ax, bool(data.latency_ms), "PendingNew → New pairs")
    return _save(fig, out, "latency")


def errors(data: ReportData, out: Path) -> str:
    """Failed commands, rejected orders, degraded statuses and OMS events per minute."""
    fig, (ax,) = _frame("Errors per minute (seen on the bus)", "count / minute")
    drew = _per_minute(ax, data, ["command_errors", "rejects", "degraded", "oms_events"])
    _finish(ax, drew, "errors")
    return _save(fig, out, "errors")


def risk(data: ReportData, out: Path) -> str:
    """Risk events over time, one row per rule."""
    fig, (ax,) = _frame("Risk events", "rule")
    rules = sorted(data.risk_rules)
    if rules:
        for i, rule in enumerate(rules):
            ts = [e["ts_event"] / 1e9 for e in data.risk_events if e["rule"] == rule]
            ax.scatter(_times(ts), [i] * len(ts), s=14, label=rule)
        ax.set_yticks(range(len(rules)), rules)
    else:
        _empty(ax, "risk events")
    return _save(fig, out, "risk")


CHARTS: dict[str, Callable[[ReportData, Path], str]] = {
    "pnl": pnl,
    "inventory": inventory,
    "spread": spread,
    "activity": activity,
    "latency": latency,
    "errors": errors,
    "risk": risk,
}


def draw_all(data: ReportData, out: Path) -> dict[str, str]:
    """Every chart into ``out``; returns chart name → file name."""
    return {name: draw(data, out) for name, draw in CHARTS.items()}
