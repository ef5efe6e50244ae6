"""TriangleSurface geometry against exact values for the sphere.

The icosphere is a convex polyhedron inscribed in its sphere (every vertex at radius r). Let h be
the smallest distance from the centre to a face plane. Then, exactly:

* the polyhedron lies between the balls of radius h and r, so 4/3 pi h^3 <= V <= 4/3 pi r^3;
* its area is at most that of the sphere (a convex body inside another has the smaller area), and
  at least 4 pi h^2: the solid angle of a face, seen from the centre, is at most area / h^2, and
  the solid angles add up to 4 pi;
* the normal of a face points to its circumcentre, so it makes the angle asin(rho / r) with the
  radius through any of its vertices (rho = circumradius); an area-weighted mean of the normals at
  a vertex is within the largest such angle of the radial direction.

These bounds are the "polyhedral sag" tolerance: h / r = 0.99 for 3 subdivisions, 0.998 for 4.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_rat_tms.core.meshes import TriangleSurface, icosphere


def _min_plane_distance(surface, center):
    v0 = surface.vertices_m[surface.faces[:, 0]] - center
    return float(np.min(np.einsum("ij,ij->i", surface.face_normals, v0)))


def _circumradii(surface):
    a, b, c = (surface.vertices_m[surface.faces[:, k]] for k in range(3))
    la, lb, lc = (np.linalg.norm(x, axis=1) for x in (b - c, c - a, a - b))
    return la * lb * lc / (4.0 * surface.face_areas_m2)


@pytest.mark.parametrize("subdivisions", [2, 3, 4])
def test_icosphere_area_and_volume_between_exact_bounds(subdivisions):
    r = 0.012
    center = np.array([0.003, -0.001, 0.002])
    s = icosphere(r, subdivisions, center)
    h = _min_plane_distance(s, center)
    assert 0.95 * r < h < r
    area = s.face_areas_m2.sum()
    assert 4 * np.pi * h**2 <= area <= 4 * np.pi * r**2
    assert 4 / 3 * np.pi * h**3 <= s.enclosed_volume_m3 <= 4 / 3 * np.pi * r**3
    # the vertex areas split the same total
    assert s.vertex_areas_m2.sum() == pytest.approx(area, rel=1e-12)
    assert np.all(s.vertex_areas_m2 > 0)


def test_icosphere_normals_point_outwards_and_vertex_normals_are_radial():
    r = 0.01
    center = np.array([0.001, 0.002, -0.003])
    s = icosphere(r, 3, center)
    radial_faces = s.face_centroids_m - center
    assert np.all(np.einsum("ij,ij->i", s.face_normals, radial_faces) > 0)
    assert np.allclose(np.linalg.norm(s.face_normals, axis=1), 1.0, atol=1e-14)

    radial = (s.vertices_m - center) / r
    n = s.vertex_normals
    assert np.allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-14)
    angle = np.arctan2(np.linalg.norm(np.cross(n, radial), axis=1), np.einsum("ij,ij->i", n, radial))
    bound = np.arcsin(_circumradii(s).max() / r)
    assert angle.max() <= bound + 1e-12
    # the 12 vertices of the icosahedron have 5-fold symmetry: their normals are exactly radial
    valence = np.bincount(s.faces.ravel(), minlength=s.n_vertices)
    assert np.count_nonzero(valence == 5) == 12
    assert angle[valence == 5].max() < 1e-12
    # the others are not, but nearly (well inside the bound)
    assert angle.max() > 1e-6


def test_flipping_negates_volume_and_normals_translation_keeps_them():
    s = icosphere(0.01, 2)
    f = s.flipped()
    assert f.enclosed_volume_m3 == pytest.approx(-s.enclosed_volume_m3, rel=1e-12)
    assert np.allclose(f.face_normals, -s.face_normals)
    t = s.translated([0.05, -0.02, 0.01])
    assert t.enclosed_volume_m3 == pytest.approx(s.enclosed_volume_m3, rel=1e-9)
    assert np.allclose(t.face_areas_m2, s.face_areas_m2)


def test_unit_cube_exact_values():
    """A cube of side 2 mm, exactly: area 24 mm^2, volume 8 mm^3, 18 edges, mean edge known."""
    v = np.array([[x, y, z] for x in (0, 2) for y in (0, 2) for z in (0, 2)], float)
    faces = np.array([
        [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
        [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],
    ])
    cube = TriangleSurface.from_mm(v, faces, "cube")
    assert cube.face_areas_m2.sum() == pytest.approx(24e-6, rel=1e-12)
    assert cube.enclosed_volume_m3 == pytest.approx(8e-9, rel=1e-12)
    assert len(cube.edges) == 18
    assert cube.mean_edge_length_m == pytest.approx((12 * 2e-3 + 6 * 2e-3 * np.sqrt(2)) / 18, rel=1e-12)


def test_corner_angles_of_known_triangles():
    """An equilateral triangle (60 deg each) and a right isosceles one (90, 45, 45), in order."""
    v = np.array([[0, 0, 0], [1, 0, 0], [0.5, np.sqrt(3) / 2, 0], [0, 1, 0]], float)
    surface = TriangleSurface(v, np.array([[0, 1, 2], [0, 1, 3]]), "two")
    np.testing.assert_allclose(surface.corner_angles_deg, [[60, 60, 60], [90, 45, 45]], atol=1e-9)
