"""Binance Spot behind the gateway's one OMS: the venue port and the user stream, translated.

The OMS, executor, reconciliation, kill sweep and reducer speak USDⓈ-M's shapes. Spot differs in
its paths, its post-only order, its cancel answers, its user data and in having no position, so
:class:`SpotVenue` (a :class:`~services.gateway.venue.VenuePort`) and :func:`order_event` translate
at the edge and nothing behind them knows the market:

* **Post-only**: the OMS's ``LIMIT`` + ``GTX`` goes out as ``LIMIT_MAKER`` (no ``timeInForce``);
  the refusal of one that would take, ``-2010 "Order would immediately match and take."``, comes
  back as the futures ``-5022`` post-only refusal (:class:`PostOnlyRejected`), and a
  ``LIMIT_MAKER`` order reads back as ``LIMIT``/``GTX``. Spot has no ``reduceOnly``: a reduction is
  a plain order (risk's inventory band and the balance the venue locks bound it).
* **Orders**: the average price is ``cummulativeQuoteQty / executedQty``; a cancel answers with
  the order's id in ``origClientOrderId`` (its ``clientOrderId`` is the cancel's own); there is no
  modify (the gateway runs with ``amend = false``: cancel and new) and no batch: a batch is sent as
  concurrent single requests, each answered on its own.
* **Position**: spot has balances, not positions. The position of a spot symbol is its base asset
  held (free + locked) minus ``spot_inventory[symbol]``, the holding the maker treats as flat; its
  entry is the OMS's own average from fills (the venue keeps no cost basis). ``positions()`` reads
  ``/api/v3/account``; every ``outboundAccountPosition`` updates it live.
* **User data**: no listenKey; :class:`SpotUserStream` subscribes on the WebSocket API
  (``userDataStream.subscribe.signature``). ``executionReport`` becomes ``ORDER_TRADE_UPDATE``
  (on a cancel ``C`` is the order's client id), ``outboundAccountPosition`` an ``ACCOUNT_UPDATE``
  with the balances and the symbols' positions.
* **No dead-man's switch**: spot has no ``countdownCancelAll``. :meth:`SpotVenue.countdown` is
  None; what stands in is described in the README ("Spot") and enforced by the guardian.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
import websockets

from common.binance.errors import BinanceError, PostOnlyRejected, TransportError, UnknownOrder, classify
from common.binance.rest import RestClient
from common.binance.signing import hmac_hex, ws_api_payload
from common.binance.user import AccountUpdate, OrderTradeUpdate, UserEvent
from common.binance.ws_api import WsApiClient
from common.logging import log
from common.params.gateway import GatewayParams
from services.gateway.venue import order_call, trade_page

ZERO = Decimal(0)
POST_ONLY_MSG = "Order would immediately match and take."
POST_ONLY_CODE = -5022
_STATUS = {"EXPIRED_IN_MATCH": "EXPIRED", "PENDING_NEW": "NEW"}


SPOT_ORDERS_10S = 40
"""Our pace on spot: 80 % of the 50 unfilled orders per 10 s Binance's spot exchangeInfo shows
(futures allows 300; the gateway's defaults are set for that)."""


def spot_params(p: GatewayParams) -> GatewayParams:
    """The gateway's parameters for spot: no modify (a moved order is canceled and placed anew)
    and the account's pace within spot's order-count window."""
    acct = p.budget.account
    pace = {"orders_per_10s": min(acct.orders_per_10s, SPOT_ORDERS_10S),
            "venue_orders_per_10s": min(acct.venue_orders_per_10s, SPOT_ORDERS_10S)}  # fmt: skip
    budget = p.budget.model_copy(update={"account": acct.model_copy(update=pace)})
    return p.model_copy(
        update={"reconcile": p.reconcile.model_copy(update={"amend": False}), "budget": budget}
    )


def spot_order_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A futures-shaped new order's parameters as spot takes them."""
    p = {k: v for k, v in params.items() if k not in ("reduceOnly", "positionSide")}
    if p.get("type") == "LIMIT" and p.get("timeInForce") == "GTX":
        p["type"] = "LIMIT_MAKER"
        del p["timeInForce"]
    return p


def futures_order(o: Any) -> Any:
    """A spot order object (answer, query, open order) in the fields the OMS reads; anything that
    is not an order object is returned as it is (the OMS reports it malformed)."""
    if not isinstance(o, dict) or "clientOrderId" not in o:
        return o
    out = dict(o)
    if "origClientOrderId" in o:  # a cancel's answer: clientOrderId is the cancel's own
        out["clientOrderId"] = o["origClientOrderId"]
    if o.get("type") == "LIMIT_MAKER":
        out["type"], out["timeInForce"] = "LIMIT", "GTX"
    out["status"] = _STATUS.get(o.get("status", ""), o.get("status", "NEW"))
    out["updateTime"] = o.get("updateTime") or o.get("transactTime") or 0
    out["avgPrice"] = _average(o.get("cummulativeQuoteQty"), o.get("executedQty"))
    return out


def _average(quote: Any, qty: Any) -> str:
    try:
        q, n = Decimal(str(quote)), Decimal(str(qty))
    except InvalidOperation:
        return "0"
    return str(q / n) if n and q.is_finite() and n.is_finite() else "0"


def futures_error(exc: BinanceError) -> BinanceError:
    """Spot's post-only refusal as the OMS knows it (-5022); any other error unchanged."""
    if exc.code == -2010 and POST_ONLY_MSG.lower().rstrip(".") in exc.msg.lower():
        return PostOnlyRejected(exc.msg, POST_ONLY_CODE, exc.status)
    return exc


def user_trade(row: Any) -> Any:
    """A ``myTrades`` row in the fields of ``userTrades`` (spot realizes no PnL)."""
    if not isinstance(row, dict):
        return row
    out = dict(row)
    out["side"] = "BUY" if row.get("isBuyer") else "SELL"
    out["maker"] = bool(row.get("isMaker"))
    out["buyer"] = bool(row.get("isBuyer"))
    out["realizedPnl"] = "0"
    return out


def order_event(ev: Mapping[str, Any]) -> OrderTradeUpdate:
    """An ``executionReport`` as the ``ORDER_TRADE_UPDATE`` it corresponds to (raises
    ``msgspec.ValidationError`` or ``KeyError`` on a broken one)."""
    cid = ev["C"] if ev.get("x") == "CANCELED" and ev.get("C") else ev["c"]
    kind, tif = ev["o"], ev.get("f", "GTC")
    if kind == "LIMIT_MAKER":
        kind, tif = "LIMIT", "GTX"
    z, quote = ev.get("z", "0"), ev.get("Z", "0")
    o = {
        "s": ev["s"], "c": cid, "S": ev["S"], "o": kind, "f": tif, "q": ev["q"], "p": ev["p"],
        "ap": _average(quote, z), "x": ev["x"], "X": _STATUS.get(ev["X"], ev["X"]), "i": ev["i"],
        "l": ev.get("l", "0"), "z": z, "L": ev.get("L", "0"), "N": ev.get("N") or "",
        "n": ev.get("n") or "0", "T": ev.get("T", 0), "t": max(0, ev.get("t", 0) or 0),
        "m": bool(ev.get("m")), "R": False, "rp": "0",
    }  # fmt: skip
    return msgspec.convert({"e": "ORDER_TRADE_UPDATE", "E": ev["E"], "T": ev.get("T", ev["E"]), "o": o},
                           OrderTradeUpdate, strict=False)  # fmt: skip


class Inventory:
    """Spot positions from balances: the base held minus the holding that counts as flat."""

    def __init__(self, bases: Mapping[str, str], flat: Mapping[str, Decimal]) -> None:
        self.bases = dict(bases)  # symbol -> base asset
        self.flat = dict(flat)  # symbol -> base holding treated as position 0
        self.entry: Callable[[str], Decimal] = lambda symbol: ZERO

    def rows(self, balances: Mapping[str, Decimal], as_of_ms: int) -> list[dict[str, Any]]:
        """``positionRisk``-shaped rows of every symbol whose base asset is in ``balances``."""
        out = []
        for sym, base in self.bases.items():
            if base in balances:
                qty = balances[base] - self.flat.get(sym, ZERO)
                out.append({"symbol": sym, "positionAmt": f"{qty.normalize():f}",
                            "entryPrice": str(self.entry(sym) if qty else ZERO),
                            "positionSide": "BOTH", "updateTime": as_of_ms})  # fmt: skip
        return out

    def account_event(self, ev: Mapping[str, Any]) -> AccountUpdate:
        """An ``outboundAccountPosition`` as an ``ACCOUNT_UPDATE``: the balances (wallet = free +
        locked) and the positions they imply."""
        totals = {b["a"]: Decimal(str(b["f"])) + Decimal(str(b["l"])) for b in ev["B"]}
        ms = ev.get("u") or ev["E"]
        positions = [
            {"s": r["symbol"], "pa": r["positionAmt"], "ep": r["entryPrice"], "ps": "BOTH"}
            for r in self.rows(totals, ms)
        ]
        balances = [{"a": a, "wb": str(v)} for a, v in totals.items()]
        payload = {
            "e": "ACCOUNT_UPDATE",
            "E": ev["E"],
            "T": ms,
            "a": {"m": "ORDER", "B": balances, "P": positions},
        }
        return msgspec.convert(payload, AccountUpdate, strict=False)


def wallet_of(account: Any) -> dict[str, tuple[Decimal, Decimal]]:
    """(free, locked) per asset of a ``GET /api/v3/account`` answer; a malformed one is refused
    whole with a :class:`BinanceError` naming what is wrong (the caller logs it and keeps running)."""
    if not isinstance(account, dict) or not isinstance(account.get("balances"), list):
        raise BinanceError(f"account: expected balances, got {str(account)[:120]}")
    try:
        out = {str(b["asset"]): (Decimal(b["free"]), Decimal(b["locked"])) for b in account["balances"]}
    except (KeyError, TypeError, InvalidOperation) as exc:
        raise BinanceError(f"account: a malformed balance: {exc!r}") from exc
    bad = [a for a, (free, locked) in out.items() if not (free.is_finite() and locked.is_finite())]
    if bad:
        raise BinanceError(f"account: a balance that is not a finite number: {bad}")
    return out


def balances_of(account: Any) -> dict[str, Decimal]:
    """Free + locked per asset of a ``GET /api/v3/account`` answer."""
    return {a: free + locked for a, (free, locked) in wallet_of(account).items()}


class SpotVenue:
    """Order and account calls for one account's spot wallet (the gateway's ``VenuePort``)."""

    def __init__(self, rest: RestClient, ws: WsApiClient | None, inventory: Inventory) -> None:
        self.rest = rest
        self.ws = ws
        self.inventory = inventory
        self.ws_fallbacks = 0

    async def _call(self, method: str, rest_method: str, path: str, params: dict[str, Any], orders: int,
                    weight: int) -> Any:  # fmt: skip
        try:
            return await order_call(self, method, rest_method, path, params, orders, weight)
        except BinanceError as exc:
            raise futures_error(exc) from None

    async def place(self, params: dict[str, Any]) -> Any:
        p = spot_order_params(params)
        return futures_order(await self._call("order.place", "POST", "/api/v3/order", p, 1, 1))

    async def modify(self, params: dict[str, Any]) -> Any:
        raise BinanceError("spot has no order modify: the spot gateway runs with amend = false")

    async def cancel(self, symbol: str, client_id: str) -> Any:
        p = {"symbol": symbol, "origClientOrderId": client_id}
        return futures_order(await self._call("order.cancel", "DELETE", "/api/v3/order", p, 0, 1))

    async def status(self, symbol: str, client_id: str) -> Any:
        p = {"symbol": symbol, "origClientOrderId": client_id}
        return futures_order(await self._call("order.status", "GET", "/api/v3/order", p, 0, 4))

    async def place_batch(self, orders: list[dict[str, Any]]) -> list[Any]:
        """Spot has no batch: each order is its own request, answered on its own (an item is the
        order or ``{"code", "msg"}``; an unknown outcome raises, as a batch's would)."""
        return await asyncio.gather(*(self._item(self.place(o)) for o in orders))

    async def cancel_batch(self, symbol: str, client_ids: list[str]) -> list[Any]:
        return await asyncio.gather(*(self._item(self.cancel(symbol, c)) for c in client_ids))

    @staticmethod
    async def _item(call: Any) -> Any:
        try:
            return await call
        except BinanceError as exc:
            if not exc.code or isinstance(exc, TransportError):
                raise
            return {"code": exc.code, "msg": exc.msg}

    async def cancel_all(self, symbol: str) -> Any:
        """``DELETE /api/v3/openOrders``; Binance answers -2011 when nothing is open: that is done too."""
        try:
            return await self.rest.request("DELETE", "/api/v3/openOrders", {"symbol": symbol}, weight=1,
                                           signed=True, urgent=True)  # fmt: skip
        except UnknownOrder:
            return []

    countdown = None
    """Spot has no ``countdownCancelAll``."""

    async def open_orders(self, symbol: str, urgent: bool = False) -> list[dict[str, Any]]:
        rows = await self.rest.request("GET", "/api/v3/openOrders", {"symbol": symbol}, weight=6,
                                       signed=True, urgent=urgent)  # fmt: skip
        if not isinstance(rows, list):
            raise BinanceError(f"openOrders: expected a list, got {type(rows).__name__}")
        return [futures_order(o) for o in rows]

    async def spot_account(self) -> dict[str, Any]:
        res: dict[str, Any] = await self.rest.request("GET", "/api/v3/account", {"omitZeroBalances": "true"},
                                                      weight=20, signed=True)  # fmt: skip
        return res

    async def positions(self) -> list[dict[str, Any]]:
        asked = self.rest.now_ms()
        return self.inventory.rows(balances_of(await self.spot_account()), asked)

    async def account(self) -> dict[str, Any]:
        """The wallet as ``/fapi/v3/account``'s ``assets`` (wallet = free + locked; no margin)."""
        assets = [
            {"asset": a, "walletBalance": str(free + locked), "availableBalance": str(free),
             "marginBalance": str(free + locked)}
            for a, (free, locked) in wallet_of(await self.spot_account()).items()
        ]  # fmt: skip
        return {"assets": assets}

    async def user_trades(
        self, symbol: str, from_id: int | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        page = trade_page(symbol, from_id, limit)
        rows = await self.rest.request("GET", "/api/v3/myTrades", page, weight=20, signed=True)
        if not isinstance(rows, list):
            raise BinanceError(f"myTrades: expected a list, got {type(rows).__name__}")
        return [user_trade(r) for r in rows]

    async def book_ticker(self, symbol: str) -> dict[str, Any]:
        res: dict[str, Any] = await self.rest.request("GET", "/api/v3/ticker/bookTicker", {"symbol": symbol},
                                                      weight=2)  # fmt: skip
        return res

    async def set_leverage(self, symbol: str, leverage: int) -> Any:
        raise BinanceError("spot has no leverage")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.rest.close()


class SpotUserStream:
    """The account's spot events over the WebSocket API (spot has no listenKey since 2026-02-20):
    connect, ``userDataStream.subscribe.signature``, then every ``{"subscriptionId", "event"}``
    frame is translated and handed on. Every (re)connect is a gap (``on_gap``), as on futures."""

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        rest: RestClient,
        inventory: Inventory,
        on_event: Callable[[UserEvent, int], None],
        on_gap: Callable[[], None],
        on_bad: Callable[[str], None],
        idle_s: float = 600.0,
    ) -> None:
        self.url, self._key, self._secret = url, api_key, api_secret
        self.rest, self.inventory = rest, inventory
        self.on_event, self.on_gap, self.on_bad = on_event, on_gap, on_bad
        self.idle_s = idle_s
        self.connected = False
        self.reconnects = 0
        self._ids = itertools.count(1)

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                async with websockets.connect(self.url, ping_interval=None, open_timeout=10, close_timeout=1,
                                              max_size=1 << 22) as ws:  # fmt: skip
                    await self._subscribe(ws)
                    self.connected = True
                    backoff = 0.2
                    log.info("user_stream_connected", market="spot")
                    self.on_gap()
                    while True:
                        self._frame(await self._recv(ws), time.time_ns())
            except (BinanceError, OSError, TimeoutError, websockets.WebSocketException) as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # stopping: a close that failed while cancelled must not start a reconnect
                log.warning(
                    "user_stream_down", market="spot", error=str(exc)[:200], retry_s=round(backoff, 2)
                )
            self.connected = False
            self.reconnects += 1
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, 10.0)

    async def _recv(self, ws: Any, timeout_s: float = 0.0) -> str | bytes:
        """The next frame; TimeoutError after ``idle_s`` of silence. The receive runs as a task of
        its own, canceled on the way out: a stop never waits on a frame (``wait_for`` around
        ``recv`` could swallow the cancel and hang the stop)."""
        recv = asyncio.ensure_future(ws.recv())
        try:
            done, _ = await asyncio.wait({recv}, timeout=timeout_s or self.idle_s)
        finally:
            if not recv.done():
                recv.cancel()
        if not done:
            raise TimeoutError(f"no frame for {timeout_s or self.idle_s:g} s")
        raw: str | bytes = recv.result()
        return raw

    async def _subscribe(self, ws: Any) -> None:
        p: dict[str, Any] = {"apiKey": self._key, "timestamp": self.rest.now_ms()}
        p["signature"] = hmac_hex(self._secret, ws_api_payload(p))
        rid = str(next(self._ids))
        await ws.send(json.dumps({"id": rid, "method": "userDataStream.subscribe.signature", "params": p}))
        while True:
            answer = json.loads(await self._recv(ws, 10.0))
            if isinstance(answer, dict) and str(answer.get("id")) == rid:
                break
        if answer.get("status") != 200:
            err = answer.get("error")
            err = err if isinstance(err, dict) else {}
            code = err.get("code")
            code = code if isinstance(code, int) else 0
            raise classify(int(answer.get("status") or 0), code, str(err.get("msg", "")))

    def _frame(self, raw: str | bytes, recv_ns: int) -> None:
        try:
            msg = json.loads(raw)
            ev = msg.get("event") if isinstance(msg, dict) else None
            if not isinstance(ev, dict):
                return  # an answer, or a frame that carries no event
            kind = ev.get("e")
            if kind == "executionReport":
                self.on_event(order_event(ev), recv_ns)
            elif kind == "outboundAccountPosition":
                self.on_event(self.inventory.account_event(ev), recv_ns)
            elif kind == "eventStreamTerminated":
                raise websockets.ConnectionClosedError(None, None)
        except (ValueError, KeyError, TypeError, InvalidOperation, msgspec.ValidationError) as exc:
            self.on_bad(f"{type(exc).__name__} {exc}: {str(raw)[:200]}")
