"""The order path in the running system: venue + marketdata + gateway processes on loopback.

A stand-in for the risk service publishes ``risk.target`` messages; the gateway reconciles the
venue toward them. Printed, for the WS-API and for the REST order path:

* target -> venue ack: from the ``risk.target`` message's arrival in the gateway to the venue's
  acknowledgement of the new order it caused (p50/p99 µs, as the gateway measured them);
* kill switch: with 48 orders resting on two symbols, the time from sending ``Kill`` to the
  venue holding zero open orders and to the gateway reporting the kill done — on a calm venue, and
  during a 429 storm (every REST call refused with Retry-After) counted from the storm's end;
* sustained orders/s: targets that add or remove a quote on every message, budgets opened wide.

    .venv/bin/python benchmarks/order_path.py [--seconds 15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import zmq

from common import topics
from common.bus import Publisher
from common.messages import FeedStatus, GetSnapshot, Kill, Quote, Resume, RiskState, TargetQuotes
from tests.cluster import Cluster
from tests.helpers import wait_until

OVERLAY = """
[gateway]
order_path = "{path}"
recorder_wait_s = 0
deadman_refresh_s = 5.0
[gateway.params.reconcile]
amend = false
[gateway.params.budget.account]
orders_per_10s = 100000
venue_orders_per_10s = 100000
orders_per_minute = 100000
cancels_per_minute = 100000
venue_orders_per_minute = 100000
weight_per_minute = 100000
[gateway.params.budget.symbol_default]
orders_per_10s = 100000
orders_per_minute = 100000
cancels_per_minute = 100000
[gateway.params.caps]
max_orders_per_second = 100000
max_global_notional = 10000000
max_position = {{ ETHUSDC = 100, BTCUSDC = 10 }}
[simvenue]
orders_per_10s = 100000
orders_per_minute = 100000
weight_per_minute = 100000
"""


class Driver:
    """Publishes risk state and targets, as the risk service would."""

    def __init__(self, endpoint: str) -> None:
        self.ctx = zmq.Context()
        self.pub = Publisher(self.ctx, endpoint, "risk")
        self.n = 0

    def target(self, symbol: str, quotes: list[Quote]) -> None:
        self.n += 1
        self.pub.publish(topics.RISK_STATE, RiskState(mode="normal", ready=True))
        self.pub.publish(
            topics.risk_target(symbol),
            TargetQuotes(symbol=symbol, target_id=self.n, quotes=quotes, origin="risk"),
        )


def ladder(mid: Decimal, tick: Decimal, n: int, shift: int = 0, qty: str = "0.010") -> list[Quote]:
    out = []
    for i in range(n):
        off = mid * Decimal("0.003") + tick * (i * 10 + shift * 4)  # shifts beyond the keep tolerance
        out.append(
            Quote(
                side="BUY", price=((mid - off) / tick).quantize(Decimal(1)) * tick, qty=Decimal(qty), layer=i
            )
        )
        out.append(
            Quote(
                side="SELL", price=((mid + off) / tick).quantize(Decimal(1)) * tick, qty=Decimal(qty), layer=i
            )
        )
    return out


def run(path: str, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as d, Cluster(Path(d), OVERLAY.format(path=path)) as c:
        c.listen("md.status.")
        c.start("venue", "marketdata", "gateway")
        wait_until(
            lambda: (
                {m.symbol for m in c.heard.of("md.status.", FeedStatus) if m.state == "live"}
                >= {"ETHUSDC", "BTCUSDC"}
            ),
            30,
        )
        drv = Driver(c.settings.pub_endpoint("risk"))
        time.sleep(0.5)
        mids = {}
        for sym in ("ETHUSDC", "BTCUSDC"):
            t = httpx.get(c.venue_url + "/fapi/v1/ticker/bookTicker", params={"symbol": sym}).json()
            mids[sym] = (Decimal(t["bidPrice"]) + Decimal(t["askPrice"])) / 2
        ticks = {"ETHUSDC": Decimal("0.01"), "BTCUSDC": Decimal("0.1")}
        qty = {"ETHUSDC": "0.010", "BTCUSDC": "0.002"}
        # latency and sustained rate: targets alternate between one bid and the same bid plus one
        # ask at a new price, so every other target causes exactly one new order (one place call)
        t_end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < t_end:
            sym = ("ETHUSDC", "BTCUSDC")[i % 2]
            quotes = ladder(mids[sym], ticks[sym], 1, qty=qty[sym])
            k = i // 2
            target = (
                quotes[:1]
                if k % 2 == 0
                else [quotes[0], ladder(mids[sym], ticks[sym], 1, shift=k % 10, qty=qty[sym])[1]]
            )
            drv.target(sym, target)
            i += 1
            time.sleep(0.01)
        reply = c.request("gateway", GetSnapshot(what="latency"))
        assert reply.ok, reply.error
        lat = reply.result
        placed = lat["count"]
        calm = kill_48(c, drv, mids, ticks, qty, storm_s=0.0)
        storm = kill_48(c, drv, mids, ticks, qty, storm_s=2.0)
        drv.pub.close()
        drv.ctx.term()
    print(f"order path = {path}:")
    print(
        f"  target -> venue ack: {lat['count']:,} new orders   p50 {lat['p50_us']:8.1f} µs   "
        f"p99 {lat['p99_us']:8.1f} µs   (target: p99 < 2000 µs over WS-API)"
    )
    g = lat.get
    print(
        f"    of which target -> sent p50 {g('target_to_sent_p50_us', 0):.1f} / p99 "
        f"{g('target_to_sent_p99_us', 0):.1f} µs, sent -> ack p50 {g('sent_to_ack_p50_us', 0):.1f} / "
        f"p99 {g('sent_to_ack_p99_us', 0):.1f} µs"
    )
    print(f"  sustained: {placed / seconds:,.0f} new orders/s with {i / seconds:,.0f} targets/s")
    print(
        f"  kill with 48 resting, calm venue: engaged -> venue confirmed zero {calm[1] * 1e3:.1f} ms "
        f"(gateway's clock); Kill sent -> zero seen by this client {calm[0] * 1e3:.1f} ms"
    )
    print(
        f"  kill with 48 resting, 429 storm of 2 s: venue confirmed zero {storm[1] * 1e3:.1f} ms after "
        f"the last Retry-After ended (gateway's clock); {storm[0] * 1e3:.1f} ms after the storm ended"
    )


def _venue_open(c: Cluster) -> int:
    """Open orders at the venue, through its admin view (no 429 storm touches it)."""
    return int(httpx.get(c.venue_url + "/_admin/state", timeout=5).json()["open_orders"])


def kill_48(
    c: Cluster,
    drv: Driver,
    mids: dict[str, Decimal],
    ticks: dict[str, Decimal],
    qty: dict[str, str],
    storm_s: float,
) -> tuple[float, float]:
    """24 a side on two symbols, then Kill (in a 429 storm of ``storm_s`` if > 0): seconds until the
    venue holds zero and until the gateway reports done, from the Kill (or the storm's end)."""
    c.request("gateway", Resume())

    def resting() -> bool:
        for sym in ("ETHUSDC", "BTCUSDC"):  # sent again until they rest (risk state with them)
            drv.target(sym, ladder(mids[sym], ticks[sym], 12, shift=5, qty=qty[sym]))
        return _venue_open(c) == 48

    wait_until(resting, 30, interval=0.2)
    t0 = time.perf_counter()
    if storm_s:
        httpx.post(c.venue_url + "/_admin/fault", json={"storm_429_s": storm_s}, timeout=5)
        t0 += storm_s  # counted from the storm's end
    c.request("gateway", Kill(reason="benchmark"))
    wait_until(lambda: _venue_open(c) == 0, 30, interval=0.001)
    t_zero = time.perf_counter() - t0

    def done() -> dict | None:
        r: dict = c.request("gateway", GetSnapshot(what="kill")).result
        return r if r["done"] else None

    report = wait_until(done, 30)
    start = max(report["since_ns"], report["blocked_until_ns"])  # the kill, or the last Retry-After's end
    return t_zero, (report["confirmed_ns"] - start) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--paths", default="ws_api,rest")
    args = ap.parse_args()
    for path in args.paths.split(","):
        run(path, args.seconds)


if __name__ == "__main__":
    main()
