"""Binance Spot at the simulated venue: balances (free and locked), LIMIT, LIMIT_MAKER and MARKET
orders on the same matching engine as futures, with Binance's spot fields and errors.

Pure and deterministic given its clock, like :class:`~services.venue.exchange.Exchange`, whose
order records, books and id sequences it reuses. Spot has no positions and no margin: an order
locks what it may spend (a buy: ``price x qty`` of the quote asset; a sell: ``qty`` of the base
asset) and a fill moves both assets. The commission is taken from the asset received (Binance's
default without BNB): the buyer pays it in base, the seller in quote. The account is the venue
account of the API key; its spot balances are apart from its futures wallet.

Errors as Binance answers them (``reference/binance-api.md`` B.2/B.3): a LIMIT_MAKER that would take
is -2010 "Order would immediately match and take." and leaves no order; too little balance -2010
"Account has insufficient balance for requested action."; a filter failure -1013 "Filter failure:
<NAME>"; an unknown order -2013 on a query and -2011 on a cancel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from common.config_sections import SimVenueConfig
from services.venue.errors import VenueError, missing
from services.venue.exchange import DepthBatch, Ids, PublicTrade, SymbolState, UserEvent
from services.venue.orderbook import BUY, Execution, OrderBook, Resting
from services.venue.orders import VenueOrder
from services.venue.payloads import num
from services.venue.queue import make_queue_model
from services.venue.symbols import VenueSymbol

ZERO = Decimal(0)
WOULD_TAKE = "Order would immediately match and take."
NO_BALANCE = "Account has insufficient balance for requested action."
SPOT_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET")
SPOT_TIF = ("GTC", "IOC", "FOK")
CLIENT_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def filter_failure(name: str) -> VenueError:
    return VenueError(-1013, f"Filter failure: {name}")


@dataclass(slots=True)
class SpotWallet:
    """One account's spot balances per asset: free to use, locked by open orders."""

    free: dict[str, Decimal]
    locked: dict[str, Decimal] = field(default_factory=dict)

    def lock(self, asset: str, amount: Decimal) -> None:
        if self.free.get(asset, ZERO) < amount:
            raise VenueError(-2010, NO_BALANCE)
        self.free[asset] = self.free.get(asset, ZERO) - amount
        self.locked[asset] = self.locked.get(asset, ZERO) + amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        self.locked[asset] = self.locked.get(asset, ZERO) - amount
        self.free[asset] = self.free.get(asset, ZERO) + amount

    def add(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.free.get(asset, ZERO) + amount

    def rows(self, assets: Iterable[str] | None = None) -> list[dict[str, str]]:
        names = sorted(set(self.free) | set(self.locked)) if assets is None else sorted(set(assets))
        return [
            {"asset": a, "free": _amount(self.free.get(a, ZERO)), "locked": _amount(self.locked.get(a, ZERO))}
            for a in names
        ]


def _amount(d: Decimal) -> str:
    """A balance as Binance prints spot amounts: 8 decimals."""
    return f"{d.quantize(Decimal('0.00000001')):f}"


def _decimal(raw: str | None, name: str) -> Decimal:
    if raw is None or raw == "":
        raise missing(name)
    try:
        d = Decimal(raw)
    except InvalidOperation:
        raise VenueError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is "
            "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        ) from None
    if not d.is_finite() or d <= 0:
        raise VenueError(-1100, f"Illegal characters found in parameter '{name}'.")
    return d


class SpotExchange:
    """The spot market of the venue: its symbols, each account's spot wallet, our orders."""

    def __init__(self, cfg: SimVenueConfig, accounts: Iterable[str], clock: Callable[[], int]) -> None:
        self.cfg = cfg
        self.clock = clock
        queue = make_queue_model(cfg.queue_model, cfg.queue_power)
        self.symbols: dict[str, SymbolState] = {
            s.symbol: SymbolState(VenueSymbol(s), OrderBook(queue), ZERO) for s in cfg.spot_symbols
        }
        balances = {a.name: a.spot_balances for a in cfg.accounts}
        self.wallets: dict[str, SpotWallet] = {a: SpotWallet(dict(balances.get(a, {}))) for a in accounts}
        self.orders: dict[int, VenueOrder] = {}
        self.by_client: dict[tuple[str, str, str], VenueOrder] = {}
        self.open_by: dict[tuple[str, str], dict[int, VenueOrder]] = {}
        self.locks: dict[
            int, Decimal
        ] = {}  # order id -> what it still locks (quote for buys, base for sells)
        self.trades: dict[str, list[dict[str, Any]]] = {a: [] for a in self.wallets}
        self.outbox: list[UserEvent | PublicTrade | DepthBatch] = []
        self.maker_fee, self.taker_fee = cfg.spot_maker_fee, cfg.spot_taker_fee
        self._order_ids = Ids(4_000_000_001)
        self._auto_ids = Ids(1)
        self._exec_ids = Ids(1)
        self.changes = 0

    # ---- lookups ----------------------------------------------------------------------------

    def symbol(self, name: str | None) -> SymbolState:
        if not name:
            raise missing("symbol")
        st = self.symbols.get(name)
        if st is None:
            raise VenueError(-1121, "Invalid symbol.")
        return st

    def wallet(self, account: str) -> SpotWallet:
        return self.wallets.setdefault(account, SpotWallet({}))

    def open_orders(self, account: str, symbol: str = "") -> list[VenueOrder]:
        if symbol:
            return list(self.open_by.get((account, symbol), {}).values())
        return [o for (a, _), d in self.open_by.items() if a == account for o in d.values()]

    def find(self, account: str, p: dict[str, str], unknown: int) -> VenueOrder:
        """The order named by ``orderId`` or ``origClientOrderId``; ``unknown`` (-2013 or -2011) if none."""
        st = self.symbol(p.get("symbol"))
        o: VenueOrder | None
        if p.get("orderId"):
            try:
                o = self.orders.get(int(p["orderId"]))
            except ValueError:
                raise VenueError(-1100, "Illegal characters found in parameter 'orderId'.") from None
        elif p.get("origClientOrderId"):
            o = self.by_client.get((account, st.sym.name, p["origClientOrderId"]))
        else:
            raise VenueError(
                -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        if o is None or o.account != account or o.symbol != st.sym.name:
            raise VenueError(unknown, "Order does not exist." if unknown == -2013 else "Unknown order sent.")
        return o

    # ---- orders -----------------------------------------------------------------------------

    def place(self, account: str, p: dict[str, str]) -> dict[str, Any]:
        """``POST /api/v3/order``: validate, lock, match, rest; the order as ``newOrderRespType`` asks."""
        st = self.symbol(p.get("symbol"))
        sym, book = st.sym, st.book
        side = {"BUY": BUY, "SELL": -BUY}.get(p.get("side", ""))
        if side is None:
            raise VenueError(-1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        typ = p.get("type", "")
        if typ not in SPOT_TYPES:
            raise VenueError(-1116, "Invalid orderType.")
        tif = p.get("timeInForce", "")
        if typ == "LIMIT":
            if tif not in SPOT_TIF:
                raise VenueError(-1115, "Invalid timeInForce.") if tif else missing("timeInForce")
        elif tif:
            raise VenueError(-1106, "Parameter 'timeInForce' sent when not required.")
        qty = self._qty(sym, p.get("quantity"), market=typ == "MARKET")
        price = self._price(sym, p.get("price")) if typ != "MARKET" else None
        if typ == "MARKET" and p.get("price"):
            raise VenueError(-1106, "Parameter 'price' sent when not required.")
        cid = p.get("newClientOrderId") or f"sim-spot-{next(self._auto_ids):012d}"
        if not 1 <= len(cid) <= 36 or not set(cid) <= CLIENT_ID_CHARS:
            raise VenueError(
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; legal range is "
                "'^[a-zA-Z0-9-_]{1,36}$'.",
            )
        prior = self.by_client.get((account, sym.name, cid))
        if prior is not None and prior.is_open:
            raise VenueError(-2010, "Duplicate order sent.")
        notional = (sym.price_dec(price) if price is not None else self._mark(st)) * sym.qty_dec(qty)
        if notional < sym.cfg.min_notional:
            raise filter_failure("NOTIONAL")
        if typ == "LIMIT_MAKER" and book.would_take(side, price):
            raise VenueError(-2010, WOULD_TAKE)
        if len(self.open_orders(account, sym.name)) >= sym.cfg.max_num_orders and typ != "MARKET":
            raise filter_failure("MAX_NUM_ORDERS")
        wallet = self.wallet(account)
        base, quote = sym.cfg.base_asset, sym.cfg.quote_asset
        if typ == "MARKET":
            need = self._market_cost(st, side, qty) if side > 0 else sym.qty_dec(qty)
            if need is None or wallet.free.get(quote if side > 0 else base, ZERO) < need:
                raise VenueError(-2010, NO_BALANCE)
            lock = ZERO
        else:
            assert price is not None
            lock = sym.price_dec(price) * sym.qty_dec(qty) if side > 0 else sym.qty_dec(qty)
            wallet.lock(quote if side > 0 else base, lock)
        now = self.clock()
        stp = p.get("selfTradePreventionMode") or "EXPIRE_MAKER"
        o = VenueOrder(next(self._order_ids), account, sym.name, cid, side, typ, tif or "GTC", price or 0,
                       qty, False, stp, now, update_ms=now)  # fmt: skip
        self.orders[o.order_id] = o
        self.by_client[(account, sym.name, cid)] = o
        self.open_by.setdefault((account, sym.name), {})[o.order_id] = o
        if lock:
            self.locks[o.order_id] = lock
        self._report(o, st, "NEW")
        fills: list[dict[str, Any]] = []
        res = book.take(
            side, price if typ != "MARKET" else None, qty, account, stp if typ != "LIMIT_MAKER" else "NONE"
        )
        for m in res.stp_expired_makers:
            self._end(self.orders[m.oid], st, "EXPIRED_IN_MATCH", "TRADE_PREVENTION")
        for ex in res.executions:
            fills.append(self._execution(st, o, ex))
        if o.is_open:
            if res.stp_stopped:
                self._end(o, st, "EXPIRED_IN_MATCH", "TRADE_PREVENTION")
            elif typ == "MARKET" or tif in ("IOC", "FOK"):
                self._end(o, st, "EXPIRED", "EXPIRED")
            else:
                o.resting = Resting(o.order_id, account, side, o.price, o.qty - o.executed)
                book.add(o.resting)
        self._flush_depth(st)
        return self.order_json(o, st, p.get("newOrderRespType") or "FULL", fills)

    def cancel(self, account: str, p: dict[str, str]) -> dict[str, Any]:
        """``DELETE /api/v3/order``: cancel one open order; -2011 for an unknown or closed one."""
        st = self.symbol(p.get("symbol"))
        o = self.find(account, p, -2011)
        if not o.is_open:
            raise VenueError(-2011, "Unknown order sent.")
        cancel_id = p.get("newClientOrderId") or self._cancel_id()
        self._end(o, st, "CANCELED", "CANCELED", cancel_id)
        self._flush_depth(st)
        return self.cancel_json(o, st, cancel_id)

    def cancel_open(self, account: str, symbol: str | None) -> list[dict[str, Any]]:
        """``DELETE /api/v3/openOrders``: cancel every open order of the symbol."""
        st = self.symbol(symbol)
        out = []
        for o in self.open_orders(account, st.sym.name):
            cancel_id = self._cancel_id()
            self._end(o, st, "CANCELED", "CANCELED", cancel_id)
            out.append(self.cancel_json(o, st, cancel_id))
        self._flush_depth(st)
        return out

    def cancel_replace(self, account: str, p: dict[str, str]) -> dict[str, Any]:
        """``POST /api/v3/order/cancelReplace`` (STOP_ON_FAILURE or ALLOW_FAILURE): cancel, then place."""
        mode = p.get("cancelReplaceMode", "")
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise (
                missing("cancelReplaceMode")
                if not mode
                else VenueError(-1100, "Illegal characters found in parameter 'cancelReplaceMode'.")
            )
        cancel_p = {"symbol": p.get("symbol", ""), "orderId": p.get("cancelOrderId", ""),
                    "origClientOrderId": p.get("cancelOrigClientOrderId", "")}  # fmt: skip
        new_p = {k: v for k, v in p.items() if not k.startswith("cancel")}
        try:
            cancel = self.cancel(account, cancel_p)
        except VenueError as exc:
            if mode == "STOP_ON_FAILURE":
                raise CancelReplaceError(exc, None, "NOT_ATTEMPTED") from None
            cancel_err: VenueError | None = exc
            cancel = None
        else:
            cancel_err = None
        try:
            new = self.place(account, new_p)
        except VenueError as exc:
            raise CancelReplaceError(cancel_err or exc, cancel, "FAILURE", new_error=exc) from None
        if cancel_err is not None:
            raise CancelReplaceError(cancel_err, None, "SUCCESS", new=new)
        return {"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS", "cancelResponse": cancel,
                "newOrderResponse": new}  # fmt: skip

    # ---- the market model's inputs ----------------------------------------------------------

    def market_levels(self, symbol: str, changes: list[tuple[int, int, int]]) -> None:
        st = self.symbols[symbol]
        for side, price, qty in changes:
            for ex in st.book.set_market(side, price, qty):
                self._execution(st, None, ex)
        self._flush_depth(st)

    def market_trade(self, symbol: str, aggressor: int, price: int, qty: int) -> None:
        st = self.symbols[symbol]
        execs = st.book.market_trade(aggressor, price, qty)
        filled = sum(e.qty for e in execs if e.price == price)
        for ex in execs:
            self._execution(st, None, ex)
        if qty > filled:
            trade = PublicTrade(
                symbol, next(st.trade_ids), price, qty - filled, aggressor < 0, self.clock(), 0
            )
            self.outbox.append(trade)
        self._flush_depth(st)

    def set_mark(self, symbol: str, mark: Decimal) -> None:
        self.symbols[symbol].mark = mark

    def drain(self) -> list[UserEvent | PublicTrade | DepthBatch]:
        out, self.outbox = self.outbox, []
        return out

    # ---- internals --------------------------------------------------------------------------

    def _qty(self, sym: VenueSymbol, raw: str | None, market: bool) -> int:
        q = _decimal(raw, "quantity")
        c = sym.cfg
        if q < c.min_qty or q > (c.market_max_qty if market else c.max_qty) or (q - c.min_qty) % sym.step:
            raise filter_failure("MARKET_LOT_SIZE" if market else "LOT_SIZE")
        return int(q / sym.step)

    def _price(self, sym: VenueSymbol, raw: str | None) -> int:
        p = _decimal(raw, "price")
        c = sym.cfg
        if p < c.min_price or p > c.max_price or p % sym.tick:  # spot: price % tickSize == 0
            raise filter_failure("PRICE_FILTER")
        return int(p / sym.tick)

    def _mark(self, st: SymbolState) -> Decimal:
        bid, ask = st.book.top(BUY), st.book.top(-BUY)
        if bid and ask:
            return st.sym.price_dec(bid[0] + ask[0]) / 2
        return st.mark

    def _market_cost(self, st: SymbolState, side: int, qty: int) -> Decimal | None:
        """The quote a market buy of ``qty`` would spend walking the book now (None: not enough)."""
        st_side = st.book.side(-side)
        left, cost = qty, 0
        for p in st_side.crossing(None):
            take = min(left, st_side.levels[p].displayed())
            cost += take * p
            left -= take
            if not left:
                break
        if left:
            return None
        return st.sym.tick * st.sym.step * cost

    def _execution(self, st: SymbolState, taker: VenueOrder | None, ex: Execution) -> dict[str, Any]:
        trade_id = next(st.trade_ids)
        maker = self.orders[ex.maker.oid] if ex.maker is not None else None
        out: dict[str, Any] = {}
        if maker is not None:
            self._fill(st, maker, ex.price, ex.qty, trade_id, is_maker=True)
        if taker is not None:
            out = self._fill(st, taker, ex.price, ex.qty, trade_id, is_maker=False)
        taker_side = taker.side if taker is not None else -(maker.side if maker else BUY)
        self.outbox.append(
            PublicTrade(st.sym.name, trade_id, ex.price, ex.qty, taker_side < 0, self.clock(), 0)
        )
        return out

    def _fill(
        self, st: SymbolState, o: VenueOrder, price: int, qty: int, trade_id: int, is_maker: bool
    ) -> dict[str, Any]:
        sym, now = st.sym, self.clock()
        base, quote = sym.cfg.base_asset, sym.cfg.quote_asset
        px, q = sym.price_dec(price), sym.qty_dec(qty)
        rate = self.maker_fee if is_maker else self.taker_fee
        w = self.wallet(o.account)
        if o.side > 0:  # paid in quote (from the lock at the order's price), received base less commission
            fee, fee_asset = (q * rate).quantize(Decimal("0.00000001")), base
            if o.order_id in self.locks:
                locked_part = sym.price_dec(o.price) * q
                self.locks[o.order_id] -= locked_part
                w.locked[quote] = w.locked.get(quote, ZERO) - locked_part
                w.add(quote, locked_part - px * q)  # a better price gives the difference back
            else:
                w.add(quote, -px * q)
            w.add(base, q - fee)
        else:  # gave base (from the lock), received quote less commission
            fee, fee_asset = (px * q * rate).quantize(Decimal("0.00000001")), quote
            if o.order_id in self.locks:
                self.locks[o.order_id] -= q
                w.locked[base] = w.locked.get(base, ZERO) - q
            else:
                w.add(base, -q)
            w.add(quote, px * q - fee)
        o.executed += qty
        o.cum_quote += px * q
        o.update_ms = now
        done = o.executed >= o.qty
        if done:
            o.status = "FILLED"
            o.resting = None
            self._close(o)
        else:
            o.status = "PARTIALLY_FILLED"
        o.fills.append(trade_id)
        self.trades[o.account].append({
            "symbol": sym.name, "id": trade_id, "orderId": o.order_id, "orderListId": -1,
            "price": sym.price_str(price), "qty": sym.qty_str(qty), "quoteQty": num(px * q),
            "commission": _amount(fee), "commissionAsset": fee_asset, "time": now,
            "isBuyer": o.side > 0, "isMaker": is_maker, "isBestMatch": True,
        })  # fmt: skip
        self._report(o, st, "TRADE", last=(price, qty, fee, fee_asset, trade_id, is_maker))
        return {"price": sym.price_str(price), "qty": sym.qty_str(qty), "commission": _amount(fee),
                "commissionAsset": fee_asset, "tradeId": trade_id}  # fmt: skip

    def _end(self, o: VenueOrder, st: SymbolState, status: str, execution: str, cancel_id: str = "") -> None:
        """Take an open order off the book and out of the open index, unlocking what it held
        (``cancel_id``: the client id of the cancel that ended it)."""
        if o.resting is not None:
            st.book.remove(o.resting)
            o.resting = None
        o.status, o.update_ms = status, self.clock()
        self._close(o)
        self._report(o, st, execution, cancel_id=cancel_id)

    def _cancel_id(self) -> str:
        """The client id Binance gives a cancel sent without ``newClientOrderId`` (22 characters)."""
        return f"x-cancel-{next(self._exec_ids):013d}"

    def _close(self, o: VenueOrder) -> None:
        self.open_by.get((o.account, o.symbol), {}).pop(o.order_id, None)
        left = self.locks.pop(o.order_id, ZERO)
        if left:
            sym = self.symbols[o.symbol].sym
            self.wallet(o.account).unlock(sym.cfg.quote_asset if o.side > 0 else sym.cfg.base_asset, left)

    def _report(self, o: VenueOrder, st: SymbolState, execution: str,
                last: tuple[int, int, Decimal, str, int, bool] | None = None,
                cancel_id: str = "") -> None:  # fmt: skip
        """An ``executionReport`` and the ``outboundAccountPosition`` of the assets it moved. On a
        cancel, as Binance: ``c`` is the cancel's own client id and ``C`` the order's."""
        sym, now = st.sym, self.clock()
        price, qty, fee, fee_asset, trade_id, maker = last or (0, 0, ZERO, "", -1, False)
        self.changes += 1
        self.outbox.append(UserEvent(o.account, {
            "e": "executionReport", "E": now, "s": sym.name, "c": cancel_id or o.client_id, "S": o.side_str,
            "o": o.type, "f": o.tif, "q": sym.qty_str(o.qty), "p": sym.price_str(o.price),
            "P": "0.00000000", "F": "0.00000000", "g": -1, "C": o.client_id if cancel_id else "",
            "x": execution, "X": o.status,
            "r": "NONE", "i": o.order_id, "l": sym.qty_str(qty), "z": sym.qty_str(o.executed),
            "L": sym.price_str(price), "n": _amount(fee), "N": fee_asset or None, "T": now, "t": trade_id,
            "I": next(self._exec_ids), "w": o.resting is not None, "m": maker, "M": False,
            "O": o.time_ms, "Z": num(o.cum_quote), "Y": num(sym.price_dec(price) * sym.qty_dec(qty)),
            "Q": "0.00000000", "W": o.time_ms, "V": o.stp,
        }))  # fmt: skip
        assets = (sym.cfg.base_asset, sym.cfg.quote_asset)
        rows = self.wallet(o.account).rows(assets)
        self.outbox.append(UserEvent(o.account, {
            "e": "outboundAccountPosition", "E": now, "u": now,
            "B": [{"a": r["asset"], "f": r["free"], "l": r["locked"]} for r in rows],
        }))  # fmt: skip

    def _flush_depth(self, st: SymbolState) -> None:
        changes = st.book.take_changes()
        if not changes:
            return
        first = st.update_id + 1
        st.update_id += len(changes)
        book = st.book
        self.outbox.append(
            DepthBatch(st.sym.name, first, st.update_id, changes, self.clock(), book.top(BUY), book.top(-BUY))
        )

    # ---- payloads ---------------------------------------------------------------------------

    def order_json(
        self, o: VenueOrder, st: SymbolState, resp: str, fills: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The order as ``POST /api/v3/order`` answers (ACK, RESULT or FULL) and queries show it."""
        sym = st.sym
        out: dict[str, Any] = {"symbol": sym.name, "orderId": o.order_id, "orderListId": -1,
                               "clientOrderId": o.client_id, "transactTime": o.update_ms}  # fmt: skip
        if resp == "ACK":
            return out
        out.update({
            "price": sym.price_str(o.price), "origQty": sym.qty_str(o.qty),
            "executedQty": sym.qty_str(o.executed), "origQuoteOrderQty": "0.00000000",
            "cummulativeQuoteQty": _amount(o.cum_quote), "status": o.status, "timeInForce": o.tif,
            "type": o.type, "side": o.side_str, "workingTime": o.time_ms,
            "selfTradePreventionMode": o.stp,
        })  # fmt: skip
        if resp == "FULL":
            out["fills"] = fills
        return out

    def cancel_json(self, o: VenueOrder, st: SymbolState, cancel_id: str) -> dict[str, Any]:
        """A cancel's answer: the order's client id is ``origClientOrderId``, the cancel's own is
        ``clientOrderId`` (Binance's ``DELETE /api/v3/order``)."""
        out = self.order_json(o, st, "RESULT", [])
        del out["workingTime"]
        return {"symbol": out.pop("symbol"), "origClientOrderId": o.client_id, **out,
                "clientOrderId": cancel_id, "transactTime": o.update_ms}  # fmt: skip

    def query_json(self, o: VenueOrder) -> dict[str, Any]:
        """The order as ``GET /api/v3/order`` and ``openOrders`` show it."""
        sym = self.symbols[o.symbol].sym
        return {
            "symbol": sym.name, "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_id,
            "price": sym.price_str(o.price), "origQty": sym.qty_str(o.qty),
            "executedQty": sym.qty_str(o.executed), "cummulativeQuoteQty": _amount(o.cum_quote),
            "status": o.status, "timeInForce": o.tif, "type": o.type, "side": o.side_str,
            "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": o.time_ms,
            "updateTime": o.update_ms, "isWorking": o.is_open, "workingTime": o.time_ms,
            "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": o.stp,
        }  # fmt: skip


class CancelReplaceError(VenueError):
    """A cancelReplace that did not fully succeed: Binance answers 400 (nothing done) or 409 (one
    half done) with code -2022 and both halves' outcomes in ``data``."""

    def __init__(
        self,
        cause: VenueError,
        cancel: dict[str, Any] | None,
        new_result: str,
        new: dict[str, Any] | None = None,
        new_error: VenueError | None = None,
    ) -> None:
        self.cause, self.cancel, self.new_result = cause, cancel, new_result
        self.new, self.new_error = new, new_error
        partial = (cancel is not None) != (new is not None)
        msg = "Order cancel-replace partially failed." if partial else "Order cancel-replace failed."
        super().__init__(-2022, msg, 409 if partial else 400)

    def payload(self) -> dict[str, object]:
        def err(e: VenueError | None) -> dict[str, Any] | None:
            return None if e is None else {"code": e.code, "msg": e.msg}

        return {
            "code": self.code,
            "msg": self.msg,
            "data": {
                "cancelResult": "SUCCESS" if self.cancel is not None else "FAILURE",
                "newOrderResult": self.new_result,
                "cancelResponse": self.cancel or err(self.cause if self.cancel is None else None),
                "newOrderResponse": self.new or err(self.new_error),
            },
        }
