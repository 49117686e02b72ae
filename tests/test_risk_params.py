"""Risk parameters: the Round7 and Phoenix seed values, both spellings, errors that name the key."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from common.params.risk import RiskParams, SymbolRiskParams

D = Decimal


def test_defaults_are_the_round7_seed_values() -> None:
    s = SymbolRiskParams()
    assert (s.net_max, s.single_max, s.pnl_min, s.pnl_max, s.stop_loss) == (
        D("0.21"), D("0.06"), D("-15"), D("100"), D("-60"),
    )  # fmt: skip
    assert (s.latency_ms, s.halt_seconds, s.shock_pct, s.reduce_only_threshold) == (150, 300, 0.10, D(25))
    assert (s.reduce_only_max_slippage_pct, s.reduce_only_market_trigger_pct) == (0.0003, 0.15)
    assert (s.drawdown_bands, s.reduce_fractions) == ([D(5), D(8), D(12)], [D("0.15"), D("0.25"), D("0.40")])
    assert (s.reduce_mode, s.reduce_cooldown_seconds) == ("maker_first_then_taker", 120)
    assert (s.max_actions_per_second, s.max_cancels_per_minute) == (20, 50)
    assert s.max_actions_per_minute == 300  # the gateway's per-symbol orders a minute
    p = RiskParams()
    assert (p.daily_max, p.max_drawdown_pct, p.total_notional_max) == (D(50), 0.02, D(4_000_000))
    assert (p.symbols["BTCUSDC"].net_max, p.symbols["BTCUSDC"].single_max) == (D("0.05"), D("0.02"))


def test_the_seeds_camel_case_and_snake_case_names_are_both_accepted() -> None:
    p = RiskParams.model_validate(
        {
            "total_notional_max": 1000,
            "dailyMax": 40,
            "symbols": {"ETHUSDC": {"netMax": 0.3, "stop_loss": -20}},
        }
    )
    assert (p.total_notional_max, p.daily_max) == (D(1000), D(40))
    assert (p.symbols["ETHUSDC"].net_max, p.symbols["ETHUSDC"].stop_loss) == (D("0.3"), D(-20))


@pytest.mark.parametrize(
    ("raw", "key", "message"),
    [
        ({"netMax": 0.05}, "singleMax", "must not exceed netMax"),
        ({"drawdownBands": [5, 8]}, "reduceFractions", "one fraction per drawdownBands entry"),
        ({"latencyMs": 600}, "latencyPauseMs", "must not be below latencyMs"),
        ({"pnlMin": 5}, "pnlMin", "less than 0"),
        ({"drawdownBands": [8, 5, 12]}, "drawdownBands", "increasing order"),
        ({"reduceFractions": [0.1, 0.2, 1.5]}, "reduceFractions", "fractions must be in (0, 1]"),
        ({"reduceMode": "market"}, "reduceMode", "maker_first_then_taker"),
        ({"shockPct": 0.1, "shockPc": 0.2}, "shockPc", "Extra inputs are not permitted"),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(raw: dict[str, object], key: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        SymbolRiskParams.model_validate(raw)
    assert key in str(info.value) and message in str(info.value)


def test_symbols_must_be_upper_case_names() -> None:
    with pytest.raises(ValidationError, match="upper-case symbol"):
        RiskParams.model_validate({"symbols": {"ethusdc": {}}})
