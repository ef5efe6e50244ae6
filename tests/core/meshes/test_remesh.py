"""The isotropic remesher (Botsch & Kobbelt 2004) against what it must guarantee: the topology of its
input (closed 2-manifold, orientation, genus), edges near the target, well-shaped triangles, and every
vertex on the input surface (distances by the independent BVH of core.meshes.spatial)."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import marching_cubes

from napari_rat_tms.core.meshes.intersections import find_self_intersections
from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.meshes.remesh import RemeshError, remesh_isotropic
from napari_rat_tms.core.meshes.spatial import distance_to_surface
from napari_rat_tms.core.meshes.surface import TriangleSurface
from napari_rat_tms.core.meshes.topology import check_closed, connected_components, genus


def _isosurface(mask, h, sigma=1.0):
    """Marching cubes of the smoothed mask, in the frame of :func:`_grid` (centred on 0)."""
    v, f, _, _ = marching_cubes(ndimage.gaussian_filter(mask.astype(np.float32), sigma), 0.5,
                                spacing=(h, h, h))
    return v - (mask.shape[0] / 2 - 0.5) * h, f.astype(np.int64)


def _grid(n, h):
    return (np.indices((n, n, n)) - n / 2 + 0.5) * h


def _check(v, f, edge, reference):
    surface = TriangleSurface.from_mm(v, f, name="remeshed")
    check_closed(surface)  # closed, every edge in two triangles, consistently wound
    e = surface.edges
    length = np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1)
    # the edge lengths Botsch & Kobbelt aim at: [4/5, 4/3] x target after splits and collapses; the
    # last relaxation and projection move vertices a little, so the mean within 5 %, 95 % inside
    assert abs(length.mean() - edge) < 0.05 * edge
    assert np.mean((length >= 0.8 * edge) & (length <= 4 / 3 * edge)) > 0.95
    assert length.max() < 1.6 * edge
    angles = surface.corner_angles_deg
    assert angles.min() > 20 and np.percentile(angles, 1) > 40  # marching cubes: 1-5 deg
    # on the input surface: every vertex projected onto it (distance by an independent BVH)
    ref = TriangleSurface.from_mm(*reference, name="input")
    assert distance_to_surface(ref, surface.vertices_m).max() * 1e3 < 1e-6
    assert len(find_self_intersections(surface)) == 0
    return surface


@pytest.mark.parametrize("edge", [0.3, 0.8])
def test_ball_coarsened_to_the_target_keeps_shape_topology_and_orientation(edge):
    h = 0.1
    x = _grid(80, h)
    v, f = _isosurface(np.sqrt((x**2).sum(0)) < 3.0, h)
    given = v.copy(), f.copy()
    v2, f2 = remesh_isotropic(v, f, edge, 10)
    np.testing.assert_array_equal(v, given[0])  # the caller's arrays untouched
    np.testing.assert_array_equal(f, given[1])
    surface = _check(v2, f2, edge, (v, f))
    assert genus(surface) == 0 and connected_components(surface) == 1
    # the input's orientation kept (marching cubes of skimage winds a ball's triangles so that its
    # signed volume is negative here, whatever it is: the same sign after remeshing)
    input_volume = TriangleSurface.from_mm(v, f, name="input").enclosed_volume_m3
    assert np.sign(surface.enclosed_volume_m3) == np.sign(input_volume)
    assert abs(surface.enclosed_volume_m3 / input_volume - 1) < 0.02 * (edge / 0.3)


def test_torus_keeps_its_genus():
    h = 0.1
    x = _grid(80, h)
    ring = np.sqrt(x[0] ** 2 + x[1] ** 2) - 2.5
    v, f = _isosurface(np.sqrt(ring**2 + x[2] ** 2) < 1.0, h)
    v2, f2 = remesh_isotropic(v, f, 0.4, 10)
    surface = _check(v2, f2, 0.4, (v, f))
    assert genus(surface) == 1 and connected_components(surface) == 1


def test_coarse_polyhedron_refined_to_a_small_edge_stays_on_it():
    sphere = icosphere(1e-3, subdivisions=1, center_m=(0.0, 0.0, 0.0))  # 80 triangles, edges ~0.6 mm
    v, f = sphere.vertices_m * 1e3, sphere.faces.astype(np.int64)
    v2, f2 = remesh_isotropic(v, f, 0.15, 10)
    surface = _check(v2, f2, 0.15, (v, f))
    # the area tiled by equilateral triangles of the target edge (the edges average the target)
    expected = surface.face_areas_m2.sum() * 1e6 / (np.sqrt(3) / 4 * 0.15**2)
    assert 0.8 * expected < len(f2) < 1.25 * expected


def test_thin_shell_sides_stay_apart():
    """A hollow sphere 0.25 mm thick (2.5 voxels) remeshed with 0.5 mm edges: a vertex of one side
    projects onto its own side (the input triangles facing the same way), so the two sides do not
    cross; two components (inner and outer), each closed."""
    h = 0.1
    x = _grid(100, h)
    r = np.sqrt((x**2).sum(0))
    v, f = _isosurface((r < 4.0) & (r > 3.75), h, sigma=0.7)
    v2, f2 = remesh_isotropic(v, f, 0.5, 10)
    surface = TriangleSurface.from_mm(v2, f2, name="shell")
    check_closed(surface)
    assert connected_components(surface) == 2
    assert len(find_self_intersections(surface)) == 0
    radius = np.linalg.norm(v2, axis=1)
    assert radius.min() > 3.6 and radius.max() < 4.1


def test_bad_inputs_are_refused():
    sphere = icosphere(1.0, subdivisions=1)
    v, f = sphere.vertices_m, sphere.faces.astype(np.int64)
    with pytest.raises(RemeshError, match="not closed"):
        remesh_isotropic(v, f[1:], 0.3)
    flipped = f.copy()
    flipped[0] = flipped[0, ::-1]
    with pytest.raises(RemeshError, match="non-manifold or inconsistently oriented"):
        remesh_isotropic(v, flipped, 0.3)
    with pytest.raises(RemeshError, match="vertices that do not exist"):
        remesh_isotropic(v[:5], f, 0.3)
    with pytest.raises(ValueError, match="target_edge must be > 0"):
        remesh_isotropic(v, f, 0.0)


def test_a_vertex_with_too_many_triangles_is_refused():
    """A closed fan of 60 triangles around each pole (a bipyramid): more than the face lists hold."""
    n = 60
    ring = np.stack([np.cos(2 * np.pi * np.arange(n) / n), np.sin(2 * np.pi * np.arange(n) / n),
                     np.zeros(n)], 1)
    v = np.vstack([ring, [[0, 0, 1], [0, 0, -1]]])
    k = np.arange(n)
    f = np.concatenate([np.stack([k, (k + 1) % n, np.full(n, n)], 1),
                        np.stack([(k + 1) % n, k, np.full(n, n + 1)], 1)])
    with pytest.raises(RemeshError, match="more than 48 triangles"):
        remesh_isotropic(v, f, 0.3)
