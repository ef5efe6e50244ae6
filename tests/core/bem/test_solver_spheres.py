"""The LC BEM solver against the analytic sphere (physics notes section 3) and conservation laws.

Oracle: the closed-form field of Heller & van Hulsteyn (1992) for a spherically symmetric conductor,
which does not depend on the radial conductivity profile, so one sphere and three shells with a
1/50 skull must both reproduce it. Tolerances: seed 003's issue asks for <= 2 % relative error at
about 2,500 vertices per shell and names <= 1 % as what good LC/Galerkin codes reach; we assert
the 1 % goal (measured here: 0.6-0.8 % for one sphere, 0.3-0.4 % for three shells), with points at
least 1 mm inside the innermost surface (the seed's cortical points keep 1 mm from the skull).
"""

import numpy as np
import pytest

from napari_rat_tms.core.bem.conductor import SIGMA_BODY, SIGMA_SKULL, nested_spheres
from napari_rat_tms.core.bem.solver import build_solver
from napari_rat_tms.core.bem.sphere_model import sphere_efield
from napari_rat_tms.core.coils import CoilDipoles
from napari_rat_tms.core.metrics import relative_error

RNG = np.random.default_rng(7)
DIRECTIONS = RNG.normal(size=(200, 3))
DIRECTIONS /= np.linalg.norm(DIRECTIONS, axis=1, keepdims=True)
POINTS = DIRECTIONS * RNG.uniform(0.002, 0.0085, size=(200, 1))  # >= 1 mm inside the 9.5 mm shell

# (position m, moment A m^2/A): above, oblique and lateral dipoles, tangential and oblique moments
DIPOLES = [
    ([0.0, 0.0, 0.016], [1e-4, 0.0, 0.0]),
    ([0.005, 0.003, 0.016], [0.0, 1e-4, 3e-5]),
    ([0.0, 0.017, 0.004], [0.0, 2e-5, 1e-4]),
    ([-0.011, -0.004, 0.012], [3e-5, -1e-4, 2e-5]),
]


def _figure_of_eight(center, normal, direction, radius=0.006, n=16):
    """Two rings of dipoles with opposite moments along the normal, offset along ``direction``."""
    normal = np.asarray(normal, float) / np.linalg.norm(normal)
    direction = np.asarray(direction, float)
    direction -= direction @ normal * normal
    direction /= np.linalg.norm(direction)
    side = np.cross(normal, direction)
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = radius * 0.5 * (np.cos(angles)[:, None] * direction + np.sin(angles)[:, None] * side)
    pos = np.concatenate([center + radius * side + ring, center - radius * side + ring])
    mom = np.concatenate([np.tile(normal * 1e-5, (n, 1)), np.tile(-normal * 1e-5, (n, 1))])
    return CoilDipoles(pos, mom, "test figure-of-eight")


COILS = [CoilDipoles([p], [m], f"dipole {i}") for i, (p, m) in enumerate(DIPOLES)] + [
    _figure_of_eight(np.array([0.0, 0.0, 0.015]), [0, 0, 1], [1, 0, 0]),
    _figure_of_eight(np.array([0.0, 0.006, 0.0145]), [0, 0.4, 1], [1, 1, 0]),
]


@pytest.fixture(scope="module")
def one_sphere():
    return build_solver(nested_spheres([0.0095], [SIGMA_BODY], subdivisions=4), POINTS, dtype=np.float64, solve_precision="float64")


@pytest.fixture(scope="module")
def three_shells():
    model = nested_spheres([0.0095, 0.0105, 0.012], [SIGMA_BODY, SIGMA_SKULL, SIGMA_BODY], subdivisions=4)
    return build_solver(model, POINTS, dtype=np.float64, solve_precision="float64")


@pytest.mark.parametrize("coil", COILS, ids=[c.name + str(i) for i, c in enumerate(COILS)])
@pytest.mark.parametrize("model", ["one_sphere", "three_shells"])
def test_field_matches_the_analytic_sphere(model, coil, request):
    solver = request.getfixturevalue(model)
    assert solver.conductor.n_vertices == 2562 * (1 if model == "one_sphere" else 3)
    e = solver.efield(coil, didt_a_per_s=5e7)
    e_ref = sphere_efield(POINTS, coil, didt_a_per_s=5e7)
    assert relative_error(e, e_ref) <= 0.01


def test_one_and_three_shells_agree(one_sphere, three_shells):
    """The sphere's field does not depend on the radial conductivity profile (section 3)."""
    for coil in COILS:
        assert relative_error(three_shells.efield(coil), one_sphere.efield(coil)) <= 0.015


def test_radial_component_is_near_zero(three_shells):
    for coil in COILS:
        e = three_shells.efield(coil)
        radial = np.abs(np.einsum("ij,ij->i", e, DIRECTIONS))
        assert radial.max() <= 0.01 * np.linalg.norm(e, axis=1).max()


def test_uniform_primary_field_gives_zero_total_field(one_sphere):
    """E_p uniform: the charges cancel it exactly inside a single sphere (phi = E0 . r)."""
    e0 = np.array([1.0, -2.0, 0.5])
    g = one_sphere.surface_normals @ e0
    total = e0 + (one_sphere.transfer @ g).reshape(-1, 3)
    assert np.linalg.norm(total, axis=1).max() <= 0.01 * np.linalg.norm(e0)


def test_batch_equals_single_placements(three_shells):
    batch = three_shells.efield_batch(COILS[:3], didt_a_per_s=2.0)
    for k, coil in enumerate(COILS[:3]):
        np.testing.assert_allclose(batch[k], three_shells.efield(coil, didt_a_per_s=2.0), rtol=1e-10, atol=1e-12)


def test_float32_path_matches_float64():
    """Default precision (float32 solve where the condition allows, float32 products) vs all-float64.

    On a coarser 3-shell model (642 vertices per shell) to keep the test short: the condition
    number, which sets the float32 solve's error, is about the same.
    """
    model = nested_spheres([0.0095, 0.0105, 0.012], [SIGMA_BODY, SIGMA_SKULL, SIGMA_BODY], subdivisions=3)
    exact = build_solver(model, POINTS, dtype=np.float64, solve_precision="float64")
    fast = build_solver(model, POINTS)
    assert fast.transfer.dtype == np.float32
    assert fast.precompute_info["solve_precision"] == "float32"
    assert fast.precompute_info["condition_estimate"] < 1e3
    for coil in COILS:
        assert relative_error(fast.efield(coil), exact.efield(coil)) < 1e-5
