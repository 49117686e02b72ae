"""The operator's parameter edits: values read as TOML, files written as TOML, nothing but a
symbol's strategy parameters editable, and a value the environment sets is not silently lost."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from common import overrides
from common.config import ConfigError, load_settings


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.012", 0.012), ("24", 24), ("true", True), ('"glft"', "glft"), ("glft", "glft"), (" 1e-4 ", 0.0001)],
)
def test_a_value_reads_as_its_toml_literal(text: str, value: object) -> None:
    got = overrides.parse_value(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", ["nan", "inf", "[1, 2]", "{a = 1}", "two words", ""])
def test_a_value_that_is_not_one_scalar_is_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        overrides.parse_value(text)


def test_the_written_file_reads_back_as_the_same_tables() -> None:
    eth = {"net_max": 0.3, "asmm": {"base_size": 0.012, "spread_floor": 'a "q"'}}
    data = {"strategy": {"symbols": {"ETHUSDC": eth, "BTCUSDC": {"quote": False, "asmm": {"max_layers": 5}}}}}
    assert tomllib.loads(overrides.dump_toml(data)) == data


def test_edits_accumulate_in_the_file_and_the_loaded_settings(run_env: Path) -> None:
    s = load_settings()
    s, before, after = overrides.edit(s, "strategy.symbols.ETHUSDC.asmm.base_size", "0.012")
    assert (before, after) == (0.009, 0.012)  # 0.009: the seed's base size
    s, _, _ = overrides.edit(s, "strategy.symbols.BTCUSDC.net_max", "0.02")
    fresh = load_settings()
    assert fresh.strategy.symbols["ETHUSDC"].asmm.base_size == 0.012
    assert fresh.strategy.symbols["BTCUSDC"].net_max == 0.02
    written = tomllib.loads((run_env / "overrides.toml").read_text())
    assert written["strategy"]["symbols"]["ETHUSDC"]["asmm"] == {"base_size": 0.012}


def test_an_edit_the_environment_overrides_is_refused_and_not_written(
    run_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MM_STRATEGY__SYMBOLS__ETHUSDC__NET_MAX", "0.1")
    with pytest.raises(ConfigError, match="environment variable sets it"):
        overrides.edit(load_settings(), "strategy.symbols.ETHUSDC.net_max", "0.3")
    assert not (run_env / "overrides.toml").exists()


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("risk.params.daily_max", "only strategy.symbols"),
        ("strategy.symbols.DOGEUSDC.net_max", "DOGEUSDC is not a configured strategy symbol"),
        ("strategy.symbols.ETHUSDC.asmm.max_layers", "max_layers"),
    ],
)
def test_a_key_that_may_not_be_set_so_is_named(run_env: Path, key: str, words: str) -> None:
    value = "0" if key.endswith("max_layers") else "1"  # max_layers: at least 1
    with pytest.raises(ConfigError, match=words):
        overrides.edit(load_settings(), key, value)
    assert not (run_env / "overrides.toml").exists()
