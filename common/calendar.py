"""Calendar rules (seed 002 §7.3, funding times): parameters and the quoted symbol set by weekday and
time of day, UTC.

A rule is active on its ``days`` between ``start`` and ``end`` (``"HH:MM"``; an ``end`` before the
``start`` runs past midnight), or, with ``around_funding_min``, within that many minutes of each
funding time (00:00, 08:00, 16:00 UTC). An active rule's ``set`` (dotted keys, e.g.
``"strategy.symbols.ETHUSDC.asmm.minEdge" = 0.0001``) and its ``symbols`` (the symbols quoted while
it is active: every other configured symbol gets ``quote = false``) form one more configuration
layer, above the files and below the environment; later rules win over earlier ones.

Every service computes the layer when it loads its configuration (:mod:`common.config`); the
recorder checks the set of active rules every ``check_interval_s`` and, when it changes, sends
``ReloadConfig`` to the services ``mmctl reload`` reaches, so a change goes through the same
validated reload path and is recorded like any command. Pure functions of the rules and the clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FUNDING_HOURS = (0, 8, 16)


def minutes(hhmm: str) -> int:
    """``"07:30"`` to 450; ``"24:00"`` is the end of the day (1440). ValueError otherwise."""
    try:
        h, m = hhmm.split(":")
        value = int(h) * 60 + int(m)
    except ValueError:
        raise ValueError(f"{hhmm!r} is not a time of day HH:MM") from None
    if not (0 <= int(m) < 60 and 0 <= value <= 1440):
        raise ValueError(f"{hhmm!r} is not a time of day HH:MM (00:00 to 24:00)")
    return value


def is_active(rule: Any, now: dt.datetime) -> bool:
    """Whether ``rule`` (a :class:`~common.config_sections.CalendarRule`) applies at ``now`` (UTC)."""
    now = now.astimezone(dt.UTC)
    if rule.around_funding_min > 0:
        t = now.hour * 60 + now.minute + now.second / 60
        near = (min(abs(t - h * 60), 1440 - abs(t - h * 60)) for h in FUNDING_HOURS)
        return min(near) <= rule.around_funding_min
    start, end = minutes(rule.start), minutes(rule.end)
    t = now.hour * 60 + now.minute
    days = set(rule.days) if rule.days else set(WEEKDAYS)
    today, yesterday = WEEKDAYS[now.weekday()], WEEKDAYS[(now.weekday() - 1) % 7]
    if start <= end:
        return today in days and start <= t < end
    # past midnight: the evening part belongs to today's day, the morning part to yesterday's
    return (today in days and t >= start) or (yesterday in days and t < end)


def active(rules: list[Any], now: dt.datetime) -> list[str]:
    """The names of the rules active at ``now``, in their order."""
    return [r.name for r in rules if is_active(r, now)]


def layer(rules: list[Any], configured_symbols: list[str], now: dt.datetime) -> dict[str, Any]:
    """The configuration layer of the rules active at ``now`` (nested, snake or camel keys)."""
    out: dict[str, Any] = {}
    for r in rules:
        if not is_active(r, now):
            continue
        if r.symbols:
            for sym in configured_symbols:
                _put(out, ["strategy", "symbols", sym, "quote"], sym in r.symbols)
        for dotted, value in r.set.items():
            _put(out, dotted.split("."), value)
    return out


def _put(d: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        d = d.setdefault(key, {})
    d[path[-1]] = value
