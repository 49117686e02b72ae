"""VPIN: volume-synchronised probability of informed trading (Easley, López de Prado, O'Hara).

Trades fill equal-volume buckets; a trade larger than the room left spills into the next bucket.
Each full bucket scores ``|buy - sell| / bucket volume``, and VPIN is the mean score of the last
``window`` full buckets. The side comes from the trade's aggressor flag, not from bulk
classification, because Binance tells us the aggressor.
"""

from __future__ import annotations

from collections import deque


class Vpin:
    """VPIN over ``window`` buckets of ``bucket_qty`` (base-asset units) each."""

    __slots__ = ("_buy", "_scores", "_sell", "bucket_qty")

    def __init__(self, bucket_qty: float, window: int) -> None:
        if bucket_qty <= 0 or window < 1:
            raise ValueError(f"need bucket_qty > 0 and window >= 1, got {bucket_qty}, {window}")
        self.bucket_qty = bucket_qty
        self._scores: deque[float] = deque(maxlen=window)
        self._buy = 0.0
        self._sell = 0.0

    def update(self, qty: float, is_buy: bool) -> None:
        """Add one trade of ``qty`` whose aggressor bought (``is_buy``) or sold."""
        size, tol = self.bucket_qty, self.bucket_qty * 1e-12
        while qty > tol:
            take = min(qty, size - self._buy - self._sell)
            if is_buy:
                self._buy += take
            else:
                self._sell += take
            qty -= take
            if self._buy + self._sell >= size - tol:
                self._scores.append(abs(self._buy - self._sell) / size)
                self._buy = self._sell = 0.0

    @property
    def value(self) -> float:
        """Mean bucket imbalance over the full buckets held (0.0 before the first one fills)."""
        return sum(self._scores) / len(self._scores) if self._scores else 0.0

    @property
    def buckets(self) -> int:
        """Full buckets in the window."""
        return len(self._scores)
