"""Order and cancel rate budgets per symbol (seed 000 §7: under 20 actions a second; seed 002: under
50 cancels a minute), and actions per minute under the gateway's own per-symbol budget (so what risk
approves, the gateway can send: the two budgets are one chain, checked when the settings load).

Risk estimates the churn a new target causes against the last approved one, matching quotes by
side and layer: a new quote is one action, a removed one an action and a cancel, and one whose
price or size changed one action when the gateway amends it in place (``changeCost = "amend"``,
the default: a modify costs an order but no cancel) or two actions and a cancel when it cancels
and replaces. This is an upper bound: the gateway also keeps orders within its tolerance.

When the whole change does not fit the budget left, the changes are applied from the innermost
layer out while they fit, and the others keep their previously approved quote (or stay absent).
Removals and same-price shrinks reduce exposure and always pass, budget or not. Without this
partial path a ladder whose every layer moved could never be updated: its change alone exceeds
the per-second budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import NamedTuple

from common.messages import Quote
from services.risk.state import Churn

NS = 1_000_000_000


def change_cost(amend: bool) -> tuple[int, int]:
    """(actions, cancels) of a changed quote: one amend, or a cancel and a new order."""
    return (1, 0) if amend else (2, 1)


Key = tuple[int, str, int]


class Budget(NamedTuple):
    """Actions and cancels still allowed now (strictly under the per-second and per-minute limits)."""

    actions: int
    cancels: int


def budget(
    c: Churn, now_ns: int, max_actions_per_s: int, max_cancels_per_min: int, max_actions_per_min: int = 0
) -> Budget:
    """What is left in the windows ending at ``now_ns`` (and forget what fell out of them);
    ``max_actions_per_min`` 0: no minute window."""
    c.actions_sum -= _prune(c.actions, now_ns - NS)
    c.cancels_sum -= _prune(c.cancels, now_ns - 60 * NS)
    c.actions_minute_sum -= _prune(c.actions_minute, now_ns - 60 * NS)
    actions = max_actions_per_s - 1 - c.actions_sum
    if max_actions_per_min:
        actions = min(actions, max_actions_per_min - 1 - c.actions_minute_sum)
    return Budget(max(actions, 0), max(max_cancels_per_min - 1 - c.cancels_sum, 0))


def spend(c: Churn, now_ns: int, spent: tuple[int, int]) -> None:
    """Count ``spent`` (actions, cancels) at ``now_ns``."""
    actions, cancels = spent
    if actions:
        c.actions.append((now_ns, actions))
        c.actions_sum += actions
        c.actions_minute.append((now_ns, actions))
        c.actions_minute_sum += actions
    if cancels:
        c.cancels.append((now_ns, cancels))
        c.cancels_sum += cancels


def _prune(window: list[tuple[int, int]], cutoff_ns: int) -> int:
    """Drop the entries at or before ``cutoff_ns``; returns their total."""
    drop = total = 0
    while drop < len(window) and window[drop][0] <= cutoff_ns:
        total += window[drop][1]
        drop += 1
    del window[:drop]
    return total


class Diff(NamedTuple):
    """Going from one resting set to another: the quotes kept, each changed (key, old, new), the cost."""

    kept: list[Quote]
    changes: list[tuple[Key, Quote | None, Quote | None]]
    actions: int
    cancels: int


def diff(prev: Sequence[Quote], new: Sequence[Quote], amend: bool = True) -> Diff:
    """Match ``prev`` and ``new`` by (layer, side, n-th) and price what changes."""
    p = _keyed(prev)
    kept: list[Quote] = []
    changes: list[tuple[Key, Quote | None, Quote | None]] = []
    actions = cancels = 0
    for key, q in _keyed(new).items():
        old = p.pop(key, None)
        if old is None:
            changes.append((key, None, q))
            actions += 1
        elif old == q:
            kept.append(q)
        else:
            changes.append((key, old, q))
            a, x = change_cost(amend)
            actions, cancels = actions + a, cancels + x
    changes += [(key, old, None) for key, old in p.items()]
    return Diff(kept, changes, actions + len(p), cancels + len(p))


def cost(prev: Sequence[Quote], new: Sequence[Quote], amend: bool = True) -> tuple[int, int]:
    """(actions, cancels) of moving the resting set from ``prev`` to ``new``."""
    if prev == new:
        return 0, 0
    d = diff(prev, new, amend)
    return d.actions, d.cancels


def fits(d: Diff, left: Budget) -> bool:
    """Whether the whole change fits in what is left."""
    return d.actions <= left.actions and d.cancels <= left.cancels


def merge(
    d: Diff, left: Budget, amend: bool = True, hold_removals: bool = False
) -> tuple[list[Quote], int, tuple[int, int]]:
    """The change as far as ``left`` allows, inside out: the set, how many changes waited, the cost.

    Removing a quote never waits, unless ``hold_removals`` (the quick-cancel limit,
    :mod:`services.risk.errors`): then a removal waits for the cancel budget like any change, and
    the caller's caps still remove whatever no longer fits."""
    out = list(d.kept)
    actions, cancels = left
    deferred = spent_a = spent_x = 0
    for _, old, want in sorted(d.changes, key=itemgetter(0)):
        a, x = (1, 0) if old is None else ((1, 1) if want is None else change_cost(amend))
        if (
            (want is None and not hold_removals)
            or (want is not None and _reducing(old, want))
            or (a <= actions and x <= cancels)
        ):
            actions, cancels, spent_a, spent_x = actions - a, cancels - x, spent_a + a, spent_x + x
            if want is not None:
                out.append(want)
        else:
            deferred += 1
            if old is not None:
                out.append(old)
    return out, deferred, (spent_a, spent_x)


def _keyed(quotes: Sequence[Quote]) -> dict[Key, Quote]:
    """Quotes by (layer, side, n-th of that layer and side)."""
    out: dict[Key, Quote] = {}
    for q in quotes:
        key = (q.layer, q.side, 0)
        while key in out:
            key = (q.layer, q.side, key[2] + 1)
        out[key] = q
    return out


def _reducing(old: Quote | None, new: Quote) -> bool:
    """A same-price shrink: less exposure, never deferred."""
    return old is not None and old.price == new.price and new.qty < old.qty
