"""Drills of access: the console and the venue's admin against another website, the recorder on a
read-only key, and a leverage the venue refuses blocking one symbol instead of the gateway."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from common.messages import CommandAudit, GetSnapshot, Query
from tests.cluster import Cluster, FakeRisk
from tests.drills.conftest import live
from tests.drills.support import ACCOUNT_B, ENV_B, FAST, follows, hit, quotes, trades, venue_position
from tests.helpers import free_port, wait_until

READ_KEY, READ_SECRET = "read-only-key-0123456789", "read-only-secret-9876543210"
OVERLAY = """
[[simvenue.symbols]]
symbol = "ETHUSDC"
base_asset = "ETH"
quote_asset = "USDC"
price_tick = "0.01"
qty_step = "0.001"
min_qty = "0.001"
max_qty = "10000"
market_max_qty = "2000"
min_notional = "10"
start_price = "2680"
level_qty = "2.0"
max_leverage = 50

[[simvenue.symbols]]
symbol = "BTCUSDC"
base_asset = "BTC"
quote_asset = "USDC"
price_tick = "0.1"
min_price = "0.1"
qty_step = "0.001"
min_qty = "0.001"
max_qty = "1000"
market_max_qty = "120"
min_notional = "50"
start_price = "61000"
level_qty = "0.3"

[gateway.leverage]
ETHUSDC = 75
BTCUSDC = 20

[recorder]
catchup_interval_s = 3.0
"""
READ_ACCOUNT = ACCOUNT_B.replace(
    'name = "paper"\n',
    'name = "paper"\nread_key_env = "MM_READ_API_KEY"\nread_secret_env = "MM_READ_API_SECRET"\n',
)


@pytest.fixture(scope="module")
def acc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    port = free_port()
    env = {
        **ENV_B,
        "MM_READ_API_KEY": READ_KEY,
        "MM_READ_API_SECRET": READ_SECRET,
        "MM_CONSOLE__PORT": str(port),
    }
    with Cluster(tmp_path_factory.mktemp("access"), FAST + OVERLAY + READ_ACCOUNT, env=env) as c:
        c.listen("oms.", "md.status.", "sys.command.")
        c.start("venue", "marketdata", "gateway", "console")
        c.start("recorder", env={"MM_API_KEY": None, "MM_API_SECRET": None})  # the read-only key alone
        wait_until(lambda: live(c) and live(c, "BTCUSDC"), 30, what="market data live")
        c.console_port = port  # type: ignore[attr-defined]
        yield c


def test_a_leverage_the_venue_refuses_blocks_that_symbol_and_the_others_trade(acc: Cluster) -> None:
    """The review's case: a leverage outside the venue's bracket crash-looped the gateway. Now the
    refusal holds that symbol (with the venue's reason) and the gateway serves the others."""
    with FakeRisk(acc.settings) as risk:
        eth, btc = quotes(acc, [-0.004]), quotes(acc, [-0.004], symbol="BTCUSDC")
        risk.set_target("ETHUSDC", eth)
        risk.set_target("BTCUSDC", btc)
        wait_until(lambda: follows(acc, btc, "BTCUSDC"), 30, what="BTCUSDC quoting")
        assert acc.open_orders("ETHUSDC") == []
        held = acc.request("gateway", GetSnapshot(what="oms")).result["held"]
        assert "leverage 75 refused" in held["ETHUSDC"], held
        acc.check_alive("gateway")
        risk.set_target("BTCUSDC", [])
        wait_until(lambda: acc.open_orders("BTCUSDC") == [], 15)


def test_the_recorder_reads_trade_history_with_the_read_only_key(acc: Cluster) -> None:
    """The recorder runs without the trading key here (MM_API_KEY unset): its catch-up reads the
    venue's trade history with MM_READ_API_KEY, a key the venue refuses for trading."""
    order = {"symbol": "BTCUSDC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    refused = acc.signed("POST", "/fapi/v1/order", key=READ_KEY, secret=READ_SECRET, **order,
                         quantity="0.001", price="50000")  # fmt: skip
    assert refused.get("code") == -2015  # the key cannot trade
    with FakeRisk(acc.settings) as risk:
        btc = quotes(acc, [-0.0005], qty="0.002", symbol="BTCUSDC")
        risk.set_target("BTCUSDC", btc)
        wait_until(lambda: follows(acc, btc, "BTCUSDC"), 30)
        hit(acc, "SELL", str(btc[0].price), symbol="BTCUSDC")
        risk.set_target("BTCUSDC", [])
    ids = {t["id"] for t in trades(acc, "BTCUSDC")}
    assert ids

    def from_venue() -> set[int]:
        rows = acc.request("recorder", Query(kind="fills", filters={"symbol": "BTCUSDC"})).result
        return {r["trade_id"] for r in rows}

    wait_until(lambda: ids <= from_venue(), 20, what="the fills read back by the recorder")
    assert "recorder_uses_trading_key" not in acc.log("recorder")
    pos = venue_position(acc, "BTCUSDC")
    acc.signed("POST", "/fapi/v1/order", symbol="BTCUSDC", side="SELL", type="MARKET", quantity=str(pos),
               reduceOnly="true")  # fmt: skip


def _console(c: Cluster, method: str, path: str, **headers: str) -> httpx.Response:
    port = c.console_port  # type: ignore[attr-defined]
    return httpx.request(method, f"http://127.0.0.1:{port}{path}", headers=headers, json={}, timeout=10)


def test_a_page_from_another_site_cannot_use_the_console_or_the_venue_admin(acc: Cluster) -> None:
    """A DNS-rebinding page (its name resolving to 127.0.0.1) got 200 for resume and flatten; a
    cross-site text/plain POST reached the venue's fault switch."""
    wait_until(lambda: _console(acc, "GET", "/api/state").status_code == 200, 20, what="console up")
    t0 = time.monotonic()
    evil = {"Host": f"evil.example:{acc.console_port}", "X-MM-Console": "1"}  # type: ignore[attr-defined]
    assert _console(acc, "POST", "/api/command/resume", **evil).status_code == 403
    assert _console(acc, "POST", "/api/command/flatten", **evil).status_code == 403
    origin = {"Origin": "http://evil.example", "X-MM-Console": "1"}
    assert _console(acc, "POST", "/api/command/resume", **origin).status_code == 403
    audits = [m for _, m in acc.heard.since(t0, "sys.command.") if isinstance(m, CommandAudit)]
    assert audits == []  # nothing reached a service
    r = httpx.post(acc.venue_url + "/_admin/fault", content='{"storm_429_s": 30}',
                   headers={"Content-Type": "text/plain"}, timeout=5)  # fmt: skip
    assert r.status_code == 415
    assert isinstance(acc.open_orders("ETHUSDC"), list)  # no storm was switched on
