"""The Avellaneda–Stoikov (2008) Monte Carlo, §3.3 of the paper, driving the live quoting functions.

Set-up (mm-theory.md §1.3): s = 100, T = 1, σ = 2, dt = 0.005 (200 steps), k = 1.5, A = 140, q₀ = 0.
At each step the quotes are computed from the state at t by the very
:func:`~services.strategy.reservation.reservation_quote` the live ASMM calls (variant
``avellaneda_stoikov``): bid = r − half, ask = r + half. During the step the ask fills with
probability min(A·e^(−k·δᵃ)·dt, 1) (the paper's linear rule) at its own price, the bid likewise,
and the mid moves by ±σ√dt. The profit is
X_T + q_T·S_T. The symmetric benchmark quotes the inventory strategy's time-average spread around
the mid (the 2008 text). All paths advance together as numpy arrays; a seed makes a run repeatable.

    .venv/bin/python -m services.backtest.avellaneda [--paths 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from services.strategy.reservation import as_spread, reservation_quote

PAPER_2008: dict[float, dict[str, tuple[float, float, float, float, float]]] = {
    0.1: {"inventory": (1.49, 65.0, 6.6, 0.08, 2.9), "symmetric": (1.49, 68.4, 12.7, 0.26, 8.4)},
    0.01: {"inventory": (1.35, 68.6, 8.7, 0.12, 5.1), "symmetric": (1.35, 68.8, 12.8, 0.09, 8.7)},
    1.0: {"inventory": (3.02, 31.4, 5.0, 0.02, 1.7), "symmetric": (3.02, 44.0, 11.0, 0.00, 5.1)},
}
"""Published Tables 1–3 (QF 8(3), pp. 222–223): (average spread, profit, std profit, final q, std q)."""


@dataclass(frozen=True)
class AsSetup:
    """The paper's simulation parameters."""

    gamma: float = 0.1
    s0: float = 100.0
    horizon: float = 1.0
    sigma: float = 2.0
    dt: float = 0.005
    k: float = 1.5
    a: float = 140.0

    @property
    def steps(self) -> int:
        return round(self.horizon / self.dt)


class AsStats(NamedTuple):
    """One strategy's results over all paths (sample std with ddof=1).

    ``spread`` is the paper's average spread (over continuous time), ``spread_quoted`` the average
    of the spreads actually quoted at the step starts.
    """

    spread: float
    spread_quoted: float
    profit: float
    profit_std: float
    q_final: float
    q_std: float
    paths: int

    @property
    def profit_se(self) -> float:
        """The Monte Carlo standard error of the mean profit."""
        return self.profit_std / math.sqrt(self.paths)


def average_spread(setup: AsSetup) -> float:
    """The paper's "average spread": the model spread averaged over [0, T], (1/T)∫(δᵃ+δᵇ)dt.

    The spread is linear in t, so its values at the step midpoints average it exactly:
    γσ²T/2 + (2/γ)ln(1+γ/k). The strategy itself quotes at the step starts, whose average is higher
    by γσ²dt/2 (0.01 at γ = 1); :class:`AsStats` reports both.
    """
    half_dt = setup.dt / 2
    spreads = [
        as_spread(setup.gamma, setup.sigma, setup.horizon - i * setup.dt - half_dt, setup.k)
        for i in range(setup.steps)
    ]
    return float(np.mean(spreads))


def simulate(
    setup: AsSetup, strategy: Literal["inventory", "symmetric"], paths: int, seed: int, spread: float = 0.0
) -> AsStats:
    """Run ``paths`` paths of one strategy; ``spread`` is the symmetric strategy's total spread."""
    rng = np.random.default_rng(seed)
    s = np.full(paths, setup.s0)
    q = np.zeros(paths)
    x = np.zeros(paths)
    quoted = []
    for i in range(setup.steps):
        tau = setup.horizon - i * setup.dt
        if strategy == "inventory":
            rq = reservation_quote(
                "avellaneda_stoikov", s, q, setup.sigma, setup.a, setup.k, setup.gamma, tau
            )
            centre, half = np.asarray(rq.reservation), rq.half_spread
        else:
            centre, half = s, spread / 2
        bid, ask = centre - half, centre + half
        quoted.append(2 * half)
        sold = rng.random(paths) < _fill_prob(ask - s, setup)
        bought = rng.random(paths) < _fill_prob(s - bid, setup)
        q += bought.astype(float) - sold
        x += np.where(sold, ask, 0.0) - np.where(bought, bid, 0.0)
        s += setup.sigma * math.sqrt(setup.dt) * np.where(rng.random(paths) < 0.5, 1.0, -1.0)
    profit = x + q * s
    return AsStats(
        average_spread(setup) if strategy == "inventory" else spread,
        float(np.mean(quoted)),
        float(profit.mean()),
        float(profit.std(ddof=1)),
        float(q.mean()),
        float(q.std(ddof=1)),
        paths,
    )


def _fill_prob(delta: np.ndarray, setup: AsSetup) -> np.ndarray:
    """The paper's linear rule: λ(δ)·dt = A·e^(−kδ)·dt, capped at 1."""
    return np.minimum(setup.a * np.exp(-setup.k * delta) * setup.dt, 1.0)


def run_table(gamma: float, paths: int = 1000, seed: int = 7) -> dict[str, AsStats]:
    """One of the paper's tables: the inventory strategy, then the symmetric one at its average spread."""
    setup = AsSetup(gamma=gamma)
    inventory = simulate(setup, "inventory", paths, seed)
    symmetric = simulate(setup, "symmetric", paths, seed + 1, spread=average_spread(setup))
    return {"inventory": inventory, "symmetric": symmetric}


def main() -> None:
    """Print the three tables beside the published values."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    head = f"{'gamma':>6} {'strategy':<10} {'spread':>7} {'profit':>8} {'std':>6} {'q_T':>6} {'std q':>6}"
    print(head + "   paper")
    for gamma, paper in PAPER_2008.items():
        for name, st in run_table(gamma, args.paths, args.seed).items():
            ref = " ".join(f"{v:g}" for v in paper[name])
            print(
                f"{gamma:>6g} {name:<10} {st.spread:>7.3f} {st.profit:>8.2f} {st.profit_std:>6.2f} "
                f"{st.q_final:>6.2f} {st.q_std:>6.2f}   {ref}"
            )


if __name__ == "__main__":
    main()
