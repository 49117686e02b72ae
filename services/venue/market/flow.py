"""An order-flow market: the synthetic market calibrated to a real one (``simvenue.model = "flow"``).

Where :class:`~services.venue.market.synthetic.SyntheticMarket` is the Avellaneda–Stoikov
textbook (a diffusing mid and Poisson sweeps whose depth is drawn from ``A·e^(−kδ)``), this model
makes the price out of the order flow, the way the recorded Binance files show it behaves:

* **Taker orders arrive in clusters**: per side a Hawkes process with an exponential kernel,
  intensity ``λ(t) = μ + Σ α·e^(−β(t − tᵢ))`` with branching ratio ``n = α/β`` (each order sets off
  ``n`` more on average) and ``β = 1/taker_decay_s``. The stationary rate per side is
  ``μ/(1 − n)``; counts per second are over-dispersed (variance/mean → ``1/(1 − n)²`` over windows
  long against ``1/(β(1 − n))``). Simulated exactly, by thinning (Ogata 1981).
* **Their sizes are heavy-tailed**: log-normal with median ``taker_qty_median`` and log-scale
  ``taker_qty_sigma`` (p90/p50 = ``e^(1.2816·σ)``), capped at the market order's maximum.
* **The book is deep, but thin where the price just arrived**: every level's size is drawn
  log-normal around ``flow_level_qty`` (log-scale ``level_qty_sigma``); a level the price has just
  reached near the touch starts with a small part of it; levels grow towards their drawn size with
  time constant ``refill_s`` (and others renew them now and then). A taker order eats the opposite
  side from the touch and walks on only when it is larger than what rests there.
* **The price is moved by the flow**: each order moves the reference price by a permanent,
  square-root impact ``impact_ticks·√(size/taker_qty_median)`` ticks in its direction, and a touch eaten
  to the last lot moves the price to the next level; ``flow_sigma`` adds a diffusion (the news the flow
  does not carry) and ``jumps_per_hour`` rare jumps.

Parameters come from ``python -m services.venue.calibrate FILE --flow`` (moments of the recording;
the impact by simulated moments); ``--compare`` prints the recording against this market.
Seeded and reproducible.
"""

from __future__ import annotations

import math
import random

from common.config_sections import VenueSymbolConfig
from services.venue.market import MarketStep
from services.venue.orderbook import BUY, SELL


class FlowMarket:
    """The order-flow market of one symbol; ``step(dt)`` advances it by ``dt`` seconds."""

    def __init__(self, cfg: VenueSymbolConfig, seed: int) -> None:
        self.cfg = cfg
        self.rng = random.Random(f"{seed}:{cfg.symbol}:flow")
        self.tick = float(cfg.price_tick)
        self.step_size = float(cfg.qty_step)
        self.ref = float(cfg.start_price) / self.tick  # the reference price, ticks
        self.level_steps = float(cfg.flow_level_qty) / self.step_size
        self.median_steps = float(cfg.taker_qty_median) / self.step_size
        self.max_steps = max(1, int(float(cfg.market_max_qty) / self.step_size))
        self.levels: dict[int, dict[int, int]] = {BUY: {}, SELL: {}}
        self.wanted: dict[int, dict[int, int]] = {BUY: {}, SELL: {}}  # each level's drawn size
        self.excess = {BUY: 0.0, SELL: 0.0}  # Hawkes intensity above the base rate, per side
        self.beta = 1.0 / cfg.taker_decay_s
        self.mu = cfg.taker_rate * (1.0 - cfg.taker_branching)  # base rate for the stationary rate
        self.pending_shock = 0.0
        self.ready = False  # the first step lays out a full book

    def shock(self, pct: float) -> None:
        """Move the price by ``pct`` (e.g. -0.12) at the next step: the fault control's price shock."""
        self.pending_shock += pct

    # -- the book --------------------------------------------------------------------------------

    def _draw_level(self, depth: int) -> int:
        q = self.level_steps * math.exp(self.rng.gauss(0.0, self.cfg.level_qty_sigma))
        return max(1, round(q))

    def _touch(self) -> tuple[int, int]:
        best_bid = round(self.ref - self.cfg.spread_ticks / 2.0)
        return best_bid, best_bid + self.cfg.spread_ticks

    def _rebuild(self, changes: list[tuple[int, int, int]], dt: float) -> None:
        best_bid, best_ask = self._touch()
        n = self.cfg.book_levels
        refill = 1.0 - math.exp(-dt / self.cfg.refill_s)
        for side, best in ((BUY, best_bid), (SELL, best_ask)):
            book, wanted = self.levels[side], self.wanted[side]
            keep = {best - side * i for i in range(n)}
            for p in [p for p in book if p not in keep]:
                del book[p]
                wanted.pop(p, None)
                changes.append((side, p, 0))
            for i in range(n):
                p = best - side * i
                q = book.get(p)
                if q is None or self.rng.random() < refill * 0.2:  # new, or renewed by others
                    wanted[p] = self._draw_level(i)
                    if q is not None:
                        book[p] = max(1, round(q + (wanted[p] - q) * refill))
                    elif i < 3 and self.ready:  # a price the market just reached starts thin
                        book[p] = max(1, round(wanted[p] * self.rng.random() * refill))
                    else:
                        book[p] = wanted[p]
                elif q < wanted[p]:
                    book[p] = min(wanted[p], q + max(1, round((wanted[p] - q) * refill)))
                else:
                    continue
                changes.append((side, p, book[p]))

    # -- the flow --------------------------------------------------------------------------------

    def _arrivals(self, side: int, dt: float) -> list[float]:
        """Times within ``[0, dt)`` of this side's taker orders (Ogata's thinning)."""
        out: list[float] = []
        t, excess = 0.0, self.excess[side]
        alpha = self.cfg.taker_branching * self.beta
        while True:
            bound = self.mu + excess  # the intensity only decays until the next order
            if bound <= 0:
                break
            w = self.rng.expovariate(bound)
            if t + w >= dt:
                excess *= math.exp(-self.beta * (dt - t))
                break
            t += w
            excess *= math.exp(-self.beta * w)
            if self.rng.random() * bound <= self.mu + excess:
                out.append(t)
                excess += alpha
        self.excess[side] = excess
        return out

    def _size(self) -> int:
        q = float(self.cfg.taker_qty_median) * math.exp(self.rng.gauss(0.0, self.cfg.taker_qty_sigma))
        return min(self.max_steps, max(1, round(q / self.step_size)))

    def _take(
        self,
        aggressor: int,
        steps: int,
        trades: list[tuple[int, int, int]],
        changes: list[tuple[int, int, int]],
    ) -> None:
        opp = self.levels[-aggressor]
        emptied = None
        for p in sorted(opp, reverse=aggressor == SELL):
            q = opp[p]
            take = min(q, steps)
            trades.append((aggressor, p, take))
            opp[p] = q - take
            changes.append((-aggressor, p, opp[p]))
            steps -= take
            if opp[p] == 0:
                del opp[p]
                emptied = p
            if steps == 0:
                break
        if emptied is not None:  # the touch moved: the price sits between the next two levels
            moved = emptied + aggressor * (1.0 - self.cfg.spread_ticks / 2.0)
            self.ref = max(self.ref, moved) if aggressor == BUY else min(self.ref, moved)

    def order(
        self, side: int, steps: int, trades: list[tuple[int, int, int]], changes: list[tuple[int, int, int]]
    ) -> None:
        """One taker order of ``steps``: it eats the book, then moves the price by its impact."""
        self._take(side, steps, trades, changes)
        self.ref += side * self.cfg.impact_ticks * math.sqrt(steps / self.median_steps)

    def step(self, dt: float) -> MarketStep:
        out = MarketStep()
        ret = self.cfg.flow_sigma * math.sqrt(dt) * self.rng.gauss(0.0, 1.0)
        if self.rng.random() < self.cfg.jumps_per_hour * dt / 3600.0:
            ret += self.rng.gauss(0.0, self.cfg.jump_sigma)
        self.ref *= math.exp(ret + self.pending_shock)
        self.pending_shock = 0.0
        self._rebuild(out.pre, dt)
        self.ready = True
        orders = sorted(
            [(t, BUY) for t in self._arrivals(BUY, dt)] + [(t, SELL) for t in self._arrivals(SELL, dt)]
        )
        for t, side in orders:
            n = len(out.trades)
            self.order(side, self._size(), out.trades, out.post)
            out.trade_dt.extend([t] * (len(out.trades) - n))
        out.mid = self.ref * self.tick
        return out
