"""The reduced-order field against the full transfer it compresses (issue 22): within the bound it
states on placements drawn independently of those it was built from, the full path taken where a
placement is not like those, and the same answers one at a time and in batches."""

import numpy as np
import pytest

from napari_rat_tms.core.bem.conductor import SIGMA_BODY, SIGMA_SKULL, nested_spheres
from napari_rat_tms.core.bem.solver import build_solver
from napari_rat_tms.core.coils import mc_b35
from napari_rat_tms.core.fields.reduced import ReducedFieldSettings, build_reduced_field
from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.metrics import relative_error
from napari_rat_tms.core.placement import CoilPlacement, StereotaxicFrame
from napari_rat_tms.core.placement.region import ScalpRegion

DIDT = 50e6          # A/s, seed 003's 50 A/us


@pytest.fixture(scope="module")
def head():
    """Three shells (brain, skull, scalp: 8, 9, 10 mm), the field at the vertices of a 7 mm sphere,
    the coil on the scalp's top 8 x 8 mm."""
    conductor = nested_spheres([0.008, 0.009, 0.010], [SIGMA_BODY, SIGMA_SKULL, SIGMA_BODY], subdivisions=3)
    cortex = icosphere(0.007, 2, name="cortex")
    solver = build_solver(conductor, cortex.vertices_m)
    scalp = conductor.boundaries[-1].surface
    frame = StereotaxicFrame([0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1])
    region = ScalpRegion(scalp, frame, (0.0, 0.0), (8.0, 8.0))
    coil = mc_b35("low")

    def draw(n, seed):
        return region.random_placements(coil, n, np.random.default_rng(seed), gap_range_mm=(0.0, 2.0))

    training, validation = draw(300, 0), draw(100, 1)
    reduced = build_reduced_field(solver, [p.place(coil) for p in training], [p.place(coil) for p in validation],
                                  ReducedFieldSettings(tolerance=0.005))
    return solver, reduced, coil, draw, training, validation


def test_reduced_field_is_within_its_stated_bound_on_new_placements(head):
    solver, reduced, coil, draw, training, validation = head
    assert reduced.bound == 0.005 and reduced.info["validation_max_re"] <= 0.5 * reduced.bound
    assert reduced.rank < 100 and reduced.n_measure_points < 300     # it is a reduction
    test = draw(100, 2)
    # the three sets are distinct draws: no test placement repeats a training or validation one
    seen = {tuple(np.round(p.centre_mm, 9)) for p in training + validation}
    assert not any(tuple(np.round(p.centre_mm, 9)) in seen for p in test)
    coils = [p.place(coil) for p in test]
    fields, full, reasons = reduced.evaluate(coils, DIDT)
    assert not full.any(), [r for r in reasons if r]
    reference = solver.efield_batch(coils, DIDT)
    errors = np.array([relative_error(e, r) for e, r in zip(fields, reference)])
    assert errors.max() <= reduced.bound, errors.max()
    # one at a time: the same numbers as the batch (float32 products)
    for i in (0, 7, 42):
        np.testing.assert_allclose(reduced.efield(coils[i], DIDT), fields[i], rtol=1e-5,
                                   atol=1e-5 * np.abs(fields[i]).max())
    # linear in dI/dt
    np.testing.assert_allclose(reduced.efield(coils[0], 2 * DIDT), 2 * fields[0], rtol=1e-5,
                               atol=1e-5 * np.abs(fields[0]).max())


def test_placements_it_was_not_built_for_take_the_full_path(head):
    solver, reduced, coil, draw, *_ = head
    p = draw(1, 3)[0]
    far = CoilPlacement(p.centre_mm - 15.0 * p.axis, p.axis, p.current_direction, p.orientation_deg,
                        p.scalp_point_mm, 15.0, p.didt_a_per_us)               # 15 mm off the scalp
    side = CoilPlacement(np.array([11.0, 0.0, 0.0]), np.array([-1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]),
                         0.0, np.array([10.0, 0.0, 0.0]), 1.0, 50.0)           # the side of the head
    before = reduced.n_fallbacks
    coils = [far.place(coil), side.place(coil), p.place(coil)]
    fields, full, reasons = reduced.evaluate(coils, DIDT)
    assert full.tolist() == [True, True, False]
    assert "mm from the nearest placement" in reasons[0] and reasons[2] is None
    np.testing.assert_array_equal(fields[:2], solver.efield_batch(coils[:2], DIDT))
    np.testing.assert_array_equal(reduced.efield(coils[0], DIDT), solver.efield(coils[0], DIDT))
    assert reduced.n_fallbacks == before + 3


def test_a_coil_the_basis_does_not_fit_takes_the_full_path(head):
    """Inside the reach but not like the training coils (a single dipole, not the figure-of-eight,
    pointing along the axis): the residual at the measurement points says so."""
    from napari_rat_tms.core.coils import CoilDipoles

    solver, reduced, coil, draw, *_ = head
    p = draw(1, 4)[0]
    centre = p.place(coil).positions_m.mean(axis=0)
    odd = CoilDipoles(centre[None] + [[0.004, 0.0, 0.0]], (1e-3 * p.axis)[None] + [[1e-3, 0, 0]])
    fields, full, reasons = reduced.evaluate([odd], DIDT)
    assert full.tolist() == [True] and "does not fit" in reasons[0]
    np.testing.assert_array_equal(fields[0], solver.efield(odd, DIDT))


def test_settings_are_checked():
    with pytest.raises(ValueError, match="tolerance"):
        ReducedFieldSettings(tolerance=0.0)
    with pytest.raises(ValueError, match="oversampling"):
        ReducedFieldSettings(oversampling=0.5)


def test_a_saved_reduced_field_reads_back_the_same_and_only_for_its_model(head, tmp_path):
    from napari_rat_tms.core.fields.reduced import load_reduced_field, reduced_cache_key, save_reduced_field

    solver, reduced, coil, draw, *_ = head
    settings = ReducedFieldSettings()
    key = reduced_cache_key(solver, coil, (0.0, 0.0, 8.0, 8.0), settings, 300, 100, 0)
    path = tmp_path / "reduced.npz"
    save_reduced_field(path, reduced, key)
    back = load_reduced_field(path, solver, key)
    assert back is not None and back.info["from_cache"] and back.rank == reduced.rank and back.bound == reduced.bound
    coils = [p.place(coil) for p in draw(5, 5)]
    np.testing.assert_array_equal(back.efield_batch(coils, DIDT), reduced.efield_batch(coils, DIDT))
    # another key (another coil, region or settings), or no file: not this one
    other = reduced_cache_key(solver, mc_b35("high"), (0.0, 0.0, 8.0, 8.0), settings, 300, 100, 0)
    assert other != key and load_reduced_field(path, solver, other) is None
    assert load_reduced_field(tmp_path / "none.npz", solver, key) is None
    # a model whose surfaces moved (0.1 mm): refused
    moved = build_solver(nested_spheres([0.008, 0.009, 0.010], [SIGMA_BODY, SIGMA_SKULL, SIGMA_BODY], subdivisions=3,
                                        center_m=(0.0001, 0.0, 0.0)), solver.points_m)
    assert load_reduced_field(path, moved, key) is None
