"""The session report (seed 001 §9): figures and series from the store, then Markdown and charts.

:func:`build` reads one time window (a session, or the last N hours) from the store and computes
every figure the report shows, exactly (``Decimal`` sums of the stored texts), so the report and
the store always agree: realized PnL is the sum of the fills' realized PnL minus their fees (fees
in the symbol's quote asset; others are listed apart), counts are row counts. The result,
:class:`ReportData`, is plain data that travels over REQ/REP (``Query(kind="report")``), so the
recorder does the reading and ``mmctl report`` (or the recorder itself, periodically) draws.

Markouts (:mod:`common.markouts`) are taken against the ``market_samples`` mids at 1, 5 and 30 s.

Order-path latency is the time from an order's ``PendingNew`` to its ``New`` event (``ts_event``);
REST/WS errors live in the gateway's ``mm_rest_errors_total`` counter, which is not on the bus, so
the report counts what the bus does carry (failed commands, rejected orders, degraded statuses,
the OMS's repairs and refusals) and says so.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from common.markouts import HORIZONS_S, markout_bps
from common.messages.report import ReportData, Series, SymbolFigures
from services.recorder import series
from services.recorder.schema import BAND_COUNTERS, dec_text
from services.recorder.series import Row, dec, quote_asset_fee
from services.recorder.store import Cond, Store

NS_MIN = 60_000_000_000


def percentile(sorted_vals: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for none)."""
    if not sorted_vals:
        return 0.0
    i = min(len(sorted_vals) - 1, max(0, math.ceil(q / 100 * len(sorted_vals)) - 1))
    return sorted_vals[i]


@dataclass
class Window:
    """The rows of one time window the report needs, read once per table (reader thread)."""

    store: Store
    since_ns: int
    until_ns: int
    fills: list[Row]
    positions: list[Row]
    samples: list[Row]
    targets: list[Row]
    orders: list[Row]
    events: list[Row]

    @classmethod
    def read(cls, store: Store, since_ns: int, until_ns: int) -> Window:
        """Read every table the report uses."""
        w = cls(store, since_ns, until_ns, [], [], [], [], [], [])
        fill_cols = [
            "ts_event",
            "symbol",
            "side",
            "price",
            "qty",
            "fee",
            "fee_asset",
            "realized_pnl",
            "is_maker",
        ]
        w.fills = w.rows("fills", fill_cols)
        w.positions = w.rows("positions", ["ts_event", "symbol", "qty", "unrealized_pnl"])
        w.samples = w.rows("market_samples", ["ts_event", "symbol", "mid", "spread_bps"])
        w.targets = w.rows("targets", ["ts_event", "symbol", "best_bid", "best_ask"], ("origin", "=", "risk"))
        created: list[Cond] = [("created_ns", ">=", since_ns), ("created_ns", "<=", until_ns)]
        w.orders = store.select("orders", created, columns=["created_ns", "symbol"], order="created_ns")
        states = ("state", "in", ["PendingNew", "New", "Canceled", "Rejected"])
        w.events = w.rows(
            "order_events", ["ts_event", "symbol", "client_order_id", "state", "error_code"], states
        )
        return w

    def rows(self, table: str, columns: list[str], *extra: Cond) -> list[Row]:
        """Rows of ``table`` in the window, oldest first."""
        window: list[Cond] = [("ts_event", ">=", self.since_ns), ("ts_event", "<=", self.until_ns)]
        return self.store.select(table, [*window, *extra], columns=columns)

    def symbols(self) -> list[str]:
        """Every symbol with a row of any kind in the window."""
        every = self.fills + self.positions + self.targets + self.orders + self.events + self.samples
        return sorted({r["symbol"] for r in every})


def build(
    store: Store, since_ns: int, until_ns: int = 0, session: dict[str, Any] | None = None
) -> ReportData:
    """Every figure and series of the window ``[since_ns, until_ns]`` (``until_ns`` 0 = now)."""
    until_ns = until_ns or time.time_ns()
    w = Window.read(store, since_ns, until_ns)
    data = ReportData(since_ns=since_ns, until_ns=until_ns, generated_ns=time.time_ns(), session=session)
    data.realized = series.realized(w.fills)
    data.unrealized = series.column(w.positions, "unrealized_pnl")
    data.inventory = series.column(w.positions, "qty")
    data.quoted_spread = series.quoted(w.targets)
    data.market_spread = series.column(w.samples, "spread_bps")
    data.captured = series.captured(w.fills, w.samples)
    _per_minute(data, w)
    _latency(data, w.events)
    _incidents(data, w)
    data.symbols = [_symbol_figures(s, w, data) for s in w.symbols()]
    _totals(data, w.fills)
    _notes(data, w)
    data.band = band_kpis(w.rows("band_kpis", ["ts_event", "symbol", *BAND_COUNTERS, "response_max_ns"]))
    return data


def band_kpis(rows: list[Row]) -> dict[str, dict[str, float]]:
    """Seed 003's KPIs of each passive-band symbol over the window, from the strategy's KPI
    counters as its snapshots carried them (``band_kpis``, oldest first): what each counter gained
    from the window's first row to its last (a counter that fell started again after a cold start:
    it counts from zero there). The slowest response is the counters' own, since they began."""
    gained: dict[str, dict[str, float]] = {}
    last: dict[str, Row] = {}
    worst: dict[str, float] = {}
    for r in rows:
        sym = r["symbol"]
        prev = last.get(sym)
        g = gained.setdefault(sym, dict.fromkeys(BAND_COUNTERS, 0.0))
        if prev is not None:
            for k in BAND_COUNTERS:
                now, before = r[k], prev[k]
                g[k] += now - before if now >= before else now
        last[sym] = r
        worst[sym] = max(worst.get(sym, 0.0), float(r["response_max_ns"]))
    out = {}
    for sym, g in gained.items():
        if not g["observed_ns"]:
            continue
        out[sym] = {
            "observed_s": g["observed_ns"] / 1e9,
            "time_in_band": g["in_band_ns"] / g["observed_ns"],
            "two_sided_time": g["two_sided_ns"] / g["observed_ns"],
            "min_value_share": g["orders_min_value"] / g["orders"] if g["orders"] else 1.0,
            "fill_ratio": g["fills"] / g["orders"] if g["orders"] else 0.0,
            "response_within_100ms": g["responses_in_time"] / g["responses"] if g["responses"] else 1.0,
            "excursions": g["responses"],
            "response_max_ms": worst[sym] / 1e6,
        }
    return out


def _bins(data: ReportData, stamps: list[int]) -> list[int]:
    n = len(data.minutes)
    counts = [0] * n
    for ts in stamps:
        if data.since_ns <= ts <= data.until_ns:
            counts[min(n - 1, (ts - data.since_ns) // NS_MIN)] += 1  # the window's end is inclusive
    return counts


def _per_minute(data: ReportData, w: Window) -> None:
    n = max(1, -(-(data.until_ns - data.since_ns) // NS_MIN))
    data.minutes = [(data.since_ns + i * NS_MIN) / 1e9 for i in range(n)]
    commands = w.rows("commands", ["ts_event"], ("ok", "=", False))
    degraded = w.rows("service_status", ["ts_event"], ("state", "=", "degraded"))
    oms_events = w.rows("events", ["ts_event"], ("type", "=", "OmsEvent"))
    data.per_minute = {
        "fills": _bins(data, [r["ts_event"] for r in w.fills]),
        "orders": _bins(data, [r["created_ns"] for r in w.orders]),
        "cancels": _bins(data, [r["ts_event"] for r in w.events if r["state"] == "Canceled"]),
        "rejects": _bins(data, [r["ts_event"] for r in w.events if _venue_reject(r)]),
        "command_errors": _bins(data, [r["ts_event"] for r in commands]),
        "degraded": _bins(data, [r["ts_event"] for r in degraded]),
        "oms_events": _bins(data, [r["ts_event"] for r in oms_events]),
    }


def _latency(data: ReportData, events: list[Row]) -> None:
    """Order-path latency: each order's first PendingNew to its first New (ms)."""
    samples = [ns / 1e6 for ns, _sym, _cid in order_paths(events)]
    s = sorted(samples)
    data.latency_ms = s if len(s) <= 50_000 else s[:: -(-len(s) // 50_000)]
    data.latency = {
        "count": float(len(s)),
        "p50": percentile(s, 50),
        "p90": percentile(s, 90),
        "p99": percentile(s, 99),
        "max": s[-1] if s else 0.0,
        "mean": sum(s) / len(s) if s else 0.0,
    }


def order_paths(events: list[Row]) -> list[tuple[int, str, str]]:
    """Each order's path from ``PendingNew`` to its first ``New`` (``order_events`` rows in time
    order): (ns, symbol, client order id), in the order the acknowledgements came."""
    pending: dict[tuple[str, str], int] = {}
    done: set[tuple[str, str]] = set()
    out: list[tuple[int, str, str]] = []
    for r in events:
        key = (r["symbol"], r["client_order_id"])
        if r["state"] == "PendingNew":
            pending.setdefault(key, r["ts_event"])
        elif r["state"] == "New" and key in pending and key not in done:
            done.add(key)
            if r["ts_event"] >= pending[key]:
                out.append((r["ts_event"] - pending[key], key[0], key[1]))
    return out


def _incidents(data: ReportData, w: Window) -> None:
    risk = w.rows("risk_events", ["ts_event", "rule", "action", "symbol", "from_mode", "to_mode", "reason"])
    data.risk_rules = dict(Counter(r["rule"] for r in risk))
    data.risk_events = risk[-200:]
    data.command_errors = w.rows(
        "commands", ["ts_event", "service", "command", "sender", "error"], ("ok", "=", False)
    )[-50:]
    data.degraded = w.rows(
        "service_status", ["ts_event", "service", "state", "reason"], ("state", "=", "degraded")
    )[-50:]


def _symbol_figures(sym: str, w: Window, data: ReportData) -> SymbolFigures:
    fs = [r for r in w.fills if r["symbol"] == sym]
    events = [r for r in w.events if r["symbol"] == sym]
    realized = sum((dec(r["realized_pnl"]) for r in fs), Decimal(0))
    fees = sum((dec(r["fee"]) for r in fs if quote_asset_fee(sym, r["fee_asset"])), Decimal(0))
    last = next((r for r in reversed(w.positions) if r["symbol"] == sym), None)
    cap = data.captured.get(sym, Series())
    return SymbolFigures(
        symbol=sym,
        fills=len(fs),
        buys=sum(1 for r in fs if r["side"] == "BUY"),
        sells=sum(1 for r in fs if r["side"] == "SELL"),
        maker_fills=sum(1 for r in fs if r["is_maker"]),
        volume=dec_text(sum((dec(r["qty"]) for r in fs), Decimal(0))),
        notional=dec_text(sum((dec(r["qty"]) * dec(r["price"]) for r in fs), Decimal(0))),
        realized_pnl=dec_text(realized),
        fees=dec_text(fees),
        net_pnl=dec_text(realized - fees),
        position=last["qty"] if last else "0",
        unrealized_pnl=last["unrealized_pnl"] if last else "0",
        orders=sum(1 for r in w.orders if r["symbol"] == sym),
        cancels=sum(1 for r in events if r["state"] == "Canceled"),
        rejects=sum(1 for r in events if _venue_reject(r)),
        held_back=sum(1 for r in events if r["state"] == "Rejected" and not _venue_reject(r)),
        quoted_spread_bps=series.time_weighted(data.quoted_spread.get(sym, Series()), data.until_ns / 1e9),
        captured_bps=sum(cap.v) / len(cap.v) if cap.v else 0.0,
        markouts_bps=_markouts(fs, [r for r in w.samples if r["symbol"] == sym]),
    )


def _markouts(fills: list[Row], samples: list[Row]) -> dict[str, float]:
    mids = [(r["ts_event"], float(r["mid"])) for r in samples if r["mid"] is not None and float(r["mid"]) > 0]
    ns, px = [t for t, _ in mids], [m for _, m in mids]
    rows = [(r["ts_event"], r["side"], float(dec(r["price"])), float(dec(r["qty"]))) for r in fills]
    out: dict[str, float] = {}
    for h in HORIZONS_S:
        m = markout_bps(rows, ns, px, h)
        if m is not None:
            out[f"{h}s"] = round(m, 3)
    return out


def _venue_reject(r: Row) -> bool:
    """An order the venue refused: Rejected with the venue's error code. Rejected with no code is
    an order the gateway held back and never sent (a local rate limit or ban in force)."""
    return r["state"] == "Rejected" and bool(r.get("error_code"))


def _totals(data: ReportData, fills: list[Row]) -> None:
    by_asset: dict[str, Decimal] = defaultdict(Decimal)
    for r in fills:
        by_asset[r["fee_asset"]] += dec(r["fee"])
    # A fill without a fee asset is provisional (no fee known yet): it has nothing to list.
    data.fees_by_asset = {a: dec_text(v) for a, v in sorted(by_asset.items()) if a or v}
    s = data.symbols
    realized = sum((dec(f.realized_pnl) for f in s), Decimal(0))
    fees = sum((dec(f.fees) for f in s), Decimal(0))
    data.totals = {
        "realized_pnl": dec_text(realized),
        "fees": dec_text(fees),
        "net_pnl": dec_text(realized - fees),
        "unrealized_pnl": dec_text(sum((dec(f.unrealized_pnl) for f in s), Decimal(0))),
        "fills": str(sum(f.fills for f in s)),
        "orders": str(sum(f.orders for f in s)),
        "cancels": str(sum(f.cancels for f in s)),
        "rejects": str(sum(f.rejects for f in s)),
        "held_back": str(sum(f.held_back for f in s)),
        "notional": dec_text(sum((dec(f.notional) for f in s), Decimal(0))),
        "risk_events": str(sum(data.risk_rules.values())),
        "command_errors": str(sum(data.per_minute.get("command_errors", []))),
        "degraded": str(sum(data.per_minute.get("degraded", []))),
        "oms_events": str(sum(data.per_minute.get("oms_events", []))),
    }


def _notes(data: ReportData, w: Window) -> None:
    if not w.targets:
        data.notes.append(
            "No approved targets (risk.target) in the window: the quoted spread chart is empty."
        )
    provisional = sum(1 for r in w.fills if not r["fee_asset"])
    if provisional:
        data.notes.append(
            f"{provisional} fills carry no fee asset yet (Binance omits it when the commission is zero, "
            "and a fill from TRADE_LITE has neither fee nor realized PnL); the recorder's next catch-up "
            "fills in the venue's figures from its trade history."
        )
    if not w.positions:
        data.notes.append(
            "No position updates in the window: PnL (unrealized) and inventory charts are empty."
        )
    if not data.latency.get("count"):
        data.notes.append("No PendingNew→New pairs in the window: the latency chart is empty.")
    other = [a for a in data.fees_by_asset if not any(quote_asset_fee(f.symbol, a) for f in data.symbols)]
    if other:
        data.notes.append(f"Fees in {', '.join(other)} are not subtracted from PnL (not the quote asset).")
