"""One exception tree for everything the Binance boundary can answer.

The split that matters for order state: :class:`OutcomeUnknown` means the request may have been
executed and must be resolved by a query, never by resending; every other :class:`BinanceError`
means it certainly was not. Binance's rule (reference A.3, "5xx semantics") is that a 5xx is *not*
a failure: its execution status is unknown. So every 5xx — a 503 "Unknown error", a 502/504 HTML
page from the edge, any text we do not recognise — is :class:`OutcomeUnknown`, except the answers
Binance documents as certain failures: "Service Unavailable.", "Internal error; unable to process
your request", and -1008 (system throttled). A 200 whose body does not decode says the request
arrived but not what it did: :class:`MalformedResponse`, also unknown.
"""

from __future__ import annotations

import re


class BinanceError(Exception):
    """Any error from the venue or the way to it."""

    def __init__(self, msg: str, code: int = 0, status: int = 0) -> None:
        super().__init__(f"{code} {msg}" if code else msg)
        self.code = code
        self.msg = msg
        self.status = status


class OutcomeUnknown(BinanceError):
    """The request may or may not have been executed: reconcile by query before anything else."""


class TransportError(OutcomeUnknown):
    """No answer (connection refused or reset, timeout): the venue may have acted."""


class MalformedResponse(OutcomeUnknown):
    """An answer whose body does not decode (a 200 with HTML or truncated JSON): the venue may
    have acted."""


class Rejected(BinanceError):
    """The venue answered and did nothing (any 4xx with a code)."""


class RateLimited(Rejected):
    """429 (-1003 weight, -1015 orders): back off for ``retry_after`` seconds (418: until the ban
    ends, from Retry-After, the "banned until <ms>" of the message, or the WS-API's retryAfter)."""

    def __init__(self, msg: str, code: int, status: int, retry_after: float) -> None:
        super().__init__(msg, code, status)
        self.retry_after = retry_after


class IpBanned(RateLimited):
    """418: every request is refused until the ban ends; sending more extends it."""


class LocalRateLimit(Rejected):
    """Refused before sending: the request would exceed a venue limit (or a ban is in force)."""

    def __init__(self, msg: str, wait_s: float) -> None:
        super().__init__(msg)
        self.wait_s = wait_s


class InvalidTimestamp(Rejected):
    """-1021: outside recvWindow or ahead of the server; the client resyncs its clock."""


class AuthError(Rejected):
    """-1022 bad signature, -2014/-2015 key problems: a configuration error, not transient."""


class Throttled(Rejected):
    """-1008 system-level protection: certain failure; back off and reduce concurrency."""


class ServiceUnavailable(Rejected):
    """5xx that is a certain failure ("Service Unavailable", internal error): safe to retry."""


class PostOnlyRejected(Rejected):
    """-5022: a GTX order would have taken liquidity; re-price on the next target."""


class ReduceOnlyRejected(Rejected):
    """-2022."""


class MarginInsufficient(Rejected):
    """-2019 / -2018."""


class UnknownOrder(Rejected):
    """-2011 (cancel) / -2013 (query): the order is not open or does not exist."""


class DuplicateClientId(Rejected):
    """-4116: a client order id already in use by an open order."""


class FilterRejected(Rejected):
    """Precision and filter failures (-1111, -1013, -4003 to -4024, -4164): a bug in our rounding."""


class ListenKeyInvalid(Rejected):
    """-1125: the listenKey expired or was deleted; POST a new one."""


_BY_CODE: dict[int, type[Rejected]] = {
    -1003: RateLimited,
    -1015: RateLimited,
    -1021: InvalidTimestamp,
    -1022: AuthError,
    -2014: AuthError,
    -2015: AuthError,
    -1008: Throttled,
    -5022: PostOnlyRejected,
    -2022: ReduceOnlyRejected,
    -2019: MarginInsufficient,
    -2018: MarginInsufficient,
    -2011: UnknownOrder,
    -2013: UnknownOrder,
    -4116: DuplicateClientId,
    -1125: ListenKeyInvalid,
    -1111: FilterRejected,
    -1013: FilterRejected,
    -4164: FilterRejected,
}
_UNKNOWN_CODES = (-1006, -1007)
_CERTAIN_5XX = ("service unavailable", "internal error; unable to process your request")
_BANNED_UNTIL = re.compile(r"banned until (\d{10,16})")
DEFAULT_BAN_S = 120.0


def ban_seconds(msg: str, now_ms: int) -> float | None:
    """Seconds until the ban named in a -1003 message ("IP(...) banned until 1700000000000") ends;
    None when the message names none (or the clock is unknown)."""
    m = _BANNED_UNTIL.search(msg)
    if m is None or not now_ms:
        return None
    return max(0.0, (int(m.group(1)) - now_ms) / 1000)


def classify(status: int, code: int, msg: str, retry_after: float = 0.0, now_ms: int = 0) -> BinanceError:
    """The exception for one error answer (HTTP status, Binance code, message).

    ``retry_after`` is the venue's own figure in seconds (Retry-After, WS-API retryAfter);
    ``now_ms`` the venue's clock, to read a ban-until time out of the message.
    """
    if code in _UNKNOWN_CODES:
        return OutcomeUnknown(msg, code, status)
    banned = ban_seconds(msg, now_ms)
    if status == 418 or banned is not None:
        wait = retry_after or (banned if banned is not None else DEFAULT_BAN_S)
        return IpBanned(msg, code, status, wait)
    if status == 429:
        return RateLimited(msg, code, status, retry_after or 1.0)
    if code == -1008:
        return Throttled(msg, code, status)
    if status >= 500 or status == 408:
        if any(p in msg.lower() for p in _CERTAIN_5XX):
            return ServiceUnavailable(msg, code, status)
        return OutcomeUnknown(msg or f"HTTP {status}", code, status)
    cls = _BY_CODE.get(code)
    if cls is None and -4024 <= code <= -4003:
        cls = FilterRejected
    if cls in (RateLimited, IpBanned):
        return RateLimited(msg, code, status, retry_after or 1.0)
    return (cls or Rejected)(msg, code, status)
