"""Binance error payloads: ``{"code": -xxxx, "msg": ...}`` with the HTTP status Binance uses."""

from __future__ import annotations


class VenueError(Exception):
    """An error answered to the client; ``status`` is the HTTP status."""

    def __init__(
        self,
        code: int,
        msg: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
        data: dict[str, int] | None = None,
    ) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}
        self.data = data  # WS-API only: ``error.data`` (serverTime, retryAfter of a 429/418)

    def payload(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}

    def ws_payload(self) -> dict[str, object]:
        """The WS-API ``error`` object: the REST payload plus ``data`` when there is some."""
        return {**self.payload(), "data": self.data} if self.data else self.payload()


def missing(name: str) -> VenueError:
    return VenueError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def bad_param(name: str, value: str) -> VenueError:
    return VenueError(-1130, f"Data sent for parameter '{name}' is not valid.")


INVALID_SYMBOL = (-1121, "Invalid symbol.")
UNKNOWN_ORDER = (-2011, "Unknown order sent.")
NO_SUCH_ORDER = (-2013, "Order does not exist.")
GTX_REJECT = (
    -5022,
    "Due to the order could not be executed as maker, the Post Only order will be rejected. "
    "The order will not be recorded in the order history",
)
FOK_REJECT = (-5021, "Due to the order could not be filled immediately, the FOK order has been rejected.")
REDUCE_ONLY_REJECT = (-2022, "ReduceOnly Order is rejected.")
MARGIN_INSUFFICIENT = (-2019, "Margin is insufficient.")
MAX_OPEN_ORDERS = (-2025, "Reach max open order limit.")
DUPLICATE_CLIENT_ID = (-4116, "ClientOrderId is duplicated.")
BAD_CLIENT_ID = (-4015, "Client order id is not valid.")
NO_NEED_TO_MODIFY = (-5027, "No need to modify the order.")
LISTEN_KEY_MISSING = (-1125, "This listenKey does not exist.")
UNKNOWN_503 = "Unknown error, please check your request or try again later."
BAD_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")


def err(pair: tuple[int, str], status: int = 400) -> VenueError:
    return VenueError(pair[0], pair[1], status)
