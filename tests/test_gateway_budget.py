"""Rate budgets: windows, venue costs of batches, priority admission under a tight budget."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from common.params.gateway import AccountBudget, BudgetParams, SymbolBudget
from services.gateway.budget import NS_PER_S, Budget, Cost, Window, cost_of
from services.gateway.orders import Amend, NewOrder
from services.gateway.reconcile import (
    PRIORITY_CANCEL,
    PRIORITY_QUOTE,
    PRIORITY_REDUCE,
    Action,
    CancelOrders,
    ModifyOrders,
    PlaceOrders,
)

T0 = 1_763_000_000_000_000_000


def places(n: int, priority: int = PRIORITY_QUOTE, symbol: str = "ETHUSDC") -> PlaceOrders:
    items = tuple(
        NewOrder(
            symbol, "BUY", Decimal(1990 - i), Decimal("0.01"), i, reduce_only=priority == PRIORITY_REDUCE
        )
        for i in range(n)
    )
    return PlaceOrders(symbol, priority, items)


def cancels(n: int, symbol: str = "ETHUSDC") -> CancelOrders:
    return CancelOrders(symbol, PRIORITY_CANCEL, tuple(f"c{i}" for i in range(n)))


def modifies(n: int) -> ModifyOrders:
    items = tuple(Amend(f"m{i}", "ETHUSDC", "SELL", Decimal(2010 + i), Decimal("0.01")) for i in range(n))
    return ModifyOrders("ETHUSDC", PRIORITY_QUOTE, items)


def budget(symbol: SymbolBudget | None = None, **account: int) -> Budget:
    return Budget(
        BudgetParams(
            account=AccountBudget(**account), symbol_default=symbol or SymbolBudget(cancels_per_minute=100)
        )
    )


def test_a_spent_token_returns_one_interval_later() -> None:
    w = Window(3, 10 * NS_PER_S)
    w.spend(2, T0)
    w.spend(1, T0 + 4 * NS_PER_S)
    assert w.available(T0 + 9 * NS_PER_S) == 0
    assert w.ready_at(2, T0 + 9 * NS_PER_S) == T0 + 10 * NS_PER_S
    assert w.available(T0 + 10 * NS_PER_S) == 2
    assert w.ready_at(3, T0 + 10 * NS_PER_S) == T0 + 14 * NS_PER_S


def test_venue_costs_of_single_and_batch_requests() -> None:
    assert cost_of(places(1)) == Cost(orders=1, venue_10s=1, venue_1m=1)
    assert cost_of(places(5)) == Cost(orders=5, venue_10s=5, venue_1m=1, weight=5)
    assert cost_of(modifies(2)) == Cost(orders=2, venue_10s=5, venue_1m=1, weight=5)
    assert cost_of(cancels(10)) == Cost(cancels=10, weight=1)
    assert cost_of(cancels(1)) == Cost(cancels=1, weight=1)


def test_a_roomy_budget_admits_everything_in_priority_order() -> None:
    adm = budget().admit([places(3), cancels(2), places(1, PRIORITY_REDUCE)], T0)
    assert [a.priority for a in adm.admitted] == [PRIORITY_CANCEL, PRIORITY_REDUCE, PRIORITY_QUOTE]
    assert adm.deferred == [] and adm.retry_at_ns is None


def test_under_a_tight_budget_cancels_are_admitted_first_and_quotes_deferred() -> None:
    b = budget(venue_orders_per_10s=4)
    adm = b.admit([modifies(1), places(5), cancels(3), places(1, PRIORITY_REDUCE)], T0)
    assert [(type(a).__name__, len(a.items)) for a in adm.admitted] == [
        ("CancelOrders", 3),
        ("PlaceOrders", 1),  # the reduce-only order
        ("ModifyOrders", 1),
        ("PlaceOrders", 1),  # the batch no longer fits (5 units): singles, 1 unit each
        ("PlaceOrders", 1),
    ]
    assert [(type(a).__name__, len(a.items)) for a in adm.deferred] == [("PlaceOrders", 3)]
    assert adm.deferred_by == {"venue_10s": 3}
    assert adm.retry_at_ns == T0 + 10 * NS_PER_S


def test_a_batch_shrinks_to_what_fits() -> None:
    b = budget(orders_per_10s=3)
    adm = b.admit([places(5)], T0)
    assert [len(a.items) for a in adm.admitted] == [3] and [len(a.items) for a in adm.deferred] == [2]


def test_new_quotes_wait_while_a_cancel_of_the_symbol_waits_but_reduce_only_goes() -> None:
    b = budget(SymbolBudget(cancels_per_minute=2))
    adm = b.admit([cancels(3), places(2), places(1, PRIORITY_REDUCE), places(2, symbol="BTCUSDC")], T0)
    assert [(a.symbol, type(a).__name__, len(a.items)) for a in adm.admitted] == [
        ("ETHUSDC", "CancelOrders", 2),
        ("ETHUSDC", "PlaceOrders", 1),
        ("BTCUSDC", "PlaceOrders", 2),
    ]
    assert adm.deferred_by == {"cancels_1m": 1, "cancel_first": 2}


def test_urgent_cancels_overdraw_the_cancel_budget_and_later_routine_ones_wait() -> None:
    b = budget(SymbolBudget(cancels_per_minute=2))
    assert [len(a.items) for a in b.admit([cancels(5)], T0, urgent=True).admitted] == [5]
    adm = b.admit([cancels(1)], T0 + NS_PER_S)
    assert adm.admitted == [] and adm.retry_at_ns == T0 + 60 * NS_PER_S


def test_other_requests_charge_the_weight_budget() -> None:
    b = budget(weight_per_minute=10)
    b.charge_weight(10, T0)
    adm = b.admit([cancels(1)], T0)
    assert adm.admitted == [] and adm.deferred_by == {"weight_1m": 1}


ACTIONS = st.one_of(
    st.builds(places, st.integers(1, 5), st.sampled_from([PRIORITY_REDUCE, PRIORITY_QUOTE])),
    st.builds(cancels, st.integers(1, 10)),
    st.builds(modifies, st.integers(1, 5)),
)


@settings(max_examples=60, deadline=None)
@given(
    passes=st.lists(
        st.tuples(st.integers(0, 3 * NS_PER_S), st.lists(ACTIONS, max_size=6)), min_size=1, max_size=40
    )
)
def test_no_window_ever_holds_more_than_its_limit(passes: list[tuple[int, list[Action]]]) -> None:
    params = BudgetParams(
        account=AccountBudget(
            orders_per_10s=30, orders_per_minute=80, cancels_per_minute=40,
            venue_orders_per_10s=20, venue_orders_per_minute=50, weight_per_minute=60,
        ),
        symbol_default=SymbolBudget(orders_per_10s=25, orders_per_minute=70, cancels_per_minute=30),
    )  # fmt: skip
    b = Budget(params)
    sent: list[tuple[int, Cost]] = []
    now = T0
    for gap, actions in passes:
        now += gap
        sent += [(now, cost_of(a)) for a in b.admit(actions, now).admitted]
    limits = [("orders", 10, 25), ("orders", 60, 70), ("cancels", 60, 30), ("venue_10s", 10, 20),
              ("venue_1m", 60, 50), ("weight", 60, 60)]  # fmt: skip
    for attr, secs, limit in limits:
        for t, _ in sent:
            in_window = sum(getattr(c, attr) for s, c in sent if t <= s < t + secs * NS_PER_S)
            assert in_window <= limit, (attr, secs)
