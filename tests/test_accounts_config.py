"""Several accounts in the config: who trades what, with which keys, on which endpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from common import curve, topics
from common.config import ConfigError, load_settings


def _overlay(run_env: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    cfg = run_env / "accounts.toml"
    cfg.write_text(text)
    monkeypatch.setenv("MM_CONFIG_FILE", str(cfg))


def test_an_extra_account_has_its_own_gateway_symbols_keys_endpoints_and_venue_account(
    run_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _overlay(run_env, monkeypatch, '[accounts.b]\nsymbols = ["btcusdc"]\nmetrics_port = 9114\n')
    monkeypatch.setenv("MM_B_API_KEY", "key-of-b-123456")
    monkeypatch.setenv("MM_B_API_SECRET", "secret-of-b-123456")
    s = load_settings()
    assert s.gateways == ["gateway", "gateway-b"]
    assert s.services[-1] == "gateway-b"
    assert (s.account_symbols("main"), s.account_symbols("b")) == (["ETHUSDC"], ["BTCUSDC"])
    assert (s.gateway_of("ETHUSDC"), s.gateway_of("BTCUSDC")) == ("gateway", "gateway-b")
    assert s.account_credentials("b") == ("key-of-b-123456", "secret-of-b-123456")
    assert "secret-of-b-123456" in s.secret_values()  # redacted from every log line
    assert s.pub_endpoint("gateway-b").endswith("/gateway-b.pub")
    assert s.service_section("gateway-b").metrics_port == 9114
    # the simulated venue keeps an account for it, reading the same variables
    b = next(a for a in s.simvenue.accounts if a.name == "b")
    assert (b.api_key_env, b.api_secret_env) == ("MM_B_API_KEY", "MM_B_API_SECRET")


def test_tcp_endpoints_of_extra_gateways_follow_the_services_and_never_collide(
    run_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _overlay(run_env, monkeypatch, '[accounts.b]\nsymbols = ["BTCUSDC"]\n')
    monkeypatch.setenv("MM_BUS__TRANSPORT", "tcp")
    monkeypatch.setenv("MM_BUS_SECRET", "x" * 32)
    s = load_settings()
    eps = [s.pub_endpoint(x) for x in s.services] + [s.cmd_endpoint(x) for x in s.services]
    assert len(set(eps)) == len(eps) == 16
    assert s.pub_endpoint("gateway-b") == "tcp://127.0.0.1:7114"  # 7100 + 2 x 7 (after the 7 services)
    assert curve.public_var("gateway-b") == "MM_BUS_CURVE_GATEWAY_B_PUBLIC"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[accounts.b]\nsymbols = ["SOLUSDC"]\n', "SOLUSDC is not one of symbols"),
        (
            '[accounts.b]\nsymbols = ["BTCUSDC"]\n[accounts.c]\nsymbols = ["BTCUSDC"]\n',
            "already traded by account b",
        ),
        (
            '[accounts.b]\nsymbols = ["BTCUSDC", "ETHUSDC"]\n',
            "the primary account (MM_API_KEY, gateway) needs",
        ),
        ('[accounts.main]\nsymbols = ["BTCUSDC"]\n', "not 'main'"),
        ('[accounts.Big-One]\nsymbols = ["BTCUSDC"]\n', "lower-case letters and digits"),
        ("[risk.params.accounts.c]\ndaily_max = 10\n", "risk.params.accounts.c: no such account"),
    ],
)
def test_a_bad_accounts_table_is_refused_naming_what_is_wrong(
    run_env: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    _overlay(run_env, monkeypatch, text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings()


def test_live_needs_every_accounts_keys(run_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _overlay(run_env, monkeypatch, '[accounts.b]\nsymbols = ["BTCUSDC"]\napi_key_env = "B_KEY"\n')
    monkeypatch.setenv("MM_API_KEY", "k" * 16)
    monkeypatch.setenv("MM_API_SECRET", "s" * 16)
    with pytest.raises(ConfigError, match="B_KEY, MM_B_API_SECRET"):
        load_settings("live")


def test_oms_topics_belong_to_every_gateway_instance_but_its_heartbeat_only_to_itself() -> None:
    assert topics.owned_by("oms.order.BTCUSDC", "gateway-b")
    assert topics.owned_by("oms.account", "gateway")
    assert topics.owned_by("sys.heartbeat.gateway-b", "gateway-b")
    assert not topics.owned_by("sys.heartbeat.gateway", "gateway-b")  # no speaking for another instance
    assert not topics.owned_by("risk.target.BTCUSDC", "gateway-b")
    assert not topics.owned_by("oms.order.BTCUSDC", "risk-b")  # not an instance of the oms owner


def test_make_runs_account_step_writes_a_supervisord_program_and_paper_keys_per_extra_account(
    run_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from supervisor.options import ServerOptions

    from common.config import PROJECT_ROOT
    from services.mmctl.commands.accounts import add_paper_keys, supervisor_programs

    _overlay(run_env, monkeypatch, '[accounts.b]\nsymbols = ["BTCUSDC"]\n')
    monkeypatch.setenv("MM_SPOT_SYMBOLS", '["ETHUSDT"]')
    s = load_settings()
    env_file = run_env / "paper.env"
    env_file.write_text("MM_API_KEY=paper-x\nMM_API_SECRET=y\n")
    assert add_paper_keys(s, env_file) == ["MM_B_API_KEY", "MM_B_API_SECRET"]
    assert add_paper_keys(s, env_file) == []  # kept, never rewritten
    assert env_file.read_text().count("MM_B_API_KEY=paper-b-") == 1
    (run_env / "supervisor.d").mkdir()
    (run_env / "logs").mkdir(exist_ok=True)
    (run_env / "supervisor.d" / "accounts.conf").write_text(supervisor_programs(s))
    # supervisord itself reads supervisord.conf with the include: a gateway-b program, --account b
    monkeypatch.setenv("MM_RUN_DIR", str(run_env))
    monkeypatch.setenv("MM_VENUE_AUTOSTART", "false")
    opts = ServerOptions()
    opts.realize(args=["-c", str(PROJECT_ROOT / "supervisord.conf")])
    programs = {g.name: g for g in opts.process_group_configs}
    assert {"gateway", "gateway-b", "marketdata-spot", "gateway-spot", "guardian"} <= set(programs)
    assert programs["gateway-b"].process_configs[0].command.endswith("-m services.gateway --account b")
    spot_md = programs["marketdata-spot"].process_configs[0].command
    assert spot_md.endswith("-m services.marketdata --market spot")
    assert programs["gateway-spot"].process_configs[0].command.endswith("-m services.gateway --market spot")
    assert programs["guardian"].process_configs[0].command.endswith("-m services.guardian")


def test_the_recorders_history_catch_up_reads_each_symbol_with_its_own_accounts_key() -> None:
    import asyncio

    from common.binance.errors import BinanceError
    from services.recorder.catchup import ByAccount

    asked: list[tuple[str, str]] = []

    class Source:
        def __init__(self, name: str) -> None:
            self.name = name

        async def user_trades(self, symbol: str, *args: object) -> list[object]:
            asked.append((self.name, symbol))
            return []

    accounts = {"BTCUSDC": "b", "SOLUSDC": "c"}  # c: an account whose key is not in the environment
    routed = ByAccount({"main": Source("main"), "b": Source("b")}, lambda s: accounts.get(s, "main"))
    asyncio.run(routed.user_trades("BTCUSDC"))
    asyncio.run(routed.user_trades("ETHUSDC"))
    assert asked == [("b", "BTCUSDC"), ("main", "ETHUSDC")]
    with pytest.raises(BinanceError, match="no API key of account c"):
        asyncio.run(routed.user_trades("SOLUSDC"))
