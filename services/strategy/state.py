"""The strategy's memory between two decisions, passed in and returned explicitly.

Every field a model needs from its past (pinning's fixed far-layer anchor, grinding's cooldown,
Phase 1's fill timer, the passive band's resting prices, the last published set) lives here, in
frozen msgspec Structs, so the engine stays a pure function and the service can snapshot the state
(``msgspec.msgpack.encode``) for a restart.
"""

from __future__ import annotations

import msgspec

from services.strategy.kpi import BandKpi
from services.strategy.legs import Leg
from services.strategy.markouts import MarkoutState


class MomentumState(msgspec.Struct, frozen=True, kw_only=True):
    """ASMM's EMA of the mid and when it was last updated."""

    ema: float = 0.0
    ts_ns: int = 0


class PinState(msgspec.Struct, frozen=True, kw_only=True):
    """Pinning: which side is pinned and the mid the fixed far layers hang from."""

    active: bool = False
    side: str = ""
    anchor: float = 0.0
    since_ns: int = 0


class GrindState(msgspec.Struct, frozen=True, kw_only=True):
    """Grinding: the last taker slice and the maker re-entry that follows it."""

    active: bool = False
    last_ns: int = 0
    side: str = ""
    reentry_price: float = 0.0
    reentry_size: float = 0.0


class Phase1State(msgspec.Struct, frozen=True, kw_only=True):
    """Phase 1: since when the position is off target, and when a taker close was last asked for."""

    off_since_ns: int = 0
    taker_sent_ns: int = 0


class BandState(msgspec.Struct, frozen=True, kw_only=True):
    """Passive band: the resting prices (ticks, inside out) kept while they stay in the band."""

    bids: tuple[int, ...] = ()
    asks: tuple[int, ...] = ()


class StrategyState(msgspec.Struct, frozen=True, kw_only=True):
    """One symbol's whole memory; ``StrategyState()`` is a valid cold start."""

    published: tuple[Leg, ...] = ()
    published_ns: int = 0
    published_mode: str = ""
    spent: tuple[tuple[int, int], ...] = ()
    """Order actions the publications of the last minute cost: (when, how many)."""
    momentum: MomentumState = msgspec.field(default_factory=MomentumState)
    pin: PinState = msgspec.field(default_factory=PinState)
    grind: GrindState = msgspec.field(default_factory=GrindState)
    phase1: Phase1State = msgspec.field(default_factory=Phase1State)
    band: BandState = msgspec.field(default_factory=BandState)
    kpi: BandKpi = msgspec.field(default_factory=BandKpi)
    """The passive band's KPIs so far (saved with the snapshot: a restart keeps counting, and the
    session report reads them from the stored snapshots)."""
    markout: MarkoutState = msgspec.field(default_factory=MarkoutState)
