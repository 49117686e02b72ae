"""The simulated exchange: symbols, accounts and orders, matched by :mod:`services.venue.orderbook`.

Pure and deterministic given its clock: no I/O. Every operation leaves its consequences in
``outbox`` (user-stream payloads per account, public trades, depth changes with their update ids)
for the service to send, and raises :class:`VenueError` with Binance's code for what Binance
would refuse. The backtester drives the same class in process.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from common.config_sections import SimVenueConfig
from services.venue import payloads
from services.venue.accounts import ZERO, Account
from services.venue.errors import (
    DUPLICATE_CLIENT_ID,
    FOK_REJECT,
    GTX_REJECT,
    MARGIN_INSUFFICIENT,
    MAX_OPEN_ORDERS,
    NO_SUCH_ORDER,
    REDUCE_ONLY_REJECT,
    UNKNOWN_ORDER,
    VenueError,
    err,
    missing,
)
from services.venue.margin import MarginView
from services.venue.orderbook import BUY, Execution, OrderBook, Resting
from services.venue.orders import VenueOrder, parse_new_order
from services.venue.queue import make_queue_model
from services.venue.symbols import VenueSymbol

FEE_PLACES = Decimal("0.00000001")
"""Commissions are booked and reported to 8 decimals (round half even, as payloads format them)."""


@dataclass(slots=True, frozen=True)
class UserEvent:
    account: str
    payload: dict[str, Any]


PUBLIC_HISTORY = 10_000
"""Public trades kept per symbol for the market-data endpoints."""


@dataclass(slots=True, frozen=True)
class PublicTrade:
    symbol: str
    trade_id: int
    price: int
    qty: int
    buyer_is_maker: bool
    time_ms: int
    taker_key: int


@dataclass(slots=True, frozen=True)
class DepthBatch:
    symbol: str
    first_id: int
    last_id: int
    changes: list[tuple[int, int, int]]
    time_ms: int
    best_bid: tuple[int, int] | None = None
    best_ask: tuple[int, int] | None = None


Event = UserEvent | PublicTrade | DepthBatch


class Ids:
    """An id sequence whose next value can be read and set (``next(ids)`` takes one): the venue's
    ids continue across its restarts (:mod:`services.venue.persist`)."""

    __slots__ = ("value",)

    def __init__(self, start: int) -> None:
        self.value = start

    def __iter__(self) -> Ids:
        return self

    def __next__(self) -> int:
        v = self.value
        self.value = v + 1
        return v


class SymbolState:
    """Book, ids and mark of one symbol."""

    def __init__(self, sym: VenueSymbol, book: OrderBook, funding_rate: Decimal) -> None:
        self.sym = sym
        self.book = book
        self.update_id = 1_000_000
        self.trade_ids = Ids(500_000_001)
        self.mark = sym.cfg.start_price
        self.index = sym.cfg.start_price
        self.funding_rate = funding_rate
        self.last_trade_ms = 0


class Exchange:
    """The venue's core. ``clock`` returns the exchange time in ms."""

    def __init__(
        self, cfg: SimVenueConfig, keys: dict[str, tuple[str, str]], clock: Callable[[], int]
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        queue = make_queue_model(cfg.queue_model, cfg.queue_power)
        self.symbols: dict[str, SymbolState] = {
            s.symbol: SymbolState(VenueSymbol(s), OrderBook(queue), s.funding_rate) for s in cfg.symbols
        }
        self.accounts: dict[str, Account] = {}
        self.by_key: dict[str, Account] = {}
        for a in cfg.accounts:
            key, secret = keys[a.name]
            acct = Account(a.name, key, secret, dict(a.balances), a.leverage)
            self.accounts[a.name] = acct
            self.by_key[key] = acct
        self.orders: dict[int, VenueOrder] = {}
        self.open_by: dict[tuple[str, str], dict[int, VenueOrder]] = {}
        self.open_agg: dict[tuple[str, str], list[int]] = {}
        self.max_history = 200_000
        self.by_client: dict[tuple[str, str, str], VenueOrder] = {}
        self.trades: dict[str, list[dict[str, Any]]] = {a: [] for a in self.accounts}
        self.public_trades: dict[str, deque[PublicTrade]] = {
            s: deque(maxlen=PUBLIC_HISTORY) for s in self.symbols
        }
        """Each symbol's recent public trades (``trades``, ``aggTrades``, ``klines``, the 24 h ticker)."""
        self.funding_history: dict[str, list[tuple[int, Decimal, Decimal]]] = {s: [] for s in self.symbols}
        """Each symbol's settlements: (time ms, rate, mark) (``/fapi/v1/fundingRate``)."""
        self.income: dict[str, deque[dict[str, Any]]] = {a: deque(maxlen=100_000) for a in self.accounts}
        """Each account's income records (``/fapi/v1/income``): realized PnL, commission, funding fee."""
        self._tran_ids = Ids(9_000_000_001)
        self.margin_types: dict[tuple[str, str], str] = {}
        self.countdowns: dict[tuple[str, str], int] = {}
        self.outbox: list[Event] = []
        self.depth_events = True
        """False: no DepthBatch in the outbox (a backtest reads the market from its data, not the venue)."""
        self._auto_ids = Ids(1)
        # One counter for every symbol: orders are keyed by id alone here (Binance's ids are per
        # symbol; unique across symbols is still a valid venue).
        self._order_ids = Ids(8_000_000_001)
        self._taker_keys = Ids(1)
        self.changes = 0
        """Incremented at every account change (each user-stream event): what is worth saving."""
        interval_ms = int(cfg.funding_interval_s * 1000)
        now = clock()
        self.funding_interval_ms = interval_ms
        self.next_funding_ms = (now // interval_ms + 1) * interval_ms

    # ---- lookups ----------------------------------------------------------------------------

    def symbol(self, name: str | None) -> SymbolState:
        if not name:
            raise missing("symbol")
        st = self.symbols.get(name)
        if st is None:
            raise VenueError(-1121, "Invalid symbol.")
        return st

    def margin(self, acct: Account) -> MarginView:
        return MarginView(self, acct, self.cfg.maintenance_margin_rate)

    def fee_rates(self, st: SymbolState) -> tuple[Decimal, Decimal]:
        f = self.cfg.fees.get(st.sym.margin_asset)
        return (f.maker, f.taker) if f else (ZERO, ZERO)

    def open_orders(self, acct: Account, symbol: str = "") -> list[VenueOrder]:
        if symbol:
            return list(self.open_by.get((acct.name, symbol), {}).values())
        return [o for (a, _), d in self.open_by.items() if a == acct.name for o in d.values()]

    def open_count(self) -> int:
        return sum(len(d) for d in self.open_by.values())

    def _index(self, o: VenueOrder) -> None:
        self.open_by.setdefault((o.account, o.symbol), {})[o.order_id] = o
        self._agg(o, 1)
        if len(self.orders) > self.max_history:
            self._prune()

    def _agg(self, o: VenueOrder, sign: int) -> None:
        """Running totals of open orders per (account, symbol), so margin and notional are O(1).

        [bid qty, ask qty] count non-reduce-only steps (exposure); [bid, ask notional] count every
        order, in ticks x steps. Add an order's remaining size before it changes, remove it after.
        """
        a = self.open_agg.setdefault((o.account, o.symbol), [0, 0, 0, 0])
        rest = o.qty - o.executed
        i = 0 if o.side > 0 else 1
        if not o.reduce_only:
            a[i] += sign * rest
        a[2 + i] += sign * rest * o.price

    def _closed(self, o: VenueOrder, status: str) -> None:
        """Move an order to a final status and out of the open-order index."""
        if o.is_open:
            self._agg(o, -1)
        o.status = status
        self.open_by.get((o.account, o.symbol), {}).pop(o.order_id, None)

    def _prune(self) -> None:
        """Forget the oldest closed orders beyond ``max_history`` (Binance also forgets, after days)."""
        excess = len(self.orders) - self.max_history // 2
        for oid in [oid for oid, o in self.orders.items() if not o.is_open][:excess]:
            o = self.orders.pop(oid)
            if self.by_client.get((o.account, o.symbol, o.client_id)) is o:
                del self.by_client[(o.account, o.symbol, o.client_id)]

    def find(self, acct: Account, params: dict[str, str]) -> VenueOrder:
        """The order named by ``orderId`` (wins) or ``origClientOrderId``; -2013 if unknown."""
        st = self.symbol(params.get("symbol"))
        oid = params.get("orderId")
        o: VenueOrder | None
        if oid:
            o = self.orders.get(int(oid))
        elif params.get("origClientOrderId"):
            o = self.by_client.get((acct.name, st.sym.name, params["origClientOrderId"]))
        else:
            raise missing("orderId")
        if o is None or o.account != acct.name or o.symbol != st.sym.name:
            raise err(NO_SUCH_ORDER)
        return o

    # ---- new orders -------------------------------------------------------------------------

    def place(self, acct: Account, params: dict[str, str]) -> dict[str, Any]:
        """``POST /fapi/v1/order``: validate, match, rest; returns the order object."""
        st = self.symbol(params.get("symbol"))
        req = parse_new_order(params, st.sym, self.cfg.stp_default, f"sim{next(self._auto_ids):020d}")
        self._check_new(acct, st, req.client_id, req.side, req.qty, req.price, req.reduce_only, req.type)
        book = st.book
        if req.tif == "GTX" and book.would_take(req.side, req.price):
            raise err(GTX_REJECT)
        if req.tif == "FOK" and book.available(req.side, req.price, acct.name) < req.qty:
            raise err(FOK_REJECT)
        now = self.clock()
        o = VenueOrder(
            next(self._order_ids),
            acct.name,
            st.sym.name,
            req.client_id,
            req.side,
            req.type,
            req.tif,
            req.price or 0,
            req.qty,
            req.reduce_only,
            req.stp,
            now,
            update_ms=now,
            good_till=req.good_till,
        )
        self.orders[o.order_id] = o
        self.by_client[(acct.name, o.symbol, o.client_id)] = o
        self._index(o)
        self._user(acct, payloads.order_trade_update(o, st.sym, "NEW", now, self._notional(acct, st)))
        self._match_and_rest(acct, st, o)
        self._flush_depth(st)
        return payloads.order_json(o, st.sym, ack=req.resp_type == "ACK")

    def _check_new(
        self,
        acct: Account,
        st: SymbolState,
        cid: str,
        side: int,
        qty: int,
        price: int | None,
        reduce_only: bool,
        typ: str,
    ) -> None:
        prior = self.by_client.get((acct.name, st.sym.name, cid))
        if prior is not None and prior.is_open:
            raise err(DUPLICATE_CLIENT_ID)
        px = st.sym.price_dec(price) if price is not None else st.mark
        c = st.sym.cfg
        if price is not None:
            if side > 0 and px > st.mark * c.percent_up:
                raise VenueError(
                    -4016, f"Limit price can't be higher than {payloads.num(st.mark * c.percent_up, 2)}."
                )
            if side < 0 and px < st.mark * c.percent_down:
                raise VenueError(
                    -4024, f"Limit price can't be lower than {payloads.num(st.mark * c.percent_down, 2)}."
                )
        if not reduce_only and px * st.sym.qty_dec(qty) < c.min_notional:
            raise VenueError(
                -4164,
                f"Order's notional must be no smaller than {c.min_notional} (unless you choose reduce only).",
            )
        if len(self.open_orders(acct, st.sym.name)) >= c.max_num_orders:
            raise err(MAX_OPEN_ORDERS)
        pos = acct.positions.get(st.sym.name)
        if reduce_only and (pos is None or pos.qty == 0 or (pos.qty > 0) == (side > 0)):
            raise err(REDUCE_ONLY_REJECT)
        if not reduce_only and not self.margin(acct).can_add(st, side, qty, px):
            raise err(MARGIN_INSUFFICIENT)

    def _match_and_rest(self, acct: Account, st: SymbolState, o: VenueOrder) -> None:
        limit = o.price if o.type == "LIMIT" else None
        want = self._reduce_cap(acct, st, o, o.qty)
        res = st.book.take(o.side, limit, want, acct.name, o.stp if o.tif not in ("GTX", "FOK") else "NONE")
        for m in res.stp_expired_makers:
            self._expire(self.orders[m.oid], st, reason=1, status="EXPIRED_IN_MATCH")
        key = next(self._taker_keys)
        for ex in res.executions:
            self._execution(st, o, ex, key)
        if not o.is_open:
            return
        if res.stp_stopped:
            self._expire(o, st, reason=1, status="EXPIRED_IN_MATCH")
        elif o.type == "MARKET" or o.tif in ("IOC", "FOK"):
            self._expire(o, st, reason=9 if o.type == "MARKET" else 2)
        elif o.reduce_only and self._reduce_cap(acct, st, o, o.qty - o.executed) <= 0:
            self._expire(o, st, reason=4)
        else:
            o.resting = Resting(o.order_id, acct.name, o.side, o.price, o.qty - o.executed)
            st.book.add(o.resting)

    def _reduce_cap(self, acct: Account, st: SymbolState, o: VenueOrder, want: int) -> int:
        if not o.reduce_only:
            return want
        pos = acct.positions.get(st.sym.name)
        if pos is None or pos.qty == 0 or (pos.qty > 0) == (o.side > 0):
            return 0
        return min(want, int(abs(pos.qty) / st.sym.step))

    # ---- executions -------------------------------------------------------------------------

    def _execution(self, st: SymbolState, taker: VenueOrder | None, ex: Execution, taker_key: int) -> None:
        """Book one match for both sides that are our accounts, and print the public trade."""
        trade_id = next(st.trade_ids)
        now = self.clock()
        maker = self.orders[ex.maker.oid] if ex.maker is not None else None
        if maker is not None:
            self._fill(st, maker, ex.price, ex.qty, trade_id, is_maker=True)
        if taker is not None:
            self._fill(st, taker, ex.price, ex.qty, trade_id, is_maker=False)
        taker_side = taker.side if taker is not None else -(maker.side if maker else BUY)
        st.last_trade_ms = now
        self._public(PublicTrade(st.sym.name, trade_id, ex.price, ex.qty, taker_side < 0, now, taker_key))

    def _public(self, t: PublicTrade) -> None:
        self.outbox.append(t)
        self.public_trades[t.symbol].append(t)

    def _income(self, acct: Account, symbol: str, kind: str, amount: Decimal, asset: str, now: int,
                trade_id: int | str = "") -> None:  # fmt: skip
        if amount:
            self.income[acct.name].append({
                "symbol": symbol, "incomeType": kind, "income": payloads.num(amount), "asset": asset,
                "info": kind,
                "time": now, "tranId": next(self._tran_ids), "tradeId": str(trade_id),
            })  # fmt: skip

    def _fill(
        self, st: SymbolState, o: VenueOrder, price: int, qty: int, trade_id: int, is_maker: bool
    ) -> None:
        acct = self.accounts[o.account]
        now = self.clock()
        sym = st.sym
        px, q = sym.price_dec(price), sym.qty_dec(qty)
        maker_fee, taker_fee = self.fee_rates(st)
        # booked at the asset's 8 decimals, as reported: the wallet pays exactly the commission sent
        fee = (px * q * (maker_fee if is_maker else taker_fee)).quantize(FEE_PLACES)
        pos = acct.position(sym.name, sym.margin_asset)
        rp = acct.book_fill(pos, q if o.side > 0 else -q, px, fee, now)
        self._agg(o, -1)
        o.executed += qty
        o.cum_quote += px * q
        o.update_ms = now
        self._agg(o, 1)
        if o.executed >= o.qty:
            self._closed(o, "FILLED")
            o.resting = None
        else:
            o.status = "PARTIALLY_FILLED"
        fill = {
            "qty": qty,
            "price": price,
            "trade_id": trade_id,
            "maker": is_maker,
            "rp": rp,
            "commission": fee,
            "commission_asset": sym.margin_asset,
        }
        o.fills.append(trade_id)
        self.trades[acct.name].append(payloads.user_trade(sym, o, fill, now))
        self._income(acct, sym.name, "REALIZED_PNL", rp, sym.margin_asset, now, trade_id)
        self._income(acct, sym.name, "COMMISSION", -fee, sym.margin_asset, now, trade_id)
        self._user(acct, payloads.trade_lite(o, sym, now, fill))
        self._user(acct, payloads.order_trade_update(o, sym, "TRADE", now, self._notional(acct, st), fill))
        self._user(
            acct, payloads.account_update(acct, "ORDER", now, {sym.margin_asset: ZERO}, [(pos, st.mark)])
        )
        self._trim_reduce_only(acct, st)

    def _trim_reduce_only(self, acct: Account, st: SymbolState) -> None:
        """Reduce-only orders that can no longer reduce are expired (er=4), as on Binance."""
        for o in self.open_orders(acct, st.sym.name):
            if o.reduce_only and self._reduce_cap(acct, st, o, o.qty - o.executed) <= 0:
                self._expire(o, st, reason=4)

    # ---- cancel, expire, modify -------------------------------------------------------------

    def _remove(self, o: VenueOrder, st: SymbolState) -> None:
        if o.resting is not None:
            st.book.remove(o.resting)
            o.resting = None

    def _expire(self, o: VenueOrder, st: SymbolState, reason: int, status: str = "EXPIRED") -> None:
        self._remove(o, st)
        self._closed(o, status)
        o.expire_reason, o.update_ms = reason, self.clock()
        acct = self.accounts[o.account]
        self._user(
            acct, payloads.order_trade_update(o, st.sym, "EXPIRED", o.update_ms, self._notional(acct, st))
        )

    def _cancel(self, o: VenueOrder, st: SymbolState) -> None:
        self._remove(o, st)
        self._closed(o, "CANCELED")
        o.update_ms = self.clock()
        acct = self.accounts[o.account]
        self._user(
            acct, payloads.order_trade_update(o, st.sym, "CANCELED", o.update_ms, self._notional(acct, st))
        )

    def cancel(self, acct: Account, params: dict[str, str]) -> dict[str, Any]:
        """``DELETE /fapi/v1/order``: -2011 when the order is not open."""
        st = self.symbol(params.get("symbol"))
        try:
            o = self.find(acct, params)
        except VenueError:
            raise err(UNKNOWN_ORDER) from None
        if not o.is_open:
            raise err(UNKNOWN_ORDER)
        self._cancel(o, st)
        self._flush_depth(st)
        return payloads.order_json(o, st.sym)

    def cancel_all(self, acct: Account, symbol: str) -> int:
        st = self.symbol(symbol)
        orders = self.open_orders(acct, st.sym.name)
        for o in orders:
            self._cancel(o, st)
        self._flush_depth(st)
        return len(orders)

    def modify(self, acct: Account, params: dict[str, str]) -> dict[str, Any]:
        """``PUT /fapi/v1/order``: new price and size; loses priority; a GTX that would cross is canceled."""
        st = self.symbol(params.get("symbol"))
        for name in ("side", "quantity", "price"):
            if not params.get(name):
                raise missing(name)
        o = self.find(acct, params)
        if not o.is_open:
            raise VenueError(-2013, "Order does not exist.")
        if o.type != "LIMIT":
            raise VenueError(-4028, "Only limit orders can be modified.")
        price = st.sym.parse_price(params["price"])
        qty = st.sym.parse_qty(params["quantity"])
        if price == o.price and qty == o.qty:
            raise VenueError(-5027, "No need to modify the order.")
        if not o.reduce_only and st.sym.price_dec(price) * st.sym.qty_dec(qty) < st.sym.cfg.min_notional:
            raise VenueError(-5029, "Order's notional must be no smaller than the minimum.")
        now = self.clock()
        self._remove(o, st)
        if qty <= o.executed or (o.tif == "GTX" and st.book.would_take(o.side, price)):
            self._closed(o, "CANCELED")
            o.update_ms = now
            self._user(
                acct, payloads.order_trade_update(o, st.sym, "CANCELED", now, self._notional(acct, st))
            )
        else:
            self._agg(o, -1)
            o.price, o.qty, o.update_ms = price, qty, now
            self._agg(o, 1)
            self._user(
                acct, payloads.order_trade_update(o, st.sym, "AMENDMENT", now, self._notional(acct, st))
            )
            self._match_and_rest(acct, st, o)
        self._flush_depth(st)
        return payloads.order_json(o, st.sym)

    # ---- the market model's inputs ----------------------------------------------------------

    def market_levels(self, symbol: str, changes: list[tuple[int, int, int]]) -> None:
        """Other participants' size per level (side, price ticks, size steps); crossing ones fill ours."""
        st = self.symbols[symbol]
        for side, price, qty in changes:
            for ex in st.book.set_market(side, price, qty):
                self._execution(st, None, ex, next(self._taker_keys))
        self._flush_depth(st)

    def market_trade(self, symbol: str, aggressor: int, price: int, qty: int) -> None:
        """A trade between other participants; it may reach our resting orders."""
        st = self.symbols[symbol]
        key = next(self._taker_keys)
        execs = st.book.market_trade(aggressor, price, qty)
        filled = sum(e.qty for e in execs if e.price == price)
        for ex in execs:
            self._execution(st, None, ex, key)
        if qty > filled:
            trade_id = next(st.trade_ids)
            now = self.clock()
            self._public(PublicTrade(symbol, trade_id, price, qty - filled, aggressor < 0, now, key))
        self._flush_depth(st)

    def set_mark(self, symbol: str, mark: Decimal, index: Decimal) -> None:
        st = self.symbols[symbol]
        st.mark, st.index = mark, index

    # ---- timers -----------------------------------------------------------------------------

    def tick(self) -> None:
        """Funding settlement, dead-man's switches and GTD expiry, at the current clock."""
        now = self.clock()
        if now >= self.next_funding_ms:
            self._settle_funding(now)
            self.next_funding_ms += self.funding_interval_ms * max(
                1, (now - self.next_funding_ms) // self.funding_interval_ms + 1
            )
        for (name, symbol), deadline in list(self.countdowns.items()):
            if now >= deadline:
                del self.countdowns[(name, symbol)]
                self.cancel_all(self.accounts[name], symbol)
        for o in [
            o for d in self.open_by.values() for o in d.values() if o.tif == "GTD" and o.good_till <= now
        ]:
            self._expire(o, self.symbols[o.symbol], reason=6)

    def _settle_funding(self, now: int) -> None:
        for name, st in self.symbols.items():
            self.funding_history[name].append((now, st.funding_rate, st.mark))
        for acct in self.accounts.values():
            for pos in acct.positions.values():
                if pos.qty == 0:
                    continue
                st = self.symbols[pos.symbol]
                amount = acct.book_funding(pos, st.mark, st.funding_rate)
                self._income(acct, pos.symbol, "FUNDING_FEE", amount, pos.margin_asset, now)
                self._user(
                    acct,
                    payloads.account_update(
                        acct, "FUNDING_FEE", now, {pos.margin_asset: amount}, [], pos.symbol
                    ),
                )

    def countdown(self, acct: Account, symbol: str, countdown_ms: int) -> None:
        """``countdownCancelAll``: cancel every order of ``symbol`` unless refreshed in time; 0 stops it."""
        self.symbol(symbol)
        if countdown_ms <= 0:
            self.countdowns.pop((acct.name, symbol), None)
        else:
            self.countdowns[(acct.name, symbol)] = self.clock() + countdown_ms

    # ---- plumbing ---------------------------------------------------------------------------

    def _user(self, acct: Account, payload: dict[str, Any]) -> None:
        self.changes += 1
        self.outbox.append(UserEvent(acct.name, payload))

    def _notional(self, acct: Account, st: SymbolState) -> tuple[Decimal, Decimal]:
        a = self.open_agg.get((acct.name, st.sym.name))
        if a is None:
            return ZERO, ZERO
        unit = st.sym.tick * st.sym.step
        return a[2] * unit, a[3] * unit

    def open_exposure(self, acct: Account, symbol: str) -> tuple[int, int]:
        """(bid, ask) steps of open orders that add exposure (not reduce-only)."""
        a = self.open_agg.get((acct.name, symbol))
        return (a[0], a[1]) if a else (0, 0)

    def _flush_depth(self, st: SymbolState) -> None:
        if not self.depth_events:
            st.book.dirty.clear()
            return
        changes = st.book.take_changes()
        if not changes:
            return
        first = st.update_id + 1
        st.update_id += len(changes)
        book = st.book
        self.outbox.append(
            DepthBatch(st.sym.name, first, st.update_id, changes, self.clock(), book.top(BUY), book.top(-BUY))
        )

    def drain(self) -> list[Event]:
        out, self.outbox = self.outbox, []
        return out
