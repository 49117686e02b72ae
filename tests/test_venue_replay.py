"""The venue's replay market: recorded depth and trades in a loop, without a price jump at the seam."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from services.venue.market.replay import ReplayMarket
from services.venue.orderbook import BUY, SELL
from tests.helpers import DATA


def _recording(path: Path, moves: int) -> Path:
    """A snapshot at 100.00/100.02, then ``moves`` diffs each lifting both sides by one tick."""
    lines = [json.dumps({"lastUpdateId": 10, "bids": [["100.00", "1"]], "asks": [["100.02", "1"]]})]
    for i in range(moves):
        bid, ask = 100.00 + (i + 1) * 0.01, 100.02 + (i + 1) * 0.01
        data = {
            "e": "depthUpdate",
            "E": 1_000 + 100 * i,
            "T": 1_000 + 100 * i,
            "s": "X",
            "U": 11 + i,
            "u": 11 + i,
            "pu": 10 + i,
            "b": [[f"{bid:.2f}", "1"], [f"{bid - 0.01:.2f}", "0"]],
            "a": [[f"{ask:.2f}", "1"], [f"{ask - 0.01:.2f}", "0"]],
        }
        lines.append(json.dumps({"stream": "x@depth@0ms", "data": data}))
    with gzip.open(path, "wt") as fh:
        fh.writelines(f"{i} {line}\n" for i, line in enumerate(lines))
    return path


def _touch(m: ReplayMarket) -> tuple[int, int]:
    return max(m.book[BUY]), min(m.book[SELL])


def test_each_loop_starts_where_the_last_ended_so_drift_adds_up_linearly(tmp_path: Path) -> None:
    m = ReplayMarket(str(_recording(tmp_path / "r.gz", moves=3)), 0.01, 0.001)
    m.step(0.0)  # the snapshot, then the first diff (due at once)
    assert _touch(m) == (10001, 10003)
    ends = []
    for k in range(1, 6):  # the recording spans 201 ms; each step ends one loop later
        m.step(k * m.span_ms / 1000 - 0.001)
        ends.append(_touch(m))
    # Three one-tick moves a loop; the loop seam adds no jump, so loop k ends 3k ticks up.
    assert ends == [(10000 + 3 * k, 10002 + 3 * k) for k in range(1, 6)]
    assert m.offset == 3 * 5


def test_a_shock_carries_into_the_next_loop(tmp_path: Path) -> None:
    m = ReplayMarket(str(_recording(tmp_path / "r.gz", moves=3)), 0.01, 0.001)
    m.step(0.0)
    m.shock(0.01)  # +1 % of the 100.02 mid = 100 ticks
    assert _touch(m) == (10101, 10103)
    m.step(2 * m.span_ms / 1000 - 0.001)  # two more moves of loop 1, three of loop 2
    assert _touch(m) == (10106, 10108)


def test_the_recorded_ethusdt_file_loops_without_a_jump_and_stays_near_its_own_prices() -> None:
    m = ReplayMarket(str(DATA / "usdm_ethusdt_20240808.gz"), 0.01, 0.001)
    span_s = m.span_ms / 1000
    first = m.step(0.0)[-1].mid
    mids = [first]
    for k in range(1, 4):
        before = m.step(k * span_s - 0.5)[-1].mid
        after = m.step(k * span_s + 0.5)[-1].mid
        assert abs(after - before) / before < 0.002, (k, before, after)  # the seam: no jump
        mids.append(after)
    # The file moves a few dollars in six minutes; three loops cannot run away from it.
    assert all(abs(x - first) / first < 0.05 for x in mids), mids
