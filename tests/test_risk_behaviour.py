"""Churn budget: under 20 actions per second, 50 cancels per minute (most tests price a changed quote
as cancel + new, the stricter model; the default, an amend, is checked on its own)."""

from __future__ import annotations

from decimal import Decimal

from common.messages import Quote, TargetQuotes
from services.risk.behaviour import cost
from services.risk.engine import RiskEngine
from tests.fixtures.risk_samples import T0_NS, S, feed_market, ladder, loose, ready_engine, target

BUDGET = {"maxActionsPerSecond": 20, "maxCancelsPerMinute": 50, "changeCost": "cancel_replace"}
MS = S // 1000


def _engine() -> RiskEngine:
    return ready_engine(loose(ETHUSDC=BUDGET), symbols=("ETHUSDC",))


def _check(e: RiskEngine, quotes: list[Quote], t: int) -> TargetQuotes:
    feed_market(e, "ETHUSDC", "2680.00", T0_NS + t)
    return e.check(target("ETHUSDC", quotes, target_id=t, ts=T0_NS + t), T0_NS + t).targets[0]


def _prices(t: TargetQuotes) -> dict[tuple[str, int], Decimal]:
    return {(q.side, q.layer): q.price for q in t.quotes}


def test_a_changed_quote_costs_a_cancel_and_a_new_order() -> None:
    old = ladder("ETHUSDC", "2680.00", 3, "0.01")
    new = ladder("ETHUSDC", "2680.01", 3, "0.01")[:4] + old[4:]  # layers 0 and 1 moved, layer 2 kept
    assert cost(old, new, amend=False) == (8, 4)
    assert cost([], old) == (6, 0) and cost(old, []) == (6, 6) and cost(old, old) == (0, 0)


def test_a_changed_quote_the_gateway_amends_costs_one_action_and_no_cancel() -> None:
    old = ladder("ETHUSDC", "2680.00", 3, "0.01")
    new = ladder("ETHUSDC", "2680.01", 3, "0.01")[:4] + old[4:]
    assert cost(old, new) == (4, 0)


def test_over_the_action_budget_the_inner_changes_go_first_and_the_rest_follows() -> None:
    e = _engine()
    first = _check(e, ladder("ETHUSDC", "2680.00", 5, "0.01"), 0)
    assert len(first.quotes) == 10  # 10 actions of 19
    moved = ladder("ETHUSDC", "2680.01", 5, "0.01")
    t = _check(e, moved, 100 * MS)  # 20 actions wanted, 9 left: layers 0 and 1 only
    old, new = _prices(first), _prices(t)
    assert [k for k in new if new[k] != old[k]] == [("BUY", 0), ("BUY", 1), ("SELL", 0), ("SELL", 1)]
    assert t.clipped == ["churn budget: 6 change(s) kept their previous quote (left 9 actions, 49 cancels)"]
    assert e.state(0).figures["ETHUSDC.churn_throttled"] == 1.0
    feed_market(e, "ETHUSDC", "2680.00", T0_NS + 1100 * MS)
    out = e.tick(T0_NS + 1100 * MS)  # a second later the held-back target goes on
    assert _prices(out.targets[0]) == _prices(TargetQuotes(symbol="", target_id=0, quotes=moved))
    assert [(ev.rule, ev.action) for ev in out.events] == [("churn", "unclip")]


def test_removals_pass_even_when_the_budget_is_spent() -> None:
    e = _engine()
    _check(e, ladder("ETHUSDC", "2680.00", 9, "0.01"), 0)  # 18 actions
    asks_only = [q for q in ladder("ETHUSDC", "2680.00", 9, "0.01") if q.side == "SELL"]
    t = _check(e, asks_only, 100 * MS)
    assert [q.side for q in t.quotes] == ["SELL"] * 9 and t.clipped == []


def test_the_cancel_budget_holds_changes_back_for_the_rest_of_the_minute() -> None:
    e = _engine()
    _check(e, ladder("ETHUSDC", "2680.00", 2, "0.01"), 0)
    for i in range(1, 13):  # 12 moves of 4 quotes: 48 cancels
        t = _check(e, ladder("ETHUSDC", f"{2680 + i / 100:.2f}", 2, "0.01"), i * 1100 * MS)
        assert t.clipped == []
    t = _check(e, ladder("ETHUSDC", "2680.20", 2, "0.01"), 13 * 1100 * MS)
    assert t.clipped == ["churn budget: 3 change(s) kept their previous quote (left 19 actions, 1 cancels)"]
    assert _check(e, ladder("ETHUSDC", "2680.30", 2, "0.01"), 61 * S).clipped[0].startswith("churn")
    wanted = ladder("ETHUSDC", "2680.30", 2, "0.01")
    later = _check(e, wanted, 67 * S)  # the moves of the first 7 s have left the minute
    assert later.clipped == [] and _prices(later) == {(q.side, q.layer): q.price for q in wanted}


def test_the_minute_budget_binds_when_every_second_is_under_its_own() -> None:
    # amend pricing: a moved quote is one action. 20 a second, 30 a minute (strictly under: 29)
    limits = {"maxActionsPerSecond": 20, "maxActionsPerMinute": 30, "maxCancelsPerMinute": 50}
    e = ready_engine(loose(ETHUSDC=limits), symbols=("ETHUSDC",))
    _check(e, ladder("ETHUSDC", "2680.00", 5, "0.01"), 0)  # 10 new quotes: 10 actions
    assert _check(e, ladder("ETHUSDC", "2680.01", 5, "0.01"), 1100 * MS).clipped == []  # 20 in the minute
    t = _check(e, ladder("ETHUSDC", "2680.02", 5, "0.01"), 2200 * MS)
    # by hand: 29 - 20 = 9 actions left in the minute (the second's own 19 are untouched)
    assert t.clipped == ["churn budget: 1 change(s) kept their previous quote (left 9 actions, 49 cancels)"]
    later = _check(e, ladder("ETHUSDC", "2680.02", 5, "0.01"), 61 * S)  # the first 10 have left the minute
    assert later.clipped == []
