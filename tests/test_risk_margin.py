"""The margin-ratio limit and the distance-to-liquidation guard."""

from __future__ import annotations

from services.risk.engine import RiskEngine
from tests.fixtures.risk_samples import T0_NS, account, fill, ladder, loose, ready_engine, target


def _sides(e: RiskEngine, t: int) -> set[str]:
    tq = target("ETHUSDC", ladder("ETHUSDC", "2680.00", 2, "0.01"), target_id=t, ts=T0_NS + t)
    return {q.side for q in e.check(tq, T0_NS + t).targets[0].quotes}


def test_a_high_margin_ratio_makes_every_symbol_reduce_only() -> None:
    e = ready_engine(loose(marginRatioMax=0.5), wallet="1000")
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "0.05", 1))
    e.on_account(account("1000", maint="500"))
    out = e.tick(T0_NS + 1)
    assert [(ev.rule, ev.to_mode) for ev in out.events] == [("margin_ratio", "reduce_only")]
    assert e.state(0).mode == "reduce_only" and _sides(e, 2) == {"SELL"}
    e.on_account(account("1000", maint="499"))
    assert [(ev.rule, ev.action) for ev in e.tick(T0_NS + 3).events] == [("margin_ratio", "release")]
    assert _sides(e, 4) == {"BUY", "SELL"}


def test_a_mark_near_the_estimated_liquidation_price_makes_the_symbol_reduce_only() -> None:
    e = ready_engine(loose(ETHUSDC={"netMax": 5, "liqDistanceMinPct": 0.05}), wallet="400")
    e.on_fill(fill("ETHUSDC", "BUY", "2680.00", "3", 1))  # 400 / (3 x 2680) = 4.98 % to liquidation
    out = e.tick(T0_NS + 1)
    assert [(ev.rule, ev.symbol, ev.to_mode) for ev in out.events] == [
        ("liquidation", "ETHUSDC", "reduce_only")
    ]
    assert round(out.events[0].figures["liquidation_price"], 2) == 2546.67
    assert _sides(e, 2) == {"SELL"} and e.state(0).symbols["BTCUSDC"].mode == "normal"
    e.on_account(account("500"))  # a deposit: 6.2 %
    assert [ev.action for ev in e.tick(T0_NS + 3).events] == ["release"]
