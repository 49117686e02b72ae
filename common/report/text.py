"""The Markdown text of a session report, from :class:`common.messages.report.ReportData`.

Every number printed is a figure of the data as computed from the store, formatted and nothing
more, so a reader can check any of them with ``mmctl fills`` / ``mmctl orders``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from common.messages.report import ReportData

CHART_TITLES = {
    "pnl": "PnL: realized (after fees) and unrealized",
    "inventory": "Inventory (position per symbol)",
    "spread": "Quoted spread, market spread and spread captured",
    "activity": "Fills, orders and cancels per minute",
    "latency": "Order-path latency (PendingNew → New)",
    "errors": "Errors per minute",
    "risk": "Risk events over time",
}

ERRORS_NOTE = (
    "REST and WebSocket error counters (`mm_rest_errors_total`, …) are Prometheus metrics of the "
    "gateway and market data services and do not travel on the bus, so the recorder cannot count "
    "them. This section counts what the bus carries: commands answered with an error "
    "(`CommandAudit.ok = false`), orders the venue rejected (`OrderUpdate` state `Rejected` with "
    "the venue's error code; with none, the gateway held the order back and never sent it), "
    "services reporting themselves degraded (`sys.status`) and what the OMS repaired or refused "
    "(`OmsEvent` on `oms.event`). Read the metrics for REST/WS errors."
)


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _money(s: str) -> str:
    d = Decimal(s)
    return f"{d:,.4f}" if abs(d) < 1_000_000 else f"{d:,.2f}"


def _duration(ns: int) -> str:
    s = ns // 1_000_000_000
    return f"{s // 3600}h {s % 3600 // 60:02d}m {s % 60:02d}s"


def _header(data: ReportData, utc: Callable[[int], str]) -> list[str]:
    sess = data.session or {}
    who = (
        f"`{sess['session_id']}` on {sess.get('host', '?')}, profile {sess.get('profile', '?')}"
        if sess
        else "—"
    )
    return [
        "# Market-making session report",
        "",
        _row("", ""),
        _row("---", "---"),
        _row("Session", who),
        _row(
            "Window",
            f"{utc(data.since_ns)} → {utc(data.until_ns)} ({_duration(data.until_ns - data.since_ns)})",
        ),
        _row("Generated", utc(data.generated_ns)),
        "",
    ]


def _summary(data: ReportData) -> list[str]:
    t = data.totals
    fills = int(t["fills"])
    maker = sum(f.maker_fills for f in data.symbols)
    orders = int(t["orders"])
    lat = data.latency
    cancel_ratio = f" ({int(t['cancels']) / orders:.0%} of orders)" if orders else ""
    return [
        "## Summary",
        "",
        _row("Figure", "Value"),
        _row("---", "---:"),
        _row("Realized PnL after fees", _money(t["net_pnl"])),
        _row("Realized PnL before fees", _money(t["realized_pnl"])),
        _row("Fees (quote asset)", _money(t["fees"])),
        _row("Unrealized PnL (last)", _money(t["unrealized_pnl"])),
        _row("Fills", f"{fills}" + (f" ({maker / fills:.0%} maker)" if fills else "")),
        _row("Traded notional", _money(t["notional"])),
        _row("Orders placed", orders),
        _row("Cancels", f"{t['cancels']}{cancel_ratio}"),
        _row("Orders the venue rejected", t["rejects"]),
        _row("Orders held back, never sent (rate limits)", t.get("held_back", "0")),
        _row(
            "Order-path latency p50 / p90 / p99 / max",
            f"{lat['p50']:.2f} / {lat['p90']:.2f} / {lat['p99']:.2f} / {lat['max']:.2f} ms"
            f" ({int(lat['count'])} orders)",
        ),
        _row("Risk events", t["risk_events"]),
        _row("Failed commands", t["command_errors"]),
        _row("Degraded statuses", t["degraded"]),
        _row("OMS repairs and refusals (OmsEvent)", t["oms_events"]),
        "",
    ]


def _symbols(data: ReportData) -> list[str]:
    head = (
        "Symbol",
        "Fills",
        "Buy/Sell",
        "Volume",
        "Notional",
        "Realized",
        "Fees",
        "Net",
        "Position",
        "Unrealized",
        "Orders",
        "Cancels",
        "Rejects",
        "Quoted spread (bps)",
        "Captured (bps)",
        "Markout 1/5/30 s (bps)",
    )
    lines = ["## Per symbol", "", _row(*head), _row(*(["---"] + ["---:"] * (len(head) - 1)))]
    for f in data.symbols:
        lines.append(
            _row(
                f.symbol,
                f.fills,
                f"{f.buys}/{f.sells}",
                f.volume,
                _money(f.notional),
                _money(f.realized_pnl),
                _money(f.fees),
                _money(f.net_pnl),
                f.position,
                _money(f.unrealized_pnl),
                f.orders,
                f.cancels,
                f.rejects,
                f"{f.quoted_spread_bps:.2f}",
                f"{f.captured_bps:.2f}",
                _markouts(f.markouts_bps),
            )
        )
    if data.fees_by_asset:
        lines += ["", "Fees by asset: " + ", ".join(f"{v} {a}" for a, v in data.fees_by_asset.items())]
    return [*lines, ""]


def _markouts(m: dict[str, float]) -> str:
    return " / ".join(f"{m[h]:.2f}" if h in m else "—" for h in ("1s", "5s", "30s"))


def _charts(charts: dict[str, str]) -> list[str]:
    out: list[str] = []
    for name, title in CHART_TITLES.items():
        if name in charts:
            out += [f"## {title}", "", f"![{title}]({charts[name]})", ""]
        if name == "spread":
            out += [
                "Quoted spread: best ask − best bid of each approved `risk.target` set, relative to its "
                "midpoint. Captured: each fill's distance from the market mid at the time, positive when "
                "it earned the spread.",
                "",
            ]
        if name == "errors":
            out += [ERRORS_NOTE, ""]
    return out


def _risk(data: ReportData, utc: Callable[[int], str]) -> list[str]:
    lines = ["## Risk events", ""]
    if not data.risk_rules:
        return [*lines, "None in the window.", ""]
    lines += [_row("Rule", "Count"), _row("---", "---:")]
    lines += [_row(rule, n) for rule, n in sorted(data.risk_rules.items(), key=lambda kv: -kv[1])]
    lines += ["", _row("Time", "Rule", "Action", "Symbol", "Mode", "Reason"), _row(*["---"] * 6)]
    for e in data.risk_events[-50:]:
        mode = f"{e['from_mode']} → {e['to_mode']}" if e["from_mode"] or e["to_mode"] else ""
        lines.append(_row(utc(e["ts_event"]), e["rule"], e["action"], e["symbol"], mode, e["reason"]))
    return [*lines, ""]


BAND_TARGETS = (
    ("time_in_band", "> 99.8 %"),
    ("two_sided_time", "> 99.9 %"),
    ("min_value_share", "> 99.95 %"),
    ("fill_ratio", "< 0.5 %"),
    ("response_within_100ms", "100 %"),
)
"""Seed 003 §1.2's figures, in the order the seed lists them."""


def _band(data: ReportData) -> list[str]:
    """Seed 003's KPIs of each passive-band symbol over the window."""
    if not data.band:
        return []
    kpis = [k.replace("_", " ") + f" ({t})" for k, t in BAND_TARGETS]
    head = ["Symbol", "Observed", *kpis, "Slowest so far"]
    lines = ["## Passive band (seed 003)", "", _row(*head), _row(*(["---"] + ["---:"] * (len(head) - 1)))]
    for sym, k in sorted(data.band.items()):
        figs = [f"{k[name]:.3%}" for name, _ in BAND_TARGETS]
        lines.append(_row(sym, f"{k['observed_s']:.0f} s", *figs, f"{k['response_max_ms']:.0f} ms"))
    return [*lines, ""]


def render(data: ReportData, charts: dict[str, str], utc: Callable[[int], str]) -> str:
    """The whole report."""
    lines = _header(data, utc) + _summary(data) + _symbols(data) + _band(data) + _charts(charts)
    lines += _risk(data, utc)
    if data.command_errors:
        lines += [
            "## Failed commands",
            "",
            _row("Time", "Service", "Command", "Sender", "Error"),
            _row(*["---"] * 5),
        ]
        lines += [
            _row(utc(c["ts_event"]), c["service"], c["command"], c["sender"], c["error"])
            for c in data.command_errors
        ]
        lines.append("")
    if data.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in data.notes], ""]
    return "\n".join(lines)
