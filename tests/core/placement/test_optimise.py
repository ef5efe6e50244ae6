"""The placement optimiser (issue 22): on a sphere it finds the known optimum; on the synthetic rat,
through the reduced field, it beats every placement of seed 003's grid on its own objective."""

import warnings

import numpy as np
import pytest

from napari_rat_tms.core.bem.sphere_model import SphericalHeadModel
from napari_rat_tms.core.coils import mc_b35
from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.placement import StereotaxicFrame
from napari_rat_tms.core.placement.optimise import (OptimisationError, PlacementObjective, optimise_placement,
                                                    target_vertices)
from napari_rat_tms.core.placement.region import ScalpRegion


@pytest.fixture(scope="module")
def sphere():
    scalp = icosphere(0.010, 4, name="body")
    cortex = icosphere(0.008, 3, name="cortex")
    frame = StereotaxicFrame([0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1])
    return scalp, cortex, frame, SphericalHeadModel(np.zeros(3), cortex.vertices_m), mc_b35("low")


def test_on_a_sphere_the_coil_is_centred_over_the_target_along_the_wanted_current(sphere):
    """Known optimum of E . d at a point of a sphere: the coil's centre on the radius through the
    target, its current (under the centre) along d (the figure-of-eight's symmetry); issue 22 asks
    for 1 mm and 5 deg."""
    scalp, cortex, frame, model, coil = sphere
    theta, phi = np.radians(25.0), np.radians(40.0)
    u = np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)])
    target = target_vertices(cortex, 8.0 * u)
    radial = cortex.vertices_m[target[0]] / np.linalg.norm(cortex.vertices_m[target[0]])
    d = np.array([np.cos(np.radians(30.0)), np.sin(np.radians(30.0)), 0.0])
    d = d - (d @ radial) * radial
    d /= np.linalg.norm(d)
    region = ScalpRegion(scalp, frame, (0.0, 0.0), (12.0, 12.0))
    result = optimise_placement(model, region, cortex, coil,
                                PlacementObjective(tuple(target), "direction", tuple(d)))
    p = result.placement
    assert np.linalg.norm(p.scalp_point_mm - 10.0 * radial) <= 1.0
    wanted = d - (d @ p.axis) * p.axis
    angle = np.degrees(np.arccos(np.clip(p.current_direction @ wanted / np.linalg.norm(wanted), -1, 1)))
    assert angle <= 5.0, angle
    # the search improved on its own coarse stage, and on line navigation (at best equal)
    assert result.history[-1][1] >= result.history[0][1]
    assert result.score >= result.line_navigation[1]


def test_objectives_and_constraints_are_checked(sphere):
    scalp, cortex, frame, model, coil = sphere
    with pytest.raises(OptimisationError, match="unknown objective"):
        PlacementObjective((0,), "strength")
    with pytest.raises(OptimisationError, match="no cortical vertex"):
        PlacementObjective(())
    with pytest.raises(OptimisationError, match="direction"):
        PlacementObjective((0,), "direction")
    region = ScalpRegion(scalp, frame, (0.0, 0.0), (4.0, 4.0))
    everywhere = tuple(tuple(p) for p in np.array([[x, y, 10.0] for x in (-2, 0, 2) for y in (-2, 0, 2)]))
    with pytest.raises(OptimisationError, match="no placement in the region"):
        optimise_placement(model, region, cortex, coil,
                           PlacementObjective((0,), keep_out_mm=everywhere, keep_out_radius_mm=5.0))


def test_keep_out_points_are_respected(sphere):
    scalp, cortex, frame, model, coil = sphere
    target = target_vertices(cortex, [0.0, 0.0, 8.0])
    region = ScalpRegion(scalp, frame, (0.0, 0.0), (10.0, 10.0))
    keep_out = ((0.0, 0.0, 10.0),)
    result = optimise_placement(model, region, cortex, coil,
                                PlacementObjective(tuple(target), keep_out_mm=keep_out, keep_out_radius_mm=3.0),
                                coarse_step_mm=1.0)
    assert np.linalg.norm(result.placement.centre_mm - keep_out[0]) >= 3.0


def test_on_the_synthetic_rat_it_beats_the_seed_grid(rat_head):
    """The 1C model of the synthetic rat, reduced; a target on the dorsal cortex; the optimum beats the
    best of the seed's 630 grid placements on the objective (each scored by the same reduced field),
    and the full model confirms the optimum's score within the reduced field's bound."""
    from napari_rat_tms.core.fields import build_field_model
    from napari_rat_tms.core.fields.reduced import build_reduced_field
    from napari_rat_tms.core.placement import frame_from_landmarks, placement_grid

    rat, _, meshes = rat_head
    surfaces = meshes.surfaces
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_field_model(surfaces, "1C")
    lm = rat.landmarks_mm
    skull = surfaces["skull without spine"]
    frame = frame_from_landmarks(lm["bregma"], lm["lambda"], rat.stereotaxic_to_volume([0.0, 15.0, -3.0]),
                                 skull.vertices_m.mean(axis=0) * 1e3, skull=skull)
    coil = mc_b35("low")
    grid = placement_grid(surfaces["body"], frame)
    centre = grid.centre_ap_ml_mm
    region = ScalpRegion(surfaces["body"], frame, centre, (17.0, 12.0))
    training = region.random_placements(coil, 250, np.random.default_rng(0), (0.0, 1.0))
    validation = region.random_placements(coil, 40, np.random.default_rng(1), (0.0, 1.0))
    reduced = build_reduced_field(model.solver, [p.place(coil) for p in training], [p.place(coil) for p in validation])
    cortex = surfaces["cortex"]
    st = frame.to_stereotaxic(cortex.vertices_m * 1e3)
    near = np.flatnonzero(np.hypot(st[:, 0] - 2.0, st[:, 1] - (centre[0] - 1.0)) < 1.0)
    target = (int(near[np.argmax(st[near, 2])]),)
    result = optimise_placement(reduced, region, cortex, coil, PlacementObjective(target, "magnitude"),
                                reference=model.solver, grid=grid, coarse_step_mm=1.5)
    assert result.score > result.grid_best[1]
    assert abs(result.score_reference - result.score) <= reduced.bound * result.score
    assert result.evaluations > 630
