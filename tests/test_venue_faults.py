"""The simulated venue's order-safety faults, admin hardening and read-only keys, driven over real
HTTP and WebSocket. Each test asserts the venue's observable truth: what the client was answered,
and what the venue then holds (openOrders, userTrades) and sends (the user stream)."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from common.binance.signing import hmac_hex, ws_api_payload
from services.venue.admin import is_loopback_peer
from tests.helpers import wait_until
from tests.venue_proc import KEY, SECRET, VenueProc, book_mid, resting_buy, signed_request

SYM = "ETHUSDC"
RO_KEY, RO_SECRET = "test-read-key-0123456789ab", "test-read-secret-ba9876543210"
UNKNOWN = {"code": -1006, "msg": "Unknown error, please check your request or try again later."}
BAD_KEY = {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
WS_429_MSG = (
    "Too much request weight used; please use WebSocket Streams for live updates to avoid polling the API."
)


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VenueProc]:
    tmp = tmp_path_factory.mktemp("faults")
    overlay = (
        '[[simvenue.accounts]]\nname = "paper"\n'
        'read_key_env = "MM_READ_KEY"\nread_secret_env = "MM_READ_SECRET"\n'
    )
    proc = VenueProc(tmp, overlay)
    proc.env.update(MM_READ_KEY=RO_KEY, MM_READ_SECRET=RO_SECRET)
    with proc as v:
        yield v


@pytest.fixture(autouse=True)
def clean(venue: VenueProc) -> Iterator[None]:
    """Each test starts and ends with no armed fault and no open order."""
    yield
    assert _fault(venue, {"clear": True}).status_code == 200
    venue.signed("DELETE", "/fapi/v1/allOpenOrders", symbol=SYM)


def _fault(v: VenueProc, spec: Any) -> httpx.Response:
    return httpx.post(v.url + "/_admin/fault", json=spec, timeout=5)


def _price(v: VenueProc) -> str:
    """A buy price well below the market: the order rests."""
    return str((book_mid(v.url, SYM) * Decimal("0.95")).quantize(Decimal("0.01")))


def _open_ids(v: VenueProc) -> set[str]:
    r = v.signed("GET", "/fapi/v1/openOrders", symbol=SYM)
    assert r.status_code == 200, r.text
    return {o["clientOrderId"] for o in r.json()}


def _otu(cid: str, x: str = "") -> Callable[[dict[str, Any]], bool]:
    """Matches the ORDER_TRADE_UPDATE of client id ``cid`` (with execution type ``x``)."""
    return lambda e: e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["c"] == cid and (not x or e["o"]["x"] == x)


class UserStream:
    """The account's user stream, read on demand with the sync client (the test body stays sync)."""

    def __init__(self, v: VenueProc) -> None:
        key = v.signed("POST", "/fapi/v1/listenKey").json()["listenKey"]
        self.url = f"{v.ws}/private/ws/{key}"
        self.events: list[dict[str, Any]] = []
        self._stack = contextlib.ExitStack()

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for e in self.events[seen:]:
                if pred(e):
                    return e
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching user event in {timeout}s; got {self.events[-5:]}")
            try:
                self.events.append(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                continue

    def __enter__(self) -> UserStream:
        self.ws = self._stack.enter_context(connect(self.url, proxy=None, max_queue=None))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()


def _ws_api(v: VenueProc, client: str | None = None) -> ClientConnection:
    headers = {"X-Sim-Client": client} if client else None
    return connect(v.ws + "/ws-fapi/v1", proxy=None, additional_headers=headers)


def _ws_call(
    ws: ClientConnection, method: str, rid: str, key: str = KEY, secret: str = SECRET, **params: Any
) -> None:
    """Send one signed WS-API request (the answer, if any, is read by the caller)."""
    if method not in ("ping", "time"):
        params.update(apiKey=key, timestamp=int(time.time() * 1000))
        params["signature"] = hmac_hex(secret, ws_api_payload(params))
    ws.send(json.dumps({"id": rid, "method": method, "params": params}))


def _ws_answer(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=10))  # type: ignore[no-any-return]


# ---- html_5xx and non_json_200 -----------------------------------------------------------------


def test_html_5xx_executed_answers_a_cdn_page_and_the_order_exists(venue: VenueProc) -> None:
    px = _price(venue)
    with UserStream(venue) as us:
        spec = {"html_5xx": {"count": 1, "status": 502, "executed": True}}
        assert _fault(venue, spec).status_code == 200
        r = venue.signed("POST", "/fapi/v1/order", **resting_buy(SYM, "0.010", px, newClientOrderId="html-1"))
        assert r.status_code == 502
        assert r.headers["content-type"].startswith("text/html")
        assert "<title>502 Bad Gateway</title>" in r.text and r.text.lstrip().startswith("<html>")
        assert "html-1" in _open_ids(venue)
        us.wait_for(_otu("html-1", "NEW"))
        # the count was one: the next order request is answered by the venue again
        r = venue.signed("POST", "/fapi/v1/order", **resting_buy(SYM, "0.010", px, newClientOrderId="html-2"))
        assert r.status_code == 200 and r.json()["status"] == "NEW"
        # a cancel carried out behind a 503 page: the order is gone although the client saw a failure
        _fault(venue, {"html_5xx": {"status": 503, "executed": True}})
        r = venue.signed("DELETE", "/fapi/v1/order", symbol=SYM, origClientOrderId="html-1")
        assert r.status_code == 503 and "503 Service" in r.text
        assert _open_ids(venue) == {"html-2"}
        us.wait_for(_otu("html-1", "CANCELED"))


def test_html_5xx_not_executed_leaves_no_order(venue: VenueProc) -> None:
    px = _price(venue)
    _fault(venue, {"html_5xx": {"count": 2, "status": 504, "executed": False}})
    r = venue.signed("POST", "/fapi/v1/order", **resting_buy(SYM, "0.010", px, newClientOrderId="html-no"))
    assert r.status_code == 504 and r.headers["content-type"].startswith("text/html")
    assert "504 Gateway" in r.text
    batch = json.dumps([resting_buy(SYM, "0.010", px, newClientOrderId="html-batch")])
    r = venue.signed("POST", "/fapi/v1/batchOrders", batchOrders=batch)
    assert r.status_code == 504
    assert _open_ids(venue) == set()
    q = venue.signed("GET", "/fapi/v1/order", symbol=SYM, origClientOrderId="html-no")
    assert q.json()["code"] == -2013


def test_non_json_200_body_is_not_json(venue: VenueProc) -> None:
    px = _price(venue)
    _fault(venue, {"non_json_200": {"count": 1, "executed": True}})
    r = venue.signed("POST", "/fapi/v1/order", **resting_buy(SYM, "0.010", px, newClientOrderId="nj-1"))
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.text)
    assert (
        venue.signed("GET", "/fapi/v1/order", symbol=SYM, origClientOrderId="nj-1").json()["status"] == "NEW"
    )
    _fault(venue, {"non_json_200": {"executed": False}})
    r = venue.signed("POST", "/fapi/v1/order", **resting_buy(SYM, "0.010", px, newClientOrderId="nj-2"))
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.text)
    assert _open_ids(venue) == {"nj-1"}


# ---- late_new -----------------------------------------------------------------------------------


def test_late_new_answers_503_and_the_order_lands_after_the_delay(venue: VenueProc) -> None:
    px = _price(venue)
    with UserStream(venue) as us:
        _fault(venue, {"late_new": {"count": 1, "delay_ms": 2000, "answer": "503"}})
        t0 = int(time.time() * 1000)
        # a recvWindow that has passed by landing time: the order lands all the same
        r = venue.signed(
            "POST",
            "/fapi/v1/order",
            **resting_buy(SYM, "0.010", px, newClientOrderId="late-1"),
            recvWindow=1000,
        )
        assert (r.status_code, r.json()) == (503, UNKNOWN)
        assert "late-1" not in _open_ids(venue)
        assert (
            venue.signed("GET", "/fapi/v1/order", symbol=SYM, origClientOrderId="late-1").json()["code"]
            == -2013
        )
        wait_until(lambda: "late-1" in _open_ids(venue), 10, what="the late order to land")
        new = us.wait_for(_otu("late-1", "NEW"))
        assert new["E"] >= t0 + 2000
        o = venue.signed("GET", "/fapi/v1/order", symbol=SYM, origClientOrderId="late-1").json()
        assert o["status"] == "NEW" and o["time"] >= t0 + 2000


def test_late_new_timeout_keeps_the_rest_client_waiting(venue: VenueProc) -> None:
    px = _price(venue)
    _fault(venue, {"late_new": {"count": 1, "delay_ms": 2500, "answer": "timeout"}})
    params = resting_buy(SYM, "0.010", px, newClientOrderId="late-rest")
    with pytest.raises(httpx.ReadTimeout):
        signed_request(venue.url, "POST", "/fapi/v1/order", timeout=1.0, **params)
    assert "late-rest" not in _open_ids(venue)
    wait_until(lambda: "late-rest" in _open_ids(venue), 10, what="the late order to land")


def test_late_new_on_the_ws_api_answers_503_or_nothing(venue: VenueProc) -> None:
    px = _price(venue)
    with _ws_api(venue) as ws:
        _fault(venue, {"late_new": {"delay_ms": 1000}})  # defaults: count 1, answer 503
        _ws_call(ws, "order.place", "p1", **resting_buy(SYM, "0.010", px, newClientOrderId="late-ws-1"))
        a = _ws_answer(ws)
        assert (a["id"], a["status"], a["error"]) == ("p1", 503, UNKNOWN)
        wait_until(lambda: "late-ws-1" in _open_ids(venue), 10, what="the first late order")
        _fault(venue, {"late_new": {"count": 1, "delay_ms": 1000, "answer": "timeout"}})
        _ws_call(ws, "order.place", "p2", **resting_buy(SYM, "0.010", px, newClientOrderId="late-ws-2"))
        wait_until(lambda: "late-ws-2" in _open_ids(venue), 10, what="the second late order")
        _ws_call(ws, "ping", "after")
        assert _ws_answer(ws)["id"] == "after"  # p2 was never answered: the next frame is ping's


# ---- the user stream ----------------------------------------------------------------------------


def test_drop_user_event_hides_a_trade_that_the_venue_still_records(venue: VenueProc) -> None:
    with UserStream(venue) as us:
        _fault(venue, {"drop_user_event": {"count": 1, "event": "ORDER_TRADE_UPDATE", "execution": "TRADE"}})
        buy = venue.signed(
            "POST",
            "/fapi/v1/order",
            symbol=SYM,
            side="BUY",
            type="MARKET",
            quantity="0.010",
            newClientOrderId="drop-1",
        ).json()
        venue.signed(
            "POST",
            "/fapi/v1/order",
            symbol=SYM,
            side="SELL",
            type="MARKET",
            quantity="0.010",
            reduceOnly="true",
            newClientOrderId="drop-flat",
        )
        us.wait_for(_otu("drop-flat", "NEW"))  # everything about drop-1 was sent before this
        trades = venue.signed("GET", "/fapi/v1/userTrades", symbol=SYM, orderId=buy["orderId"]).json()
        assert len(trades) >= 1
        sent = [e for e in us.events if _otu("drop-1", "TRADE")(e)]
        assert len(sent) == len(trades) - 1
        lite = [e for e in us.events if e.get("e") == "TRADE_LITE" and e["c"] == "drop-1"]
        assert len(lite) == len(trades)  # only the ORDER_TRADE_UPDATE was dropped


@pytest.mark.parametrize("value", ["abc", ""])
def test_malformed_user_replaces_the_numeric_fields(venue: VenueProc, value: str) -> None:
    px = _price(venue)
    cid = f"mal-{len(value)}"
    with UserStream(venue) as us:
        _fault(venue, {"malformed_user": {"count": 1, "value": value}})
        r = venue.signed("POST", "/fapi/v1/order", **resting_buy(SYM, "0.010", px, newClientOrderId=cid))
        o = us.wait_for(_otu(cid, "NEW"))["o"]
        for name in ("q", "p", "ap", "l", "z", "L", "rp", "sp"):
            assert o[name] == value, name
        assert o.get("n", value) == value
        assert (o["i"], o["s"], o["X"]) == (r.json()["orderId"], SYM, "NEW")
        venue.signed("DELETE", "/fapi/v1/order", symbol=SYM, origClientOrderId=cid)
        canceled = us.wait_for(_otu(cid, "CANCELED"))["o"]  # the count was one
        assert Decimal(canceled["q"]) == Decimal("0.010") and Decimal(canceled["p"]) == Decimal(px)


# ---- bans and 429s ------------------------------------------------------------------------------

BAN_MSG = re.compile(
    r"^Way too many requests; IP\((?P<ip>[^)]*)\) banned until (?P<until>\d+)\. "
    r"Please use the websocket for live updates to avoid bans\.$"
)


def _ping(v: VenueProc, ip: str) -> httpx.Response:
    return httpx.get(v.url + "/fapi/v1/ping", headers={"X-Sim-Client": ip}, timeout=5)


def test_ban_418_without_retry_after_then_lifted(venue: VenueProc) -> None:
    ip = "10.4.1.8"
    with _ws_api(venue, ip) as ws:
        t0 = int(time.time() * 1000)
        assert _fault(venue, {"ban_418": {"seconds": 2, "retry_after": False, "ip": ip}}).status_code == 200
        t1 = int(time.time() * 1000)
        r = _ping(venue, ip)
        assert r.status_code == 418 and "Retry-After" not in r.headers
        assert r.json()["code"] == -1003
        m = BAN_MSG.match(r.json()["msg"])
        assert m is not None, r.json()["msg"]
        until = int(m["until"])
        assert m["ip"] == ip and t0 + 2000 <= until <= t1 + 2000
        signed = signed_request(venue.url, "GET", "/fapi/v1/openOrders", client=ip, symbol=SYM)
        assert signed.status_code == 418
        assert _ping(venue, "10.4.1.80").status_code == 200  # only that IP
        _ws_call(ws, "time", "t1")
        a = _ws_answer(ws)
        assert (a["status"], a["error"]["code"], a["error"]["data"]["retryAfter"]) == (418, -1003, until)
        wait_until(lambda: _ping(venue, ip).status_code == 200, 10, what="the ban to end")
        assert time.time() * 1000 >= until


def test_ban_418_with_retry_after_and_clear_lifts_it(venue: VenueProc) -> None:
    ip = "10.4.1.9"
    _fault(venue, {"ban_418": {"seconds": 30, "retry_after": True, "ip": ip}})
    r = _ping(venue, ip)
    assert r.status_code == 418 and int(r.headers["Retry-After"]) in (29, 30)
    assert _fault(venue, {"clear": True}).status_code == 200
    assert _ping(venue, ip).status_code == 200


def test_ban_418_defaults_to_the_callers_ip(venue: VenueProc) -> None:
    ip = "10.4.1.10"
    r = httpx.post(
        venue.url + "/_admin/fault",
        json={"ban_418": {"seconds": 30}},
        headers={"X-Sim-Client": ip},
        timeout=5,
    )
    assert r.status_code == 200
    banned = _ping(venue, ip)
    assert banned.status_code == 418 and "Retry-After" not in banned.headers  # retry_after defaults to false
    assert _ping(venue, "10.4.1.11").status_code == 200


def test_ws_api_429_frame_carries_retry_after(venue: VenueProc) -> None:
    with _ws_api(venue) as ws:
        _fault(venue, {"ws_api_429": {"count": 1, "retry_after_ms": 3000}})
        _ws_call(ws, "order.status", "s1", symbol=SYM, origClientOrderId="none")
        a = _ws_answer(ws)
        assert (a["id"], a["status"]) == ("s1", 429)
        assert (a["error"]["code"], a["error"]["msg"]) == (-1003, WS_429_MSG)
        data = a["error"]["data"]
        assert data["retryAfter"] == data["serverTime"] + 3000
        assert abs(data["serverTime"] - time.time() * 1000) < 5000
        assert any(x["rateLimitType"] == "REQUEST_WEIGHT" for x in a["rateLimits"])
        _ws_call(ws, "time", "t2")
        assert _ws_answer(ws)["status"] == 200


def test_drop_ws_api_closes_ws_api_connections(venue: VenueProc) -> None:
    with _ws_api(venue) as ws:
        _ws_call(ws, "ping", "p")
        assert _ws_answer(ws)["status"] == 200
        assert _fault(venue, {"drop_ws": "api"}).json()["done"] == ["dropped 1 connections"]
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)


def _stream(v: VenueProc, route: str) -> ClientConnection:
    stream = "ethusdc@depth@100ms" if route == "public" else "ethusdc@aggTrade"
    return connect(f"{v.ws}/{route}/ws/{stream}", proxy=None, open_timeout=5)


def _refused(v: VenueProc, route: str) -> bool:
    try:
        with _stream(v, route):
            pass
    except InvalidStatus as exc:
        assert exc.response.status_code == 503
        return True
    return False


def test_ws_outage_closes_a_routes_streams_and_refuses_them_until_it_ends(venue: VenueProc) -> None:
    with _stream(venue, "public") as ws, _stream(venue, "market") as other:
        ws.recv(timeout=10)
        r = _fault(venue, {"ws_outage": {"seconds": 1.5, "routes": ["public"]}})
        assert r.json()["done"] == ["ws_outage public 1.5s", "dropped 1 connections"]
        with pytest.raises(ConnectionClosed):
            while True:  # what was already on its way, then the close
                ws.recv(timeout=10)
        assert _refused(venue, "public")
        other.recv(timeout=10)  # the market route is not cut
        assert not _refused(venue, "market")
        t0 = time.monotonic()
        wait_until(lambda: not _refused(venue, "public"), 10, interval=0.1, what="public served again")
        assert time.monotonic() - t0 < 3.0
    with _stream(venue, "public") as ws:
        assert json.loads(ws.recv(timeout=10))["e"] == "depthUpdate"


def test_ws_outage_defaults_to_the_market_data_routes_and_seconds_zero_ends_it(venue: VenueProc) -> None:
    r = _fault(venue, {"ws_outage": {"seconds": 600}})
    assert r.json()["done"][0] == "ws_outage public,market 600s"
    assert _refused(venue, "public") and _refused(venue, "market")
    with _ws_api(venue) as ws:  # the WS-API and REST stay up
        _ws_call(ws, "ping", "p")
        assert _ws_answer(ws)["status"] == 200
    _fault(venue, {"ws_outage": {"seconds": 0, "routes": ["public"]}})
    assert not _refused(venue, "public") and _refused(venue, "market")
    # the fixture's clear ends the rest


# ---- admin --------------------------------------------------------------------------------------


def test_admin_refuses_a_text_plain_post_and_changes_nothing(venue: VenueProc) -> None:
    spec = json.dumps({"html_5xx": {"count": 1, "status": 502, "executed": False}})
    r = httpx.post(
        venue.url + "/_admin/fault", content=spec, headers={"Content-Type": "text/plain"}, timeout=5
    )
    assert r.status_code == 415
    r = venue.signed("POST", "/fapi/v1/order", **resting_buy(SYM, "0.010", _price(venue)))
    assert r.status_code == 200 and r.json()["status"] == "NEW"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"gap": 1, "symbol": "NOPE"}, "symbol"),
        ({"nosuch": 1}, "nosuch"),
        ({"html_5xx": {"count": 1, "status": 500, "executed": True}}, "html_5xx.status"),
        ({"html_5xx": {"count": 1}}, "html_5xx"),
        ({"late_new": {"answer": "later"}}, "late_new.answer"),
        ({"late_new": {"delay_ms": -5}}, "late_new.delay_ms"),
        ({"ban_418": {"retry_after": False}}, "ban_418"),
        ({"drop_user_event": {"event": "ACCOUNT_UPDATE", "execution": "TRADE"}}, "drop_user_event.execution"),
        ({"malformed_user": {"value": 1}}, "malformed_user.value"),
        ({"ws_api_429": {"count": "2"}}, "ws_api_429.count"),
        ({"shock": {"symbol": SYM}}, "shock"),
        ({"ws_outage": {"routes": ["public"]}}, "ws_outage"),
        ({"ws_outage": {"seconds": 5, "routes": ["public", "all"]}}, "ws_outage.routes[1]"),
        ({"ws_outage": {"seconds": 5, "routes": []}}, "ws_outage.routes"),
        ({"ws_outage": {"seconds": -1}}, "ws_outage.seconds"),
        ({"delay_ms": True}, "delay_ms"),
        ([1, 2], "body"),
    ],
)
def test_admin_answers_400_naming_the_field(venue: VenueProc, spec: Any, field: str) -> None:
    r = _fault(venue, spec)
    assert r.status_code == 400
    assert r.json()["error"].startswith(f"{field}:"), r.json()


def test_admin_400_message_says_what_was_expected(venue: VenueProc) -> None:
    r = _fault(venue, {"gap": {"symbol": "ETHUSDC"}})
    assert (r.status_code, r.json()["error"]) == (400, "gap: expected an integer count, got object")
    r = httpx.post(
        venue.url + "/_admin/fault", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"].startswith("body:")


def test_admin_applies_all_or_nothing(venue: VenueProc) -> None:
    r = _fault(venue, {"html_5xx": {"count": 1, "status": 502, "executed": False}, "stall_s": "long"})
    assert r.status_code == 400 and r.json()["error"].startswith("stall_s:")
    r = venue.signed("POST", "/fapi/v1/order", **resting_buy(SYM, "0.010", _price(venue)))
    assert r.status_code == 200  # html_5xx was not armed


def test_admin_book_answers_400_naming_the_parameter(venue: VenueProc) -> None:
    book = venue.url + "/_admin/book"
    for params, name in (
        ({}, "symbol"),
        ({"symbol": "NOPE"}, "symbol"),
        ({"symbol": SYM, "limit": "x"}, "limit"),
    ):
        r = httpx.get(book, params=params, timeout=5)
        assert r.status_code == 400 and r.json()["error"].startswith(f"{name}:"), (params, r.text)
    r = httpx.get(book, params={"symbol": SYM, "limit": 3}, timeout=5)
    assert r.status_code == 200 and len(r.json()["bids"]) <= 3
    assert httpx.get(venue.url + "/_admin/nothing-here", timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("remote", "host", "allowed"),
    [
        ("127.0.0.1", "127.0.0.1:8765", True),
        ("::1", "[::1]:8765", True),
        ("127.0.0.1", "localhost:8765", True),
        ("10.0.0.5", "127.0.0.1:8765", False),  # another machine
        ("192.168.1.20", "192.168.1.2:8765", False),
        ("127.0.0.1", "evil.example:8765", False),  # DNS rebinding: loopback peer, foreign host name
        (None, "127.0.0.1:8765", False),
        ("not-an-ip", "127.0.0.1", False),
    ],
)
def test_only_loopback_peers_may_use_admin(remote: str | None, host: str, allowed: bool) -> None:
    assert is_loopback_peer(SimpleNamespace(remote=remote, host=host)) is allowed


# ---- read-only keys -----------------------------------------------------------------------------


def _ro(v: VenueProc, method: str, path: str, **params: Any) -> httpx.Response:
    return v.signed(method, path, key=RO_KEY, secret=RO_SECRET, **params)


def test_a_read_only_key_reads_but_cannot_trade(venue: VenueProc) -> None:
    px = _price(venue)
    placed = venue.signed(
        "POST", "/fapi/v1/order", **resting_buy(SYM, "0.010", px, newClientOrderId="ro-target")
    )
    assert placed.status_code == 200
    for path, params in (
        ("/fapi/v1/openOrders", {"symbol": SYM}),
        ("/fapi/v1/order", {"symbol": SYM, "origClientOrderId": "ro-target"}),
        ("/fapi/v3/account", {}),
        ("/fapi/v2/positionRisk", {"symbol": SYM}),
        ("/fapi/v1/userTrades", {"symbol": SYM}),
        ("/fapi/v3/balance", {}),
    ):
        r = _ro(venue, "GET", path, **params)
        assert r.status_code == 200, (path, r.text)
    assert [o["clientOrderId"] for o in _ro(venue, "GET", "/fapi/v1/openOrders", symbol=SYM).json()] == [
        "ro-target"
    ]
    lk = httpx.post(venue.url + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": RO_KEY}, timeout=5)
    assert lk.status_code == 200 and lk.json()["listenKey"]

    item = resting_buy(SYM, "0.010", px)
    for method, path, params in (
        ("POST", "/fapi/v1/order", resting_buy(SYM, "0.010", px, newClientOrderId="ro-new")),
        (
            "PUT",
            "/fapi/v1/order",
            {
                "symbol": SYM,
                "origClientOrderId": "ro-target",
                "side": "BUY",
                "quantity": "0.020",
                "price": px,
            },
        ),
        ("DELETE", "/fapi/v1/order", {"symbol": SYM, "origClientOrderId": "ro-target"}),
        ("POST", "/fapi/v1/batchOrders", {"batchOrders": json.dumps([item])}),
        ("PUT", "/fapi/v1/batchOrders", {"batchOrders": json.dumps([item])}),
        (
            "DELETE",
            "/fapi/v1/batchOrders",
            {"symbol": SYM, "orderIdList": json.dumps([placed.json()["orderId"]])},
        ),
        ("DELETE", "/fapi/v1/allOpenOrders", {"symbol": SYM}),
        ("POST", "/fapi/v1/countdownCancelAll", {"symbol": SYM, "countdownTime": 1000}),
        ("POST", "/fapi/v1/leverage", {"symbol": SYM, "leverage": 5}),
    ):
        r = _ro(venue, method, path, **params)
        assert (r.status_code, r.json()) == (401, BAD_KEY), (method, path)
    o = venue.signed("GET", "/fapi/v1/order", symbol=SYM, origClientOrderId="ro-target").json()
    assert (o["status"], o["origQty"]) == ("NEW", "0.010")  # untouched by the refused calls
    assert _open_ids(venue) == {"ro-target"}


def test_a_read_only_key_is_refused_for_ws_api_order_methods(venue: VenueProc) -> None:
    px = _price(venue)
    venue.signed("POST", "/fapi/v1/order", **resting_buy(SYM, "0.010", px, newClientOrderId="ro-ws"))
    with _ws_api(venue) as ws:
        ro = {"key": RO_KEY, "secret": RO_SECRET}
        _ws_call(ws, "order.status", "s", symbol=SYM, origClientOrderId="ro-ws", **ro)
        a = _ws_answer(ws)
        assert a["status"] == 200 and a["result"]["clientOrderId"] == "ro-ws"
        for method, params in (
            ("order.place", resting_buy(SYM, "0.010", px, newClientOrderId="ro-ws-2")),
            (
                "order.modify",
                {
                    "symbol": SYM,
                    "origClientOrderId": "ro-ws",
                    "side": "BUY",
                    "quantity": "0.020",
                    "price": px,
                },
            ),
            ("order.cancel", {"symbol": SYM, "origClientOrderId": "ro-ws"}),
        ):
            _ws_call(ws, method, method, **ro, **params)
            a = _ws_answer(ws)
            assert (a["status"], a["error"]) == (401, BAD_KEY), method
    assert _open_ids(venue) == {"ro-ws"}
