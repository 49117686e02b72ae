"""Market models: the liquidity and trades of everyone else, so our orders get realistic fills."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from common.config_sections import VenueSymbolConfig


@dataclass(slots=True)
class MarketStep:
    """What the market did in one step: level sizes before trades, trades, level sizes after.

    Changes are (side, price ticks, other participants' size in steps); trades are
    (aggressor side, price ticks, size steps). ``mid`` is a price as a float. ``trade_dt``, when
    the model times its trades within the step, holds each trade's offset in seconds (ascending).
    """

    pre: list[tuple[int, int, int]] = field(default_factory=list)
    trades: list[tuple[int, int, int]] = field(default_factory=list)
    post: list[tuple[int, int, int]] = field(default_factory=list)
    mid: float = 0.0
    trade_dt: list[float] = field(default_factory=list)


class Model(Protocol):
    """A generated market: ``step(dt)`` advances it; ``shock(pct)`` moves its price at the next step."""

    def step(self, dt: float) -> MarketStep: ...

    def shock(self, pct: float) -> None: ...


def generated(cfg: VenueSymbolConfig, model: str, seed: int) -> Model:
    """The generated market ``model`` ("synthetic" or "flow") of one symbol."""
    from services.venue.market.flow import FlowMarket
    from services.venue.market.synthetic import SyntheticMarket

    return FlowMarket(cfg, seed) if model == "flow" else SyntheticMarket(cfg, seed)
