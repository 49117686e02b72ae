"""Two accounts end to end, as processes on the simulated venue: each account's gateway trades its
own symbols with its own keys, risk holds one account to its notional cap, ``mmctl status`` shows
them apart, and ``mmctl kill`` is done only once the venue confirmed zero on both."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.messages import GetSnapshot, RiskState, TargetQuotes
from tests.cluster import Cluster
from tests.drills.support import mmctl
from tests.helpers import free_port, wait_until
from tests.venue_proc import KEY, KEY_B, SECRET, SECRET_B

pytestmark = pytest.mark.system
CAP = Decimal(600)  # account b's worst-case notional, USDC: about 0.0098 BTC a side (the ladder has 0.015)
OVERLAY = f"""
[accounts.b]
symbols = ["BTCUSDC"]
[risk.params.accounts.b]
total_notional_max = {CAP}
"""


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    env = {
        "MM_B_API_KEY": KEY_B,
        "MM_B_API_SECRET": SECRET_B,
        "MM_GATEWAY__RECORDER_WAIT_S": "0",
        "MM_RISK__RECORDER_WAIT_S": "0",
    }
    console = free_port()
    c = Cluster(tmp_path_factory.mktemp("accounts"), OVERLAY, {**env, "MM_CONSOLE__PORT": str(console)})
    try:
        c.listen("risk.", "oms.account")
        c.start("venue", "marketdata", "gateway", "gateway-b", "risk", "strategy", "console")
        both = lambda: _resting(c, "ETHUSDC", KEY, SECRET) and _resting(c, "BTCUSDC", KEY_B, SECRET_B)  # noqa: E731
        wait_until(both, 60, what="orders resting on both accounts")
        yield c
    finally:
        c.stop()


def _orders(c: Cluster, sym: str, key: str, secret: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = c.signed("GET", "/fapi/v1/openOrders", key=key, secret=secret, symbol=sym)
    return rows


def _resting(c: Cluster, sym: str, key: str, secret: str) -> bool:
    return bool(_orders(c, sym, key, secret))


def _position(c: Cluster, sym: str, key: str, secret: str) -> Decimal:
    rows = [p for p in c.signed("GET", "/fapi/v3/positionRisk", key=key, secret=secret) if p["symbol"] == sym]
    return Decimal(rows[0]["positionAmt"]) if rows else Decimal(0)


def test_each_accounts_gateway_trades_only_its_own_symbols_with_its_own_keys(two: Cluster) -> None:
    assert _orders(two, "ETHUSDC", KEY, SECRET) and not _orders(two, "ETHUSDC", KEY_B, SECRET_B)
    assert _orders(two, "BTCUSDC", KEY_B, SECRET_B) and not _orders(two, "BTCUSDC", KEY, SECRET)
    snap_b = two.request("gateway-b", GetSnapshot(what="oms"))
    assert snap_b.ok and {o["symbol"] for o in snap_b.result["orders"]} == {"BTCUSDC"}
    accounts = {m.account for m in two.heard.of("oms.account")}
    assert accounts == {"main", "b"}


def test_risk_holds_account_b_to_its_notional_cap_on_the_venue(two: Cluster) -> None:
    def clipped() -> bool:
        targets = two.heard.of("risk.target.BTCUSDC", TargetQuotes)
        return any("account_notional" in c for t in targets for c in t.clipped)

    wait_until(clipped, 30, what="a BTCUSDC target clipped by account b's cap")
    # what rests on the venue for b, with b's position, fits the cap at the venue's mark (1 % for
    # the mark's move between risk's approval and this read)
    orders = _orders(two, "BTCUSDC", KEY_B, SECRET_B)
    pos = _position(two, "BTCUSDC", KEY_B, SECRET_B)
    buys = sum(
        (Decimal(o["origQty"]) - Decimal(o["executedQty"]) for o in orders if o["side"] == "BUY"), Decimal(0)
    )
    sells = sum(
        (Decimal(o["origQty"]) - Decimal(o["executedQty"]) for o in orders if o["side"] == "SELL"), Decimal(0)
    )
    mark = Decimal(two.signed("GET", "/fapi/v1/premiumIndex", symbol="BTCUSDC")["markPrice"])
    worst = max(abs(pos + buys), abs(pos - sells)) * mark
    assert worst <= CAP * Decimal("1.01"), (pos, buys, sells, mark)
    state = two.heard.of("risk.state", RiskState)[-1]
    assert state.figures["account.b.worst_notional"] <= float(CAP) * 1.01
    assert "account.main.equity" in state.figures and "account.b.equity" in state.figures


def test_mmctl_status_shows_the_accounts_apart(two: Cluster) -> None:
    out = subprocess.run([str(Path(sys.executable).parent / "mmctl"), "status"], env=two.env,
                         capture_output=True, text=True, timeout=30)  # fmt: skip
    lines = out.stdout.splitlines()
    assert out.returncode in (0, 3), out.stderr  # 3: the recorder and console are not run here
    main = next(line.split() for line in lines if line.startswith("main "))
    b = next(line.split() for line in lines if line.startswith("b "))
    assert main[:4] == ["main", "gateway", "running", "ETHUSDC"]
    assert b[:4] == ["b", "gateway-b", "running", "BTCUSDC"]
    assert "equity=" in " ".join(b)


def test_the_console_shows_the_accounts_apart(two: Cluster) -> None:
    url = f"http://127.0.0.1:{two.env['MM_CONSOLE__PORT']}/api/state"

    def both() -> dict[str, Any] | None:
        try:
            accts: dict[str, Any] = httpx.get(url, timeout=2).json()["accounts"]
        except (httpx.HTTPError, ValueError, KeyError):
            return None
        return accts if all(a["balances"] and "equity" in a["figures"] for a in accts.values()) else None

    accts = wait_until(both, 20, what="both accounts' balances and figures in the console")
    assert (accts["main"]["gateway"], accts["main"]["symbols"]) == ("gateway", ["ETHUSDC"])
    assert (accts["b"]["gateway"], accts["b"]["symbols"]) == ("gateway-b", ["BTCUSDC"])
    services = httpx.get(url, timeout=2).json()["services"]
    assert services["gateway-b"]["state"] == "running" and services["gateway-b"]["detail"]["account"] == "b"


def test_the_kill_is_done_only_once_both_accounts_are_confirmed_empty(two: Cluster) -> None:
    code, out = mmctl(two, "kill", "--reason", "two accounts", "--wait", "30")
    assert code == 0, out
    assert {a["service"] for a in out["acks"] if a["ok"]} >= {"gateway", "gateway-b", "risk", "strategy"}
    assert set(out["report"]["gateways"]) == {"gateway", "gateway-b"}
    assert not _orders(two, "ETHUSDC", KEY, SECRET) and not _orders(two, "BTCUSDC", KEY_B, SECRET_B)
    code, out = mmctl(two, "resume", "--reason", "done")
    assert code == 0, out
