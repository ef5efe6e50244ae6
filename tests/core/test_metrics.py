"""Error metrics (seed 003 "Error metrics"; physics notes section 6) on fields with known answers.

All expected values are exact; tolerances are float64 round-off (1e-12) unless stated.
"""

import numpy as np
import pytest

from napari_rat_tms.core.metrics import (
    STRONG_FIELD_FRACTION,
    angular_errors_deg,
    compare_fields,
    correlation_error,
    mean_angular_error_deg,
    peak_distance_m,
    relative_error,
    strong_field_mask,
)

RNG = np.random.default_rng(42)
E_REF = RNG.normal(size=(200, 3))
POINTS = RNG.uniform(-0.01, 0.01, size=(200, 3))


def _rot_z(deg):
    t = np.radians(deg)
    return np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("s", [0.5, 0.9, 1.0, 1.3, 2.0])
def test_scaled_field(s):
    e = s * E_REF
    assert relative_error(e, E_REF) == pytest.approx(abs(s - 1), abs=1e-12)
    assert correlation_error(e, E_REF) == pytest.approx(0.0, abs=1e-12)
    assert mean_angular_error_deg(e, E_REF) == pytest.approx(0.0, abs=1e-6)
    assert peak_distance_m(POINTS, e, E_REF) == 0.0


def test_negated_field():
    assert relative_error(-E_REF, E_REF) == pytest.approx(2.0)
    assert correlation_error(-E_REF, E_REF) == pytest.approx(2.0)
    assert np.allclose(angular_errors_deg(-E_REF, E_REF), 180.0)


@pytest.mark.parametrize("deg", [1e-4, 3.0, 30.0, 90.0, 150.0])
def test_rotated_planar_field(deg):
    # vectors in the xy plane rotated about z by deg: each angle is deg, RE = 2 sin(deg / 2)
    e_ref = E_REF.copy()
    e_ref[:, 2] = 0.0
    e = e_ref @ _rot_z(deg).T
    ang = angular_errors_deg(e, e_ref)
    assert np.allclose(ang, deg, rtol=1e-9, atol=1e-9)  # atan2 keeps small angles accurate
    assert mean_angular_error_deg(e, e_ref) == pytest.approx(deg, rel=1e-9)
    assert relative_error(e, e_ref) == pytest.approx(2 * np.sin(np.radians(deg) / 2), rel=1e-9)


def test_correlation_error_ignores_a_constant_offset_and_factor():
    e = 3.0 * E_REF + np.array([5.0, -2.0, 1.0])
    assert correlation_error(e, E_REF) == pytest.approx(0.0, abs=1e-12)
    assert relative_error(e, E_REF) > 1.0


def test_correlation_error_known_value():
    # de-meaned orthogonal fields: correlation 0, CCE 1
    a = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 0, 0], [0, 0, 0]])
    b = np.array([[0, 0, 0], [0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]])
    assert correlation_error(a, b) == pytest.approx(1.0)
    # pooled over components, not averaged per component: a correlates with a + orthogonal part
    c = a + b
    assert correlation_error(a, c) == pytest.approx(1 - 1 / np.sqrt(2))


def test_angles_per_point_and_zero_vectors():
    e_ref = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 2.0], [1.0, 0, 0]])
    e = np.array([[0, 1.0, 0], [0, 1.0, 1.0], [0, 0, 5.0], [0, 0, 0]])
    ang = angular_errors_deg(e, e_ref)
    assert np.allclose(ang[:3], [90.0, 45.0, 0.0])
    assert np.isnan(ang[3])
    assert mean_angular_error_deg(e, e_ref) == pytest.approx(45.0)


def test_strong_field_mask():
    mags = np.array([1.0, 0.70, 0.71, 0.5, 0.9, 0.0])
    e_ref = mags[:, None] * np.array([0.0, 0.6, 0.8])
    assert np.array_equal(strong_field_mask(e_ref), [True, False, True, False, True, False])  # 0.7071
    assert STRONG_FIELD_FRACTION == pytest.approx(np.sqrt(0.5))
    assert np.array_equal(strong_field_mask(e_ref, fraction=0.6), [True, True, True, False, True, False])
    assert not strong_field_mask(np.zeros((4, 3))).any()
    with pytest.raises(ValueError):
        strong_field_mask(e_ref, fraction=1.5)


def test_peak_distance():
    pts = np.array([[0.0, 0, 0], [0.003, 0.004, 0], [0.01, 0, 0]])
    e_ref = np.array([[0, 0, 1.0], [0, 0, 0.1], [0, 0, 0.2]])
    e = np.array([[0, 0, 0.1], [0.0, 2.0, 0], [0, 0, 0.2]])
    assert peak_distance_m(pts, e, e_ref) == pytest.approx(0.005)
    assert peak_distance_m(pts, e_ref, e_ref) == 0.0


def test_compare_fields_all_and_strong_region():
    # reference: strong at the first 10 points; the test field is exact there and wrong elsewhere
    e_ref = np.tile([0.0, 0.0, 0.1], (50, 1))
    e_ref[:10] = RNG.normal(size=(10, 3))
    e_ref[:10] *= (5.0 / np.linalg.norm(e_ref[:10], axis=1))[:, None] * np.linspace(1.0, 0.8, 10)[:, None]
    e = e_ref.copy()
    e[10:] = [0.1, 0.0, 0.0]  # rotated by 90 deg outside the strong region
    pts = RNG.uniform(size=(50, 3))
    out = compare_fields(pts, e, e_ref)
    assert out["n_points"] == 50 and out["n_strong"] == 10
    assert out["re_strong"] == pytest.approx(0.0, abs=1e-15)
    assert out["cce_strong"] == pytest.approx(0.0, abs=1e-12)
    assert out["mean_angle_deg_strong"] == pytest.approx(0.0, abs=1e-6)
    assert out["mean_angle_deg"] == pytest.approx(90.0 * 40 / 50)
    expected_re = np.sqrt(40 * 2 * 0.1**2) / np.linalg.norm(e_ref)
    assert out["re"] == pytest.approx(expected_re)
    assert out["cce"] == pytest.approx(correlation_error(e, e_ref))
    assert out["peak_distance_m"] == 0.0
    assert set(out) == {
        "re", "cce", "mean_angle_deg", "re_strong", "cce_strong", "mean_angle_deg_strong",
        "peak_distance_m", "n_points", "n_strong",
    }  # fmt: skip


def test_degenerate_cases_are_nan():
    one = np.array([[1.0, 2.0, 3.0]])
    assert np.isnan(correlation_error(one, one))  # nothing left after de-meaning
    assert np.isnan(relative_error(one, np.zeros((1, 3))))
    assert np.isnan(mean_angular_error_deg(np.zeros((2, 3)), np.ones((2, 3))))


def test_bad_input():
    with pytest.raises(ValueError, match="same"):
        relative_error(np.zeros((3, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        correlation_error(np.zeros(6), np.zeros(6))
    with pytest.raises(ValueError, match="finite"):
        angular_errors_deg(np.full((2, 3), np.nan), np.ones((2, 3)))
    with pytest.raises(ValueError, match="no points"):
        relative_error(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="points_m"):
        peak_distance_m(np.zeros((2, 3)), np.ones((3, 3)), np.ones((3, 3)))
