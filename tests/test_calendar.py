"""Calendar rules (seed 002 §7.3) on hand-picked instants, and as one more configuration layer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from common import calendar, config
from common.config import ConfigError, load_settings
from common.config_sections import CalendarRule


def _at(day: int, hh: int, mm: int) -> dt.datetime:
    """2026-11-23 is a Monday: day 0 = Monday ... 6 = Sunday."""
    return dt.datetime(2026, 11, 23 + day, hh, mm, tzinfo=dt.UTC)


def test_weekday_windows_past_midnight_and_around_funding() -> None:
    weekend = CalendarRule(name="weekend", days=["sat", "sun"])
    assert calendar.is_active(weekend, _at(5, 0, 0)) and calendar.is_active(weekend, _at(6, 23, 59))
    assert not calendar.is_active(weekend, _at(4, 23, 59)) and not calendar.is_active(weekend, _at(0, 0, 0))
    night = CalendarRule(name="fri-night", days=["fri"], start="22:00", end="02:00")
    assert calendar.is_active(night, _at(4, 22, 0)) and calendar.is_active(night, _at(5, 1, 59))
    assert not calendar.is_active(night, _at(4, 21, 59)) and not calendar.is_active(night, _at(5, 2, 0))
    assert not calendar.is_active(night, _at(0, 1, 0))  # Monday 01:00 follows Sunday, not Friday
    funding = CalendarRule(name="funding", around_funding_min=5)
    assert calendar.is_active(funding, _at(2, 7, 55)) and calendar.is_active(funding, _at(2, 16, 5))
    assert not calendar.is_active(funding, _at(2, 7, 54)) and calendar.is_active(funding, _at(2, 23, 57))
    assert calendar.active([weekend, night, funding], _at(5, 0, 3)) == ["weekend", "fri-night", "funding"]


def test_an_active_rule_is_a_layer_above_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "cal.toml"
    f.write_text(
        '[[schedule.rules]]\nname = "weekend"\ndays = ["sat", "sun"]\nsymbols = ["ETHUSDC"]\n'
        '[schedule.rules.set]\n"strategy.symbols.ETHUSDC.netMax" = 0.1\n'
        '"strategy.symbols.ETHUSDC.asmm.minEdge" = 0.0002\n'
    )
    monkeypatch.setenv("MM_CONFIG_FILE", str(f))
    monkeypatch.setattr(config, "clock_utc", lambda: _at(2, 12, 0))  # a Wednesday
    s = load_settings("paper")
    eth, btc = s.strategy.symbols["ETHUSDC"], s.strategy.symbols["BTCUSDC"]
    assert (eth.net_max, eth.asmm.min_edge, btc.quote) == (0.21, 0.00005, True)
    monkeypatch.setattr(config, "clock_utc", lambda: _at(5, 12, 0))  # Saturday
    s = load_settings("paper")
    eth, btc = s.strategy.symbols["ETHUSDC"], s.strategy.symbols["BTCUSDC"]
    assert (eth.net_max, eth.asmm.min_edge, eth.quote, btc.quote) == (0.1, 0.0002, True, False)
    monkeypatch.setenv("MM_STRATEGY__SYMBOLS__ETHUSDC__NET_MAX", "0.05")
    assert load_settings("paper").strategy.symbols["ETHUSDC"].net_max == 0.05  # the environment is above


def test_a_bad_rule_is_refused_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "cal.toml"
    f.write_text('[[schedule.rules]]\nname = "late"\nstart = "25:00"\n')
    monkeypatch.setenv("MM_CONFIG_FILE", str(f))
    with pytest.raises(ConfigError, match="25:00"):
        load_settings("paper")
    f.write_text('[[schedule.rules]]\nname = "typo"\nset = { "strategy.symbols.ETHUSDC.netMx" = 0.1 }\n')
    with pytest.raises(ConfigError, match=r"net_mx|netMx"):
        load_settings("paper")
