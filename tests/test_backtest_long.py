"""Long backtests: a generated market in chunks runs exactly as the whole market; the per-day
figures of :mod:`services.backtest.long_run` add up to the whole run's; the wall bound stops a run
between chunks; what the venue would have done beside matching (a liquidation, a request over
Binance's rate limits) is counted."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from common.config import Settings, load_settings
from common.config_sections import VenueSymbolConfig
from services.backtest.api import SYNTHETIC_START_NS
from services.backtest.data import synthetic, synthetic_chunks
from services.backtest.engine import Backtest, BacktestConfig, Latency
from services.backtest.long_run import DAY_NS, LongRun, _Folder, backtest_config, run_long

SYM = "ETHUSDC"
MS = 1_000_000
WALL_KEYS = ("events_per_s",)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


def _venue_sym(s: Settings) -> VenueSymbolConfig:
    return next(v for v in s.simvenue.symbols if v.symbol == SYM)


def test_the_market_in_chunks_is_the_whole_market_cut(settings: Settings) -> None:
    cfg = _venue_sym(settings)
    whole = synthetic(cfg, 50, SYNTHETIC_START_NS, 100, 7, "flow")
    parts = list(synthetic_chunks(cfg, 50, SYNTHETIC_START_NS, 100, 7, "flow", chunk_s=15))
    assert len(parts) == 4 and parts[0].start == whole.start and parts[1].start == []
    for name in ("t_exch_ns", "kind", "payload"):
        assert [x for p in parts for x in getattr(p, name)] == getattr(whole, name)


def test_a_run_on_chunks_is_the_run_on_the_whole_market(settings: Settings) -> None:
    """With a feed latency, our side's last events of a chunk come after the venue's first of the
    next: they are carried over, so nothing changes order at a chunk's edge."""
    cfg = _venue_sym(settings)
    lat = Latency(feed_ns=3 * MS, entry_ns=MS, response_ns=2 * MS)
    bcfg = BacktestConfig(settings=settings, latency=lat)
    whole = Backtest(synthetic(cfg, 120, SYNTHETIC_START_NS, 100, 7, "flow"), bcfg).run().summary()
    parts = synthetic_chunks(cfg, 120, SYNTHETIC_START_NS, 100, 7, "flow", chunk_s=25)
    bt = Backtest(next(parts), BacktestConfig(settings=settings, latency=lat), more=parts)
    chunked = bt.run().summary()
    assert whole["fills"] and whole["orders_placed"]
    assert {k: v for k, v in chunked.items() if k not in WALL_KEYS} == {
        k: v for k, v in whole.items() if k not in WALL_KEYS
    }


def test_chunks_need_one_feed_latency_for_every_event(settings: Settings) -> None:
    parts = synthetic_chunks(_venue_sym(settings), 10, SYNTHETIC_START_NS, chunk_s=5)
    cfg = BacktestConfig(settings=settings, latency=Latency(feed_from_data=True))
    with pytest.raises(ValueError, match="feed latency"):
        Backtest(next(parts), cfg, more=parts)


def test_the_days_of_a_long_run_add_up_to_the_whole_run(settings: Settings) -> None:
    """Four simulated minutes in chunks of 40 s: the figures folded piece by piece (the rows
    forgotten between chunks) are the whole run's."""
    r = run_long(SYM, 240 / 3600, settings, chunk_s=40)
    cfg = backtest_config(settings, SYM, Latency(entry_ns=MS, response_ns=MS))
    whole = Backtest(synthetic(_venue_sym(settings), 240, SYNTHETIC_START_NS, 100, 7, "flow"), cfg).run()
    s = whole.summary()
    assert r.market == "flow" and not r.bound_hit and r.hours_run == pytest.approx(240 / 3600, abs=1e-3)
    assert len(r.days) == 1 and r.days[0].covered_s == pytest.approx(240, abs=1)
    d = r.days[0]
    assert (d.fills, d.placed) == (s["fills"], s["orders_placed"]) and d.fills > 0
    assert float(d.filled_qty) == s["filled_qty"]
    maker = sum(Decimal(f["qty"]) for f in whole.fills if f["maker"])
    assert d.maker_qty == maker and d.maker_notional > 0
    assert r.max_drawdown == pytest.approx(s["max_drawdown"], abs=1e-6)
    assert r.pnl[-1] == pytest.approx(s["pnl"], abs=1e-6) and d.pnl_end == r.pnl[-1] == r.day_pnl(0)
    assert r.final_position == s["final_position"] and r.balance == 10_000
    assert (r.liquidations, r.over_rate_limit, r.errors) == (0, 0, 0)
    quoted = [x for x in whole.samples if x[4] > 0 or x[5] > 0]
    assert d.quoting_s == len(quoted) and d.two_sided_s == sum(1 for x in quoted if x[4] > 0 and x[5] > 0)
    assert d.sampled_s == len(whole.samples) >= d.quoting_s
    assert math.isfinite(r.risk_realized) and math.isfinite(r.venue_realized)
    n, first_h = r.risk_events["ready.ready"]
    assert n == 1 and -1 / 3600 < first_h < 0  # in the warm-up second before the market


def test_a_run_ending_on_a_day_boundary_has_no_day_after_it() -> None:
    """72 hours end at 00:00 of day 4; the last answers and sample, a few ms later, are day 3's."""
    folder = _Folder(LongRun(SYM, "flow", 72, 10_000), 0, 1.0, last_day=2)
    assert [folder.day(t).day for t in (-(10**9), 0, DAY_NS, 3 * DAY_NS + 5 * MS)] == [0, 0, 1, 2]
    assert len(folder.run.days) == 3


def test_the_wall_bound_ends_a_long_run_after_its_first_chunk(settings: Settings) -> None:
    r = run_long(SYM, 2.0, settings, max_wall_s=0.0, chunk_s=20, market="synthetic")
    assert r.bound_hit and r.market == "synthetic"
    assert r.hours_run == pytest.approx(20 / 3600, abs=2 / 3600)


def _backtest(settings: Settings) -> Backtest:
    md = synthetic(_venue_sym(settings), 5, SYNTHETIC_START_NS, 100, 7, "synthetic")
    return Backtest(md, BacktestConfig(settings=settings, balance=Decimal(100)))


def test_a_fall_of_the_margin_balance_to_maintenance_counts_one_liquidation(settings: Settings) -> None:
    """The check every equity sample makes (``_sample``), on a hand-made account: 1 ETH long from
    2,000 with 100 USDC: the margin balance (mark - 1,900) meets maintenance (0.4 % of the
    notional) at 1,907.63."""
    bt = _backtest(settings)
    pos = bt.account.position(SYM, "USDC")
    pos.qty, pos.entry = Decimal(1), Decimal(2000)
    for mark, liquidations in (("2000", 0), ("1910", 0), ("1905", 1), ("1800", 1), ("1990", 1), ("1890", 2)):
        bt.exchange.set_mark(SYM, Decimal(mark), Decimal(mark))
        bt._sample(bt.loop.now_ns)
        assert bt.record.liquidations == liquidations, mark
    # at 1,800: maintenance 7.2 against a margin balance of -100
    assert bt.record.maint_margin_share > 1
    assert [k for _t, k, _d in bt.record.events_log].count("liquidation") == 2


def test_requests_over_binances_order_limit_are_counted_not_refused(settings: Settings) -> None:
    """300 orders per 10 s: the 61st batch of five in one instant is over (-1015), and carried out."""
    bt = _backtest(settings)
    for _ in range(61):
        bt.venue._charge("POST", "/fapi/v1/batchOrders", {"batchOrders": "[]"})
    assert bt.venue.over_limit == {-1015: 1}
    assert [d for _t, k, d in bt.record.events_log if k == "over_rate_limit"] == ["-1015"]
