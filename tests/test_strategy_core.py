"""The strategy core: the view it folds from messages, the mode precedence, the working set, when it
decides and when it publishes, pause and resume. Every expected value is worked out by hand from the
rules in its docstring (quote interval 500 ms, republish after 5 s, the timer's 200 ms floor)."""

from __future__ import annotations

from decimal import Decimal

from common.messages import Fill, OrderUpdate, Position, Quote, RiskState
from common.messages.market import FeedStatus
from common.messages.risk import SymbolRisk
from common.params.strategy import StrategyParams, SymbolStrategy
from services.strategy.core import StrategyCore
from tests.fixtures.strategy_samples import T0_NS, features, instrument

MS = 1_000_000
SYM = "ETHUSDC"


def _core(model: str = "asmm", interval_ms: int = 500) -> StrategyCore:
    p = SymbolStrategy.model_validate({"model": model, "quoteIntervalMs": interval_ms})
    core = StrategyCore({SYM: p, "BTCUSDC": StrategyParams().symbols["BTCUSDC"]}, [SYM], "v1", 5.0)
    return core


def _ready(core: StrategyCore, mode: str = "normal") -> None:
    core.on_instrument(instrument(SYM))
    core.on_position(Position(symbol=SYM, qty=Decimal(0), entry_price=Decimal(0)))
    core.on_feed_status(FeedStatus(symbol=SYM, state="live"))
    core.on_risk_state(RiskState(mode=mode, symbols={SYM: SymbolRisk(mode="normal")}))  # type: ignore[arg-type]


def test_only_the_configured_symbols_that_have_parameters_are_viewed() -> None:
    assert list(_core().views) == [SYM]


def test_nothing_is_decided_before_the_instrument_and_the_position_are_known() -> None:
    core = _core()
    core.on_risk_state(RiskState(mode="normal"))
    core.on_feed_status(FeedStatus(symbol=SYM, state="live"))
    assert core.on_features(features(ts_ns=T0_NS), T0_NS) == []
    core.on_instrument(instrument(SYM))
    assert core.on_features(features(ts_ns=T0_NS), T0_NS) == []  # position still unknown
    assert not core.ready()
    core.positions_known()  # the gateway's snapshot listed no position: flat
    assert core.ready()
    out = core.on_features(features(ts_ns=T0_NS), T0_NS + 1)
    assert [o.outcome for o in out] == ["published"]


def test_decisions_follow_the_quote_interval_and_an_unchanged_set_is_republished_after_5_s() -> None:
    core = _core()
    _ready(core)
    first = core.on_features(features(ts_ns=T0_NS), T0_NS)
    assert first[0].target is not None and first[0].target.quotes  # a two-sided set
    # 499 ms later: too early to decide again
    assert core.on_features(features(ts_ns=T0_NS), T0_NS + 499 * MS) == []
    # 500 ms later, the same market: decided, nothing new to publish
    again = core.on_features(features(ts_ns=T0_NS), T0_NS + 500 * MS)
    assert [(o.outcome, o.target) for o in again] == [("unchanged", None)]
    # after republish_s (5 s) the same set goes out again
    t = T0_NS + 5_001 * MS
    late = core.on_features(features(ts_ns=t), t)
    assert late[0].outcome == "published"
    assert late[0].target is not None and late[0].target.quotes == first[0].target.quotes
    assert late[0].target.target_id > first[0].target.target_id


def test_the_timer_decides_no_more_often_than_200_ms_and_makes_features_go_stale() -> None:
    core = _core(interval_ms=50)
    _ready(core)
    assert core.on_features(features(ts_ns=T0_NS), T0_NS)[0].outcome == "published"
    assert core.on_timer(T0_NS + 199 * MS) == []
    # maxFeaturesAgeMs (default 2000 ms) after the features arrived, the timer's decision quotes nothing
    out = core.on_timer(T0_NS + 2_500 * MS)
    assert out[0].target is not None and out[0].target.quotes == []
    assert out[0].record is not None and out[0].record.flags == ["features_stale"]


def test_the_most_restrictive_mode_wins_and_the_account_is_halted_until_risk_speaks() -> None:
    core = _core()
    assert core.mode(SYM) == "halted"
    core.on_risk_state(RiskState(mode="normal", symbols={SYM: SymbolRisk(mode="reduce_only")}))
    assert core.mode(SYM) == "reduce_only"
    core.on_risk_state(RiskState(mode="killed", symbols={SYM: SymbolRisk(mode="reduce_only")}))
    assert core.mode(SYM) == "killed"
    core.on_risk_state(RiskState(mode="normal", ready=False))
    assert core.mode(SYM) == "halted"  # risk not ready: fail closed
    core.on_risk_state(RiskState(mode="normal", symbols={SYM: SymbolRisk(mode="normal")}))
    core.pause(SYM, T0_NS)
    assert core.mode(SYM) == "halted"
    core.resume("")
    assert core.mode(SYM) == "normal"


def test_the_working_set_keeps_the_unfilled_rest_of_live_orders_and_drops_final_ones() -> None:
    core = _core()
    u = OrderUpdate(symbol=SYM, client_order_id="a", side="BUY", price=Decimal("2679.50"), layer=1,
                    qty=Decimal("0.050"), filled_qty=Decimal("0.020"), state="PartiallyFilled")  # fmt: skip
    core.on_order(u)
    assert [(q.price, q.qty, q.layer) for q in core.views[SYM].working.values()] == [
        (Decimal("2679.50"), Decimal("0.030"), 1)
    ]
    for final in ("Filled", "Canceled", "Expired", "Rejected"):
        core.on_order(u)
        core.on_order(OrderUpdate(symbol=SYM, client_order_id="a", side="BUY", price=u.price, qty=u.qty,
                                  state=final))  # type: ignore[arg-type]  # fmt: skip
        assert core.views[SYM].working == {}
    core.on_order(OrderUpdate(symbol="XRPUSDC", client_order_id="x", side="BUY", price=Decimal(1),
                              qty=Decimal(1), state="New"))  # fmt: skip
    assert "XRPUSDC" not in core.views


def test_a_pause_publishes_an_empty_halted_target_and_quotes_nothing_until_resumed() -> None:
    core = _core()
    _ready(core)
    core.on_features(features(ts_ns=T0_NS), T0_NS)
    out = core.pause("", T0_NS + MS)
    assert [(o.symbol, o.target.quotes, o.target.mode) for o in out if o.target] == [(SYM, [], "halted")]
    t = T0_NS + 600 * MS
    halted = core.on_features(features(ts_ns=t), t)
    assert halted[0].record is not None and halted[0].record.flags == ["halted"]
    core.resume(SYM)
    t += 600 * MS
    back = core.on_features(features(ts_ns=t), t)
    assert back[0].target is not None and len(back[0].target.quotes) > 0


def test_a_fill_is_remembered_for_the_models_and_counted_for_the_band() -> None:
    core = _core("passive_band")
    fill = Fill(symbol=SYM, trade_id=1, client_order_id="a", venue_order_id=1, side="SELL",
                price=Decimal("2680"), qty=Decimal("0.01"), fee=Decimal(0), fee_asset="USDC",
                realized_pnl=Decimal(0), is_maker=True, ts_event=T0_NS)  # fmt: skip
    core.on_fill(fill)
    v = core.views[SYM]
    assert (v.last_fill_ns, v.last_fill_side, v.kpi.fills) == (T0_NS, "SELL", 1)


def test_snapshot_and_restore_carry_the_models_memory() -> None:
    core = _core()
    _ready(core)
    core.on_features(features(ts_ns=T0_NS), T0_NS)
    saved = core.snapshot()
    assert saved[SYM].published_ns == T0_NS
    fresh = _core()
    assert fresh.restore({**saved, "DOGEUSDC": saved[SYM]}) == [SYM]
    assert fresh.views[SYM].state == saved[SYM]


def test_a_reload_without_a_quoted_symbol_is_refused_and_keeps_the_old_parameters() -> None:
    core = _core()
    before = core.params
    try:
        core.reload({"BTCUSDC": SymbolStrategy()}, "v2", 5.0)
    except ValueError as exc:
        assert "lacks ETHUSDC" in str(exc)
    else:
        raise AssertionError("a reload without ETHUSDC was accepted")
    assert core.params == before and core.version == "v1"


def test_the_band_kpis_see_a_re_placement_when_the_orders_change_not_a_decision_later() -> None:
    p = SymbolStrategy.model_validate({"model": "passive_band", "netMax": 20.0})  # orders worth >= 10,000
    core = StrategyCore({SYM: p}, [SYM], "v1", 5.0)
    _ready(core)

    def rest(quotes: list[Quote], state: str, at: int) -> None:
        for q in quotes:
            u = OrderUpdate(symbol=SYM, client_order_id=f"{q.side}-{q.layer}", side=q.side, price=q.price,
                            qty=q.qty, state=state, layer=q.layer)  # type: ignore[arg-type]  # fmt: skip
            core.on_order(u, at)

    first = core.on_features(features(ts_ns=T0_NS), T0_NS)[0].target
    assert first is not None and {q.side for q in first.quotes} == {"BUY", "SELL"}
    rest(first.quotes, "New", T0_NS + 1 * MS)  # acknowledged 1 ms after the decision
    # the market jumps 1 % (both orders now far outside the 0.2-0.4 % band) and the model re-places
    t = T0_NS + 500 * MS
    moved = core.on_features(features(2706.80, 2706.81, ts_ns=t), t)[0].target
    assert moved is not None and {q.price for q in moved.quotes}.isdisjoint({q.price for q in first.quotes})
    rest(moved.quotes, "PendingModify", t + 2 * MS)  # the modifies are in 2 ms later
    t2 = T0_NS + 1000 * MS
    core.on_features(features(2706.80, 2706.81, ts_ns=t2), t2)
    k = core.views[SYM].kpi
    # by hand: observed from the first decision to the last, 1000 ms; out of the band: the first
    # 1 ms (nothing rests yet) and the 2 ms the old prices rested against the new market
    assert (k.observed_ns, k.in_band_ns, k.two_sided_ns) == (1000 * MS, 997 * MS, 997 * MS)
