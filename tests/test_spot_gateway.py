"""The spot gateway end to end, as processes on the simulated venue (issue 13, item 3).

``gateway-spot`` takes risk's targets for a spot symbol and rests them as ``LIMIT_MAKER`` orders
under our client ids; a target that would take is refused by the venue with -2010 and the OMS
books it as a post-only refusal; a fill of ours arrives over the WebSocket API's user data
subscription with its commission in the base asset, and the position is the base held minus the
configured flat holding; ``mmctl kill`` is done only once the venue shows no spot order open; and
with the gateway frozen, the guardian (spot has no ``countdownCancelAll``) cancels every spot order
once the gateway has been silent for ``deadman_ms``.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from common.messages import Fill, OrderUpdate, Position, Quote
from tests.cluster import Cluster, FakeRisk
from tests.drills.support import ACCOUNT_B, mmctl
from tests.helpers import wait_until as _wait_until
from tests.test_venue_spot import SPOT
from tests.venue_proc import KEY_B, SECRET_B

pytestmark = pytest.mark.system
SYM = "ETHUSDT"
D = Decimal
FLAT = D(20)  # the venue's default spot wallet holds 20 ETH: position 0
OVERLAY = f"""
[gateway]
reconcile_interval_s = 1.0
deadman_ms = 2000
[gateway.params.caps.max_position]
ETHUSDT = "1.0"
{SPOT}
{ACCOUNT_B}spot_balances = {{ ETH = 100000, USDT = 10000000 }}
"""


@pytest.fixture(scope="module")
def spot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, FakeRisk]]:
    env = {"MM_B_KEY": KEY_B, "MM_B_SECRET": SECRET_B, "MM_GATEWAY__RECORDER_WAIT_S": "0",
           "MM_SPOT_SYMBOLS": f'["{SYM}"]', "MM_SPOT_INVENTORY": f'{{"{SYM}": "{FLAT}"}}'}  # fmt: skip
    c = Cluster(tmp_path_factory.mktemp("spotgw"), OVERLAY, env)
    try:
        c.listen("oms.")
        c.start("venue", "marketdata", "marketdata-spot", "gateway", "gateway-spot", "guardian")
        with FakeRisk(c.settings) as risk:
            yield c, risk
    finally:
        c.stop()


def wait_until(cond: Any, timeout: float = 10.0, what: Any = "") -> Any:
    """Polling at 5 Hz: the conditions read the venue, whose weight the gateway needs too."""
    return _wait_until(cond, timeout, 0.2, what)


def _open(c: Cluster) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = c.signed("GET", "/api/v3/openOrders", symbol=SYM)
    return rows


def _state(c: Cluster) -> str:
    ups = [(u.client_order_id, u.state, u.reason) for u in c.heard.of(f"oms.order.{SYM}", OrderUpdate)]
    return f"venue {_open(c)}; oms {ups[-6:]}"


def _touch(c: Cluster) -> tuple[Decimal, Decimal]:
    t = c.signed("GET", "/api/v3/ticker/bookTicker", symbol=SYM)
    return D(t["bidPrice"]), D(t["askPrice"])


def test_targets_rest_as_limit_maker_and_a_fill_moves_the_base_inventory(
    spot: tuple[Cluster, FakeRisk],
) -> None:
    c, risk = spot
    bid, ask = _touch(c)
    buy, sell = bid - D("3.00"), ask + D("5.00")
    risk.set_target(SYM, [Quote(side="BUY", price=buy, qty=D("0.0500"), layer=0),
                          Quote(side="SELL", price=sell, qty=D("0.0500"), layer=0)])  # fmt: skip
    rows = wait_until(lambda: len(_open(c)) == 2 and _open(c), 30, what=lambda: f"both resting: {_state(c)}")
    assert {(r["side"], r["type"], D(r["price"]), D(r["origQty"])) for r in rows} == {
        ("BUY", "LIMIT_MAKER", buy, D("0.0500")),
        ("SELL", "LIMIT_MAKER", sell, D("0.0500")),
    }
    assert all(r["clientOrderId"].startswith("mm-") for r in rows)
    ours = next(r for r in rows if r["side"] == "BUY")
    # account b sells into every bid down to ours: ours fills in full
    r = c.signed("POST", "/api/v3/order", key=KEY_B, secret=SECRET_B, symbol=SYM, side="SELL", type="LIMIT",
                 timeInForce="IOC", price=str(buy), quantity="5000.0000")  # fmt: skip
    assert r["status"] in ("FILLED", "PARTIALLY_FILLED", "EXPIRED"), r

    def fill() -> Fill | None:
        fills = c.heard.of(f"oms.fill.{SYM}", Fill)
        return next((f for f in fills if f.client_order_id == ours["clientOrderId"]), None)

    f = wait_until(fill, 15, what="our fill on oms.fill")
    # by hand: 0.05 ETH bought as maker at our price; spot's maker commission 0.1 % of the base received
    assert (f.side, f.price, f.qty, f.fee, f.fee_asset, f.is_maker) == (
        "BUY", buy, D("0.0500"), D("0.00005000"), "ETH", True
    )  # fmt: skip
    held = D(20) + D("0.05") - D("0.00005")  # the venue's wallet after the fill: 20.04995 ETH
    account = {b["asset"]: b for b in c.signed("GET", "/api/v3/account")["balances"]}
    assert D(account["ETH"]["free"]) + D(account["ETH"]["locked"]) == held

    def position() -> Position | None:
        pos = [p for p in c.heard.of(f"oms.position.{SYM}", Position)]
        return pos[-1] if pos and pos[-1].qty == held - FLAT else None

    p = wait_until(position, 15, what="the position as the base held minus the flat holding")
    assert (p.qty, p.entry_price) == (D("0.04995"), buy)
    risk.set_target(SYM, [])
    wait_until(lambda: not _open(c), 15, what="the spot orders canceled once the target is empty")


def test_a_target_that_would_take_is_refused_as_post_only(spot: tuple[Cluster, FakeRisk]) -> None:
    c, risk = spot
    _bid, ask = _touch(c)
    crossing = ask + D("1.00")
    risk.set_target(SYM, [Quote(side="BUY", price=crossing, qty=D("0.0500"), layer=1)])

    def refused() -> OrderUpdate | None:
        ups = [u for u in c.heard.of(f"oms.order.{SYM}", OrderUpdate) if u.price == crossing]
        return next((u for u in ups if u.state == "Rejected"), None)

    u = wait_until(refused, 15, what="the crossing order refused")
    assert u.error_code == -5022, u  # spot's -2010 "would immediately match" as the OMS's post-only code
    risk.set_target(SYM, [])
    c.check_alive("gateway-spot")


def test_the_kill_is_done_once_the_venue_shows_no_spot_order(spot: tuple[Cluster, FakeRisk]) -> None:
    c, risk = spot
    bid, ask = _touch(c)
    risk.set_target(SYM, [Quote(side="BUY", price=bid - D("6.00"), qty=D("0.0500"), layer=0),
                          Quote(side="SELL", price=ask + D("6.00"), qty=D("0.0500"), layer=0)])  # fmt: skip
    wait_until(lambda: len(_open(c)) == 2, 30, what="two spot orders resting")
    # to the gateways (risk and strategy do not run here): "gateway" reaches every gateway instance
    code, out = mmctl(c, "kill", "--to", "gateway", "--reason", "spot drill", "--wait", "30")
    assert code == 0, out  # done: the venue confirmed zero on both
    assert set(out["report"]["gateways"]) == {"gateway", "gateway-spot"}
    assert out["report"]["done"] is True and _open(c) == []
    code, _out = mmctl(c, "resume", "--to", "gateway", "--reason", "done")
    assert code == 0, _out
    wait_until(lambda: len(_open(c)) == 2, 30, what="quoting again on spot after the resume")
    risk.set_target(SYM, [])


def test_a_frozen_gateway_leaves_no_spot_order_past_the_guardians_window(
    spot: tuple[Cluster, FakeRisk],
) -> None:
    c, risk = spot
    bid, ask = _touch(c)
    risk.set_target(SYM, [Quote(side="BUY", price=bid - D("6.00"), qty=D("0.0500"), layer=0),
                          Quote(side="SELL", price=ask + D("6.00"), qty=D("0.0500"), layer=0)])  # fmt: skip
    wait_until(lambda: len(_open(c)) == 2, 30, what="two spot orders resting")
    c.kill("gateway-spot", signal.SIGSTOP)  # frozen: no heartbeat, no cancel of its own
    try:
        t0 = time.monotonic()
        wait_until(lambda: _open(c) == [], 15, what="the guardian's sweep of every spot order")
        took = time.monotonic() - t0
        # the guardian lists again after its cancel and logs the sweep once the venue showed none
        wait_until(
            lambda: "guardian_swept open_left=0" in c.log("guardian"),
            10,
            what=lambda: c.log("guardian")[-2000:],
        )
    finally:
        c.kill("gateway-spot", signal.SIGCONT)
    # not before the gateway was silent for its 2 s window: by the guardian's clock, from the last
    # heartbeat it heard; by ours, from the freeze, which came up to one 1 s heartbeat interval later
    silent = [float(x) for x in re.findall(r"guardian_sweep silent_s=([0-9.]+)", c.log("guardian"))]
    assert silent and min(silent) >= 2.0, silent
    assert took >= 1.0, took
    wait_until(lambda: len(_open(c)) == 2, 30, what="the thawed gateway quoting again")
    risk.set_target(SYM, [])
