"""The closed-form spherical-head E-field (physics notes section 3) and the sphere fits.

Checks of :func:`sphere_efield`, from the most to the least independent of its implementation:

1. **Uniqueness** (independent of the formula): inside a homogeneous sphere the total field is
   ``E = E_p - grad(phi)`` with ``phi`` harmonic and ``n . E = 0`` on the surface, and these
   determine ``E`` uniquely (Neumann problem). So it suffices that, by central finite
   differences, ``curl(E - E_p) = 0`` (``E - E_p`` is a gradient) and ``div E = 0``, and that
   ``r . E = 0`` on concentric spheres. ``E_p`` comes from :func:`primary_efield` (section 2).
   Step h = 0.2 um with sources >= 4 mm away: truncation ~ (h/d)^2 ~ 1e-8 (measured 6e-9 for
   the curl, 1e-9 for the divergence) and round-off ~ eps d / h ~ 1e-11, relative to the
   Jacobian's norm; we assert 1e-6. The secondary part's Jacobian is about twice the total's
   here, so a wrong secondary field cannot hide below that.
2. **Reciprocity** with the Sarvas (1987) MEG formula, written here from Sarvas's paper in its
   own notation: ``E(r) . q = -dI/dt sum_k m_k . B_q(r_k)``. This shares the algebra of the
   formula (it is its source), so it guards the transcription (signs, factors, which point is
   which), not the physics; float64 round-off only, asserted 1e-10.
3. A dipole with ``m`` parallel to ``r0`` gives exactly the primary field (no surface charge),
   rotation / translation invariance, linearity: float64 round-off, asserted 1e-10 or 1e-12.
"""


import numpy as np
import pytest

from napari_rat_tms.core.bem.sphere_model import (
    MIN_FIT_POINTS,
    SphereFit,
    fit_sphere,
    fit_sphere_to_inner_skull,
    sphere_efield,
    sphere_validity_radius_m,
)
from napari_rat_tms.core.coils.dipoles import MU0, CoilDipoles, primary_efield

RNG = np.random.default_rng(2024)


def _unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _random_points(n, r_max, rng, center=(0.0, 0.0, 0.0)):
    d = _unit(rng.normal(size=(n, 3)))
    return np.asarray(center) + d * (r_max * rng.uniform(0.0, 1.0, size=(n, 1)) ** (1 / 3))


def _random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


# A small irregular coil 13-18 mm from the origin with tangential, radial and oblique moments.
COIL = CoilDipoles(
    [[0.0, 0.0, 0.016], [0.004, 0.0, 0.0155], [-0.003, 0.003, 0.0165], [0.002, -0.004, 0.017],
     [0.0, 0.013, 0.0]],
    [[1e-4, 0.0, 0.0], [0.0, 5e-5, 1e-4], [5e-5, 1e-4, 1e-4], [0.0, 1e-4, -2e-5], [3e-5, 0.0, 7e-5]],
    "irregular test coil",
)
DIDT = 5e7  # A/s (50 A/us)
POINTS = _random_points(300, 0.009, RNG)  # >= 4 mm from every dipole


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ---------------------------------------------------------------------------------------------
# 1. Uniqueness: div E = 0, curl(E - E_p) = 0, r . E = 0  (independent of the formula)


def _jacobians(fun, points, h):
    """Central-difference Jacobians J[n, i, j] = d fun_i / d x_j at each point."""
    jac = np.empty((len(points), 3, 3))
    for j in range(3):
        step = np.zeros(3)
        step[j] = h
        jac[:, :, j] = (fun(points + step) - fun(points - step)) / (2 * h)
    return jac


def test_field_is_tangential_to_every_concentric_sphere():
    e = sphere_efield(POINTS, COIL, DIDT)
    radial = np.einsum("ij,ij->i", POINTS, e) / np.linalg.norm(POINTS, axis=1)
    # round-off of a dot product of O(|E|) terms
    assert np.max(np.abs(radial)) <= 1e-12 * np.max(np.linalg.norm(e, axis=1))
    # and it is not trivially the primary field, which does have a radial part here
    e_p = primary_efield(POINTS, COIL, DIDT)
    assert np.max(np.abs(np.einsum("ij,ij->i", POINTS, e_p) / np.linalg.norm(POINTS, axis=1))) > 0.1 * np.max(
        np.linalg.norm(e_p, axis=1)
    )


def test_total_field_is_divergence_free_and_differs_from_primary_by_a_gradient():
    pts = POINTS[np.linalg.norm(POINTS, axis=1) > 1e-4][:100]
    h = 2e-7
    j_total = _jacobians(lambda p: sphere_efield(p, COIL, DIDT), pts, h)
    j_primary = _jacobians(lambda p: primary_efield(p, COIL, DIDT), pts, h)
    scale = np.linalg.norm(j_total, axis=(1, 2))
    div = np.trace(j_total, axis1=1, axis2=2)
    assert np.max(np.abs(div) / scale) < 1e-6
    j_sec = j_total - j_primary  # Jacobian of -grad(phi): symmetric
    asym = np.linalg.norm(j_sec - np.transpose(j_sec, (0, 2, 1)), axis=(1, 2))
    assert np.max(asym / scale) < 1e-6
    # sanity: the secondary field is not negligible, so the test has teeth
    assert np.median(np.linalg.norm(j_sec, axis=(1, 2)) / scale) > 0.05


# ---------------------------------------------------------------------------------------------
# 2. Reciprocity with an independent implementation of Sarvas (1987)


def _sarvas_b(r, r_q, q):
    """Magnetic field at sensor ``r`` (outside) of a current dipole ``q`` at ``r_q`` inside a
    spherically symmetric conductor centred at the origin (Sarvas 1987, eq. 25), in T per A m."""
    a_vec = r - r_q
    a = np.linalg.norm(a_vec)
    rn = np.linalg.norm(r)
    f = a * (rn * a + rn**2 - r_q @ r)
    grad_f = (a**2 / rn + a_vec @ r / a + 2 * a + 2 * rn) * r - (a + 2 * rn + a_vec @ r / a) * r_q
    q_x_rq = np.cross(q, r_q)
    return MU0 / (4 * np.pi * f**2) * (f * q_x_rq - (q_x_rq @ r) * grad_f)


def test_reciprocity_with_sarvas_meg_formula():
    pts = POINTS[:40]
    e = sphere_efield(pts, COIL, DIDT)
    e_recip = np.zeros_like(pts)
    for n, r_q in enumerate(pts):
        for i, q in enumerate(np.eye(3)):
            flux = sum(m @ _sarvas_b(r0, r_q, q) for r0, m in zip(COIL.positions_m, COIL.moments_m2))
            e_recip[n, i] = -DIDT * flux
    assert _rel(e, e_recip) < 1e-10


# ---------------------------------------------------------------------------------------------
# 3. Special cases, invariances, linearity


def test_radial_dipoles_give_the_primary_field():
    pos = np.array([[0.0, 0.0, 0.016], [0.01, -0.008, 0.012], [-0.02, 0.0, 0.0]])
    mom = pos / np.linalg.norm(pos, axis=1, keepdims=True) * np.array([[1e-4], [-3e-5], [2e-5]])
    for k in range(len(pos)):
        single = CoilDipoles(pos[k : k + 1], mom[k : k + 1])
        assert _rel(sphere_efield(POINTS, single, DIDT), primary_efield(POINTS, single, DIDT)) < 1e-12
    coil = CoilDipoles(pos, mom)
    assert _rel(sphere_efield(POINTS, coil, DIDT), primary_efield(POINTS, coil, DIDT)) < 1e-12


def test_rotation_invariance():
    rot = _random_rotation(np.random.default_rng(3))
    e = sphere_efield(POINTS, COIL, DIDT)
    e_rot = sphere_efield(POINTS @ rot.T, COIL.transformed(rot, np.zeros(3)), DIDT)
    assert _rel(e_rot, e @ rot.T) < 1e-12


def test_translation_with_the_centre():
    shift = np.array([0.003, -0.012, 0.02])
    e = sphere_efield(POINTS, COIL, DIDT)
    e_shift = sphere_efield(POINTS + shift, COIL.transformed(np.eye(3), shift), DIDT, center_m=shift)
    assert _rel(e_shift, e) < 1e-10  # round-off of subtracting a 2 cm offset from mm-scale vectors


def test_linearity_in_didt_and_moments():
    e1 = sphere_efield(POINTS, COIL, 1.0)
    assert _rel(sphere_efield(POINTS, COIL, DIDT), DIDT * e1) < 1e-13
    assert _rel(sphere_efield(POINTS, COIL, -2.5), -2.5 * e1) < 1e-13
    other = CoilDipoles([[0.01, 0.01, 0.01], [-0.012, 0.0, 0.011]], [[1e-5, -2e-5, 0.0], [0.0, 3e-5, 1e-5]])
    both = CoilDipoles(
        np.vstack([COIL.positions_m, other.positions_m]), np.vstack([COIL.moments_m2, other.moments_m2])
    )
    summed = sphere_efield(POINTS, COIL, DIDT) + sphere_efield(POINTS, other, DIDT)
    assert _rel(sphere_efield(POINTS, both, DIDT), summed) < 1e-12
    doubled = CoilDipoles(COIL.positions_m, 3.0 * COIL.moments_m2)
    assert _rel(sphere_efield(POINTS, doubled, DIDT), 3.0 * sphere_efield(POINTS, COIL, DIDT)) < 1e-13


def test_centre_gives_zero_without_nan():
    centre = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert np.array_equal(sphere_efield(centre, COIL, DIDT), np.zeros((2, 3)))
    c = np.array([0.001, 0.002, -0.003])
    e = sphere_efield(c[None], COIL.transformed(np.eye(3), c), DIDT, center_m=c)
    assert np.all(np.isfinite(e)) and np.linalg.norm(e) == 0.0
    # continuous there: the field grows linearly from the centre (second-order terms are
    # ~ |r| / 13 mm ~ 1e-4 of the first at 1 um)
    near = sphere_efield(np.array([[1e-9, 0, 0], [0, 2e-9, 0]]), COIL, DIDT)
    far = sphere_efield(np.array([[1e-6, 0, 0], [0, 2e-6, 0]]), COIL, DIDT)
    assert np.allclose(near * 1e3, far, rtol=1e-3, atol=0)


def test_empty_points_and_shapes():
    assert sphere_efield(np.zeros((0, 3)), COIL).shape == (0, 3)
    assert sphere_efield([0.001, 0.0, 0.0], COIL).shape == (1, 3)


def test_validity_radius_and_errors():
    assert sphere_validity_radius_m(COIL) == pytest.approx(0.013)
    with pytest.raises(ValueError, match="nearest coil dipole"):
        sphere_efield([[0.0, 0.0, 0.0135]], COIL)  # beyond the lateral dipole's 13 mm
    with pytest.raises(ValueError, match="valid only"):
        sphere_efield([[0.0, 0.013, 0.0]], COIL)  # exactly at the dipole's radius
    with pytest.raises(ValueError, match="centre"):
        sphere_efield([[0.001, 0.0, 0.0]], CoilDipoles([[0.0, 0.0, 0.0]], [[1e-4, 0, 0]]))
    with pytest.raises(ValueError, match="finite"):
        sphere_efield([[np.nan, 0.0, 0.0]], COIL)
    with pytest.raises(ValueError, match="center_m"):
        sphere_efield([[0.0, 0.0, 0.0]], COIL, center_m=(0.0, 0.0))
    # the check uses distances from the given centre
    with pytest.raises(ValueError):
        sphere_efield([[0.0, 0.0, 0.0]], COIL, center_m=(0.0, 0.0, 0.015))


def test_many_points_and_dipoles_give_finite_fields():
    """A coil-sized problem (2,000 points x 3,000 dipoles) runs and stays finite; timing lives in benchmarks/."""
    rng = np.random.default_rng(5)
    pos = _unit(rng.normal(size=(3000, 3))) * 0.02
    coil = CoilDipoles(pos, rng.normal(size=(3000, 3)) * 1e-6)
    pts = _random_points(2000, 0.012, rng)
    e = sphere_efield(pts, coil, DIDT)
    assert e.shape == (2000, 3) and np.all(np.isfinite(e))


# ---------------------------------------------------------------------------------------------
# Sphere fits


def _fibonacci_sphere(n):
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5**0.5) * i
    s = np.sqrt(1 - z * z)
    return np.column_stack([s * np.cos(phi), s * np.sin(phi), z])


def test_fit_sphere_recovers_a_noisy_sphere():
    rng = np.random.default_rng(11)
    center = np.array([0.002, -0.001, 0.004])
    radius = 0.0144
    noise = 2e-5  # 20 um
    pts = center + radius * _unit(rng.normal(size=(500, 3))) + rng.normal(scale=noise, size=(500, 3))
    c, r, rms = fit_sphere(pts)
    # standard errors ~ noise / sqrt(N) ~ 1 um; allow 5 um
    assert np.linalg.norm(c - center) < 5e-6
    assert abs(r - radius) < 5e-6
    assert rms == pytest.approx(noise, rel=0.15)  # radial noise component has std = noise


def test_fit_sphere_on_a_cap_and_exact_points():
    center = np.array([0.0, 0.0, -0.0144])
    d = _fibonacci_sphere(4000)
    cap = center + 0.0144 * d[d[:, 2] > 0.95]  # ~18 deg cap
    c, r, rms = fit_sphere(cap)
    assert np.linalg.norm(c - center) < 1e-10 and abs(r - 0.0144) < 1e-10 and rms < 1e-12


def test_fit_sphere_errors():
    with pytest.raises(ValueError, match="at least 4"):
        fit_sphere(np.zeros((3, 3)))
    rng = np.random.default_rng(0)
    plane = np.column_stack([rng.normal(size=(50, 2)), np.zeros(50)])
    with pytest.raises(ValueError, match="coplanar"):
        fit_sphere(plane)
    with pytest.raises(ValueError, match="finite"):
        fit_sphere([[0, 0, 0], [1, 0, 0], [0, 1, 0], [np.inf, 0, 1]])


def _shell(center, r_inner, r_outer, n=6000):
    """Skull-like shell: inner and outer spheres; outward skull normals (inner ones point to the centre)."""
    d = _fibonacci_sphere(n)
    verts = np.vstack([center + r_inner * d, center + r_outer * _fibonacci_sphere(n + 500)])
    normals = np.vstack([-d, _fibonacci_sphere(n + 500)])
    return verts, normals


def test_fit_sphere_to_inner_skull_recovers_the_inner_radius():
    center = np.array([0.001, 0.004, -0.002])
    verts, normals = _shell(center, 0.0144, 0.0154)
    # head centre 3 mm below the shell's centre, "up" tilted by ~10 deg
    up = _unit([0.0, 0.17, 1.0])
    fit = fit_sphere_to_inner_skull(verts, normals, center - 0.003 * up, up, radius_m=0.004)
    assert isinstance(fit, SphereFit)
    # inner-shell vertices within 4 mm of the line: ~ n * (4/14.4)^2 / 4 ~ 115; no outer ones
    assert fit.n_points >= 50
    assert fit.radius_m == pytest.approx(0.0144, abs=1e-9)
    assert np.allclose(fit.center_m, center, atol=1e-9)
    assert fit.rms_residual_m < 1e-10


def test_fit_sphere_to_inner_skull_errors():
    center = np.zeros(3)
    verts, normals = _shell(center, 0.0144, 0.0154, n=2000)
    up = np.array([0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=f"at least {MIN_FIT_POINTS}"):
        fit_sphere_to_inner_skull(verts, normals, center, up, radius_m=0.0005)
    # a closed surface with outward normals around the centre (a scalp, say) has no inner side
    d = _fibonacci_sphere(2000)
    with pytest.raises(ValueError, match="normals point outward"):
        fit_sphere_to_inner_skull(0.0154 * d, d, center, up)
    with pytest.raises(ValueError, match="must match"):
        fit_sphere_to_inner_skull(verts, normals[:-1], center, up)
    with pytest.raises(ValueError, match="up"):
        fit_sphere_to_inner_skull(verts, normals, center, [0.0, 0.0, 0.0])


def test_spherical_head_model_fits_the_inner_skull_and_evaluates_fields():
    """SphericalHeadModel = fit_sphere_to_inner_skull + sphere_efield at fixed points."""
    from napari_rat_tms.core.bem.sphere_model import SphericalHeadModel

    rng = np.random.default_rng(5)
    dirs = rng.normal(size=(4000, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    centre = np.array([0.001, -0.002, 0.0])
    inner = centre + 0.0144 * dirs
    normals = -dirs  # the inner skull's outward (away from bone) normal points to the centre
    points = centre + 0.01 * dirs[:50]
    model = SphericalHeadModel.from_inner_skull(inner, normals, centre + [0, 0, 0.002], [0, 0, 1], points)
    np.testing.assert_allclose(model.center_m, centre, atol=1e-9)
    assert model.fit.radius_m == pytest.approx(0.0144, rel=1e-9)
    coil = CoilDipoles([[0.0, 0.0, 0.03]], [[1e-4, 0.0, 0.0]])
    np.testing.assert_allclose(model.efield(coil, 2.0), sphere_efield(points, coil, 2.0, centre))
    assert model.efield_batch([coil, coil]).shape == (2, 50, 3)
