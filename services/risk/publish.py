"""What an approval leaves behind: the approved TargetQuotes, the symbol's totals, churn and clip events."""

from __future__ import annotations

from common.messages import TargetQuotes
from services.risk.approval import MODE, Approved
from services.risk.behaviour import cost, spend
from services.risk.exposure import Clip, worst_case
from services.risk.modes import Changes
from services.risk.state import ZERO, EngineState


def publish(
    st: EngineState, name: str, result: Approved, source_id: int, now_ns: int, trace: tuple[int, int] = (0, 0)
) -> TargetQuotes:
    """The approved TargetQuotes of ``name``; remembered as what rests, its churn counted.

    Risk's target ids grow with time (µs) and never repeat, so they keep growing across a restart.
    """
    s = st.symbol(name)
    prev = s.approved.quotes if s.approved is not None else []
    st.last_target_id = max(st.last_target_id + 1, now_ns // 1000)
    t = TargetQuotes(
        symbol=name, target_id=st.last_target_id, quotes=result.quotes, origin="risk",
        source_target_id=source_id, mode=result.mode, clipped=[c.text for c in result.clips],
        ts_event=now_ns, ts_init=now_ns, trace_id=trace[0], trace_ns=trace[1],
    )  # fmt: skip
    s.approved = t
    s.bid_total, s.ask_total = worst_case(ZERO, result.quotes)
    spend(s.churn, now_ns, result.spent if result.spent is not None else cost(prev, result.quotes))
    return t


def clip_events(st: EngineState, name: str, clips: list[Clip], ch: Changes) -> None:
    """A RiskEvent when a clipping rule starts or stops biting on a symbol's strategy targets."""
    s = st.symbol(name)
    now = {c.rule: c for c in clips if c.rule != MODE}
    for rule, c in now.items():
        if rule not in s.clips:
            ch.note(rule, "clip", name, c.text, c.figures)
    for rule in s.clips:
        if rule not in now:
            ch.note(rule, "unclip", name, f"{rule} no longer clips", {})
    s.clips = sorted(now)


def reclip_events(name: str, clips: list[Clip], ch: Changes) -> None:
    """Events for a resting set cut down after a fill or a change of limits."""
    for c in clips:
        if c.rule != MODE:
            ch.note(c.rule, "reclip", name, c.text, c.figures)
