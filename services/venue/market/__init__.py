"""Market models: the liquidity and trades of everyone else, so our orders get realistic fills."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class MarketStep:
    """What the market did in one step: level sizes before trades, trades, level sizes after.

    Changes are (side, price ticks, other participants' size in steps); trades are
    (aggressor side, price ticks, size steps). ``mark`` and ``index`` are prices as floats.
    """

    pre: list[tuple[int, int, int]] = field(default_factory=list)
    trades: list[tuple[int, int, int]] = field(default_factory=list)
    post: list[tuple[int, int, int]] = field(default_factory=list)
    mid: float = 0.0
