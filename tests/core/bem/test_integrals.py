"""Triangle integrals of the LC BEM against independent references.

References: brute-force quadrature on 4^6 sub-triangles (midpoint of each), the van Oosterom &
Strackee solid angle of the whole triangle, and closed forms for special cases.
"""

import numpy as np
import pytest

from napari_rat_tms.core.bem import integrals

TRIANGLE = np.array([[0.0, 0.0, 0.0], [1.0, 0.1, 0.0], [0.2, 0.9, 0.05]])


def _area_normal(tri):
    cross = np.cross(tri[1] - tri[0], tri[2] - tri[0])
    return 0.5 * np.linalg.norm(cross), cross / np.linalg.norm(cross)


def _brute(tri, r, kernel, level=6):
    """Midpoint rule on 4^level congruent sub-triangles (independent of the module's rules)."""
    n = 2**level
    bary = []
    for i in range(n):
        for j in range(n - i):
            bary.append([(i + 1 / 3) / n, (j + 1 / 3) / n])
            if i + j <= n - 2:
                bary.append([(i + 2 / 3) / n, (j + 2 / 3) / n])
    uv = np.array(bary)
    b = np.column_stack([1 - uv.sum(1), uv])
    area, normal = _area_normal(tri)
    pts = b @ tri
    d = pts - r
    dist = np.linalg.norm(d, axis=1)
    vals = kernel(d, dist, normal)
    return (b * vals[:, None]).sum(0) * area / len(b)


def _solid_angle(tri, r):
    v = tri - r
    lengths = np.linalg.norm(v, axis=1)
    triple = np.dot(v[0], np.cross(v[1], v[2]))
    denom = lengths.prod() + v[0] @ v[1] * lengths[2] + v[0] @ v[2] * lengths[1] + v[1] @ v[2] * lengths[0]
    return 2 * np.arctan2(triple, denom)


FIELD_POINTS = [
    np.array([0.3, 0.3, 0.5]),  # above
    np.array([0.3, 0.3, -0.2]),  # below
    np.array([2.0, 1.0, 1.0]),  # far
    np.array([1.2, 1.2, 0.3]),  # beside
]


@pytest.mark.parametrize("r", FIELD_POINTS)
def test_linear_solid_angles_match_quadrature_and_sum_to_the_solid_angle(r):
    area, n = _area_normal(TRIANGLE)
    w = np.empty(3)
    omega = integrals.linear_solid_angles(*r, *TRIANGLE, *n, area, w)
    ref = _brute(TRIANGLE, r, lambda d, dist, nn: (d @ nn) / dist**3)
    # midpoint rule on 4096 sub-triangles: error ~1e-5 relative for points >= 0.2 away
    np.testing.assert_allclose(w, ref, rtol=1e-4)
    assert omega == pytest.approx(_solid_angle(TRIANGLE, r), rel=1e-12)
    assert w.sum() == pytest.approx(omega, rel=1e-10)


def test_linear_solid_angles_vanish_in_the_plane():
    area, n = _area_normal(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0.0]]))
    w = np.ones(3)
    integrals.linear_solid_angles(2.0, 2.0, 0.0, *np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0.0]]), *n, area, w)
    assert np.all(w == 0)


@pytest.mark.parametrize("r", FIELD_POINTS + [np.array([0.4, 0.3, 0.02])])
def test_single_layer_matches_quadrature(r):
    # midpoint rule at two levels, Richardson-extrapolated (its error is O(h^2)): the reference is
    # good to ~1e-7 away from the triangle and ~1e-5 at 0.02 above it
    kernel = lambda d, dist, nn: 1 / dist  # noqa: E731
    ref = (4 * _brute(TRIANGLE, r, kernel, level=8) - _brute(TRIANGLE, r, kernel, level=7)) / 3
    np.testing.assert_allclose(integrals.single_layer_linear(r, TRIANGLE), ref, rtol=5e-5)


def test_single_layer_at_a_vertex_matches_the_closed_form_for_a_right_triangle():
    # Right isosceles triangle, legs 1, point at the right-angle corner: int 1/R dS = sqrt(2) asinh(1)
    # (polar coordinates: int_0^{pi/2} rho_max(theta) dtheta with rho_max = 1/(cos + sin)).
    tri = np.array([[0.0, 0, 0], [1.0, 0, 0], [0.0, 1, 0]])
    s = integrals.single_layer_linear(tri[0], tri, vertex_index=0)
    assert s.sum() == pytest.approx(np.sqrt(2) * np.arcsinh(1.0), rel=1e-10)
    # symmetry: the two far corners carry equal weights
    assert s[1] == pytest.approx(s[2], rel=1e-12)
    # the other corners' weights: int psi_b / R dS = (1/2) int_0^{pi/2} rho_max^2 cos(theta) d theta
    theta = np.linspace(0, np.pi / 2, 200001)
    rho = 1 / (np.cos(theta) + np.sin(theta))
    ref_b = np.trapezoid(0.5 * rho**2 * np.cos(theta), theta)
    assert s[1] == pytest.approx(ref_b, rel=1e-8)


def test_field_gradients_match_finite_differences():
    """grad of S (constant density) and D_k from the kernel vs central differences of S_k and D_k."""
    tri = TRIANGLE
    area, n = _area_normal(tri)
    verts = np.ascontiguousarray(tri)
    tris = np.array([[0, 1, 2]], dtype=np.int64)
    r0 = np.array([0.4, 0.2, 0.6])
    gs = np.zeros((3, 1))  # single layer: one column per triangle
    gd = np.zeros((3, 3))  # double layer: one column per vertex
    integrals.field_gradient_rows(r0[None], verts, tris, n[None], np.array([area]), np.array([1.0]),
                                  integrals._RULE_STARTS, integrals._RULE_BARY, integrals._RULE_WEIGHTS, gs, gd)
    h = 1e-5
    for axis in range(3):
        e = np.zeros(3)
        e[axis] = h
        ds = (integrals.single_layer_linear(r0 + e, tri) - integrals.single_layer_linear(r0 - e, tri)) / (2 * h)
        wp, wm = np.empty(3), np.empty(3)
        integrals.linear_solid_angles(*(r0 + e), *tri, *n, area, wp)
        integrals.linear_solid_angles(*(r0 - e), *tri, *n, area, wm)
        np.testing.assert_allclose(gs[axis, 0], ds.sum(), rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(gd[axis], (wp - wm) / (2 * h), rtol=1e-5, atol=1e-9)
