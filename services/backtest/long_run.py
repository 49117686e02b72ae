"""A long run on the generated market, read day by day: the backtester's side of the acceptance
figures (seed 002 §1.3, §6: 72 hours with no liquidation, no 429, a fill rate, a drawdown and the
funding paid per day).

The market is generated in chunks (:func:`services.backtest.data.synthetic_chunks`) and run by one
:class:`~services.backtest.engine.Backtest` on one account, so the run is continuous: the same
positions, orders, risk state and venue from the first hour to the last. Between chunks the rows
recorded so far are folded into per-day figures and forgotten (memory stays bounded), and the wall
time is checked: past ``max_wall_s`` no further chunk is taken and the run ends where it is
(``bound_hit``; ``hours_run`` says how far it got).

    from services.backtest.long_run import run_long
    r = run_long("ETHUSDC", 72, load_settings(), max_wall_s=900)
    r.hours_run, [d.fills for d in r.days], r.liquidations
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from common.config import Settings
from services.backtest.api import SYNTHETIC_START_NS
from services.backtest.data import MarketData, synthetic_chunks
from services.backtest.engine import Backtest, BacktestConfig, Latency
from services.backtest.record import Rows

DAY_NS = 86_400 * 1_000_000_000
MS = 1_000_000


@dataclass(slots=True)
class Day:
    """One simulated day (UTC, from the market's start) of one symbol's run."""

    day: int
    covered_s: float = 0.0
    fills: int = 0
    placed: int = 0
    """Orders placed (each order once, as ``mm_fill_rate`` counts them)."""
    filled_qty: Decimal = Decimal(0)
    maker_qty: Decimal = Decimal(0)
    maker_notional: Decimal = Decimal(0)
    pnl_end: float = 0.0
    """PnL since the start at the day's last sample: realised and unrealised (cash + position ×
    mid, after fees and funding)."""
    max_drawdown: float = 0.0
    """The largest fall of PnL from its running peak (since the run's start) within the day."""
    funding: Decimal = Decimal(0)
    """Funding settled in the day (negative: paid)."""
    liquidations: int = 0
    over_rate_limit: int = 0
    sampled_s: float = 0.0
    """Time sampled (the equity curve's samples; the warm-up second counts in the first day)."""
    quoting_s: float = 0.0
    """Time with at least one side quoted (approved by risk)."""
    two_sided_s: float = 0.0
    """Time with both sides quoted: less than ``quoting_s`` while risk held one side back
    (reduce-only after a loss, a position at its cap)."""

    @property
    def fill_rate(self) -> float:
        return self.fills / self.placed if self.placed else 0.0


@dataclass(slots=True)
class LongRun:
    """What :func:`run_long` measured (picklable: the acceptance script runs symbols in processes)."""

    symbol: str
    market: str
    hours_asked: float
    balance: float
    hours_run: float = 0.0
    wall_s: float = 0.0
    bound_hit: bool = False
    days: list[Day] = field(default_factory=list)
    pnl: array[float] = field(default_factory=lambda: array("d"))
    """PnL at every equity sample (one a second from ``t0_ns``), for an account-wide drawdown."""
    t0_ns: int = 0
    max_drawdown: float = 0.0
    liquidations: int = 0
    maint_margin_share: float = 0.0
    over_rate_limit: int = 0
    fees: float = 0.0
    final_position: float = 0.0
    errors: int = 0
    risk_events: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Risk's decisions by ``rule.action``: how many, and the hour of the first."""
    risk_realized: float = math.nan
    """The realized PnL risk booked from the fills it was told of, at the end (its loss limits
    act on it), beside ``venue_realized``, the venue's (the gateway's position says it)."""
    venue_realized: float = math.nan

    @property
    def funding(self) -> Decimal:
        return sum((d.funding for d in self.days), Decimal(0))

    def day_pnl(self, i: int) -> float:
        """The PnL made in day ``i``: its end less the day before's."""
        return self.days[i].pnl_end - (self.days[i - 1].pnl_end if i else 0.0)


class _Folder:
    """Folds each piece's rows into the days of a :class:`LongRun`."""

    def __init__(self, run: LongRun, start_ns: int, sample_s: float, last_day: int) -> None:
        self.run = run
        self.start_ns = start_ns
        self.sample_s = sample_s
        self.last_day = last_day
        self.peak = -math.inf

    def day(self, ts_ns: int) -> Day:
        # the warm-up second before the market counts in the first day; the last answers after its
        # end (a few ms past the last event) in the last
        i = min(self.last_day, max(0, (ts_ns - self.start_ns) // DAY_NS))
        days = self.run.days
        while len(days) <= i:
            days.append(Day(len(days)))
        return days[i]

    def fold(self, rows: Rows) -> None:
        for f in rows.fills:
            d = self.day(f["ts_ns"])
            qty = Decimal(f["qty"])
            d.fills += 1
            d.filled_qty += qty
            if f["maker"]:
                d.maker_qty += qty
                d.maker_notional += qty * Decimal(f["price"])
        for o in rows.orders:
            if o["state"] == "PendingNew":
                self.day(o["ts_ns"]).placed += 1
        for ts, kind, detail in rows.events:
            if kind == "funding":
                self.day(ts).funding += Decimal(detail)
            elif kind == "liquidation":
                self.day(ts).liquidations += 1
            elif kind == "over_rate_limit":
                self.day(ts).over_rate_limit += 1
            elif kind.startswith("risk."):
                n, first = self.run.risk_events.get(kind[5:], (0, (ts - self.start_ns) / 3.6e12))
                self.run.risk_events[kind[5:]] = (n + 1, first)
        self._samples(rows.samples)

    def _samples(self, samples: list[tuple[int, float, float, float, float, float]]) -> None:
        run, last_ts = self.run, None
        for ts, _mid, _pos, equity, bid, ask in samples:
            if math.isnan(equity):
                continue
            pnl = equity - run.balance
            run.pnl.append(pnl)
            self.peak = max(self.peak, pnl)
            d = self.day(ts)
            d.sampled_s += self.sample_s
            if bid > 0 or ask > 0:
                d.quoting_s += self.sample_s
                if bid > 0 and ask > 0:
                    d.two_sided_s += self.sample_s
            d.pnl_end = pnl
            d.max_drawdown = max(d.max_drawdown, self.peak - pnl)
            run.max_drawdown = max(run.max_drawdown, d.max_drawdown)
            last_ts = ts
        if last_ts is not None:
            run.hours_run = max(0.0, (last_ts - self.start_ns) / 3.6e12)
            for d in run.days:
                d.covered_s = min(86_400.0, max(0.0, (last_ts - self.start_ns) / 1e9 - d.day * 86_400.0))


def backtest_config(settings: Settings, symbol: str, latency: Latency) -> BacktestConfig:
    """The product's configuration as the backtester takes it: the paper venue's queue model,
    fees and account balance of the symbol's margin asset."""
    sv = settings.simvenue
    quote = "USDC" if symbol.endswith("USDC") else "USDT"
    fees = sv.fees.get(quote)
    balance = sv.accounts[0].balances.get(quote, Decimal(0)) if sv.accounts else Decimal(0)
    return BacktestConfig(
        settings=settings, template="ETHUSDC", latency=latency, queue_model=sv.queue_model,
        queue_power=sv.queue_power, maker_fee=fees.maker if fees else Decimal(0),
        taker_fee=fees.taker if fees else Decimal(0), balance=balance,
    )  # fmt: skip


def run_long(
    symbol: str,
    hours: float,
    settings: Settings,
    *,
    max_wall_s: float = math.inf,
    chunk_s: float = 600.0,
    market: str = "",
    seed: int | None = None,
    latency: Latency | None = None,
) -> LongRun:
    """``hours`` of ``symbol`` on the generated ``market`` (the settings' ``simvenue.model`` by
    default) with the settings' strategy, risk and gateway, bounded by ``max_wall_s`` of wall
    time (checked between chunks of ``chunk_s`` market seconds)."""
    wall0 = time.perf_counter()
    sv = settings.simvenue
    venue_sym = next((s for s in sv.symbols if s.symbol == symbol), None)
    if venue_sym is None:
        known = ", ".join(s.symbol for s in sv.symbols)
        raise ValueError(f"{symbol} is not a simvenue symbol (one of {known})")
    model = market or ("flow" if sv.model == "flow" else "synthetic")
    lat = latency or Latency(entry_ns=MS, response_ns=MS)
    cfg = backtest_config(settings, symbol, lat)
    run = LongRun(symbol, model, hours, float(cfg.balance))
    seconds = hours * 3600
    folder = _Folder(
        run, SYNTHETIC_START_NS, cfg.equity_every_ms / 1000, max(0, math.ceil(seconds / 86400) - 1)
    )
    chunks = synthetic_chunks(
        venue_sym, seconds, SYNTHETIC_START_NS, sv.step_ms, sv.seed if seed is None else seed, model, chunk_s
    )
    first = next(chunks)
    bt: Backtest | None = None

    def more() -> Iterator[MarketData]:
        for md in chunks:
            assert bt is not None
            folder.fold(bt.record.take_rows())
            if time.perf_counter() - wall0 > max_wall_s:
                run.bound_hit = True
                return
            yield md

    bt = Backtest(first, cfg, more=more())
    run.t0_ns = bt.t0
    rec = bt.run()
    folder.fold(rec.take_rows())
    run.wall_s = time.perf_counter() - wall0
    run.liquidations = rec.liquidations
    run.maint_margin_share = rec.maint_margin_share
    run.over_rate_limit = rec.over_rate_limit
    run.fees = float(rec.fees)
    run.final_position = float(rec.position)
    run.errors = len(rec.errors)
    figures = bt.risk.state(bt.loop.now_ns).figures
    run.risk_realized = figures.get(f"{symbol}.realized", math.nan)
    run.venue_realized = figures.get(f"{symbol}.gw_realized", math.nan)
    return run
