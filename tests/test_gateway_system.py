"""The gateway against the simulated venue, as processes, with a stand-in risk service: quotes
follow targets, start-up adoption and cleanup, unknown outcomes, 429 storms, a dropped user
stream, the kill switch and the venue's dead-man's switch."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.messages import FeedStatus, Fill, GetSnapshot, OmsEvent, OrderUpdate, Query, Quote, Resume
from tests.cluster import Cluster, FakeRisk
from tests.helpers import wait_until as _wait_until
from tests.venue_proc import KEY_B, SECRET_B, book_mid, resting_buy

SYM = "ETHUSDC"
pytestmark = pytest.mark.system

OVERLAY = """
[gateway]
deadman_ms = 2000
deadman_refresh_s = 0.5
reconcile_interval_s = 1.0
risk_silence_s = 3.0

[[simvenue.accounts]]
name = "paper"

[[simvenue.accounts]]
name = "b"
api_key_env = "MM_B_KEY"
api_secret_env = "MM_B_SECRET"
balances = { USDC = 1000000 }
"""


def wait_until(cond: Any, timeout: float = 10.0, interval: float = 0.2, what: Any = "") -> Any:
    """``tests.helpers.wait_until`` polling at 5 Hz: most conditions here read the venue, and 50
    requests a second from this harness would spend the IP's weight the gateway needs (it then
    holds its own requests back, as it must)."""
    return _wait_until(cond, timeout, interval, what)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("gw")
    with Cluster(tmp, OVERLAY, env={"MM_B_KEY": KEY_B, "MM_B_SECRET": SECRET_B}) as c:
        c.listen("oms.", "md.status.")
        c.start("venue", "recorder", "marketdata", "gateway")
        wait_until(lambda: _live(c), 30, what="market data live")
        yield c


@pytest.fixture
def risk(cluster: Cluster) -> Iterator[FakeRisk]:
    with FakeRisk(cluster.settings) as r:
        yield r


def _live(c: Cluster) -> bool:
    st = c.heard.of(f"md.status.{SYM}", FeedStatus)
    return bool(st) and st[-1].state == "live"


def _mid(c: Cluster) -> Decimal:
    return book_mid(c.venue_url, SYM)


def _quotes(c: Cluster, offsets: list[float], qty: str = "0.010") -> list[Quote]:
    """Quotes at mid * (1 ± offset): positive offsets are asks, negative bids, far from the touch."""
    mid = _mid(c)
    out = []
    for i, off in enumerate(offsets):
        px = (mid * Decimal(repr(1 + off))).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        out.append(Quote(side="SELL" if off > 0 else "BUY", price=px, qty=Decimal(qty), layer=i))
    return out


def _venue_prices(c: Cluster) -> list[tuple[str, str]]:
    return sorted((o["side"], o["price"]) for o in c.open_orders(SYM))


def _follows(c: Cluster, quotes: list[Quote]) -> bool:
    want = sorted((q.side, str(q.price)) for q in quotes)
    return _venue_prices(c) == want


def test_quotes_follow_the_targets(cluster: Cluster, risk: FakeRisk) -> None:
    q1 = _quotes(cluster, [-0.004, -0.005, 0.004, 0.005])
    risk.set_target(SYM, q1)
    wait_until(lambda: _follows(cluster, q1), 15, what="the first quote set resting")
    q2 = _quotes(cluster, [-0.006, -0.007, 0.006])
    risk.set_target(SYM, q2)
    wait_until(lambda: _follows(cluster, q2), 15, what="the quote set moved")
    ids = [o["clientOrderId"] for o in cluster.open_orders(SYM)]
    assert len(ids) == len(set(ids)) == 3
    assert all(i.startswith("mm-") and len(i) <= 36 for i in ids)
    risk.set_target(SYM, [])
    wait_until(lambda: cluster.open_orders(SYM) == [], 15, what="an empty target clears the book")


def test_a_503_unknown_order_is_found_and_not_duplicated(cluster: Cluster, risk: FakeRisk) -> None:
    cluster.fault(unknown_503=1)
    q = _quotes(cluster, [-0.004])
    risk.set_target(SYM, q)
    wait_until(lambda: _follows(cluster, q), 15, what="the order resting")
    time.sleep(2.0)  # several passes and a reconcile later, still one order
    assert len(cluster.open_orders(SYM)) == 1
    ups = [
        m
        for m in cluster.heard.of(f"oms.order.{SYM}", OrderUpdate)
        if m.client_order_id == cluster.open_orders(SYM)[0]["clientOrderId"]
    ]
    assert ups and ups[-1].state == "New"
    risk.set_target(SYM, [])
    wait_until(lambda: cluster.open_orders(SYM) == [], 15)


def test_a_429_storm_causes_backoff_and_no_ban(cluster: Cluster, risk: FakeRisk) -> None:
    q = _quotes(cluster, [-0.004, 0.004])
    risk.set_target(SYM, q)
    wait_until(lambda: _follows(cluster, q), 15)
    cluster.fault(storm_429_s=3.0)
    time.sleep(3.5)
    state = httpx.get(cluster.venue_url + "/_admin/state").json()
    assert state["bans"] == {}
    q2 = _quotes(cluster, [-0.005, 0.005])
    risk.set_target(SYM, q2)
    wait_until(lambda: _follows(cluster, q2), 15, what="quoting again after the storm")
    assert "sending is stopped" in cluster.log("gateway")  # it held off while told to back off
    assert "banned until" not in cluster.log("gateway")
    risk.set_target(SYM, [])
    wait_until(lambda: cluster.open_orders(SYM) == [], 15)


def _trades(c: Cluster) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = c.signed("GET", "/fapi/v1/userTrades", symbol=SYM)
    return rows


def _fill_our_bid(c: Cluster) -> None:
    """Account b sells into our resting bid: an IOC large enough to take every better bid first."""
    before = len(_trades(c))
    px = max(o["price"] for o in c.open_orders(SYM) if o["side"] == "BUY")
    r = c.signed("POST", "/fapi/v1/order", key=KEY_B, secret=SECRET_B, symbol=SYM, side="SELL", type="LIMIT",
                 timeInForce="IOC", quantity="400.000", price=px)  # fmt: skip
    assert r.get("orderId"), r
    assert len(_trades(c)) > before, "the IOC did not reach our bid"


def test_fills_made_while_the_user_stream_was_down_are_published_exactly_once(
    cluster: Cluster, risk: FakeRisk
) -> None:
    q = _quotes(cluster, [-0.002, 0.004])
    risk.set_target(SYM, q)
    wait_until(lambda: _follows(cluster, q), 15)
    t0 = time.monotonic()
    cluster.fault(drop_ws="private")
    _fill_our_bid(cluster)
    trades = cluster.signed("GET", "/fapi/v1/userTrades", symbol=SYM)
    venue_ids = {t["id"] for t in trades}
    wait_until(
        lambda: (
            venue_ids <= {f.trade_id for t, f in cluster.heard.since(t0, "oms.fill.") if isinstance(f, Fill)}
        ),
        20,
        what="the missed fill published",
    )
    time.sleep(2.0)  # a reconcile pass later, still once
    ids = [f.trade_id for t, f in cluster.heard.since(0, "oms.fill.") if isinstance(f, Fill)]
    assert len(ids) == len(set(ids))
    pos = [
        p
        for p in cluster.request("gateway", GetSnapshot(what="oms")).result["positions"]
        if p["symbol"] == SYM
    ]
    venue_pos = [p for p in cluster.signed("GET", "/fapi/v3/positionRisk") if p["symbol"] == SYM]
    assert Decimal(pos[0]["qty"]) == Decimal(venue_pos[0]["positionAmt"])
    risk.set_target(SYM, [])
    wait_until(lambda: cluster.open_orders(SYM) == [], 15)


def test_start_up_adopts_our_orders_and_cancels_foreign_ones(cluster: Cluster, risk: FakeRisk) -> None:
    cluster.kill("gateway", signal.SIGKILL)
    for sym in ("ETHUSDC", "BTCUSDC"):  # stop the dead gateway's countdown, or it cancels our test orders
        cluster.signed("POST", "/fapi/v1/countdownCancelAll", symbol=sym, countdownTime=0)
    px = str((_mid(cluster) * Decimal("0.99")).quantize(Decimal("0.01")))
    for cid in ("mm-0000001-ETHUSDC-b3-9", "someone-elses-order"):
        r = cluster.signed("POST", "/fapi/v1/order", **resting_buy(SYM, "0.010", px, newClientOrderId=cid))
        assert r.get("orderId"), r
    t0 = time.monotonic()
    cluster.start("gateway")
    wait_until(
        lambda: cluster.open_orders(SYM) == [], 20, what="both cleaned up (foreign, and ours not wanted)"
    )
    events = [m for t, m in cluster.heard.since(t0, "oms.") if isinstance(m, OmsEvent)]
    assert any(e.kind == "foreign_order" and e.detail == "someone-elses-order" for e in events)

    def adopted() -> list[OrderUpdate]:
        return [m for t, m in cluster.heard.since(t0, "oms.order.")
                if isinstance(m, OrderUpdate) and m.client_order_id == "mm-0000001-ETHUSDC-b3-9"]  # fmt: skip

    wait_until(lambda: adopted() and adopted()[-1].state == "Canceled", 10, what="the adopted order canceled")
    assert adopted()[0].layer == 3


def test_the_dead_mans_switch_cancels_everything_when_the_gateway_freezes(
    cluster: Cluster, risk: FakeRisk
) -> None:
    q = _quotes(cluster, [-0.004, 0.004])
    risk.set_target(SYM, q)
    wait_until(lambda: _follows(cluster, q), 20)
    cluster.kill("gateway", signal.SIGSTOP)
    try:
        wait_until(lambda: cluster.open_orders(SYM) == [], 10, what="the venue's countdown to cancel")
    finally:
        cluster.kill("gateway", signal.SIGCONT)
    wait_until(lambda: _follows(cluster, q), 20, what="quoting again after the freeze")


def test_mmctl_kill_leaves_zero_open_orders(cluster: Cluster, risk: FakeRisk) -> None:
    q = _quotes(cluster, [-0.004, -0.005, 0.004, 0.005])
    risk.set_target(SYM, q)
    wait_until(lambda: _follows(cluster, q), 20)
    out = subprocess.run(
        [str(Path(sys.executable).parent / "mmctl"), "kill", "--to", "gateway", "--json"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr  # 0: the venue confirmed zero
    assert json.loads(out.stdout.splitlines()[-1])["done"] is True
    assert cluster.open_orders(SYM) == []
    time.sleep(1.0)
    assert cluster.open_orders(SYM) == []  # and nothing comes back while killed
    assert cluster.request("gateway", Resume()).ok


def _unpublished(c: Cluster) -> list[dict[str, Any]]:
    """The venue's trades of our account not heard on ``oms.fill``."""
    heard = {f.trade_id for f in c.heard.of("oms.fill.", Fill)}
    return [t for t in _trades(c) if t["id"] not in heard]


def test_a_fill_the_recorder_stored_while_the_gateway_was_down_is_published_when_it_is_back(
    cluster: Cluster, risk: FakeRisk
) -> None:
    """kill -9 the gateway, and our bid fills. The recorder, restarted meanwhile, reads the venue's
    trade history at once and stores that trade, under its venue mark, before the gateway is back.
    What the store holds is not what was published: the gateway resumes from its own fill marks and
    the fill reaches oms.fill (risk and the strategy), once."""
    q = _quotes(cluster, [-0.002, 0.004])
    risk.set_target(SYM, q)
    wait_until(lambda: _follows(cluster, q), 20)
    cluster.kill("gateway", signal.SIGKILL)
    before = {t["id"] for t in _trades(cluster)}
    _fill_our_bid(cluster)
    new = {t["id"] for t in _trades(cluster)} - before
    cluster.kill("recorder", signal.SIGTERM)
    cluster.start("recorder")

    def stored() -> set[int]:
        rows = cluster.request("recorder", Query(kind="fills", filters={"symbol": SYM}, limit=10_000)).result
        return {r["trade_id"] for r in rows or []}

    wait_until(lambda: new <= stored(), 30, what="the recorder's catch-up storing the trade")
    cluster.start("gateway")
    wait_until(lambda: not _unpublished(cluster), 30,
               what=lambda: f"every venue trade published; missing: {_unpublished(cluster)}")  # fmt: skip
    published = [f.trade_id for f in cluster.heard.of("oms.fill.", Fill) if f.trade_id in new]
    assert sorted(published) == sorted(new), published  # once each
    risk.set_target(SYM, [])
    wait_until(lambda: cluster.open_orders(SYM) == [], 15)


def test_kill_9_mid_quoting_then_restart_leaves_no_orphan_duplicate_or_lost_fill(
    cluster: Cluster, risk: FakeRisk
) -> None:
    q = _quotes(cluster, [-0.002, -0.004, 0.004, 0.005])
    risk.set_target(SYM, q)
    wait_until(lambda: _follows(cluster, q), 20)
    cluster.kill("gateway", signal.SIGKILL)
    _fill_our_bid(cluster)  # a fill while no gateway runs
    cluster.start("gateway")
    wait_until(lambda: len(cluster.open_orders(SYM)) == len(q), 30, what="a full quote set after the restart")
    ids = [o["clientOrderId"] for o in cluster.open_orders(SYM)]
    assert len(ids) == len(set(ids)) == len(q)  # no orphan, no duplicate
    venue_ids = {t["id"] for t in _trades(cluster)}
    wait_until(lambda: venue_ids <= {f.trade_id for f in cluster.heard.of("oms.fill.", Fill)}, 20,
               what=lambda: f"every venue trade published; missing: {_unpublished(cluster)}")  # fmt: skip
    published = [f.trade_id for f in cluster.heard.of("oms.fill.", Fill) if f.symbol == SYM]
    assert len(published) == len(set(published))  # none twice, across both gateway runs
    snap = cluster.request("gateway", GetSnapshot(what="oms")).result
    pos = [p for p in snap["positions"] if p["symbol"] == SYM]
    venue_pos = [p for p in cluster.signed("GET", "/fapi/v3/positionRisk") if p["symbol"] == SYM]
    assert Decimal(pos[0]["qty"]) == Decimal(venue_pos[0]["positionAmt"])
    risk.set_target(SYM, [])
    wait_until(lambda: cluster.open_orders(SYM) == [], 15)
