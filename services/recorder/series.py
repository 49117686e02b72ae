"""Time series for the report, from store rows (pure functions).

Every series is thinned to at most ``MAX_POINTS`` points so a long window stays small on the wire;
sums and counts in the report are always computed from the full rows, never from a thinned series.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from decimal import Decimal
from typing import Any

from common.messages.report import Series

MAX_POINTS = 5000

Row = dict[str, Any]


def dec(s: str) -> Decimal:
    """A stored decimal text ('' is zero)."""
    return Decimal(s) if s else Decimal(0)


def quote_asset_fee(symbol: str, fee_asset: str) -> bool:
    """Whether a fee is in the symbol's quote asset (and so comes off its PnL)."""
    return bool(fee_asset) and symbol.endswith(fee_asset)


def group(rows: list[Row]) -> dict[str, list[Row]]:
    """Rows by symbol, each list in the order given."""
    out: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        out[r["symbol"]].append(r)
    return out


def thin(s: Series) -> Series:
    """At most ``MAX_POINTS`` points (every k-th, keeping the last)."""
    n = len(s.t)
    if n <= MAX_POINTS:
        return s
    k = -(-n // MAX_POINTS)
    idx = [*range(0, n - 1, k), n - 1]
    return Series([s.t[i] for i in idx], [s.v[i] for i in idx])


def realized(fills: list[Row]) -> dict[str, Series]:
    """Per symbol, the running realized PnL after quote-asset fees."""
    out = {}
    for sym, rs in group(fills).items():
        acc, t, v = Decimal(0), [], []
        for r in rs:
            acc += dec(r["realized_pnl"]) - (dec(r["fee"]) if quote_asset_fee(sym, r["fee_asset"]) else 0)
            t.append(r["ts_event"] / 1e9)
            v.append(float(acc))
        out[sym] = thin(Series(t, v))
    return out


def column(rows: list[Row], col: str) -> dict[str, Series]:
    """Per symbol, one column over time (decimal text or float)."""
    return {
        s: thin(
            Series(
                [r["ts_event"] / 1e9 for r in rs],
                [float(dec(r[col]) if isinstance(r[col], str) else r[col]) for r in rs],
            )
        )
        for s, rs in group(rows).items()
    }


def spread_bps(bid: str, ask: str) -> float | None:
    """Best ask − best bid relative to their midpoint, in basis points (None if a side is empty)."""
    if not bid or not ask:
        return None
    b, a = Decimal(bid), Decimal(ask)
    return float((a - b) / ((a + b) / 2) * 10_000)


def quoted(targets: list[Row]) -> dict[str, Series]:
    """Per symbol, the quoted spread of each stored target (a step series: targets change on change)."""
    out = {}
    for sym, rs in group(targets).items():
        t, v = [], []
        for r in rs:
            bps = spread_bps(r["best_bid"], r["best_ask"])
            if bps is not None:
                t.append(r["ts_event"] / 1e9)
                v.append(bps)
        out[sym] = thin(Series(t, v))
    return out


def captured(fills: list[Row], samples: list[Row]) -> dict[str, Series]:
    """Per fill, how far inside the market mid it traded (bps; positive = earned the spread)."""
    mids = {s: ([r["ts_event"] for r in rs], [r["mid"] for r in rs]) for s, rs in group(samples).items()}
    out = {}
    for sym, rs in group(fills).items():
        ts, ms = mids.get(sym, ([], []))
        t, v = [], []
        for r in rs:
            i = bisect.bisect_right(ts, r["ts_event"]) - 1
            if i < 0 or ms[i] <= 0:
                continue
            px = float(r["price"])
            edge = (ms[i] - px) if r["side"] == "BUY" else (px - ms[i])
            t.append(r["ts_event"] / 1e9)
            v.append(edge / ms[i] * 10_000)
        out[sym] = thin(Series(t, v))
    return out


def time_weighted(s: Series, end_s: float) -> float:
    """Mean of a step series weighted by how long each value held."""
    if not s.t:
        return 0.0
    spans = [b - a for a, b in zip(s.t, [*s.t[1:], end_s], strict=True)]
    total = sum(spans)
    return sum(v * w for v, w in zip(s.v, spans, strict=True)) / total if total > 0 else s.v[-1]
