"""Drills with the whole trading loop (strategy and risk included): market data judged by its age,
a latency halt that lifts, risk restarting onto the gateway's truth and counting orders beside the
target, and no reduce-only rejection or traceback in any log."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from common.messages import GetSnapshot, RiskEvent, RiskState
from tests.cluster import Cluster
from tests.drills.conftest import live
from tests.drills.support import ACCOUNT_B, ENV_B, FAST, SYM, hit, open_orders, venue_position
from tests.helpers import wait_until

SERVICES = ("venue", "recorder", "marketdata", "strategy", "risk", "gateway")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster(tmp_path_factory.mktemp("stack"), FAST + ACCOUNT_B, env=ENV_B) as c:
        c.listen("oms.", "md.status.", "risk.")
        c.start(*SERVICES)
        wait_until(lambda: live(c), 30, what="market data live")
        wait_until(lambda: len(open_orders(c)) >= 4, 60, what="the strategy quoting")
        yield c


def _risk_state(c: Cluster) -> RiskState | None:
    states = c.heard.of("risk.state", RiskState)
    return states[-1] if states else None


def _figure(c: Cluster, name: str) -> float:
    st = _risk_state(c)
    return st.figures.get(name, float("nan")) if st else float("nan")


def test_market_data_that_goes_silent_is_stale_by_its_age(stack: Cluster) -> None:
    """The review's case: a frozen market-data process left its last status "live" for ever. The
    gateway judges by age: silent for md_silence_s (2 s here), every quote is canceled."""
    stack.kill("marketdata", signal.SIGSTOP)
    try:
        wait_until(lambda: open_orders(stack) == [] and open_orders(stack, "BTCUSDC") == [], 10,
                   what="orders canceled while market data is silent")  # fmt: skip
    finally:
        stack.kill("marketdata", signal.SIGCONT)
    wait_until(lambda: len(open_orders(stack)) >= 4, 30, what="quoting again")


def test_a_latency_halt_lifts_once_the_venue_is_fast_again(stack: Cluster) -> None:
    """The review's case: latency came only from order acks, and a halted symbol sends none, so a
    single spike halted it for good. The gateway's probe keeps measuring."""
    t0 = time.monotonic()
    stack.fault(delay_ms=800)
    events = lambda: [m for _, m in stack.heard.since(t0, "risk.event") if isinstance(m, RiskEvent)]  # noqa: E731
    wait_until(lambda: any(e.rule == "latency" and e.action == "hold" for e in events()), 20, what="halted")
    stack.fault(delay_ms=0)
    wait_until(
        lambda: any(e.rule == "latency" and e.action == "release" for e in events()), 20, what="lifted"
    )
    wait_until(lambda: len(open_orders(stack)) >= 4, 30, what="quoting again")


def test_risk_restarts_onto_the_gateways_position_and_follows_its_orders(stack: Cluster) -> None:
    def sweep() -> bool:
        """Sell everything down to our best bid (the strategy moves its quotes: try again)."""
        mine = [o for o in open_orders(stack) if o["side"] == "BUY"]
        if mine:
            hit(stack, "SELL", max(o["price"] for o in mine))
        return venue_position(stack) > 0

    wait_until(sweep, 20, interval=0.5, what="a position")
    risk_pos = lambda: Decimal(str(_figure(stack, f"{SYM}.position")))  # noqa: E731
    wait_until(lambda: risk_pos() == venue_position(stack), 10,
               what=lambda: f"risk {risk_pos()} venue {venue_position(stack)}")  # fmt: skip
    stack.kill("risk", signal.SIGKILL)
    t0 = time.monotonic()
    stack.start("risk")

    def ready() -> bool:
        st = [m for _, m in stack.heard.since(t0, "risk.state") if isinstance(m, RiskState)]
        return bool(st) and st[-1].ready

    wait_until(ready, 30, what="risk ready again")
    pos = venue_position(stack)
    assert Decimal(str(_figure(stack, f"{SYM}.position"))) == pos  # not doubled by the day's fills
    # risk follows the gateway's live orders (oms.order), the base of what it counts beside the target
    live = lambda: len(stack.request("gateway", GetSnapshot(what="oms")).result["orders"])  # noqa: E731
    counted = lambda: _figure(stack, f"{SYM}.open_orders") + _figure(stack, "BTCUSDC.open_orders")  # noqa: E731
    wait_until(lambda: counted() == live(), 10, what="risk's live orders equal to the gateway's")


def test_no_reduce_only_rejection_and_no_traceback_in_any_log(stack: Cluster) -> None:
    """After the module's drills: the gateway never sent a reduce-only order the venue refused
    (-2022), and no service logged a traceback."""
    snap = stack.request("gateway", GetSnapshot(what="oms")).result
    assert snap is not None
    assert "-2022" not in stack.log("gateway")
    for service in SERVICES:
        assert "Traceback" not in stack.log(service), f"{service} logged a traceback"
