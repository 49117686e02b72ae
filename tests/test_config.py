"""Config: layered files, environment overrides, and refusals that name the key and the value."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from common.config import ConfigError, load_settings


def test_paper_is_the_default_profile_with_ipc_endpoints_under_the_run_dir(run_env: Path) -> None:
    s = load_settings()
    assert s.profile == "paper"
    assert s.pub_endpoint("gateway") == f"ipc://{run_env / 'gateway.pub'}"
    assert s.venue.rest_url.startswith("http://127.0.0.1")


def test_an_environment_variable_overrides_a_file(run_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MM_RECORDER__BATCH_MAX", "17")
    assert load_settings().recorder.batch_max == 17


def test_a_bad_value_is_refused_naming_the_key_and_value(
    run_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MM_RECORDER__FLUSH_INTERVAL_MS", "-5")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert "recorder.flush_interval_ms = '-5'" in str(exc.value)


def test_an_unknown_key_in_a_file_is_refused(
    run_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway]\nmetrics_prot = 9999\n")
    monkeypatch.setenv("MM_CONFIG_FILE", str(bad))
    with pytest.raises(ConfigError, match=r"gateway\.metrics_prot = 9999: Extra inputs are not permitted"):
        load_settings()


def test_seed_camel_case_names_are_accepted(
    run_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "camel.toml"
    f.write_text("[recorder]\nbatchMax = 33\nflushIntervalMs = 50\n")
    monkeypatch.setenv("MM_CONFIG_FILE", str(f))
    s = load_settings()
    assert (s.recorder.batch_max, s.recorder.flush_interval_ms) == (33, 50)


def test_a_secret_in_a_config_file_is_refused(
    run_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "leak.toml"
    f.write_text('api_secret = "abcd1234"\n')
    monkeypatch.setenv("MM_CONFIG_FILE", str(f))
    with pytest.raises(ConfigError, match="secrets come from the environment") as exc:
        load_settings()
    assert "abcd1234" not in str(exc.value)


def test_live_needs_keys_from_the_environment(run_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="MM_API_KEY, MM_API_SECRET"):
        load_settings("live")
    monkeypatch.setenv("MM_API_KEY", "k" * 16)
    monkeypatch.setenv("MM_API_SECRET", "s" * 16)
    s = load_settings("live")
    assert s.venue.rest_url == "https://fapi.binance.com"
    assert "s" * 16 not in repr(s)  # SecretStr hides the value
    assert s.secret_values() == ["k" * 16, "s" * 16]


def test_settings_are_frozen(run_env: Path) -> None:
    s = load_settings()
    with pytest.raises(ValueError):
        s.recorder.batch_max = 5  # type: ignore[misc]


def test_tcp_transport_requires_a_bus_secret(run_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MM_BUS__TRANSPORT", "tcp")
    with pytest.raises(ConfigError, match="MM_BUS_SECRET"):
        load_settings()
    monkeypatch.setenv("MM_BUS_SECRET", "x" * 32)
    assert load_settings().cmd_endpoint("risk").startswith("tcp://127.0.0.1:")


def test_a_missing_profile_file_is_reported(run_env: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings("nosuch")


def test_a_per_symbol_override_keeps_the_other_defaults(
    run_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "one.toml"
    f.write_text(
        "[risk.params.symbols.ETHUSDC]\nstopLoss = -3.0\n[strategy.symbols.BTCUSDC.asmm]\nbaseSize = 0.003\n"
    )
    monkeypatch.setenv("MM_CONFIG_FILE", str(f))
    s = load_settings()
    eth, btc = s.risk.params.symbols["ETHUSDC"], s.risk.params.symbols["BTCUSDC"]
    assert (eth.stop_loss, eth.net_max, btc.net_max) == (Decimal("-3"), Decimal("0.21"), Decimal("0.05"))
    assert s.strategy.symbols["BTCUSDC"].asmm.base_size == 0.003
    assert s.strategy.symbols["BTCUSDC"].net_max == 0.05  # BTC's own default, not the class default
    assert set(s.strategy.symbols) == {"ETHUSDC", "BTCUSDC", "ETHUSDT"}  # ETHUSDT: the paper profile's spot


def test_a_leverage_outside_binances_range_is_refused_at_load(
    run_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway.leverage]\nETHUSDC = 150\n")
    monkeypatch.setenv("MM_CONFIG_FILE", str(bad))
    with pytest.raises(ConfigError, match="ETHUSDC: leverage 150 is outside Binance's 1-125"):
        load_settings()


def test_the_unknown_outcome_horizon_must_outlast_the_recv_window(
    run_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order of unknown outcome may land until recvWindow has passed: settling it sooner would
    let the same quote be placed twice."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway]\nrecv_window_ms = 8000\n[gateway.params.oms]\nunknown_horizon_s = 7.0\n")
    monkeypatch.setenv("MM_CONFIG_FILE", str(bad))
    with pytest.raises(ConfigError, match="must be longer than recv_window_ms"):
        load_settings()


def test_a_risk_churn_budget_the_gateway_cannot_send_is_refused(
    run_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the gateway sends 300 orders a minute per symbol (default); risk letting 400 through is a
    # budget that risk approves and the gateway then holds back
    loose = tmp_path / "loose.toml"
    loose.write_text("[risk.params.symbols.ETHUSDC]\nmaxActionsPerMinute = 400\n")
    monkeypatch.setenv("MM_CONFIG_FILE", str(loose))
    with pytest.raises(ConfigError, match=r"max_actions_per_minute 400 lets more through than the gateway's "
                       r"orders_per_minute 300"):  # fmt: skip
        load_settings()
    # 301 lets 300 through (risk's limits are strict): it fits
    loose.write_text("[risk.params.symbols.ETHUSDC]\nmaxActionsPerMinute = 301\n")
    assert load_settings().risk.params.symbols["ETHUSDC"].max_actions_per_minute == 301
    # the strategy planning more than risk lets through (299 a minute by default) is refused
    loose.write_text("[strategy.symbols.ETHUSDC]\nmaxActionsPerMinute = 300\n")
    with pytest.raises(ConfigError, match=r"minute 300 is above what risk lets through \(299"):
        load_settings()
    # and an account budget above Binance's 1,200 orders a minute is refused too
    loose.write_text("[gateway.params.budget.account]\nvenue_orders_per_minute = 1500\n")
    with pytest.raises(ConfigError, match="Binance's order counts per account"):
        load_settings()


def test_an_environment_list_that_is_not_json_is_one_clear_line(
    run_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MM_SYMBOLS", "ethusdc")
    with pytest.raises(
        ConfigError, match=r"MM_SYMBOLS could not be parsed: a list or table setting takes JSON"
    ):
        load_settings()


def test_a_per_symbol_override_by_environment_merges_into_the_files_entry(
    run_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "sym.toml"
    f.write_text("[strategy.symbols.ETHUSDC]\nquoteIntervalMs = 300\n")
    monkeypatch.setenv("MM_CONFIG_FILE", str(f))
    # environment names are case-insensitive: this arrives as symbols.ethusdc.net_max
    monkeypatch.setenv("MM_STRATEGY__SYMBOLS__ETHUSDC__NET_MAX", "0.1")
    monkeypatch.setenv("MM_RISK__PARAMS__SYMBOLS__ETHUSDC__NET_MAX", "0.1")
    s = load_settings()
    eth = s.strategy.symbols["ETHUSDC"]
    assert (eth.net_max, eth.quote_interval_ms) == (0.1, 300)  # both the file's key and the override
    assert list(s.strategy.symbols) == ["ETHUSDC", "BTCUSDC", "ETHUSDT"]  # no lower-case twin
    assert s.risk.params.symbols["ETHUSDC"].net_max == Decimal("0.1")
    assert s.risk.params.symbols["ETHUSDC"].single_max == Decimal("0.06")  # the rest kept


def test_replaying_the_built_in_eth_recording_into_another_symbol_is_refused(
    run_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MM_SIMVENUE__MODEL", "replay")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    # ETHUSDC (first in the list) may replay the ETH recording; BTCUSDC may not
    assert "BTCUSDC needs its own replay_file (the built-in recording is ETHUSDT" in str(exc.value)
    assert "ETHUSDC needs" not in str(exc.value)


def test_the_paper_live_profile_feeds_the_venue_from_binances_public_streams_without_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for k in ("MM_API_KEY", "MM_API_SECRET", "MM_CONFIG_FILE"):
        monkeypatch.delenv(k, raising=False)
    s = load_settings("paper-live")
    assert s.paper and s.simvenue.model == "live"
    assert (s.simvenue.live_ws_url, s.simvenue.live_rest_url) == (
        "wss://fstream.binance.com",
        "https://fapi.binance.com",
    )  # reference A: the futures public endpoints; only market data is read from them
    assert s.venue.rest_url == "http://127.0.0.1:8765"  # orders go to the local venue only
