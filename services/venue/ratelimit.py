"""Binance's rate limits, as the venue enforces them.

* REQUEST_WEIGHT per IP in fixed one-minute windows (``X-MBX-USED-WEIGHT-1M``);
* ORDERS per account in fixed 10-second and one-minute windows (``X-MBX-ORDER-COUNT-10S/-1M``) on
  USDⓈ-M; on spot (its own limiter: another host, its own counts) 10-second and one-day windows
  (``X-MBX-ORDER-COUNT-10S/-1D``).

A request over a limit is answered 429 (-1003 weight, -1015 orders) with ``Retry-After``. A
client that keeps sending while told to back off is banned: 418 (-1003 "IP banned until ...")
for a ban that doubles with each offence, from ``ban_base_s`` up to ``ban_max_s`` (Binance: 2
minutes to 3 days). The ``ban_418`` fault bans through :meth:`RateLimiter.ban`, optionally
without ``Retry-After``. WS-API error frames carry ``data.retryAfter`` (epoch ms) for all three.
Pure: the caller passes the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.venue.errors import VenueError


@dataclass(slots=True)
class _Window:
    length_ms: int
    start: int = 0
    count: int = 0

    def roll(self, now: int) -> None:
        start = now - now % self.length_ms
        if start != self.start:
            self.start, self.count = start, 0

    def retry_after_s(self, now: int) -> int:
        return max(1, (self.start + self.length_ms - now + 999) // 1000)


@dataclass(slots=True)
class _IpState:
    weight: _Window = field(default_factory=lambda: _Window(60_000))
    backoff_until: int = 0
    violations: int = 0
    banned_until: int = 0
    bans: int = 0
    ip: str = ""
    ban_retry_after: bool = True  # False: the ban's 418 goes without Retry-After (the ``ban_418`` fault)


@dataclass(slots=True)
class _AccountState:
    ten_s: _Window = field(default_factory=lambda: _Window(10_000))
    minute: _Window = field(default_factory=lambda: _Window(60_000))
    """The long ORDERS window: one minute on USDⓈ-M, one day on spot."""


LONG_WINDOWS = {"1M": (60_000, "1 MINUTE", "MINUTE"), "1D": (86_400_000, "1 DAY", "DAY")}
"""The long ORDERS window by header suffix: its length, how a -1015 names it, its interval."""


class RateLimiter:
    """Counts weight per IP and orders per account; raises the error Binance would send."""

    def __init__(
        self,
        weight_per_minute: int,
        orders_per_10s: int,
        orders_per_minute: int,
        ban_after_violations: int,
        ban_base_s: float,
        ban_max_s: float,
        long_window: str = "1M",
    ) -> None:
        self.weight_limit = weight_per_minute
        self.orders_10s = orders_per_10s
        self.orders_1m = orders_per_minute
        """The long window's limit (per minute on USDⓈ-M, per day on spot: ``long_window``)."""
        self.long = long_window
        self.long_ms, self.long_label, self.long_interval = LONG_WINDOWS[long_window]
        self.ban_after = ban_after_violations
        self.ban_base_ms = int(ban_base_s * 1000)
        self.ban_max_ms = int(ban_max_s * 1000)
        self.ips: dict[str, _IpState] = {}
        self.accounts: dict[str, _AccountState] = {}

    def _ip(self, ip: str) -> _IpState:
        st = self.ips.get(ip)
        if st is None:
            st = self.ips[ip] = _IpState(ip=ip)
        return st

    def check_ban(self, ip: str, now: int) -> None:
        """Raise the 418 of a banned ``ip`` (requests that cost no weight are refused too)."""
        st = self.ips.get(ip)
        if st is not None and now < st.banned_until:
            raise self._banned(st, now)

    def ban(self, ip: str, until_ms: int, retry_after: bool) -> None:
        """Ban ``ip`` until ``until_ms`` (an operator's ban: it does not count as an offence)."""
        st = self._ip(ip)
        st.banned_until, st.ban_retry_after = until_ms, retry_after

    def unban(self, ip: str) -> None:
        st = self.ips.get(ip)
        if st is not None:
            st.banned_until, st.ban_retry_after = 0, True

    def admit(self, ip: str, weight: int, now: int) -> None:
        """Charge ``weight`` to ``ip``; raises 418 during a ban, 429 over the limit."""
        st = self._ip(ip)
        if now < st.banned_until:
            raise self._banned(st, now)
        st.weight.roll(now)
        if now < st.backoff_until or st.weight.count + weight > self.weight_limit:
            self._violation(st, now)
            retry = st.weight.retry_after_s(now)
            st.backoff_until = max(st.backoff_until, st.weight.start + st.weight.length_ms)
            raise VenueError(
                -1003,
                f"Too many requests; current limit of IP is {self.weight_limit} requests per minute. "
                "Please use the websocket for live updates to avoid polling the API.",
                429,
                {"Retry-After": str(retry)},
                {"serverTime": now, "retryAfter": now + retry * 1000},
            )
        st.weight.count += weight

    def _violation(self, st: _IpState, now: int) -> None:
        st.violations += 1
        if st.violations > self.ban_after:
            st.bans += 1
            ban = min(self.ban_max_ms, self.ban_base_ms * 2 ** (st.bans - 1))
            st.banned_until = now + ban
            st.ban_retry_after = True
            st.violations = 0
            st.backoff_until = 0
            raise self._banned(st, now)

    def _banned(self, st: _IpState, now: int) -> VenueError:
        """Binance's 418; the WS-API frame carries the ban's end as ``error.data.retryAfter``."""
        retry = max(1, (st.banned_until - now + 999) // 1000)
        return VenueError(
            -1003,
            f"Way too many requests; IP({st.ip}) banned until {st.banned_until}. "
            "Please use the websocket for live updates to avoid bans.",
            418,
            {"Retry-After": str(retry)} if st.ban_retry_after else {},
            {"serverTime": now, "retryAfter": st.banned_until},
        )

    def count_orders(self, account: str, n: int, now: int, ip: str = "") -> None:
        """Charge ``n`` order units (10 s) and one (1 min) per request; raises -1015 on breach."""
        a = self.accounts.get(account)
        if a is None:
            a = self.accounts[account] = _AccountState(minute=_Window(self.long_ms))
        a.ten_s.roll(now)
        a.minute.roll(now)
        for w, limit, label, cost in (
            (a.ten_s, self.orders_10s, "10 SECONDS", n),
            (a.minute, self.orders_1m, self.long_label, 1),
        ):
            if w.count + cost > limit:
                if ip:
                    st = self._ip(ip)
                    self._violation(st, now)
                    st.backoff_until = max(st.backoff_until, w.start + w.length_ms)
                raise VenueError(
                    -1015,
                    f"Too many new orders; current limit is {limit} orders per {label}.",
                    429,
                    {"Retry-After": str(w.retry_after_s(now))},
                    {"serverTime": now, "retryAfter": now + w.retry_after_s(now) * 1000},
                )
        a.ten_s.count += n
        a.minute.count += 1

    def headers(self, ip: str, account: str | None, now: int) -> dict[str, str]:
        st = self._ip(ip)
        st.weight.roll(now)
        h = {"X-MBX-USED-WEIGHT-1M": str(st.weight.count)}
        a = self.accounts.get(account or "")
        if a is not None:
            a.ten_s.roll(now)
            a.minute.roll(now)
            h["X-MBX-ORDER-COUNT-10S"] = str(a.ten_s.count)
            h[f"X-MBX-ORDER-COUNT-{self.long}"] = str(a.minute.count)
        return h

    def rate_limits(self, ip: str, account: str | None, now: int) -> list[dict[str, object]]:
        """The WS-API's ``rateLimits``: each limit with what this IP and account used of it."""
        h = self.headers(ip, account, now)
        weight, long_, short = self.limits_json()
        out = [{**weight, "count": int(h["X-MBX-USED-WEIGHT-1M"])}]
        if "X-MBX-ORDER-COUNT-10S" in h:
            out.append({**short, "count": int(h["X-MBX-ORDER-COUNT-10S"])})
            out.append({**long_, "count": int(h[f"X-MBX-ORDER-COUNT-{self.long}"])})
        return out

    def limits_json(self) -> list[dict[str, object]]:
        return [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.weight_limit,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": self.long_interval,
                "intervalNum": 1,
                "limit": self.orders_1m,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": self.orders_10s},
        ]
