"""Phase 1: quote at the touch when flat, close a fill by maker, then by taker after the wait."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from common.params.strategy import SymbolStrategy
from services.strategy.engine import Decision, decide
from services.strategy.legs import LAYER_CLOSE
from services.strategy.state import StrategyState
from tests.fixtures.strategy_samples import T0_NS, features, inputs

MS = 1_000_000


def _params(**phase1: Any) -> SymbolStrategy:
    return SymbolStrategy.model_validate({"model": "phase1", "phase1": {"size": 0.009, **phase1}})


def _run(
    p: SymbolStrategy, position: str, now_ns: int = T0_NS, state: StrategyState | None = None, **kw: Any
) -> Decision:
    f = features(2680.00, 2680.01, ts_ns=now_ns)
    return decide(inputs(position, "2680", now_ns=now_ns, features=f, **kw), p, state or StrategyState())


def _book(d: Decision) -> list[tuple[str, int, str, str, bool]]:
    return [(q.side, q.layer, str(q.price), str(q.qty), q.reduce_only) for q in d.quotes]


def test_flat_quotes_one_order_a_side_offset_behind_the_touch() -> None:
    assert _book(_run(_params(offsetTicks=2), "0")) == [
        ("BUY", 0, "2679.98", "0.009", False),
        ("SELL", 0, "2680.03", "0.009", False),
    ]
    assert _book(_run(_params(), "0")) == [
        ("BUY", 0, "2680.00", "0.009", False),
        ("SELL", 0, "2680.01", "0.009", False),
    ]


def test_after_a_bid_fill_only_a_reduce_only_close_rests_at_the_ask() -> None:
    d = _run(_params(), "0.009", last_fill_ns=T0_NS, last_fill_side="BUY")
    assert _book(d) == [("SELL", LAYER_CLOSE, "2680.01", "0.009", True)]
    assert d.actions == []
    assert "closing" in d.record.flags


def test_the_taker_close_comes_after_the_wait_and_repeats_only_after_another_wait() -> None:
    p = _params(takerAfterMs=2000)
    d = _run(p, "-0.009", now_ns=T0_NS, last_fill_ns=T0_NS, last_fill_side="SELL")
    assert _book(d) == [("BUY", LAYER_CLOSE, "2680.00", "0.009", True)]
    d = _run(p, "-0.009", T0_NS + 1999 * MS, d.state, last_fill_ns=T0_NS, last_fill_side="SELL")
    assert d.actions == []
    d = _run(p, "-0.009", T0_NS + 2000 * MS, d.state, last_fill_ns=T0_NS, last_fill_side="SELL")
    assert [(a.symbol, a.qty, a.mode, a.reason) for a in d.actions] == [
        ("ETHUSDC", Decimal("0.009"), "taker", "phase1_close")
    ]
    assert "taker_close" in d.record.flags
    d = _run(p, "-0.009", T0_NS + 3000 * MS, d.state, last_fill_ns=T0_NS, last_fill_side="SELL")
    assert d.actions == []
    d = _run(p, "-0.009", T0_NS + 4000 * MS, d.state, last_fill_ns=T0_NS, last_fill_side="SELL")
    assert len(d.actions) == 1


def test_back_at_target_both_sides_return_and_the_timer_resets() -> None:
    p = _params()
    d = _run(p, "0.009", last_fill_ns=T0_NS, last_fill_side="BUY")
    d = _run(p, "0", T0_NS + 500 * MS, d.state, last_fill_ns=T0_NS + 400 * MS, last_fill_side="SELL")
    assert [q.side for q in d.quotes] == ["BUY", "SELL"]
    assert d.state.phase1.off_since_ns == 0


def test_a_position_seen_without_a_fill_time_starts_the_timer_when_first_seen() -> None:
    p = _params(takerAfterMs=1000)
    d = _run(p, "0.012", T0_NS)
    assert d.actions == [] and d.state.phase1.off_since_ns == T0_NS
    d = _run(p, "0.012", T0_NS + 1000 * MS, d.state)
    assert [a.qty for a in d.actions] == [Decimal("0.012")]


def test_a_non_zero_target_is_reached_by_maker_only() -> None:
    p = _params(targetInventory=0.005, takerAfterMs=0)
    d = _run(p, "0")
    assert _book(d) == [("BUY", LAYER_CLOSE, "2680.00", "0.005", False)]
    assert d.actions == []
    assert [q.side for q in _run(p, "0.005").quotes] == ["BUY", "SELL"]


def test_without_close_after_fill_both_sides_stay() -> None:
    d = _run(_params(closeAfterFill=False), "0.009", last_fill_ns=T0_NS, last_fill_side="BUY")
    # a ladder leg, even one that reduces, is not reduce-only: the flag would flip with each fill
    assert [(q.side, q.reduce_only) for q in d.quotes] == [("BUY", False), ("SELL", False)]
