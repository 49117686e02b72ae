"""Derived features against hand-computed values on small constructed inputs."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import pytest

from services.marketdata.features import FeatureConfig, MarketFeatures, hybrid_reference
from services.marketdata.intensity import IntensityConfig, IntensityEstimator, fit_exponential
from services.marketdata.vpin import Vpin
from services.marketdata.windows import DecayedFlow, DecayedVolatility, Twap, Vwap

S = 1_000_000_000
TICK, STEP = Decimal("0.01"), Decimal("0.001")


def features(**config: object) -> MarketFeatures:
    return MarketFeatures("ETHUSDT", TICK, STEP, FeatureConfig(**config))  # type: ignore[arg-type]


def test_book_features_from_the_top_levels() -> None:
    f = features(depth_levels=2)
    # bid 1.00 x 3, 0.99 x 1, 0.98 x 50 (beyond N); ask 1.02 x 1, 1.03 x 1
    f.on_book([(100, 3000), (99, 1000), (98, 50000)], [(102, 1000), (103, 1000)], 5 * S, last_update_id=9)
    m = f.to_message(5 * S)
    assert (m.best_bid, m.best_ask, m.bid_qty, m.ask_qty) == pytest.approx((1.00, 1.02, 3.0, 1.0))
    assert m.mid == pytest.approx(1.01)
    assert m.microprice == pytest.approx((1.00 * 1 + 1.02 * 3) / 4)  # 1.015: leans to the thin ask
    assert m.spread == pytest.approx(0.02)
    assert m.spread_bps == pytest.approx(0.02 / 1.01 * 1e4)  # 198.02
    assert (m.depth_bid, m.depth_ask) == pytest.approx((4.0, 2.0))
    assert m.imbalance == pytest.approx((4 - 2) / 6)
    assert (m.last_update_id, m.ts_event, m.ts_init, m.price_tick) == (9, 5 * S, 5 * S, 0.01)


def test_one_sided_book_leaves_book_features_unset() -> None:
    f = features()
    f.on_book([(100, 1000)], [], S)
    m = f.to_message(S)
    assert (m.mid, m.spread_bps, m.imbalance, m.twap) == (0.0, 0.0, 0.0, 0.0)
    f.on_book([(100, 1000)], [(101, 1000)], 2 * S)
    f.on_book([], [(101, 1000)], 3 * S, last_update_id=5)  # stale bests are not left behind
    m = f.to_message(3 * S)
    assert (m.best_bid, m.best_ask, m.mid, m.last_update_id) == (0.0, 0.0, 0.0, 5)


def test_twap_weighs_the_mid_by_the_time_it_held() -> None:
    twap = Twap(window_s=35)
    twap.update(100.0, 0)
    twap.update(110.0, 10 * S)
    assert twap.value(40 * S) == pytest.approx((100 * 5 + 110 * 30) / 35)  # window [5 s, 40 s]
    assert twap.value(20 * S) == pytest.approx((100 * 10 + 110 * 10) / 20)  # only 20 s seen so far
    assert twap.value(60 * S) == pytest.approx(110.0)  # the 100 segment has left the window


def test_vwap_and_the_hybrid_reference_of_seed_003() -> None:
    f = features(twap_window_s=60, vwap_window_s=30)
    f.on_book([(10000, 1000)], [(10002, 1000)], 0)  # mid 100.01 from t = 0
    f.on_trade(90.0, 5.0, False, 1 * S)  # leaves the 30 s window by t = 40 s
    f.on_trade(100.0, 1.0, False, 20 * S)
    f.on_trade(104.0, 3.0, True, 30 * S)
    f.on_book([(10100, 1000)], [(10102, 1000)], 30 * S)  # mid 101.01 from t = 30 s
    m = f.to_message(40 * S)
    assert m.vwap == pytest.approx((100 * 1 + 104 * 3) / 4)  # 103
    assert m.twap == pytest.approx((100.01 * 30 + 101.01 * 10) / 40)
    assert m.ref_hybrid == pytest.approx(0.6 * m.twap + 0.4 * 103)
    assert m.last_trade_price == 104.0
    assert hybrid_reference(100.0, 0.0) == 100.0  # no trades in the window: TWAP alone


def test_vwap_is_zero_when_the_window_holds_no_trade() -> None:
    vwap = Vwap(window_s=10)
    vwap.update(100.0, 2.0, 0)
    assert vwap.value(5 * S) == 100.0
    assert vwap.value(10 * S) == 0.0


def test_vpin_on_a_tiny_bucket_example() -> None:
    vpin = Vpin(bucket_qty=10, window=2)
    vpin.update(6, True)
    vpin.update(4, False)  # bucket 1: |6 - 4| / 10 = 0.2
    assert (vpin.buckets, vpin.value) == (1, pytest.approx(0.2))
    vpin.update(15, True)  # bucket 2: 10 buys = 1.0; 5 buys spill into bucket 3
    assert vpin.value == pytest.approx((0.2 + 1.0) / 2)
    vpin.update(5, False)  # bucket 3: 5 / 5 = 0.0; bucket 1 leaves the window
    assert (vpin.buckets, vpin.value) == (2, pytest.approx((1.0 + 0.0) / 2))


def test_vpin_takes_the_side_from_the_aggressor_flag() -> None:
    f = features(vpin_bucket_qty=2.0, vpin_window_buckets=5)
    f.on_trade(100.0, 2.0, buyer_is_maker=True, ts_ns=S)  # a sell aggressor fills one bucket
    assert f.to_message(S).vpin == 1.0


def test_volatility_of_a_constant_size_series_is_its_per_second_scale() -> None:
    vol = DecayedVolatility(half_life_s=1.0)
    r = 0.001
    for i in range(50):
        vol.update(r if i % 2 else -r, S // 10)  # ±0.1 % every 100 ms
    assert vol.value == pytest.approx(r / math.sqrt(0.1))


def test_volatility_weighs_irregular_steps_by_time_decay() -> None:
    f = features(vol_half_lives_s=(("1s", 1.0), ("10s", 10.0)))
    f.on_book([(9999, 1)], [(10001, 1)], 0)  # mid 100.00
    f.on_book([(10099, 1)], [(10101, 1)], 1 * S)  # mid 101.00 after 1 s
    f.on_book([(9999, 1)], [(10001, 1)], 3 * S)  # mid 100.00 after 2 s more
    r1, r2 = math.log(101 / 100), math.log(100 / 101)
    vol = f.to_message(3 * S).vol
    for name, half_life in (("1s", 1.0), ("10s", 10.0)):
        w = 0.5 ** (2 / half_life)  # the first return is 2 s older than the second
        assert vol[name] == pytest.approx(math.sqrt((r1 * r1 * w + r2 * r2) / (1 * w + 2)))


def test_trade_flow_imbalance_decays_with_its_half_life() -> None:
    flow = DecayedFlow(half_life_s=10.0)
    flow.update(3.0, True, S)
    flow.update(1.0, False, S)
    assert flow.value == pytest.approx((3 - 1) / 4)
    flow = DecayedFlow(half_life_s=10.0)
    flow.update(1.0, True, S)
    flow.update(1.0, False, 11 * S)  # the buy has halved by then
    assert flow.value == pytest.approx((0.5 - 1) / 1.5)


def test_mark_price_and_funding_pass_through() -> None:
    f = features()
    f.on_mark(2681.5, 2680.9, 0.0001, 1_723_190_400_000, S)
    m = f.to_message(S)
    assert (m.mark_price, m.funding_rate, m.next_funding_time_ms) == (2681.5, 0.0001, 1_723_190_400_000)
    assert f.mark.index == 2680.9


def test_fit_exponential_recovers_exact_parameters() -> None:
    depths = [j + 0.5 for j in range(10)]
    fitted = fit_exponential(depths, [2.5 * math.exp(-0.4 * d) for d in depths])
    assert fitted == pytest.approx((2.5, 0.4))
    assert fit_exponential(depths, [0.0] * 9 + [1.0]) is None  # one point: nothing to fit


def test_intensity_fit_recovers_each_sides_a_and_k_from_synthetic_arrival_depths() -> None:
    # sells hit the bids at A = 1.5 per second, buys lift the asks at 0.5, both with k = 0.3 per
    # tick; each side's own fit recovers its A, and the symmetric figure is their mean, 1.0 (a
    # pooled fit would count an interval reached by either side)
    a_bid, a_ask, k, dt = 1.5, 0.5, 0.3, 0.1
    est = IntensityEstimator(IntensityConfig(window_s=6000, max_ticks=15, refit_interval_s=1e9))
    rng = random.Random(7)
    mid = 1000.5  # a one-tick spread: the touch is half a tick from the mid
    for i in range(60_000):
        t = i * S // 10
        est.on_mid(mid, t)
        # P(depth > δ) = A·dt·e^(−kδ) per side: a trade with probability A·dt, its depth ~ Exp(k)
        if rng.random() < a_bid * dt:
            est.on_trade(mid - rng.expovariate(k), False, t + S // 20)
        if rng.random() < a_ask * dt:
            est.on_trade(mid + rng.expovariate(k), True, t + S // 20)
    est.advance(60_000 * S // 10)
    assert est.samples == 60_000
    assert est.refit()
    # binning: at most one arrival per 100 ms interval and side, so the estimate sits about
    # A·dt/2 below A (7.5 % for the bids, 2.5 % for the asks); 10 % covers that and the noise
    assert est.a_bid == pytest.approx(a_bid, rel=0.1) and est.a_ask == pytest.approx(a_ask, rel=0.1)
    assert est.a == pytest.approx((a_bid + a_ask) / 2, rel=0.1)
    assert (est.k_bid, est.k_ask, est.k) == pytest.approx((k, k, k), rel=0.05)


def test_the_simulated_venues_per_side_arrival_rate_is_recovered_from_its_market_data() -> None:
    """The synthetic market sends market orders at ``intensity_a`` per second on each side, each
    sweeping Exp(``intensity_k``) ticks from its mid (``services/venue/market/synthetic.py``); the
    estimator, fed the venue's book and trades as marketdata sees them, recovers both."""
    from common.config import load_settings
    from services.backtest.api import SYNTHETIC_START_NS
    from services.backtest.data import DEPTH, TRADE, synthetic
    from services.marketdata.book import OrderBook
    from services.venue.orderbook import BUY

    s = load_settings("paper")
    cfg = next(x for x in s.simvenue.symbols if x.symbol == "ETHUSDC")
    md = synthetic(cfg, 3600.0, SYNTHETIC_START_NS, s.simvenue.step_ms, 7)
    book = OrderBook(md.tick, md.step)
    for side, p, q in md.start:
        book.set_level(side == BUY, p, q)
    est = IntensityEstimator(IntensityConfig(window_s=7200, refit_interval_s=1e9))
    for t, kind, payload in zip(md.t_exch_ns, md.kind, md.payload, strict=True):
        if kind == DEPTH:
            for side, p, q in payload:
                book.set_level(side == BUY, p, q)
            bids, asks = book.top(1)
            if bids and asks:
                est.on_mid((bids[0][0] + asks[0][0]) / 2, t)
        elif kind == TRADE:
            aggressor, p, _q = payload
            est.on_trade(p, aggressor == BUY, t)
    est.advance(md.t_exch_ns[-1] + S)
    assert est.refit()
    # A per side 0.63 a second, k 0.058 per tick. Binning takes ~3 % off A, and a sweep's depth is
    # seen at the deepest level it hit, not where it stopped: 10 % for the two sides' mean, 15 %
    # for each side alone (an hour holds ~2,000 arrivals a side). A pooled fit, about 1.2, fails.
    assert est.a == pytest.approx(cfg.intensity_a, rel=0.1)
    assert est.a_bid == pytest.approx(cfg.intensity_a, rel=0.15)
    assert est.a_ask == pytest.approx(cfg.intensity_a, rel=0.15)
    for k in (est.k, est.k_bid, est.k_ask):
        assert k == pytest.approx(cfg.intensity_k, rel=0.1)


def _fed(cfg: IntensityConfig, depths: list[float]) -> IntensityEstimator:
    """One interval per depth, the same depth on both sides (0: no trade), mid 1000.5 ticks."""
    est = IntensityEstimator(cfg)
    for i, d in enumerate(depths):
        t = i * S // 10
        est.on_mid(1000.5, t)
        if d:
            est.on_trade(1000.5 - d, False, t + 1)
            est.on_trade(1000.5 + d, True, t + 1)
    est.advance(len(depths) * S // 10)
    return est


def test_too_few_arrivals_fit_nothing_and_a_steep_k_is_held_at_its_bound() -> None:
    # by hand: 865 intervals reach 1 tick, 117 reach 2, 18 reach 3: counts past 0.5, 1.5, 2.5 are
    # 1000, 135, 18, ratios e^-2, so k = 2 per tick
    depths = [1.0] * 865 + [2.0] * 117 + [3.0] * 18 + [0.0] * 1000
    cfg = IntensityConfig(window_s=300, max_ticks=3, refit_interval_s=1e9, min_window_s=0)
    est = _fed(cfg, depths)
    assert est.refit() and est.k == pytest.approx(2.0, rel=0.01)
    held = _fed(IntensityConfig(window_s=300, max_ticks=3, refit_interval_s=1e9, min_window_s=0, k_max=1.0),
                depths)  # fmt: skip
    assert held.refit() and held.k == 1.0 and held.k_bid == 1.0
    # 2,000 intervals but only 1,000 arrivals a side: with 1,001 needed nothing is fitted
    few = _fed(IntensityConfig(window_s=300, max_ticks=3, refit_interval_s=1e9, min_window_s=0,
                               min_arrivals=1001), depths)  # fmt: skip
    assert not few.refit() and (few.a, few.k, few.a_bid, few.a_ask) == (0.0, 0.0, 0.0, 0.0)


def test_intensity_keeps_previous_values_until_enough_data() -> None:
    f = features(intensity=IntensityConfig(min_window_s=10.0, max_ticks=10, refit_interval_s=1.0))
    for i in range(50):  # 5 s of data: too little
        f.on_book([(1000, 1000)], [(1001, 1000)], i * S // 10)
        f.on_trade(10.03 if i % 2 else 9.98, 1.0, False, i * S // 10 + 1)
    m = f.to_message(5 * S)
    assert (m.intensity_a, m.intensity_k, f.intensity.samples) == (0.0, 0.0, 49)
