"""The exact field of a straight filament against numerical quadrature, and of a loop far away."""

import numpy as np
import pytest
from scipy.integrate import quad

from napari_rat_tms.core.coils import MU0, CoilDipoles, WirePath, primary_efield, wire_primary_efield
from napari_rat_tms.core.coils.wires import _segment_potential


def test_straight_segment_against_numerical_integration():
    # Hanson & Hirshman's closed form against adaptive quadrature of int dl / |r - l|
    a, b = np.array([0.0, 0.0, 0.0]), np.array([0.02, 0.01, 0.0])
    r = np.array([0.005, -0.004, 0.003])
    u = (b - a) / np.linalg.norm(b - a)
    length = np.linalg.norm(b - a)
    integral, _ = quad(lambda s: 1.0 / np.linalg.norm(r - (a + s * u)), 0, length, epsabs=1e-14)
    expected = -MU0 / (4 * np.pi) * integral * u  # E = -dA/dt for dI/dt = 1 A/s
    out = np.empty((1, 3))
    _segment_potential(r[None], a[None], b[None], np.ones(1), out)
    np.testing.assert_allclose(-MU0 / (4 * np.pi) * out[0], expected, rtol=1e-10)


def test_small_loop_far_away_is_a_dipole():
    radius = 0.002
    t = 2 * np.pi * np.arange(400) / 400
    loop = np.column_stack([radius * np.cos(t), radius * np.sin(t), np.zeros_like(t)])
    wire = WirePath((loop,), np.array([1.0]))
    np.testing.assert_allclose(wire.magnetic_moment_m2(), [0, 0, np.pi * radius**2], rtol=1e-3)
    dipole = CoilDipoles([[0, 0, 0]], [wire.magnetic_moment_m2()])
    points = np.array([[0.05, 0.02, 0.03], [-0.04, 0.0, 0.06]])
    expected = primary_efield(points, dipole, 1e8)
    np.testing.assert_allclose(wire_primary_efield(points, wire, 1e8), expected, rtol=5e-3,
                               atol=1e-9 * np.abs(expected).max())


def test_mismatched_currents_are_refused():
    with pytest.raises(ValueError, match="current fractions"):
        WirePath((np.zeros((3, 3)),), np.array([1.0, 2.0]))
