"""A synthetic market: a mid-price diffusion with jumps, a book around it, and market orders
arriving with intensity λ(δ) = A·e^(−kδ) (δ in ticks from the mid), as in Avellaneda–Stoikov.

Seeded and reproducible. Each step the mid moves, the book is rebuilt around it (levels near the
touch re-drawn, others refreshed at random), then buy and sell market orders arrive: Poisson(A·dt)
of each, every one sweeping the book up to a depth drawn from Exp(k), the last level only in part.
"""

from __future__ import annotations

import math
import random

from common.config_sections import VenueSymbolConfig
from services.venue.market import MarketStep
from services.venue.orderbook import BUY, SELL


class SyntheticMarket:
    """The market of one symbol; ``step(dt)`` advances it by ``dt`` seconds."""

    def __init__(self, cfg: VenueSymbolConfig, seed: int) -> None:
        self.cfg = cfg
        self.rng = random.Random(f"{seed}:{cfg.symbol}")
        self.tick = float(cfg.price_tick)
        self.step_size = float(cfg.qty_step)
        self.mid = float(cfg.start_price) / self.tick  # in ticks
        self.levels: dict[int, dict[int, int]] = {BUY: {}, SELL: {}}
        self.pending_shock = 0.0

    def shock(self, pct: float) -> None:
        """Move the mid by ``pct`` (e.g. -0.12) at the next step: the fault control's price shock."""
        self.pending_shock += pct

    def _size(self, depth: int) -> int:
        # Thick near the touch, thinner behind it, with log-normal noise.
        base = float(self.cfg.level_qty) / self.step_size
        q = base * (0.3 + 0.7 * math.exp(-depth / 5.0)) * math.exp(self.rng.gauss(0.0, 0.6))
        return max(1, round(q))

    def _targets(self) -> tuple[int, int]:
        half = self.cfg.spread_ticks / 2.0
        best_bid = math.floor(self.mid - half)
        return best_bid, best_bid + self.cfg.spread_ticks

    def _move(self, dt: float) -> None:
        ret = self.cfg.sigma * math.sqrt(dt) * self.rng.gauss(0.0, 1.0)
        if self.rng.random() < self.cfg.jumps_per_hour * dt / 3600.0:
            ret += self.rng.gauss(0.0, self.cfg.jump_sigma)
        ret += self.pending_shock
        self.pending_shock = 0.0
        self.mid *= math.exp(ret)

    def _rebuild(self, changes: list[tuple[int, int, int]], refresh: float) -> None:
        best_bid, best_ask = self._targets()
        n = self.cfg.book_levels
        for side, best in ((BUY, best_bid), (SELL, best_ask)):
            book = self.levels[side]
            wanted = {best - side * i for i in range(n)}
            for p in [p for p in book if p not in wanted]:
                del book[p]
                changes.append((side, p, 0))
            for i in range(n):
                p = best - side * i
                if p not in book or (i < 3 and book[p] < 1) or self.rng.random() < refresh:
                    book[p] = self._size(i)
                    changes.append((side, p, book[p]))

    def _sweep(
        self,
        aggressor: int,
        depth_ticks: float,
        trades: list[tuple[int, int, int]],
        changes: list[tuple[int, int, int]],
    ) -> None:
        opp = self.levels[-aggressor]
        limit = self.mid + aggressor * depth_ticks
        for p in sorted(opp, reverse=aggressor == SELL):
            if (p > limit) if aggressor == BUY else (p < limit):
                break
            q = opp[p]
            nxt = p + aggressor
            last = (nxt > limit) if aggressor == BUY else (nxt < limit)
            take = max(1, round(q * self.rng.random())) if last else q
            take = min(take, q)
            trades.append((aggressor, p, take))
            opp[p] = q - take
            changes.append((-aggressor, p, opp[p]))
            if opp[p] == 0:
                del opp[p]
            if last:
                break

    def step(self, dt: float) -> MarketStep:
        out = MarketStep()
        self._move(dt)
        self._rebuild(out.pre, refresh=min(1.0, 0.5 * dt))
        lam = self.cfg.intensity_a * dt
        for aggressor in (BUY, SELL):
            for _ in range(self._poisson(lam)):
                self._sweep(aggressor, self.rng.expovariate(self.cfg.intensity_k), out.trades, out.post)
        out.mid = self.mid * self.tick
        return out

    def _poisson(self, lam: float) -> int:
        # Knuth's method: fine for the small rates of one step.
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1
