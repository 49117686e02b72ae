"""Catch-up: what the recorder missed while it was down, from the gateway and from the venue.

Two sources, in this order, on start and then periodically (and soon after a gap on ``oms.*``):

1. The gateway's ``GetSnapshot(what="oms")``: open orders, positions, the account and the recent
   fills. An order whose stored state differs gets an order event (``source = "gateway"``).
   The gateway being down is normal during a restart: catch-up goes on without it.
2. The venue's trade history, ``GET /fapi/v1/userTrades`` per symbol from the last trade id read
   from the venue plus one (its watermark, see :mod:`services.recorder.marks`; a symbol never read
   is read from ``lookback`` ago, splitting any time window that fills a page, since venues differ
   in which page of a window they answer). These are the truth about
   fills: each becomes a fill row (``source = "venue"``); its client order id is filled in later
   from the orders table when the order is known.

Fills are unique on (symbol, trade id, side) and inserted with ``ON CONFLICT DO NOTHING``, so a fill
that arrives from the bus, the gateway and the venue is stored exactly once, with the venue's
figures, and both legs of a self-trade (one trade id, our BUY and our SELL) are kept.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
from pydantic import SecretStr

from common.binance.errors import BinanceError
from common.binance.rest import RestClient
from common.binance.trading import UserTrade, convert_list
from common.config import Settings
from common.logging import log
from common.messages import Account, Fill, OrderUpdate, Position
from services.recorder.marks import watermark_row, watermarks
from services.recorder.persistence import Persistence
from services.recorder.rows import account_rows, fill_row, order_rows, position_row, row
from services.recorder.schema import dec_text
from services.recorder.store import Rows, Store

PAGE = 1000


class TradeSource(Protocol):
    """Where the venue's trade history comes from (the REST client, or a fake in tests)."""

    async def user_trades(
        self,
        symbol: str,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = PAGE,
    ) -> list[UserTrade]: ...


@dataclass(frozen=True)
class HistoryKey:
    """The API key that reads the venue's trade history, and whether it is the read-only one."""

    key: SecretStr
    secret: SecretStr
    read_only: bool
    unset: tuple[str, ...] = ()
    """The read-only key's variables that are not set (when the trading key stands in)."""


def history_key(settings: Settings) -> HistoryKey | None:
    """``MM_READ_API_KEY`` / ``_SECRET`` when both are set, else the trading key, else None.

    Reading trade history needs no trading permission: a read-only key limits what a leak of the
    recorder's environment can do.
    """
    if settings.read_api_key and settings.read_api_secret:
        return HistoryKey(settings.read_api_key, settings.read_api_secret, read_only=True)
    if settings.api_key and settings.api_secret:
        pair = (("MM_READ_API_KEY", settings.read_api_key), ("MM_READ_API_SECRET", settings.read_api_secret))
        unset = tuple(name for name, v in pair if not v)
        return HistoryKey(settings.api_key, settings.api_secret, read_only=False, unset=unset)
    return None


class RestTrades:
    """:class:`TradeSource` over the signed REST client (weight 5 per page)."""

    def __init__(self, rest: RestClient) -> None:
        self.rest = rest

    async def user_trades(
        self,
        symbol: str,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = PAGE,
    ) -> list[UserTrade]:
        params: list[tuple[str, Any]] = [("symbol", symbol), ("limit", limit)]
        if from_id is not None:
            params.append(("fromId", from_id))
        if start_ms is not None:
            params.append(("startTime", start_ms))
        if end_ms is not None:
            params.append(("endTime", end_ms))
        data = await self.rest.request("GET", "/fapi/v1/userTrades", params, weight=5, signed=True)
        try:
            return convert_list(data, UserTrade)
        except msgspec.ValidationError as exc:
            raise BinanceError(f"userTrades: unexpected payload: {exc}") from exc


class ByAccount:
    """:class:`TradeSource` of several accounts: each symbol's history read with the key of the
    account trading it (an extra account's own trading key; the primary's read-only key if set)."""

    def __init__(self, sources: dict[str, TradeSource], account_of: Callable[[str], str]) -> None:
        self.sources = sources
        self.account_of = account_of

    async def user_trades(
        self,
        symbol: str,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = PAGE,
    ) -> list[UserTrade]:
        account = self.account_of(symbol)
        source = self.sources.get(account)
        if source is None:
            raise BinanceError(f"userTrades {symbol}: no API key of account {account} in the environment")
        return await source.user_trades(symbol, from_id, start_ms, end_ms, limit)


def trade_row(t: UserTrade, ts_recv: int) -> tuple[Any, ...]:
    """A ``fills`` row from a venue trade; the client order id is not in the history, so it is ''."""
    return row(
        "fills",
        ts_event=t.time * 1_000_000,
        ts_recv=ts_recv,
        symbol=t.symbol,
        trade_id=t.id,
        client_order_id="",
        venue_order_id=t.orderId,
        side=t.side,
        price=dec_text(t.price),
        qty=dec_text(t.qty),
        fee=dec_text(t.commission),
        fee_asset=t.commissionAsset,
        realized_pnl=dec_text(t.realizedPnl),
        is_maker=t.maker,
        layer=-1,
        source="venue",
    )


async def _window(src: TradeSource, symbol: str, start_ms: int, end_ms: int) -> list[UserTrade]:
    """Every trade in ``[start_ms, end_ms]``: a window that fills a page is split in two."""
    page = await src.user_trades(symbol, start_ms=start_ms, end_ms=end_ms, limit=PAGE)
    if len(page) < PAGE or end_ms - start_ms < 2:
        return page
    mid = (start_ms + end_ms) // 2
    return await _window(src, symbol, start_ms, mid) + await _window(src, symbol, mid + 1, end_ms)


async def venue_trades(
    src: TradeSource, symbol: str, last_id: int | None, now_ms: int, lookback_ms: int
) -> list[UserTrade]:
    """The venue's trades of ``symbol`` after ``last_id`` (or within ``lookback_ms`` if None).

    A self-trade is two rows with one id (our BUY and our SELL), and a full page may end between
    them: the next page starts at the page's last id again and drops the rows already read.
    """
    out: list[UserTrade] = []
    from_id = None if last_id is None else last_id + 1
    if from_id is None:
        out = await _window(src, symbol, now_ms - lookback_ms, now_ms)
        if not out:
            return out
        from_id = max(t.id for t in out) + 1  # a window holds both legs: they share one time
    seen = {(t.id, t.side) for t in out}
    while True:
        page = await src.user_trades(symbol, from_id=from_id, limit=PAGE)
        new = [t for t in page if (t.id, t.side) not in seen]
        out += new
        if len(page) < PAGE or not new:
            return out
        seen.update((t.id, t.side) for t in new)
        from_id = max(t.id for t in page)


# ---- the gateway snapshot ---------------------------------------------------------------------


@dataclass
class CatchupResult:
    """What one catch-up pass found and wrote."""

    gateway: str = "off"
    gateway_fills: int = 0
    gateway_orders: int = 0
    venue_trades: int = 0
    fills_added: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The non-empty figures, for a log line."""
        return {k: v for k, v in self.__dict__.items() if v or k == "gateway"}


def _convert(items: Any, kind: type[Any], bad: list[str]) -> list[Any]:
    out = []
    for item in items or ():
        try:
            out.append(msgspec.convert(item, kind))
        except msgspec.ValidationError as exc:
            bad.append(f"{kind.__name__}: {exc}")
    return out


def oms_rows(snapshot: dict[str, Any], store: Store, ts_recv: int, bad: list[str]) -> tuple[Rows, int]:
    """Rows from a gateway snapshot; orders only where the stored state differs. Writer thread.

    Returns the rows and how many order events they hold.
    """
    rows: Rows = {}
    fills = _convert(snapshot.get("fills"), Fill, bad)
    rows["fills"] = [fill_row(f, ts_recv, "gateway") for f in fills]
    orders: list[OrderUpdate] = _convert(snapshot.get("orders"), OrderUpdate, bad)
    known = {
        (r["symbol"], r["client_order_id"]): (r["state"], r["filled_qty"])
        for r in store.select("orders", [("client_order_id", "in", [o.client_order_id for o in orders])])
    }
    for o in orders:
        if known.get((o.symbol, o.client_order_id)) == (o.state, dec_text(o.filled_qty)):
            continue
        event, current = order_rows(o, ts_recv, "gateway")
        rows.setdefault("order_events", []).append(event)
        rows.setdefault("orders", []).append(current)
    rows["positions"] = [
        position_row(p, ts_recv, "gateway") for p in _convert(snapshot.get("positions"), Position, bad)
    ]
    acct = snapshot.get("account")
    if acct:
        rows["account_snapshots"] = [
            r for a in _convert([acct], Account, bad) for r in account_rows(a, ts_recv)
        ]
    return rows, len(rows.get("order_events", []))


class Catchup:
    """One catch-up pass at a time: gateway snapshot first, then the venue's trade history."""

    def __init__(
        self,
        persistence: Persistence,
        symbols: list[str],
        fetch_oms: Callable[[], Awaitable[dict[str, Any] | None]] | None,
        trades: TradeSource | None,
        lookback_s: float,
    ) -> None:
        self.p = persistence
        self.symbols = symbols
        self.fetch_oms = fetch_oms
        self.trades = trades
        self.lookback_ms = int(lookback_s * 1000)
        self.runs = 0
        self._marks_checked: set[str] = set()
        self.last: CatchupResult | None = None

    async def run(self) -> CatchupResult:
        """One pass; never raises for a source being down (the result says what failed)."""
        res = CatchupResult()
        if self.fetch_oms is not None:
            await self._from_gateway(res)
        if self.trades is not None:
            await self._from_venue(res)
        self.runs += 1
        self.last = res
        return res

    def _write_counted(self, rows: Rows, res: CatchupResult) -> None:
        """Write on the writer thread, counting the fills that were new (the rest were known)."""
        assert self.p.store is not None
        before = self.p.store.count("fills")
        self.p.write_rows(rows, link_fills=True)
        res.fills_added += self.p.store.count("fills") - before

    async def _from_gateway(self, res: CatchupResult) -> None:
        assert self.fetch_oms is not None
        snap = await self.fetch_oms()
        if snap is None:
            res.gateway = "down"
            return
        res.gateway = "ok"
        await self.p.on_writer(self._write_oms, snap, res)
        res.gateway_fills = len(snap.get("fills") or ())

    def _write_oms(self, snap: dict[str, Any], res: CatchupResult) -> None:
        assert self.p.store is not None
        rows, res.gateway_orders = oms_rows(snap, self.p.store, time.time_ns(), res.errors)
        self._write_counted(rows, res)

    async def _mark_ahead(self, sym: str, mark: int, now_ms: int) -> list[UserTrade]:
        """Nothing above ``mark``: either nothing new, or a mark above the venue's newest trade,
        from another incarnation of the venue (a testnet reset, a simulated venue started afresh),
        from which nothing would ever be read again. Then the lookback window is read as for a
        symbol never seen, and its trades (their highest id becomes the mark) are returned. Asked
        once per symbol and process (a reset happens while we are down); no trade in the venue's
        answer (an idle symbol) tells nothing."""
        assert self.trades is not None
        if sym in self._marks_checked:
            return []
        self._marks_checked.add(sym)
        # Binance: the last 7 days only
        newest = max((t.id for t in await self.trades.user_trades(sym, limit=1)), default=None)
        if newest is None or newest >= mark:
            return []
        log.warning("catchup_mark_ahead_of_venue", symbol=sym, mark=mark, venue_newest=newest)
        return await venue_trades(self.trades, sym, None, now_ms, self.lookback_ms)

    async def _from_venue(self, res: CatchupResult) -> None:
        assert self.trades is not None
        assert self.p.store is not None
        marks = await self.p.on_writer(watermarks, self.p.store)
        now_ms = time.time_ns() // 1_000_000
        for sym in sorted(set(self.symbols) | set(marks)):
            try:
                trades = await venue_trades(self.trades, sym, marks.get(sym), now_ms, self.lookback_ms)
                if not trades and marks.get(sym) is not None:
                    trades = await self._mark_ahead(sym, marks[sym], now_ms)
            except BinanceError as exc:
                res.errors.append(f"userTrades {sym}: {exc}")
                log.warning("catchup_venue_failed", symbol=sym, error=str(exc)[:200])
                continue
            res.venue_trades += len(trades)
            if trades:
                ts = time.time_ns()
                mark = watermark_row(sym, max(t.id for t in trades))
                rows = {"fills": [trade_row(t, ts) for t in trades], "meta": [mark]}
                await self.p.on_writer(self._write_counted, rows, res)
