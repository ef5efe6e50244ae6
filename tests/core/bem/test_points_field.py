"""PlacementField: the factorised BEM matrix is reused for the next placement on the same conductor, also
when a head model built with keep_factorisation left it."""

import gc

import numpy as np
import pytest

from napari_rat_tms.core.bem import lc_bem
from napari_rat_tms.core.bem import points_field as pf
from napari_rat_tms.core.bem.conductor import nested_spheres
from napari_rat_tms.core.bem.sphere_model import sphere_efield
from napari_rat_tms.core.coils import mc_b35
from napari_rat_tms.core.placement import CoilPlacement

CENTRE_M = np.array([0.012, 0.012, 0.012])


def _conductor():
    return nested_spheres([0.0095, 0.0105, 0.012], [0.33, 0.0066, 0.33], subdivisions=2, center_m=CENTRE_M)


def _coil(orientation_deg):
    angle = np.radians(orientation_deg)
    current = np.array([np.sin(angle), np.cos(angle), 0.0])
    placement = CoilPlacement(CENTRE_M * 1e3 + [0.0, 0.0, 12.5], np.array([0.0, 0.0, -1.0]), current,
                              orientation_deg, None, 0.0, 50.0)
    return placement.place(mc_b35("low"))


def _points(n=40):
    rng = np.random.default_rng(1)
    d = rng.normal(size=(n, 3))
    return CENTRE_M + d / np.linalg.norm(d, axis=1)[:, None] * rng.uniform(0, 0.008, (n, 1))


@pytest.fixture(autouse=True)
def _empty_cache():
    pf.clear_factorisation_cache()
    yield
    pf.clear_factorisation_cache()


def test_second_placement_on_the_same_conductor_reuses_the_factorisation(monkeypatch):
    points = _points()
    fresh_second = pf.PlacementField(_conductor(), _coil(60.0), 5e7).at(points)   # own assembly
    conductor = _conductor()
    first = pf.PlacementField(conductor, _coil(0.0), 5e7).at(points)

    def refuse(stack):
        raise AssertionError("the BEM matrix was assembled again")
        yield  # pragma: no cover

    monkeypatch.setattr(lc_bem, "iter_potential_matrix", refuse)
    steps = pf.PlacementField(conductor, _coil(60.0), 5e7).iter_at(points)
    messages = []
    try:
        while True:
            messages.append(next(steps)[1])
    except StopIteration as done:
        second = done.value
    assert any("factorised already" in m for m in messages)
    # the same numbers as a field that assembled and factorised its own matrix
    np.testing.assert_allclose(second, fresh_second, rtol=1e-10, atol=1e-12 * np.abs(fresh_second).max())
    # and physics: another orientation is another field, each close to the analytic sphere's
    assert np.linalg.norm(second - first) > 0.1 * np.linalg.norm(first)
    analytic = sphere_efield(points, _coil(60.0), 5e7, CENTRE_M)
    assert np.linalg.norm(second - analytic) / np.linalg.norm(analytic) < 0.03     # 2-subdivision spheres


def test_factorisations_are_kept_per_conductor_within_the_memory_budget(monkeypatch):
    points = _points(5)
    a = _conductor()
    pf.PlacementField(a, _coil(0.0), 5e7).at(points)
    assert pf.factorisation_of(a) is not None
    b = _conductor()
    pf.PlacementField(b, _coil(0.0), 5e7).at(points)
    assert pf.factorisation_of(a) is not None and pf.factorisation_of(b) is not None
    # a budget for one: the least recently used (a, since b was asked last) goes first
    size = pf.factorisation_of(b)[0].nbytes
    monkeypatch.setattr(pf, "_memory_budget_bytes", lambda: 1.5 * size)
    c = _conductor()
    pf.PlacementField(c, _coil(0.0), 5e7).at(points)
    assert pf.factorisation_of(a) is None and pf.factorisation_of(b) is None
    assert pf.factorisation_of(c) is not None
    del c
    gc.collect()
    assert pf.kept_factorisations() == 0            # nothing keeps a dead conductor alive


def test_a_model_built_with_keep_factorisation_serves_the_points_field(monkeypatch):
    """The E-field dock builds its models so: the neuron dock's field at compartments then starts with
    the source (no second assembly or factorisation), and agrees with a field that factorised its own
    float64 matrix within the float32 solve's bound (at most ``lc_bem.FLOAT32_SOLVE_TOLERANCE``)."""
    from napari_rat_tms.core.bem.solver import iter_build_solver
    from napari_rat_tms.core.progress import run_to_completion

    points = _points()
    conductor = _conductor()
    cortex = CENTRE_M + 0.7 * (_points(30) - CENTRE_M)     # >= 2.3 mm inside the inner sphere
    solver = run_to_completion(iter_build_solver(conductor, cortex, keep_factorisation=True))
    assert solver.precompute_info["factorisation_kept"] and "factorisation" not in solver.precompute_info
    fresh = pf.PlacementField(_conductor(), _coil(30.0), 5e7).at(points)       # float64, its own

    def refuse(stack):
        raise AssertionError("the BEM matrix was assembled again")
        yield  # pragma: no cover

    monkeypatch.setattr(lc_bem, "iter_potential_matrix", refuse)
    reused = pf.PlacementField(conductor, _coil(30.0), 5e7).at(points)
    bound = max(solver.precompute_info["solve_error_bound"], 1e-12)
    assert solver.precompute_info["solve_precision"] in ("float32", "float64")
    difference = np.linalg.norm(reused - fresh) / np.linalg.norm(fresh)
    assert difference < bound + 1e-9
