"""Triangle integrals of the linear-collocation BEM (numba kernels).

Every kernel works on flat triangles with linear ("hat") basis functions ``psi_k`` (1 at vertex k
of a triangle, 0 at the other two) and a field point ``r``:

Double layer (solid angle) weights
    ``D_k(r) = int_T psi_k(r') n'.(r' - r) / |r' - r|^3 dS'``, with the closed form of
    de Munck (1992, IEEE TBME 39:986, eqs. 5-7), the same formula as MNE-Python's
    ``_lin_pot_coeff``. The three weights add up to the triangle's solid angle seen from r
    (van Oosterom & Strackee 1983, IEEE TBME 30:125), positive when r is on the side opposite to
    the normal.

Single layer
    ``S_k(r) = int_T psi_k(r') / |r' - r| dS'``. When r is a vertex of T the 1/R singularity is
    removed by the Duffy (1982) transform (SIAM J Numer Anal 19:1260), which makes the integrand
    smooth, integrated with Gauss-Legendre. Otherwise the 7-point degree-5 rule of Dunavant
    (1985, Int J Numer Meth Eng 21:1129) on the triangle or on 4^L congruent sub-triangles, with L
    chosen so that each sub-triangle is at least ``NEAR_RATIO`` of its size away from r.

Field gradients at points off the surfaces (for E = -grad phi)
    ``grad_r S_k = int psi_k (r' - r)/R^3 dS'`` and
    ``grad_r D_k = int psi_k [-n'/R^3 + 3 (n'.(r'-r)) (r'-r)/R^5] dS'``, same quadrature.

Lengths in metres; the kernels are unit-agnostic (they only see coordinates).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "DUNAVANT7_BARY",
    "DUNAVANT7_WEIGHTS",
    "NEAR_RATIO",
    "linear_solid_angles",
    "single_layer_linear",
    "double_layer_rows",
    "single_layer_face_rows",
    "field_gradient_rows",
]

# Dunavant (1985) degree-5 rule: barycentric coordinates and weights (sum 1; times the area).
_A1, _B1 = 0.059715871789770, 0.470142064105115
_A2, _B2 = 0.797426985353087, 0.101286507323456
DUNAVANT7_BARY = np.array(
    [
        [1 / 3, 1 / 3, 1 / 3],
        [_A1, _B1, _B1], [_B1, _A1, _B1], [_B1, _B1, _A1],
        [_A2, _B2, _B2], [_B2, _A2, _B2], [_B2, _B2, _A2],
    ]
)
DUNAVANT7_WEIGHTS = np.array([0.225] + [0.132394152788506] * 3 + [0.125939180544827] * 3)

# Gauss-Legendre nodes/weights on [0, 1] for the Duffy-transformed self integrals.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)
GL16_NODES = 0.5 * (_GL_X + 1.0)
GL16_WEIGHTS = 0.5 * _GL_W

#: A sub-triangle is integrated with the 7-point rule only when the field point is at least this
#: many times its longest edge away from its centroid.
NEAR_RATIO = 3.0
#: Deepest subdivision (4^5 = 1,024 sub-triangles) for points very close to a triangle.
MAX_LEVEL = 5


@numba.njit(cache=True, inline="always")
def _cross(ax, ay, az, bx, by, bz):
    return ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx


@numba.njit(cache=True, inline="always")
def _edge_beta(px, py, pz, pl, qx, qy, qz, ql):
    ex, ey, ez = qx - px, qy - py, qz - pz
    size = np.sqrt(ex * ex + ey * ey + ez * ez)
    num = pl + (px * ex + py * ey + pz * ez) / size
    den = ql + (qx * ex + qy * ey + qz * ez) / size
    return np.log(num / den) / size


@numba.njit(cache=True, inline="always")
def _corner_weight(ax, ay, az, bx, by, bz, nx, ny, nz, wx, wy, wz, area2, n2, omega, triple):
    """Weight of the corner opposite the edge (a, b) (a, b = the other two corners minus r)."""
    zx, zy, zz = _cross(ax, ay, az, bx, by, bz)
    zdots = zx * nx + zy * ny + zz * nz
    return n2 * (area2 * zdots * omega - triple * ((bx - ax) * wx + (by - ay) * wy + (bz - az) * wz))


@numba.njit(cache=True)
def linear_solid_angles(rx, ry, rz, a, b, c, nx, ny, nz, area, out):
    """de Munck's linear double-layer weights of triangle (a, b, c) at r, written to ``out[0:3]``.

    Returns the triangle's solid angle (their sum). Zero when r lies in the triangle's plane.
    """
    v1x, v1y, v1z = a[0] - rx, a[1] - ry, a[2] - rz
    v2x, v2y, v2z = b[0] - rx, b[1] - ry, b[2] - rz
    v3x, v3y, v3z = c[0] - rx, c[1] - ry, c[2] - rz
    cx, cy, cz = _cross(v2x, v2y, v2z, v3x, v3y, v3z)
    triple = v1x * cx + v1y * cy + v1z * cz
    l1 = np.sqrt(v1x * v1x + v1y * v1y + v1z * v1z)
    l2 = np.sqrt(v2x * v2x + v2y * v2y + v2z * v2z)
    l3 = np.sqrt(v3x * v3x + v3y * v3y + v3z * v3z)
    ss = (l1 * l2 * l3 + (v1x * v2x + v1y * v2y + v1z * v2z) * l3
          + (v1x * v3x + v1y * v3y + v1z * v3z) * l2 + (v2x * v3x + v2y * v3y + v2z * v3z) * l1)
    omega = 2.0 * np.arctan2(triple, ss)
    scale = max(l1, l2, l3)
    if abs(triple) <= 1e-12 * scale * scale * scale:
        out[0] = 0.0
        out[1] = 0.0
        out[2] = 0.0
        return 0.0
    # beta_k = -(1/|e_k|) int_{edge k} 1/|r'-r| dl, edge k from vertex k to k+1
    beta0 = _edge_beta(v1x, v1y, v1z, l1, v2x, v2y, v2z, l2)
    beta1 = _edge_beta(v2x, v2y, v2z, l2, v3x, v3y, v3z, l3)
    beta2 = _edge_beta(v3x, v3y, v3z, l3, v1x, v1y, v1z, l1)
    wx = (beta2 - beta0) * v1x + (beta0 - beta1) * v2x + (beta1 - beta2) * v3x
    wy = (beta2 - beta0) * v1y + (beta0 - beta1) * v2y + (beta1 - beta2) * v3y
    wz = (beta2 - beta0) * v1z + (beta0 - beta1) * v2z + (beta1 - beta2) * v3z
    area2 = 2.0 * area
    n2 = 1.0 / (area2 * area2)
    out[0] = _corner_weight(v2x, v2y, v2z, v3x, v3y, v3z, nx, ny, nz, wx, wy, wz, area2, n2, omega, triple)
    out[1] = _corner_weight(v3x, v3y, v3z, v1x, v1y, v1z, nx, ny, nz, wx, wy, wz, area2, n2, omega, triple)
    out[2] = _corner_weight(v1x, v1y, v1z, v2x, v2y, v2z, nx, ny, nz, wx, wy, wz, area2, n2, omega, triple)
    return omega


@numba.njit(cache=True)
def _duffy_single_layer(a, b, c, area, out):
    """``int_T psi_k / |r' - a| dS'`` for r at vertex a of T: Duffy transform, exact in u.

    r' = a + u (b - a) + u v (c - b); dS = 2 A u du dv; |r' - a| = u |(b - a) + v (c - b)|;
    psi_a = 1 - u, psi_b = u (1 - v), psi_c = u v, whose u-integrals are 1/2, (1 - v)/2, v/2.
    """
    out[0] = 0.0
    out[1] = 0.0
    out[2] = 0.0
    for q in range(GL16_NODES.shape[0]):
        v = GL16_NODES[q]
        lx = b[0] - a[0] + v * (c[0] - b[0])
        ly = b[1] - a[1] + v * (c[1] - b[1])
        lz = b[2] - a[2] + v * (c[2] - b[2])
        inv = GL16_WEIGHTS[q] * area / np.sqrt(lx * lx + ly * ly + lz * lz)  # 2A * 1/2 * w / L
        out[0] += inv
        out[1] += inv * (1.0 - v)
        out[2] += inv * v


@numba.njit(cache=True, inline="always")
def _level(rx, ry, rz, a, b, c):
    """Subdivision level so that every sub-triangle is NEAR_RATIO of its size away from r."""
    gx = (a[0] + b[0] + c[0]) / 3.0 - rx
    gy = (a[1] + b[1] + c[1]) / 3.0 - ry
    gz = (a[2] + b[2] + c[2]) / 3.0 - rz
    d = np.sqrt(gx * gx + gy * gy + gz * gz)
    h = 0.0
    for p, q in ((a, b), (b, c), (c, a)):
        e = np.sqrt((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 + (p[2] - q[2]) ** 2)
        h = max(h, e)
    level = 0
    # the distance to a sub-triangle is at least d - h (the sub-triangle lies within h of the centroid)
    while level < MAX_LEVEL and (d - h) < NEAR_RATIO * h / (2.0 ** level):
        level += 1
    return level


def _quadrature_points(level, bary_out, weight_out):
    """Barycentric points and weights (fractions of the area) of the 7-point rule on 4^level sub-triangles."""
    n = 2 ** level
    inv_n = 1.0 / n
    sub_w = 1.0 / (n * n)
    count = 0
    for i in range(n):
        for j in range(n - i):
            # upward sub-triangle with corners (i, j), (i+1, j), (i, j+1) in (u, v) = weights of b and c
            for q in range(7):
                s1 = DUNAVANT7_BARY[q, 1]
                s2 = DUNAVANT7_BARY[q, 2]
                u = (i + s1) * inv_n
                v = (j + s2) * inv_n
                bary_out[count, 0] = 1.0 - u - v
                bary_out[count, 1] = u
                bary_out[count, 2] = v
                weight_out[count] = DUNAVANT7_WEIGHTS[q] * sub_w
                count += 1
            if i + j <= n - 2:
                # downward sub-triangle with corners (i+1, j+1), (i, j+1), (i+1, j)
                for q in range(7):
                    s1 = DUNAVANT7_BARY[q, 1]
                    s2 = DUNAVANT7_BARY[q, 2]
                    u = (i + 1 - s1) * inv_n
                    v = (j + 1 - s2) * inv_n
                    bary_out[count, 0] = 1.0 - u - v
                    bary_out[count, 1] = u
                    bary_out[count, 2] = v
                    weight_out[count] = DUNAVANT7_WEIGHTS[q] * sub_w
                    count += 1
    return count


def _make_rule_table():
    """Precomputed quadrature points for every level (numba-friendly flat arrays)."""
    sizes = [7 * 4 ** lv for lv in range(MAX_LEVEL + 1)]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    bary = np.empty((starts[-1], 3))
    weights = np.empty(starts[-1])
    for lv in range(MAX_LEVEL + 1):
        count = _quadrature_points(lv, bary[starts[lv]:starts[lv + 1]], weights[starts[lv]:starts[lv + 1]])
        assert count == sizes[lv]
    return starts, bary, weights


_RULE_STARTS, _RULE_BARY, _RULE_WEIGHTS = _make_rule_table()


@numba.njit(cache=True)
def _single_layer_quad(rx, ry, rz, a, b, c, area, starts, bary, weights, out):
    level = _level(rx, ry, rz, a, b, c)
    out[0] = 0.0
    out[1] = 0.0
    out[2] = 0.0
    for q in range(starts[level], starts[level + 1]):
        b0, b1, b2 = bary[q, 0], bary[q, 1], bary[q, 2]
        dx = b0 * a[0] + b1 * b[0] + b2 * c[0] - rx
        dy = b0 * a[1] + b1 * b[1] + b2 * c[1] - ry
        dz = b0 * a[2] + b1 * b[2] + b2 * c[2] - rz
        wr = weights[q] * area / np.sqrt(dx * dx + dy * dy + dz * dz)
        out[0] += b0 * wr
        out[1] += b1 * wr
        out[2] += b2 * wr


def single_layer_linear(point, triangle, vertex_index=-1):
    """``S_k = int_T psi_k / |r' - r| dS'`` (k = 0, 1, 2) for one point and one (3, 3) triangle.

    ``vertex_index`` says which corner the point is (Duffy transform), or -1 when it is none.
    Python entry point for tests; the assembly uses the same numba code.
    """
    tri = np.asarray(triangle, dtype=float)
    r = np.asarray(point, dtype=float)
    area = 0.5 * np.linalg.norm(np.cross(tri[1] - tri[0], tri[2] - tri[0]))
    out = np.empty(3)
    if vertex_index >= 0:
        order = [(vertex_index + k) % 3 for k in range(3)]
        tmp = np.empty(3)
        _duffy_single_layer(tri[order[0]], tri[order[1]], tri[order[2]], area, tmp)
        out[order] = tmp
    else:
        _single_layer_quad(r[0], r[1], r[2], tri[0], tri[1], tri[2], area,
                           _RULE_STARTS, _RULE_BARY, _RULE_WEIGHTS, out)
    return out


# ---------------------------------------------------------------------------- row assembly
@numba.njit(parallel=True, cache=True, nogil=True)
def double_layer_rows(points, point_vertex, vertices, tris, tri_normals, tri_areas, tri_weight, out):
    """``out[i, v] += tri_weight[t] * D_k(points[i])`` for every triangle t and its corner k = vertex v.

    ``point_vertex[i]`` is the global index of the vertex the point is (collocation) or -1; the
    triangles that contain it add nothing (the point lies in their plane).
    """
    n_points = points.shape[0]
    n_tris = tris.shape[0]
    for i in numba.prange(n_points):
        w = np.empty(3)
        rx, ry, rz = points[i, 0], points[i, 1], points[i, 2]
        pv = point_vertex[i]
        for t in range(n_tris):
            i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
            if i0 == pv or i1 == pv or i2 == pv:
                continue
            linear_solid_angles(rx, ry, rz, vertices[i0], vertices[i1], vertices[i2],
                                tri_normals[t, 0], tri_normals[t, 1], tri_normals[t, 2], tri_areas[t], w)
            s = tri_weight[t]
            out[i, i0] += s * w[0]
            out[i, i1] += s * w[1]
            out[i, i2] += s * w[2]


@numba.njit(parallel=True, cache=True, nogil=True)
def single_layer_face_rows(points, point_vertex, vertices, tris, tri_areas, tri_weight, starts, bary, weights,
                           out):
    """``out[i, t] = tri_weight[t] * int_t 1/|r' - points[i]| dS'``: single layer of a constant density.

    The sum of the three hat-function integrals (Duffy when the point is a corner of t).
    """
    n_points = points.shape[0]
    n_tris = tris.shape[0]
    for i in numba.prange(n_points):
        w = np.empty(3)
        rx, ry, rz = points[i, 0], points[i, 1], points[i, 2]
        pv = point_vertex[i]
        for t in range(n_tris):
            i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
            if i0 == pv:
                _duffy_single_layer(vertices[i0], vertices[i1], vertices[i2], tri_areas[t], w)
            elif i1 == pv:
                _duffy_single_layer(vertices[i1], vertices[i2], vertices[i0], tri_areas[t], w)
            elif i2 == pv:
                _duffy_single_layer(vertices[i2], vertices[i0], vertices[i1], tri_areas[t], w)
            else:
                _single_layer_quad(rx, ry, rz, vertices[i0], vertices[i1], vertices[i2], tri_areas[t],
                                   starts, bary, weights, w)
            out[i, t] += tri_weight[t] * (w[0] + w[1] + w[2])


@numba.njit(parallel=True, cache=True, nogil=True)
def field_gradient_rows(points, vertices, tris, tri_normals, tri_areas, tri_weight, starts, bary, weights,
                        out_single, out_double):
    """Gradients (w.r.t. the field point) of the single layer of each triangle and the double layer
    of every vertex's hat function.

    ``out_single[3 i + d, t] += tri_weight[t] * d/dr_d int_t 1/R`` (constant density per triangle)
    and ``out_double[3 i + d, v] += tri_weight[t] * d/dr_d D_k(points[i])``. Points must lie off the
    surfaces (the quadrature refines near them).
    """
    n_points = points.shape[0]
    n_tris = tris.shape[0]
    for i in numba.prange(n_points):
        rx, ry, rz = points[i, 0], points[i, 1], points[i, 2]
        for t in range(n_tris):
            i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
            a, b, c = vertices[i0], vertices[i1], vertices[i2]
            nx, ny, nz = tri_normals[t, 0], tri_normals[t, 1], tri_normals[t, 2]
            level = _level(rx, ry, rz, a, b, c)
            sx0 = sy0 = sz0 = sx1 = sy1 = sz1 = sx2 = sy2 = sz2 = 0.0
            dx0 = dy0 = dz0 = dx1 = dy1 = dz1 = dx2 = dy2 = dz2 = 0.0
            for q in range(starts[level], starts[level + 1]):
                b0, b1, b2 = bary[q, 0], bary[q, 1], bary[q, 2]
                px = b0 * a[0] + b1 * b[0] + b2 * c[0] - rx
                py = b0 * a[1] + b1 * b[1] + b2 * c[1] - ry
                pz = b0 * a[2] + b1 * b[2] + b2 * c[2] - rz
                r2 = px * px + py * py + pz * pz
                inv_r = 1.0 / np.sqrt(r2)
                inv_r3 = inv_r / r2
                wq = weights[q] * tri_areas[t]
                # single layer gradient: (r' - r) / R^3
                gx, gy, gz = px * inv_r3 * wq, py * inv_r3 * wq, pz * inv_r3 * wq
                sx0 += b0 * gx
                sy0 += b0 * gy
                sz0 += b0 * gz
                sx1 += b1 * gx
                sy1 += b1 * gy
                sz1 += b1 * gz
                sx2 += b2 * gx
                sy2 += b2 * gy
                sz2 += b2 * gz
                # double layer gradient: -n/R^3 + 3 (n.(r'-r)) (r'-r) / R^5
                ndot3 = 3.0 * (nx * px + ny * py + nz * pz) * inv_r3 / r2
                hx = (-nx * inv_r3 + ndot3 * px) * wq
                hy = (-ny * inv_r3 + ndot3 * py) * wq
                hz = (-nz * inv_r3 + ndot3 * pz) * wq
                dx0 += b0 * hx
                dy0 += b0 * hy
                dz0 += b0 * hz
                dx1 += b1 * hx
                dy1 += b1 * hy
                dz1 += b1 * hz
                dx2 += b2 * hx
                dy2 += b2 * hy
                dz2 += b2 * hz
            s = tri_weight[t]
            # single layer of a constant density on t (the source g is constant per triangle)
            out_single[3 * i, t] += s * (sx0 + sx1 + sx2)
            out_single[3 * i + 1, t] += s * (sy0 + sy1 + sy2)
            out_single[3 * i + 2, t] += s * (sz0 + sz1 + sz2)
            out_double[3 * i, i0] += s * dx0
            out_double[3 * i + 1, i0] += s * dy0
            out_double[3 * i + 2, i0] += s * dz0
            out_double[3 * i, i1] += s * dx1
            out_double[3 * i + 1, i1] += s * dy1
            out_double[3 * i + 2, i1] += s * dz1
            out_double[3 * i, i2] += s * dx2
            out_double[3 * i + 1, i2] += s * dy2
            out_double[3 * i + 2, i2] += s * dz2
