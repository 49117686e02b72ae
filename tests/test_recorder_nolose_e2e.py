"""No fill is lost when the recorder is killed: the end-to-end invariant, with real processes.

After any run, every trade in the venue's ``userTrades`` is in the recorder's store exactly once,
with the venue's price, size, fee and realized PnL. Trades keep happening while the recorder is
down (``kill -9``); the restarted recorder catches up from the venue's trade history (and from the
gateway's snapshot when a gateway runs).

The first test needs only the venue and the recorder: a trader sends market orders straight to the
venue with the account's keys. The second adds the gateway, so fills also arrive over the bus and
in its snapshot, and the store must still hold each trade once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.messages import GetSnapshot, Query
from services.recorder.schema import dec_text
from tests.cluster import Cluster
from tests.helpers import wait_until
from tests.venue_proc import KEY, signed_query

SYMBOLS = ("ETHUSDC", "BTCUSDC")
OVERLAY = """
[recorder]
flush_interval_ms = 50
catchup_interval_s = 1.0
lake = false
"""


class Trader:
    """Market orders on the venue with the account's keys, alternating sides, until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent = 0
        self.traded: set[tuple[str, int]] = set()  # (symbol, orderId) of orders that executed
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _order(self, client: httpx.Client, symbol: str, side: str, qty: str) -> None:
        q = signed_query(
            {"symbol": symbol, "side": side, "type": "MARKET", "quantity": qty, "newOrderRespType": "RESULT"}
        )
        r = client.post(f"{self.url}/fapi/v1/order?{q}", headers={"X-MBX-APIKEY": KEY})
        if r.status_code != 200:
            self.errors.append(r.text[:200])
        elif Decimal(r.json()["executedQty"]) > 0:
            # A market order meeting an empty side expires untraded (Binance does the same), so
            # the venue's history is compared with the orders that executed, not those sent.
            self.traded.add((symbol, r.json()["orderId"]))
        self.sent += 1

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            i = 0
            while not self._stop.is_set():
                sym = SYMBOLS[i % 2]
                side = "BUY" if (i // 2) % 2 == 0 else "SELL"
                self._order(client, sym, side, "0.010" if sym == "ETHUSDC" else "0.002")
                i += 1
                self._stop.wait(0.04)

    def __enter__(self) -> Trader:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)


def venue_trades(c: Cluster) -> list[dict[str, Any]]:
    """The account's whole trade history on the venue (both symbols)."""
    out: list[dict[str, Any]] = []
    for sym in SYMBOLS:
        rows = c.signed("GET", "/fapi/v1/userTrades", symbol=sym, limit=1000)
        assert isinstance(rows, list), rows
        out += rows
    return out


def stored_fills(c: Cluster) -> list[dict[str, Any]]:
    reply = c.request("recorder", Query(kind="fills", limit=100_000), timeout=5)
    rows: list[dict[str, Any]] = reply.result if reply.ok else []
    return rows


def check_invariant(trades: list[dict[str, Any]], fills: list[dict[str, Any]]) -> None:
    keys = [(f["symbol"], f["trade_id"], f["side"]) for f in fills]
    assert len(keys) == len(set(keys)), "a trade is stored twice"
    want = {(t["symbol"], t["id"], t["side"]): t for t in trades}
    assert set(keys) == set(want), (
        f"missing {sorted(set(want) - set(keys))[:5]}, extra {sorted(set(keys) - set(want))[:5]}"
    )
    for f in fills:
        t = want[(f["symbol"], f["trade_id"], f["side"])]
        expect = tuple(dec_text(t[k]) for k in ("price", "qty", "commission", "realizedPnl"))
        assert (f["price"], f["qty"], f["fee"], f["realized_pnl"]) == expect, f"trade {t['id']}"


def converged(c: Cluster) -> bool:
    trades, fills = venue_trades(c), stored_fills(c)
    return bool(trades) and {(t["symbol"], t["id"], t["side"]) for t in trades} == {
        (f["symbol"], f["trade_id"], f["side"]) for f in fills
    }


def recorder_up(c: Cluster) -> bool:
    c.check_alive("recorder")
    try:
        return c.request("recorder", GetSnapshot(what="session"), timeout=0.5).ok
    except TimeoutError:
        return False


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with Cluster(tmp_path, OVERLAY) as c:
        yield c


def _kill_and_restart_while_trading(c: Cluster, trader: Trader) -> tuple[int, int]:
    wait_until(lambda: trader.sent > 20, 20, what="trading started")
    c.kill("recorder", signal.SIGKILL)
    sent_at_kill = trader.sent
    wait_until(lambda: trader.sent > sent_at_kill + 30, 20, what="trades while the recorder is down")
    c.start("recorder")
    wait_until(lambda: recorder_up(c), 20, what="recorder back")
    sent_at_restart = trader.sent
    wait_until(lambda: trader.sent > sent_at_restart + 20, 20, what="trades after the restart")
    return sent_at_kill, sent_at_restart


def test_no_venue_trade_is_lost_when_the_recorder_is_killed(cluster: Cluster) -> None:
    c = cluster
    c.start("venue", "recorder")
    wait_until(lambda: recorder_up(c), 20, what="recorder up")
    with Trader(c.venue_url) as trader:
        _kill_and_restart_while_trading(c, trader)
    assert not trader.errors, trader.errors[:3]
    wait_until(lambda: converged(c), 20, interval=0.2, what="the store caught up with the venue")
    trades = venue_trades(c)
    check_invariant(trades, stored_fills(c))
    assert sum(Decimal(t["realizedPnl"]) for t in trades) != 0, "closing trades carry realized PnL"
    assert {(t["symbol"], t["orderId"]) for t in trades} == trader.traded, "each executed order has trades"
    assert len(trader.traded) >= trader.sent - 3, "market orders traded (a rare one meets an empty side)"


def test_no_fill_is_lost_or_doubled_with_the_gateway_publishing_fills(cluster: Cluster) -> None:
    c = cluster
    c.start("venue", "gateway", "recorder")
    wait_until(lambda: recorder_up(c), 20, what="recorder up")
    wait_until(lambda: c.request("gateway", GetSnapshot(what="oms"), timeout=1).ok, 30, what="gateway up")
    with Trader(c.venue_url) as trader:
        _kill_and_restart_while_trading(c, trader)
    assert not trader.errors, trader.errors[:3]
    wait_until(lambda: converged(c), 30, interval=0.2, what="the store caught up with the venue")
    fills = stored_fills(c)
    check_invariant(venue_trades(c), fills)
    sources = {f["source"] for f in fills}
    assert "bus" in sources, "the gateway published fills"
    assert sources & {"gateway", "venue"}, "the kill window was filled in by catch-up (snapshot or history)"
