"""ASMM, Adaptive Skewed Market Making (seed 001 §3, Round7), on an A&S or GLFT reservation price.

One decision, in order:

1. Reservation and half-spread from :func:`~services.strategy.reservation.reservation_quote`, in
   ticks and lots (q = position / baseSize), with A, k and σ from ``Features`` when estimated online
   and present, else the fixed values. The half-spread has a floor: with ``spreadFloor =
   "measured"`` (the default) ``makerFee + adverse selection + minEdge`` of the mid, the adverse
   selection being the average cost of our own fills' markouts ``markoutHorizonS`` later
   (:mod:`services.strategy.markouts`; ``adversePriorBps`` before the first); with ``"fixed"``,
   half of ``max(minSpread, 2·feeBuffer)`` of the mid.
2. The centre moves by the funding bias and by inventory pressure: beyond
   ``inventoryPressureThreshold``·netMax the centre shifts toward reducing by
   ``strength·((load − threshold)/(1 − threshold))**exponent`` half-spreads.
   Flow steering (:func:`steering`, seed 001 §11): the centre leans with the book and trade
   imbalance; VPIN above ``flow.vpinThreshold`` spreads the ladder's layers and drops some.
3. Momentum: m = mid/EMA(mid) − 1, the EMA weighing ``momentumAlpha`` per quote interval (so the
   signal does not depend on how often the engine is called). Beyond the threshold the side the
   market runs toward (the ask in a rally, the bid in a fall) steps back by the excess,
   mid·(|m| − threshold), so the quotes do not chase the move. The threshold is
   ``momentumThresholdSigmas`` standard deviations of m in a random walk, σ·√(τ/2) with τ =
   quoteInterval / momentumAlpha the EMA's time constant, so it acts as often in a quiet market as
   in a busy one; with ``momentumThresholdSigmas = 0`` it is the fixed ``momentumThreshold``.
4. Both ladders from the inner quotes (gap = half-spread), then pinning and grinding.
5. Take profit: with a position, a reduce-only order for all of it rests at
   entry·(1 ± takeProfitPct), or at the touch once the market is already past that price.

Every inventory step (skew, pressure, pinning, take profit) moves a long position's quotes down and a
short one's up, never the other way; the flow lean follows the market's pressure, not the position.
"""

from __future__ import annotations

import math

import msgspec

from common.params.strategy import AsmmParams, FlowSteeringParams, ReservationParams, SymbolStrategy
from services.strategy.context import Market, sign, vol_of
from services.strategy.funding import funding_bias
from services.strategy.layers import ladder_of
from services.strategy.legs import LAYER_TAKE_PROFIT, Level, reducing_side, steps_size
from services.strategy.models import ModelOutput
from services.strategy.overlays import Sides, overlay
from services.strategy.reservation import ReservationQuote, reservation_quote
from services.strategy.state import MomentumState, StrategyState


def estimates(m: Market, rp: ReservationParams) -> tuple[float, float, float, list[str]]:
    """(σ in ticks per √s, A per s, k per tick) from Features when allowed and present, else fixed."""
    f, flags = m.features, []
    sigma = vol_of(f, rp.vol_key) if rp.estimate_online else None
    if sigma is None:
        sigma = rp.sigma
        flags.append("sigma_fixed")
    online_ak = rp.estimate_online and f.intensity_a > 0 and f.intensity_k > 0
    a, k = (f.intensity_a, f.intensity_k) if online_ak else (rp.intensity_a, rp.intensity_k)
    if not online_ak:
        flags.append("intensity_fixed")
    return sigma * m.mid / m.grid.tick_f, a, k, flags


def pressure(q: float, net_max: float, a: AsmmParams) -> float:
    """Inventory pressure in half-spreads: 0 below the threshold, ``strength`` at netMax."""
    thr = a.inventory_pressure_threshold
    load = min(abs(q) / net_max, 1.0)
    if load <= thr:
        return 0.0
    return a.inventory_pressure_strength * ((load - thr) / (1.0 - thr)) ** a.inventory_pressure_exponent


def momentum(
    st: MomentumState, mid: float, now_ns: int, alpha: float, interval_ms: int
) -> tuple[float, MomentumState]:
    """The mid's deviation from its EMA, the EMA weighing ``alpha`` per quote interval elapsed.

    The deviation is taken after the update, so after a long gap (a halt, a feed outage) the EMA has
    caught up and no stale trend is read as momentum.
    """
    if st.ts_ns == 0 or st.ema <= 0:
        return 0.0, MomentumState(ema=mid, ts_ns=now_ns)
    periods = max(now_ns - st.ts_ns, 0) / (max(interval_ms, 1) * 1e6)
    ema = st.ema + (1.0 - (1.0 - alpha) ** periods) * (mid - st.ema)
    return mid / ema - 1.0, MomentumState(ema=ema, ts_ns=now_ns)


def momentum_threshold(a: AsmmParams, sigma_rel: float, interval_ms: int) -> float:
    """The momentum threshold (step 3): σ·√(τ/2)·z, or the fixed one when z is 0 or σ unknown."""
    z = a.momentum_threshold_sigmas
    if z <= 0 or sigma_rel <= 0:
        return a.momentum_threshold
    tau_s = max(interval_ms, 1) / 1000 / a.momentum_alpha
    return z * sigma_rel * math.sqrt(tau_s / 2)


def take_profit(m: Market, a: AsmmParams) -> list[Level]:
    """A reduce-only order for the whole position at entry·(1 ± takeProfitPct), kept passive."""
    if a.take_profit_pct <= 0 or m.q_steps == 0 or m.entry <= 0:
        return []
    side = reducing_side(m.q)
    target = m.entry * (1.0 + a.take_profit_pct if side == "SELL" else 1.0 - a.take_profit_pct)
    size = steps_size(abs(m.q_steps), m.grid)
    return [Level(side, LAYER_TAKE_PROFIT, m.passive(side, target), size, reduce_only=True)]


def floor_fraction(a: AsmmParams, p: SymbolStrategy, st: StrategyState) -> float:
    """The half-spread's floor as a fraction of the mid (see step 1)."""
    if a.spread_floor == "fixed":
        return 0.5 * max(a.min_spread, 2.0 * a.fee_buffer)
    adverse = max(st.markout.cost(p.adverse_prior_bps), 0.0) * 1e-4
    return a.maker_fee + adverse + a.min_edge


def steering(m: Market, fp: FlowSteeringParams, half: float) -> tuple[float, float, float]:
    """Step 2b: (toxicity x in [0, 1] from VPIN, the ladder's gap multiplier, the centre's lean).

    x = (VPIN − vpinThreshold)/(1 − vpinThreshold), clamped; the gap between layers grows by
    ``vpinWiden``·x and the layer count shrinks by ``vpinLayerCut``·x (in :func:`quote`). The lean is
    (imbalanceSkew·book imbalance + tradeSkew·trade imbalance)·half, each imbalance in [−1, 1]
    (bid-heavy or buyer-driven positive): the centre moves the way the pressure points.
    """
    if not fp.enabled:
        return 0.0, 1.0, 0.0
    f = m.features
    x = min(max((f.vpin - fp.vpin_threshold) / (1.0 - fp.vpin_threshold), 0.0), 1.0)
    book = min(max(f.imbalance, -1.0), 1.0)
    trades = min(max(f.trade_imbalance, -1.0), 1.0)
    lean = (fp.imbalance_skew * book + fp.trade_skew * trades) * half
    return x, 1.0 + fp.vpin_widen * x, lean


def _reservation(m: Market, a: AsmmParams) -> tuple[ReservationQuote, list[float], list[str]]:
    rp = a.reservation
    sigma, intensity_a, k, flags = estimates(m, rp)
    unit = m.grid.tick_f * a.base_size if rp.gamma_unit == "quote" else 1.0  # to per tick per lot
    xi = rp.xi * unit if rp.xi is not None else None
    rq = reservation_quote(
        rp.variant, m.mid / m.grid.tick_f, m.q / a.base_size, sigma, intensity_a, k,
        rp.gamma * unit, rp.horizon_s, xi, rp.order_lots,
    )  # fmt: skip
    return rq, [sigma, intensity_a, k], flags


def quote(m: Market, p: SymbolStrategy, st: StrategyState) -> ModelOutput:
    """The ASMM decision (see the module steps)."""
    a, tick = p.asmm, m.grid.tick_f
    rq, (sigma, intensity_a, k), flags = _reservation(m, a)
    half = max(rq.half_spread * tick, floor_fraction(a, p, st) * m.mid)
    bias = funding_bias(m.features, m.now_ns, m.mid, p.funding_bias)
    push = pressure(m.q, p.net_max, a)
    toxic, widen, lean = steering(m, a.flow, half)
    centre = rq.reservation * tick + bias + lean - sign(m.q) * push * half
    mom, mom_state = momentum(st.momentum, m.mid, m.now_ns, a.momentum_alpha, p.quote_interval_ms)
    threshold = momentum_threshold(a, sigma * tick / m.mid, p.quote_interval_ms)
    excess = max(abs(mom) - threshold, 0.0) * m.mid
    bid0 = m.passive("BUY", centre - half - (excess if mom < 0 else 0.0))
    ask0 = m.passive("SELL", centre + half + (excess if mom > 0 else 0.0))
    layers = max(1, round(a.max_layers * (1.0 - a.flow.vpin_layer_cut * toxic)))
    sides = Sides(bid0, ask0, layers, layers, ladder_of(a, half * widen))
    ov = overlay(m, p, st, sides)
    inputs = {
        "mid": m.mid, "microprice": m.features.microprice, "sigma": sigma, "A": intensity_a, "k": k,
        "q": m.q / a.base_size, "position": m.q, "reservation": rq.reservation * tick, "half_spread": half,
        "skew": rq.skew * tick, "funding_bias": bias, "pressure": push, "momentum": mom, "centre": centre,
        "vpin": m.features.vpin, "toxicity": toxic, "lean": lean, "layers": layers,
    }  # fmt: skip
    if push > 0:
        flags.append("inventory_pressure")
    if excess > 0:
        flags.append("momentum")
    if toxic > 0:
        flags.append("toxic_flow")
    if lean != 0:
        flags.append("flow_lean")
    levels = ov.levels + take_profit(m, a)
    state = msgspec.structs.replace(st, momentum=mom_state, pin=ov.pin, grind=ov.grind)
    return ModelOutput(levels, inputs, flags + ov.flags, ov.actions, state)
