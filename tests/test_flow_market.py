"""The order-flow market (``simvenue.model = "flow"``): its arrivals against the Hawkes process's
theory, its book mechanics on hand-built cases, and its default parameters against the recorded
Binance file on every statistic of ``calibrate --compare``."""

from __future__ import annotations

import statistics
from decimal import Decimal
from pathlib import Path

import pytest

from common.config import load_settings
from common.config_sections import VenueSymbolConfig
from services.backtest.api import SYNTHETIC_START_NS, load
from services.backtest.data import synthetic
from services.backtest.market_stats import compare, measure
from services.venue.calibrate import SPAN_FACTOR, branching_for, hawkes_dispersion
from services.venue.market.flow import FlowMarket
from services.venue.orderbook import BUY, SELL

RECORDED = Path(__file__).resolve().parent.parent / "data" / "binance" / "usdm_ethusdt_20240808.gz"


def _cfg(**kw: object) -> VenueSymbolConfig:
    base: dict[str, object] = {
        "symbol": "ETHUSDC", "base_asset": "ETH", "quote_asset": "USDC", "price_tick": Decimal("0.01"),
        "qty_step": Decimal("0.001"), "min_qty": Decimal("0.001"), "max_qty": Decimal(10000),
        "market_max_qty": Decimal(2000), "min_notional": Decimal(10), "start_price": Decimal("100.005"),
        "level_qty": Decimal(1), "flow_sigma": 0.0, "jumps_per_hour": 0.0, "book_levels": 5,
    }  # fmt: skip
    return VenueSymbolConfig.model_validate({**base, **kw})


def test_hawkes_count_dispersion_on_a_hand_computed_case() -> None:
    # n = 0.5, kernel 0.1 s, window 1 s: γT = 0.5 / 0.1 = 5; (1 − e^−5)/5 = 0.1986524;
    # 1 − 0.75 · 0.1986524 = 0.8510107; × 1/(1 − 0.5)² = 4 → 3.404043
    assert hawkes_dispersion(0.5, 0.1) == pytest.approx(3.404043, abs=1e-6)
    assert hawkes_dispersion(0.0, 0.1) == pytest.approx(1.0)  # Poisson
    assert hawkes_dispersion(0.5, 1e-6) == pytest.approx(4.0, rel=1e-4)  # windows ≫ the kernel
    assert branching_for(3.404043, 0.1) == pytest.approx(0.5, abs=1e-3)
    assert branching_for(0.8, 0.1) == 0.0


def test_arrivals_are_the_hawkes_process_of_their_parameters() -> None:
    # 3,000 s of one side at a stationary rate of 2/s, n = 0.5, kernel 0.1 s: the rate is 2/s and
    # counts per second have variance/mean 3.404 (the hand-computed case above)
    m = FlowMarket(_cfg(taker_rate=2.0, taker_branching=0.5, taker_decay_s=0.1), seed=5)
    per_s = []
    for _ in range(3000):
        n = 0
        for _ in range(10):
            n += len(m._arrivals(BUY, 0.1))
        per_s.append(n)
    mean = statistics.fmean(per_s)
    assert mean == pytest.approx(2.0, rel=0.06)
    assert statistics.pvariance(per_s) / mean == pytest.approx(3.404, rel=0.12)


def test_a_buy_larger_than_the_touch_walks_and_moves_the_price_to_the_next_level() -> None:
    m = FlowMarket(_cfg(spread_ticks=1, impact_ticks=0.0), seed=1)
    m.ref = 100.5  # bids from 100 down, asks from 101 up
    m.levels = {BUY: {100: 7, 99: 9}, SELL: {101: 5, 102: 8, 103: 8}}
    trades: list[tuple[int, int, int]] = []
    changes: list[tuple[int, int, int]] = []
    m._take(BUY, 9, trades, changes)
    assert trades == [(BUY, 101, 5), (BUY, 102, 4)]
    assert changes == [(SELL, 101, 0), (SELL, 102, 4)]
    # 101 is gone: the best ask is 102 and the price sits half a tick below it
    assert m.ref == 101.5 and m._touch() == (101, 102)
    # a sell that leaves part of the touch does not move the price
    m._take(SELL, 3, trades, changes)
    assert trades[-1] == (SELL, 100, 3) and m.ref == 101.5


def test_an_order_moves_the_price_by_its_square_root_impact() -> None:
    # a buy of 4 × the median (0.8 against 0.2) into an empty book: +impact · √4 = +0.5 · 2 ticks
    m = FlowMarket(_cfg(impact_ticks=0.5, taker_qty_median=Decimal("0.2")), seed=1)
    m.ref, m.levels = 100.5, {BUY: {}, SELL: {}}
    m.order(BUY, 800, [], [])
    assert m.ref == pytest.approx(101.5)
    m.order(SELL, 50, [], [])  # a quarter of the median: −0.5 · 0.5
    assert m.ref == pytest.approx(101.25)


def test_the_default_flow_market_looks_like_the_recorded_one() -> None:
    """Every statistic of ``calibrate --compare`` within ±25 % of the recorded ETHUSDT file, on a
    seed the calibration did not use (it fits with seed 11), the model measured over four times the
    recording's span as ``--compare`` does."""
    settings = load_settings()
    cfg = next(s for s in settings.simvenue.symbols if s.symbol == "ETHUSDC")
    md = load(RECORDED, "ETHUSDT", settings)
    real = measure(md)
    synth = measure(synthetic(cfg, SPAN_FACTOR * md.span_s, SYNTHETIC_START_NS, 100, 3, "flow"))
    rows = compare(real, synth)
    assert len(rows) == 10
    assert [name for name, _r, _s, ok in rows if not ok] == [], rows
