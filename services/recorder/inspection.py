"""The daily inspection (seed 004 V1.5): a short health report of the last day, from the store.

What an operator reads over coffee: the day's KPIs (fills, traded notional, net PnL, cancels,
orders the venue rejected and those held back), errors and rejects by reason, risk events by rule,
configuration changes (reload commands and their outcome), degraded statuses by service, the
slowest order paths (PendingNew to New), and disk use of the store, the lake and the logs with the
free space left. The recorder writes it once a day (``[recorder] inspection_at_utc``) beside the
session reports as ``inspection-YYYY-MM-DD.md``; ``mmctl report --inspection`` writes one now.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from services.recorder.report import build, order_paths
from services.recorder.store import Store

DAY_NS = 86_400 * 1_000_000_000
SLOWEST = 5


@dataclass
class Inspection:
    since_ns: int
    until_ns: int
    totals: dict[str, str] = field(default_factory=dict)
    rejects: list[tuple[str, int]] = field(default_factory=list)
    command_errors: list[tuple[str, int]] = field(default_factory=list)
    risk_events: list[tuple[str, int]] = field(default_factory=list)
    reloads: list[tuple[int, str, bool, str]] = field(default_factory=list)
    degraded: list[tuple[str, int]] = field(default_factory=list)
    slowest: list[tuple[float, str, str]] = field(default_factory=list)
    disk: list[tuple[str, int]] = field(default_factory=list)
    disk_free: int = 0


def inspect(store: Store, until_ns: int, paths: dict[str, Path], day_ns: int = DAY_NS) -> Inspection:
    """The inspection of the day ending at ``until_ns``; ``paths`` names what to measure on disk."""
    since = until_ns - day_ns
    out = Inspection(since, until_ns)
    window = [("ts_event", ">=", since), ("ts_event", "<=", until_ns)]
    out.totals = build(store, since, until_ns).totals
    rejected = store.select(
        "order_events", [*window, ("state", "=", "Rejected")], columns=["error_code", "reason"]
    )
    out.rejects = Counter(
        f"{r['error_code']} {r['reason']}" if r["error_code"] else f"held back: {r['reason']}"
        for r in rejected
    ).most_common()
    cmds = store.select("commands", window, columns=["ts_event", "service", "command", "ok", "error"])
    out.command_errors = Counter(
        f"{c['service']} {c['command']}: {c['error'][:80]}" for c in cmds if not c["ok"]
    ).most_common()
    out.reloads = [
        (c["ts_event"], c["service"], bool(c["ok"]), c["error"])
        for c in cmds
        if c["command"] == "ReloadConfig"
    ]
    events = store.select("risk_events", window, columns=["rule", "action"])
    out.risk_events = Counter(f"{e['rule']}.{e['action']}" for e in events).most_common()
    status = store.select("service_status", [*window, ("state", "=", "degraded")], columns=["service"])
    out.degraded = Counter(s["service"] for s in status).most_common()
    out.slowest = _slowest(store.select(
        "order_events", [*window, ("state", "in", ["PendingNew", "New"])],
        columns=["ts_event", "symbol", "client_order_id", "state"],
    ))  # fmt: skip
    out.disk = [(name, _size(p)) for name, p in paths.items()]
    existing = next((p for p in paths.values() if p.exists()), None)
    out.disk_free = shutil.disk_usage(existing if existing else "/").free
    return out


def _slowest(events: list[dict[str, object]]) -> list[tuple[float, str, str]]:
    paths = [(ns / 1e6, sym, cid) for ns, sym, cid in order_paths(events)]
    return sorted(paths, reverse=True)[:SLOWEST]


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return 0


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def markdown(ins: Inspection) -> str:
    day = time.strftime("%Y-%m-%d %H:%M", time.gmtime(ins.until_ns / 1e9))
    t = ins.totals
    lines = [
        f"# Daily inspection, the 24 h to {day} UTC",
        "",
        "| KPI | value |",
        "|---|---|",
        f"| Fills | {t.get('fills', '0')} |",
        f"| Traded notional | {t.get('notional', '0')} |",
        f"| Net PnL (realized, after fees) | {t.get('net_pnl', '0')} |",
        f"| Orders placed | {t.get('orders', '0')} |",
        f"| Cancels | {t.get('cancels', '0')} |",
        f"| Orders the venue rejected | {t.get('rejects', '0')} |",
        f"| Orders held back, never sent | {t.get('held_back', '0')} |",
        f"| Risk events | {t.get('risk_events', '0')} |",
        "",
    ]
    lines += _section("Rejects by reason", ins.rejects)
    lines += _section("Failed commands", ins.command_errors)
    lines += _section("Risk events by rule", ins.risk_events)
    lines += _section("Degraded statuses by service", ins.degraded)
    lines += ["## Configuration changes", ""]
    if ins.reloads:
        for ts, svc, ok, err in ins.reloads:
            when = time.strftime("%H:%M:%S", time.gmtime(ts / 1e9))
            lines.append(f"- {when} {svc}: {'applied' if ok else 'refused: ' + err}")
    else:
        lines.append("none")
    lines += ["", "## Slowest order paths (PendingNew to New)", ""]
    if ins.slowest:
        lines += [f"- {ms:,.2f} ms {sym} {cid}" for ms, sym, cid in ins.slowest]
    else:
        lines.append("none")
    lines += ["", "## Disk", ""]
    lines += [f"- {name}: {_mb(n)}" for name, n in ins.disk]
    lines += [f"- free: {_mb(ins.disk_free)}", ""]
    return "\n".join(lines)


def _section(title: str, rows: list[tuple[str, int]]) -> list[str]:
    return [f"## {title}", "", *([f"- {n} × {what}" for what, n in rows] or ["none"]), ""]


def write(ins: Inspection, out_dir: Path) -> Path:
    """``inspection-YYYY-MM-DD.md`` (the day it ends) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"inspection-{time.strftime('%Y-%m-%d', time.gmtime(ins.until_ns / 1e9))}.md"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(markdown(ins))
    tmp.replace(path)
    return path


def summary(ins: Inspection, path: Path) -> str:
    """The inspection in a few lines, for the alert channels (the full report is at ``path``)."""
    t = ins.totals
    day = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ins.until_ns / 1e9))

    def top(rows: list[tuple[str, int]]) -> str:
        return ", ".join(f"{k} x{n}" for k, n in rows[:3]) or "none"

    lines = [
        f"[P2] daily inspection to {day}: net PnL {t.get('net_pnl', '0')}, fills {t.get('fills', '0')}, "
        f"orders {t.get('orders', '0')}",
        f"rejects: {top(ins.rejects)}; risk events: {top(ins.risk_events)}",
        f"command errors: {sum(n for _, n in ins.command_errors)}; degraded: {top(ins.degraded)}; "
        f"config reloads: {len(ins.reloads)}; disk free {_mb(ins.disk_free)}",
        f"report: {path}",
    ]
    return "\n".join(lines)
