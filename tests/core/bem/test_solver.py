"""Solver plumbing: disk cache (reuse, corrupt files, stale keys), evaluation-point checks, batches."""

import warnings

import numpy as np
import pytest

from napari_rat_tms.core.bem import lc_bem
from napari_rat_tms.core.bem.conductor import SIGMA_BODY, SIGMA_SKULL, nested_spheres
from napari_rat_tms.core.bem.solver import NearSurfaceWarning, build_solver, iter_build_solver
from napari_rat_tms.core.coils import CoilDipoles
from napari_rat_tms.core.errors import ConductorModelError

POINTS = np.array([[0.0, 0.0, 0.004], [0.003, -0.002, 0.0], [-0.004, 0.001, -0.003]])
COIL = CoilDipoles([[0.0, 0.0, 0.02], [0.004, 0.0, 0.02]], [[1e-4, 0, 0], [0, 5e-5, 5e-5]])


@pytest.fixture(scope="module")
def model():
    return nested_spheres([0.008, 0.009, 0.01], [SIGMA_BODY, SIGMA_SKULL, SIGMA_BODY], subdivisions=2)


def test_progress_is_reported_from_zero_to_one(model):
    gen = iter_build_solver(model, POINTS)
    fractions = []
    try:
        while True:
            fraction, message = next(gen)
            assert isinstance(message, str) and message
            fractions.append(fraction)
    except StopIteration as stop:
        solver = stop.value
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert solver.efield(COIL).shape == (3, 3)


def test_cache_is_reused_and_gives_identical_fields(model, tmp_path):
    first = build_solver(model, POINTS, cache_dir=tmp_path)
    assert not first.from_cache and first.precompute_seconds > 0
    assert len(list(tmp_path.glob("tms-bem-*.npz"))) == 1
    second = build_solver(model, POINTS, cache_dir=tmp_path)
    assert second.from_cache
    np.testing.assert_array_equal(second.transfer, first.transfer)
    # other points -> another key, another file
    build_solver(model, POINTS[:2], cache_dir=tmp_path)
    assert len(list(tmp_path.glob("tms-bem-*.npz"))) == 2


def _moved(model, delta_m):
    """``model`` with every vertex moved by ``delta_m`` along x (same topology)."""
    from napari_rat_tms.core.bem.conductor import Boundary, VolumeConductor
    from napari_rat_tms.core.meshes.surface import TriangleSurface

    boundaries = [Boundary(TriangleSurface(b.surface.vertices_m + [delta_m, 0, 0], b.surface.faces, b.name),
                           b.sigma_inside, b.sigma_outside) for b in model.boundaries]
    return VolumeConductor(boundaries, name=model.name)


def test_cache_survives_a_round_trip_through_millimetre_text_but_not_a_real_move(model, tmp_path):
    from napari_rat_tms.core.meshes.io import read_surface_file, write_surface

    first = build_solver(model, POINTS, cache_dir=tmp_path)
    # surfaces written in mm as text and read back (a reopened project) are not bit-identical
    written = []
    for b in model.boundaries:
        path = write_surface(b.surface, tmp_path / f"{b.name}.vtk")
        written.append(read_surface_file(path).surface)
    drift = max(np.abs(w.vertices_m - b.surface.vertices_m).max() for w, b in zip(written, model.boundaries))
    assert 0 < drift < 1e-12 or drift == 0
    from napari_rat_tms.core.bem.conductor import Boundary, VolumeConductor

    reread = VolumeConductor([Boundary(w, b.sigma_inside, b.sigma_outside)
                              for w, b in zip(written, model.boundaries)], name=model.name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = build_solver(reread, POINTS + 1e-13, cache_dir=tmp_path)
    assert again.from_cache
    np.testing.assert_array_equal(again.transfer, first.transfer)
    # a move of 1 µm (1000 x the tolerance) is another geometry: recomputed, with a warning
    with pytest.warns(UserWarning, match="surfaces differ"):
        moved = build_solver(_moved(model, 1e-6), POINTS, cache_dir=tmp_path)
    assert not moved.from_cache


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip"])
def test_corrupt_cache_is_recomputed_with_a_warning(model, tmp_path, damage):
    reference = build_solver(model, POINTS, cache_dir=tmp_path)
    (path,) = tmp_path.glob("tms-bem-*.npz")
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a cache")
    else:  # rewrite a valid file whose matrix no longer matches its checksum
        with np.load(path) as data:
            arrays = dict(data)
        arrays["transfer"] = arrays["transfer"] * 1.01
        np.savez(path, **arrays)
    with pytest.warns(UserWarning, match="Ignoring the BEM cache"):
        again = build_solver(model, POINTS, cache_dir=tmp_path)
    assert not again.from_cache
    np.testing.assert_allclose(again.efield(COIL), reference.efield(COIL), rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build_solver(model, POINTS, cache_dir=tmp_path).from_cache  # rewritten, valid again


def test_points_outside_the_head_are_refused(model):
    with pytest.raises(ConductorModelError, match="outside the head model"):
        build_solver(model, np.array([[0, 0, 0.0], [0, 0, 0.02]]))


def test_points_given_in_millimetres_are_refused_with_a_hint(model):
    with pytest.raises(ConductorModelError, match="metres"):
        build_solver(model, POINTS * 1000)


def test_points_near_a_surface_are_warned_about(model):
    near = np.array([[0.0, 0.0, 0.0079]])  # 0.1 mm under the 8 mm sphere (edges ~2 mm)
    with pytest.warns(NearSurfaceWarning, match="closer to surface"):
        build_solver(model, near)


def test_the_near_surface_policy_is_explicit(model):
    """``on_near_surface``: "warn" (default), "ignore" (no warning at all), "raise"; a typo is refused."""
    import warnings

    from napari_rat_tms.core.bem.solver import check_evaluation_points

    near = np.array([[0.0, 0.0, 0.0079], [0.0, 0.0, 0.0]])
    with pytest.warns(NearSurfaceWarning):
        check_evaluation_points(model, near)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sigma = check_evaluation_points(model, near, on_near_surface="ignore")
        check_evaluation_points(model, near[1:], on_near_surface="raise")      # nothing near: fine
    assert sigma.shape == (2,) and np.all(sigma > 0)
    with pytest.raises(ConductorModelError, match="closer to surface"):
        check_evaluation_points(model, near, on_near_surface="raise")
    with pytest.raises(ValueError, match="on_near_surface"):
        check_evaluation_points(model, near, on_near_surface="quiet")


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.array([[np.nan, 0, 0]])])
def test_empty_or_nan_points_are_refused(model, bad):
    with pytest.raises(ValueError):
        build_solver(model, bad)


def test_unknown_options_are_refused(model):
    with pytest.raises(ValueError, match="solve_precision"):
        build_solver(model, POINTS, solve_precision="half")
    with pytest.raises(ValueError, match="device"):
        build_solver(model, POINTS, device="tpu")


def test_efield_is_linear_in_didt_and_batches_match(model):
    solver = build_solver(model, POINTS, dtype=np.float64)
    np.testing.assert_allclose(solver.efield(COIL, 3.0), 3.0 * solver.efield(COIL, 1.0), rtol=1e-12)
    moved = COIL.transformed(np.eye(3), [0.0, 0.001, 0.0])
    batch = solver.efield_batch([COIL, moved], 2.0)
    np.testing.assert_allclose(batch[1], solver.efield(moved, 2.0), rtol=1e-12)
    assert solver.efield_batch([]).shape == (0, 3, 3)


def test_deflated_matrix_has_the_constant_as_its_only_null_direction(model):
    """Without deflation the constant potential solves the homogeneous system (section 4)."""
    stack = lc_bem.StackedSurfaces(model)
    matrix = lc_bem.potential_matrix(stack) - max(b.sigma_inside for b in model.boundaries) / stack.n_vertices
    residual = matrix @ np.ones(stack.n_vertices)
    assert np.abs(residual).max() < 1e-12 * np.abs(matrix).max()
