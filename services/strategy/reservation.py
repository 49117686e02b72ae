"""Reservation price and optimal spread of the inventory models: Avellaneda–Stoikov and GLFT.

Plain functions of floats, in any consistent units (the live ASMM uses ticks, lots and seconds;
the A&S Monte Carlo uses the paper's units). The Avellaneda–Stoikov functions use only arithmetic on
``s`` and ``q``, so they accept numpy arrays there: the backtester drives these very functions
across all its paths at once. Formulas and reference values: ``shared/reference/mm-theory.md``
§1.2 (A&S 2008 eqs. 29–30), §2.4 (GLFT closed form) and §2.5 (Guéant 2017, as in hftbacktest).
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

Variant = Literal["avellaneda_stoikov", "glft"]


class ReservationQuote(NamedTuple):
    """Where to centre the quotes and how far out: bid = r − half, ask = r + half.

    ``skew`` is the reservation shift per lot of inventory (r = mid − skew·q).
    """

    reservation: float
    half_spread: float
    skew: float


def as_reservation(s: Any, q: Any, gamma: float, sigma: float, tau: float) -> Any:
    """A&S indifference price r = s − q·γ·σ²·(T−t) (2008 eq. 29)."""
    return s - q * gamma * sigma * sigma * tau


def as_spread(gamma: float, sigma: float, tau: float, k: float) -> float:
    """A&S optimal total spread δᵃ+δᵇ = γσ²(T−t) + (2/γ)·ln(1+γ/k) (2008 eq. 30), independent of q."""
    return gamma * sigma * sigma * tau + (2.0 / gamma) * math.log1p(gamma / k)


def as_quotes(s: Any, q: Any, gamma: float, sigma: float, tau: float, k: float) -> tuple[Any, Any]:
    """A&S (bid, ask): the optimal spread centred on the reservation price."""
    r = as_reservation(s, q, gamma, sigma, tau)
    half = 0.5 * as_spread(gamma, sigma, tau, k)
    return r - half, r + half


def glft_coefficients(
    a: float, k: float, gamma: float, xi: float | None = None, delta: float = 1.0
) -> tuple[float, float]:
    """Guéant (2017) eqs. 4.6/4.7 as hftbacktest computes them: (c1, c2) with σ pulled out.

    c1 = (1/(ξΔ))·ln(1 + ξΔ/k) and c2 = √( γ/(2AΔk) · (1 + ξΔ/k)^(k/(ξΔ)+1) ); ξ = γ is GLFT's CARA case.
    """
    x = (gamma if xi is None else xi) * delta
    c1 = math.log1p(x / k) / x
    power = math.exp((k / x + 1.0) * math.log1p(x / k))
    c2 = math.sqrt(gamma / (2.0 * a * delta * k) * power)
    return c1, c2


def glft_half_spread_skew(sigma: float, c1: float, c2: float, delta: float = 1.0) -> tuple[float, float]:
    """hftbacktest's (half_spread, skew): half = c1 + (Δ/2)·σ·c2, skew = σ·c2 per lot."""
    skew = sigma * c2
    return c1 + 0.5 * delta * skew, skew


def glft_quotes(q: float, sigma: float, c1: float, c2: float, delta: float = 1.0) -> tuple[float, float]:
    """Distances from the mid (δᵇ, δᵃ) = (half + skew·q, half − skew·q)."""
    half, skew = glft_half_spread_skew(sigma, c1, c2, delta)
    return half + skew * q, half - skew * q


def glft_closed_form(q: float, sigma: float, a: float, k: float, gamma: float) -> tuple[float, float]:
    """GLFT (2013) asymptotic closed form (δᵇ, δᵃ) of mm-theory §2.4: Guéant's form with ξ = γ, Δ = 1."""
    c1, c2 = glft_coefficients(a, k, gamma)
    return glft_quotes(q, sigma, c1, c2)


def reservation_quote(
    variant: Variant,
    s: Any,
    q: Any,
    sigma: float,
    a: float,
    k: float,
    gamma: float,
    tau: float,
    xi: float | None = None,
    delta: float = 1.0,
) -> ReservationQuote:
    """The centre, half-spread and per-lot skew of either model, so the caller treats both alike.

    ``s`` and ``q`` may be numpy arrays (the A&S Monte Carlo passes all its paths at once).
    """
    if variant == "avellaneda_stoikov":
        skew = gamma * sigma * sigma * tau
        return ReservationQuote(
            as_reservation(s, q, gamma, sigma, tau), 0.5 * as_spread(gamma, sigma, tau, k), skew
        )
    c1, c2 = glft_coefficients(a, k, gamma, xi, delta)
    half, skew = glft_half_spread_skew(sigma, c1, c2, delta)
    return ReservationQuote(s - skew * q, half, skew)
