"""Strategy parameters: the seeds' names and defaults, range checks that name the key, a stable version."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.params.strategy import (
    AsmmParams,
    PassiveBandParams,
    PinningParams,
    StrategyParams,
    SymbolStrategy,
    params_version,
)


def test_defaults_are_the_round7_and_phoenix_seed_values() -> None:
    s = SymbolStrategy()
    a = s.asmm
    assert (a.layer_spacing_mode, a.spacing_ratio, a.layer_size_decay, a.max_layers) == (
        "geometric",
        1.2,
        0.9,
        24,
    )
    assert (a.min_spread, a.fee_buffer, a.base_size, a.take_profit_pct) == (0.0006, 0.0002, 0.009, 0.0025)
    assert (a.momentum_threshold, a.momentum_alpha) == (0.0006, 0.08)
    assert (a.inventory_pressure_threshold, a.inventory_pressure_strength, a.inventory_pressure_exponent) == (
        0.4,
        0.5,
        2.5,
    )
    assert (s.net_max, s.quote_interval_ms) == (0.21, 500)
    p = s.pinning
    assert (p.threshold, p.size_multiplier, p.near_layers, p.far_layers, p.far_size) == (
        0.7,
        2.3,
        8,
        16,
        0.08,
    )
    assert (p.far_min_pct, p.far_max_pct) == (0.048, 0.12)
    g = s.grinding
    assert (g.threshold, g.max_std_dev, g.taker_fraction, g.reentry_bps, g.reentry_size_multiplier) == (
        0.87,
        0.0038,
        0.075,
        4.2,
        2.1,
    )
    b = s.passive_band
    assert (b.band_min, b.band_max, b.min_order_value, b.placement_factor, b.reference) == (
        0.002,
        0.004,
        10000.0,
        0.8,
        "mid",
    )


def test_default_symbols_are_eth_and_btc_on_asmm_with_btc_sized_limits() -> None:
    p = StrategyParams()
    assert set(p.symbols) == {"ETHUSDC", "BTCUSDC"}
    assert {s.model for s in p.symbols.values()} == {"asmm"}
    btc = p.symbols["BTCUSDC"]
    assert (btc.asmm.base_size, btc.net_max) == (0.002, 0.05)


def test_seed_camel_case_names_are_accepted_beside_snake_case() -> None:
    camel = SymbolStrategy.model_validate(
        {"netMax": 0.3, "asmm": {"layerSpacingMode": "linear", "spacingRatio": 1.5, "minSpread": 0.001}}
    )
    snake = SymbolStrategy.model_validate(
        {"net_max": 0.3, "asmm": {"layer_spacing_mode": "linear", "spacing_ratio": 1.5, "min_spread": 0.001}}
    )
    assert camel == snake
    assert camel.asmm.layer_spacing_mode == "linear"


@pytest.mark.parametrize("key", ["spacingRatio", "spacing_ratio"])
def test_a_geometric_spacing_ratio_below_one_is_refused_naming_the_key(key: str) -> None:
    with pytest.raises(ValidationError) as exc:
        SymbolStrategy.model_validate({"asmm": {"layerSpacingMode": "geometric", key: 0.9}})
    assert f"asmm.{key}" in str(exc.value)
    assert "must be > 1 when layerSpacingMode is geometric" in str(exc.value)


def test_a_linear_ladder_does_not_care_about_the_ratio() -> None:
    assert AsmmParams(layer_spacing_mode="linear", spacing_ratio=0.9).spacing_ratio == 0.9


def test_an_unknown_key_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError) as exc:
        StrategyParams.model_validate({"symbols": {"ETHUSDC": {"asmm": {"spacingRatoi": 1.3}}}})
    assert "symbols.ETHUSDC.asmm.spacingRatoi" in str(exc.value)
    assert "Extra inputs are not permitted" in str(exc.value)


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("asmm", {"layerSizeDecay": 0.0}, "layerSizeDecay"),
        ("asmm", {"layerSizeDecay": 1.1}, "layerSizeDecay"),
        ("asmm", {"maxLayers": 0}, "maxLayers"),
        ("asmm", {"maxLayers": 101}, "maxLayers"),
        ("asmm", {"minSpread": 0.0001, "feeBuffer": 0.0002}, "feeBuffer"),
        ("asmm", {"momentumAlpha": 0.0}, "momentumAlpha"),
        ("pinning", {"threshold": 1.0}, "threshold"),
        ("pinning", {"threshold": 0.7, "release": 0.8}, "release"),
        ("pinning", {"farMinPct": 0.12, "farMaxPct": 0.05}, "farMaxPct"),
        ("grinding", {"takerFraction": 0.0}, "takerFraction"),
        ("grinding", {"volKey": "30 minutes"}, "volKey"),
        ("grinding", {"stdDevWindowS": 0}, "stdDevWindowS"),
        ("passiveBand", {"bandMin": 0.004, "bandMax": 0.002}, "bandMax"),
        ("passiveBand", {"bandMin": 0.003, "bandMax": 0.003}, "bandMax"),
        ("grinding", {"threshold": 0.8, "release": 0.85}, "release"),
        ("passiveBand", {"driftThreshold": 0.002}, "driftThreshold"),
        ("passiveBand", {"reference": "last"}, "reference"),
        ("phase2", {"maxLayers": 10, "minLayers": 12}, "minLayers"),
        ("phase2", {"minSpread": 0.001, "baseSpread": 0.0008}, "baseSpread"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_key(
    section: str, values: dict[str, object], key: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        SymbolStrategy.model_validate({section: values})
    assert f"{section}.{key}" in str(exc.value)


def test_a_lower_case_symbol_is_refused() -> None:
    with pytest.raises(ValidationError, match="not an upper-case symbol"):
        StrategyParams.model_validate({"symbols": {"ethusdc": {}}})


def test_parameters_are_frozen() -> None:
    with pytest.raises(ValidationError):
        PinningParams().threshold = 0.5


def test_the_version_is_stable_across_spellings_and_changes_with_any_value() -> None:
    camel = StrategyParams.model_validate({"symbols": {"ETHUSDC": {"netMax": 0.3}}})
    snake = StrategyParams.model_validate({"symbols": {"ETHUSDC": {"net_max": 0.3}}})
    other = StrategyParams.model_validate({"symbols": {"ETHUSDC": {"net_max": 0.31}}})
    assert (
        params_version(camel)
        == params_version(snake)
        == params_version(StrategyParams.model_validate(camel.model_dump()))
    )
    assert params_version(camel) != params_version(other)
    assert len(params_version(camel)) == 12
    assert int(params_version(camel), 16) >= 0


def test_band_placement_must_lie_inside_the_band() -> None:
    with pytest.raises(ValidationError, match="placementFactor"):
        PassiveBandParams(band_min=0.003, band_max=0.004, placement_factor=0.5)
