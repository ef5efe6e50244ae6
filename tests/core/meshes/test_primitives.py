"""Test shapes: sizes, topology, orientation and volume against exact values.

Holed shell volume, exactly: every stitching quad (a, b, b', a') lies in a plane through the centre
(a' = k a, b' = k b with k = R1/R2), so its cones from the centre have no volume, and each inner
triangle is an outer one scaled by k and reversed. Hence V = (1 - k^3) * V_kept with V_kept the
volume of the cones over the kept outer triangles. Each such cone over solid angle w has volume
between h^3 w / 3 and R2^3 w / 3 (h: smallest face-plane distance); the kept solid angle is 4 pi
minus that of the opening, a cap of half-angle alpha = asin(hole / R2) up to the triangles cut
along its rim (within +-delta, the largest angular radius of a triangle; 3 delta on the far side
in case rim triangles were removed to keep the rim simple).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_rat_tms.core.meshes import (
    check_closed,
    connected_components,
    euler_characteristic,
    find_self_intersections,
    genus,
    holed_spherical_shell,
    icosphere,
    points_inside,
)


@pytest.mark.parametrize(("subdivisions", "n_vertices"), [(0, 12), (2, 162), (3, 642), (4, 2562)])
def test_icosphere_sizes_and_radius(subdivisions, n_vertices):
    center = np.array([0.01, -0.02, 0.005])
    s = icosphere(0.007, subdivisions, center, name="eye")
    assert s.n_vertices == n_vertices
    assert s.n_faces == 20 * 4**subdivisions
    assert s.name == "eye"
    assert np.allclose(np.linalg.norm(s.vertices_m - center, axis=1), 0.007, rtol=1e-14, atol=0)
    check_closed(s)
    assert genus(s) == 0
    assert s.enclosed_volume_m3 > 0


def test_icosphere_rejects_bad_arguments():
    with pytest.raises(ValueError, match="radius_m"):
        icosphere(0.0)
    with pytest.raises(ValueError, match="radius_m"):
        icosphere(-1e-3)
    with pytest.raises(ValueError, match="subdivisions"):
        icosphere(1e-3, 1.5)


def _angular_radius(unit_vertices, faces):
    c = unit_vertices[faces].mean(axis=1)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    cosines = np.einsum("fki,fi->fk", unit_vertices[faces], c)
    return float(np.arccos(np.clip(cosines.min(), -1, 1)))


CASES = [
    # inner, outer, hole (m), subdivisions, axis, through
    (0.0095, 0.0105, 0.0018, 3, (0, 0, 1), False),  # the conductor tests' skull
    (0.0095, 0.0105, 0.0018, 4, (0, 0, 1), False),
    (0.005, 0.010, 0.004, 3, (1, 1, 0), False),  # thick shell, oblique axis
    (0.005, 0.010, 0.004, 2, (1, 0, 0), True),
    (0.0095, 0.0105, 0.0018, 3, (0.3, -0.2, 1.0), True),
]


@pytest.mark.parametrize(("r1", "r2", "hole", "subdivisions", "axis", "through"), CASES)
def test_holed_shell_is_closed_clean_and_has_the_right_volume(r1, r2, hole, subdivisions, axis, through):
    center = np.array([0.001, 0.002, -0.001])
    s = holed_spherical_shell(r1, r2, hole, subdivisions, axis, center, name="skull", through=through)
    check_closed(s)
    assert s.name == "skull"
    assert connected_components(s) == 1
    # one opening: a cup, topologically a sphere (chi = 2); two openings: a tube (chi = 0)
    assert euler_characteristic(s) == (0 if through else 2)
    assert genus(s) == (1 if through else 0)
    assert len(find_self_intersections(s)) == 0

    sphere = icosphere(r2, subdivisions, center)
    unit = (sphere.vertices_m - center) / r2
    v0 = sphere.vertices_m[sphere.faces[:, 0]] - center
    h = float(np.min(np.einsum("ij,ij->i", sphere.face_normals, v0)))
    delta = _angular_radius(unit, sphere.faces)
    alpha = math.asin(hole / r2)
    n_holes = 2 if through else 1

    def cap(angle):
        return 2 * math.pi * (1 - math.cos(angle)) * n_holes

    k3 = (r1 / r2) ** 3
    v_max = (1 - k3) * r2**3 / 3 * (4 * math.pi - cap(alpha - delta))
    v_min = (1 - k3) * h**3 / 3 * (4 * math.pi - cap(alpha + 3 * delta))
    assert v_min <= s.enclosed_volume_m3 <= v_max
    # and the exact structure of that volume: band cones vanish, inner = -k^3 outer
    v = s.vertices_m[s.faces] - center
    cones = np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])) / 6
    radius = np.linalg.norm(v, axis=2)
    outer = np.all(np.isclose(radius, r2), axis=1)
    inner = np.all(np.isclose(radius, r1), axis=1)
    band = ~outer & ~inner
    assert band.any()
    assert np.allclose(cones[band], 0, atol=1e-12 * r2**3)
    assert cones[inner].sum() == pytest.approx(-k3 * cones[outer].sum(), rel=1e-12)


def test_holed_shell_has_its_opening_where_asked():
    r1, r2 = 0.008, 0.010
    axis = np.array([1.0, 2.0, 2.0]) / 3.0
    center = np.array([0.002, 0.0, 0.0])
    s = holed_spherical_shell(r1, r2, 0.004, 3, axis, center)
    mid = 0.5 * (r1 + r2)
    sideways = np.cross(axis, [0, 0, 1.0])
    sideways /= np.linalg.norm(sideways)
    probes = center + np.array([
        mid * axis,  # in the opening: outside the shell
        -mid * axis,  # in the wall opposite: inside
        mid * sideways,  # in the wall at the side: inside
        [0, 0, 0],  # the cavity: outside
        1.5 * r2 * axis,  # beyond: outside
    ])
    assert points_inside(s, probes).tolist() == [False, True, True, False, False]
    through = holed_spherical_shell(r1, r2, 0.004, 3, axis, center, through=True)
    assert points_inside(through, probes).tolist() == [False, False, True, False, False]


def test_holed_shell_rejects_bad_arguments():
    with pytest.raises(ValueError, match="inner_radius_m < outer_radius_m"):
        holed_spherical_shell(0.011, 0.010, 0.002)
    with pytest.raises(ValueError, match="hole_radius_m"):
        holed_spherical_shell(0.009, 0.010, 0.010)
    with pytest.raises(ValueError, match="smaller than the triangles"):
        holed_spherical_shell(0.009, 0.010, 1e-5, 2)
    with pytest.raises(ValueError, match="axis"):
        holed_spherical_shell(0.009, 0.010, 0.002, axis=(0, 0, 0))
