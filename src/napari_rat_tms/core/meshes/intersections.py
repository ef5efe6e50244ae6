"""Crossing triangles (SI: metres): within one surface (:func:`find_self_intersections`) and between
two (:func:`find_surface_intersections`), by exact orientation predicates on the candidate pairs
that the surfaces' bounding-volume hierarchies give (:mod:`.spatial`). Numba, parallel over pairs.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .spatial import candidate_pairs, contiguous, surface_bvh
from .surface import TriangleSurface

__all__ = ["find_self_intersections", "find_surface_intersections"]

#: Orientation determinants below this fraction of the product of the edge lengths count as zero
#: (sine of the angle below which points count as coplanar or collinear; rounding gives ~1e-16).
_FLAT = 1e-12


@njit(cache=True)
def _sub(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


@njit(cache=True)
def _det3(u, v, w):
    return (u[0] * (v[1] * w[2] - v[2] * w[1])
            - u[1] * (v[0] * w[2] - v[2] * w[0])
            + u[2] * (v[0] * w[1] - v[1] * w[0]))


@njit(cache=True)
def _orient3d(a, b, c, d):
    """Six times the signed volume of tetrahedron (a, b, c, d): > 0 when d lies on the side of the
    right-hand normal of triangle (a, b, c); exactly 0 when it is below :data:`_FLAT` times the
    product of the three edge lengths from a (coplanar up to rounding: floating-point signs of
    nearly coplanar configurations are noise, which would report false crossings)."""
    u = _sub(b, a)
    v = _sub(c, a)
    w = _sub(d, a)
    det = _det3(u, v, w)
    scale2 = (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]) * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) \
        * (w[0] * w[0] + w[1] * w[1] + w[2] * w[2])
    if det * det <= _FLAT * _FLAT * scale2:
        return 0.0
    return det


@njit(cache=True)
def _orient2d(a, b, c):
    """Twice the signed area of 2D triangle (a, b, c); 0 when collinear up to :data:`_FLAT`."""
    ux, uy = b[0] - a[0], b[1] - a[1]
    vx, vy = c[0] - a[0], c[1] - a[1]
    det = ux * vy - uy * vx
    if det * det <= _FLAT * _FLAT * (ux * ux + uy * uy) * (vx * vx + vy * vy):
        return 0.0
    return det


@njit(cache=True)
def _drop_axis(p, axis):
    if axis == 0:
        return (p[1], p[2])
    if axis == 1:
        return (p[0], p[2])
    return (p[0], p[1])


@njit(cache=True)
def _on_segment2d(p, q, r):
    """r (collinear with p, q) lies on the closed segment pq."""
    return (min(p[0], q[0]) <= r[0] <= max(p[0], q[0])) and (min(p[1], q[1]) <= r[1] <= max(p[1], q[1]))


@njit(cache=True)
def _segments_intersect2d(p, q, a, b):
    """Closed 2D segments pq and ab share a point (touching and collinear overlap included)."""
    d1 = _orient2d(p, q, a)
    d2 = _orient2d(p, q, b)
    d3 = _orient2d(a, b, p)
    d4 = _orient2d(a, b, q)
    if ((d1 > 0 and d2 < 0) or (d1 < 0 and d2 > 0)) and ((d3 > 0 and d4 < 0) or (d3 < 0 and d4 > 0)):
        return True
    if d1 == 0 and _on_segment2d(p, q, a):
        return True
    if d2 == 0 and _on_segment2d(p, q, b):
        return True
    if d3 == 0 and _on_segment2d(a, b, p):
        return True
    if d4 == 0 and _on_segment2d(a, b, q):
        return True
    return False


@njit(cache=True)
def _point_in_triangle2d(p, a, b, c):
    """p lies in the closed 2D triangle abc (either winding)."""
    o1 = _orient2d(a, b, p)
    o2 = _orient2d(b, c, p)
    o3 = _orient2d(c, a, p)
    return (o1 >= 0 and o2 >= 0 and o3 >= 0) or (o1 <= 0 and o2 <= 0 and o3 <= 0)


@njit(cache=True)
def _segment_hits_triangle(p, q, a, b, c):
    """The closed segment pq and the closed triangle abc share a point.

    Signs of orientation determinants: pq must reach both sides of the plane of abc (or touch
    it), and the line pq must pass the three edges on the same side (Pluecker-style test). When
    pq lies in the plane (both determinants exactly zero) the test is done in 2D, in the
    coordinate plane most parallel to the triangle.
    """
    sp = _orient3d(a, b, c, p)
    sq = _orient3d(a, b, c, q)
    if (sp > 0 and sq > 0) or (sp < 0 and sq < 0):
        return False
    if sp == 0 and sq == 0:
        n = (
            (b[1] - a[1]) * (c[2] - a[2]) - (b[2] - a[2]) * (c[1] - a[1]),
            (b[2] - a[2]) * (c[0] - a[0]) - (b[0] - a[0]) * (c[2] - a[2]),
            (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]),
        )
        axis = 0
        if abs(n[1]) > abs(n[axis]):
            axis = 1
        if abs(n[2]) > abs(n[axis]):
            axis = 2
        p2, q2 = _drop_axis(p, axis), _drop_axis(q, axis)
        a2, b2, c2 = _drop_axis(a, axis), _drop_axis(b, axis), _drop_axis(c, axis)
        if _point_in_triangle2d(p2, a2, b2, c2) or _point_in_triangle2d(q2, a2, b2, c2):
            return True
        return (_segments_intersect2d(p2, q2, a2, b2) or _segments_intersect2d(p2, q2, b2, c2)
                or _segments_intersect2d(p2, q2, c2, a2))
    s1 = _orient3d(p, q, a, b)
    s2 = _orient3d(p, q, b, c)
    s3 = _orient3d(p, q, c, a)
    return not ((s1 < 0 or s2 < 0 or s3 < 0) and (s1 > 0 or s2 > 0 or s3 > 0))


@njit(cache=True)
def _triangles_intersect(p0, p1, p2, q0, q1, q2):
    """Closed triangles P and Q share a point (no shared vertices assumed).

    First the plane-separation rejection of Moller (1997): all vertices of one triangle strictly on
    one side of the other's plane. Otherwise two triangles intersect iff an edge of one meets the
    other: the intersection of two triangles is convex and its extreme points lie on the boundary
    of one of them (holds in the coplanar case too, containment included). So six exact-sign
    segment-triangle tests decide.
    """
    d0 = _orient3d(p0, p1, p2, q0)
    d1 = _orient3d(p0, p1, p2, q1)
    d2 = _orient3d(p0, p1, p2, q2)
    if (d0 > 0 and d1 > 0 and d2 > 0) or (d0 < 0 and d1 < 0 and d2 < 0):
        return False
    e0 = _orient3d(q0, q1, q2, p0)
    e1 = _orient3d(q0, q1, q2, p1)
    e2 = _orient3d(q0, q1, q2, p2)
    if (e0 > 0 and e1 > 0 and e2 > 0) or (e0 < 0 and e1 < 0 and e2 < 0):
        return False
    return (_segment_hits_triangle(p0, p1, q0, q1, q2) or _segment_hits_triangle(p1, p2, q0, q1, q2)
            or _segment_hits_triangle(p2, p0, q0, q1, q2) or _segment_hits_triangle(q0, q1, p0, p1, p2)
            or _segment_hits_triangle(q1, q2, p0, p1, p2) or _segment_hits_triangle(q2, q0, p0, p1, p2))


@njit(cache=True)
def _vertex(vertices, i):
    return (vertices[i, 0], vertices[i, 1], vertices[i, 2])


@njit(cache=True, parallel=True)
def _test_pairs(vertices, faces, pairs):
    """For each candidate pair of faces: do they intersect beyond what they share?

    * two or three shared vertices (neighbours across an edge, duplicates): never counted;
    * one shared vertex v, P = (v, a, b), Q = (v, c, d): P and Q meet beyond v iff segment ab meets
      Q or segment cd meets P (their intersection is a convex set containing v; along any direction
      from v in it, each triangle extends to its edge opposite v, and the shorter one's end lies in
      the other triangle);
    * none shared: full triangle-triangle test.
    Coordinates are taken relative to a vertex of the pair so that the determinants do not lose
    precision to a far origin.
    """
    n = len(pairs)
    hit = np.zeros(n, dtype=np.bool_)
    for k in prange(n):
        i = pairs[k, 0]
        j = pairs[k, 1]
        shared = 0
        si = -1
        sj = -1
        for u in range(3):
            for w in range(3):
                if faces[i, u] == faces[j, w]:
                    shared += 1
                    si = u
                    sj = w
        if shared >= 2:
            continue
        origin = _vertex(vertices, faces[i, 0])
        if shared == 1:
            v = _sub(_vertex(vertices, faces[i, si]), origin)
            a = _sub(_vertex(vertices, faces[i, (si + 1) % 3]), origin)
            b = _sub(_vertex(vertices, faces[i, (si + 2) % 3]), origin)
            c = _sub(_vertex(vertices, faces[j, (sj + 1) % 3]), origin)
            d = _sub(_vertex(vertices, faces[j, (sj + 2) % 3]), origin)
            hit[k] = _segment_hits_triangle(a, b, v, c, d) or _segment_hits_triangle(c, d, v, a, b)
        else:
            p0 = _sub(_vertex(vertices, faces[i, 0]), origin)
            p1 = _sub(_vertex(vertices, faces[i, 1]), origin)
            p2 = _sub(_vertex(vertices, faces[i, 2]), origin)
            q0 = _sub(_vertex(vertices, faces[j, 0]), origin)
            q1 = _sub(_vertex(vertices, faces[j, 1]), origin)
            q2 = _sub(_vertex(vertices, faces[j, 2]), origin)
            hit[k] = _triangles_intersect(p0, p1, p2, q0, q1, q2)
    return hit


def _exact_pairs(vertices, faces, candidates) -> np.ndarray:
    """The candidate pairs whose triangles really meet, sorted, lower index first."""
    candidates = contiguous(candidates, np.int64)
    hit = _test_pairs(contiguous(vertices, np.float64), contiguous(faces, np.int64), candidates)
    pairs = np.sort(candidates[hit], axis=1)
    if len(pairs):
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    return pairs


def find_self_intersections(surface: TriangleSurface, max_pairs: int | None = None) -> np.ndarray:
    """Pairs of triangles of ``surface`` that cross each other, as an (P, 2) int array (i < j).

    Candidates are the pairs whose axis-aligned bounding boxes overlap, found by querying each
    triangle's box in the surface's BVH (parallel numba). Each candidate is then tested with signs
    of orientation determinants (parallel numba): the plane-separation rejection of Moller (1997),
    then segment-triangle tests, in 2D for coplanar configurations. Determinants below 1e-12 times
    the product of the edge lengths count as zero (coplanar up to rounding; without that, the
    rounding noise of exactly coplanar triangles, common on icospheres and marching-cubes meshes,
    reports false crossings). Triangles that share an edge never count; triangles that share one
    vertex count only if they also meet elsewhere. Touching counts as intersecting. Pairs are
    sorted; with ``max_pairs`` only the first ``max_pairs`` are returned.
    """
    if surface.n_faces < 2:
        return np.zeros((0, 2), dtype=np.int64)
    tree = surface_bvh(surface)
    candidates = tree.order[candidate_pairs(tree.face_lo, tree.face_hi, tree, True)]
    pairs = _exact_pairs(surface.vertices_m, surface.faces, candidates)
    return pairs if max_pairs is None else pairs[: int(max_pairs)]


def find_surface_intersections(a: TriangleSurface, b: TriangleSurface) -> np.ndarray:
    """Pairs (face of ``a``, face of ``b``) that intersect or touch, as an (P, 2) int array.

    Same machinery as :func:`find_self_intersections`; the two surfaces share no vertices, so every
    pair gets the full triangle-triangle test.
    """
    if a.n_faces == 0 or b.n_faces == 0:
        return np.zeros((0, 2), dtype=np.int64)
    tree_a, tree_b = surface_bvh(a), surface_bvh(b)
    candidates = candidate_pairs(tree_a.face_lo, tree_a.face_hi, tree_b, False)
    candidates = np.stack([tree_a.order[candidates[:, 0]], tree_b.order[candidates[:, 1]] + a.n_faces],
                          axis=1)
    vertices = np.concatenate([a.vertices_m, b.vertices_m])
    faces = np.concatenate([a.faces, b.faces + a.n_vertices])
    pairs = _exact_pairs(vertices, faces, candidates)  # lower index first = the face of a
    if len(pairs):
        pairs[:, 1] -= a.n_faces
    return pairs


