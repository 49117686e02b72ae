"""Pinning, grinding, funding bias and anti-flicker, each triggered and released in a scenario."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from common.params.strategy import SymbolStrategy
from services.strategy.engine import Decision, decide
from services.strategy.flicker import anchored, cost, differs, should_publish, within_budget
from services.strategy.funding import funding_weight
from services.strategy.legs import LAYER_GRIND_REENTRY, Leg
from services.strategy.state import StrategyState
from tests.fixtures.strategy_samples import T0_NS, features, inputs

S = 1_000_000_000
MS = 1_000_000


class Scenario:
    """Feeds successive decisions through one state, as the service does."""

    def __init__(self, params: SymbolStrategy) -> None:
        self.params = params
        self.state = StrategyState()

    def step(self, position: str, bid: float = 2680.00, now: int = T0_NS, **kw: Any) -> Decision:
        feat = kw.pop("feat", {})
        f = features(bid, round(bid + 0.01, 2), ts_ns=now, **feat)
        d = decide(inputs(position, now_ns=now, features=f, **kw), self.params, self.state)
        self.state = d.state
        return d


def _layers(d: Decision, side: str) -> dict[int, tuple[str, str]]:
    return {q.layer: (str(q.price), str(q.qty)) for q in d.quotes if q.side == side}


def _far_price(anchor: float, j: int) -> str:
    return f"{math.ceil(anchor * (1 + 0.048 + j * 0.072 / 15) * 100) / 100:.2f}"


def test_pinning_triggers_above_70pct_keeps_far_layers_fixed_and_releases_with_hysteresis() -> None:
    # moves within a second of the cold ladder: the per-second move budget is not under test here
    sc = Scenario(SymbolStrategy.model_validate({"grinding": {"enabled": False}, "maxMovesPerSecond": 1000}))
    calm = sc.step("0.10")
    assert "pinning" not in calm.record.flags

    pinned = sc.step("0.15", now=T0_NS + S)
    asks = _layers(pinned, "SELL")
    assert "pinning" in pinned.record.flags
    assert asks[0] == ("2680.01", "0.020")  # nailed to the best ask, 2.3 x base size
    assert [asks[8], asks[9]] == [(_far_price(2680.005, 0), "0.080"), (_far_price(2680.005, 1), "0.080")]
    assert asks[11][1] == "0.061"  # the netMax worst case (0.15 + 0.21) trims the far ladder

    drift = sc.step("0.15", bid=2693.40, now=T0_NS + 2 * S)
    moved = _layers(drift, "SELL")
    assert moved[0] == ("2693.41", "0.020")  # the near layers follow the market
    assert [moved[j] for j in (8, 9, 10)] == [asks[j] for j in (8, 9, 10)]  # the far ones stay

    jump = sc.step("0.15", bid=2760.40, now=T0_NS + 3 * S)
    assert _layers(jump, "SELL")[8] == (_far_price(2760.405, 0), "0.080")  # beyond 2%: re-anchored

    held = sc.step("0.13", bid=2760.40, now=T0_NS + 4 * S)
    assert "pinning" in held.record.flags  # 0.13 is below 70% but above the 60% release

    released = sc.step("0.12", bid=2760.40, now=T0_NS + 5 * S)
    asks = _layers(released, "SELL")
    assert "pinning" not in released.record.flags
    assert asks[0][1] == "0.009"
    assert not [q for q in released.quotes if q.qty == Decimal("0.080")]


def test_a_short_position_pins_the_bid_at_the_best_bid() -> None:
    d = Scenario(SymbolStrategy()).step("-0.15")
    assert _layers(d, "BUY")[0] == ("2680.00", "0.020")
    assert d.state.pin.side == "BUY"


def test_a_position_that_flips_across_the_threshold_pins_the_other_side_at_once() -> None:
    sc = Scenario(SymbolStrategy.model_validate({"grinding": {"enabled": False}}))
    assert sc.step("0.15").state.pin.side == "SELL"
    flipped = sc.step("-0.16", now=T0_NS + S)
    assert (flipped.state.pin.side, flipped.state.pin.since_ns) == ("BUY", T0_NS + S)
    assert _layers(flipped, "BUY")[0] == ("2680.00", "0.020")


def test_grinding_slices_as_taker_re_enters_cheaper_and_cools_down() -> None:
    """0.19 > 87% of 0.21 in a calm market: sell 7.5% (0.01425 -> 0.014) as taker, bid to buy back."""
    sc = Scenario(SymbolStrategy())
    d = sc.step("0.19")
    assert [(a.qty, a.mode, a.reason) for a in d.actions] == [(Decimal("0.014"), "taker", "grinding")]
    assert "grinding" in d.record.flags
    # re-entry at least 4.2 bps under the best bid (2678.87), never above the skewed inner bid;
    # 2.1 x 0.014 = 0.0294, trimmed to what netMax leaves: 0.21 - 0.19 - 0.009 (the inner bid) = 0.011
    inner_bid = d.record.inputs["centre"] - d.record.inputs["half_spread"]
    want = f"{math.floor(min(2680.00 * (1 - 4.2e-4), inner_bid) * 100) / 100:.2f}"
    assert _layers(d, "BUY") == {0: (want, "0.009"), LAYER_GRIND_REENTRY: (want, "0.011")}
    assert Decimal(want) <= Decimal("2678.87")

    again = sc.step("0.19", now=T0_NS + S)
    assert again.actions == []
    assert _layers(again, "BUY")[LAYER_GRIND_REENTRY] == (want, "0.011")

    later = sc.step("0.19", now=T0_NS + 61 * S)
    assert len(later.actions) == 1


def test_grinding_needs_a_calm_market_and_releases_when_it_is_not() -> None:
    """Calm: vol(60s)·√1800 < 0.38 %; the samples' 5e-5 per √s gives 0.21 %, 1e-4 gives 0.42 %."""
    sc = Scenario(SymbolStrategy())
    assert sc.step("0.19").actions
    stormy = sc.step("0.19", now=T0_NS + S, feat={"vol": {"10s": 1e-4, "60s": 1e-4}})  # 30 min: 0.42%
    assert stormy.actions == [] and "grinding" not in stormy.record.flags
    assert LAYER_GRIND_REENTRY not in _layers(stormy, "BUY")
    unknown = Scenario(SymbolStrategy()).step("0.19", feat={"vol": {"10s": 1e-4}})
    assert unknown.actions == []


def test_grinding_releases_below_its_release_level_and_withdraws_a_filled_reentry() -> None:
    sc = Scenario(SymbolStrategy())
    sc.step("0.19")
    filled = sc.step("0.19", now=T0_NS + S, last_fill_ns=T0_NS + S // 2, last_fill_side="BUY")
    assert "grinding" in filled.record.flags
    assert LAYER_GRIND_REENTRY not in _layers(filled, "BUY")
    released = sc.step("0.16", now=T0_NS + 2 * S)
    assert "grinding" not in released.record.flags
    assert not released.state.grind.active


def test_funding_weight_ramps_in_over_the_horizon_and_is_zero_outside() -> None:
    now_ms = T0_NS // MS
    assert funding_weight(T0_NS, now_ms + 1_800_000, 3600) == pytest.approx(0.5)
    assert funding_weight(T0_NS, now_ms + 7_200_000, 3600) == 0.0
    assert funding_weight(T0_NS, now_ms - 1, 3600) == 0.0
    assert funding_weight(T0_NS, 0, 3600) == 0.0


def test_funding_bias_pushes_quotes_down_when_longs_pay_and_up_when_shorts_pay() -> None:
    p = SymbolStrategy.model_validate({"pinning": {"enabled": False}, "grinding": {"enabled": False}})
    soon = T0_NS // MS + 600_000
    base = Scenario(p).step("0")
    pay = Scenario(p).step("0", feat={"funding_rate": 0.0003, "next_funding_time_ms": soon})
    get = Scenario(p).step("0", feat={"funding_rate": -0.0003, "next_funding_time_ms": soon})
    assert pay.record.inputs["funding_bias"] < 0 < get.record.inputs["funding_bias"]
    for side in ("BUY", "SELL"):
        assert _layers(pay, side)[0][0] < _layers(base, side)[0][0] < _layers(get, side)[0][0]


def _legs(*ticks: int) -> list[Leg]:
    return [Leg("BUY", i, t, 9) for i, t in enumerate(ticks)]


def test_differs_ignores_moves_within_the_tolerance_and_sees_everything_else() -> None:
    old = _legs(100, 90)
    assert not differs(_legs(102, 88), old, tolerance_ticks=2)
    assert differs(_legs(103, 90), old, tolerance_ticks=2)
    assert differs(_legs(100), old, tolerance_ticks=2)
    assert differs([old[0]._replace(steps=8), old[1]], old, tolerance_ticks=2)
    assert differs([old[0]._replace(reduce_only=True), old[1]], old, tolerance_ticks=2)


def test_anchoring_keeps_a_leg_within_its_share_of_the_distance_and_never_through_the_touch() -> None:
    old = [Leg("BUY", 0, 990, 9), Leg("BUY", 1, 900, 9), Leg("SELL", 0, 1010, 9)]
    # mid at 1000 ticks: layer 0 sits 10 out (tolerance max(2, int(0.2 x 12)) = 2), layer 1 100 out
    new = [Leg("BUY", 0, 988, 9), Leg("BUY", 1, 880, 9), Leg("SELL", 0, 1013, 9)]
    got = anchored(new, old, 1000.0, 2, 0.2, bid_cap=1000, ask_floor=1000)
    # 988 vs 990: 2 ticks <= 2, kept; 880 vs 900: 20 <= int(0.2 x 120) = 24, kept; 1013 vs 1010:
    # 3 > max(2, int(0.2 x 13)) = 2, moved
    assert [leg.ticks for leg in got] == [990, 900, 1013]
    # the same, but the best ask fell to 990: a bid at 990 would take, so it moves
    assert anchored(new, old, 985.0, 2, 0.2, 989, 981)[0].ticks == 988
    # a size or flag change is never anchored; nothing published before: nothing to anchor to
    assert anchored([new[1]._replace(steps=8)], old, 1000.0, 2, 0.2, 1000, 1000)[0].ticks == 880
    assert anchored(new, [], 1000.0, 2, 0.2, 1000, 1000) == new


def test_a_set_costs_one_action_per_new_moved_or_removed_quote() -> None:
    old = [Leg("BUY", 0, 990, 9), Leg("BUY", 1, 980, 9), Leg("SELL", 0, 1010, 9)]
    new = [Leg("BUY", 0, 991, 9), Leg("BUY", 1, 980, 9), Leg("BUY", 2, 970, 9)]
    # BUY 0 moved, BUY 1 kept, BUY 2 new, SELL 0 removed: 3 actions
    assert cost(new, old) == 3 and cost(old, old) == 0 and cost([], old) == 3


def test_over_the_budget_the_outer_price_moves_wait_and_the_rest_goes() -> None:
    # mid at 1000 ticks; every layer moved 5 ticks down, and a new layer 3 appears
    old = [Leg("BUY", i, 990 - 10 * i, 9) for i in range(3)]
    new = [Leg("BUY", i, 985 - 10 * i, 9) for i in range(3)] + [Leg("BUY", 3, 955, 9)]
    # cost 4; with 2 actions left the new layer goes (must) and one move fits: the innermost
    got, waited = within_budget(new, old, 2, 1000.0, bid_cap=999, ask_floor=1001)
    assert [leg.ticks for leg in got] == [985, 980, 970, 955] and waited == 2
    # a budget that holds all of it changes nothing
    assert within_budget(new, old, 4, 1000.0, 999, 1001) == (new, 0)
    # an old price that would now take must move, budget or not: the best ask fell to 988, so the
    # old bid at 990 moves to 985 with no budget left; the passive layers 1 and 2 wait
    got, waited = within_budget(new, old, 0, 987.5, bid_cap=987, ask_floor=988)
    assert [leg.ticks for leg in got] == [985, 980, 970, 955] and waited == 2


def test_should_publish_waits_for_the_interval_unless_urgent() -> None:
    old = _legs(100)
    assert not should_publish(_legs(105), old, False, 100 * MS, 2, 500)
    assert should_publish(_legs(105), old, False, 500 * MS, 2, 500)
    assert should_publish([], old, False, 1 * MS, 2, 500)
    assert should_publish(old, old, True, 1 * MS, 2, 500)


def test_anti_flicker_suppresses_a_one_tick_wiggle_and_passes_a_real_move() -> None:
    # the 3 bps floor; the per-second move budget is not under test here
    sc = Scenario(
        SymbolStrategy.model_validate({"asmm": {"spreadFloor": "fixed"}, "maxMovesPerSecond": 1000})
    )
    first = sc.step("0")
    assert first.publish
    # layer 0 rests 80 ticks from the 2680.005 mid (bid 2679.20, ask 2680.81), layer 1 at 2678.39
    # (161 ticks out): tolerances by hand int(0.2 x 80.5) = 16 and int(0.2 x 161.5) = 32 ticks
    assert (_layers(first, "BUY")[0][0], _layers(first, "BUY")[1][0]) == ("2679.20", "2678.39")
    assert not sc.step("0", bid=2680.01, now=T0_NS + 100 * MS).publish
    assert not sc.step("0", bid=2680.20, now=T0_NS + 300 * MS).publish  # real, but inside the interval
    assert not sc.step("0", bid=2680.05, now=T0_NS + 600 * MS).publish  # 5 ticks: within layer 0's 16
    moved = sc.step("0", bid=2680.20, now=T0_NS + 700 * MS)
    assert moved.publish  # 20 ticks: beyond layer 0's tolerance, within layer 1's
    bids, asks = _layers(moved, "BUY"), _layers(moved, "SELL")
    assert (bids[0][0], asks[0][0]) == ("2679.40", "2681.01")  # the inner layers follow the market
    assert (bids[1][0], asks[1][0]) == ("2678.39", "2681.62")  # the next ones stay where they rest
    assert [bids[j] for j in range(1, 8)] == [_layers(first, "BUY")[j] for j in range(1, 8)]
    assert sc.state.published == tuple(
        Leg(q.side, q.layer, int(q.price / Decimal("0.01")), int(q.qty / Decimal("0.001")), q.reduce_only)
        for q in moved.quotes
    )


def test_price_moves_wait_for_the_per_second_budget_inner_legs_first() -> None:
    """maxMovesPerSecond 12 (default), shared over the second's publications (500 ms apart: 6 at
    each): the cold ladder (48 legs at T0) fills the second, so a real move 0.7 s later waits
    (budget_held) and goes at 1.1 s; a jump that moves every layer moves 6 legs at each publication,
    innermost first: layers 0-2 at once, layers 3-5 half a second later."""
    sc = Scenario(SymbolStrategy.model_validate({"asmm": {"spreadFloor": "fixed"}}))
    first = sc.step("0")
    assert first.publish and len(first.quotes) == 48
    held = sc.step("0", bid=2680.20, now=T0_NS + 700 * MS)  # 20 ticks: layer 0 would move
    assert "budget_held" in held.record.flags and not held.publish
    moved = sc.step("0", bid=2680.20, now=T0_NS + 1100 * MS)
    assert moved.publish and "budget_held" not in moved.record.flags
    assert (_layers(moved, "BUY")[0][0], _layers(moved, "SELL")[0][0]) == ("2679.40", "2681.01")
    before = {(q.side, q.layer): q.price for q in moved.quotes}
    jump = sc.step("0", bid=2681.60, now=T0_NS + 2200 * MS)  # +140 ticks
    changed = sorted((q.layer, q.side) for q in jump.quotes if before[(q.side, q.layer)] != q.price)
    assert jump.publish and "budget_held" in jump.record.flags
    assert len(changed) == 6 and {layer for layer, _ in changed} == {0, 1, 2}
    before = {(q.side, q.layer): q.price for q in jump.quotes}
    nxt = sc.step("0", bid=2681.60, now=T0_NS + 2700 * MS)
    changed = sorted((q.layer, q.side) for q in nxt.quotes if before[(q.side, q.layer)] != q.price)
    assert nxt.publish and len(changed) == 6 and {layer for layer, _ in changed} == {3, 4, 5}
