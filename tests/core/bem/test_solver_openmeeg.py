"""Our LC BEM against OpenMEEG (symmetric Galerkin BEM) on a 2C model with a holed skull.

The geometry the sphere tests cannot check: a 1/50 skull shell with a 4 mm opening (like the
foramen magnum) floating in a body sphere, field points in the cavity (the brain lies OUTSIDE the
skull surface, in the body compartment, as in seed 003's 2C model). No closed form exists, so the
reference is OpenMEEG on the same meshes. Tolerance 3 % (the issue's): at 642/1282 vertices both
solvers are within about 1-3 % of their own refined answers (measured: ours changes by 0.6-1.6 %
from 1.9 mm to 0.95 mm edges on a thick holed shell; OpenMEEG by 2-3 % from 3.8 to 1.9 mm), and
they agree to 1.8-2.3 % on the points under the opening (1.3-1.9 % over the whole cavity). The
opening changes the field there by 2-4 %; for the lateral coil that is less than the tolerance, so
each case also asserts that ours is closer to OpenMEEG than the field without the opening.
"""

import numpy as np
import pytest

from napari_rat_tms.core.bem.conductor import rat_head_model
from napari_rat_tms.core.bem.solver import build_solver
from napari_rat_tms.core.coils import CoilDipoles
from napari_rat_tms.core.meshes.primitives import holed_spherical_shell, icosphere
from napari_rat_tms.core.metrics import compare_fields

pytest.importorskip("openmeeg", reason="OpenMEEG is the reference solver (pip install napari-rat-tms[reference])")
from napari_rat_tms.core.bem.openmeeg_reference import openmeeg_tms_efield  # noqa: E402

RNG = np.random.default_rng(2)
DIRS = RNG.normal(size=(400, 3))
DIRS /= np.linalg.norm(DIRS, axis=1, keepdims=True)
POINTS = DIRS * RNG.uniform(0.002, 0.0085, size=(400, 1))  # in the cavity, >= 1 mm from the skull
POINTS = POINTS[POINTS[:, 2] > 0.002][:100]  # its upper part, under the opening (on +z)

# (coil, how much the opening changes the field there by OpenMEEG: 4.4 % and 2.2 %)
COILS = [
    (CoilDipoles([[0.0, 0.004, 0.016]], [[1e-4, 0.0, 0.0]], "above the opening"), 0.03),
    (CoilDipoles([[0.01, 0.0, 0.01]], [[0.0, 1e-4, 0.0]], "lateral"), 0.015),
]


@pytest.fixture(scope="module")
def model():
    body = icosphere(0.012, 3, name="body")
    skull = holed_spherical_shell(0.0095, 0.0105, 0.002, 3, axis=(0, 0, 1), name="skull")
    return rat_head_model(body, skull)


@pytest.mark.parametrize("coil,opening_effect", COILS, ids=[c.name for c, _ in COILS])
def test_holed_skull_matches_openmeeg(model, coil, opening_effect):
    ours = build_solver(model, POINTS).efield(coil, 5e7)
    reference = openmeeg_tms_efield(model, POINTS, coil, 5e7, n_threads=2)
    metrics = compare_fields(POINTS, ours, reference)
    assert metrics["re"] <= 0.03  # measured 2.3 % and 1.8 %
    # the comparison can see the opening: without it (closed shells: the analytic sphere) the field
    # differs from OpenMEEG's by opening_effect or more ...
    from napari_rat_tms.core.bem.sphere_model import sphere_efield

    without_opening = compare_fields(POINTS, reference, sphere_efield(POINTS, coil, 5e7))["re"]
    assert without_opening > opening_effect
    # ... and ours is closer to OpenMEEG than a model without the opening (issue 21: for the lateral
    # coil the opening changes the field by 2.2 %, less than the 3 % tolerance, so the tolerance alone
    # could not tell a solver that ignores the opening from one that models it)
    assert metrics["re"] < without_opening


def test_uniform_primary_field_gives_zero_total_field_in_any_geometry(model):
    """phi = E0 . r solves every boundary condition whatever the shapes and conductivities: E = 0."""
    solver = build_solver(model, POINTS, dtype=np.float64, solve_precision="float64")
    e0 = np.array([0.3, -1.0, 2.0])
    total = e0 + (solver.transfer @ (solver.surface_normals @ e0)).reshape(-1, 3)
    assert np.abs(total).max() <= 1e-6 * np.linalg.norm(e0)
