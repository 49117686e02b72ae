"""The A&S (2008) Tables 1–3 reproduced by the Monte Carlo that drives the live quoting functions.

Tolerances of mm-theory §1.6, at 1000 paths: |profit − paper| ≤ 3 standard errors (from this run's
own sample std), Std(profit) and Std(q_T) within ±15 %, average spread within ±0.01, for both the
inventory and the symmetric strategy.
"""

from __future__ import annotations

import pytest

from services.backtest import avellaneda
from services.backtest.avellaneda import PAPER_2008, AsSetup, run_table
from services.strategy import reservation
from services.strategy.models import asmm


@pytest.mark.parametrize("gamma", sorted(PAPER_2008))
def test_the_2008_tables_are_reproduced_for_both_strategies(gamma: float) -> None:
    results = run_table(gamma, paths=1000, seed=7)
    for name, stats in results.items():
        spread, profit, profit_std, _, q_std = PAPER_2008[gamma][name]
        assert abs(stats.spread - spread) <= 0.01, (name, stats)
        assert abs(stats.profit - profit) <= 3 * stats.profit_se, (name, stats)
        assert stats.profit_std == pytest.approx(profit_std, rel=0.15), (name, stats)
        assert stats.q_std == pytest.approx(q_std, rel=0.15), (name, stats)
    inventory, symmetric = results["inventory"], results["symmetric"]
    assert inventory.profit_std < symmetric.profit_std
    assert inventory.q_std < symmetric.q_std


def test_the_quoted_spreads_average_one_half_step_above_the_continuous_average() -> None:
    setup = AsSetup(gamma=1.0)
    stats = run_table(1.0, paths=50, seed=1)["inventory"]
    assert stats.spread_quoted - stats.spread == pytest.approx(setup.gamma * setup.sigma**2 * setup.dt / 2)


def test_the_simulation_is_seeded_and_repeatable() -> None:
    assert run_table(0.1, paths=200, seed=3) == run_table(0.1, paths=200, seed=3)
    assert run_table(0.1, paths=200, seed=3) != run_table(0.1, paths=200, seed=4)


def test_the_simulation_drives_the_live_quoting_functions() -> None:
    assert avellaneda.reservation_quote is asmm.reservation_quote is reservation.reservation_quote
    assert avellaneda.as_spread is reservation.as_spread
