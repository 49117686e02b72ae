"""When the spot gateway falls silent, cancel every spot order: the decision, free of I/O.

USDⓈ-M futures has a dead-man's switch at the venue (``countdownCancelAll``, renewed by the gateway
every few seconds): if the gateway dies or freezes, the venue cancels its orders. Spot has none, so
a separate process holds the switch. :class:`SpotSwitch` is armed by the first heartbeat of
``gateway-spot``; once no heartbeat has come for ``silence_ns`` (the futures ``deadman_ms``) every
spot order of the account must go, swept again until the venue lists none; a heartbeat ends the
sweep (the gateway is back and reconciles whatever it finds).

A ``kill -9`` that supervisord restarts within the window changes nothing (the new gateway adopts
its orders); a frozen or crashed-and-not-restarted gateway, or a machine where only the gateway's
process died, leaves no order resting longer than the window and one sweep. What this cannot cover:
the whole machine (or its network) going away, where no process of ours is left to cancel: on spot
only the venue could, and it offers no switch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SpotSwitch:
    """The switch's state: armed, last heartbeat, and whether the venue was swept empty since."""

    silence_ns: int
    armed: bool = False
    last_ns: int = 0
    clean: bool = False
    sweeps: int = 0

    def on_heartbeat(self, now_ns: int) -> None:
        """The gateway is alive: the switch is armed, and a later silence sweeps again."""
        self.armed, self.last_ns, self.clean = True, now_ns, False

    def due(self, now_ns: int) -> bool:
        """Whether to sweep now: armed, silent past the window, and not yet confirmed empty."""
        return self.armed and not self.clean and now_ns - self.last_ns > self.silence_ns

    def swept(self, open_left: int) -> None:
        """One sweep done; the venue listed ``open_left`` orders after it (0: done until the next
        heartbeat and silence)."""
        self.sweeps += 1
        self.clean = open_left == 0

    def silent_s(self, now_ns: int) -> float:
        return (now_ns - self.last_ns) / 1e9 if self.armed else 0.0
