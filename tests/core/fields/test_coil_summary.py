"""Coil sanity numbers (core.fields.coil_summary) and superposition (core.coils.superposed_coils)."""

import numpy as np
import pytest

from napari_rat_tms.core.bem.sphere_model import sphere_efield
from napari_rat_tms.core.coils import CoilDipoles, mc_b35, primary_efield
from napari_rat_tms.core.coils import superposed_coils
from napari_rat_tms.core.fields.coil_summary import describe_coil


def _rotation_z(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_superposition_equals_the_sum_of_the_single_coil_fields():
    a = mc_b35("low")
    b = mc_b35("low").transformed(_rotation_z(0.6), [0.004, -0.002, 0.001])
    c = CoilDipoles([[0.0, 0.01, 0.0]], [[0.0, 0.0, 3e-5]], "dipole")
    together = superposed_coils([a, (b, -0.5), (c, 2.0)])
    assert together.n_dipoles == a.n_dipoles + b.n_dipoles + 1
    rng = np.random.default_rng(2)
    points = rng.uniform(-0.008, 0.008, size=(200, 3)) + [0.0, 0.0, 0.012]
    expected = (primary_efield(points, a, 5e7) - 0.5 * primary_efield(points, b, 5e7)
                + 2.0 * primary_efield(points, c, 5e7))
    np.testing.assert_allclose(primary_efield(points, together, 5e7), expected, rtol=1e-9,
                               atol=1e-9 * np.abs(expected).max())
    # and in a conductor (the sphere's closed form): the total fields add as well
    centre = np.array([0.0, 0.0, 0.0154])
    inside = centre + rng.uniform(-0.005, 0.005, size=(50, 3))
    fields = [sphere_efield(inside, coil, 1e6, centre) for coil in (a, b, c)]
    np.testing.assert_allclose(sphere_efield(inside, together, 1e6, centre),
                               fields[0] - 0.5 * fields[1] + 2.0 * fields[2], rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="at least one coil"):
        superposed_coils([])
    with pytest.raises(TypeError, match="CoilDipoles"):
        superposed_coils(["MC-B35"])


def test_sanity_numbers_scale_with_the_coil_and_match_the_closed_forms():
    coil = mc_b35("high")
    summary = describe_coil(coil, depth_mm=2.0)
    assert summary.n_dipoles == 2580 and summary.extent_mm[0] == pytest.approx(91.2, abs=0.5)
    # independent values: the dipole sum and the sphere's closed form at the same points, per A/us
    assert summary.primary_10mm_v_per_m_per_a_per_us == pytest.approx(
        np.linalg.norm(primary_efield([[0, 0, 0.01]], coil, 1e6)[0]), rel=1e-12)
    depth_point = [[0.0, 0.0, (15.4 - 13.0 + 2.0) * 1e-3]]
    assert summary.sphere_at_depth_v_per_m_per_a_per_us == pytest.approx(
        np.linalg.norm(sphere_efield(depth_point, coil, 1e6, [0, 0, 0.0154])[0]), rel=1e-12)
    assert summary.sphere_peak_v_per_m_per_a_per_us >= summary.sphere_at_depth_v_per_m_per_a_per_us
    # a coil driven twice as hard: every field number doubles
    double = describe_coil(superposed_coils([(coil, 2.0)]), depth_mm=2.0)
    for name in ("primary_10mm_v_per_m_per_a_per_us", "sphere_at_depth_v_per_m_per_a_per_us",
                 "sphere_peak_v_per_m_per_a_per_us"):
        assert getattr(double, name) == pytest.approx(2 * getattr(summary, name), rel=1e-9)
    assert "V/m at 2 mm depth" in summary.describe(50.0) and summary.per_a_per_us().startswith("per A/us")
    with pytest.raises(ValueError, match="depth_mm"):
        describe_coil(coil, depth_mm=40.0)
