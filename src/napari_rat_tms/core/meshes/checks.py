"""Checks and geometric queries on triangle surfaces (SI: metres).

What a boundary-element model needs from each surface, and what this module verifies or computes:

* :func:`check_closed` - the surface is a closed 2-manifold, consistently wound, without degenerate
  or duplicate triangles or stray vertices; otherwise a :class:`~napari_rat_tms.core.errors.MeshError`
  says what is wrong, how often, where (in millimetres, the viewer's unit) and how to fix it.
* :func:`euler_characteristic`, :func:`connected_components`, :func:`genus` - topology.
* :func:`orient_outward` - flip the winding when the normals point inwards.
* :func:`find_self_intersections`, :func:`find_surface_intersections` - crossing triangles.
* :func:`winding_numbers`, :func:`points_inside` - generalized winding number (inside/outside).
* :func:`distance_to_surface` - exact unsigned point-to-surface distance.

The geometric queries run in numba (compiled once, cached on disk with ``cache=True``, parallel
over points or triangle pairs). Points, vertices and distances are in metres; messages give
positions in millimetres.

Acceleration structure
    A bounding-volume hierarchy (BVH): the triangles are sorted along a Morton (Z-order) curve of
    their centroids, cut into leaves of :data:`_LEAF_SIZE` consecutive triangles, and a complete
    binary tree of axis-aligned boxes is built over the leaves (heap layout; node ``k`` has the
    children ``2k+1`` and ``2k+2``, every node covers a contiguous range of sorted triangles). It is
    built once per surface object and kept while the surface lives.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
from numba import njit, prange
from scipy import sparse

from ..conventions import m_to_mm
from ..errors import MeshError
from .surface import TriangleSurface

__all__ = [
    "check_closed",
    "euler_characteristic",
    "connected_components",
    "face_components",
    "genus",
    "orient_outward",
    "find_self_intersections",
    "find_surface_intersections",
    "winding_numbers",
    "points_inside",
    "distance_to_surface",
]

#: Triangles per BVH leaf.
_LEAF_SIZE = 8
#: Orientation determinants below this fraction of the product of the edge lengths count as zero
#: (sine of the angle below which points count as coplanar or collinear; rounding gives ~1e-16).
_FLAT = 1e-12
#: Queries per parallel task (one traversal stack each).
_CHUNK = 64
#: A triangle is degenerate when its area is below this fraction of its longest edge squared, i.e.
#: when its height is below 2e-12 of its longest edge: zero up to double-precision rounding.
_DEGENERATE_RELATIVE_AREA = 1e-12


# =====================================================================================  topology
def _fmt_mm(point_m) -> str:
    p = m_to_mm(point_m)
    return f"({p[0]:.2f}, {p[1]:.2f}, {p[2]:.2f}) mm"


def _half_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Source and destination vertex of the half-edges; half-edge ``3 f + k`` runs from corner k of
    face f to corner k + 1."""
    src = faces.reshape(-1)
    dst = np.roll(faces, -1, axis=1).reshape(-1)
    return src, dst


def check_closed(surface: TriangleSurface) -> None:
    """Raise :class:`MeshError` unless ``surface`` is a closed, consistently wound 2-manifold.

    Checked, all vectorised with numpy (sorting and counting of integer edge keys):

    * at least 4 triangles (the smallest closed surface is a tetrahedron);
    * degenerate triangles: a vertex index repeated, or area <= 1e-12 x (longest edge)^2, i.e. the
      three vertices collinear or coincident up to rounding;
    * duplicate triangles: the same three vertices twice (in any order);
    * boundary ("open") edges, used by one triangle only: the surface has holes;
    * non-manifold edges, used by more than two triangles;
    * inconsistent winding: an edge traversed twice in the same direction by its two triangles, so
      that their normals point to opposite sides (checked on two-triangle edges);
    * non-manifold vertices, where two fans of triangles touch at a single vertex (checked when
      the edges are fine: the triangle corners around each vertex must form a single cycle);
    * vertices used by no triangle.

    Every problem found is listed in one message with its count, the position of one instance in
    millimetres and how to fix it. Geometry (self-intersections, orientation) is not checked here;
    see :func:`find_self_intersections` and :func:`orient_outward`.
    """
    name = surface.name
    vertices, faces = surface.vertices_m, surface.faces
    nv, nf = len(vertices), len(faces)
    if nf < 4:
        raise MeshError(
            f"Surface {name!r} has only {nf} triangle{'s' if nf != 1 else ''}: fewer than 4, so it cannot "
            "be closed (the smallest closed surface, a tetrahedron, has 4). Check that the whole surface "
            "was loaded or extracted."
        )
    problems: list[str] = []

    # --- degenerate triangles
    repeated = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 2] == faces[:, 0])
    tri = vertices[faces]
    edge_len2 = np.stack([((tri[:, (k + 1) % 3] - tri[:, k]) ** 2).sum(axis=1) for k in range(3)], axis=1)
    area = surface.face_areas_m2
    degenerate = repeated | (area <= _DEGENERATE_RELATIVE_AREA * edge_len2.max(axis=1))
    if degenerate.any():
        idx = np.flatnonzero(degenerate)
        problems.append(
            f"{len(idx)} degenerate (zero-area) triangle{'s' if len(idx) > 1 else ''} (collinear or repeated "
            f"vertices), e.g. triangle {idx[0]} at {_fmt_mm(tri[idx[0]].mean(axis=0))}: collapse or remove "
            "them (e.g. remove degenerate faces and merge close vertices, then re-check)"
        )

    # --- duplicate triangles
    sorted_faces = np.sort(faces, axis=1)
    if nv < 2**20:  # one int64 key per triangle (fast)
        fkey = (sorted_faces[:, 0] * np.int64(nv) + sorted_faces[:, 1]) * np.int64(nv) + sorted_faces[:, 2]
        forder = np.argsort(fkey, kind="stable")
        same = fkey[forder][1:] == fkey[forder][:-1]
    else:
        forder = np.lexsort(sorted_faces.T[::-1])
        same = np.all(sorted_faces[forder][1:] == sorted_faces[forder][:-1], axis=1)
    if same.any():
        extra = int(same.sum())
        idx = np.sort(forder[1:][same])
        problems.append(
            f"{extra} duplicate triangle{'s' if extra > 1 else ''} (the same three vertices more than once), "
            f"e.g. triangle {idx[0]} at {_fmt_mm(tri[idx[0]].mean(axis=0))}: keep one copy of each triangle"
        )

    # --- edges
    src, dst = _half_edges(faces)
    proper = src != dst  # a repeated index makes a zero-length "edge": reported as degenerate above
    src, dst = src[proper], dst[proper]
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    ukey = lo * np.int64(nv) + hi
    uniq, uinv, ucount = np.unique(ukey, return_inverse=True, return_counts=True)
    uinv = uinv.reshape(-1)

    def edge_where(key) -> str:
        a, b = divmod(int(key), nv)
        return f"between {_fmt_mm(vertices[a])} and {_fmt_mm(vertices[b])}"

    open_edges = uniq[ucount == 1]
    if len(open_edges):
        problems.append(
            f"{len(open_edges)} open (boundary) edge{'s' if len(open_edges) > 1 else ''} used by a single "
            f"triangle, e.g. {edge_where(open_edges[0])}: the surface has holes; fill them or extract a "
            "closed surface (e.g. pad the mask before marching cubes)"
        )
    nonmanifold = ucount > 2
    if nonmanifold.any():
        problems.append(
            f"{int(nonmanifold.sum())} non-manifold edge{'s' if nonmanifold.sum() > 1 else ''} used by more "
            f"than two triangles, e.g. {edge_where(uniq[np.argmax(nonmanifold)])} "
            f"({int(ucount[np.argmax(nonmanifold)])} triangles): separate the sheets that meet there "
            "(e.g. smooth or dilate the mask slightly and remesh)"
        )
    dkey = src * np.int64(nv) + dst
    dsorted = np.sort(dkey)
    repeated_dir = np.unique(dsorted[1:][dsorted[1:] == dsorted[:-1]])
    if len(repeated_dir):
        d_src, d_dst = np.divmod(repeated_dir, nv)
        rep_ukey = np.minimum(d_src, d_dst) * np.int64(nv) + np.maximum(d_src, d_dst)
        on_two = ucount[np.searchsorted(uniq, rep_ukey)] == 2
        if on_two.any():
            first = int(np.argmax(on_two))
            problems.append(
                f"inconsistent winding: {int(on_two.sum())} edge{'s' if on_two.sum() > 1 else ''} traversed "
                f"twice in the same direction (neighbouring triangles with opposite normals), e.g. "
                f"{edge_where(rep_ukey[first])}: make the triangle orientation consistent (e.g. "
                "trimesh.repair.fix_winding, or reverse the flipped triangles)"
            )

    # --- non-manifold vertices (only meaningful, and only cheap to check, when the edges are fine)
    if not problems:
        bad_vertices = _nonmanifold_vertices(faces, nv)
        if len(bad_vertices):
            problems.append(
                f"{len(bad_vertices)} non-manifold {'vertices' if len(bad_vertices) > 1 else 'vertex'} "
                "where two "
                f"fans of triangles touch at a single point, e.g. at {_fmt_mm(vertices[bad_vertices[0]])}: "
                "separate them (split the vertex, or smooth or dilate the mask slightly and remesh)"
            )

    # --- unused vertices
    unused = np.bincount(faces.reshape(-1), minlength=nv) == 0
    if unused.any():
        idx = np.flatnonzero(unused)
        problems.append(
            f"{len(idx)} unused {'vertices' if len(idx) > 1 else 'vertex'} (used by no triangle), "
            "e.g. vertex "
            f"{idx[0]} at {_fmt_mm(vertices[idx[0]])}: remove unreferenced vertices"
        )

    if problems:
        raise MeshError(
            f"Surface {name!r} ({nv} vertices, {nf} triangles) is not a closed, manifold, consistently wound "
            "surface, which a boundary-element model needs:\n- " + "\n- ".join(problems)
        )


def _nonmanifold_vertices(faces: np.ndarray, nv: int) -> np.ndarray:
    """Vertices whose triangle corners form more than one fan (edges assumed manifold and consistent).

    Corners ``3 f + k`` are linked across each edge to the corners of the same vertices in the
    neighbouring triangle; the components of that graph are the fans around each vertex.
    """
    nf = len(faces)
    src, dst = _half_edges(faces)
    key = src * np.int64(nv) + dst
    order = np.argsort(key)
    twin_key = dst * np.int64(nv) + src
    pos = np.searchsorted(key[order], twin_key)
    twin = order[np.clip(pos, 0, len(order) - 1)]
    h = np.arange(3 * nf)
    f, k = np.divmod(h, 3)
    g, m = np.divmod(twin, 3)
    # half-edge h = a->b in f, twin = b->a in g: corner(f, a) ~ corner(g, a), corner(f, b) ~ corner(g, b)
    rows = np.concatenate([3 * f + k, 3 * f + (k + 1) % 3])
    cols = np.concatenate([3 * g + (m + 1) % 3, 3 * g + m])
    graph = sparse.coo_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(3 * nf, 3 * nf))
    _, labels = sparse.csgraph.connected_components(graph, directed=False)
    vertex_of_corner = faces.reshape(-1)
    fans = np.unique(vertex_of_corner * np.int64(3 * nf) + labels) // (3 * nf)
    per_vertex = np.bincount(fans, minlength=nv)
    return np.flatnonzero(per_vertex > 1)


def euler_characteristic(surface: TriangleSurface) -> int:
    """Euler characteristic chi = V - E + F, counting only vertices used by a triangle.

    For a closed orientable surface with ``c`` connected components of total genus ``g``,
    chi = 2 c - 2 g (a sphere: 2, a torus: 0).
    """
    used = np.count_nonzero(np.bincount(surface.faces.reshape(-1), minlength=surface.n_vertices))
    return int(used - len(surface.edges) + surface.n_faces)


def face_components(surface: TriangleSurface) -> tuple[int, np.ndarray]:
    """The connected pieces of the surface (triangles connected through shared vertices):
    ``(count, label of each face)``, labels ``0 .. count - 1``."""
    nv = surface.n_vertices
    if surface.n_faces == 0:
        return 0, np.zeros(0, np.int64)
    src, dst = _half_edges(surface.faces)
    graph = sparse.coo_matrix((np.ones(len(src), dtype=np.int32), (src, dst)), shape=(nv, nv))
    _, labels = sparse.csgraph.connected_components(graph, directed=False)
    used, face_label = np.unique(labels[surface.faces[:, 0]], return_inverse=True)
    return int(len(used)), face_label.reshape(-1)


def connected_components(surface: TriangleSurface) -> int:
    """Number of connected pieces of the surface (:func:`face_components`)."""
    return face_components(surface)[0]


def genus(surface: TriangleSurface) -> int:
    """Total genus (number of handles/tunnels) of a closed surface, summed over its components.

    Each closed orientable component has chi_i = 2 - 2 g_i, so g = (2 c - chi) / 2 with ``c``
    components (:func:`connected_components`) and chi the :func:`euler_characteristic`. A sphere has
    genus 0, a torus 1; a spherical shell with ONE opening (a cup) is a topological sphere, genus 0;
    with two openings (a tube) genus 1. Raises :class:`MeshError` (via :func:`check_closed`) when the
    surface is not closed, since the formula then does not hold.
    """
    check_closed(surface)
    twice = 2 * connected_components(surface) - euler_characteristic(surface)
    return int(twice // 2)


def orient_outward(surface: TriangleSurface) -> tuple[TriangleSurface, bool]:
    """The surface with outward normals, and whether its triangles had to be flipped.

    For a closed, consistently wound surface the signed enclosed volume (divergence theorem,
    :attr:`TriangleSurface.enclosed_volume_m3`) is positive when the right-hand normals point
    outwards; when it is negative every triangle's winding is reversed. The whole surface is
    flipped at once (components are not oriented separately). Raises :class:`MeshError` if the
    surface is not closed (:func:`check_closed`) or encloses no volume.
    """
    check_closed(surface)
    volume = surface.enclosed_volume_m3
    scale = max(float(np.ptp(surface.vertices_m, axis=0).max()), 1e-300)
    if abs(volume) <= 1e-12 * scale**3:
        raise MeshError(
            f"Surface {surface.name!r} encloses no volume ({volume * 1e9:.3g} mm^3), so its outside "
            "cannot be told from its inside. Is it flat, or folded onto itself?"
        )
    if volume < 0:
        return surface.flipped(), True
    return surface, False


# =====================================================================================  numba kernels
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


@njit(cache=True, parallel=True)
def _overlapping_boxes(qlo, qhi, lo, hi, n_inner, face_start, face_end, flo, fhi, self_mode, offsets, out):
    """Candidate pairs: for each query box, the BVH triangles whose boxes overlap it (closed boxes).

    Returns the count per query; when ``offsets`` is given (length n + 1) also writes the pairs
    (query, sorted triangle position) to ``out[offsets[q]:]``. In ``self_mode`` the queries are the
    tree's own triangles in sorted order and only positions after the query's are reported, so each
    pair appears once. (Written out by hand, one traversal stack per chunk of queries: numba then
    runs it several times faster than with helper calls and a stack per query.)
    """
    n = len(qlo)
    fill = len(offsets) > 0
    counts = np.zeros(n, dtype=np.int64)
    n_chunks = (n + _CHUNK - 1) // _CHUNK
    for chunk in prange(n_chunks):
        stack = np.empty(128, dtype=np.int64)
        for q in range(chunk * _CHUNK, min(n, (chunk + 1) * _CHUNK)):
            x0, y0, z0 = qlo[q, 0], qlo[q, 1], qlo[q, 2]
            x1, y1, z1 = qhi[q, 0], qhi[q, 1], qhi[q, 2]
            first = q + 1 if self_mode else 0
            c = 0
            stack[0] = 0
            sp = 1
            while sp > 0:
                sp -= 1
                node = stack[sp]
                f1 = face_end[node]
                if (f1 <= face_start[node] or f1 <= first or x0 > hi[node, 0] or lo[node, 0] > x1
                        or y0 > hi[node, 1] or lo[node, 1] > y1 or z0 > hi[node, 2] or lo[node, 2] > z1):
                    continue
                if node >= n_inner:
                    for f in range(max(face_start[node], first), f1):
                        if (x0 <= fhi[f, 0] and flo[f, 0] <= x1 and y0 <= fhi[f, 1] and flo[f, 1] <= y1
                                and z0 <= fhi[f, 2] and flo[f, 2] <= z1):
                            if fill:
                                out[offsets[q] + c, 0] = q
                                out[offsets[q] + c, 1] = f
                            c += 1
                else:
                    stack[sp] = 2 * node + 1
                    stack[sp + 1] = 2 * node + 2
                    sp += 2
            counts[q] = c
    return counts


def _candidate_pairs(qlo, qhi, tree, self_mode: bool) -> np.ndarray:
    """(query index, sorted triangle position) of every pair of overlapping boxes, two passes."""
    args = (qlo, qhi, tree.lo, tree.hi, tree.n_inner, tree.face_start, tree.face_end, tree.face_lo,
            tree.face_hi, self_mode)
    counts = _overlapping_boxes(*args, np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=np.int64))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    out = np.empty((offsets[-1], 2), dtype=np.int64)
    _overlapping_boxes(*args, offsets, out)
    return out


@njit(cache=True)
def _solid_angle(px, py, pz, t, row):
    """Signed solid angle of triangle t[row] (9 coordinates) seen from p (Van Oosterom & Strackee 1983):
    tan(Omega/2) = a.(b x c) / (|a||b||c| + (a.b)|c| + (a.c)|b| + (b.c)|a|), a, b, c from p to the
    vertices. Positive when p lies behind the triangle (on the side opposite its normal)."""
    ax = t[row, 0] - px
    ay = t[row, 1] - py
    az = t[row, 2] - pz
    bx = t[row, 3] - px
    by = t[row, 4] - py
    bz = t[row, 5] - pz
    cx = t[row, 6] - px
    cy = t[row, 7] - py
    cz = t[row, 8] - pz
    la = math.sqrt(ax * ax + ay * ay + az * az)
    lb = math.sqrt(bx * bx + by * by + bz * bz)
    lc = math.sqrt(cx * cx + cy * cy + cz * cz)
    det = ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx)
    den = (la * lb * lc + (ax * bx + ay * by + az * bz) * lc + (ax * cx + ay * cy + az * cz) * lb
           + (bx * cx + by * cy + bz * cz) * la)
    return 2.0 * math.atan2(det, den)


@njit(cache=True, parallel=True)
def _winding_kernel(points, tri, lo, hi, n_inner, face_start, face_end, bnd_ptr, fans):
    """Generalized winding number of each point, hierarchically and exactly (Jacobson et al. 2013).

    A BVH node whose box does not contain the point contributes the solid angle of its patch of
    triangles, which equals that of any other surface with the same boundary inside the box: the
    fan from the box centre over the patch's boundary edges (``fans``, precomputed). Closed patches
    contribute 0; leaves and nodes whose fan is longer than their triangle list are summed directly.
    """
    n = len(points)
    out = np.empty(n)
    n_chunks = (n + _CHUNK - 1) // _CHUNK
    for chunk in prange(n_chunks):
        stack = np.empty(128, dtype=np.int64)
        for i in range(chunk * _CHUNK, min(n, (chunk + 1) * _CHUNK)):
            px, py, pz = points[i, 0], points[i, 1], points[i, 2]
            total = 0.0
            stack[0] = 0
            sp = 1
            while sp > 0:
                sp -= 1
                node = stack[sp]
                f0 = face_start[node]
                f1 = face_end[node]
                if f1 <= f0:
                    continue
                outside = (px < lo[node, 0] or px > hi[node, 0] or py < lo[node, 1] or py > hi[node, 1]
                           or pz < lo[node, 2] or pz > hi[node, 2])
                if node >= n_inner or (outside and bnd_ptr[node + 1] - bnd_ptr[node] >= f1 - f0):
                    for f in range(f0, f1):
                        total += _solid_angle(px, py, pz, tri, f)
                elif outside:
                    for e in range(bnd_ptr[node], bnd_ptr[node + 1]):
                        total += _solid_angle(px, py, pz, fans, e)
                else:
                    stack[sp] = 2 * node + 1
                    stack[sp + 1] = 2 * node + 2
                    sp += 2
            out[i] = total / (4.0 * math.pi)
    return out


@njit(cache=True)
def _point_triangle_dist2(px, py, pz, tri, row):
    """Squared distance from p to the closed triangle tri[row] (9 coordinates): closest point by Voronoi
    regions of vertices, edges and face (Ericson, Real-Time Collision Detection, 2005, 5.1.5; same
    result as Eberly's parametric minimisation)."""
    ax, ay, az = tri[row, 0], tri[row, 1], tri[row, 2]
    abx, aby, abz = tri[row, 3] - ax, tri[row, 4] - ay, tri[row, 5] - az
    acx, acy, acz = tri[row, 6] - ax, tri[row, 7] - ay, tri[row, 8] - az
    apx, apy, apz = px - ax, py - ay, pz - az
    d1 = abx * apx + aby * apy + abz * apz
    d2 = acx * apx + acy * apy + acz * apz
    if d1 <= 0.0 and d2 <= 0.0:
        return apx * apx + apy * apy + apz * apz  # vertex a
    bpx, bpy, bpz = px - tri[row, 3], py - tri[row, 4], pz - tri[row, 5]
    d3 = abx * bpx + aby * bpy + abz * bpz
    d4 = acx * bpx + acy * bpy + acz * bpz
    if d3 >= 0.0 and d4 <= d3:
        return bpx * bpx + bpy * bpy + bpz * bpz  # vertex b
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
        den = d1 - d3
        v = d1 / den if den > 0.0 else 0.0  # edge ab
        rx, ry, rz = apx - v * abx, apy - v * aby, apz - v * abz
        return rx * rx + ry * ry + rz * rz
    cpx, cpy, cpz = px - tri[row, 6], py - tri[row, 7], pz - tri[row, 8]
    d5 = abx * cpx + aby * cpy + abz * cpz
    d6 = acx * cpx + acy * cpy + acz * cpz
    if d6 >= 0.0 and d5 <= d6:
        return cpx * cpx + cpy * cpy + cpz * cpz  # vertex c
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
        den = d2 - d6
        w = d2 / den if den > 0.0 else 0.0  # edge ac
        rx, ry, rz = apx - w * acx, apy - w * acy, apz - w * acz
        return rx * rx + ry * ry + rz * rz
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:
        den = (d4 - d3) + (d5 - d6)
        w = (d4 - d3) / den if den > 0.0 else 0.0  # edge bc
        rx = bpx - w * (tri[row, 6] - tri[row, 3])
        ry = bpy - w * (tri[row, 7] - tri[row, 4])
        rz = bpz - w * (tri[row, 8] - tri[row, 5])
        return rx * rx + ry * ry + rz * rz
    den = va + vb + vc  # inside the face
    if den <= 0.0:
        return apx * apx + apy * apy + apz * apz
    v = vb / den
    w = vc / den
    rx = apx - abx * v - acx * w
    ry = apy - aby * v - acy * w
    rz = apz - abz * v - acz * w
    return rx * rx + ry * ry + rz * rz


@njit(cache=True, inline="always")
def _box_dist2(px, py, pz, lo, hi, node):
    dx = max(lo[node, 0] - px, 0.0, px - hi[node, 0])
    dy = max(lo[node, 1] - py, 0.0, py - hi[node, 1])
    dz = max(lo[node, 2] - pz, 0.0, pz - hi[node, 2])
    return dx * dx + dy * dy + dz * dz


@njit(cache=True, parallel=True)
def _distance_kernel(points, tri, lo, hi, n_inner, face_start, face_end):
    """Exact distance to the nearest triangle: depth-first branch and bound in the BVH, nearer child
    first, pruning boxes farther than the best distance found so far."""
    n = len(points)
    out = np.empty(n)
    n_chunks = (n + _CHUNK - 1) // _CHUNK
    for chunk in prange(n_chunks):
        stack = np.empty(128, dtype=np.int64)
        for i in range(chunk * _CHUNK, min(n, (chunk + 1) * _CHUNK)):
            px, py, pz = points[i, 0], points[i, 1], points[i, 2]
            best = np.inf
            stack[0] = 0
            sp = 1
            while sp > 0:
                sp -= 1
                node = stack[sp]
                if face_end[node] <= face_start[node] or _box_dist2(px, py, pz, lo, hi, node) >= best:
                    continue
                if node >= n_inner:
                    for f in range(face_start[node], face_end[node]):
                        d2 = _point_triangle_dist2(px, py, pz, tri, f)
                        if d2 < best:
                            best = d2
                else:
                    c1 = 2 * node + 1
                    c2 = c1 + 1
                    if _box_dist2(px, py, pz, lo, hi, c1) < _box_dist2(px, py, pz, lo, hi, c2):
                        c1, c2 = c2, c1
                    stack[sp] = c1  # farther child below, nearer child popped first
                    stack[sp + 1] = c2
                    sp += 2
            out[i] = math.sqrt(best)
    return out


# =====================================================================================  BVH
class _Bvh:
    """Complete binary tree of boxes over Morton-sorted triangles (see the module docstring)."""

    def __init__(self, surface: TriangleSurface, leaf_size: int = _LEAF_SIZE):
        vertices, faces = surface.vertices_m, surface.faces
        nf = len(faces)
        tri = vertices[faces]  # (F, 3, 3)
        centroids = tri.mean(axis=1)
        origin = centroids.min(axis=0)
        extent = float(np.ptp(centroids, axis=0).max()) if nf else 0.0
        cells = np.clip((centroids - origin) * (1023.0 / max(extent, 1e-300)), 0, 1023).astype(np.uint64)
        code = (_spread_bits(cells[:, 0]) << np.uint64(2)) | (_spread_bits(cells[:, 1]) << np.uint64(1)) \
            | _spread_bits(cells[:, 2])
        order = np.argsort(code, kind="stable")
        n_leaves = max(1, -(-nf // leaf_size))
        depth = int(math.ceil(math.log2(n_leaves))) if n_leaves > 1 else 0
        n_pad_leaves = 1 << depth
        n_nodes = 2 * n_pad_leaves - 1
        self.n_inner = n_pad_leaves - 1
        self.tri = np.ascontiguousarray(tri[order].reshape(nf, 9))

        # boxes, leaves first, then level by level up
        tmin = np.full((n_pad_leaves * leaf_size, 3), np.inf)
        tmax = np.full((n_pad_leaves * leaf_size, 3), -np.inf)
        tmin[:nf] = tri[order].min(axis=1)
        tmax[:nf] = tri[order].max(axis=1)
        lo = np.empty((n_nodes, 3))
        hi = np.empty((n_nodes, 3))
        level_lo = tmin.reshape(n_pad_leaves, leaf_size, 3).min(axis=1)
        level_hi = tmax.reshape(n_pad_leaves, leaf_size, 3).max(axis=1)
        face_start = np.empty(n_nodes, dtype=np.int64)
        face_end = np.empty(n_nodes, dtype=np.int64)
        for level in range(depth, -1, -1):
            first = (1 << level) - 1
            count = 1 << level
            lo[first:first + count] = level_lo
            hi[first:first + count] = level_hi
            span = leaf_size << (depth - level)
            starts = np.arange(count, dtype=np.int64) * span
            face_start[first:first + count] = np.minimum(starts, nf)
            face_end[first:first + count] = np.minimum(starts + span, nf)
            if level:
                level_lo = level_lo.reshape(-1, 2, 3).min(axis=1)
                level_hi = level_hi.reshape(-1, 2, 3).max(axis=1)
        self.lo, self.hi = lo, hi
        self.order = order
        self.face_lo = np.ascontiguousarray(tmin[:nf])
        self.face_hi = np.ascontiguousarray(tmax[:nf])
        self.face_start, self.face_end = face_start, face_end

        # boundary half-edges of the triangle patch of every inner node, for the winding numbers
        position = np.empty(nf, dtype=np.int64)
        position[order] = np.arange(nf)
        src, dst = _half_edges(faces)
        partner = _match_opposite_half_edges(src, dst, len(vertices))
        leaf_h = position[np.arange(3 * nf) // 3] // leaf_size
        matched = partner >= 0
        leaf_t = np.where(matched, position[np.maximum(partner, 0) // 3] // leaf_size, -1)
        nodes, edges = [], []
        for level in range(depth):
            shift = depth - level
            anc_h = leaf_h >> shift
            on_boundary = ~matched | (anc_h != (leaf_t >> shift))
            nodes.append((1 << level) - 1 + anc_h[on_boundary])
            edges.append(np.flatnonzero(on_boundary))
        if nodes:
            nodes_all = np.concatenate(nodes)
            edges_all = np.concatenate(edges)
        else:
            nodes_all = np.zeros(0, dtype=np.int64)
            edges_all = np.zeros(0, dtype=np.int64)
        by_node = np.argsort(nodes_all, kind="stable")
        nodes_all, edges_all = nodes_all[by_node], edges_all[by_node]
        per_node = np.bincount(nodes_all, minlength=n_nodes)
        self.bnd_ptr = np.concatenate([[0], np.cumsum(per_node)]).astype(np.int64)
        centre = 0.5 * (lo[nodes_all] + hi[nodes_all])
        self.fans = np.ascontiguousarray(
            np.concatenate([centre, vertices[src[edges_all]], vertices[dst[edges_all]]], axis=1)
        )


def _spread_bits(x: np.ndarray) -> np.ndarray:
    """Insert two zero bits between the 10 low bits of x (for 30-bit 3D Morton codes)."""
    x = x & np.uint64(0x3FF)
    x = (x | (x << np.uint64(16))) & np.uint64(0x030000FF)
    x = (x | (x << np.uint64(8))) & np.uint64(0x0300F00F)
    x = (x | (x << np.uint64(4))) & np.uint64(0x030C30C3)
    x = (x | (x << np.uint64(2))) & np.uint64(0x09249249)
    return x


def _match_opposite_half_edges(src: np.ndarray, dst: np.ndarray, nv: int) -> np.ndarray:
    """Pair each half-edge a->b with one b->a (one-to-one); -1 where none is left.

    On a closed manifold every half-edge has its twin; on other surfaces the unmatched ones are
    the net boundary (as a chain) of any patch containing them.
    """
    m = len(src)
    key = np.minimum(src, dst) * np.int64(nv) + np.maximum(src, dst)
    forward = src < dst
    order = np.lexsort((forward, key))  # within a key: the b->a (backward) ones first
    key_s, fwd_s = key[order], forward[order]
    starts = np.flatnonzero(np.concatenate([[True], key_s[1:] != key_s[:-1]]))
    group = np.cumsum(np.concatenate([[True], key_s[1:] != key_s[:-1]])) - 1
    size = np.diff(np.concatenate([starts, [m]]))
    n_back = np.bincount(group, weights=~fwd_s, minlength=len(starts)).astype(np.int64)
    n_fwd = size - n_back
    rank = np.arange(m) - starts[group]
    partner = np.full(m, -1, dtype=np.int64)
    back = (rank < n_back[group]) & (rank < n_fwd[group])
    i = np.flatnonzero(back)
    j = starts[group[i]] + n_back[group[i]] + rank[i]
    partner[order[i]] = order[j]
    partner[order[j]] = order[i]
    return partner


_BVH_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _bvh(surface: TriangleSurface) -> _Bvh:
    tree = _BVH_CACHE.get(surface)
    if tree is None:
        tree = _Bvh(surface)
        _BVH_CACHE[surface] = tree
    return tree


def _writable(array, dtype) -> np.ndarray:
    """C-contiguous and writable (numba compiles read-only arrays as a separate type: one cached
    compilation per kernel is enough)."""
    return np.require(array, dtype=dtype, requirements=["C", "W"])


def _as_points(points_m) -> np.ndarray:
    points = _writable(np.asarray(points_m, dtype=np.float64).reshape(-1, 3), np.float64)
    if not np.all(np.isfinite(points)):
        raise ValueError("points_m contain NaN or infinite values")
    return points


# =====================================================================================  queries
def _exact_pairs(vertices, faces, candidates) -> np.ndarray:
    """The candidate pairs whose triangles really meet, sorted, lower index first."""
    candidates = _writable(candidates, np.int64)
    hit = _test_pairs(_writable(vertices, np.float64), _writable(faces, np.int64), candidates)
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
    tree = _bvh(surface)
    candidates = tree.order[_candidate_pairs(tree.face_lo, tree.face_hi, tree, True)]
    pairs = _exact_pairs(surface.vertices_m, surface.faces, candidates)
    return pairs if max_pairs is None else pairs[: int(max_pairs)]


def find_surface_intersections(a: TriangleSurface, b: TriangleSurface) -> np.ndarray:
    """Pairs (face of ``a``, face of ``b``) that intersect or touch, as an (P, 2) int array.

    Same machinery as :func:`find_self_intersections`; the two surfaces share no vertices, so every
    pair gets the full triangle-triangle test.
    """
    if a.n_faces == 0 or b.n_faces == 0:
        return np.zeros((0, 2), dtype=np.int64)
    tree_a, tree_b = _bvh(a), _bvh(b)
    candidates = _candidate_pairs(tree_a.face_lo, tree_a.face_hi, tree_b, False)
    candidates = np.stack([tree_a.order[candidates[:, 0]], tree_b.order[candidates[:, 1]] + a.n_faces],
                          axis=1)
    vertices = np.concatenate([a.vertices_m, b.vertices_m])
    faces = np.concatenate([a.faces, b.faces + a.n_vertices])
    pairs = _exact_pairs(vertices, faces, candidates)  # lower index first = the face of a
    if len(pairs):
        pairs[:, 1] -= a.n_faces
    return pairs


def winding_numbers(surface: TriangleSurface, points_m) -> np.ndarray:
    """Generalized winding number of each point: sum of the signed solid angles of the triangles
    (Van Oosterom & Strackee 1983) over 4 pi.

    For a closed, outward-wound surface it is 1 inside, 0 outside (k inside k nested outward
    layers), and changes by 1 across the surface; on open or imperfect surfaces it varies smoothly,
    which is what makes it robust (Jacobson, Kavan & Sorkine-Hornung 2013). Evaluated
    hierarchically but exactly: a BVH node far from the point (its box does not contain it)
    contributes the solid angle of the fan over its patch's boundary, equal to that of the patch.
    """
    points = _as_points(points_m)
    if len(points) == 0 or surface.n_faces == 0:
        return np.zeros(len(points))
    t = _bvh(surface)
    return _winding_kernel(points, t.tri, t.lo, t.hi, t.n_inner, t.face_start, t.face_end, t.bnd_ptr, t.fans)


def points_inside(surface: TriangleSurface, points_m) -> np.ndarray:
    """Which points (metres, (N, 3)) lie inside the closed surface: winding number > 1/2.

    Robust to the triangulation (no ray casting, no parity); for points on the surface itself the
    answer is either. Works whatever the winding: an inward-wound surface gives -1 inside, so the
    absolute value is compared. See :func:`winding_numbers`.
    """
    return np.abs(winding_numbers(surface, points_m)) > 0.5


def distance_to_surface(surface: TriangleSurface, points_m) -> np.ndarray:
    """Exact unsigned distance (m) from each point (metres, (N, 3)) to the nearest triangle.

    Point-triangle distance by Voronoi regions (Ericson 2005; equivalent to Eberly's), with
    branch-and-bound pruning in the surface's BVH.
    """
    points = _as_points(points_m)
    if len(points) == 0:
        return np.zeros(0)
    if surface.n_faces == 0:
        return np.full(len(points), np.inf)
    t = _bvh(surface)
    return _distance_kernel(points, t.tri, t.lo, t.hi, t.n_inner, t.face_start, t.face_end)
