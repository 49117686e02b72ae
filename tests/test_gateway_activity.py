"""The gateway's activity figures behind the seeds' fill-rate metrics, on a hand-built timeline."""

from __future__ import annotations

import pytest

from services.gateway.activity import Activity

S = 1_000_000_000


def test_fill_rates_over_one_and_five_minutes_and_fills_in_the_last_minute() -> None:
    a = Activity()
    for t in range(0, 240, 10):  # 24 orders over the first four minutes
        a.on_order("ETHUSDC", t * S)
    for t in (5, 100, 200, 250, 290):  # five fills; three in the last minute before 300 s
        a.on_fill("ETHUSDC", t * S)
    a.on_order("ETHUSDC", 260 * S)  # and one order in the last minute
    f = a.figures("ETHUSDC", 300 * S)
    # last minute (240, 300]: fills 250 and 290 = 2, orders 260 = 1 -> 2.0; five minutes (0, 300]:
    # the order at 0 s has left, 23 + 1 orders stay, and all 5 fills
    assert f.recent_fills == 2
    assert f.fill_rate_1m == pytest.approx(2.0)
    assert f.fill_rate_5m == pytest.approx(5 / 24)
    assert a.figures("BTCUSDC", 300 * S) == (0, 0.0, 0.0)
