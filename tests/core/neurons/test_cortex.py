"""Neurons placed in the cortex (cortex.py): frames, depths, the field in the cell frame.

Oracles: geometry (the rotation is proper and maps cell +z to the outward normal; an icosphere's
vertex normals are radial, so a soma ``d`` deep lies at radius ``R - d``), linear algebra (a uniform
head-frame field is ``R^T E`` in the cell frame; sampling through the placement equals sampling at
the transformed points by hand), and the physics of the frames: a straight axon placed in a head
has the same threshold as the axon alone in the rotated field, and fires at the end the field
points to (cable theory: a uniform field depolarises the terminal it points towards).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_rat_tms.core.bem.sphere_model import sphere_efield
from napari_rat_tms.core.coils import mc_b35
from napari_rat_tms.core.errors import ConductorModelError
from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.neurons.cortex import (LAYER_DEPTHS_MM, CorticalNeuronPlacement, cell_points_in_head,
                                                field_at_cell, layer_of_cell, normalise_layer, place_neurons,
                                                placement_rotation)
from napari_rat_tms.core.neurons.threshold import FieldOutsideDomainError

RADIUS_M = 6e-3


@pytest.fixture(scope="module")
def cortex():
    return icosphere(RADIUS_M, 2, name="cortex")


@pytest.fixture(scope="module")
def ball_and_stick():
    from napari_rat_tms.core.neurons.simple_cells import ball_and_stick_cell

    return ball_and_stick_cell()


@pytest.fixture(scope="module")
def coil():
    """MC-B35 (low resolution) 3 mm above the sphere's top, its z axis (into the head) along -z."""
    flip = np.diag([1.0, -1.0, -1.0])
    return mc_b35("low").transformed(flip, [0.0, 0.0, RADIUS_M + 3e-3])


def test_layer_depths_are_ordered_and_within_rat_cortex():
    depths = [LAYER_DEPTHS_MM[layer] for layer in ("L1", "L2/3", "L4", "L5", "L6")]
    assert np.all(np.diff(depths) > 0) and 0 < depths[0] and depths[-1] < 2.1
    assert LAYER_DEPTHS_MM["L5"] == pytest.approx(1.1195)  # (857 + 1382) / 2 um, Markram et al. 2015
    assert normalise_layer("L23") == normalise_layer("l2/3") == "L2/3" and normalise_layer(5) == "L5"
    assert layer_of_cell("L23_PC_cADpyr229_1") == "L2/3" and layer_of_cell("L5_TTPC2_cADpyr232_1") == "L5"
    with pytest.raises(ValueError, match="layer must be one of"):
        normalise_layer("L7")


@pytest.mark.parametrize("normal", [(0, 0, 1), (0, 0, -1), (1, 0, 0), (0.3, -0.5, 0.8), (0.99, 0.1, 0.0)])
def test_rotation_is_proper_and_maps_cell_z_to_the_outward_normal(normal):
    n = np.array(normal, float) / np.linalg.norm(normal)
    for azimuth in (0.0, 0.7, math.pi):
        r = placement_rotation(n, azimuth)
        assert np.allclose(r.T @ r, np.eye(3), atol=1e-12) and np.linalg.det(r) == pytest.approx(1.0)
        assert np.allclose(r @ [0, 0, 1], n, atol=1e-12)
    # the azimuth turns cell +x about the normal, right-handed
    r0, r1 = placement_rotation(n, 0.0), placement_rotation(n, 0.7)
    assert np.dot(r0[:, 0], r1[:, 0]) == pytest.approx(math.cos(0.7))
    assert np.dot(np.cross(r0[:, 0], r1[:, 0]), n) == pytest.approx(math.sin(0.7))


def test_reference_tangent_is_head_x_projected():
    r = placement_rotation([0.0, 0.0, 1.0], 0.0)
    assert np.allclose(r[:, 0], [1, 0, 0]) and np.allclose(r[:, 1], [0, 1, 0])
    # within 30 degrees of +x the head's +y is projected instead
    r = placement_rotation([1.0, 0.0, 0.0], 0.0)
    assert np.allclose(r[:, 0], [0, 1, 0]) and np.allclose(r[:, 2], [1, 0, 0])


def test_somas_at_the_layer_depth_along_the_inward_normal(cortex):
    vertices = [0, 5, 17, 100]
    placements = place_neurons(cortex, "L5", vertices=vertices, n_azimuths=3)
    assert len(placements) == 12 and [p.vertex for p in placements[:3]] == [0, 0, 0]
    assert [p.azimuth_rad for p in placements[:3]] == pytest.approx([0, 2 * math.pi / 3, 4 * math.pi / 3])
    depth_m = LAYER_DEPTHS_MM["L5"] * 1e-3
    for p in placements:
        vertex = cortex.vertices_m[p.vertex]
        assert np.linalg.norm(vertex - p.soma) == pytest.approx(depth_m, rel=1e-12)
        assert np.dot(vertex - p.soma, p.axis) == pytest.approx(depth_m, rel=1e-12)  # along -normal
        assert np.linalg.norm(p.soma) == pytest.approx(RADIUS_M - depth_m, rel=2e-3)  # radial normals
        assert np.allclose(p.rotation_matrix[:, 2], cortex.vertex_normals[p.vertex])
        assert p.layer == "L5" and p.depth_mm == LAYER_DEPTHS_MM["L5"]
        assert CorticalNeuronPlacement.from_dict(p.as_dict()) == p
    custom = place_neurons(cortex, "L2/3", vertices=[3, 4], depth_mm=[0.2, 0.5], azimuths_rad=[0.1, 0.2])
    assert [p.depth_mm for p in custom] == [0.2, 0.5] and [p.azimuth_rad for p in custom] == [0.1, 0.2]


def test_somas_outside_the_tissue_are_dropped_or_refused(cortex):
    small = icosphere(1e-3, 1, name="small")
    # 2.5 mm below the surface of a 1 mm sphere: through the centre and out on the other side
    with pytest.warns(UserWarning, match=r"2 of 3 L6 somas .* lie outside the tissue"):
        kept = place_neurons(small, "L6", vertices=[0, 1, 2], depth_mm=[2.5, 0.5, 2.5], inside=small)
    assert [p.vertex for p in kept] == [1]
    with pytest.raises(ValueError, match="outside the tissue, at vertices"):
        place_neurons(small, "L6", vertices=[0], depth_mm=2.5,
                      inside=lambda p: np.linalg.norm(p, axis=1) < 1e-3, on_outside="raise")
    with pytest.raises(ValueError, match="vertices must be indices"):
        place_neurons(cortex, "L5", vertices=[cortex.n_vertices])
    with pytest.raises(ValueError, match="not both"):
        place_neurons(cortex, "L5", vertices=[0], azimuths_rad=0.0, n_azimuths=2)
    with pytest.raises(ValueError, match=r"depth_mm must be a scalar or one value per chosen vertex \(2\)"):
        place_neurons(cortex, "L5", vertices=[0, 1], depth_mm=[1.0, 1.0, 1.0])


def test_cell_points_in_head_follow_the_placement(cortex, ball_and_stick):
    p = place_neurons(cortex, "L5", vertices=[7], azimuths_rad=1.0)[0]
    points = cell_points_in_head(ball_and_stick, p)
    local = ball_and_stick.segment_positions_um() * 1e-6
    kinds = ball_and_stick.segment_kinds()
    assert np.allclose(points[kinds == "soma"], p.soma, atol=1e-15)
    # the dendrite (cell +z) points out of the cortex, the axon (cell -z) into it
    along = (points - p.soma) @ p.axis
    assert np.allclose(along, local[:, 2], atol=1e-15)
    assert np.all(along[kinds == "apic"] > 0) and np.all(along[np.isin(kinds, ["node", "myelin"])] < 0)
    # distances are preserved (rigid motion)
    assert np.allclose(np.linalg.norm(points - p.soma, axis=1), np.linalg.norm(local, axis=1), atol=1e-15)


def test_uniform_field_in_the_cell_frame_is_r_transpose_e(cortex, ball_and_stick):
    e_head = np.array([120.0, -40.0, 75.0])
    for p in place_neurons(cortex, "L2/3", vertices=[2, 30, 77], azimuths_rad=[0.0, 1.3, -2.0]):
        e_cell = field_at_cell(ball_and_stick, p, lambda pts: np.tile(e_head, (len(pts), 1)))
        assert e_cell.shape == (ball_and_stick.n_segments, 3)
        assert np.allclose(e_cell, p.rotation_matrix.T @ e_head, atol=1e-12)
        assert np.allclose(np.linalg.norm(e_cell, axis=1), np.linalg.norm(e_head))


def test_sphere_field_through_the_placement_equals_sampling_by_hand(cortex, ball_and_stick, coil):
    didt = 1e6  # 1 A/us
    p = place_neurons(cortex, "L5", vertices=[11], azimuths_rad=0.4)[0]
    e_cell = field_at_cell(ball_and_stick, p, lambda pts: sphere_efield(pts, coil, didt))
    r = p.rotation_matrix
    by_hand = np.array([r.T @ sphere_efield((r @ x + p.soma)[None], coil, didt)[0]
                        for x in ball_and_stick.segment_positions_um() * 1e-6])
    assert np.allclose(e_cell, by_hand, rtol=1e-12, atol=1e-12 * np.abs(by_hand).max())
    assert np.abs(e_cell).max() > 0.1  # a real field (V/m at 1 A/us), not zeros


def test_points_outside_the_field_domain_name_the_neuron(cortex, ball_and_stick):
    # an L1 soma 0.08 mm deep: most of the 600 um dendrite sticks out of the head
    p = place_neurons(cortex, "L1", vertices=[4])[0]

    def nan_outside(points):
        e = np.tile([0.0, 0.0, 10.0], (len(points), 1))
        e[np.linalg.norm(points, axis=1) > RADIUS_M] = np.nan
        return e

    outside = int(np.sum(np.linalg.norm(cell_points_in_head(ball_and_stick, p), axis=1) > RADIUS_M))
    assert outside > 0
    with pytest.raises(FieldOutsideDomainError,
                       match=rf"ball_and_stick at vertex 4 \(L1, azimuth 0 deg\): {outside} of "
                             rf"{ball_and_stick.n_segments} compartments lie outside"):
        field_at_cell(ball_and_stick, p, nan_outside)

    def refuses_air(points):
        raise ConductorModelError("3 of 95 evaluation points lie outside the head model (in air)")

    with pytest.raises(FieldOutsideDomainError, match=r"my neuron: some of its 95 compartments .*in air"):
        field_at_cell(ball_and_stick, p, refuses_air, name="my neuron")


@pytest.fixture(scope="module")
def axon():
    from napari_rat_tms.core.neurons.simple_cells import straight_myelinated_axon

    return straight_myelinated_axon(2000.0, 2.0)


def test_axon_in_the_head_matches_the_axon_alone_and_fires_where_e_points(cortex, axon):
    from napari_rat_tms.core.neurons.threshold import activation_threshold
    from napari_rat_tms.core.neurons.waveforms import monophasic_pulse

    pulse = monophasic_pulse()
    # a vertex whose normal is oblique to every head axis, so that R mixes all components
    normals = cortex.vertex_normals
    vertex = int(np.argmax(np.min(np.abs(normals), axis=1)))
    p = place_neurons(cortex, "L5", vertices=[vertex], azimuths_rad=0.9)[0]
    n = np.array(p.axis)
    ends = {}
    for sign in (1.0, -1.0):
        e_head = sign * 150.0 * n  # uniform, parallel to the outward normal
        e_cell = field_at_cell(axon, p, lambda pts, e=e_head: np.tile(e, (len(pts), 1)))
        assert np.allclose(e_cell, [0.0, 0.0, sign * 150.0], atol=1e-9)
        in_head = activation_threshold(axon, e_cell, pulse)
        alone = activation_threshold(axon, p.rotation_matrix.T @ e_head, pulse)
        assert in_head.threshold_amplitude == pytest.approx(alone.threshold_amplitude, rel=1e-9)
        assert in_head.first_site_index == alone.first_site_index
        site_m = p.soma + p.rotation_matrix @ (np.array(in_head.first_site_position_um) * 1e-6)
        ends[sign] = site_m
        # the activated terminal is the one the field points to: ~1 mm along sign * n from the soma
        assert np.dot(site_m - p.soma, sign * n) == pytest.approx(999.5e-6, rel=1e-9)
    assert np.linalg.norm(ends[1.0] - ends[-1.0]) == pytest.approx(1999e-6, rel=1e-9)
