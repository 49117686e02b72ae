"""Modes from holds, and the collector of what one evaluation changed.

A scope (a symbol, or the account under the name ``""``) is in the worst mode of its holds,
``normal`` when it has none; a symbol's effective mode is the worse of its own and the account's.
Every hold placed or lifted is a :class:`~common.messages.RiskEvent` with the scope's mode before
and after, the reason and the figures; rules call :class:`Changes` and never build events themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from common.messages import MODE_ORDER, CancelAll, Flatten, ReducePosition, RiskEvent, RiskMode
from services.risk.state import Hold, Release

ACCOUNT = ""
"""The account's scope name in events."""

Action = CancelAll | Flatten | ReducePosition
Explain = Callable[[], tuple[str, dict[str, float]]]


def mode_of(holds: dict[str, Hold]) -> RiskMode:
    """The worst mode among ``holds``; ``normal`` without any."""
    mode: RiskMode = "normal"
    for h in holds.values():
        if MODE_ORDER[h.mode] > MODE_ORDER[mode]:
            mode = h.mode
    return mode


def worse(a: RiskMode, b: RiskMode) -> RiskMode:
    """The worse of two modes."""
    return a if MODE_ORDER[a] >= MODE_ORDER[b] else b


def top_hold(holds: Iterable[Hold]) -> Hold | None:
    """The hold that sets the mode (the earliest among the worst), to report its reason."""
    best: Hold | None = None
    for h in holds:
        if best is None or (MODE_ORDER[h.mode], -h.since_ns) > (MODE_ORDER[best.mode], -best.since_ns):
            best = h
    return best


class Changes:
    """Events, gateway actions and the changed flag of one evaluation at ``now_ns``."""

    def __init__(self, now_ns: int) -> None:
        self.now = now_ns
        self.events: list[RiskEvent] = []
        self.actions: list[Action] = []
        self.changed = False

    def hold(self, scope: str, holds: dict[str, Hold], hold: Hold) -> bool:
        """Place ``hold`` unless its rule already holds the scope; returns whether it was placed."""
        if hold.rule in holds:
            return False
        before = mode_of(holds)
        holds[hold.rule] = hold
        self._event(hold.rule, "hold", scope, before, mode_of(holds), hold.reason, hold.figures)
        return True

    def release(
        self, scope: str, holds: dict[str, Hold], rule: str, why: str, figures: dict[str, float] | None = None
    ) -> bool:
        """Lift the hold of ``rule``; returns whether there was one."""
        if rule not in holds:
            return False
        before = mode_of(holds)
        del holds[rule]
        self._event(rule, "release", scope, before, mode_of(holds), why, figures or {})
        return True

    def condition(
        self,
        scope: str,
        holds: dict[str, Hold],
        rule: str,
        trigger: bool,
        clear: bool,
        mode: RiskMode,
        explain: Explain,
    ) -> None:
        """A hold that lasts while its cause does: placed on ``trigger``, lifted on ``clear``.

        ``explain`` gives the reason and figures; it runs only on a change, keeping the hot path cheap.
        """
        if rule not in holds and trigger:
            reason, figures = explain()
            self.hold(scope, holds, self.make(rule, mode, reason, "condition", figures=figures))
        elif rule in holds and clear:
            reason, figures = explain()
            self.release(scope, holds, rule, f"cleared: {reason}", figures)

    def make(
        self,
        rule: str,
        mode: RiskMode,
        reason: str,
        release: Release,
        until_ns: int = 0,
        figures: dict[str, float] | None = None,
    ) -> Hold:
        """A hold starting now."""
        return Hold(
            rule=rule, mode=mode, reason=reason, since_ns=self.now, release=release, until_ns=until_ns,
            figures=figures or {},
        )  # fmt: skip

    def note(self, rule: str, action: str, scope: str, reason: str, figures: dict[str, float]) -> None:
        """An event that changed something other than a mode (a reduction, a clip, a command)."""
        self._event(rule, action, scope, "", "", reason, figures)

    def act(self, cmd: Action) -> None:
        """A command for the gateway (it acknowledges each)."""
        self.actions.append(cmd)

    def _event(
        self,
        rule: str,
        action: str,
        scope: str,
        before: str,
        after: str,
        reason: str,
        figures: dict[str, float],
    ) -> None:
        self.changed = self.changed or before != after or action in ("hold", "release")
        ev = RiskEvent(
            rule=rule, action=action, symbol=scope, from_mode=before, to_mode=after, reason=reason,
            figures=figures, ts_event=self.now, ts_init=self.now,
        )  # fmt: skip
        self.events.append(ev)
