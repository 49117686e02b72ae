"""What a backtest records, and the summary people read.

Exact where it is money: fills keep the venue's Decimal price, size and fee; cash and PnL are summed
in Decimal. Curves (equity, inventory, quotes against the mid) are sampled on the run's clock every
``equity_every_ms`` and kept as floats: they are for reading and plotting.

Summary figures (units in the names):

* ``pnl``: final equity less the starting balance, after fees and funding (equity = cash +
  position × mid); ``funding``: what funding settlements paid us (negative: we paid);
* ``sharpe_day`` / ``sortino_day``: mean over std (downside std) of the per-minute equity changes,
  scaled to a day by √1440 (per-day figures from a run shorter than a day are estimates);
* ``max_drawdown``: the largest fall of equity from a running peak;
* inventory: mean |position|, max |position|, std of position × mid (the inventory risk), and
  ``pnl_per_inventory_risk`` = pnl / that std;
* ``fill_ratio``: fills over orders placed; ``maker_share``: the share of filled size made as maker;
* ``spread_captured_bps``: the mean, over filled size, of how far inside the mid we traded,
  (mid − price) / mid for a buy and (price − mid) / mid for a sell, the mid of the venue at the fill;
* ``cancels_per_min``, ``publications_per_min``: churn; ``places_per_min``, ``modifies_per_min``
  and ``venue_cancels_per_min``: the order actions sent to the venue (a batch counts each of its
  orders, as Binance's order-count limits do, and a modify counts as an order there);
* ``fills_by_layer``: fills per quoted layer, ``layer:count`` from the inside out;
* ``active_<overlay>``: the share of decisions in which each overlay acted (``pinning``,
  ``grinding``, ``momentum``, ``inventory_pressure``, ``toxic_flow``, ``flow_lean``; their
  decision-record flags), and
  ``active_budget_held`` / ``active_layers_missing``: how often the rate budget held price moves
  back and a configured layer could not exist;
* ``markout_{1,5,30}s_bps``: adverse selection, the size-weighted mean over fills of how the
  market's mid moved for us ``h`` after the fill, (mid(t+h) − price) / price for a buy and
  (price − mid(t+h)) / price for a sell (negative: the market moved against the fill), the mid
  sampled every ``marketdata.features_interval_ms``; fills closer than ``h`` to the end are left
  out. ``markout_5s_layer0_bps``: the same for layer 0's fills alone;
* ``band_*``: the passive band's seed 003 KPIs (time in band, two-sided time, minimum-value
  share, fill ratio), as the live strategy counts them, when the model is ``passive_band``;
* ``liquidations``: how often the account's margin balance fell to its maintenance margin, where
  Binance liquidates (the simulated venue does not: the run goes on), checked at every equity
  sample; ``maint_margin_share``: the highest maintenance margin over margin balance seen (0 while
  flat, 1 is liquidation);
* ``over_rate_limit``: requests that reached the venue over Binance's rate limits (request weight
  per IP, orders per 10 s and per minute), which the real venue answers 429;
* ``errors``: what the run could not read (a malformed user-data event), each kept in the result;
* ``events``: the market data's rows (each level update, trade and mark, as hftbacktest counts
  them), ``events_per_s`` of the run's wall time (loading the data excluded).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from common.markouts import markout_bps
from common.messages import Fill, OrderUpdate
from services.strategy.core import Output

ZERO = Decimal(0)
OVERLAY_FLAGS = (
    "pinning", "grinding", "momentum", "inventory_pressure", "toxic_flow", "flow_lean", "budget_held",
    "layers_missing",
)  # fmt: skip


MARKOUT_KEEP_NS = 30_000_000_000  # the longest markout horizon of the summary


@dataclass(slots=True)
class Rows:
    """What :meth:`Recorder.take_rows` hands over: the rows of one piece of a run."""

    fills: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    samples: list[tuple[int, float, float, float, float, float]]
    """(ts ns, mid, position, equity, quoted bid, quoted ask) every ``equity_every_ms``."""
    events: list[tuple[int, str, str]]


@dataclass(slots=True)
class Recorder:
    symbol: str
    t0_ns: int
    balance: Decimal
    fills: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    samples: list[tuple[int, float, float, float, float, float]] = field(default_factory=list)
    mid_ns: list[int] = field(default_factory=list)
    mid_px: list[float] = field(default_factory=list)
    events_log: list[tuple[int, str, str]] = field(default_factory=list)
    cash: Decimal = ZERO
    position: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    """Funding received (negative: paid), as the venue settled it at each funding time."""
    placed: int = 0
    canceled: int = 0
    publications: int = 0
    wall_s: float = 0.0
    events: int = 0
    open_orders_at_end: int = 0
    band_kpis: dict[str, float] = field(default_factory=dict)
    venue_actions: dict[str, int] = field(default_factory=dict)
    liquidations: int = 0
    maint_margin_share: float = 0.0
    over_rate_limit: int = 0
    errors: list[str] = field(default_factory=list)
    """What the run could not read (a malformed user-data event: a venue bug, never the market)."""

    # ---- inputs ------------------------------------------------------------------------------

    def fill(self, f: Fill, now_ns: int, mid: float) -> None:
        sign = 1 if f.side == "BUY" else -1
        self.position += sign * f.qty
        self.cash -= sign * f.qty * f.price + f.fee
        self.fees += f.fee
        price = float(f.price)
        inside = (mid - price) / mid if sign > 0 else (price - mid) / mid
        self.fills.append(
            {
                "ts_ns": now_ns, "trade_id": f.trade_id, "side": f.side, "price": str(f.price),
                "qty": str(f.qty), "fee": str(f.fee), "maker": f.is_maker, "layer": f.layer,
                "mid": mid, "inside_bps": inside * 1e4 if mid else 0.0, "position": str(self.position),
            }
        )  # fmt: skip

    def funding_paid(self, amount: Decimal, now_ns: int) -> None:
        """A funding settlement the venue booked (its ``ACCOUNT_UPDATE`` ``FUNDING_FEE``)."""
        self.cash += amount
        self.funding += amount
        self.events_log.append((now_ns, "funding", str(amount)))

    def order(self, u: OrderUpdate, now_ns: int) -> None:
        if u.state == "PendingNew":
            self.placed += 1
        elif u.state == "Canceled":
            self.canceled += 1
        self.orders.append(
            {
                "ts_ns": now_ns, "client_order_id": u.client_order_id, "state": u.state, "side": u.side,
                "price": str(u.price), "qty": str(u.qty), "filled": str(u.filled_qty), "layer": u.layer,
            }
        )  # fmt: skip

    def decision(self, out: Output, now_ns: int) -> None:
        if out.target is not None:
            self.publications += 1
        rec = out.record
        self.decisions.append(
            {
                "ts_ns": now_ns, "outcome": out.outcome, "published": out.target is not None,
                "quotes": len(out.quotes), "flags": ",".join(rec.flags) if rec else "",
                **({f"in_{k}": v for k, v in rec.inputs.items()} if rec else {}),
            }
        )  # fmt: skip

    def mid(self, t_ns: int, mid: float) -> None:
        if mid > 0:
            self.mid_ns.append(t_ns)
            self.mid_px.append(mid)

    def _active_shares(self) -> dict[str, float]:
        decided = [d for d in self.decisions if d["outcome"] != "error"]
        out: dict[str, float] = {}
        for flag in OVERLAY_FLAGS:
            hits = sum(1 for d in decided if flag in d["flags"].split(","))
            out[f"active_{flag}"] = round(hits / len(decided), 4) if decided else 0.0
        return out

    def markout_bps(self, horizon_s: float, layer: int | None = None) -> float:
        """The size-weighted mean markout ``horizon_s`` after each fill (:mod:`common.markouts`)."""
        fills = (
            (f["ts_ns"], f["side"], float(f["price"]), float(f["qty"]))
            for f in self.fills
            if layer is None or f["layer"] == layer
        )
        m = markout_bps(fills, self.mid_ns, self.mid_px, horizon_s)
        return round(m, 3) if m is not None else 0.0

    def sample(self, t_ns: int, mid: float, position: Decimal, bid: float, ask: float) -> None:
        equity = float(self.balance + self.cash + position * Decimal(repr(mid))) if mid else math.nan
        self.samples.append((t_ns, mid, float(position), equity, bid, ask))

    def take_rows(self) -> Rows:
        """Hand over the rows recorded so far and forget them, keeping every running figure (cash,
        position, fees, funding, counters): a long run read in pieces (a chunked market's) keeps
        its memory bounded. :meth:`summary` then covers only the rows recorded since."""
        rows = Rows(self.fills, self.orders, self.decisions, self.samples, self.events_log)
        self.fills, self.orders, self.decisions, self.samples, self.events_log = [], [], [], [], []
        # the mid series feeds the markouts of fills still to come: the last 30 s are kept
        if self.mid_ns:
            keep = bisect.bisect_left(self.mid_ns, self.mid_ns[-1] - MARKOUT_KEEP_NS)
            self.mid_ns, self.mid_px = self.mid_ns[keep:], self.mid_px[keep:]
        return rows

    # ---- results -----------------------------------------------------------------------------

    def summary(self) -> dict[str, float | int | str]:
        span_s = (self.samples[-1][0] - self.t0_ns) / 1e9 if self.samples else 0.0
        minutes = max(span_s / 60, 1e-9)
        eq = [s[3] for s in self.samples if not math.isnan(s[3])]
        last_mid = next((s[1] for s in reversed(self.samples) if s[1]), 0.0)
        pnl = float(self.cash + self.position * Decimal(repr(last_mid))) if last_mid else float(self.cash)
        per_min = _per_minute(self.samples)
        inv = [s[2] for s in self.samples]
        inv_value = [s[2] * s[1] for s in self.samples if s[1]]
        inv_risk = _std(inv_value)
        filled = sum(Decimal(f["qty"]) for f in self.fills)
        maker = sum(Decimal(f["qty"]) for f in self.fills if f["maker"])
        captured = (
            sum(f["inside_bps"] * float(f["qty"]) for f in self.fills) / float(filled) if filled else 0.0
        )
        return {
            "symbol": self.symbol,
            "span_s": round(span_s, 1),
            "events": self.events,
            "events_per_s": round(self.events / self.wall_s) if self.wall_s else 0,
            "pnl": round(pnl, 6),
            "fees": float(self.fees),
            "funding": float(self.funding),
            "sharpe_day": _ratio(per_min, downside=False),
            "sortino_day": _ratio(per_min, downside=True),
            "max_drawdown": round(_drawdown(eq), 6),
            "fills": len(self.fills),
            "filled_qty": float(filled),
            "final_position": float(self.position),
            "mean_abs_position": round(sum(abs(x) for x in inv) / len(inv), 6) if inv else 0.0,
            "max_abs_position": max((abs(x) for x in inv), default=0.0),
            "inventory_risk": round(inv_risk, 6),
            "pnl_per_inventory_risk": round(pnl / inv_risk, 4) if inv_risk else 0.0,
            "orders_placed": self.placed,
            "fill_ratio": round(len(self.fills) / self.placed, 4) if self.placed else 0.0,
            "maker_share": round(float(maker / filled), 4) if filled else 0.0,
            "spread_captured_bps": round(captured, 3),
            "cancels_per_min": round(self.canceled / minutes, 2),
            "publications_per_min": round(self.publications / minutes, 2),
            "places_per_min": round(self.venue_actions.get("place", 0) / minutes, 2),
            "modifies_per_min": round(self.venue_actions.get("modify", 0) / minutes, 2),
            "venue_cancels_per_min": round(self.venue_actions.get("cancel", 0) / minutes, 2),
            "fills_by_layer": _by_layer(self.fills),
            **self._active_shares(),
            "markout_1s_bps": self.markout_bps(1),
            "markout_5s_bps": self.markout_bps(5),
            "markout_30s_bps": self.markout_bps(30),
            "markout_5s_layer0_bps": self.markout_bps(5, layer=0),
            "open_orders_at_end": self.open_orders_at_end,
            "liquidations": self.liquidations,
            "maint_margin_share": round(self.maint_margin_share, 6),
            "over_rate_limit": self.over_rate_limit,
            "errors": len(self.errors),
            **{f"band_{k}": round(v, 6) for k, v in self.band_kpis.items()},
        }


def _by_layer(fills: list[dict[str, Any]]) -> str:
    counts: dict[int, int] = {}
    for f in fills:
        counts[f["layer"]] = counts.get(f["layer"], 0) + 1
    return " ".join(f"{layer}:{n}" for layer, n in sorted(counts.items()))


def _per_minute(samples: list[tuple[int, float, float, float, float, float]]) -> list[float]:
    """Equity changes over each whole minute of the run."""
    out: list[float] = []
    if not samples:
        return out
    t_next, last = samples[0][0] + 60_000_000_000, samples[0][3]
    for t, _mid, _pos, eq, _b, _a in samples:
        if t >= t_next and not math.isnan(eq):
            out.append(eq - last)
            last, t_next = eq, t_next + 60_000_000_000
    return out


def _std(xs: list[float]) -> float:
    if len(xs) < 2:
        return 0.0
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _ratio(changes: list[float], downside: bool) -> float:
    if len(changes) < 2:
        return 0.0
    mean = sum(changes) / len(changes)
    if downside:
        neg = [min(c, 0.0) for c in changes]
        dev = math.sqrt(sum(x * x for x in neg) / len(neg))
    else:
        dev = _std(changes)
    return round(mean / dev * math.sqrt(1440), 4) if dev else 0.0


def _drawdown(equity: list[float]) -> float:
    peak, worst = -math.inf, 0.0
    for e in equity:
        peak = max(peak, e)
        worst = max(worst, peak - e)
    return worst
