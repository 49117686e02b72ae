"""Exposure clipping of a quote set: off-grid quotes, singleMax, reduce-only, the worst-case cap, filters.

Applied in this order, exactly, in Decimals:

1. a quote off the price tick, or with no size, is dropped; a size off the step rounds down;
2. a size above singleMax shrinks to it;
3. in reduce-only mode only the side that reduces the position stays, capped at the position, every
   quote marked reduce-only;
4. otherwise the worst-case cap: with every bid filled — and every live order outside the target
   (``outside_buy``: orders without a layer such as a flatten's, pending cancels and unacknowledged
   orders past their grace) — the position stays ≤ ``net``, and likewise for asks ≥ −``net``. Each
   side is kept from the inside out; the quote that crosses the cap shrinks to fit, the ones beyond
   it (the outermost) are dropped;
5. a quote below minQty, or below the minimum notional unless reduce-only, is dropped.

``net`` is the tightest of netMax, the global notional room and the leverage room (see
:mod:`services.risk.approval`); when it is below |position| the adding side gets nothing, which is
how the global cap pauses every symbol's adds while their reducing quotes still pass. Every step
only removes or shrinks, so shaping an already shaped set again changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from operator import attrgetter
from typing import NamedTuple

import msgspec

from common.instrument import round_down
from common.messages import Instrument, Quote
from services.risk.state import ZERO

INF = Decimal("Infinity")

_PRICE = attrgetter("price")
SPOT = "spot_balance"
"""The clip rule of a spot side held to the wallet: asks to the base held, bids to the quote."""


class Caps(NamedTuple):
    """What one symbol may quote now: worst-case |position| ``net`` (set by ``net_rule``), order size."""

    net: Decimal
    net_rule: str
    single: Decimal
    reduce_only: bool
    outside_buy: Decimal = Decimal(0)
    outside_sell: Decimal = Decimal(0)
    buy_room: Decimal = INF
    """Spot: what the bids may total (the quote held), apart from the position cap."""
    sell_room: Decimal = INF
    """Spot: what the asks may total (the base held)."""


class Clip(NamedTuple):
    """What one rule removed or shrank, for ``TargetQuotes.clipped``, with the figures behind it."""

    rule: str
    text: str
    figures: dict[str, float]


def shape(
    quotes: Sequence[Quote], inst: Instrument, pos: Decimal, caps: Caps, checked: bool = False
) -> tuple[list[Quote], list[Clip]]:
    """The quotes that may rest (bids best first, then asks best first) and what was clipped.

    ``checked`` skips steps 1, 2 and 5 for quotes that passed them under the same limits.
    """
    clips: list[Clip] = []
    if checked:
        bids = [q for q in quotes if q.side == "BUY"]
        asks = [q for q in quotes if q.side == "SELL"]
    else:
        bids, asks = _valid(quotes, inst, caps.single, clips)
    bids.sort(key=_PRICE, reverse=True)
    asks.sort(key=_PRICE)
    if caps.reduce_only:
        kept = _reduce_only(bids, asks, pos, inst, clips)
    else:
        buy, sell = caps.net - pos - caps.outside_buy, caps.net + pos - caps.outside_sell
        kept = _cap(
            bids, min(buy, caps.buy_room), inst, caps.net_rule if buy <= caps.buy_room else SPOT, clips
        )
        kept += _cap(
            asks, min(sell, caps.sell_room), inst, caps.net_rule if sell <= caps.sell_room else SPOT, clips
        )
    return kept, clips


def worst_case(pos: Decimal, quotes: Sequence[Quote]) -> tuple[Decimal, Decimal]:
    """Total bid and ask size: the position may reach ``pos + bids`` or ``pos − asks``."""
    bids = sum((q.qty for q in quotes if q.side == "BUY"), ZERO)
    return bids, sum((q.qty for q in quotes if q.side == "SELL"), ZERO)


def _valid(
    quotes: Sequence[Quote], inst: Instrument, single: Decimal, clips: list[Clip]
) -> tuple[list[Quote], list[Quote]]:
    """Split by side, drop off-grid and too-small quotes, round sizes down, apply singleMax."""
    bids: list[Quote] = []
    asks: list[Quote] = []
    off_grid = shrunk = small = 0
    tick, step = inst.price_tick, inst.qty_step
    min_qty, max_qty, min_notional = inst.min_qty, inst.max_qty or INF, inst.min_notional
    for q in quotes:
        price, qty = q.price, q.qty
        if price <= 0 or qty <= 0 or price % tick:
            off_grid += 1
            continue
        if qty % step:
            qty = round_down(qty, step)
        if qty > single:
            qty, shrunk = single, shrunk + 1
        if qty < min_qty or qty > max_qty or (min_notional > price * qty and not q.reduce_only):
            small += 1
            continue
        (bids if q.side == "BUY" else asks).append(q if qty is q.qty else msgspec.structs.replace(q, qty=qty))
    if off_grid:
        text = f"grid: {off_grid} quote(s) off the price tick or without size dropped"
        clips.append(Clip("grid", text, {"dropped": off_grid}))
    if shrunk:
        text = f"singleMax {single}: {shrunk} quote(s) shrunk"
        clips.append(Clip("singleMax", text, {"single_max": float(single), "shrunk": shrunk}))
    if small:
        clips.append(
            Clip(
                "filters",
                f"filters: {small} quote(s) below minQty or the minimum notional dropped",
                {"dropped": small, "min_qty": float(min_qty), "min_notional": float(min_notional)},
            )
        )
    return bids, asks


def _passes(price: Decimal, qty: Decimal, reduce_only: bool, inst: Instrument) -> bool:
    """LOT_SIZE and, unless reduce-only, MIN_NOTIONAL."""
    if qty < inst.min_qty or (inst.max_qty and qty > inst.max_qty):
        return False
    return reduce_only or not inst.min_notional or price * qty >= inst.min_notional


def _cap(side: list[Quote], room: Decimal, inst: Instrument, rule: str, clips: list[Clip]) -> list[Quote]:
    """Keep one side from the inside out while its total fits in ``room``."""
    out: list[Quote] = []
    left = round_down(max(room, ZERO), inst.qty_step)
    for q in side:
        if q.qty <= left:
            out.append(q)
            left -= q.qty
            continue
        shrunk = _passes(q.price, left, q.reduce_only, inst)
        if shrunk:
            out.append(msgspec.structs.replace(q, qty=left))
        what = f"{'1 shrunk, ' if shrunk else ''}{len(side) - len(out)} dropped"
        clips.append(
            Clip(
                rule,
                f"{rule}: {q.side} room {room.normalize():f} full at layer {q.layer}, {what}",
                {"room": float(room), "kept": float(len(out)), "dropped": float(len(side) - len(out))},
            )
        )
        break
    return out


def _reduce_only(
    bids: list[Quote], asks: list[Quote], pos: Decimal, inst: Instrument, clips: list[Clip]
) -> list[Quote]:
    """Only the reducing side, capped at the position, every quote reduce-only."""
    reducing, adding = (asks, bids) if pos > 0 else (bids, asks)
    if pos == 0:
        reducing, adding = [], bids + asks
    marked = [q if q.reduce_only else msgspec.structs.replace(q, reduce_only=True) for q in reducing]
    kept = _cap(marked, abs(pos), inst, "reduce_only", clips)
    if adding:
        text = f"reduce-only: {len(adding)} adding quote(s) dropped"
        clips.append(Clip("reduce_only", text, {"dropped": len(adding), "position": float(pos)}))
    return kept
