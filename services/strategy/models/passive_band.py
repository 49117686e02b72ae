"""Passive band: always-present, rarely-filled liquidity within [bandMin, bandMax] of a reference (seed 003).

Each side rests ``ordersPerSide`` orders, each worth at least ``minOrderValue`` (the size is rounded
up). They are placed toward the far edge of the band, ref·(1 ∓ bandMax·placementFactor), because the
farther from the reference the less likely a fill; further orders of a side step inward toward
bandMin. An order stays where it rests while it is within ``driftThreshold`` of its ideal place and
inside the band, and is re-placed only when it drifts out: the venue sees one order a side that
rarely moves. On a cold start the working orders, if known, are adopted the same way.

The reference is the mid, TWAP, VWAP or the hybrid from ``Features``; if the chosen one is not yet
available the mid stands in (flag ``reference_fallback``).
"""

from __future__ import annotations

import msgspec

from common.messages import Features, Side
from common.params.strategy import PassiveBandParams, SymbolStrategy
from services.strategy.context import Market
from services.strategy.kpi import in_band
from services.strategy.legs import Level
from services.strategy.models import ModelOutput
from services.strategy.rounding import side_ticks
from services.strategy.state import BandState, StrategyState


def reference_price(f: Features, p: PassiveBandParams) -> tuple[float, list[str]]:
    """The band's reference, with the mid as fallback."""
    ref = {"mid": f.mid, "twap": f.twap, "vwap": f.vwap, "hybrid": f.ref_hybrid}[p.reference]
    return (ref, []) if ref > 0 else (f.mid, ["reference_fallback"])


def distances(p: PassiveBandParams) -> list[float]:
    """The ideal relative distance of each order of a side, the first at bandMax·placementFactor."""
    place = p.band_max * p.placement_factor
    step = (place - p.band_min) / p.orders_per_side
    return [place - j * step for j in range(p.orders_per_side)]


def place_side(
    side: Side, ref: float, kept: tuple[int, ...], m: Market, p: PassiveBandParams
) -> tuple[int, ...]:
    """The ticks of a side's orders: each kept while in place, else re-placed at its ideal price."""
    tick, sign = m.grid.tick_f, (-1.0 if side == "BUY" else 1.0)
    out = []
    for j, d in enumerate(distances(p)):
        target = ref * (1.0 + sign * d)
        old = kept[j] if j < len(kept) else 0
        if old and _keep(old * tick, target, ref, m, side, p):
            out.append(old)
        else:
            out.append(side_ticks(side, m.passive(side, target), m.grid))
    return tuple(out)


def _keep(price: float, target: float, ref: float, m: Market, side: Side, p: PassiveBandParams) -> bool:
    passive = price < m.best_ask if side == "BUY" else price > m.best_bid
    return passive and abs(price - target) / ref <= p.drift_threshold and in_band(price, ref, p)


def _adopt(st: BandState, m: Market) -> BandState:
    """On a cold start, take the working orders' prices (inside out) as the kept ones."""
    if st.bids or st.asks or not m.working:
        return st
    tick = m.grid.tick
    bids = sorted((int(w.price / tick) for w in m.working if w.side == "BUY"), reverse=True)
    asks = sorted(int(w.price / tick) for w in m.working if w.side == "SELL")
    return BandState(bids=tuple(bids), asks=tuple(asks))


def _levels(side: Side, ticks: tuple[int, ...], m: Market, p: PassiveBandParams) -> list[Level]:
    out = []
    for j, t in enumerate(ticks):
        price = t * m.grid.tick_f
        out.append(Level(side, j, price, p.min_order_value / price, size_up=True, ticks=t))
    return out


def quote(m: Market, p: SymbolStrategy, st: StrategyState) -> ModelOutput:
    """The passive band decision."""
    pb = p.passive_band
    ref, flags = reference_price(m.features, pb)
    kept = _adopt(st.band, m)
    band = BandState(
        bids=place_side("BUY", ref, kept.bids, m, pb), asks=place_side("SELL", ref, kept.asks, m, pb)
    )
    if band != kept:
        flags.append("replaced")
    levels = _levels("BUY", band.bids, m, pb) + _levels("SELL", band.asks, m, pb)
    inputs = {
        "mid": m.mid,
        "reference": ref,
        "position": m.q,
        "band_min": pb.band_min,
        "band_max": pb.band_max,
    }
    return ModelOutput(levels, inputs, flags, [], msgspec.structs.replace(st, band=band))
