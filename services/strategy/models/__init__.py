"""The quoting models, one module each, with the output they share.

A model is a function ``quote(market, params, state) -> ModelOutput``: float levels, the figures
and flags for the decision record, taker requests, and the updated state. Rounding, caps, the risk
mode and anti-flicker are the engine's, identical for every model.
"""

from __future__ import annotations

from typing import NamedTuple

from common.messages import ReducePosition
from services.strategy.legs import Level
from services.strategy.state import StrategyState


class ModelOutput(NamedTuple):
    """What a model decided, before the engine rounds and caps it."""

    levels: list[Level]
    inputs: dict[str, float]
    flags: list[str]
    actions: list[ReducePosition]
    state: StrategyState
