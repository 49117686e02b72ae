"""The inventory overlays shared by the laddered models (ASMM, Phase 2): pinning and grinding.

A laddered model builds both sides from its inner quotes; this module then lets pinning rebuild the
reducing side and grinding add its taker slice and maker re-entry, and returns the combined levels
with the new overlay states.
"""

from __future__ import annotations

from typing import NamedTuple

from common.messages import ReducePosition
from common.params.strategy import SymbolStrategy
from services.strategy.context import Market
from services.strategy.grinding import grind
from services.strategy.layers import Ladder, side_levels
from services.strategy.legs import Level
from services.strategy.pinning import pinned_levels, update_pin
from services.strategy.state import GrindState, PinState, StrategyState


class Sides(NamedTuple):
    """Both ladders of a model: inner prices, layer counts and the common shape."""

    bid0: float
    ask0: float
    n_bids: int
    n_asks: int
    ladder: Ladder


class Overlaid(NamedTuple):
    """The levels after the overlays, their flags and taker requests, and the overlay states."""

    levels: list[Level]
    flags: list[str]
    actions: list[ReducePosition]
    pin: PinState
    grind: GrindState


def overlay(m: Market, p: SymbolStrategy, st: StrategyState, s: Sides) -> Overlaid:
    """Build both ladders, let pinning replace the reducing side and grinding add its orders."""
    pin = update_pin(st.pin, m, p.net_max, p.pinning)
    bids = side_levels("BUY", s.bid0, s.n_bids, s.ladder)
    asks = side_levels("SELL", s.ask0, s.n_asks, s.ladder)
    flags = []
    if pin.active:
        flags.append("pinning")
        if pin.side == "SELL":
            asks = pinned_levels(m, pin, s.ask0, s.ladder, p.pinning)
        else:
            bids = pinned_levels(m, pin, s.bid0, s.ladder, p.pinning)
    g = grind(st.grind, m, p.net_max, p.grinding, (s.bid0, s.ask0))
    return Overlaid(bids + asks + g.levels, flags + g.flags, g.actions, pin, g.state)
