"""Hard caps before the wire: refusal reasons, never exceptions."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from common.params.gateway import CapsParams
from services.gateway.caps import (
    BAD_ORDER,
    GLOBAL_NOTIONAL_CAP,
    ORDER_NOTIONAL_CAP,
    ORDERS_PER_SECOND,
    POSITION_CAP,
    REDUCE_ONLY_BEYOND_POSITION,
    REDUCE_ONLY_WRONG_SIDE,
    Caps,
    Exposure,
)
from services.gateway.orders import Amend, NewOrder

T0 = 1_763_000_000_000_000_000
PARAMS = CapsParams(
    max_position={"ETHUSDC": Decimal("1.0"), "BTCUSDC": Decimal("0.1")},
    max_order_notional=Decimal(3000),
    max_global_notional=Decimal(10000),
    max_orders_per_second=5,
)


def buy(qty: str, price: str = "2000", symbol: str = "ETHUSDC", reduce_only: bool = False) -> NewOrder:
    return NewOrder(symbol, "BUY", Decimal(price), Decimal(qty), 0, reduce_only=reduce_only)


def sell(qty: str, price: str = "2000", symbol: str = "ETHUSDC", reduce_only: bool = False) -> NewOrder:
    return NewOrder(symbol, "SELL", Decimal(price), Decimal(qty), 0, reduce_only=reduce_only)


def eth(position: str = "0", buys: str = "0", sells: str = "0") -> dict[str, Exposure]:
    e = Exposure("ETHUSDC", Decimal(position), Decimal(buys), Decimal(sells), Decimal(2000))
    return {"ETHUSDC": e}


def test_position_plus_same_side_resting_plus_the_order_must_fit_the_symbol_cap() -> None:
    caps = Caps(PARAMS)
    assert caps.check_place(buy("0.3"), eth("0.5", buys="0.2"), T0) == ""
    assert caps.check_place(buy("0.31"), eth("0.5", buys="0.2"), T0) == POSITION_CAP
    # the sell side counts the other way: a long position leaves room for sells
    assert caps.check_place(sell("1.0"), eth("0.5", sells="0.4"), T0) == ""
    assert caps.check_place(sell("1.0"), eth("-0.5", sells="0.4"), T0) == POSITION_CAP


def test_a_reduce_only_order_closing_a_position_above_the_cap_passes() -> None:
    caps = Caps(PARAMS)
    assert caps.check_place(sell("1.2", reduce_only=True), eth("1.2"), T0) == ""


def test_a_reduce_only_order_counts_in_its_sides_worst_case() -> None:
    """Short 0.1 with 1.05 of bids resting (worst 0.95 ≤ cap 1.0): buying the 0.1 back reduce-only
    lets the bids take the position to 1.05 > 1.0 once they fill; with 1.0 resting, 1.0 fits."""
    caps = Caps(PARAMS)
    assert caps.check_place(buy("0.1", reduce_only=True), eth("-0.1", buys="1.05"), T0) == POSITION_CAP
    assert caps.check_place(buy("0.1", reduce_only=True), eth("-0.1", buys="1.0"), T0) == ""


def test_a_reduce_only_order_must_reduce_counting_every_live_reduce_only_order() -> None:
    """The venue refuses (-2022) a reduce-only order that would not reduce: same side as the
    position, no position, or more reduce-only size on the side than the position."""
    caps = Caps(PARAMS)
    long_1 = {"ETHUSDC": Exposure("ETHUSDC", Decimal(1), price=Decimal(2000), reducing_sell=Decimal("0.6"))}
    assert caps.check_place(sell("0.4", reduce_only=True), long_1, T0) == ""
    assert caps.check_place(sell("0.401", reduce_only=True), long_1, T0) == REDUCE_ONLY_BEYOND_POSITION
    assert caps.check_place(buy("0.1", reduce_only=True), long_1, T0) == REDUCE_ONLY_WRONG_SIDE
    assert caps.check_place(sell("0.1", reduce_only=True), eth("0"), T0) == REDUCE_ONLY_WRONG_SIDE


def test_an_unlisted_symbol_has_no_room_by_default() -> None:
    assert Caps(PARAMS).check_place(buy("0.001", "100", "SOLUSDC"), {}, T0) == POSITION_CAP


def test_the_order_notional_cap() -> None:
    caps = Caps(PARAMS)
    assert caps.check_place(sell("1.5"), eth("1.0"), T0) == ""
    assert caps.check_place(sell("1.501"), eth("1.0"), T0) == ORDER_NOTIONAL_CAP
    assert caps.check_place(sell("2", reduce_only=True), eth("2"), T0) == ORDER_NOTIONAL_CAP


def test_the_global_notional_cap_sums_every_symbols_worst_case() -> None:
    caps = Caps(PARAMS)
    exposures = eth("0.5", buys="0.3")  # worst long 0.8 ETH = 1600
    exposures["BTCUSDC"] = Exposure("BTCUSDC", Decimal("0.09"), price=Decimal(90000))  # 8100
    assert caps.check_place(buy("0.1"), exposures, T0) == ""  # 1800 + 8100 = 9900
    assert caps.check_place(buy("0.2"), exposures, T0) == GLOBAL_NOTIONAL_CAP  # 2000 + 8100


def test_above_the_global_cap_an_order_against_the_worse_side_passes_and_one_adding_to_it_does_not() -> None:
    """Long 0.1 BTC at 90000 (9000) and short 0.9 ETH at 2000 (1800): 10800 > the 10000 cap (a
    manual trade, an adopted position). ETH's worse side is the sell side, 0.9: a bid of 0.5 leaves
    it there (the buy side's worst is −0.4), a reduce-only buy of 0.9 closes the short, and a bid of
    1.8 makes the buy side 0.9 too: all pass. An ask of 0.05 makes it 0.95 × 2000 + 9000 = 10900,
    and a bid of 1.85 the buy side 0.95: refused."""
    caps = Caps(PARAMS)
    exposures = eth("-0.9")
    exposures["BTCUSDC"] = Exposure("BTCUSDC", Decimal("0.1"), price=Decimal(90000))
    assert caps.check_place(buy("0.5"), exposures, T0) == ""
    assert caps.check_place(buy("0.9", reduce_only=True), exposures, T0) == ""
    assert caps.check_place(buy("1.8", "1500"), exposures, T0) == ""
    assert caps.check_place(sell("0.05"), exposures, T0) == GLOBAL_NOTIONAL_CAP
    assert caps.check_place(buy("1.85", "1500"), exposures, T0) == GLOBAL_NOTIONAL_CAP


def test_a_modify_is_judged_by_its_effect() -> None:
    caps = Caps(PARAMS)
    exp = eth("0.9", buys="0.3")  # already above the 1.0 cap (risk changed its mind)
    shrink = Amend("a", "ETHUSDC", "BUY", Decimal(1999), Decimal("0.1"))
    grow = Amend("a", "ETHUSDC", "BUY", Decimal(1999), Decimal("0.4"))
    assert caps.check_modify(shrink, Decimal(0), Decimal("0.3"), exp, T0) == ""
    assert caps.check_modify(grow, Decimal(0), Decimal("0.3"), exp, T0) == POSITION_CAP
    # a partially filled order's new total includes what already filled
    assert caps.check_modify(grow, Decimal("0.2"), Decimal("0.1"), exp, T0) == POSITION_CAP
    assert caps.check_modify(grow, Decimal("0.3"), Decimal("0.1"), exp, T0) == ""


def test_orders_per_second() -> None:
    caps = Caps(PARAMS)
    assert [caps.check_place(buy("0.01"), eth(), T0) for _ in range(6)] == [""] * 5 + [ORDERS_PER_SECOND]
    assert caps.check_place(buy("0.01"), eth(), T0 + 1_000_000_000) == ""


def test_nonsense_orders_are_refused() -> None:
    caps = Caps(PARAMS)
    assert caps.check_place(buy("0"), eth(), T0) == BAD_ORDER
    assert caps.check_place(buy("1", "-1"), eth(), T0) == BAD_ORDER


DECIMALS = st.decimals(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False, places=3)


@settings(max_examples=200, deadline=None)
@given(qty=DECIMALS, price=DECIMALS, pos=DECIMALS, buys=DECIMALS, sells=DECIMALS, reduce=st.booleans())
def test_a_check_always_answers_with_a_reason_and_never_raises(
    qty: Decimal, price: Decimal, pos: Decimal, buys: Decimal, sells: Decimal, reduce: bool
) -> None:
    caps = Caps(PARAMS)
    order = NewOrder("ETHUSDC", "BUY", price, qty, 0, reduce_only=reduce)
    exp = {"ETHUSDC": Exposure("ETHUSDC", pos, buys, sells, price)}
    why = caps.check_place(order, exp, T0)
    assert why in (
        "",
        BAD_ORDER,
        POSITION_CAP,
        ORDER_NOTIONAL_CAP,
        GLOBAL_NOTIONAL_CAP,
        REDUCE_ONLY_WRONG_SIDE,
        REDUCE_ONLY_BEYOND_POSITION,
    )
    if why == "" and not reduce:
        assert pos + buys + qty <= Decimal("1.0") or pos + buys + qty <= pos + buys
