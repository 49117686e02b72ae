"""The strategy's one entry point: :func:`decide`, from the latest inputs to a complete decision.

Pure and synchronous: no clock (``now_ns`` is an input), no I/O, no globals; everything the models
remember travels in :class:`~services.strategy.state.StrategyState`. The live service and the
backtester call it the same way::

    state = StrategyState()
    decision = decide(inputs, params.symbols[symbol], state, version)
    state = decision.state
    if decision.publish: publish TargetQuotes(quotes=decision.quotes, decision=decision.record, ...)
    for cmd in decision.actions: send cmd (a ReducePosition) and await its acknowledgement

A decision quotes nothing when the risk mode is ``halted``, ``killed`` or unknown, or the features
are missing, inconsistent or stale (older than ``maxFeaturesAgeMs`` by ``now_ns − Features.ts_init``,
so ``now_ns`` must come from the clock that stamped ``ts_init``). In ``reduce_only`` it quotes only
the side that reduces the position, every order reduce-only, no more than the position in total.
Taker requests in ``decision.actions`` stand apart from ``publish``: send them whenever present.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from operator import itemgetter
from typing import Literal

import msgspec

from common.messages import DecisionRecord, Features, Instrument, Quote, ReducePosition, RiskMode
from common.messages.base import NS_PER_MS
from common.params.strategy import SymbolStrategy
from services.strategy.caps import finalize
from services.strategy.context import Market, vol_of
from services.strategy.flicker import (
    anchored,
    cost,
    should_publish,
    spent_in_minute,
    within_budget,
)
from services.strategy.legs import Leg, Level, to_quote
from services.strategy.models import ModelOutput, asmm, passive_band, phase1, phase2
from services.strategy.rounding import Grid, grid_of, steps_down
from services.strategy.state import StrategyState

NS_PER_SECOND = 1_000_000_000

Model = Callable[[Market, SymbolStrategy, StrategyState], ModelOutput]
MODELS: dict[str, Model] = {
    "asmm": asmm.quote,
    "phase1": phase1.quote,
    "phase2": phase2.quote,
    "passive_band": passive_band.quote,
}


class StrategyInputs(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one decision depends on besides the parameters and the state.

    ``position`` is signed (long > 0) in base units; ``working`` the orders resting now, if known;
    ``last_fill_side`` is "" when there was no fill.
    """

    symbol: str
    now_ns: int
    features: Features | None
    instrument: Instrument
    position: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)
    working: tuple[Quote, ...] = ()
    last_fill_ns: int = 0
    last_fill_side: Literal["BUY", "SELL", ""] = ""
    risk_mode: RiskMode = "normal"


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The complete target quote set, why, the taker requests, whether to publish, and the new state."""

    quotes: list[Quote]
    record: DecisionRecord
    actions: list[ReducePosition]
    publish: bool
    state: StrategyState


def decide(
    inputs: StrategyInputs, params: SymbolStrategy, state: StrategyState, version: str = ""
) -> Decision:
    """One decision for one symbol (see the module docstring).

    Raises ``ValueError`` when the instrument or the features belong to another symbol: a wiring
    bug in the caller, never a market condition.
    """
    _check_symbol(inputs)
    g = grid_of(inputs.instrument)
    blocked = _blocked(inputs, params)
    if blocked:
        record = DecisionRecord(model=params.model, params_version=version, flags=[blocked])
        return _conclude(inputs, params, state, [], g, record, [])
    m = _market(inputs, g)
    net_max = adaptive_net_max(params, inputs.features)
    adapted = net_max < params.net_max
    if adapted:
        params = params.model_copy(update={"net_max": net_max})
    out = MODELS[params.model](m, params, state)
    reduce_mode = inputs.risk_mode == "reduce_only"
    legs = finalize(out.levels, m, steps_down(params.net_max, g), reduce_mode)
    flags = out.flags + (["reduce_only"] if reduce_mode else []) + (["net_max_adapted"] if adapted else [])
    quoted, missing = _layer_count(out.levels, legs)
    if missing and not reduce_mode:
        flags.append("layers_missing")
    seen = {**out.inputs, "layers_quoted": float(quoted), "layers_missing": float(missing)}
    seen["net_max"] = net_max
    record = DecisionRecord(model=params.model, params_version=version, inputs=seen, flags=flags)
    return _conclude(inputs, params, out.state, legs, g, record, out.actions)


def adaptive_net_max(params: SymbolStrategy, f: Features | None) -> float:
    """netMax·clamp(refSigma/σ, minRatio, 1) with σ from ``Features.vol[volKey]``; netMax itself
    when disabled or σ unknown (:class:`~common.params.strategy.AdaptiveNetMaxParams`)."""
    a = params.adaptive_net_max
    sigma = vol_of(f, a.vol_key) if a.enabled and f is not None else None
    if sigma is None:
        return params.net_max
    return params.net_max * min(max(a.ref_sigma / sigma, a.min_ratio), 1.0)


def _layer_count(levels: list[Level], legs: list[Leg]) -> tuple[int, int]:
    """Plain (not reduce-only) layers quoted, and those the model asked for that could not exist:
    dropped by the filters or by netMax's worst case (the decision record's ``layers_missing``)."""
    asked = {(lv.side, lv.layer) for lv in levels if not lv.reduce_only and lv.size > 0}
    quoted = {(leg.side, leg.layer) for leg in legs if not leg.reduce_only}
    return len(quoted), len(asked - quoted)


def _check_symbol(inputs: StrategyInputs) -> None:
    f = inputs.features
    if inputs.instrument.symbol != inputs.symbol or (f is not None and f.symbol != inputs.symbol):
        raise ValueError(f"inputs for {inputs.symbol} carry another symbol's instrument or features")


def _blocked(inputs: StrategyInputs, params: SymbolStrategy) -> str:
    """Why nothing may be quoted now, or "" when quoting may go ahead (an unknown risk mode blocks)."""
    if inputs.risk_mode not in ("normal", "reduce_only"):
        return inputs.risk_mode or "risk_mode_unknown"
    if not params.quote:
        return "not_quoted"
    f = inputs.features
    if f is None:
        return "features_missing"
    if inputs.now_ns - f.ts_init > params.max_features_age_ms * NS_PER_MS:
        return "features_stale"
    used = (f.mid, f.best_bid, f.best_ask, f.microprice, f.imbalance, f.depth_bid, f.depth_ask)
    more = (f.funding_rate, f.intensity_a, f.intensity_k, f.twap, f.vwap, f.ref_hybrid)
    finite = all(map(math.isfinite, used)) and all(map(math.isfinite, more))
    return "" if finite and 0 < f.best_bid < f.best_ask and f.mid > 0 else "features_invalid"


def _market(inputs: StrategyInputs, g: Grid) -> Market:
    f = inputs.features
    assert f is not None  # _blocked() ruled it out
    q_steps = int((inputs.position / g.step).to_integral_value())
    return Market(
        inputs.symbol, inputs.now_ns, f, g, f.mid, f.best_bid, f.best_ask, float(inputs.position),
        q_steps, float(inputs.entry_price), inputs.last_fill_ns, inputs.last_fill_side, inputs.working,
    )  # fmt: skip


def _conclude(
    inputs: StrategyInputs,
    params: SymbolStrategy,
    state: StrategyState,
    legs: list[Leg],
    g: Grid,
    record: DecisionRecord,
    actions: list[ReducePosition],
) -> Decision:
    """Anchor the legs, keep them within the rate budget, apply anti-flicker, remember what is
    published, build the exact quotes."""
    f = inputs.features
    spent = spent_in_minute(state.spent, inputs.now_ns)
    if legs and f is not None:
        mid_ticks = f.mid / g.tick_f
        bid_cap, ask_floor = round(f.best_ask / g.tick_f) - 1, round(f.best_bid / g.tick_f) + 1
        legs = anchored(
            legs, state.published, mid_ticks, params.publish_tolerance_ticks,
            params.publish_tolerance_ratio, bid_cap, ask_floor,
        )  # fmt: skip
        left = max(params.max_actions_per_minute - sum(map(itemgetter(1), spent)), 0)
        second = sum(n for t, n in spent if t > inputs.now_ns - NS_PER_SECOND)
        # the second's budget shared over its publications, so the inner legs move at every one
        # of them instead of all moves going to the first and none to the next
        share = max(1, int(params.max_moves_per_second * max(params.quote_interval_ms, 1) / 1000))
        left = min(left, max(params.max_moves_per_second - second, 0), share)
        legs, waited = within_budget(legs, state.published, left, mid_ticks, bid_cap, ask_floor)
        if waited:
            record = msgspec.structs.replace(record, flags=[*record.flags, "budget_held"])
    publish = should_publish(
        legs,
        state.published,
        inputs.risk_mode != state.published_mode,
        inputs.now_ns - state.published_ns,
        params.publish_tolerance_ticks,
        params.quote_interval_ms,
    )
    if publish:
        spent += ((inputs.now_ns, cost(legs, state.published)),)
        state = msgspec.structs.replace(
            state,
            published=tuple(legs),
            published_ns=inputs.now_ns,
            published_mode=inputs.risk_mode,
            spent=spent,
        )
    quotes = [to_quote(leg, g) for leg in legs]
    return Decision(quotes=quotes, record=record, actions=actions, publish=publish, state=state)
