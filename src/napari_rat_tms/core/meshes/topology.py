"""Topology of triangle surfaces (SI: metres): is a surface a closed 2-manifold, how many pieces,
which genus, which way do its normals point.

* :func:`check_closed` - the surface is a closed 2-manifold, consistently wound, without degenerate
  or duplicate triangles or stray vertices; otherwise a :class:`~napari_rat_tms.core.errors.MeshError`
  says what is wrong, how often, where (in millimetres, the viewer's unit) and how to fix it.
* :func:`euler_characteristic`, :func:`face_components`, :func:`connected_components`, :func:`genus`.
* :func:`orient_outward` - flip the winding when the normals point inwards.

Crossing triangles are :mod:`.intersections`; inside/outside and distances :mod:`.spatial`.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ..conventions import m_to_mm
from ..errors import MeshError
from .surface import TriangleSurface

__all__ = ["check_closed", "euler_characteristic", "face_components", "connected_components", "genus",
           "orient_outward", "half_edges"]

#: A triangle is degenerate when its area is below this fraction of its longest edge squared, i.e.
#: when its height is below 2e-12 of its longest edge: zero up to double-precision rounding.
_DEGENERATE_RELATIVE_AREA = 1e-12


def _fmt_mm(point_m) -> str:
    p = m_to_mm(point_m)
    return f"({p[0]:.2f}, {p[1]:.2f}, {p[2]:.2f}) mm"


def half_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    src, dst = half_edges(faces)
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
    src, dst = half_edges(faces)
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
    src, dst = half_edges(surface.faces)
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
