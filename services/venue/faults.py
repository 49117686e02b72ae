"""Fault injection for chaos tests, switched at run time through ``/_admin/fault`` (loopback only).

Each fault is a field here; the REST, WS and stream code consult it. Faults that count down
(``unknown_503``, ``reject_1008``, ``gap``) fire that many times; timed ones last until a deadline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Faults:
    delay_ms: int = 0  # added to every REST and WS-API answer
    storm_429_until_ms: int = 0  # every REST request answered 429 until then
    clock_skew_ms: int = 0  # the venue's clock runs this far ahead (negative: behind)
    unknown_503: int = 0  # next N new orders are placed, then answered 503 "unknown"
    reject_1008: int = 0  # next N new orders are refused with -1008 (system throttled)
    stall_until_ms: dict[str, int] = field(default_factory=dict)  # symbol -> depth/bookTicker silent until
    malformed: int = 0  # next N market-stream messages are sent as broken JSON payloads
    gap: dict[tuple[str, str], int] = field(default_factory=dict)  # (symbol, stream) -> events to drop

    def apply(self, spec: dict[str, Any], now_ms: int) -> list[str]:
        """Switch faults on from an admin request; returns what was set, for the answer."""
        done = []
        if "clock_skew_ms" in spec:  # first: the deadlines below are on the skewed clock
            skew = int(spec["clock_skew_ms"])
            now_ms += skew - self.clock_skew_ms
            self.clock_skew_ms = skew
            done.append(f"clock_skew_ms={skew}")
        if "delay_ms" in spec:
            self.delay_ms = int(spec["delay_ms"])
            done.append(f"delay_ms={self.delay_ms}")
        if "storm_429_s" in spec:
            self.storm_429_until_ms = now_ms + int(float(spec["storm_429_s"]) * 1000)
            done.append("storm_429")
        for name in ("unknown_503", "reject_1008", "malformed"):
            if name in spec:
                setattr(self, name, int(spec[name]))
                done.append(f"{name}={spec[name]}")
        sym = str(spec.get("symbol", ""))
        if "stall_s" in spec:
            self.stall_until_ms[sym] = now_ms + int(float(spec["stall_s"]) * 1000)
            done.append(f"stall {sym}")
        if "gap" in spec:
            for stream in ("depth@0ms", "depth@100ms", "depth", "depth@500ms"):
                self.gap[(sym, stream)] = int(spec["gap"])
            done.append(f"gap {sym}")
        return done

    def stalled(self, symbol: str, now_ms: int) -> bool:
        return self.stall_until_ms.get(symbol, 0) > now_ms

    def take_gap(self, symbol: str, stream: str) -> bool:
        """True if this event of ``stream`` must be dropped (each depth stream loses its own)."""
        n = self.gap.get((symbol, stream), 0)
        if n > 0:
            self.gap[(symbol, stream)] = n - 1
            return True
        return False

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]
