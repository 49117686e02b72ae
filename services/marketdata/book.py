"""A local L2 order book held in exact integers: prices in ticks, quantities in steps.

The book keeps every level the exchange sends, exactly. Its units start as the instrument's tick
and step; a level finer than them (real feeds carry large far-away orders left from before a filter
change, at prices or sizes off today's grid) makes the book's unit finer (a power of ten that
divides both the old unit and the value: :meth:`OrderBook._refine`), every held level rescaled by
the whole factor, and the level kept. Nothing is rounded and the book never resyncs over it; the
units travel with every :class:`~common.messages.BookLevels`. What the product sends is still
rounded to the instrument's filters, elsewhere (strategy, risk, gateway).

Binance sends levels as decimal strings. They are turned into integers once, on the way in, and
the book never holds a float or a ``Decimal``. This is the feed's hot path (tens of thousands of
levels a second on one core), so parsing is a float fast path checked against the grid, with an
exact ``Decimal`` fallback for anything the float cannot vouch for, behind a per-string cache:
the same price and size strings recur constantly, and a dict hit is cheaper than any parse.

Each side is a dict ``key -> steps`` plus a sorted list of its keys. Bid keys are *negated* ticks,
so on both sides the sorted list runs best first and one code path serves both.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from common.binance.market import Level
from common.messages import BookLevels

_EPS = 1e-6
"""How far (in ticks or steps) a parsed float may sit from an integer and still count as on-grid.

Float error stays far below 1e-6 units for values under 1e9 units (``_FAST_LIMIT``); anything
further off, or larger, goes to the exact ``Decimal`` path, which decides exactly.
"""

_FAST_LIMIT = 1_000_000_000
"""Values of this many units or more always take the exact path (float spacing nears the tolerance)."""

CACHE_LIMIT = 100_000
"""Strings each parse cache holds before it is emptied (bounds memory on a long run)."""

BookSide = list[tuple[int, int]]
"""Levels best first, as (price_ticks, qty_steps)."""


class InvalidLevelError(ValueError):
    """A venue price or quantity the book cannot hold exactly: unparseable, negative or zero price."""


class OffGridError(InvalidLevelError):
    """A value that is not a whole number of the parser's unit; ``text`` is the value as sent."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


class OffTickError(OffGridError):
    """A price that is not a whole number of the book's price unit (the book refines its unit)."""


class OffStepError(OffGridError):
    """A quantity that is not a whole number of the book's size unit (the book refines its unit)."""


MAX_REFINEMENTS = 16
"""Unit refinements one batch of levels may cause (each at least a factor of ten finer)."""


def finer_unit(unit: Decimal, value: Decimal) -> Decimal:
    """The power of ten that divides both ``unit`` and ``value``: ``finer_unit(0.01, 99.995)`` is
    0.001, ``finer_unit(0.5, 0.1)`` is 0.1 (0.5 = 5 x 0.1)."""
    exp = min(int(unit.normalize().as_tuple().exponent), int(value.normalize().as_tuple().exponent))
    return Decimal(1).scaleb(exp)


class GridParser:
    """Turns decimal strings into exact integer multiples of one unit (a tick or a step), cached.

    ``sign`` -1 yields negated values (the book's bid keys). ``minimum`` is the smallest valid
    multiple: 1 for prices, 0 for quantities (0 deletes a level).
    """

    __slots__ = ("cache", "error", "limit", "minimum", "scale", "sign", "unit")

    def __init__(
        self,
        unit: Decimal,
        error: type[OffGridError],
        sign: int = 1,
        minimum: int = 0,
        limit: int = CACHE_LIMIT,
    ) -> None:
        if unit <= 0:
            raise ValueError(f"grid unit must be positive, got {unit}")
        self.unit = unit
        self.error = error
        self.sign = sign
        self.minimum = minimum
        self.limit = limit
        self.scale = sign / float(unit)
        self.cache: dict[str, int] = {}

    def parse(self, s: str) -> int:
        """The string as a signed integer of units; raises :class:`InvalidLevelError` or ``error``."""
        n = self.cache.get(s)
        return self.parse_new(s) if n is None else n

    def parse_new(self, s: str) -> int:
        """:meth:`parse` for a string known to be missing from the cache (the hot loop's miss path)."""
        try:
            x = float(s) * self.scale
            n = round(x)
            fast = abs(x - n) <= _EPS and self.minimum <= n * self.sign < _FAST_LIMIT
        except (ValueError, OverflowError):  # nan, inf, not a number: the exact path says which
            fast = False
        if not fast:
            n = self._exact(s)
        if len(self.cache) >= self.limit:
            self.cache.clear()
        self.cache[s] = n
        return n

    def _exact(self, s: str) -> int:
        try:
            d = Decimal(s)
            if not d.is_finite() or d < self.minimum * self.unit:
                raise InvalidLevelError(f"{s!r} is not a number >= {self.minimum * self.unit}")
            n, rest = divmod(d, self.unit)
        except InvalidOperation:
            raise InvalidLevelError(f"not a decimal number of at most 28 digits: {s!r}") from None
        if rest:
            raise self.error(f"{s!r} is not a multiple of {self.unit}", s)
        return int(n) * self.sign


def _apply_side(
    levels: Iterable[Level], side: dict[int, int], keys: list[int], px: GridParser, qty: GridParser
) -> None:
    # The hot loop: cache hits inline, a parse call only on a miss.
    pcache, qcache = px.cache, qty.cache
    for ps, qs in levels:
        k = pcache.get(ps)
        if k is None:
            k = px.parse_new(ps)
        q = qcache.get(qs)
        if q is None:
            q = qty.parse_new(qs)
        if q:
            if k not in side:
                insort(keys, k)
            side[k] = q
        elif side.pop(k, None) is not None:
            del keys[bisect_left(keys, k)]


def _load_side(levels: Iterable[Level], px: GridParser, qty: GridParser) -> tuple[dict[int, int], list[int]]:
    side: dict[int, int] = {}
    for ps, qs in levels:
        k, q = px.parse(ps), qty.parse(qs)
        if q:
            side[k] = q
        else:
            side.pop(k, None)
    return side, sorted(side)


class OrderBook:
    """One symbol's L2 book: exact ``(price_units, qty_units)`` levels, best first on each side.

    The units are ``price_unit`` and ``qty_unit``: the instrument's tick and step until the feed
    sends a finer level (see the module docstring). The book applies what it is given; the
    update-id rules that decide *whether* a diff may be applied live in
    :mod:`services.marketdata.sync`. On an :class:`InvalidLevelError` (a value that is not a
    positive decimal) the book may be left half-updated: discard it (the sync does).
    """

    __slots__ = (
        "_ask_keys",
        "_ask_px",
        "_asks",
        "_bid_keys",
        "_bid_px",
        "_bids",
        "_qty",
        "cache_limit",
        "last_update_id",
        "price_tick",
        "price_unit",
        "qty_step",
        "qty_unit",
        "refinements",
    )

    def __init__(self, price_tick: Decimal, qty_step: Decimal, cache_limit: int = CACHE_LIMIT) -> None:
        self.price_tick = price_tick
        self.qty_step = qty_step
        self.cache_limit = cache_limit
        self.refinements = 0
        """How often a level finer than the units made them finer (a metric: a filter changed)."""
        self.last_update_id = 0
        self._set_price_unit(price_tick)
        self._set_qty_unit(qty_step)
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_keys: list[int] = []
        self._ask_keys: list[int] = []

    def _set_price_unit(self, unit: Decimal) -> None:
        self.price_unit = unit
        self._bid_px = GridParser(unit, OffTickError, sign=-1, minimum=1, limit=self.cache_limit)
        self._ask_px = GridParser(unit, OffTickError, sign=1, minimum=1, limit=self.cache_limit)

    def _set_qty_unit(self, unit: Decimal) -> None:
        self.qty_unit = unit
        self._qty = GridParser(unit, OffStepError, limit=self.cache_limit)

    def _refine(self, exc: OffGridError) -> None:
        """Make the unit ``exc`` was off finer, rescaling every level held by the whole factor."""
        value = Decimal(exc.text)
        if isinstance(exc, OffTickError):
            new = finer_unit(self.price_unit, value)
            f = int(self.price_unit / new)
            self._bids = {k * f: q for k, q in self._bids.items()}
            self._asks = {k * f: q for k, q in self._asks.items()}
            self._bid_keys = [k * f for k in self._bid_keys]
            self._ask_keys = [k * f for k in self._ask_keys]
            self._set_price_unit(new)
        else:
            new = finer_unit(self.qty_unit, value)
            f = int(self.qty_unit / new)
            self._bids = {k: q * f for k, q in self._bids.items()}
            self._asks = {k: q * f for k, q in self._asks.items()}
            self._set_qty_unit(new)
        self.refinements += 1

    def apply_snapshot(self, last_update_id: int, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Replace the whole book with a REST depth snapshot taken at ``last_update_id``."""
        bids, asks = list(bids), list(asks)
        for _ in range(MAX_REFINEMENTS):
            self.clear()
            try:
                self._bids, self._bid_keys = _load_side(bids, self._bid_px, self._qty)
                self._asks, self._ask_keys = _load_side(asks, self._ask_px, self._qty)
                break
            except OffGridError as exc:
                self._refine(exc)
        else:
            raise InvalidLevelError(f"a snapshot needed more than {MAX_REFINEMENTS} finer units")
        self.last_update_id = last_update_id

    def apply_levels(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Apply absolute levels ``[price, qty]`` as strings; qty 0 deletes (absent levels included).

        A level off the units refines them and the whole batch is applied again: levels are
        absolute, so a level applied twice is applied once."""
        if not isinstance(bids, list) or not isinstance(asks, list):  # read twice on a refinement
            bids, asks = list(bids), list(asks)
        for _ in range(MAX_REFINEMENTS + 1):
            try:
                _apply_side(bids, self._bids, self._bid_keys, self._bid_px, self._qty)
                _apply_side(asks, self._asks, self._ask_keys, self._ask_px, self._qty)
                return
            except OffGridError as exc:
                self._refine(exc)
        raise InvalidLevelError(f"levels needed more than {MAX_REFINEMENTS} finer units")

    def set_level(self, is_bid: bool, ticks: int, steps: int) -> None:
        """Set one level from integers of the book's units (tests); ``steps`` 0 deletes it."""
        if ticks < 1 or steps < 0:
            raise InvalidLevelError(f"invalid level ({ticks}, {steps})")
        if is_bid:
            side, keys, k = self._bids, self._bid_keys, -ticks
        else:
            side, keys, k = self._asks, self._ask_keys, ticks
        if steps:
            if k not in side:
                insort(keys, k)
            side[k] = steps
        elif side.pop(k, None) is not None:
            del keys[bisect_left(keys, k)]

    def clear(self) -> None:
        """Empty both sides and forget the update id (parse caches stay: they are still right)."""
        self._bids, self._asks = {}, {}
        self._bid_keys, self._ask_keys = [], []
        self.last_update_id = 0

    def best_bid(self) -> tuple[int, int] | None:
        """Best bid as (price_ticks, qty_steps), or None when the side is empty."""
        if not self._bid_keys:
            return None
        k = self._bid_keys[0]
        return -k, self._bids[k]

    def best_ask(self) -> tuple[int, int] | None:
        """Best ask as (price_ticks, qty_steps), or None when the side is empty."""
        if not self._ask_keys:
            return None
        k = self._ask_keys[0]
        return k, self._asks[k]

    def top(self, n: int) -> tuple[BookSide, BookSide]:
        """The best ``n`` levels of each side, best first, as (price_ticks, qty_steps)."""
        bids, asks = self._bids, self._asks
        return (
            [(-k, bids[k]) for k in self._bid_keys[:n]],
            [(k, asks[k]) for k in self._ask_keys[:n]],
        )

    def is_crossed(self) -> bool:
        """True when best bid >= best ask: a locked or crossed book is never a real Binance state."""
        return bool(self._bid_keys and self._ask_keys) and -self._bid_keys[0] >= self._ask_keys[0]

    @property
    def bid_count(self) -> int:
        """Number of bid levels held."""
        return len(self._bids)

    @property
    def ask_count(self) -> int:
        """Number of ask levels held."""
        return len(self._asks)

    def parse_price(self, s: str) -> int:
        """A price string as exact price units; raises :class:`OffTickError` when off the unit."""
        return self._ask_px.parse(s)

    def parse_qty(self, s: str) -> int:
        """A quantity string as exact size units; raises :class:`OffStepError` when off the unit."""
        return self._qty.parse(s)

    def price(self, units: int) -> Decimal:
        """Price units as an exact ``Decimal`` price."""
        return units * self.price_unit

    def qty(self, units: int) -> Decimal:
        """Size units as an exact ``Decimal`` quantity."""
        return units * self.qty_unit

    def to_levels(
        self, n: int, symbol: str, ts_exchange: int, ts_event: int | None = None, ts_init: int | None = None
    ) -> BookLevels:
        """The top ``n`` levels as a bus message; stamps default to ``ts_exchange`` (no clock read here)."""
        bids, asks = self.top(n)
        ts_event = ts_exchange if ts_event is None else ts_event
        return BookLevels(
            symbol=symbol,
            last_update_id=self.last_update_id,
            ts_exchange=ts_exchange,
            price_tick=self.price_unit,
            qty_step=self.qty_unit,
            bids=bids,
            asks=asks,
            ts_event=ts_event,
            ts_init=ts_event if ts_init is None else ts_init,
        )
