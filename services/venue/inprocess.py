"""The simulated venue behind the gateway's venue interface, in process, with no network.

:class:`InProcessVenue` answers the calls of :class:`services.gateway.venue.VenuePort` for one
account by running the venue's own REST handlers (:data:`services.venue.rest.ROUTES`) on a
:class:`~services.venue.state.VenueState`, with Binance's parameters as strings and its answers as
decoded JSON, and raises the :mod:`common.binance.errors` tree for what the venue refuses, exactly
as the network client would. Each account's user-data events are handed to its ``on_user`` as the
JSON bytes the user stream would carry, whichever account's call produced them (a taker of one
account fills a maker of another). The backtester drives the gateway's code through it; the
gateway's property test adds faults around it.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable
from typing import Any

import msgspec

from common.binance.errors import classify
from services.venue.errors import VenueError
from services.venue.exchange import UserEvent
from services.venue.rest import ROUTES
from services.venue.state import VenueState

_LISTENERS: weakref.WeakKeyDictionary[VenueState, dict[str, Callable[[bytes], None]]] = (
    weakref.WeakKeyDictionary()
)
"""Per venue state: each account's user-event callback."""


class _Clock:
    """The venue's clock, and no rate-limit stop (nothing is counted in process)."""

    def __init__(self, state: VenueState) -> None:
        self._state = state

    def now_ms(self) -> int:
        return self._state.now_ms()

    def blocked_for_s(self) -> float:
        return 0.0


def wire(value: Any) -> str:
    """A parameter as it travels in a query string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class InProcessVenue:
    """One account's view of an in-process venue (see the module docstring)."""

    def __init__(self, state: VenueState, account: str, on_user: Callable[[bytes], None]) -> None:
        self.state = state
        self.account = state.exchange.accounts[account]
        self.on_user = on_user
        self._rest = _Clock(state)
        _LISTENERS.setdefault(state, {})[account] = self._user

    def _user(self, payload: bytes) -> None:
        self.on_user(payload)

    @property
    def rest(self) -> _Clock:
        return self._rest

    def call(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """One REST call: the handler's answer as decoded JSON, or the error tree's exception."""
        ep = ROUTES[(method, path)]
        p = {k: wire(v) for k, v in (params or {}).items() if v is not None}
        try:
            result = ep.handler(self.state, self.account, p)
        except VenueError as e:
            raise classify(e.status, e.code, e.msg, now_ms=self.state.now_ms()) from None
        finally:
            self.deliver()
        return msgspec.json.decode(msgspec.json.encode(result))

    def deliver(self) -> None:
        """Hand every account's user-data events to its listener; market events are dropped."""
        listeners = _LISTENERS.get(self.state, {})
        for ev in self.state.exchange.drain():
            if isinstance(ev, UserEvent) and ev.account in listeners:
                listeners[ev.account](msgspec.json.encode(ev.payload))

    # ---- the VenuePort calls ------------------------------------------------------------------

    async def place(self, params: dict[str, Any]) -> Any:
        return self.call("POST", "/fapi/v1/order", params)

    async def modify(self, params: dict[str, Any]) -> Any:
        return self.call("PUT", "/fapi/v1/order", params)

    async def cancel(self, symbol: str, client_id: str) -> Any:
        return self.call("DELETE", "/fapi/v1/order", {"symbol": symbol, "origClientOrderId": client_id})

    async def status(self, symbol: str, client_id: str) -> Any:
        return self.call("GET", "/fapi/v1/order", {"symbol": symbol, "origClientOrderId": client_id})

    async def place_batch(self, orders: list[dict[str, Any]]) -> list[Any]:
        items = json.dumps([{k: wire(v) for k, v in o.items()} for o in orders], separators=(",", ":"))
        res: list[Any] = self.call("POST", "/fapi/v1/batchOrders", {"batchOrders": items})
        return res

    async def cancel_batch(self, symbol: str, client_ids: list[str]) -> list[Any]:
        ids = json.dumps(client_ids, separators=(",", ":"))
        res: list[Any] = self.call(
            "DELETE", "/fapi/v1/batchOrders", {"symbol": symbol, "origClientOrderIdList": ids}
        )
        return res

    async def cancel_all(self, symbol: str) -> Any:
        return self.call("DELETE", "/fapi/v1/allOpenOrders", {"symbol": symbol})

    async def countdown(self, symbol: str, ms: int) -> Any:
        return self.call("POST", "/fapi/v1/countdownCancelAll", {"symbol": symbol, "countdownTime": ms})

    async def open_orders(self, symbol: str, urgent: bool = False) -> list[dict[str, Any]]:
        res: list[dict[str, Any]] = self.call("GET", "/fapi/v1/openOrders", {"symbol": symbol})
        return res

    async def positions(self) -> list[dict[str, Any]]:
        res: list[dict[str, Any]] = self.call("GET", "/fapi/v3/positionRisk")
        return res

    async def account_info(self) -> dict[str, Any]:
        res: dict[str, Any] = self.call("GET", "/fapi/v3/account")
        return res

    async def user_trades(
        self, symbol: str, from_id: int | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        res: list[dict[str, Any]] = self.call(
            "GET", "/fapi/v1/userTrades", {"symbol": symbol, "limit": limit, "fromId": from_id}
        )
        return res

    async def book_ticker(self, symbol: str) -> dict[str, Any]:
        res: dict[str, Any] = self.call("GET", "/fapi/v1/ticker/bookTicker", {"symbol": symbol})
        return res

    async def set_leverage(self, symbol: str, leverage: int) -> Any:
        return self.call("POST", "/fapi/v1/leverage", {"symbol": symbol, "leverage": leverage})

    async def close(self) -> None:
        return None
