"""The simulated venue over real HTTP and WebSocket on loopback: the official Binance connector,
signing rules, the book sync procedure against the venue's own book, rate limits, funding and
fees, the user stream, the WS-API and every fault mode."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from common.binance.signing import hmac_hex, ws_api_payload
from tests.helpers import async_wait_until, run, wait_until
from tests.venue_proc import KEY, KEY_B, SECRET, SECRET_B, VenueProc, book_mid, resting_buy

SYM = "ETHUSDC"


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VenueProc]:
    tmp = tmp_path_factory.mktemp("venue")
    with VenueProc(tmp, "funding_interval_s = 2.0\n", accounts_b=True) as v:
        yield v


@pytest.fixture(scope="module")
def strict_venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VenueProc]:
    tmp = tmp_path_factory.mktemp("strict")
    overlay = "weight_per_minute = 40\nban_after_violations = 3\nban_base_s = 2.0\nlisten_key_ttl_s = 2.0\n"
    with VenueProc(tmp, overlay) as v:
        yield v


def _mid(v: VenueProc) -> Decimal:
    return book_mid(v.url, SYM)


def test_the_official_connector_trades_on_the_venue(venue: VenueProc) -> None:
    from binance.um_futures import UMFutures
    from binance.websocket.um_futures.websocket_client import UMFuturesWebsocketClient

    c = UMFutures(key=KEY, secret=SECRET, base_url=venue.url)
    assert abs(c.time()["serverTime"] - time.time() * 1000) < 5000
    info = {s["symbol"]: s for s in c.exchange_info()["symbols"]}
    assert {"ETHUSDC", "BTCUSDC", "ETHUSDT", "BTCUSDT"} <= set(info)
    kinds = {f["filterType"] for f in info[SYM]["filters"]}
    assert {
        "PRICE_FILTER",
        "LOT_SIZE",
        "MARKET_LOT_SIZE",
        "MIN_NOTIONAL",
        "PERCENT_PRICE",
        "MAX_NUM_ORDERS",
    } <= kinds

    events: list[dict[str, Any]] = []
    key = c.new_listen_key()["listenKey"]
    ws = UMFuturesWebsocketClient(
        stream_url=venue.ws + "/private", on_message=lambda _, m: events.append(json.loads(m))
    )
    ws.user_data(listen_key=key, id=1)
    wait_until(lambda: any(e.get("id") == 1 for e in events), 10, what="subscription ack")
    assert c.renew_listen_key(key) == {"listenKey": key}

    px = str((_mid(venue) * Decimal("0.97")).quantize(Decimal("0.01")))
    order = c.new_order(
        symbol=SYM,
        side="BUY",
        type="LIMIT",
        timeInForce="GTX",
        quantity="0.010",
        price=px,
        newClientOrderId="conn-1",
    )
    assert c.query_order(symbol=SYM, origClientOrderId="conn-1")["status"] == "NEW"
    moved = c.modify_order(symbol=SYM, orderId=order["orderId"], side="BUY", quantity="0.020", price=px)
    assert moved["origQty"] == "0.020"
    assert [o["clientOrderId"] for o in c.get_orders(symbol=SYM)] == ["conn-1"]
    assert c.cancel_order(symbol=SYM, orderId=order["orderId"])["status"] == "CANCELED"
    c.new_order(symbol=SYM, side="BUY", type="MARKET", quantity="0.050", newClientOrderId="conn-mkt")
    pos = c.get_position_risk(symbol=SYM)
    assert Decimal(pos[0]["positionAmt"]) == Decimal("0.05")
    trades = c.get_account_trades(symbol=SYM)
    assert sum(Decimal(t["qty"]) for t in trades) == Decimal("0.05")
    assert any(a["asset"] == "USDC" for a in c.account()["assets"])
    assert any(b["asset"] == "USDC" for b in c.balance())
    wait_until(
        lambda: any(
            e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["c"] == "conn-mkt" and e["o"]["X"] == "FILLED"
            for e in events
        ),
        10,
        what="fill on the user stream",
    )
    assert {"NEW", "AMENDMENT", "CANCELED"} <= {
        e["o"]["x"] for e in events if e.get("e") == "ORDER_TRADE_UPDATE"
    }
    assert any(e.get("e") == "ACCOUNT_UPDATE" and e["a"]["m"] == "ORDER" for e in events)
    assert any(e.get("e") == "TRADE_LITE" for e in events)
    raw_socket = ws.socket_manager.ws.sock
    ws.stop()
    raw_socket.close()  # the connector sends a close frame but leaves its socket open
    c.new_order(symbol=SYM, side="SELL", type="MARKET", quantity="0.050", reduceOnly="true")
    c.session.close()


def test_signing_timestamp_and_key_rules(venue: VenueProc) -> None:
    ok = venue.signed("GET", "/fapi/v1/openOrders", symbol=SYM)
    assert ok.status_code == 200 and "X-MBX-USED-WEIGHT-1M" in ok.headers
    bad = venue.signed("GET", "/fapi/v1/openOrders", secret="wrong", symbol=SYM)
    assert (bad.status_code, bad.json()["code"]) == (400, -1022)
    old = venue.signed("GET", "/fapi/v1/openOrders", symbol=SYM, timestamp=int(time.time() * 1000) - 10_000)
    assert old.json()["code"] == -1021
    ahead = venue.signed("GET", "/fapi/v1/openOrders", symbol=SYM, timestamp=int(time.time() * 1000) + 5_000)
    assert ahead.json()["code"] == -1021
    wide = venue.signed(
        "GET",
        "/fapi/v1/openOrders",
        symbol=SYM,
        recvWindow=20_000,
        timestamp=int(time.time() * 1000) - 10_000,
    )
    assert wide.status_code == 200
    assert httpx.get(venue.url + "/fapi/v1/openOrders?symbol=ETHUSDC").json()["code"] == -2014
    assert venue.signed("GET", "/fapi/v1/openOrders", key="nobody", symbol=SYM).json()["code"] == -2015
    # Query and body concatenated with no separator, as Binance signs them.
    query = "symbol=ETHUSDC&side=BUY&type=LIMIT&timeInForce=GTX"
    px = (_mid(venue) * Decimal("0.97")).quantize(Decimal("0.01"))
    body = f"quantity=0.010&price={px}&timestamp={int(time.time() * 1000)}"
    r = httpx.post(
        f"{venue.url}/fapi/v1/order?{query}",
        content=body + "&signature=" + hmac_hex(SECRET, query + body),
        headers={"X-MBX-APIKEY": KEY, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    assert venue.signed("DELETE", "/fapi/v1/allOpenOrders", symbol=SYM).json()["code"] == 200


async def _collect_depth(
    v: VenueProc, seconds: float
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    streams = f"{SYM.lower()}@depth@0ms/{SYM.lower()}@depth@100ms/{SYM.lower()}@bookTicker"
    got: dict[str, list[dict[str, Any]]] = {"depth@0ms": [], "depth@100ms": [], "bookTicker": []}
    async with websockets.connect(f"{v.ws}/public/stream?streams={streams}") as ws:

        async def reader() -> None:
            async for raw in ws:
                m = json.loads(raw)
                got[m["stream"].split("@", 1)[1]].append(m["data"])

        task = asyncio.create_task(reader())
        await async_wait_until(lambda: got["depth@0ms"], 10, what="first depth event")
        async with httpx.AsyncClient() as client:
            snap = (await client.get(v.url + "/fapi/v1/depth", params={"symbol": SYM, "limit": 1000})).json()
        await asyncio.sleep(seconds)
        task.cancel()
    return got, snap


def _sync(snap: dict[str, Any], events: list[dict[str, Any]]) -> list[tuple[int, dict[str, dict[str, str]]]]:
    """The futures procedure of the Binance docs; returns the book after each applied event."""
    book: dict[str, dict[str, str]] = {
        "b": dict(map(tuple, snap["bids"])),
        "a": dict(map(tuple, snap["asks"])),
    }
    last_u, out = snap["lastUpdateId"], []
    started = False
    for e in events:
        if e["u"] < snap["lastUpdateId"]:
            continue
        if not started:
            assert e["U"] <= snap["lastUpdateId"] <= e["u"], "first event must straddle lastUpdateId"
            started = True
        else:
            assert e["pu"] == last_u, "pu must equal the previous u"
        for side in ("b", "a"):
            for p, q in e[side]:
                if Decimal(q) == 0:
                    book[side].pop(p, None)
                else:
                    book[side][p] = q
        last_u = e["u"]
        out.append((last_u, {s: dict(book[s]) for s in book}))
    assert started
    return out


def test_a_book_rebuilt_by_the_binance_procedure_equals_the_venues_own_book(venue: VenueProc) -> None:
    got, snap = run(_collect_depth(venue, 2.0))
    fast = dict(_sync(snap, got["depth@0ms"]))
    slow = _sync(snap, got["depth@100ms"])
    assert len(slow) >= 5
    for u, book in slow:  # every 100 ms state equals the 0 ms state at the same update id
        if u in fast:
            assert book == fast[u]
    # bookTicker carries the same ids and shows the rebuilt book's top exactly
    checked = 0
    for t in got["bookTicker"]:
        b = fast.get(t["u"])
        if b is None:
            continue
        best_b = max(b["b"], key=Decimal)
        best_a = min(b["a"], key=Decimal)
        assert (t["b"], t["B"], t["a"], t["A"]) == (best_b, b["b"][best_b], best_a, b["a"][best_a])
        checked += 1
    assert checked >= 3

    async def converge() -> None:
        async with websockets.connect(f"{venue.ws}/public/ws/{SYM.lower()}@depth@0ms") as ws:
            events = []
            async with httpx.AsyncClient() as client:
                events.append(json.loads(await ws.recv()))
                snap = (
                    await client.get(venue.url + "/fapi/v1/depth", params={"symbol": SYM, "limit": 1000})
                ).json()
                while events[-1]["u"] < snap["lastUpdateId"]:
                    events.append(json.loads(await ws.recv()))
                internal = (await client.get(venue.url + "/_admin/book", params={"symbol": SYM})).json()
                while events[-1]["u"] < internal["lastUpdateId"]:
                    events.append(json.loads(await ws.recv()))
            states = dict(_sync(snap, events))
            local = states[internal["lastUpdateId"]]
            top = lambda side, rev: sorted(local[side].items(), key=lambda kv: Decimal(kv[0]), reverse=rev)  # noqa: E731
            assert [list(x) for x in top("b", True)] == internal["bids"][: len(local["b"])]
            assert [list(x) for x in top("a", False)] == internal["asks"][: len(local["a"])]

    run(converge())


def test_rate_limit_headers_then_429_then_a_418_ban(strict_venue: VenueProc) -> None:
    hdr = {"X-Sim-Client": "10.9.9.9"}
    url = strict_venue.url + "/fapi/v1/depth"
    used = []
    statuses = []
    for _ in range(40):
        r = httpx.get(url, params={"symbol": SYM, "limit": 5}, headers=hdr)
        statuses.append(r.status_code)
        if r.status_code == 200:
            used.append(int(r.headers["X-MBX-USED-WEIGHT-1M"]))
        if r.status_code == 418:
            break
    assert used[:3] == [2, 4, 6]  # weight 2 per call at limit 5
    first_429 = statuses.index(429)
    assert statuses[first_429 : first_429 + 3] == [429, 429, 429]
    assert statuses[-1] == 418
    r = httpx.get(url, params={"symbol": SYM, "limit": 5}, headers=hdr)
    assert r.status_code == 418 and r.json()["code"] == -1003 and "banned until" in r.json()["msg"]
    assert int(r.headers["Retry-After"]) >= 1
    other = httpx.get(url, params={"symbol": SYM, "limit": 5}, headers={"X-Sim-Client": "10.9.9.10"})
    assert other.status_code == 200  # limits are per IP


def test_order_count_headers_and_the_orders_limit(venue: VenueProc) -> None:
    px = str((_mid(venue) * Decimal("0.95")).quantize(Decimal("0.01")))
    r = venue.signed("POST", "/fapi/v1/order", **resting_buy(SYM, "0.010", px))
    assert int(r.headers["X-MBX-ORDER-COUNT-10S"]) >= 1 and int(r.headers["X-MBX-ORDER-COUNT-1M"]) >= 1
    venue.signed("DELETE", "/fapi/v1/allOpenOrders", symbol=SYM)


def _user_events(v: VenueProc, key: str) -> tuple[list[dict[str, Any]], threading.Event, threading.Thread]:
    """Listen to a user stream in a thread (the test body stays synchronous)."""
    events: list[dict[str, Any]] = []
    stop = threading.Event()

    async def listen() -> None:
        async with websockets.connect(f"{v.ws}/private/ws/{key}") as ws:
            while not stop.is_set():
                try:
                    events.append(json.loads(await asyncio.wait_for(ws.recv(), 0.2)))
                except TimeoutError:
                    continue

    t = threading.Thread(target=lambda: asyncio.run(listen()), daemon=True)
    t.start()
    return events, stop, t


def test_fees_and_funding_are_booked_consistently_with_account_update(venue: VenueProc) -> None:
    key = venue.signed("POST", "/fapi/v1/listenKey", key=KEY_B, secret=SECRET_B).json()["listenKey"]
    events, stop, t = _user_events(venue, key)
    time.sleep(0.3)
    wallet0 = Decimal(
        next(
            b
            for b in venue.signed("GET", "/fapi/v3/balance", key=KEY_B, secret=SECRET_B).json()
            if b["asset"] == "USDC"
        )["balance"]
    )
    venue.signed(
        "POST",
        "/fapi/v1/order",
        key=KEY_B,
        secret=SECRET_B,
        symbol=SYM,
        side="SELL",
        type="MARKET",
        quantity="0.100",
    )
    wait_until(
        lambda: any(e.get("e") == "ACCOUNT_UPDATE" and e["a"]["m"] == "FUNDING_FEE" for e in events),
        10,
        what="a funding settlement",
    )
    stop.set()
    t.join(5)
    fills = [e["o"] for e in events if e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "TRADE"]
    fees = sum(Decimal(f.get("n", "0")) for f in fills)
    # each commission at 8 decimals (Binance reports them so; 2 + 3 + 4 decimals can make 9)
    eight = Decimal("0.00000001")
    expected_fees = sum(
        (Decimal(f["l"]) * Decimal(f["L"]) * Decimal("0.0004")).quantize(eight) for f in fills
    )
    assert fees == expected_fees and fees > 0
    order_updates = [e for e in events if e.get("e") == "ACCOUNT_UPDATE" and e["a"]["m"] == "ORDER"]
    assert Decimal(order_updates[-1]["a"]["B"][0]["wb"]) == wallet0 - fees
    assert Decimal(order_updates[-1]["a"]["P"][0]["pa"]) == Decimal("-0.1")
    funding = next(e for e in events if e.get("e") == "ACCOUNT_UPDATE" and e["a"]["m"] == "FUNDING_FEE")["a"]
    assert funding["S"] == SYM and funding["P"] == []
    bc = Decimal(funding["B"][0]["bc"])
    mark = bc / (
        Decimal("0.1") * Decimal("0.0001")
    )  # short pays negative, earns positive rate: +qty*mark*rate
    assert abs(mark - _mid(venue)) / _mid(venue) < Decimal("0.01")
    assert Decimal(funding["B"][0]["wb"]) == wallet0 - fees + bc
    wallet = Decimal(
        next(
            b
            for b in venue.signed("GET", "/fapi/v3/balance", key=KEY_B, secret=SECRET_B).json()
            if b["asset"] == "USDC"
        )["balance"]
    )
    # the REST balance agrees with the last ACCOUNT_UPDATE, unless another settlement came since
    assert (wallet - Decimal(funding["B"][0]["wb"])) % bc == 0
    venue.signed(
        "POST",
        "/fapi/v1/order",
        key=KEY_B,
        secret=SECRET_B,
        symbol=SYM,
        side="BUY",
        type="MARKET",
        quantity="0.100",
        reduceOnly="true",
    )


def test_the_ws_api_places_queries_modifies_and_cancels(venue: VenueProc) -> None:
    px = str((_mid(venue) * Decimal("0.96")).quantize(Decimal("0.01")))

    def call(ws: Any, method: str, **params: Any) -> dict[str, Any]:
        params.update(apiKey=KEY, timestamp=int(time.time() * 1000))
        params["signature"] = hmac_hex(SECRET, ws_api_payload(params))
        return {"id": method, "method": method, "params": params}

    async def go() -> list[dict[str, Any]]:
        out = []
        async with websockets.connect(venue.ws + "/ws-fapi/v1") as ws:
            for method, p in (
                (
                    "order.place",
                    dict(
                        symbol=SYM,
                        side="BUY",
                        type="LIMIT",
                        timeInForce="GTX",
                        quantity="0.010",
                        price=px,
                        newClientOrderId="wsapi-1",
                    ),
                ),
                ("order.status", dict(symbol=SYM, origClientOrderId="wsapi-1")),
                (
                    "order.modify",
                    dict(symbol=SYM, origClientOrderId="wsapi-1", side="BUY", quantity="0.011", price=px),
                ),
                ("order.cancel", dict(symbol=SYM, origClientOrderId="wsapi-1")),
            ):
                await ws.send(json.dumps(call(ws, method, **p)))
                out.append(json.loads(await ws.recv()))
            bad = call(ws, "order.status", symbol=SYM, origClientOrderId="wsapi-1")
            bad["params"]["signature"] = "0" * 64
            await ws.send(json.dumps(bad))
            out.append(json.loads(await ws.recv()))
        return out

    place, status, modify, cancel, bad = run(go())
    assert place["status"] == 200 and place["result"]["clientOrderId"] == "wsapi-1"
    assert {r["rateLimitType"] for r in place["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}
    assert status["result"]["status"] == "NEW"
    assert modify["result"]["origQty"] == "0.011"
    assert cancel["result"]["status"] == "CANCELED"
    assert bad["status"] == 400 and bad["error"]["code"] == -1022


def test_listen_key_lifecycle_ends_with_listen_key_expired(strict_venue: VenueProc) -> None:
    key = strict_venue.signed("POST", "/fapi/v1/listenKey").json()["listenKey"]
    assert strict_venue.signed("POST", "/fapi/v1/listenKey").json()["listenKey"] == key  # same key, extended
    events, stop, t = _user_events(strict_venue, key)
    wait_until(lambda: any(e.get("e") == "listenKeyExpired" for e in events), 10, what="listenKeyExpired")
    stop.set()
    t.join(5)
    assert next(e for e in events if e.get("e") == "listenKeyExpired")["listenKey"] == key
    assert strict_venue.signed("PUT", "/fapi/v1/listenKey").json()["code"] == -1125
    assert strict_venue.signed("POST", "/fapi/v1/listenKey").json()["listenKey"] != key


def test_batch_orders_answer_per_item(venue: VenueProc) -> None:
    px = (_mid(venue) * Decimal("0.95")).quantize(Decimal("0.01"))
    items = [
        {
            "symbol": SYM,
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTX",
            "quantity": "0.010",
            "price": str(px),
        },
        {
            "symbol": SYM,
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTX",
            "quantity": "0.0105",
            "price": str(px),
        },
    ]
    r = venue.signed(
        "POST", "/fapi/v1/batchOrders", batchOrders=json.dumps(items, separators=(",", ":"))
    ).json()
    assert r[0]["status"] == "NEW" and r[1]["code"] == -1111
    six = venue.signed("POST", "/fapi/v1/batchOrders", batchOrders=json.dumps(items * 3)).json()
    assert six["code"] == -4006
    cancel = venue.signed(
        "DELETE", "/fapi/v1/batchOrders", symbol=SYM, orderIdList=json.dumps([r[0]["orderId"], 12345])
    ).json()
    assert cancel[0]["status"] == "CANCELED" and cancel[1]["code"] == -2011


def test_countdown_cancel_all_cancels_when_not_refreshed(venue: VenueProc) -> None:
    px = str((_mid(venue) * Decimal("0.95")).quantize(Decimal("0.01")))
    venue.signed(
        "POST",
        "/fapi/v1/order",
        symbol="BTCUSDC",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.002",
        price=str((Decimal(61000) * Decimal("0.96")).quantize(Decimal("0.1"))),
    )
    assert (
        venue.signed("POST", "/fapi/v1/countdownCancelAll", symbol="BTCUSDC", countdownTime=500).status_code
        == 200
    )
    wait_until(
        lambda: venue.signed("GET", "/fapi/v1/openOrders", symbol="BTCUSDC").json() == [],
        5,
        what="the dead-man's switch",
    )
    _ = px


# ---- faults ---------------------------------------------------------------------------------


def test_unknown_503_places_the_order_anyway(venue: VenueProc) -> None:
    venue.fault(unknown_503=1)
    px = str((_mid(venue) * Decimal("0.95")).quantize(Decimal("0.01")))
    r = venue.signed("POST", "/fapi/v1/order", **resting_buy(SYM, "0.010", px, newClientOrderId="maybe-1"))
    assert r.status_code == 503 and "Unknown error" in r.json()["msg"]
    q = venue.signed("GET", "/fapi/v1/order", symbol=SYM, origClientOrderId="maybe-1").json()
    assert q["status"] == "NEW"
    venue.signed("DELETE", "/fapi/v1/allOpenOrders", symbol=SYM)


def test_reject_1008_delay_storm_and_clock_skew(venue: VenueProc) -> None:
    venue.fault(reject_1008=1)
    r = venue.signed("POST", "/fapi/v1/order", symbol=SYM, side="BUY", type="MARKET", quantity="0.010")
    assert r.json()["code"] == -1008
    venue.fault(delay_ms=300)
    t0 = time.monotonic()
    httpx.get(venue.url + "/fapi/v1/ping")
    assert time.monotonic() - t0 >= 0.3
    venue.fault(delay_ms=0, clock_skew_ms=60_000)
    assert httpx.get(venue.url + "/fapi/v1/time").json()["serverTime"] - time.time() * 1000 > 50_000
    venue.fault(clock_skew_ms=0, storm_429_s=1.0)
    r = httpx.get(venue.url + "/fapi/v1/ping", headers={"X-Sim-Client": "10.1.1.1"})
    assert r.status_code == 429 and r.json()["code"] == -1003
    # A client that honours Retry-After (1 s) sees the storm pass without earning a ban.
    wait_until(
        lambda: (
            httpx.get(venue.url + "/fapi/v1/ping", headers={"X-Sim-Client": "10.1.1.2"}).status_code == 200
        ),
        5,
        interval=1.05,
        what="the storm to end",
    )


def test_stream_faults_drop_stall_and_gap(venue: VenueProc) -> None:
    async def go() -> tuple[bool, float, bool]:
        url = f"{venue.ws}/public/ws/{SYM.lower()}@depth@0ms"
        async with websockets.connect(url) as ws:
            await ws.recv()
            async with httpx.AsyncClient() as c:
                await c.post(venue.url + "/_admin/fault", json={"drop_ws": "public"})
            dropped = False
            try:
                for _ in range(1000):
                    await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed:
                dropped = True
        async with websockets.connect(url) as ws:
            await ws.recv()
            async with httpx.AsyncClient() as c:
                await c.post(venue.url + "/_admin/fault", json={"symbol": SYM, "stall_s": 1.0})
            t0 = time.monotonic()
            while True:  # drain what was in flight, then measure the silence
                try:
                    await asyncio.wait_for(ws.recv(), 0.3)
                except TimeoutError:
                    break
            prev = json.loads(await ws.recv())
            silence = time.monotonic() - t0
            e = json.loads(await ws.recv())
            assert e["pu"] == prev["u"], "a stall delays the stream, it does not break it"
            prev = e
            async with httpx.AsyncClient() as c:
                await c.post(venue.url + "/_admin/fault", json={"symbol": SYM, "gap": 1})
            gap = False
            for _ in range(50):
                e = json.loads(await ws.recv())
                if e["pu"] != prev["u"]:
                    gap = True
                    break
                prev = e
        return dropped, silence, gap

    dropped, silence, gap = run(go())
    assert dropped
    assert silence >= 0.9
    assert gap


def test_the_endpoints_clients_call_at_start_or_for_history_answer_the_official_connector(
    tmp_path: Path,
) -> None:
    """leverageBracket, income, positionSide/dual, multiAssetsMargin, marginType, allOrders, the
    24 h and price tickers, fundingRate, klines, trades and aggTrades, through the unmodified
    official connector, each checked against what the venue reports elsewhere. A venue of its own:
    the module's has had its clock skewed by a fault drill."""
    from binance.error import ClientError
    from binance.um_futures import UMFutures

    with VenueProc(tmp_path, "funding_interval_s = 2.0\n") as venue:
        _client_endpoints(UMFutures(key=KEY, secret=SECRET, base_url=venue.url), ClientError)


def _client_endpoints(c: Any, ClientError: type[Exception]) -> None:
    try:
        brackets = {b["symbol"]: b for b in c.leverage_brackets()}
        assert brackets[SYM]["brackets"][0]["initialLeverage"] == 125  # the venue's first bracket
        assert c.leverage_brackets(symbol=SYM)["symbol"] == SYM
        assert c.get_position_mode() == {"dualSidePosition": False}
        assert c.get_multi_asset_mode() == {"multiAssetsMargin": False}
        same_mode = lambda: c.change_position_mode(dualSidePosition="false")  # noqa: E731
        same_margin = lambda: c.change_margin_type(symbol=SYM, marginType="CROSSED")  # noqa: E731
        for call, code in ((same_mode, -4059), (same_margin, -4046)):
            with pytest.raises(ClientError) as err:
                call()
            assert err.value.error_code == code

        t0 = int(time.time() * 1000)
        c.new_order(symbol=SYM, side="BUY", type="MARKET", quantity="0.030", newClientOrderId="hist-1")
        c.new_order(symbol=SYM, side="SELL", type="MARKET", quantity="0.030", newClientOrderId="hist-2")
        ours = [t for t in c.get_account_trades(symbol=SYM, startTime=t0) if t["time"] >= t0]
        assert {"hist-1", "hist-2"} <= {o["clientOrderId"] for o in c.get_all_orders(symbol=SYM)}
        # income: one REALIZED_PNL and one COMMISSION record per trade, as the trades report them
        inc = c.get_income_history(symbol=SYM, startTime=t0, limit=1000)
        by_trade = {(r["tradeId"], r["incomeType"]): Decimal(r["income"]) for r in inc}
        for t in ours:
            assert by_trade[(str(t["id"]), "COMMISSION")] == -Decimal(t["commission"])
            if Decimal(t["realizedPnl"]):
                assert by_trade[(str(t["id"]), "REALIZED_PNL")] == Decimal(t["realizedPnl"])
        # public trades: ours among them, aggregated by taker order, and the candles add them up
        public = {p["id"]: p for p in c.trades(symbol=SYM, limit=1000)}
        for t in ours:
            assert public[t["id"]]["price"] == t["price"] and public[t["id"]]["qty"] == t["qty"]
        aggs = c.agg_trades(symbol=SYM, limit=1000)
        covered = {i for a in aggs for i in range(a["f"], a["l"] + 1)}
        assert {t["id"] for t in ours} <= covered
        # the tickers and the candles, read between two reads of the trades (the market trades on
        # meanwhile): each must reflect the trades as they stood at some moment in between
        pre = c.trades(symbol=SYM, limit=1000)
        start = pre[0]["time"] // 60_000 * 60_000
        price = c.ticker_price(symbol=SYM)["price"]
        day = c.ticker_24hr_price_change(symbol=SYM)
        candles = c.klines(symbol=SYM, interval="1m", startTime=start)
        post = c.trades(symbol=SYM, limit=1000)
        span = [p for p in post if p["id"] >= pre[-1]["id"]]  # the last trade before, and any since
        assert price in {p["price"] for p in span}
        assert any(day["lastId"] == p["id"] and day["lastPrice"] == p["price"] for p in span), day
        assert candles[-1][4] in {p["price"] for p in span}
        assert len(pre) < 1000, "the module's venue made more trades than one read returns"
        # every trade the venue made is in pre (and post): the candles add up to them
        volume = sum(Decimal(k[5]) for k in candles)
        lo, hi = (sum(Decimal(p["qty"]) for p in rows) for rows in (pre, post))
        assert lo <= volume <= hi, (lo, volume, hi)
        assert sum(k[8] for k in candles) >= len(pre)
        # funding: settlements every 2 s at the configured rate, and the fee in the income
        wait_until(lambda: len(c.funding_rate(symbol=SYM, startTime=t0)) >= 1, 10, what="a settlement")
        assert {r["fundingRate"] for r in c.funding_rate(symbol=SYM, startTime=t0)} == {"0.0001"}
        with pytest.raises(ClientError) as err:
            c.klines(symbol=SYM, interval="7m")
        assert err.value.error_code == -1120
    finally:
        c.session.close()
