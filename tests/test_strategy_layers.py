"""The layer ladder and the rounding onto tick and step: spacing, decay, direction, filters."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.instrument import check_order, price_for_side, qty_down
from common.params.strategy import AsmmParams
from services.strategy.caps import finalize
from services.strategy.context import Market
from services.strategy.layers import Ladder, ladder_of, offsets, side_levels, sizes
from services.strategy.legs import Level, to_leg, to_quote
from services.strategy.rounding import ask_ticks, bid_ticks, grid_of, steps_down, steps_up
from tests.fixtures.strategy_samples import T0_NS, features, instrument

ETH = grid_of(instrument("ETHUSDC"))
BTC = grid_of(instrument("BTCUSDC"))


def _market(q_steps: int = 0, bid: float = 2000.00, ask: float = 2000.01) -> Market:
    f = features(bid, ask)
    return Market("ETHUSDC", T0_NS, f, ETH, f.mid, bid, ask, q_steps * 0.001, q_steps, 0.0, 0, "", ())


def test_geometric_gaps_grow_by_the_ratio_and_linear_gaps_are_equal() -> None:
    geo = Ladder("geometric", 1.2, 0.9, 0.009, 1.0)
    assert offsets(4, geo) == pytest.approx([0.0, 1.0, 2.2, 3.64])
    assert offsets(4, geo._replace(mode="linear")) == pytest.approx([0.0, 1.0, 2.0, 3.0])


def test_sizes_decay_from_the_base_and_the_first_can_be_enlarged() -> None:
    ld = ladder_of(AsmmParams(), gap=0.5)
    assert sizes(3, ld) == pytest.approx([0.009, 0.0081, 0.00729])
    assert sizes(2, ld, first=0.0207) == pytest.approx([0.0207, 0.0081])


def test_bids_step_down_and_asks_step_up_from_their_inner_price() -> None:
    ld = Ladder("geometric", 1.2, 1.0, 0.01, 0.5)
    bids = side_levels("BUY", 100.0, 3, ld)
    asks = side_levels("SELL", 101.0, 3, ld, first_layer=5)
    assert [lv.price for lv in bids] == pytest.approx([100.0, 99.5, 98.9])
    assert [lv.price for lv in asks] == pytest.approx([101.0, 101.5, 102.1])
    assert [lv.layer for lv in asks] == [5, 6, 7]


def test_hand_rounded_eth_quotes() -> None:
    bid = to_quote(to_leg(Level("BUY", 0, 2679.999, 0.0099), ETH), ETH)
    ask = to_quote(to_leg(Level("SELL", 0, 2680.001, 0.0099), ETH), ETH)
    on_grid = to_quote(to_leg(Level("SELL", 1, 2680.01, 0.009), ETH), ETH)
    assert (bid.price, bid.qty) == (Decimal("2679.99"), Decimal("0.009"))
    assert (ask.price, ask.qty) == (Decimal("2680.01"), Decimal("0.009"))
    assert (on_grid.price, on_grid.qty) == (Decimal("2680.01"), Decimal("0.009"))
    assert str(to_quote(to_leg(Level("BUY", 0, 61000.04, 0.002), BTC), BTC).price) == "61000.0"


def test_a_minimum_size_rounds_up_never_below_what_was_asked() -> None:
    assert steps_up(10000 / 1993.60, ETH) == 5017
    assert steps_up(0.003, ETH) == 3
    assert steps_down(0.003, ETH) == 3


prices = st.floats(min_value=0.01, max_value=200_000, allow_nan=False, allow_infinity=False)
near_grid = st.builds(
    lambda n, eps: n * 0.01 + eps,
    st.integers(1, 20_000_000),
    st.sampled_from([0.0, 1e-12, -1e-12, 5e-10, -5e-10]),
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(prices, near_grid))
def test_fast_rounding_equals_the_exact_decimal_rounding(price: float) -> None:
    exact_bid = price_for_side(ETH.inst, "BUY", price)
    exact_ask = price_for_side(ETH.inst, "SELL", price)
    assert bid_ticks(price, ETH) * ETH.tick == exact_bid
    assert ask_ticks(price, ETH) * ETH.tick == exact_ask
    assert exact_bid <= Decimal(repr(price)) <= exact_ask


sizes_near_steps = st.builds(
    lambda n, eps: n * 0.001 + eps,
    st.integers(1, 5_000_000),
    st.sampled_from([0.0, 1e-13, -1e-13, 1e-7, -1e-7]),
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(min_value=0.0005, max_value=5000, allow_nan=False), sizes_near_steps))
def test_size_rounding_is_the_exact_rounding_except_a_snap_within_a_millionth_of_a_step(size: float) -> None:
    in_steps = Decimal(repr(size)) / ETH.step
    exact_down = int(qty_down(ETH.inst, size) / ETH.step)
    down, up = steps_down(size, ETH), steps_up(size, ETH)
    assert down == exact_down or (down == exact_down + 1 and down - in_steps <= Decimal("1e-6"))
    assert up - 1 < in_steps + Decimal("1e-6") and up >= in_steps - Decimal("1e-6")


def test_a_size_a_float_hair_below_a_step_is_that_step() -> None:
    assert steps_down(0.02 * 2.3, ETH) == 46  # 0.045999999999999996
    assert steps_up(0.0030000000000000001, ETH) == 3


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=1000, max_value=3000),
    st.floats(min_value=0.001, max_value=5.0),
    st.floats(min_value=0.0001, max_value=0.5),
)
def test_rounding_never_makes_a_quote_more_aggressive_than_the_model(
    mid: float, gap: float, size: float
) -> None:
    ld = Ladder("geometric", 1.2, 0.9, size, gap)
    levels = side_levels("BUY", mid - gap, 10, ld) + side_levels("SELL", mid + gap, 10, ld)
    for level in levels:
        quote = to_quote(to_leg(level, ETH), ETH)
        model = Decimal(repr(level.price))
        assert quote.price <= model if level.side == "BUY" else quote.price >= model
        assert quote.qty <= Decimal(repr(level.size)) + ETH.step * Decimal("1e-6")


def test_layers_below_min_qty_or_min_notional_are_raised_to_the_minimum_not_dropped() -> None:
    # minQty 0.001, step 0.001, min notional 10 USDC; by hand, the smallest valid size at a price
    # is ceil(10 / price / 0.001) steps: 6 at 1999.00 and 1998.00 (5 x 1.999 = 9.995 < 10), 5 at
    # 2002.00 (10.01)
    levels = [
        Level("BUY", 0, 1999.00, 0.0005),  # below minQty: raised to 6 steps (11.994 USDC)
        Level("BUY", 1, 1998.00, 0.004),  # 7.99 USDC: raised to 6 steps (11.988 USDC)
        Level("BUY", 2, 1997.00, 0.0),  # the model asked for nothing: nothing
        Level("SELL", 0, 2001.00, 0.005),  # 10.005 USDC: kept as it is
        Level("SELL", 1, 2002.00, 0.004),  # 8.008 USDC: raised to 5 steps (10.01 USDC)
        Level("SELL", 100, 2003.00, 0.004, reduce_only=True),  # reduce-only: exempt from min notional
    ]
    legs = finalize(levels, _market(q_steps=4), net_steps=210, reduce_only_mode=False)
    assert [(leg.side, leg.layer, leg.steps) for leg in legs] == [
        ("BUY", 0, 6), ("BUY", 1, 6), ("SELL", 0, 5), ("SELL", 1, 5), ("SELL", 100, 4),
    ]  # fmt: skip
    for leg in legs:
        q = to_quote(leg, ETH)
        assert check_order(ETH.inst, q.price, q.qty, q.reduce_only) == ""


def test_reduce_only_legs_sum_to_at_most_the_position_and_ladder_legs_carry_no_flag() -> None:
    # long 0.007 (7 steps): on the reducing (ask) side a close of 5 steps inside a take-profit of
    # 7 steps; by hand, 5 + 2 = 7: the take-profit shrinks to the 2 steps left. The ladder's ask of
    # 10 steps stays a plain order; a reduce-only bid (it would add) is dropped.
    levels = [
        Level("BUY", 0, 1999.00, 0.010),
        Level("BUY", 102, 1999.50, 0.005, reduce_only=True),
        Level("SELL", 0, 2001.00, 0.010),
        Level("SELL", 102, 2000.50, 0.005, reduce_only=True),
        Level("SELL", 100, 2010.00, 0.007, reduce_only=True),
    ]
    legs = finalize(levels, _market(q_steps=7), net_steps=210, reduce_only_mode=False)
    got = [(leg.side, leg.layer, leg.steps, leg.reduce_only) for leg in legs]
    assert got == [
        ("BUY", 0, 10, False),
        ("SELL", 102, 5, True),
        ("SELL", 0, 10, False),
        ("SELL", 100, 2, True),
    ]
    # no position: no reduce-only leg at all
    flat = finalize(levels, _market(q_steps=0), net_steps=210, reduce_only_mode=False)
    assert [leg.layer for leg in flat if leg.reduce_only] == []
    # long 5 steps: the close takes all of it, nothing is left for the take-profit
    six = finalize(levels[2:], _market(q_steps=5), net_steps=210, reduce_only_mode=False)
    assert [(leg.layer, leg.steps) for leg in six if leg.reduce_only] == [(102, 5)]


def test_a_bid_through_the_ask_is_held_one_tick_below_it_and_vice_versa() -> None:
    legs = finalize(
        [Level("BUY", 0, 2000.50, 0.01), Level("SELL", 0, 1999.00, 0.01)],
        _market(),
        210,
        reduce_only_mode=False,
    )
    assert [(leg.side, leg.ticks) for leg in legs] == [("BUY", 200000), ("SELL", 200001)]
