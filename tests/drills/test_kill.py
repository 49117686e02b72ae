"""Drills of the kill contract: zero at the venue through a 429 storm, orders in flight, a restart,
a flatten inside the caps, and a kill sent while the gateway starts."""

from __future__ import annotations

import signal
import time
from decimal import Decimal

from common.messages import GetSnapshot
from tests.cluster import Cluster, FakeRisk
from tests.drills.support import (
    SYM,
    ask,
    follows,
    hit,
    mmctl,
    open_orders,
    order_updates,
    quotes,
    resume,
    venue_open_count,
    venue_position,
)
from tests.helpers import wait_until

ORDER_NOTIONAL_CAP = Decimal(500)  # support.CAPS


def _resume(c: Cluster) -> None:
    resume(c)
    wait_until(lambda: not ask(c, "gateway", GetSnapshot(what="kill"))["engaged"], 5)


def test_a_kill_during_a_429_storm_says_what_is_open_then_reaches_zero_when_the_storm_ends(
    gw: Cluster, risk: FakeRisk
) -> None:
    """The review's case: the IP's weight exhausted (429 on every REST call). The kill is saved and
    reported not done, naming the open orders and the 429; once Retry-After has passed the sweep
    reaches zero and the same command reports done."""
    q = quotes(gw, [-0.004, -0.005, -0.006, 0.004, 0.005, 0.006])
    risk.set_target(SYM, q)
    wait_until(lambda: follows(gw, q), 20, what="six quotes resting")
    storm_s = 4.0  # longer storms turn into a 418 ban of this IP, for the tests after this one too
    gw.fault(storm_429_s=storm_s)
    t_storm = time.monotonic()
    code, out = mmctl(gw, "kill", "--to", "gateway", "--wait", "1")
    assert code == 3, out  # engaged and saved, not confirmed
    assert out["report"]["engaged"] and not out["report"]["done"]
    assert sum(len(v) for v in out["report"]["open"].values()) == 6  # from the first answer on

    def says_429() -> dict | None:  # the first round's refusals (it may outlast the first answer)
        report: dict = gw.request("gateway", GetSnapshot(what="kill")).result
        return report if "429" in report["why"] and not report["done"] else None

    report = wait_until(says_429, storm_s, interval=0.05, what="the kill report naming the 429")
    assert sum(len(v) for v in report["open"].values()) == 6
    assert venue_open_count(gw) == 6  # the storm is still on: nothing could be canceled
    wait_until(lambda: venue_open_count(gw) == 0, storm_s + 10, what="zero after the storm")
    after_storm = time.monotonic() - t_storm - storm_s
    assert after_storm < 5.0, f"zero {after_storm:.1f} s after the storm ended"
    code, out = mmctl(gw, "kill", "--to", "gateway", "--wait", "10")
    assert code == 0 and out["done"], out
    time.sleep(1.0)  # targets keep coming from the stand-in risk: nothing is placed while killed
    assert open_orders(gw) == []
    _resume(gw)
    wait_until(lambda: follows(gw, q), 20, what="quoting again after resume")


def test_orders_in_flight_when_the_kill_lands_are_canceled_when_they_land(
    gw: Cluster, risk: FakeRisk
) -> None:
    """A place whose answer is lost lands 1.5 s later, after the kill: the kill is not done while
    it may land; when it lands the sweep cancels it, and only then is the kill done."""
    t_start = time.monotonic()
    gw.fault(late_new={"count": 1, "delay_ms": 1500, "answer": "503"})
    q = quotes(gw, [-0.004])  # one quote: a single order.place (a batch would not be faulted)
    risk.set_target(SYM, q)
    wait_until(
        lambda: any(u.state == "PendingNew" for u in order_updates(gw, t_start)), 10, what="orders sent"
    )
    code, out = mmctl(gw, "kill", "--to", "gateway", "--wait", "20")
    assert code == 0 and out["done"], out
    landed = [u for u in order_updates(gw, t_start) if u.state == "New"]
    assert landed, [(u.client_order_id, u.state, u.reason) for u in order_updates(gw, t_start)]
    assert out["report"]["confirmed_ns"] >= landed[0].ts_init  # done only after it landed
    assert order_updates(gw, t_start)[-1].state == "Canceled"  # and the sweep canceled it
    assert open_orders(gw) == []
    _resume(gw)


def test_the_kill_survives_a_gateway_restart(gw: Cluster, risk: FakeRisk) -> None:
    q = quotes(gw, [-0.004, 0.004])
    risk.set_target(SYM, q)
    wait_until(lambda: follows(gw, q), 20)
    code, out = mmctl(gw, "kill", "--to", "gateway", "--wait", "10")
    assert code == 0, out
    gw.kill("gateway", signal.SIGKILL)
    gw.start("gateway")
    assert ask(gw, "gateway", GetSnapshot(what="kill"))["engaged"]
    held = lambda: ask(gw, "gateway", GetSnapshot(what="oms"))["held"]  # noqa: E731
    wait_until(lambda: held().get(SYM) == "killed", 20, what="held as killed after the restart")
    time.sleep(1.0)  # the stand-in risk keeps sending targets: none is placed
    assert open_orders(gw) == []
    _resume(gw)
    wait_until(lambda: follows(gw, q), 30, what="quoting again after resume")


def test_kill_with_flatten_closes_the_position_in_slices_inside_the_caps(gw: Cluster, risk: FakeRisk) -> None:
    q = quotes(gw, [-0.0005, -0.0006], qty="0.150")  # two bids of ~400 USDC, under the 500 cap
    risk.set_target(SYM, q)
    wait_until(lambda: follows(gw, q), 20)
    hit(gw, "SELL", str(min(x.price for x in q)))  # the taker takes both of our bids
    wait_until(lambda: venue_position(gw) == Decimal("0.300"), 10)
    t0 = time.monotonic()
    code, out = mmctl(gw, "kill", "--to", "gateway", "--flatten", "--wait", "30")
    assert code == 0 and out["done"], out
    assert venue_position(gw) == 0 and open_orders(gw) == []
    flatten = [u for u in order_updates(gw, t0) if u.layer < 0 and u.state == "PendingNew"]
    assert len(flatten) >= 2  # 0.3 ETH (~800 USDC) does not fit one 500 USDC order
    assert all(u.price * u.qty <= ORDER_NOTIONAL_CAP and u.reduce_only for u in flatten), flatten
    _resume(gw)


def test_a_kill_sent_while_the_gateway_starts_is_saved_and_swept_once_it_connects(
    gw: Cluster, risk: FakeRisk
) -> None:
    """Our own order rests at the venue while the gateway is down; the venue answers slowly, so
    the gateway is still starting when the kill arrives. The kill is taken at once (saved), and
    swept once connected; the order is canceled."""
    t_start = time.monotonic()
    gw.kill("gateway", signal.SIGKILL)
    for sym in ("ETHUSDC", "BTCUSDC"):
        gw.signed("POST", "/fapi/v1/countdownCancelAll", symbol=sym, countdownTime=0)
    px = quotes(gw, [-0.01])[0].price
    r = gw.signed("POST", "/fapi/v1/order", symbol=SYM, side="BUY", type="LIMIT", timeInForce="GTC",
                  quantity="0.010", price=str(px), newClientOrderId="mm-0000001-ETHUSDC-b4-7")  # fmt: skip
    assert r.get("orderId"), r
    gw.fault(delay_ms=700)
    gw.start("gateway")
    code, out = mmctl(gw, "kill", "--to", "gateway", "--wait", "40")
    gw.fault(delay_ms=0)
    assert code == 0 and out["done"], out
    assert open_orders(gw) == []
    states = [u.state for u in order_updates(gw, t_start) if u.client_order_id.endswith("b4-7")]
    assert states and states[-1] == "Canceled"
    _resume(gw)
