"""Exact money arithmetic for one instrument: rounding to tick and step, filter checks.

Every price and size is rounded here, as ``Decimal``, before it reaches the wire. Rounding is
directional where it matters: a bid rounds down and an ask up, so rounding never makes a quote
more aggressive than the model asked for.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from common.messages import Instrument


def round_down(x: Decimal, step: Decimal) -> Decimal:
    return (x / step).to_integral_value(ROUND_FLOOR) * step


def round_up(x: Decimal, step: Decimal) -> Decimal:
    return (x / step).to_integral_value(ROUND_CEILING) * step


def to_decimal(x: float | str | Decimal) -> Decimal:
    """A float goes through ``repr`` (shortest round-trip) so 0.1 stays 0.1, not 0.1000000000000000055."""
    if isinstance(x, Decimal):
        return x
    return Decimal(repr(x)) if isinstance(x, float) else Decimal(x)


def price_for_side(inst: Instrument, side: str, price: float | Decimal) -> Decimal:
    """Bid prices round down, ask prices round up, to the tick; normalized to the tick's exponent."""
    p = to_decimal(price)
    r = round_down(p, inst.price_tick) if side == "BUY" else round_up(p, inst.price_tick)
    return r.quantize(inst.price_tick)


def qty_down(inst: Instrument, qty: float | Decimal) -> Decimal:
    """A size rounded down to the step (never more than asked), normalized to the step's exponent."""
    return round_down(to_decimal(qty), inst.qty_step).quantize(inst.qty_step)


def check_order(inst: Instrument, price: Decimal, qty: Decimal, reduce_only: bool = False) -> str:
    """Empty when the order passes PRICE_FILTER, LOT_SIZE and MIN_NOTIONAL; else the failing filter."""
    if price <= 0 or (price - inst.min_price) % inst.price_tick != 0:
        return "PRICE_FILTER"
    if inst.max_price and price > inst.max_price:
        return "PRICE_FILTER"
    if qty < inst.min_qty or qty > inst.max_qty or (qty - inst.min_qty) % inst.qty_step != 0:
        return "LOT_SIZE"
    if not reduce_only and inst.min_notional and price * qty < inst.min_notional:
        return "MIN_NOTIONAL"
    return ""
