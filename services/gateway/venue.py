"""The gateway's only door to the venue: order calls over the WS-API with REST as fallback.

``order_path = "ws_api"`` sends place, modify, cancel and status over the WebSocket API (lower
latency); if that connection is down, the same call goes over REST. Batches, cancel-all, the
dead-man's switch and account queries are REST only (the WS-API has none). Every method returns
the venue's JSON or raises the :mod:`common.binance.errors` tree unchanged.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from common.binance.errors import TransportError
from common.binance.rest import RestClient
from common.binance.ws_api import WsApiClient
from common.logging import log


class Clock(Protocol):
    """What the order path needs of the venue connection besides its calls."""

    def now_ms(self) -> int:
        """The venue's clock as we estimate it."""
        ...

    def blocked_for_s(self) -> float:
        """Seconds until sending may resume after a 429/418 (0 = not stopped)."""
        ...


class VenuePort(Protocol):
    """The calls the OMS's executor, sync, reducer and kill sweep make: :class:`Venue` over the
    network, or the simulated exchange in process (:mod:`services.venue.inprocess`)."""

    @property
    def rest(self) -> Clock: ...

    async def place(self, params: dict[str, Any]) -> Any: ...
    async def modify(self, params: dict[str, Any]) -> Any: ...
    async def cancel(self, symbol: str, client_id: str) -> Any: ...
    async def status(self, symbol: str, client_id: str) -> Any: ...
    async def place_batch(self, orders: list[dict[str, Any]]) -> list[Any]: ...
    async def cancel_batch(self, symbol: str, client_ids: list[str]) -> list[Any]: ...
    async def cancel_all(self, symbol: str) -> Any: ...
    async def open_orders(self, symbol: str, urgent: bool = False) -> list[dict[str, Any]]: ...
    async def positions(self) -> list[dict[str, Any]]: ...
    async def user_trades(
        self, symbol: str, from_id: int | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]: ...
    async def book_ticker(self, symbol: str) -> dict[str, Any]: ...


class _OrderPath(Protocol):
    rest: RestClient
    ws: WsApiClient | None
    ws_fallbacks: int


async def order_call(
    v: _OrderPath, method: str, rest_method: str, path: str, params: dict[str, Any], orders: int, weight: int
) -> Any:
    """One order call over the WS-API, or over REST (``path``, ``weight``) while the WS-API is down.
    A place or modify the WS-API may have delivered is never sent again: the caller must resolve it."""
    if v.ws is not None:
        try:
            return await v.ws.call(method, params)
        except TransportError:
            if v.ws.connected or method in ("order.place", "order.modify"):
                raise  # the request may have reached the venue: the caller must resolve it
            v.ws_fallbacks += 1
            log.warning("ws_api_down_rest_fallback", method=method)
    urgent = rest_method == "DELETE"  # a cancel takes risk off: it may use the reserve
    return await v.rest.request(
        rest_method, path, params, weight=weight, signed=True, orders=orders, urgent=urgent
    )


def trade_page(symbol: str, from_id: int | None, limit: int) -> dict[str, Any]:
    """The parameters of one page of the account's trades (``userTrades``, spot's ``myTrades``)."""
    params: dict[str, Any] = {"symbol": symbol, "limit": limit}
    if from_id is not None:
        params["fromId"] = from_id
    return params


class Venue:
    """Order and account calls for one account."""

    def __init__(self, rest: RestClient, ws: WsApiClient | None) -> None:
        self.rest = rest
        self.ws = ws
        self.ws_fallbacks = 0

    async def _order_call(self, method: str, rest_method: str, params: dict[str, Any], orders: int) -> Any:
        weight = 0 if orders else 1
        return await order_call(self, method, rest_method, "/fapi/v1/order", params, orders, weight)

    async def place(self, params: dict[str, Any]) -> Any:
        return await self._order_call("order.place", "POST", params, orders=1)

    async def modify(self, params: dict[str, Any]) -> Any:
        return await self._order_call("order.modify", "PUT", params, orders=1)

    async def cancel(self, symbol: str, client_id: str) -> Any:
        return await self._order_call(
            "order.cancel", "DELETE", {"symbol": symbol, "origClientOrderId": client_id}, 0
        )

    async def status(self, symbol: str, client_id: str) -> Any:
        """The order by client id (``UnknownOrder`` if the venue never had it)."""
        return await self._order_call(
            "order.status", "GET", {"symbol": symbol, "origClientOrderId": client_id}, 0
        )

    async def place_batch(self, orders: list[dict[str, Any]]) -> list[Any]:
        """Up to 5 orders; per-item results (order objects or ``{"code","msg"}``)."""
        items = json.dumps(orders, separators=(",", ":"))
        res: list[Any] = await self.rest.request(
            "POST", "/fapi/v1/batchOrders", {"batchOrders": items}, weight=5, signed=True, orders=5
        )
        return res

    async def cancel_batch(self, symbol: str, client_ids: list[str]) -> list[Any]:
        """Up to 10 client ids; per-item results."""
        ids = json.dumps(client_ids, separators=(",", ":"))
        res: list[Any] = await self.rest.request(
            "DELETE",
            "/fapi/v1/batchOrders",
            {"symbol": symbol, "origClientOrderIdList": ids},
            weight=1,
            signed=True,
            urgent=True,
        )
        return res

    async def cancel_all(self, symbol: str) -> Any:
        return await self.rest.request(
            "DELETE", "/fapi/v1/allOpenOrders", {"symbol": symbol}, weight=1, signed=True, urgent=True
        )

    async def countdown(self, symbol: str, ms: int) -> Any:
        return await self.rest.request(
            "POST",
            "/fapi/v1/countdownCancelAll",
            {"symbol": symbol, "countdownTime": ms},
            weight=10,
            signed=True,
            urgent=True,
        )

    async def open_orders(self, symbol: str, urgent: bool = False) -> list[dict[str, Any]]:
        res: list[dict[str, Any]] = await self.rest.request(
            "GET", "/fapi/v1/openOrders", {"symbol": symbol}, weight=1, signed=True, urgent=urgent
        )
        return res

    async def positions(self) -> list[dict[str, Any]]:
        res: list[dict[str, Any]] = await self.rest.request(
            "GET", "/fapi/v3/positionRisk", weight=5, signed=True
        )
        return res

    async def account(self) -> dict[str, Any]:
        res: dict[str, Any] = await self.rest.request("GET", "/fapi/v3/account", weight=5, signed=True)
        return res

    async def user_trades(
        self, symbol: str, from_id: int | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        res: list[dict[str, Any]] = await self.rest.request(
            "GET", "/fapi/v1/userTrades", trade_page(symbol, from_id, limit), weight=5, signed=True
        )
        return res

    async def book_ticker(self, symbol: str) -> dict[str, Any]:
        res: dict[str, Any] = await self.rest.request(
            "GET", "/fapi/v1/ticker/bookTicker", {"symbol": symbol}, weight=2
        )
        return res

    async def set_leverage(self, symbol: str, leverage: int) -> Any:
        return await self.rest.request(
            "POST", "/fapi/v1/leverage", {"symbol": symbol, "leverage": leverage}, weight=1, signed=True
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.rest.close()
