"""Order-safety drills: the running processes against the simulated venue's faults, each checked
against the venue's truth afterwards. Every test here carries the ``drill`` marker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.messages import FeedStatus
from tests.cluster import Cluster, FakeRisk
from tests.drills.support import ACCOUNT_B, CAPS, ENV_B, FAST, SYM, resume
from tests.helpers import wait_until

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.drill)


def live(c: Cluster, symbol: str = SYM) -> bool:
    st = c.heard.of(f"md.status.{symbol}", FeedStatus)
    return bool(st) and st[-1].state == "live"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Venue, recorder, market data and the gateway, with a stand-in risk service per test."""
    with Cluster(tmp_path_factory.mktemp("drill"), FAST + CAPS + ACCOUNT_B, env=ENV_B) as c:
        c.listen("oms.", "md.status.")
        c.start("venue", "recorder", "marketdata", "gateway")
        wait_until(lambda: live(c) and live(c, "BTCUSDC"), 30, what="market data live")
        yield c


@pytest.fixture
def risk(gw: Cluster) -> Iterator[FakeRisk]:
    """A stand-in risk service; afterwards the venue is cleared of faults and our orders."""
    with FakeRisk(gw.settings) as r:
        yield r
        gw.fault(clear=True)
        resume(gw)  # a drill that failed mid-kill must not hold the next one
        r.set_target(SYM, [])
        r.set_target("BTCUSDC", [])
        wait_until(lambda: gw.open_orders(SYM) == [] and gw.open_orders("BTCUSDC") == [], 20,
                   what="no order left after the drill")  # fmt: skip
