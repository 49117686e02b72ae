"""A venue that remembers: accounts, orders and trade history kept across the venue's restarts.

Binance does not forget an account when a client disconnects, and neither does its testnet: after
``make stop; make run`` the gateway must reconcile against what it left (open orders, positions,
fills), not against a fresh exchange. The venue service saves :func:`snapshot` to
``run/<simvenue.state_file>`` whenever an account changed (at most every ``persist_interval_s``)
and when it stops, and :func:`restore` loads it at start. Saved, exactly (Decimals as text):

* each account's balances, leverage and positions;
* our open orders (put back on the book at their price, at the back of the queue: the place in
  the queue is not kept) and the last ``ORDERS_KEPT`` closed ones (order queries, ``allOrders``);
* each account's last ``TRADES_KEPT`` trades (``userTrades``) and income records (``income``);
* every symbol's funding settlements, mark, depth update id and trade id, and every id sequence, so
  ids never repeat across a restart; margin types; dead-man's switch deadlines (one that passed
  while the venue was down fires at start, cancelling that symbol's orders).
* the spot market's wallets (free and locked), our spot orders with what each locks, spot trades
  and ids.

Not saved: the market (a generated market starts again from the saved mark; a replay from its
file), public trade history, listen keys (clients open new ones), rate-limit windows, faults.
A file saved under other price or size filters is refused (``VenueStateError``): ticks and steps
would mean other prices. ``make venue-reset`` (with the stack stopped) starts afresh.
"""

from __future__ import annotations

import os
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from services.venue.accounts import PositionState
from services.venue.exchange import Exchange
from services.venue.orderbook import Resting
from services.venue.orders import VenueOrder
from services.venue.spot import SpotExchange

SCHEMA = 1
ORDERS_KEPT = 5_000
TRADES_KEPT = 50_000


class VenueStateError(ValueError):
    """A saved venue state that cannot be used; the text says why and how to start afresh."""


class PositionRow(msgspec.Struct, array_like=True):
    symbol: str
    margin_asset: str
    qty: Decimal
    entry: Decimal
    realized: Decimal
    update_ms: int


class AccountRow(msgspec.Struct):
    balances: dict[str, Decimal]
    leverage: dict[str, int]
    positions: list[PositionRow]


class OrderRow(msgspec.Struct, array_like=True):
    order_id: int
    account: str
    symbol: str
    client_id: str
    side: int
    type: str
    tif: str
    price: int
    qty: int
    reduce_only: bool
    stp: str
    time_ms: int
    status: str
    executed: int
    cum_quote: Decimal
    update_ms: int
    expire_reason: int
    good_till: int
    fills: list[int]


class SymbolRow(msgspec.Struct):
    tick: Decimal
    step: Decimal
    update_id: int
    trade_id: int
    mark: Decimal
    index: Decimal
    last_trade_ms: int
    funding: list[tuple[int, Decimal, Decimal]]


class SpotRow(msgspec.Struct):
    """The spot market: wallets (free, locked), orders with what they lock, trades, ids."""

    symbols: dict[str, SymbolRow]
    wallets: dict[str, tuple[dict[str, Decimal], dict[str, Decimal]]]
    orders: list[OrderRow]
    locks: dict[int, Decimal]
    trades: dict[str, list[dict[str, Any]]]
    ids: dict[str, int]


class Snapshot(msgspec.Struct):
    schema: int
    saved_ms: int
    symbols: dict[str, SymbolRow]
    accounts: dict[str, AccountRow]
    orders: list[OrderRow]
    trades: dict[str, list[dict[str, Any]]]
    income: dict[str, list[dict[str, Any]]]
    margin_types: list[tuple[str, str, str]]
    countdowns: list[tuple[str, str, int]]
    ids: dict[str, int]
    spot: SpotRow | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Snapshot)


def _symbol_rows(symbols: dict[str, Any], funding: dict[str, Any]) -> dict[str, SymbolRow]:
    return {
        name: SymbolRow(
            st.sym.tick,
            st.sym.step,
            st.update_id,
            st.trade_ids.value,
            st.mark,
            st.index,
            st.last_trade_ms,
            list(funding.get(name, [])),
        )
        for name, st in symbols.items()
    }


def _kept(orders: dict[int, VenueOrder]) -> list[VenueOrder]:
    closed = [o for o in orders.values() if not o.is_open]
    keep = [o for o in orders.values() if o.is_open] + closed[-ORDERS_KEPT:]
    return sorted(keep, key=lambda o: o.order_id)


def spot_snapshot(sp: SpotExchange) -> SpotRow:
    return SpotRow(
        symbols=_symbol_rows(sp.symbols, {}),
        wallets={a: (dict(w.free), dict(w.locked)) for a, w in sp.wallets.items()},
        orders=[_row(o) for o in _kept(sp.orders)],
        locks=dict(sp.locks),
        trades={a: list(t[-TRADES_KEPT:]) for a, t in sp.trades.items()},
        ids={"order": sp._order_ids.value, "auto": sp._auto_ids.value, "exec": sp._exec_ids.value},
    )


def snapshot(ex: Exchange, sp: SpotExchange | None = None) -> Snapshot:
    """What to save, taken now (on the thread that runs the exchange), spot's market with it when
    given; encode it anywhere."""
    keep = _kept(ex.orders)
    return Snapshot(
        schema=SCHEMA,
        saved_ms=ex.clock(),
        symbols=_symbol_rows(ex.symbols, ex.funding_history),
        accounts={
            name: AccountRow(
                dict(a.balances),
                dict(a.leverage),
                [
                    PositionRow(p.symbol, p.margin_asset, p.qty, p.entry, p.realized, p.update_ms)
                    for p in a.positions.values()
                ],
            )
            for name, a in ex.accounts.items()
        },
        orders=[_row(o) for o in keep],
        trades={name: list(t[-TRADES_KEPT:]) for name, t in ex.trades.items()},
        income={name: list(i)[-TRADES_KEPT:] for name, i in ex.income.items()},
        margin_types=[(a, s, t) for (a, s), t in ex.margin_types.items()],
        countdowns=[(a, s, d) for (a, s), d in ex.countdowns.items()],
        ids={
            "order": ex._order_ids.value,
            "tran": ex._tran_ids.value,
            "auto": ex._auto_ids.value,
            "taker": ex._taker_keys.value,
        },
        spot=spot_snapshot(sp) if sp is not None and (sp.symbols or sp.orders) else None,
    )


def _row(o: VenueOrder) -> OrderRow:
    return OrderRow(
        o.order_id, o.account, o.symbol, o.client_id, o.side, o.type, o.tif, o.price, o.qty,
        o.reduce_only, o.stp, o.time_ms, o.status, o.executed, o.cum_quote, o.update_ms,
        o.expire_reason, o.good_till, list(o.fills),
    )  # fmt: skip


def _order(r: OrderRow) -> VenueOrder:
    return VenueOrder(
        r.order_id, r.account, r.symbol, r.client_id, r.side, r.type, r.tif, r.price, r.qty,
        r.reduce_only, r.stp, r.time_ms, r.status, r.executed, r.cum_quote, r.update_ms,
        r.expire_reason, r.good_till, fills=list(r.fills),
    )  # fmt: skip


def encode(snap: Snapshot) -> bytes:
    return _encoder.encode(snap)


def write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (a crash leaves the old file or the new one)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read(path: Path) -> Snapshot | None:
    """The saved state, None when there is none; :class:`VenueStateError` when it is unreadable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        snap = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise VenueStateError(
            f"{path}: not a venue state ({exc}); `make venue-reset` starts afresh"
        ) from None
    if snap.schema != SCHEMA:
        raise VenueStateError(f"{path}: schema {snap.schema}, this venue reads {SCHEMA}; `make venue-reset`")
    return snap


def _check_filters(symbols: dict[str, Any], rows: dict[str, SymbolRow], path: Path | str) -> None:
    for name, row in rows.items():
        st = symbols.get(name)
        if st is not None and (row.tick != st.sym.tick or row.step != st.sym.step):
            raise VenueStateError(
                f"{path}: {name} was saved with tick {row.tick} and step {row.step}, now "
                f"{st.sym.tick} and {st.sym.step}: its prices and sizes would change meaning; "
                "`make venue-reset` starts afresh"
            )


def restore_spot(sp: SpotExchange, row: SpotRow, path: Path | str = "") -> int:
    """The spot market's wallets, orders (open ones back on the book), trades and ids; how many rest."""
    _check_filters(sp.symbols, row.symbols, path)
    for name, srow in row.symbols.items():
        st = sp.symbols.get(name)
        if st is not None:
            st.update_id = max(st.update_id, srow.update_id)
            st.trade_ids.value = max(st.trade_ids.value, srow.trade_id)
            st.mark = srow.mark
    for acct, (free, locked) in row.wallets.items():
        if acct in sp.wallets:
            w = sp.wallets[acct]
            w.free, w.locked = dict(free), dict(locked)
            sp.trades[acct] = list(row.trades.get(acct, []))
    resting = 0
    for r in row.orders:
        st = sp.symbols.get(r.symbol)
        if st is None or r.account not in sp.wallets:
            continue
        o = _order(r)
        sp.orders[o.order_id] = o
        sp.by_client[(o.account, o.symbol, o.client_id)] = o
        if o.is_open:
            sp.open_by.setdefault((o.account, o.symbol), {})[o.order_id] = o
            if o.order_id in row.locks:
                sp.locks[o.order_id] = row.locks[o.order_id]
            o.resting = Resting(o.order_id, o.account, o.side, o.price, o.qty - o.executed)
            st.book.add(o.resting)
            resting += 1
    for key, attr in (("order", "_order_ids"), ("auto", "_auto_ids"), ("exec", "_exec_ids")):
        ids = getattr(sp, attr)
        ids.value = max(ids.value, row.ids.get(key, 0))
    return resting


def restore(
    ex: Exchange, snap: Snapshot, path: Path | str = "", sp: SpotExchange | None = None
) -> dict[str, Any]:
    """Put ``snap`` into a fresh ``ex`` (before its market starts); what was restored and left out.

    Accounts and symbols are matched by name: one no longer configured is left out (and reported).
    """
    _check_filters(ex.symbols, snap.symbols, path)
    spot_resting = restore_spot(sp, snap.spot, path) if sp is not None and snap.spot is not None else 0
    for name, row in snap.symbols.items():
        st = ex.symbols.get(name)
        if st is None:
            continue
        st.update_id = max(st.update_id, row.update_id)
        st.trade_ids.value = max(st.trade_ids.value, row.trade_id)
        st.mark, st.index, st.last_trade_ms = row.mark, row.index, row.last_trade_ms
        ex.funding_history[name] = list(row.funding)
    for name, arow in snap.accounts.items():
        a = ex.accounts.get(name)
        if a is None:
            continue
        a.balances = dict(arow.balances)
        a.leverage = dict(arow.leverage)
        a.positions = {
            p.symbol: PositionState(p.symbol, p.margin_asset, p.qty, p.entry, p.realized, p.update_ms)
            for p in arow.positions
            if p.symbol in ex.symbols
        }
        ex.trades[name] = list(snap.trades.get(name, []))
        ex.income[name] = deque(snap.income.get(name, []), maxlen=ex.income[name].maxlen)
    resting = 0
    for r in snap.orders:
        st = ex.symbols.get(r.symbol)
        if st is None or r.account not in ex.accounts:
            continue
        o = _order(r)
        ex.orders[o.order_id] = o
        ex.by_client[(o.account, o.symbol, o.client_id)] = o
        if o.is_open:
            ex._index(o)
            o.resting = Resting(o.order_id, o.account, o.side, o.price, o.qty - o.executed)
            st.book.add(o.resting)
            resting += 1
    ex.margin_types.update({(a, s): t for a, s, t in snap.margin_types if a in ex.accounts})
    ex.countdowns.update({(a, s): d for a, s, d in snap.countdowns if a in ex.accounts and s in ex.symbols})
    for key, attr in (
        ("order", "_order_ids"),
        ("tran", "_tran_ids"),
        ("auto", "_auto_ids"),
        ("taker", "_taker_keys"),
    ):
        ids = getattr(ex, attr)
        ids.value = max(ids.value, snap.ids.get(key, 0))
    return {
        "saved_ms": snap.saved_ms,
        "accounts": sorted(set(snap.accounts) & set(ex.accounts)),
        "accounts_left_out": sorted(set(snap.accounts) - set(ex.accounts)),
        "symbols_left_out": sorted(set(snap.symbols) - set(ex.symbols)),
        "open_orders": resting,
        "orders": len(ex.orders),
        "spot_open_orders": spot_resting,
    }
