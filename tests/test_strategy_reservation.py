"""Reservation price and spread: A&S formulas, GLFT / Guéant reference vectors (mm-theory §1.4, §4)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.strategy.reservation import (
    as_quotes,
    as_reservation,
    as_spread,
    glft_closed_form,
    glft_coefficients,
    glft_half_spread_skew,
    reservation_quote,
)

# mm-theory §4 item 2, closed-form column (σ=0.3, A=0.9, k=0.3, γ=0.01), printed to 4 decimals.
GLFT_VECTORS = {
    -3: (3.1093, 3.5165),
    -1: (3.2450, 3.3808),
    0: (3.3129, 3.3129),
    1: (3.3808, 3.2450),
    3: (3.5165, 3.1093),
}


@pytest.mark.parametrize("q", sorted(GLFT_VECTORS))
def test_glft_closed_form_reproduces_the_reference_quotes(q: int) -> None:
    bid, ask = glft_closed_form(q, sigma=0.3, a=0.9, k=0.3, gamma=0.01)
    want_bid, want_ask = GLFT_VECTORS[q]
    assert bid == pytest.approx(want_bid, abs=5e-5)
    assert ask == pytest.approx(want_ask, abs=5e-5)


def test_glft_pieces_match_the_printed_values() -> None:
    c1, c2 = glft_coefficients(a=0.9, k=0.3, gamma=0.01)
    assert c1 == pytest.approx(3.27898, abs=5e-6)
    assert 0.3 * c2 == pytest.approx(0.067866, abs=5e-7)
    bid, ask = glft_closed_form(0, 0.3, 0.9, 0.3, 0.01)
    assert bid + ask == pytest.approx(6.62583, abs=5e-6)


def test_glft_skew_is_linear_in_inventory() -> None:
    bid3, ask3 = glft_closed_form(3, 0.3, 0.9, 0.3, 0.01)
    bid0, ask0 = glft_closed_form(0, 0.3, 0.9, 0.3, 0.01)
    _, c2 = glft_coefficients(0.9, 0.3, 0.01)
    assert bid3 - ask3 == pytest.approx(2 * 3 * 0.3 * c2, rel=1e-12)
    assert bid3 + ask3 == pytest.approx(bid0 + ask0, rel=1e-12)


def test_hftbacktest_glft_vector_to_1e6() -> None:
    c1, c2 = glft_coefficients(a=2.986162360812285, k=0.04235741115084049, gamma=0.05, xi=0.05, delta=1.0)
    assert c1 == pytest.approx(15.5904510133, abs=1e-9)
    assert c2 == pytest.approx(0.9133085735, abs=1e-9)
    half, skew = glft_half_spread_skew(10.69, c1, c2, delta=1.0)
    assert half == pytest.approx(20.47208533844371, abs=1e-6)
    assert skew == pytest.approx(9.76326865029227, abs=1e-6)


def test_gueant_risk_neutral_limit_matches_hftbacktest_simplified_coefficients() -> None:
    a, k, gamma = 2.986162360812285, 0.04235741115084049, 0.05
    c1, c2 = glft_coefficients(a, k, gamma, xi=1e-9)
    assert c1 == pytest.approx(1 / k, rel=1e-6)
    assert c2 == pytest.approx(math.sqrt(gamma * math.e / (2 * a * k)), rel=1e-6)


@pytest.mark.parametrize(
    ("gamma", "constant", "average"),
    [(0.01, 1.32891, 1.34891), (0.1, 1.29077, 1.49077), (0.5, 1.15073, 2.15073), (1.0, 1.02165, 3.02165)],
)
def test_as_spread_matches_the_analytic_table(gamma: float, constant: float, average: float) -> None:
    assert as_spread(gamma, sigma=2.0, tau=0.0, k=1.5) == pytest.approx(constant, abs=5e-6)
    assert as_spread(gamma, sigma=2.0, tau=0.5, k=1.5) == pytest.approx(average, abs=5e-6)


def test_as_reservation_moves_against_inventory_by_q_gamma_sigma2_tau() -> None:
    assert as_reservation(100.0, 2, gamma=0.1, sigma=2.0, tau=0.5) == pytest.approx(99.6)
    assert as_reservation(100.0, -2, gamma=0.1, sigma=2.0, tau=0.5) == pytest.approx(100.4)


def test_as_quotes_accept_arrays_and_agree_with_scalars() -> None:
    s = np.array([99.0, 100.0, 101.0])
    q = np.array([-2.0, 0.0, 3.0])
    bids, asks = as_quotes(s, q, 0.1, 2.0, 0.7, 1.5)
    for i in range(3):
        bid, ask = as_quotes(float(s[i]), float(q[i]), 0.1, 2.0, 0.7, 1.5)
        assert (bids[i], asks[i]) == pytest.approx((bid, ask), abs=1e-12)
    assert asks[0] - bids[0] == pytest.approx(as_spread(0.1, 2.0, 0.7, 1.5))


@pytest.mark.parametrize("variant", ["avellaneda_stoikov", "glft"])
def test_reservation_quote_centres_both_models_alike(variant: str) -> None:
    flat = reservation_quote(variant, 1000.0, 0.0, 2.0, 1.5, 0.3, 0.05, 10.0)  # type: ignore[arg-type]
    long = reservation_quote(variant, 1000.0, 4.0, 2.0, 1.5, 0.3, 0.05, 10.0)  # type: ignore[arg-type]
    assert flat.reservation == 1000.0
    assert long.reservation == pytest.approx(1000.0 - 4.0 * long.skew)
    assert long.half_spread == flat.half_spread
    if variant == "glft":
        bid, ask = glft_closed_form(4.0, 2.0, 1.5, 0.3, 0.05)
        assert 1000.0 - (long.reservation - long.half_spread) == pytest.approx(bid)
        assert (long.reservation + long.half_spread) - 1000.0 == pytest.approx(ask)
    else:
        assert 2 * long.half_spread == pytest.approx(as_spread(0.05, 2.0, 10.0, 0.3))
