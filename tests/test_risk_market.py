"""Market conditions: shocks, feed state, data age, book against mark, venue latency."""

from __future__ import annotations

from decimal import Decimal

from common.messages import CancelAll, OrderUpdate, TargetQuotes, VenueLatency
from common.params.risk import RiskParams
from services.risk.engine import Outcome, RiskEngine
from tests.fixtures.risk_samples import T0_NS, S, features, feed, feed_market, ladder, ready_engine, target

LADDER = ladder("ETHUSDC", "2680.00", 3, "0.01")


def _engine() -> RiskEngine:
    return ready_engine(RiskParams(), symbols=("ETHUSDC",))


def _check(e: RiskEngine, t: int, quotes: list | None = None) -> TargetQuotes:
    tq = target("ETHUSDC", LADDER if quotes is None else quotes, target_id=t, ts=T0_NS + t)
    return e.check(tq, T0_NS + t).targets[0]


def _changes(out: Outcome) -> list[tuple[str, str, str]]:
    return [(ev.rule, ev.action, ev.to_mode) for ev in out.events]


def test_a_shock_pulls_the_quotes_and_halts_for_halt_seconds() -> None:
    e = _engine()
    feed_market(e, "ETHUSDC", "2680.00", T0_NS + 10 * S)
    feed_market(e, "ETHUSDC", "2410.00", T0_NS + 40 * S)  # -10.07 % within 30 s
    out = e.tick(T0_NS + 40 * S)
    assert ("shock", "hold", "halted") in _changes(out)
    assert [type(a) for a in out.actions] == [CancelAll]
    assert e.state(0).symbols["ETHUSDC"].until_ns == T0_NS + 340 * S
    t = _check(e, 41 * S, ladder("ETHUSDC", "2410.00", 3, "0.01"))
    assert (t.quotes, t.mode) == ([], "halted") and t.clipped[0].startswith("shock")
    feed_market(e, "ETHUSDC", "2410.00", T0_NS + 339 * S)
    assert e.tick(T0_NS + 339 * S).events == []
    feed_market(e, "ETHUSDC", "2410.00", T0_NS + 340 * S)
    out = e.tick(T0_NS + 340 * S)
    assert ("shock", "release", "normal") in _changes(out)
    assert len(_check(e, 341 * S, ladder("ETHUSDC", "2410.00", 3, "0.01")).quotes) == 6


def test_a_shock_halt_outlasts_its_cooldown_while_the_move_goes_on() -> None:
    e = _engine()
    feed_market(e, "ETHUSDC", "2680.00", T0_NS + 10 * S)
    price = Decimal("2410.00")
    for t in range(40, 341, 30):  # halted at 40 s, then 6 % down every 30 s until the cool-down ends
        feed_market(e, "ETHUSDC", price, T0_NS + t * S)
        e.tick(T0_NS + t * S)
        price = (price * Decimal("0.94")).quantize(Decimal("0.01"))
    assert e.state(0).symbols["ETHUSDC"].reason.startswith("shock")
    for t in (370, 400):  # flat for a whole window
        feed_market(e, "ETHUSDC", price, T0_NS + t * S)
        out = e.tick(T0_NS + t * S)
    assert ("shock", "release", "normal") in _changes(out)


def test_a_stale_or_resyncing_feed_quotes_nothing_until_live() -> None:
    e = _engine()
    for state in ("stale", "resyncing"):
        e.on_feed_status(feed("ETHUSDC", state))
        t = _check(e, 1)
        assert (t.quotes, t.mode) == ([], "halted") and t.clipped == [f"feed: feed {state}"]
        e.on_feed_status(feed("ETHUSDC", "live"))
        out = e.tick(T0_NS + 2)
        assert ("feed", "release", "normal") in _changes(out)
        assert len(_check(e, 3).quotes) == 6


def test_market_data_older_than_the_limit_quotes_nothing() -> None:
    e = _engine()
    out = e.tick(T0_NS + 6 * S)
    assert ("market_data", "hold", "halted") in _changes(out)
    assert _check(e, 6 * S).quotes == []
    feed_market(e, "ETHUSDC", "2680.00", T0_NS + 7 * S)
    assert ("market_data", "release", "normal") in _changes(e.tick(T0_NS + 7 * S))


def test_a_book_away_from_the_mark_or_crossed_is_inconsistent() -> None:
    e = _engine()
    e.on_features(features("ETHUSDC", 2694.0, T0_NS + S))  # 0.52 % above the mark
    assert ("book_mark", "hold", "halted") in _changes(e.tick(T0_NS + S))
    assert _check(e, S).quotes == []
    e.on_features(features("ETHUSDC", 2690.0, T0_NS + 2 * S))  # 0.37 %
    assert ("book_mark", "release", "normal") in _changes(e.tick(T0_NS + 2 * S))
    e.on_features(features("ETHUSDC", 2680.0, T0_NS + 3 * S, half_spread=-0.01))
    out = e.tick(T0_NS + 3 * S)
    assert ("book_mark", "hold", "halted") in _changes(out) and out.events[0].reason == "book crossed"
    e.on_features(features("ETHUSDC", 2680.0, T0_NS + 4 * S))
    assert ("book_mark", "release", "normal") in _changes(e.tick(T0_NS + 4 * S))
    e.on_features(features("ETHUSDC", float("nan"), T0_NS + 5 * S))
    assert ("book_mark", "hold", "halted") in _changes(e.tick(T0_NS + 5 * S))


def test_latency_above_the_limit_widens_and_above_the_pause_quotes_nothing() -> None:
    e = _engine()
    e.on_latency("ETHUSDC", 200.0)
    t = _check(e, 1)
    assert sorted(q.layer for q in t.quotes) == [1, 1, 2, 2]  # the innermost layer of each side dropped
    assert t.clipped == ["latency 200 ms: 2 innermost quote(s) dropped"]
    # samples are smoothed (new = old + 0.3 × (sample − old)): 200 + 0.3 × 1800 = 740 > 500
    e.on_latency("ETHUSDC", 2000.0)
    assert ("latency", "hold", "halted") in _changes(e.tick(T0_NS + 2))
    assert _check(e, 3).quotes == []
    e.on_latency("ETHUSDC", 100.0)  # 740 - 0.3 × 640 = 548: still above the pause
    assert _changes(e.tick(T0_NS + 4)) == []
    e.on_latency("ETHUSDC", 100.0)  # 548 - 0.3 × 448 = 413.6
    assert ("latency", "release", "normal") in _changes(e.tick(T0_NS + 5))
    assert len(_check(e, 6).quotes) == 4  # 413.6 ms is still above latencyMs 150: the inner layer waits


def test_a_latency_halt_lifts_on_the_gateways_probes_while_nothing_is_quoted() -> None:
    """One 602 ms acknowledgement halts the symbol; no order is sent while halted, so acks can never
    bring the figure down: the gateway's round-trip probe (oms.latency) does."""
    e = _engine()
    e.on_latency("ETHUSDC", 602.0)
    assert ("latency", "hold", "halted") in _changes(e.tick(T0_NS + 1))
    e.on_venue_latency(VenueLatency(rtt_ms=2.0), failed_ms=5000.0)  # 602 - 0.3 × 600 = 422
    assert ("latency", "release", "normal") in _changes(e.tick(T0_NS + 2))
    e.on_venue_latency(VenueLatency(rtt_ms=1.0, ok=False), failed_ms=5000.0)  # unreachable: 5 s
    assert ("latency", "hold", "halted") in _changes(e.tick(T0_NS + 3))


def _outcome(e: RiskEngine, i: int, state: str, code: int, ts: int) -> None:
    u = OrderUpdate(symbol="ETHUSDC", client_order_id=f"o{i}", side="BUY", price=Decimal("2679"),
                    qty=Decimal("0.01"), state=state, error_code=code, ts_event=ts)  # fmt: skip
    e.on_order(u)


def test_a_high_venue_error_rate_quotes_fewer_layers_more_slowly_until_it_recedes() -> None:
    """Seed 001 §11's noise-reduction switch. Defaults: above 20 % rejected, once 10 orders are
    counted, 3 layers a side and half the churn budget; counts decay with a 60 s time constant."""
    e = _engine()
    five = ladder("ETHUSDC", "2680.00", 5, "0.01")
    for i in range(7):
        _outcome(e, i, "New", 0, T0_NS)
    for i in range(7, 9):
        _outcome(e, i, "Rejected", -2022, T0_NS)  # 2 of 9: not yet 10 counted
    _outcome(e, 9, "Rejected", 0, T0_NS)  # held back by the gateway, never sent: not an outcome
    assert len(_check(e, 1, five).quotes) == 10
    _outcome(e, 11, "Rejected", -5022, T0_NS)  # post-only would take: an accepted outcome, 2 of 10
    assert len(_check(e, 1, five).quotes) == 10
    _outcome(e, 10, "Rejected", -4164, T0_NS)  # 3 of 11 = 27 % > 20 %
    t = _check(e, 2, five)
    assert sorted((q.side, q.layer) for q in t.quotes) == [(s, n) for s in ("BUY", "SELL") for n in (0, 1, 2)]
    assert t.clipped == ["venue error rate 27%: 4 outer quote(s) dropped, churn budget slowed"]
    # the budget at half: 20 actions a second → 10, so 9 changes fit in one second (strictly under)
    e2 = _engine()
    for i in range(10):
        _outcome(e2, i, "Rejected" if i < 3 else "New", -2022 if i < 3 else 0, T0_NS)
    far = ladder("ETHUSDC", "2600.00", 3, "0.01")
    assert len(_check(e2, 1, far).quotes) == 6  # 6 places: within 9
    moved = ladder("ETHUSDC", "2590.00", 3, "0.01")
    t2 = _check(e2, 2, moved)
    assert any(c.startswith("churn budget: 3 change(s)") for c in t2.clipped), t2.clipped
    # 30 quiet seconds later, 7 accepted orders: 3·e^(−0.5) / (11·e^(−0.5) + 7) = 1.82 / 13.67 = 13 %
    feed_market(e, "ETHUSDC", "2680.00", T0_NS + 30 * S)
    for i in range(20, 27):
        _outcome(e, i, "New", 0, T0_NS + 30 * S)
    assert len(_check(e, 30 * S, five).quotes) == 10


def _lifecycle(e: RiskEngine, n: int, quick: int, t_new: int) -> None:
    """``n`` GTX orders accepted at ``t_new``; ``quick`` of them canceled 1 s later, the rest 6 s later."""
    for i in range(n):
        u = OrderUpdate(symbol="ETHUSDC", client_order_id=f"q{t_new}-{i}", side="BUY", price=Decimal("2679"),
                        qty=Decimal("0.01"), state="New", ts_event=t_new)  # fmt: skip
        e.on_order(u)
    for i in range(n):
        late = S if i < quick else 6 * S
        u = OrderUpdate(symbol="ETHUSDC", client_order_id=f"q{t_new}-{i}", side="BUY", price=Decimal("2679"),
                        qty=Decimal("0.01"), state="Canceled", ts_event=t_new + late)  # fmt: skip
        e.on_order(u)


def test_quick_cancels_over_half_of_resting_orders_slow_the_cancel_budget() -> None:
    """Binance's Invalid Cancellation Ratio: resting orders canceled within 5 s of acceptance over
    those accepted in 10 minutes. Defaults: above 0.5 once 100 are counted, the cancel budget runs
    at 0.2 of its 50 a minute: 10, so 9 cancels fit (strictly under)."""
    e = _engine()
    _lifecycle(e, 99, 60, T0_NS)  # 60 of 99: not yet 100 counted
    feed_market(e, "ETHUSDC", "2680.00", T0_NS + 10 * S)
    assert not any("quick-cancel" in c for c in _check(e, 10 * S).clipped)
    e = _engine()
    _lifecycle(e, 100, 50, T0_NS)  # 0.5: not above
    feed_market(e, "ETHUSDC", "2680.00", T0_NS + 10 * S)
    assert not any("quick-cancel" in c for c in _check(e, 10 * S).clipped)
    e = _engine()
    _lifecycle(e, 100, 60, T0_NS)  # 0.6
    feed_market(e, "ETHUSDC", "2680.00", T0_NS + 10 * S)
    six = ladder("ETHUSDC", "2680.00", 6, "0.01")
    t = _check(e, 10 * S, six)
    assert len(t.quotes) == 12 and "quick-cancel ratio 60% over 10 min: cancel budget slowed" in t.clipped
    feed_market(e, "ETHUSDC", "2680.00", T0_NS + 12 * S)
    t = _check(e, 12 * S, [])  # 12 cancels against 9
    assert len(t.quotes) == 3 and any(c.startswith("churn budget: 3 change(s)") for c in t.clipped), t.clipped
    # ten minutes after those orders were accepted they leave the window
    feed_market(e, "ETHUSDC", "2680.00", T0_NS + 601 * S)
    assert not any("quick-cancel" in c for c in _check(e, 601 * S, []).clipped)
