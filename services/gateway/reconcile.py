"""Target reconciliation: the fewest venue actions that turn our resting orders into the target.

``plan(target, working, instrument, params, now)`` is a pure function. Per side:

1. Orders whose outcome is still open (PendingNew, a modify in flight, an unknown outcome) are not
   touched; each *covers* the wanted quote it most likely serves, so nothing is placed twice. An
   order being canceled covers nothing.
2. **Keep** a settled order within ``price_tolerance_ticks`` and ``size_tolerance_pct`` of the
   wanted quote of its own layer (anti-flicker). An order only ever serves the layer its client id
   names, so one (side, layer) is never served by two orders, even across a restart that rebuilds
   the OMS from the venue's listing.
3. **Amend** (PUT modify, same client id) a remaining order onto its layer's remaining quote, when
   the venue allows it (a LIMIT order, same reduce-only flag and time in force). A modify loses queue
   priority like a replacement does but costs one order count instead of a cancel plus an order,
   and a GTX modify that would cross is canceled by the venue (the next plan re-places it).
4. **Cancel** what is left over; **place** the quotes left unserved, within MAX_NUM_ORDERS.

Only our own layered orders are reconciled: foreign orders (manual, liquidation) and ours without a
layer (``x`` in the client id: a flatten or reduce command's orders) are left to their owners,
though they count toward MAX_NUM_ORDERS.

Actions come grouped in batches where the venue has them (place and modify up to 5, cancel up to
10; fewer than ``batch_min_items`` go singly) and carry a priority: cancels first, then reduce-only
orders, then new quotes. Quotes are post-only (GTX) unless a quote says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Self, TypeVar

from common.instrument import check_order
from common.messages import Instrument, Quote, TargetQuotes
from common.params.gateway import ReconcileParams
from services.gateway.orders import Amend, NewOrder, OrderRecord

PRIORITY_CANCEL = 0
PRIORITY_REDUCE = 1
PRIORITY_QUOTE = 2

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PlaceOrders:
    """Place ``items`` (one: ``POST /order`` or ``order.place``; more: ``POST /batchOrders``)."""

    symbol: str
    priority: int
    items: tuple[NewOrder, ...]

    def split(self, n: int) -> tuple[Self, Self]:
        """The first ``n`` items and the rest, as two actions of the same kind."""
        return replace(self, items=self.items[:n]), replace(self, items=self.items[n:])


@dataclass(frozen=True, slots=True)
class ModifyOrders:
    """Modify ``items`` (one: ``PUT /order`` or ``order.modify``; more: ``PUT /batchOrders``)."""

    symbol: str
    priority: int
    items: tuple[Amend, ...]

    def split(self, n: int) -> tuple[Self, Self]:
        """The first ``n`` items and the rest, as two actions of the same kind."""
        return replace(self, items=self.items[:n]), replace(self, items=self.items[n:])


@dataclass(frozen=True, slots=True)
class CancelOrders:
    """Cancel these client ids (one: ``DELETE /order``; more: ``DELETE /batchOrders``)."""

    symbol: str
    priority: int
    items: tuple[str, ...]

    def split(self, n: int) -> tuple[Self, Self]:
        """The first ``n`` items and the rest, as two actions of the same kind."""
        return replace(self, items=self.items[:n]), replace(self, items=self.items[n:])


Action = PlaceOrders | ModifyOrders | CancelOrders


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do for one symbol, and what was decided not to do."""

    symbol: str
    target_id: int
    actions: tuple[Action, ...]
    kept: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()
    skipped: tuple[tuple[Quote, str], ...] = ()


def tif_of(quote: Quote, params: ReconcileParams) -> str:
    """The time in force a quote is sent with: post-only unless the quote asks otherwise."""
    return params.time_in_force if quote.post_only else "GTC"


def plan(
    target: TargetQuotes,
    working: Sequence[OrderRecord],
    instrument: Instrument,
    params: ReconcileParams,
    now: int,
) -> Plan:
    """The actions that move ``working`` (the OMS's records of the symbol) toward ``target``."""
    del now  # the decision depends on state only; kept in the signature for replays and logs
    symbol = target.symbol
    live = [o for o in working if o.symbol == symbol and o.owned and o.layer >= 0 and not o.final]
    wanted, skipped = _valid_quotes(target.quotes, instrument)
    waiting = [o for o in live if o.busy]
    settled = [o for o in live if not o.busy]
    wanted = _uncovered(wanted, [o for o in waiting if o.intent != "cancel"])
    kept, wanted, settled = _keep(wanted, settled, instrument.price_tick, params)
    amends: list[Amend] = []
    if params.amend:
        amends, wanted, settled = _amend(wanted, settled, symbol, params)
    open_after = sum(1 for o in working if o.symbol == symbol and not o.final)
    room = max(0, instrument.max_num_orders - open_after)
    places = [_new_order(q, target, params) for q in wanted]
    skipped += [(q, "MAX_NUM_ORDERS") for q in wanted[room:]]
    actions = _group(symbol, [o.client_id for o in settled], amends, places[:room], params)
    return Plan(
        symbol=symbol,
        target_id=target.target_id,
        actions=tuple(actions),
        kept=tuple(o.client_id for o in kept),
        waiting=tuple(o.client_id for o in waiting),
        skipped=tuple(skipped),
    )


def _valid_quotes(quotes: Iterable[Quote], inst: Instrument) -> tuple[list[Quote], list[tuple[Quote, str]]]:
    """Quotes that pass the venue's filters, inner layers first; the rest with the failing filter."""
    ok: list[Quote] = []
    bad: list[tuple[Quote, str]] = []
    for q in sorted(quotes, key=lambda q: (q.layer, q.side)):
        why = check_order(inst, q.price, q.qty, q.reduce_only)
        if why:
            bad.append((q, why))
        else:
            ok.append(q)
    return ok, bad


def _effective(o: OrderRecord) -> tuple[Decimal, Decimal]:
    """Price and open size an order will have once its pending modify (if any) lands."""
    if o.pending_price is not None and o.pending_qty is not None:
        return o.pending_price, o.pending_qty - o.filled
    return o.price, o.qty - o.filled


def _match(
    wanted: list[Quote], settled: list[OrderRecord], accept: Callable[[OrderRecord, Quote], bool]
) -> tuple[list[tuple[Quote, OrderRecord]], list[Quote], list[OrderRecord]]:
    """Pair each wanted quote (in order) with the settled order of its own layer and side that
    ``accept`` allows and whose price, then size, is nearest (the first such order on a tie); the
    pairs, the quotes left unpaired, and the orders left (in their order).

    Orders are bucketed by (layer, side) first: only an order of the quote's own layer and side
    may serve it (``accept`` checks the rest: reduce-only flag, time in force, tolerances), so
    each quote looks at its own bucket, not at every order.
    """
    buckets: dict[tuple[int, str], list[OrderRecord]] = {}
    for o in settled:
        buckets.setdefault((o.layer, o.side), []).append(o)
    pairs: list[tuple[Quote, OrderRecord]] = []
    rest: list[Quote] = []
    taken: set[int] = set()
    for q in wanted:
        bucket = buckets.get((q.layer, q.side))
        best: OrderRecord | None = None
        best_key: tuple[Decimal, Decimal] | None = None
        if bucket:
            for o in bucket:
                if not accept(o, q):
                    continue
                price, size = _effective(o)
                key = (abs(price - q.price), abs(size - q.qty))
                if best_key is None or key < best_key:
                    best, best_key = o, key
        if best is None:
            rest.append(q)
            continue
        assert bucket is not None
        _drop(bucket, best)
        taken.add(id(best))
        pairs.append((q, best))
    return pairs, rest, [o for o in settled if id(o) not in taken]


def _drop(pool: list[OrderRecord], o: OrderRecord) -> None:
    """Remove ``o`` itself (by identity: comparing records field by field is slow and not meant)."""
    for i, x in enumerate(pool):
        if x is o:
            del pool[i]
            return


def _uncovered(wanted: list[Quote], busy: list[OrderRecord]) -> list[Quote]:
    """Wanted quotes left once every busy order has claimed the one it most likely serves."""
    rest = list(wanted)
    for o in sorted(busy, key=lambda o: o.layer):
        same_side = [q for q in rest if q.side == o.side]
        if same_side:
            p, _ = _effective(o)
            rest.remove(min(same_side, key=lambda q: (q.layer != o.layer, abs(q.price - p))))
    return rest


def _keep(
    wanted: list[Quote], settled: list[OrderRecord], tick: Decimal, params: ReconcileParams
) -> tuple[list[OrderRecord], list[Quote], list[OrderRecord]]:
    """Orders that already serve a wanted quote within the tolerances: kept as they are."""
    tif_ok = _tif_check(params)
    max_dp = tick * params.price_tolerance_ticks
    size_pct = params.size_tolerance_pct

    def within(o: OrderRecord, q: Quote) -> bool:
        if o.reduce_only != q.reduce_only or not tif_ok(o, q):
            return False
        price, size = _effective(o)
        return abs(price - q.price) <= max_dp and abs(size - q.qty) <= q.qty * size_pct

    pairs, rest, pool = _match(wanted, settled, within)
    return [o for _q, o in pairs], rest, pool


def _amend(
    wanted: list[Quote], settled: list[OrderRecord], symbol: str, params: ReconcileParams
) -> tuple[list[Amend], list[Quote], list[OrderRecord]]:
    """Orders of a wanted quote's layer and flags that can be modified into it."""
    tif_ok = _tif_check(params)

    def amendable(o: OrderRecord, q: Quote) -> bool:
        return o.reduce_only == q.reduce_only and o.order_type == "LIMIT" and tif_ok(o, q)

    pairs, rest, pool = _match(wanted, settled, amendable)
    amends = [
        Amend(o.client_id, symbol, o.side, q.price, o.filled + q.qty, q.layer, o.reduce_only)
        for q, o in pairs
    ]
    return amends, rest, pool


def _tif_check(params: ReconcileParams) -> Callable[[OrderRecord, Quote], bool]:
    """Whether an order's time in force is the one the quote would be sent with (:func:`tif_of`)."""
    post = params.time_in_force
    return lambda o, q: o.tif == (post if q.post_only else "GTC")


def _new_order(q: Quote, target: TargetQuotes, params: ReconcileParams) -> NewOrder:
    return NewOrder(
        symbol=target.symbol,
        side=q.side,
        price=q.price,
        qty=q.qty,
        layer=q.layer,
        tif=tif_of(q, params),
        reduce_only=q.reduce_only,
        target_id=target.target_id,
    )


def _chunks(items: Sequence[T], size: int, min_batch: int) -> list[tuple[T, ...]]:
    """Batches of ``size``; a remainder smaller than ``min_batch`` goes as single requests."""
    out: list[tuple[T, ...]] = []
    for i in range(0, len(items), size):
        chunk = tuple(items[i : i + size])
        if len(chunk) >= min_batch or len(chunk) == 1:
            out.append(chunk)
        else:
            out.extend((x,) for x in chunk)
    return out


def _group(
    symbol: str, cancels: list[str], amends: list[Amend], places: list[NewOrder], p: ReconcileParams
) -> list[Action]:
    """Batches in priority order: cancels, reduce-only modifies and places, then the quotes'."""
    out: list[Action] = [
        CancelOrders(symbol, PRIORITY_CANCEL, c)
        for c in _chunks(cancels, p.batch_cancel_max, p.batch_min_items)
    ]
    for prio, reduce in ((PRIORITY_REDUCE, True), (PRIORITY_QUOTE, False)):
        mods = [a for a in amends if a.reduce_only == reduce]
        news = [n for n in places if n.reduce_only == reduce]
        out += [ModifyOrders(symbol, prio, c) for c in _chunks(mods, p.batch_modify_max, p.batch_min_items)]
        out += [PlaceOrders(symbol, prio, c) for c in _chunks(news, p.batch_place_max, p.batch_min_items)]
    return out
