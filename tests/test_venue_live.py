"""Paper trading on live market data (seed 000 §5.9): a simulated venue whose market is another
venue's public streams. Here the "real" venue is a second simulated venue on loopback (nothing
reaches the internet): the live-fed venue's book follows the source's, and our order resting at
the live-fed venue fills locally when the source's trades reach it."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import wait_until
from tests.venue_proc import VenueProc, resting_buy

SYM = "ETHUSDC"


def _ticker(url: str) -> dict[str, Any]:
    return httpx.get(url + "/fapi/v1/ticker/bookTicker", params={"symbol": SYM}, timeout=5).json()  # type: ignore[no-any-return]


def test_a_live_fed_venue_follows_the_source_book_and_fills_our_order_on_its_trades(tmp_path: Path) -> None:
    with VenueProc(tmp_path / "source", "step_ms = 2000\n") as source:
        overlay = f'model = "live"\nlive_ws_url = "{source.ws}"\nlive_rest_url = "{source.url}"\n'
        with VenueProc(tmp_path / "paper", overlay) as paper:

            def same_touch() -> bool:
                a, b = _ticker(source.url), _ticker(paper.url)
                return bool(b.get("bidPrice")) and (a["bidPrice"], a["askPrice"]) == (
                    b["bidPrice"],
                    b["askPrice"],
                )

            wait_until(same_touch, 30, interval=0.1, what="the live-fed touch equal to the source's")
            # the source's market steps every 2 s; whenever its touch has stood still for 1 s the
            # paper venue shows the same (its feed carries every step within a 100 ms depth frame);
            # ten such samples are taken, however long a loaded machine needs for them
            last, since, checked = None, time.monotonic(), 0
            deadline = time.monotonic() + 30
            while checked < 10 and time.monotonic() < deadline:
                # the paper venue first: a source touch unchanged since before that read held at it
                b = _ticker(paper.url)
                a = _ticker(source.url)
                touch, now = (a["bidPrice"], a["askPrice"]), time.monotonic()
                if touch != last:
                    last, since = touch, now
                elif now - since >= 1.0:
                    assert (b["bidPrice"], b["askPrice"]) == touch, (a, b)
                    checked += 1
                time.sleep(0.05)
            assert checked >= 10, f"only {checked} settled samples in 30 s"

            # a post-only buy at the best bid: the source's sellers reach it at the paper venue (its
            # queue model), never at the source. A maker keeps its bid at the touch: when the market
            # rose away from it, it is cancelled and placed again at the new bid. The market steps
            # every 2 s, and a step between reading the bid and placing can bring the ask down to it:
            # the venue then refuses the post-only order (-5022) as Binance does, and it is placed
            # again at the new bid.
            def place(n: int) -> str:
                for _ in range(5):
                    price = _ticker(paper.url)["bidPrice"]
                    order = resting_buy(SYM, "0.010", price, newClientOrderId=f"live-{n}", timeInForce="GTX")
                    r = paper.signed("POST", "/fapi/v1/order", **order)
                    if r.status_code == 200:
                        return str(price)
                    assert r.json()["code"] == -5022, r.text
                raise AssertionError("five post-only buys at the bid refused")

            n, price = 1, place(1)
            deadline = time.monotonic() + 120
            while not paper.signed("GET", "/fapi/v1/userTrades", symbol=SYM).json():
                assert time.monotonic() < deadline, "no buy of ours filled by the source's trades in 120 s"
                if Decimal(_ticker(paper.url)["bidPrice"]) > Decimal(price):
                    r = paper.signed("DELETE", "/fapi/v1/order", symbol=SYM, origClientOrderId=f"live-{n}")
                    if r.status_code == 200 and Decimal(r.json()["executedQty"]) == 0:
                        n += 1
                        price = place(n)
                time.sleep(0.5)
            trades = paper.signed("GET", "/fapi/v1/userTrades", symbol=SYM).json()
            assert trades and all(t["maker"] for t in trades), "filled as a maker, locally"
            source_trades = source.signed("GET", "/fapi/v1/userTrades", symbol=SYM).json()
            assert source_trades == [], "no order of ours ever reached the source venue"
