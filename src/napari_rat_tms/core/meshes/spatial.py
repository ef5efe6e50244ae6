"""Spatial queries on triangle surfaces (SI: metres): a bounding-volume hierarchy per surface, the
generalized winding number (inside/outside) and the exact point-to-surface distance.

* :func:`winding_numbers`, :func:`points_inside` - generalized winding number (inside/outside).
* :func:`distance_to_surface` - exact unsigned point-to-surface distance.
* :func:`surface_bvh`, :func:`candidate_pairs` - the hierarchy and the pairs of triangles whose boxes
  overlap (what :mod:`.intersections` tests exactly).

The queries run in numba (compiled once, cached on disk with ``cache=True``, parallel over points or
triangle pairs).

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

from .surface import TriangleSurface
from .topology import half_edges

__all__ = ["winding_numbers", "points_inside", "distance_to_surface", "surface_bvh", "candidate_pairs",
           "contiguous"]

#: Triangles per BVH leaf.
_LEAF_SIZE = 8
#: Queries per parallel task (one traversal stack each).
_CHUNK = 64


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


def candidate_pairs(qlo, qhi, tree, self_mode: bool) -> np.ndarray:
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
        src, dst = half_edges(faces)
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


def surface_bvh(surface: TriangleSurface) -> _Bvh:
    """The bounding-volume hierarchy of ``surface`` (module docstring), built once per surface object
    and kept while it lives."""
    tree = _BVH_CACHE.get(surface)
    if tree is None:
        tree = _Bvh(surface)
        _BVH_CACHE[surface] = tree
    return tree


def contiguous(array, dtype) -> np.ndarray:
    """C-contiguous and writable (numba compiles read-only arrays as a separate type: one cached
    compilation per kernel is enough)."""
    return np.require(array, dtype=dtype, requirements=["C", "W"])


def _as_points(points_m) -> np.ndarray:
    points = contiguous(np.asarray(points_m, dtype=np.float64).reshape(-1, 3), np.float64)
    if not np.all(np.isfinite(points)):
        raise ValueError("points_m contain NaN or infinite values")
    return points


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
    t = surface_bvh(surface)
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
    t = surface_bvh(surface)
    return _distance_kernel(points, t.tri, t.lo, t.hi, t.n_inner, t.face_start, t.face_end)
