"""Catch-up after a recorder outage: the venue's trade history and the gateway's snapshot.

The invariant: after catch-up every trade of the venue's ``userTrades`` is in the store exactly
once, with the venue's price, size, fee and realized PnL, whatever already came over the bus or in
the gateway's snapshot. Unit tests use a hand-written venue (both page orders a venue may use);
the last test runs the real REST client against the simulated venue over HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from common import topics
from common.binance.errors import BinanceError, TransportError
from common.binance.rest import RestClient
from common.binance.trading import UserTrade
from common.config import load_settings
from common.messages import Account, Balance, Fill, OrderUpdate, Position
from services.recorder.catchup import PAGE, Catchup, RestTrades, history_key
from services.recorder.ingest import Ingestor
from services.recorder.marks import watermark_row, watermarks
from services.recorder.persistence import Persistence
from services.recorder.queries import Queries
from services.recorder.schema import dec_text
from services.recorder.store import PostgresStore, SqliteStore, Store
from tests.fixtures.recorder_mix import Wire
from tests.helpers import wait_until
from tests.pg import PgServer, shared_server
from tests.venue_proc import KEY, SECRET, VenueProc

NOW_MS = time.time_ns() // 1_000_000


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    with shared_server() as srv:
        yield srv


@pytest.fixture(params=["sqlite", "postgres"])
def persistence(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Persistence]:
    def factory() -> Store:
        if request.param == "sqlite":
            return SqliteStore(tmp_path / "c.sqlite").open()
        return PostgresStore(request.getfixturevalue("pg").fresh_dsn()).open()

    p = Persistence(factory, Ingestor(), None, 3)
    p.open()
    yield p
    p.close()


class FakeVenue:
    """``userTrades`` by the book: ``fromId`` pages ascend; a time window answers the oldest page
    (Binance) or, with ``newest_first``, the newest page (what the simulated venue does)."""

    def __init__(self, newest_first: bool = False) -> None:
        self.trades: dict[str, list[UserTrade]] = {}
        self.newest_first = newest_first
        self.calls: list[dict[str, Any]] = []
        self.fail: set[str] = set()

    def add(self, symbol: str, n: int, first_id: int = 1, t0_ms: int = 0) -> None:
        """``n`` trades from ``first_id``, a second apart, after the symbol's last (or an hour ago)."""
        rows = self.trades.setdefault(symbol, [])
        t0_ms = t0_ms or (rows[-1].time + 1000 if rows else NOW_MS - 3_600_000)
        for i in range(first_id, first_id + n):
            rows.append(
                UserTrade(
                    symbol=symbol,
                    id=i,
                    orderId=5000 + i // 3,
                    side="BUY" if i % 2 else "SELL",
                    price=Decimal(f"{2680 + i % 97 / 100:.2f}"),
                    qty=Decimal(f"{(i % 9 + 1) / 1000:.3f}"),
                    commission=Decimal(f"{i % 5 * 0.0013:.8f}"),
                    commissionAsset="USDC",
                    realizedPnl=Decimal(f"{(i % 7 - 3) * 0.125:.8f}"),
                    maker=i % 4 != 0,
                    time=t0_ms + (i - first_id) * 1000,
                )
            )

    def self_trade(self, symbol: str, trade_id: int) -> None:
        """Our BUY and our SELL matched against each other: two rows, one trade id, one time."""
        rows = self.trades.setdefault(symbol, [])
        t_ms = rows[-1].time + 1000 if rows else NOW_MS - 3_600_000
        for side, order_id, maker in (("BUY", 8001, True), ("SELL", 8002, False)):
            rows.append(
                UserTrade(
                    symbol=symbol,
                    id=trade_id,
                    orderId=order_id,
                    side=side,
                    price=Decimal("2681.50"),
                    qty=Decimal("0.010"),
                    commission=Decimal("0.00536300" if maker else "0.01072600"),
                    commissionAsset="USDC",
                    realizedPnl=Decimal("0"),
                    maker=maker,
                    time=t_ms,
                )
            )

    async def user_trades(
        self,
        symbol: str,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = PAGE,
    ) -> list[UserTrade]:
        self.calls.append({"symbol": symbol, "from_id": from_id, "start_ms": start_ms, "end_ms": end_ms})
        if symbol in self.fail:
            raise TransportError("connection reset")
        rows = self.trades.get(symbol, [])
        if from_id is not None:
            return [t for t in rows if t.id >= from_id][:limit]
        rows = [
            t
            for t in rows
            if (start_ms is None or t.time >= start_ms) and (end_ms is None or t.time <= end_ms)
        ]
        return rows[-limit:] if self.newest_first else rows[:limit]


def _bus_fill(t: UserTrade) -> Fill:
    """The gateway's Fill of a venue trade, as the bus carries it (with the client order id)."""
    return Fill(
        symbol=t.symbol,
        trade_id=t.id,
        client_order_id=f"mm-{t.orderId}",
        venue_order_id=t.orderId,
        side=t.side,  # type: ignore[arg-type]
        price=Decimal(f"{t.price}0"),  # a different spelling of the same number
        qty=Decimal(t.qty),
        fee=Decimal(t.commission),
        fee_asset=t.commissionAsset,
        realized_pnl=Decimal(t.realizedPnl),
        is_maker=t.maker,
        layer=1,
        ts_event=t.time * 1_000_000,
    )


def assert_store_matches_venue(store: Store, venue: dict[str, list[UserTrade]]) -> None:
    """The no-loss invariant: each venue trade once, with the venue's figures."""
    fills = Queries(store).run("fills", {}, 100_000)
    keys = [(f["symbol"], f["trade_id"], f["side"]) for f in fills]
    assert len(keys) == len(set(keys)), "a trade is stored twice"
    expected = {(t.symbol, t.id, t.side): t for rows in venue.values() for t in rows}
    assert set(keys) == set(expected), f"missing {sorted(set(expected) - set(keys))[:10]}"
    for f in fills:
        t = expected[(f["symbol"], f["trade_id"], f["side"])]
        got = (f["price"], f["qty"], f["fee"], f["realized_pnl"], f["side"], f["is_maker"])
        want = (
            dec_text(t.price),
            dec_text(t.qty),
            dec_text(t.commission),
            dec_text(t.realizedPnl),
            t.side,
            t.maker,
        )
        assert got == want, f"trade {t.id}: {got} != {want}"


def _catchup(
    p: Persistence,
    venue: FakeVenue | None,
    oms: dict[str, Any] | None = None,
    symbols: tuple[str, ...] = ("ETHUSDC", "BTCUSDC"),
) -> Catchup:
    async def fetch() -> dict[str, Any] | None:
        return oms

    return Catchup(p, list(symbols), fetch, venue, lookback_s=86_400)


def test_every_venue_trade_is_stored_exactly_once_with_the_venues_figures(persistence: Persistence) -> None:
    venue = FakeVenue()
    venue.add("ETHUSDC", 100)
    venue.add("BTCUSDC", 12, first_id=900_000)
    wire = Wire()
    eth = venue.trades["ETHUSDC"]
    # Before the outage: the bus delivered the first 100 ETH fills and a catch-up pass ran.
    persistence.apply([wire.raw(topics.oms_fill("ETHUSDC"), "gateway", _bus_fill(t)) for t in eth])
    asyncio.run(_catchup(persistence, venue).run())
    # The recorder is down while 2,245 more ETH trades happen. After the restart the newest fills
    # arrive first, from the bus and in the gateway's snapshot: resuming from the highest stored
    # trade id would now skip the gap.
    venue.add("ETHUSDC", 2_245, first_id=101)
    persistence.apply([wire.raw(topics.oms_fill("ETHUSDC"), "gateway", _bus_fill(t)) for t in eth[-20:]])
    oms = {"fills": [msgspec.to_builtins(_bus_fill(t)) for t in eth[-50:]], "orders": [], "account": None}
    venue.calls.clear()
    res = asyncio.run(_catchup(persistence, venue, oms).run())
    assert res.gateway == "ok" and res.gateway_fills == 50 and not res.errors
    assert res.fills_added == 2_245 - 20
    eth_from = [c["from_id"] for c in venue.calls if c["symbol"] == "ETHUSDC"]
    # After the last trade read from the venue, a page at a time; a page goes on from the last id
    # of the one before (the second leg of a self-trade may be on the next page).
    assert eth_from == [101, 1100, 2099]
    # The same fills come over the bus again (a late duplicate): still once each.
    persistence.apply([wire.raw(topics.oms_fill("ETHUSDC"), "gateway", _bus_fill(t)) for t in eth[90:110]])
    assert persistence.store is not None
    assert_store_matches_venue(persistence.store, venue.trades)
    by_id = {
        f["trade_id"]: f for f in Queries(persistence.store).run("fills", {"symbol": "ETHUSDC"}, 100_000)
    }
    assert (by_id[5]["source"], by_id[2300]["source"], by_id[500]["source"]) == ("bus", "gateway", "venue")
    assert by_id[5]["client_order_id"] == "mm-5001"


def test_a_second_pass_fetches_only_what_is_new(persistence: Persistence) -> None:
    venue = FakeVenue()
    venue.add("ETHUSDC", 30)
    c = _catchup(persistence, venue, symbols=("ETHUSDC",))
    asyncio.run(c.run())
    venue.add("ETHUSDC", 5, first_id=31)
    venue.calls.clear()
    res = asyncio.run(c.run())
    assert res.fills_added == 5 and res.venue_trades == 5
    assert [c["from_id"] for c in venue.calls] == [31]
    assert persistence.store is not None
    assert_store_matches_venue(persistence.store, venue.trades)


def test_a_watermark_above_the_venues_newest_trade_is_read_again_from_the_lookback(
    persistence: Persistence,
) -> None:
    """The store holds a mark of 500 from an older incarnation of the venue (a testnet reset); the
    venue's trades are 1 to 30, within the lookback. Reading from 501 finds nothing, and nothing would
    ever come again: the venue's newest trade (30) is below the mark, so the lookback is read as for
    a symbol never seen and the mark comes down to 30. A pass with nothing new leaves it there."""
    venue = FakeVenue(newest_first=True)
    venue.add("ETHUSDC", 30)
    assert persistence.store is not None
    persistence.store.write({"meta": [watermark_row("ETHUSDC", 500)]})
    c = _catchup(persistence, venue, symbols=("ETHUSDC",))
    res = asyncio.run(c.run())
    assert res.fills_added == 30 and watermarks(persistence.store) == {"ETHUSDC": 30}
    assert_store_matches_venue(persistence.store, venue.trades)
    venue.calls.clear()
    res = asyncio.run(c.run())
    assert res.fills_added == 0 and watermarks(persistence.store) == {"ETHUSDC": 30}
    assert [(x["from_id"], x["start_ms"]) for x in venue.calls] == [(31, None)]  # checked once


def test_a_watermark_is_kept_when_the_venue_lists_no_recent_trade(persistence: Persistence) -> None:
    """Binance lists the newest trades of the last 7 days only: an idle symbol's answer is empty,
    which says nothing of the mark (500): kept, nothing read again."""
    venue = FakeVenue(newest_first=True)
    assert persistence.store is not None
    persistence.store.write({"meta": [watermark_row("ETHUSDC", 500)]})
    res = asyncio.run(_catchup(persistence, venue, symbols=("ETHUSDC",)).run())
    assert res.fills_added == 0 and watermarks(persistence.store) == {"ETHUSDC": 500}
    assert [(x["from_id"], x["start_ms"]) for x in venue.calls] == [(501, None), (None, None)]


def test_both_legs_of_a_self_trade_are_stored_when_a_page_ends_between_them(
    persistence: Persistence,
) -> None:
    venue = FakeVenue()
    venue.add("ETHUSDC", 10)
    c = _catchup(persistence, venue, symbols=("ETHUSDC",))
    asyncio.run(c.run())  # the watermark is now 10
    venue.add("ETHUSDC", 999, first_id=11)  # ids 11..1009
    venue.self_trade("ETHUSDC", 1010)  # the page from 11 ends on its BUY leg
    venue.add("ETHUSDC", 5, first_id=1011)
    buy_leg = next(t for t in venue.trades["ETHUSDC"] if t.id == 1010 and t.side == "BUY")
    wire = Wire()
    persistence.apply([wire.raw(topics.oms_fill("ETHUSDC"), "gateway", _bus_fill(buy_leg))])
    venue.calls.clear()
    res = asyncio.run(c.run())
    assert [call["from_id"] for call in venue.calls] == [11, 1010]
    assert res.fills_added == 999 + 1 + 5, "the BUY leg came over the bus: only its SELL leg is new"
    assert persistence.store is not None
    assert_store_matches_venue(persistence.store, venue.trades)
    q = Queries(persistence.store)
    above = q.run("fills", {"after_trade_id": "1009", "symbol": "ETHUSDC"}, 100)
    assert [(f["trade_id"], f["side"], f["source"]) for f in above[:2]] == [
        (1010, "BUY", "bus"),
        (1010, "SELL", "venue"),
    ]
    assert [f["trade_id"] for f in above[2:]] == [1011, 1012, 1013, 1014, 1015]
    assert q.run("fill_marks", {}, 10) == [{"symbol": "ETHUSDC", "venue_mark": 1015, "max_trade_id": 1015}]


@pytest.mark.parametrize("newest_first", [False, True])
def test_a_symbol_without_stored_fills_is_read_back_over_the_lookback_whatever_the_page_order(
    persistence: Persistence, newest_first: bool
) -> None:
    venue = FakeVenue(newest_first=newest_first)
    venue.add("ETHUSDC", 2_500, t0_ms=NOW_MS - 3_000_000)

    asyncio.run(Catchup(persistence, ["ETHUSDC"], None, venue, lookback_s=3_600).run())
    assert persistence.store is not None
    assert_store_matches_venue(persistence.store, venue.trades)


def test_catch_up_goes_on_without_the_gateway_and_reports_a_failing_symbol(persistence: Persistence) -> None:
    venue = FakeVenue()
    venue.add("ETHUSDC", 40)
    venue.add("BTCUSDC", 40, first_id=1000)
    venue.fail.add("BTCUSDC")
    res = asyncio.run(_catchup(persistence, venue, oms=None).run())
    assert res.gateway == "down"
    assert res.errors and "BTCUSDC" in res.errors[0]
    assert res.fills_added == 40
    venue.fail.clear()
    res = asyncio.run(_catchup(persistence, venue, oms=None).run())
    assert res.fills_added == 40 and not res.errors
    assert persistence.store is not None
    assert_store_matches_venue(persistence.store, venue.trades)


def _ou(cid: str, state: str, ts: int, filled: str = "0") -> dict[str, Any]:
    return msgspec.to_builtins(
        OrderUpdate(
            symbol="ETHUSDC",
            client_order_id=cid,
            venue_order_id=int(ts),
            side="BUY",
            price=Decimal("2680.5"),
            qty=Decimal("0.1"),
            filled_qty=Decimal(filled),
            state=state,  # type: ignore[arg-type]
            ts_event=ts,
        )
    )


def test_the_gateway_snapshot_adds_order_events_only_where_the_store_is_behind(
    persistence: Persistence,
) -> None:
    wire = Wire()
    known_new = msgspec.convert(_ou("a", "New", 10), OrderUpdate)
    known_filling = msgspec.convert(_ou("b", "New", 11), OrderUpdate)
    persistence.apply(
        [wire.raw(topics.oms_order("ETHUSDC"), "gateway", m) for m in (known_new, known_filling)]
    )
    oms = {
        "orders": [
            _ou("a", "New", 10),
            _ou("b", "PartiallyFilled", 50, "0.04"),
            _ou("c", "New", 60),
            {"bogus": 1},
        ],
        "positions": [
            msgspec.to_builtins(
                Position(symbol="ETHUSDC", qty=Decimal("0.04"), entry_price=Decimal("2680.5"))
            )
        ],
        "account": msgspec.to_builtins(Account(balances=[Balance(asset="USDC", wallet=Decimal("9999.5"))])),
        "fills": [],
    }
    res = asyncio.run(_catchup(persistence, None, oms).run())
    assert res.gateway == "ok" and res.gateway_orders == 2
    assert len(res.errors) == 1 and "OrderUpdate" in res.errors[0]
    assert persistence.store is not None
    q = Queries(persistence.store)
    events = q.run("order_events", {"source": "gateway"}, 100)
    assert sorted((e["client_order_id"], e["state"]) for e in events) == [
        ("b", "PartiallyFilled"),
        ("c", "New"),
    ]
    assert {o["client_order_id"]: o["state"] for o in q.run("orders", {}, 100)} == {
        "a": "New",
        "b": "PartiallyFilled",
        "c": "New",
    }
    assert q.run("positions", {"source": "gateway"}, 10)[0]["qty"] == "0.04"
    assert q.run("account", {}, 10)[0]["wallet"] == "9999.5"
    # The same snapshot again changes nothing.
    asyncio.run(_catchup(persistence, None, oms).run())
    assert len(q.run("order_events", {}, 100)) == 4


def test_catch_up_from_the_simulated_venue_over_signed_rest(tmp_path: Path) -> None:
    """The real REST client and the simulated venue: trades made while the recorder was away."""
    with VenueProc(tmp_path) as venue:
        for side, qty in (("BUY", "0.050"), ("SELL", "0.020"), ("SELL", "0.040"), ("BUY", "0.010")):
            r = venue.signed(
                "POST", "/fapi/v1/order", symbol="ETHUSDC", side=side, type="MARKET", quantity=qty
            )
            assert r.status_code == 200, r.text
        p = Persistence(lambda: SqliteStore(tmp_path / "v.sqlite").open(), Ingestor(), None, 3)
        p.open()

        async def go() -> list[UserTrade]:
            rest = RestClient(venue.url, KEY, SECRET)
            try:
                await Catchup(p, ["ETHUSDC", "BTCUSDC"], None, RestTrades(rest), 3_600).run()
                return await RestTrades(rest).user_trades("ETHUSDC", limit=1000)
            finally:
                await rest.close()

        try:
            trades = wait_until(lambda: asyncio.run(go()), 10, what="trades on the venue")
            assert p.store is not None
            assert_store_matches_venue(p.store, {"ETHUSDC": trades})
            assert sum(Decimal(t.realizedPnl) for t in trades) != 0, "closing trades carry realized PnL"
        finally:
            p.close()


def test_a_malformed_trade_history_is_a_venue_error() -> None:
    class Rest:
        async def request(self, *a: Any, **k: Any) -> Any:
            return [{"id": "not a trade"}]

    with pytest.raises(BinanceError, match="unexpected payload"):
        asyncio.run(RestTrades(Rest()).user_trades("ETHUSDC"))  # type: ignore[arg-type]


def test_the_trade_history_is_read_with_the_read_only_key_when_both_halves_are_set(
    run_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trading = {"api_key": "trade-key", "api_secret": "trade-secret"}
    monkeypatch.setenv("MM_READ_API_KEY", "read-key")
    monkeypatch.setenv("MM_READ_API_SECRET", "read-secret")
    both = history_key(load_settings(**trading))
    monkeypatch.delenv("MM_READ_API_KEY")
    monkeypatch.delenv("MM_READ_API_SECRET")
    assert both is not None and both.read_only
    assert (both.key.get_secret_value(), both.secret.get_secret_value()) == ("read-key", "read-secret")

    half = history_key(load_settings(**trading, read_api_key="read-key"))
    assert half is not None and not half.read_only and half.unset == ("MM_READ_API_SECRET",)
    assert (half.key.get_secret_value(), half.secret.get_secret_value()) == ("trade-key", "trade-secret")

    none = history_key(load_settings(**trading))
    assert none is not None and not none.read_only
    assert none.unset == ("MM_READ_API_KEY", "MM_READ_API_SECRET")

    assert history_key(load_settings()) is None, "no key at all: catch-up reads no venue history"
    only_read = load_settings(read_api_key="read-key", read_api_secret="read-secret")
    key = history_key(only_read)
    assert key is not None and key.read_only and key.key.get_secret_value() == "read-key"
    assert {"read-key", "read-secret"} <= set(only_read.secret_values()), "redacted from logs"
