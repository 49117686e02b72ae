"""Queue-position models: how much of other participants' size sits ahead of a resting order.

Our orders join a level behind its displayed size. Trades at the level consume the queue from the
front; decreases of the displayed size that are not trades (cancellations) may be ahead of us or
behind us. The two models follow hftbacktest's definitions (reference/mm-theory.md §3.1):

* risk-averse: a cancellation is always behind us (``ahead = min(ahead, new)``);
* power-probability: the chance a cancellation was behind us grows with the size behind,
  ``p = back**n / (back**n + ahead**n)``.
"""

from __future__ import annotations

from typing import Protocol


class QueueModel(Protocol):
    def on_depth(self, ahead: float, prev_qty: int, new_qty: int, cum_trade: int) -> float:
        """New quantity ahead after the level's other size went from ``prev_qty`` to ``new_qty``."""
        ...


class RiskAverseQueue:
    """Cancellations never advance us."""

    def on_depth(self, ahead: float, prev_qty: int, new_qty: int, cum_trade: int) -> float:
        return min(ahead, float(new_qty))


class PowerProbQueue:
    """A decrease is behind us with probability ``back^n / (back^n + ahead^n)``."""

    def __init__(self, power: float = 2.0) -> None:
        self.power = power

    def on_depth(self, ahead: float, prev_qty: int, new_qty: int, cum_trade: int) -> float:
        chg = prev_qty - new_qty - cum_trade  # trades were already taken off the front
        if chg <= 0:
            return min(ahead, float(new_qty))  # increases join behind us
        back = max(prev_qty - ahead, 0.0)
        fb, fa = back**self.power, ahead**self.power
        p = 1.0 if fb + fa == 0 else fb / (fb + fa)
        est = ahead - (1.0 - p) * chg + min(back - p * chg, 0.0)
        return max(0.0, min(est, float(new_qty)))


def make_queue_model(name: str, power: float = 2.0) -> QueueModel:
    if name == "risk_averse":
        return RiskAverseQueue()
    if name == "power_prob":
        return PowerProbQueue(power)
    raise ValueError(f"unknown queue model {name!r}")
