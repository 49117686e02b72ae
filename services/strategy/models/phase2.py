"""Phase 2, dynamic grid / dynamic spread (seed 000 §2.2).

The half-spread (relative to the mid) grows with short-term volatility and widens when the book is
thin; the layer count shrinks from ``maxLayers`` toward ``minLayers`` as volatility rises toward
``volRef`` and as the book thins:

* half = max(baseSpread/2 + volSpreadMult·σ, minSpread/2) · (1 + depthWiden·thin),
  thin = max(0, 1 − (depthBid + depthAsk)/depthRef), σ = ``Features.vol[volKey]`` (per √s);
* layers = minLayers + round((maxLayers − minLayers) · (1 − min(σ/volRef, 1)) · (1 − thin)).

The centre leans with the book imbalance (``Features.imbalance`` in [−1, 1], bid-heavy positive) by
``imbalanceSkew`` half-spreads, against the inventory's distance from its target by ``invSkew``
half-spreads at ``invMax``, and by the funding bias. The inventory target leans with the trend
(seed 000 §2.2, "a little more long in a rising market"): q* = trendInventory·invMax·clamp(z /
trendSigmas, −1, 1), z the mid's gap to its EMA (weight ``trendAlpha`` per quote interval) in
standard deviations of that gap in a random walk, σ·√(τ/2) with τ = quoteInterval/trendAlpha.
Beyond ``invMax`` the side that would add keeps only ``overLimitShrink`` of its layers. Pinning and
grinding apply as for ASMM.
"""

from __future__ import annotations

import math

import msgspec

from common.params.strategy import Phase2Params, SymbolStrategy
from services.strategy.context import Market, vol_of
from services.strategy.funding import funding_bias
from services.strategy.layers import ladder_of
from services.strategy.models import ModelOutput
from services.strategy.models.asmm import momentum
from services.strategy.overlays import Sides, overlay
from services.strategy.state import StrategyState


def thinness(m: Market, ph: Phase2Params) -> float:
    """0 for a book at least ``depthRef`` deep (both sides), up to 1 for an empty one."""
    depth = m.features.depth_bid + m.features.depth_ask
    return min(max(1.0 - depth / ph.depth_ref, 0.0), 1.0)


def half_spread(sigma: float, thin: float, ph: Phase2Params) -> float:
    """The relative half-spread for a volatility and a book thinness."""
    base = max(0.5 * ph.base_spread + ph.vol_spread_mult * sigma, 0.5 * ph.min_spread)
    return base * (1.0 + ph.depth_widen * thin)


def layer_count(sigma: float, thin: float, ph: Phase2Params) -> int:
    """Fewer layers as volatility nears ``volRef`` and as the book thins."""
    calm = 1.0 - min(sigma / ph.vol_ref, 1.0)
    return ph.min_layers + round((ph.max_layers - ph.min_layers) * calm * (1.0 - thin))


def side_counts(m: Market, n: int, ph: Phase2Params) -> tuple[int, int]:
    """(bid layers, ask layers): beyond ``invMax`` the adding side shrinks."""
    if abs(m.q) <= ph.inv_max:
        return n, n
    shrunk = int(n * ph.over_limit_shrink)
    return (shrunk, n) if m.q > 0 else (n, shrunk)


def trend_target(gap: float, sigma: float, interval_ms: int, ph: Phase2Params) -> float:
    """The inventory target (base units) for the mid's gap to its EMA (see the module docstring)."""
    if ph.trend_inventory <= 0 or sigma <= 0:
        return 0.0
    tau_s = max(interval_ms, 1) / 1000 / ph.trend_alpha
    z = gap / (sigma * math.sqrt(tau_s / 2))
    return ph.trend_inventory * ph.inv_max * min(max(z / ph.trend_sigmas, -1.0), 1.0)


def quote(m: Market, p: SymbolStrategy, st: StrategyState) -> ModelOutput:
    """The Phase 2 decision."""
    ph, f = p.phase2, m.features
    vol = vol_of(f, ph.vol_key)
    sigma = vol or 0.0
    thin = thinness(m, ph)
    half = half_spread(sigma, thin, ph) * m.mid
    n = layer_count(sigma, thin, ph)
    imbalance = min(max(f.imbalance, -1.0), 1.0)
    gap, mom_state = momentum(st.momentum, m.mid, m.now_ns, ph.trend_alpha, p.quote_interval_ms)
    target = trend_target(gap, sigma, p.quote_interval_ms, ph)
    load = min(max((m.q - target) / ph.inv_max, -1.0), 1.0)
    bias = funding_bias(f, m.now_ns, m.mid, p.funding_bias)
    centre = m.mid + bias + (ph.imbalance_skew * imbalance - ph.inv_skew * load) * half
    n_bids, n_asks = side_counts(m, n, ph)
    sides = Sides(
        m.passive("BUY", centre - half), m.passive("SELL", centre + half), n_bids, n_asks, ladder_of(ph, half)
    )
    ov = overlay(m, p, st, sides)
    inputs = {
        "mid": m.mid, "microprice": f.microprice, "sigma": sigma, "thin": thin, "imbalance": imbalance,
        "position": m.q, "half_spread": half, "centre": centre, "funding_bias": bias, "layers": float(n),
        "trend_gap": gap, "trend_target": target,
    }  # fmt: skip
    flags = ([] if vol is not None else ["vol_missing"]) + (["over_inv_max"] if abs(m.q) > ph.inv_max else [])
    if target != 0:
        flags.append("trend_lean")
    state = msgspec.structs.replace(st, pin=ov.pin, grind=ov.grind, momentum=mom_state)
    return ModelOutput(ov.levels, inputs, flags + ov.flags, ov.actions, state)
