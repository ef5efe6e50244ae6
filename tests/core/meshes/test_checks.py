"""Mesh checks and geometric queries against exact, independently computed answers.

References used here, none of them sharing code with the module under test:
* topology: defects made on purpose, so their kind and count are known;
* triangle-triangle intersection: a linear programme (scipy's HiGHS) - two triangles meet iff some
  convex combination of the vertices of one equals one of the other;
* inside/outside and distance for a sphere: the exact bounds of the inscribed polyhedron (it lies
  between the balls of radius h = min face-plane distance and r), and brute-force numpy versions
  of the solid-angle sum and of the point-triangle distance (projection + edge segments).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.optimize import linprog

from napari_rat_tms.core.errors import MeshError
from napari_rat_tms.core.meshes import (
    TriangleSurface,
    check_closed,
    connected_components,
    distance_to_surface,
    euler_characteristic,
    find_self_intersections,
    find_surface_intersections,
    genus,
    icosphere,
    orient_outward,
    points_inside,
    winding_numbers,
)

R = 0.01


@pytest.fixture(scope="module")
def sphere():
    return icosphere(R, 2, name="ball")


def _h_min(surface, center=(0.0, 0.0, 0.0)):
    v0 = surface.vertices_m[surface.faces[:, 0]] - np.asarray(center)
    return float(np.min(np.einsum("ij,ij->i", surface.face_normals, v0)))


def _mm_points(message):
    found = re.findall(r"\((-?[\d.]+), (-?[\d.]+), (-?[\d.]+)\) mm", message)
    return np.array([[float(x) for x in m] for m in found])


def _concat(*surfaces, name="several"):
    vertices, faces, offset = [], [], 0
    for s in surfaces:
        vertices.append(s.vertices_m)
        faces.append(s.faces + offset)
        offset += s.n_vertices
    return TriangleSurface(np.concatenate(vertices), np.concatenate(faces), name)


# ------------------------------------------------------------------------------------ check_closed
def test_clean_sphere_passes(sphere):
    check_closed(sphere)
    check_closed(icosphere(R, 4))


def test_open_surface_names_the_hole_and_where(sphere):
    removed = 17
    s = TriangleSurface(sphere.vertices_m, np.delete(sphere.faces, removed, axis=0), "skull")
    with pytest.raises(MeshError, match=r"'skull'.*\n- 3 open \(boundary\) edges") as info:
        check_closed(s)
    where = _mm_points(str(info.value))
    hole_vertices_mm = sphere.vertices_m[sphere.faces[removed]] * 1000
    # the example edge runs between two vertices of the removed triangle (printed to 0.01 mm)
    assert len(where) == 2
    for p in where:
        assert np.min(np.abs(hole_vertices_mm - p).max(axis=1)) <= 0.005 + 1e-9
    assert "fill" in str(info.value)


def test_flipped_triangle_is_inconsistent_winding(sphere):
    faces = sphere.faces.copy()
    faces[5] = faces[5, ::-1]
    with pytest.raises(MeshError, match=r"inconsistent winding: 3 edges traversed twice in the same"):
        check_closed(TriangleSurface(sphere.vertices_m, faces))


def test_non_manifold_edge(sphere):
    # a closed tetrahedron glued to the sphere along one of its edges: that edge has 4 triangles
    a, b = sphere.faces[0, :2]
    out = sphere.vertices_m[[a, b]].mean(axis=0) * 1.3
    vertices = np.concatenate([sphere.vertices_m, [out, out * 1.1 + 0.001]])
    p, q = len(sphere.vertices_m), len(sphere.vertices_m) + 1
    tetra = np.array([[a, b, p], [b, a, q], [a, p, q], [b, q, p]])
    s = TriangleSurface(vertices, np.concatenate([sphere.faces, tetra]))
    with pytest.raises(MeshError, match=r"1 non-manifold edge used by more than two triangles") as info:
        check_closed(s)
    assert "(4 triangles)" in str(info.value)
    assert "open" not in str(info.value)


def test_non_manifold_vertex():
    """Two spheres touching at one shared vertex: every edge is fine, the vertex is not."""
    a = icosphere(R, 1)
    top = int(np.argmax(a.vertices_m[:, 2]))
    z_top = a.vertices_m[top, 2]
    b_vertices = a.vertices_m * [1, 1, -1] + [0, 0, 2 * z_top]  # mirrored in the plane z = z_top
    b_faces = a.faces[:, ::-1] + a.n_vertices
    b_faces[b_faces == top + a.n_vertices] = top
    vertices = np.concatenate([a.vertices_m, b_vertices])
    faces = np.concatenate([a.faces, b_faces])
    used = np.unique(faces)
    remap = np.full(len(vertices), -1)
    remap[used] = np.arange(len(used))
    s = TriangleSurface(vertices[used], remap[faces], "hourglass")
    with pytest.raises(MeshError, match=r"1 non-manifold vertex where two fans") as info:
        check_closed(s)
    assert np.allclose(_mm_points(str(info.value))[0], a.vertices_m[top] * 1000, atol=0.006)


def test_degenerate_triangles(sphere):
    # move vertex v onto its neighbour u: the two triangles on edge uv collapse to zero area
    u, v = sphere.faces[3, :2]
    vertices = sphere.vertices_m.copy()
    vertices[v] = vertices[u]
    with pytest.raises(MeshError, match=r"2 degenerate \(zero-area\) triangles"):
        check_closed(TriangleSurface(vertices, sphere.faces))
    # collinear but distinct vertices are degenerate too
    vertices = sphere.vertices_m.copy()
    vertices[v] = 0.5 * (vertices[u] + vertices[sphere.faces[3, 2]])
    with pytest.raises(MeshError, match=r"1 degenerate \(zero-area\) triangle"):
        check_closed(TriangleSurface(vertices, sphere.faces))


def test_duplicate_triangle(sphere):
    faces = np.concatenate([sphere.faces, sphere.faces[[7]][:, [1, 2, 0]]])
    with pytest.raises(MeshError, match=r"1 duplicate triangle \(the same three vertices"):
        check_closed(TriangleSurface(sphere.vertices_m, faces))


def test_unused_vertex(sphere):
    vertices = np.concatenate([sphere.vertices_m, [[0.02, 0.0, 0.0]]])
    expected = r"1 unused vertex \(used by no triangle\), e\.g\. vertex \d+ at \(20\.00, 0\.00, 0\.00\) mm"
    with pytest.raises(MeshError, match=expected):
        check_closed(TriangleSurface(vertices, sphere.faces))


def test_too_few_triangles():
    s = TriangleSurface(np.eye(3) * 0.01, [[0, 1, 2]], "scrap")
    with pytest.raises(MeshError, match="fewer than 4"):
        check_closed(s)


def test_several_problems_are_all_listed(sphere):
    faces = np.delete(sphere.faces, [0], axis=0)
    faces[10] = faces[10, ::-1]
    vertices = np.concatenate([sphere.vertices_m, [[0.02, 0.0, 0.0]]])
    with pytest.raises(MeshError) as info:
        check_closed(TriangleSurface(vertices, faces))
    text = str(info.value)
    assert "open (boundary)" in text and "inconsistent winding" in text and "unused vertex" in text


# ------------------------------------------------------------------------------------ topology
def test_topology_of_spheres_and_torus(sphere):
    assert euler_characteristic(sphere) == 2
    assert connected_components(sphere) == 1
    assert genus(sphere) == 0
    two = _concat(sphere, icosphere(R, 1, (0.05, 0, 0)))
    assert connected_components(two) == 2
    assert euler_characteristic(two) == 4
    assert genus(two) == 0

    import trimesh

    torus_mesh = trimesh.creation.torus(major_radius=0.01, minor_radius=0.003, major_sections=24,
                                        minor_sections=12)
    torus = TriangleSurface(torus_mesh.vertices, torus_mesh.faces, "torus")
    check_closed(torus)
    assert euler_characteristic(torus) == 0
    assert genus(torus) == 1
    assert genus(_concat(torus, torus.translated([0.05, 0, 0]), sphere)) == 2
    assert connected_components(_concat(torus, torus.translated([0.05, 0, 0]), sphere)) == 3


def test_genus_of_an_open_surface_is_refused(sphere):
    with pytest.raises(MeshError, match="open"):
        genus(TriangleSurface(sphere.vertices_m, sphere.faces[1:]))


def test_orient_outward(sphere):
    same, flipped = orient_outward(sphere)
    assert same is sphere and not flipped
    fixed, flipped = orient_outward(sphere.flipped())
    assert flipped
    assert np.array_equal(fixed.faces, sphere.faces)
    assert fixed.enclosed_volume_m3 > 0


# ------------------------------------------------------------------------------------ intersections
def _lp_meet(P, Q):
    """(meets, separation): LP over barycentric weights l (of P), m (of Q) minimising the L-inf
    gap t >= |sum l P - sum m Q|; the triangles meet iff t = 0."""
    c = np.zeros(7)
    c[6] = 1.0
    A_eq = np.zeros((2, 7))
    A_eq[0, :3] = 1
    A_eq[1, 3:6] = 1
    rows = []
    for k in range(3):
        diff = np.concatenate([P[:, k], -Q[:, k]])
        rows.append(np.concatenate([diff, [-1.0]]))
        rows.append(np.concatenate([-diff, [-1.0]]))
    res = linprog(c, A_ub=np.array(rows), b_ub=np.zeros(6), A_eq=A_eq, b_eq=[1, 1], bounds=[(0, None)] * 7,
                  method="highs")
    assert res.status == 0
    return res.fun


def _lp_beyond_shared_vertex(v, a, b, c, d):
    """Largest weight off the shared vertex v of a common point of (v, a, b) and (v, c, d)."""
    # variables la, lb, mc, md (weights of v follow): la a + lb b + (1-la-lb) v = mc c + md d + (1-mc-md) v
    A_eq = np.stack([a - v, b - v, -(c - v), -(d - v)], axis=1)
    res = linprog([-1, -1, 0, 0], A_eq=A_eq, b_eq=np.zeros(3), A_ub=[[1, 1, 0, 0], [0, 0, 1, 1]], b_ub=[1, 1],
                  bounds=[(0, None)] * 4, method="highs")
    assert res.status == 0
    return -res.fun


def _pairs_as_surface(pairs, spacing=10.0):
    """Many triangle pairs side by side (far apart) in one surface; pair k = faces 2k, 2k+1."""
    vertices, faces = [], []
    for k, (P, Q) in enumerate(pairs):
        shift = np.array([spacing * k, 0, 0])
        base = len(vertices) * 1
        vertices.extend(list(P + shift) + list(Q + shift))
        faces.extend([[base, base + 1, base + 2], [base + 3, base + 4, base + 5]])
    return TriangleSurface(np.array(vertices), np.array(faces))


def test_triangle_pairs_agree_with_linear_programming():
    rng = np.random.default_rng(7)
    pairs, expected = [], []
    while len(pairs) < 250:
        P = rng.uniform(0, 1, (3, 3))
        Q = rng.uniform(0, 1, (3, 3)) + rng.uniform(-0.3, 0.3, 3)
        gap = _lp_meet(P, Q)
        if 1e-10 < gap < 1e-6:
            continue  # too close to touching to call either way
        pairs.append((P, Q))
        expected.append(gap <= 1e-10)
    expected = np.array(expected)
    assert 30 < expected.sum() < len(expected) - 30  # both outcomes well represented
    found = find_self_intersections(_pairs_as_surface(pairs))
    assert np.all(found[:, 1] == found[:, 0] + 1) and np.all(found[:, 0] % 2 == 0)
    got = np.zeros(len(pairs), bool)
    got[found[:, 0] // 2] = True
    assert np.array_equal(got, expected)


def test_triangles_sharing_a_vertex_agree_with_linear_programming():
    rng = np.random.default_rng(11)
    vertices, faces, expected = [], [], []
    while len(expected) < 200:
        v, a, b, c, d = rng.uniform(-1, 1, (5, 3))
        beyond = _lp_beyond_shared_vertex(v, a, b, c, d)
        if 1e-10 < beyond < 1e-6:
            continue
        shift = np.array([10.0 * len(expected), 0, 0])
        base = len(vertices)
        vertices.extend([v + shift, a + shift, b + shift, c + shift, d + shift])
        faces.extend([[base, base + 1, base + 2], [base, base + 3, base + 4]])
        expected.append(beyond > 1e-10)
    expected = np.array(expected)
    assert 30 < expected.sum() < len(expected) - 30
    found = find_self_intersections(TriangleSurface(np.array(vertices), np.array(faces)))
    got = np.zeros(len(expected), bool)
    got[found[:, 0] // 2] = True
    assert np.array_equal(got, expected)


def test_special_configurations():
    tri = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    cases = {
        # coplanar, overlapping without any vertex inside the other
        "coplanar overlap": (tri, np.array([[0.2, 0.2, 0], [1.2, 0.2, 0], [0.2, -0.5, 0]]), True),
        # the triangle point-reflected through its centroid: edges cross, no vertex inside the other
        "star of David": (tri, 2 * tri.mean(axis=0) - tri, True),
        "coplanar contained": (tri, 0.5 * tri + [0.1, 0.1, 0], True),
        "coplanar apart": (tri, tri + [1.0, 1.0, 0], False),
        "vertex touching the face": (tri, np.array([[0.2, 0.2, 0], [0.2, 0.2, 1], [0.5, 0.1, 1]]), True),
        "parallel planes": (tri, tri + [0, 0, 1e-9], False),
        "piercing": (tri, np.array([[0.2, 0.2, -1], [0.3, 0.2, 1], [0.2, 0.3, 1]]), True),
    }
    surface = _pairs_as_surface([(P, Q) for P, Q, _ in cases.values()])
    found = set((find_self_intersections(surface)[:, 0] // 2).tolist())
    for k, (label, (_, _, meets)) in enumerate(cases.items()):
        assert (k in found) == meets, label
    # sharing an edge never counts, even folded flat onto each other
    folded = TriangleSurface(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.5, 0.8, 0]], float),
                             np.array([[0, 1, 2], [0, 1, 3]]))
    assert len(find_self_intersections(folded)) == 0
    # coplanar, sharing one vertex: wedges overlapping -> counts; side by side -> does not
    fan = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0.9, 0.2, 0], [0, 1, 0]], float)
    assert len(find_self_intersections(TriangleSurface(fan, [[0, 1, 2], [0, 3, 4]]))) == 1
    assert len(find_self_intersections(TriangleSurface(fan, [[0, 1, 3], [0, 2, 4]]))) == 0


def test_clean_spheres_have_no_self_intersections():
    assert find_self_intersections(icosphere(R, 2)).shape == (0, 2)
    assert len(find_self_intersections(icosphere(R, 5, (0.001, 0.002, 0.003)))) == 0


def test_dent_pushed_through_the_sphere_is_found():
    s = icosphere(R, 3)
    vertices = s.vertices_m.copy()
    direction = vertices[0] / R
    vertices[0] = -1.3 * vertices[0]
    dented = TriangleSurface(vertices, s.faces, "dented")
    pairs = find_self_intersections(dented)
    fan = np.flatnonzero(np.any(s.faces == 0, axis=1))
    in_fan = np.isin(pairs, fan)
    # Vertex 0 is a vertex of the icosahedron, and so is its antipode: the 5 spikes meet the
    # axis at -1.3 R, so they cross the far side on a small pentagon (radius ~0.13 edge) around
    # the antipodal vertex, through each of the 5 triangles around it, and nowhere else.
    antipode = int(np.argmin(s.vertices_m @ direction))
    far_fan = np.flatnonzero(np.any(s.faces == antipode, axis=1))
    assert len(fan) == 5 and len(far_fan) == 5
    assert np.all(in_fan.sum(axis=1) == 1)  # every pair: one spike, one far-side triangle
    assert set(pairs[in_fan].tolist()) == set(fan.tolist())  # every spike crosses the far side
    assert set(pairs[~in_fan].tolist()) == set(far_fan.tolist())
    assert len(find_self_intersections(dented, max_pairs=2)) == 2


def test_surface_intersections():
    a = icosphere(R, 3, name="a")
    b = icosphere(R, 3, (0.012, 0, 0), name="b")
    pairs = find_surface_intersections(a, b)
    assert len(pairs) > 20
    # the spheres cross on the circle x = 6 mm, radius 8 mm: all reported triangles touch it
    edge = max(a.mean_edge_length_m, b.mean_edge_length_m) * 1.2
    for s, col in ((a, 0), (b, 1)):
        c = s.face_centroids_m[pairs[:, col]]
        assert np.all(np.abs(c[:, 0] - 0.006) < edge)
        assert np.all(np.abs(np.hypot(c[:, 1], c[:, 2]) - 0.008) < edge)
    swapped = find_surface_intersections(b, a)[:, ::-1]
    assert np.array_equal(swapped[np.lexsort(swapped.T[::-1])], pairs)
    # nested, concentric or not, and apart: none
    assert len(find_surface_intersections(a, icosphere(0.0095, 4, name="inner"))) == 0
    assert len(find_surface_intersections(a, icosphere(0.004, 3, (0.005, 0, 0), name="eye"))) == 0
    assert len(find_surface_intersections(a, icosphere(R, 3, (0.0201, 0, 0)))) == 0


def test_surface_intersections_agree_with_brute_force():
    a = icosphere(R, 1, name="a")
    b = icosphere(0.007, 1, (0.009, 0.003, 0.001), name="b")
    ta, tb = a.vertices_m[a.faces], b.vertices_m[b.faces]
    overlap = np.all((ta.min(1)[:, None] <= tb.max(1)[None]) & (tb.min(1)[None] <= ta.max(1)[:, None]),
                     axis=2)
    expected = set()
    for i, j in zip(*np.nonzero(overlap)):
        gap = _lp_meet(ta[i] / R, tb[j] / R)
        assert not 1e-10 < gap < 1e-6
        if gap <= 1e-10:
            expected.add((int(i), int(j)))
    assert len(expected) > 10
    assert set(map(tuple, find_surface_intersections(a, b).tolist())) == expected


# ------------------------------------------------------------------------------------ inside
def _winding_brute_force(surface, points):
    t = surface.vertices_m[surface.faces][None] - points[:, None, None, :]  # (P, F, 3, 3)
    a, b, c = t[..., 0, :], t[..., 1, :], t[..., 2, :]
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    det = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
    den = la * lb * lc + np.einsum("pfi,pfi->pf", a, b) * lc + np.einsum("pfi,pfi->pf", a, c) * lb \
        + np.einsum("pfi,pfi->pf", b, c) * la
    return 2 * np.arctan2(det, den).sum(axis=1) / (4 * np.pi)


def test_winding_numbers_equal_the_direct_sum():
    center = np.array([0.001, 0, -0.002])
    s = icosphere(R, 3, center)
    rng = np.random.default_rng(3)
    points = np.concatenate([
        rng.uniform(-1.5 * R, 1.5 * R, (150, 3)),
        center + (s.vertices_m[:50] - center) * (1 + rng.uniform(-1e-3, 1e-3, (50, 1))),
    ])  # random, and right next to the surface
    w = winding_numbers(s, points)
    assert np.allclose(w, _winding_brute_force(s, points), atol=1e-9)
    assert np.allclose(w, np.round(w), atol=1e-9)  # closed surface, points off it: integers
    assert set(np.round(w).tolist()) == {0.0, 1.0}
    # on open surfaces the winding number is fractional; still the exact sum
    half = TriangleSurface(s.vertices_m, s.faces[s.face_centroids_m[:, 2] > -0.002])
    assert np.allclose(winding_numbers(half, points), _winding_brute_force(half, points), atol=1e-9)


def test_points_inside_sphere_exact():
    center = np.array([0.002, -0.001, 0.003])
    s = icosphere(R, 3, center)
    h = _h_min(s, center)
    rng = np.random.default_rng(5)
    p = center + rng.uniform(-1.4 * R, 1.4 * R, (4000, 3))
    rad = np.linalg.norm(p - center, axis=1)
    clear = (rad < h) | (rad > R)  # between h and R the polyhedron's answer depends on the facet
    inside = points_inside(s, p[clear])
    assert np.array_equal(inside, rad[clear] < h)
    assert 0.1 < inside.mean() < 0.9
    # inward-wound: winding number -1 inside, points_inside still right
    assert np.array_equal(points_inside(s.flipped(), p[clear]), rad[clear] < h)
    expected = -(rad[clear][:100] < h).astype(float)
    assert np.allclose(winding_numbers(s.flipped(), p[clear][:100]), expected, atol=1e-9)


def test_points_inside_just_off_the_surface():
    s = icosphere(R, 4)
    eps = 1e-6 * s.mean_edge_length_m
    for points, normals in ((s.vertices_m, s.vertex_normals), (s.face_centroids_m, s.face_normals)):
        assert np.all(points_inside(s, points - eps * normals))
        assert not np.any(points_inside(s, points + eps * normals))


def test_points_inside_hollow_ball():
    """Outer sphere outwards, inner sphere inwards, as ONE surface: inside = between them."""
    outer = icosphere(R, 3)
    inner = icosphere(0.5 * R, 3).flipped()
    hollow = _concat(outer, inner)
    rng = np.random.default_rng(9)
    p = rng.uniform(-R, R, (2000, 3))
    rad = np.linalg.norm(p, axis=1)
    h_out, h_in = _h_min(outer), 0.5 * _h_min(outer)
    clear = (rad < h_in) | ((rad > 0.5 * R) & (rad < h_out)) | (rad > R)
    assert np.array_equal(points_inside(hollow, p[clear]), ((rad > 0.5 * R) & (rad < h_out))[clear])


# ------------------------------------------------------------------------------------ distance
def _distance_brute_force(surface, points):
    """Projection onto the plane when it falls inside the triangle, else the nearest edge point."""
    t = surface.vertices_m[surface.faces]
    a, b, c = t[:, 0], t[:, 1], t[:, 2]
    n = np.cross(b - a, c - a)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    out = np.empty(len(points))
    for k, p in enumerate(points):
        h = np.einsum("ij,ij->i", p - a, n)
        foot = p - h[:, None] * n
        inside = np.ones(len(t), bool)
        for u, v in ((a, b), (b, c), (c, a)):
            inside &= np.einsum("ij,ij->i", np.cross(v - u, foot - u), n) >= 0
        best = np.where(inside, np.abs(h), np.inf)
        for u, v in ((a, b), (b, c), (c, a)):
            s = np.clip(np.einsum("ij,ij->i", p - u, v - u) / np.einsum("ij,ij->i", v - u, v - u), 0, 1)
            best = np.minimum(best, np.linalg.norm(p - (u + s[:, None] * (v - u)), axis=1))
        out[k] = best.min()
    return out


def test_distance_equals_brute_force():
    s = icosphere(R, 2, (0.001, 0.002, 0))
    rng = np.random.default_rng(1)
    points = np.concatenate([rng.uniform(-2 * R, 2 * R, (300, 3)), rng.normal(0, 10 * R, (20, 3))])
    reference = _distance_brute_force(s, points)
    assert np.allclose(distance_to_surface(s, points), reference, rtol=1e-12, atol=1e-15)


def test_distance_to_sphere_within_polyhedral_bounds():
    center = np.array([-0.001, 0.0, 0.002])
    s = icosphere(R, 4, center)
    h = _h_min(s, center)
    rng = np.random.default_rng(2)
    points = center + rng.uniform(-2 * R, 2 * R, (3000, 3))
    rad = np.linalg.norm(points - center, axis=1)
    d = distance_to_surface(s, points)
    lower = np.maximum.reduce([rad - R, h - rad, np.zeros_like(rad)])
    upper = np.maximum(R - rad, rad - h)
    assert np.all(d >= lower - 1e-15) and np.all(d <= upper + 1e-15)
    assert np.max(np.abs(d - np.abs(rad - R))) <= R - h  # the sag: 0.2 % of R here
    assert np.all(distance_to_surface(s, s.vertices_m) == 0.0)
    assert np.allclose(distance_to_surface(s, s.face_centroids_m), 0.0, atol=1e-17)
    assert distance_to_surface(s, center) == pytest.approx(h, rel=1e-12)
