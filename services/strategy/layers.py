"""The layer ladder: where each layer of one side sits and how big it is.

Layer 0 sits at the model's inner quote. The gap between layer i and i+1 is ``gap`` (the inner
half-spread) times ``spacingRatio**i`` in geometric mode, or ``gap`` in linear mode, so far layers
spread out and resist one-way moves (seed 001 §3). Layer i's size is ``baseSize * layerSizeDecay**i``.
Everything here is float; :mod:`services.strategy.legs` rounds each layer onto the grid.
"""

from __future__ import annotations

from typing import NamedTuple

from common.messages import Side
from common.params.strategy import LadderParams
from services.strategy.legs import Level


class Ladder(NamedTuple):
    """The shape of one side's ladder, in price units."""

    mode: str
    ratio: float
    decay: float
    base_size: float
    gap: float


def ladder_of(params: LadderParams, gap: float) -> Ladder:
    """The ladder of a model section with the given first gap (the inner half-spread)."""
    return Ladder(
        params.layer_spacing_mode, params.spacing_ratio, params.layer_size_decay, params.base_size, gap
    )


def offsets(n: int, ld: Ladder) -> list[float]:
    """Distances of layers 0 … n−1 from layer 0: 0, g, g(1+r), g(1+r+r²), … (linear: 0, g, 2g, …)."""
    out = [0.0] * n
    step = ld.gap
    for i in range(1, n):
        out[i] = out[i - 1] + step
        if ld.mode == "geometric":
            step *= ld.ratio
    return out


def sizes(n: int, ld: Ladder, first: float | None = None) -> list[float]:
    """Sizes of layers 0 … n−1; ``first`` overrides layer 0 (pinning enlarges it)."""
    out = [0.0] * n
    size = ld.base_size
    for i in range(n):
        out[i] = size
        size *= ld.decay
    if n and first is not None:
        out[0] = first
    return out


def side_levels(
    side: Side, start: float, n: int, ld: Ladder, first_size: float | None = None, first_layer: int = 0
) -> list[Level]:
    """One side's ladder from ``start`` outward (bids go down, asks go up)."""
    sign = -1.0 if side == "BUY" else 1.0
    dist = offsets(n, ld)
    amount = sizes(n, ld, first_size)
    return [Level(side, first_layer + i, start + sign * dist[i], amount[i]) for i in range(n)]
