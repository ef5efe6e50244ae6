"""Test shapes in SI units (metres): spheres and a holed spherical shell (a stand-in skull).

Both are closed and wound counter-clockwise seen from outside (outward normals), ready for a
boundary-element model.
"""

from __future__ import annotations

import math

import numpy as np

from .surface import TriangleSurface

__all__ = ["icosphere", "holed_spherical_shell"]


def _unit_icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    if int(subdivisions) != subdivisions or subdivisions < 0:
        raise ValueError(f"subdivisions must be a non-negative integer, got {subdivisions!r}")
    mesh = trimesh.creation.icosphere(subdivisions=int(subdivisions), radius=1.0)
    vertices = np.asarray(mesh.vertices, dtype=float)
    vertices /= np.linalg.norm(vertices, axis=1, keepdims=True)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    # trimesh winds its icosphere outwards; make sure, independently of its version
    t = vertices[faces]
    if np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() < 0:
        faces = faces[:, ::-1].copy()
    return vertices, faces


def icosphere(radius_m: float, subdivisions: int = 3, center_m=(0.0, 0.0, 0.0),
              name: str = "sphere") -> TriangleSurface:
    """A geodesic sphere: the icosahedron subdivided ``subdivisions`` times, vertices on the sphere.

    ``radius_m`` and ``center_m`` in metres. 10 * 4**s + 2 vertices and 20 * 4**s triangles: 642
    vertices for ``subdivisions=3``, 2,562 for 4, 10,242 for 5 (20,480 triangles), 40,962 for 6.
    The polyhedron is inscribed in the sphere (its area and volume are slightly smaller).
    """
    radius = float(radius_m)
    if not radius > 0 or not math.isfinite(radius):
        raise ValueError(f"radius_m must be positive and finite, got {radius_m!r}")
    vertices, faces = _unit_icosphere(subdivisions)
    return TriangleSurface(vertices * radius + np.asarray(center_m, dtype=float).reshape(3), faces, name)


def holed_spherical_shell(inner_radius_m: float, outer_radius_m: float, hole_radius_m: float,
                          subdivisions: int = 3, axis=(0.0, 0.0, 1.0), center_m=(0.0, 0.0, 0.0),
                          name: str = "holed shell", *, through: bool = False) -> TriangleSurface:
    """ONE closed, outward-wound surface bounding a spherical shell with a round opening.

    A stand-in skull with its foramen magnum: the solid between the spheres of radius
    ``inner_radius_m`` and ``outer_radius_m`` (metres), with a hole of radius about
    ``hole_radius_m`` on the outer sphere, centred on ``axis`` (from ``center_m``). With
    ``through=True`` a second, identical hole is made on the opposite side (a tube).

    Construction: two icospheres with the same triangulation, at the two radii. The triangles whose
    centroid direction lies within alpha = asin(hole_radius / outer_radius) of the axis are removed
    from both (the same ones, so the two hole rims correspond vertex to vertex; triangles around
    rim vertices that would make the rim pinch are removed as well). The inner part is flipped (its
    outward normal points to the centre) and each pair of corresponding rim edges is stitched by
    two triangles. Each stitching quad lies in a plane through the centre, so the enclosed volume is
    exactly (1 - (R1/R2)^3) times the volume of the cones from the centre over the kept outer
    triangles, about 4/3 pi (R2^3 - R1^3) (1 - (1 - cos alpha) / 2) per hole.

    Topology: a shell with ONE opening is a cup, a topological sphere: genus 0 (Euler: two discs
    and an annulus). With ``through=True`` (two openings) it is a thick tube: genus 1.

    Raises ValueError for inconsistent radii or when the hole is smaller than the mesh resolution
    (no triangle removed; use more subdivisions or a larger hole).
    """
    r1, r2, rh = float(inner_radius_m), float(outer_radius_m), float(hole_radius_m)
    if not (0 < r1 < r2) or not math.isfinite(r2):
        raise ValueError(
            f"need 0 < inner_radius_m < outer_radius_m, got {inner_radius_m!r}, {outer_radius_m!r}"
        )
    if not (0 < rh < r2):
        raise ValueError(f"hole_radius_m must lie between 0 and outer_radius_m, got {hole_radius_m!r}")
    direction = np.asarray(axis, dtype=float).reshape(3)
    norm = np.linalg.norm(direction)
    if not norm > 0 or not np.isfinite(norm):
        raise ValueError(f"axis must be a non-zero vector, got {axis!r}")
    direction = direction / norm
    alpha = math.asin(rh / r2)

    unit, faces = _unit_icosphere(subdivisions)
    centroid_dir = unit[faces].mean(axis=1)
    centroid_dir /= np.linalg.norm(centroid_dir, axis=1, keepdims=True)
    cos_angle = centroid_dir @ direction
    removed = cos_angle > math.cos(alpha)
    if through:
        removed |= cos_angle < -math.cos(alpha)
    if not removed.any():
        raise ValueError(
            f"The hole (radius {rh * 1000:g} mm) is smaller than the triangles of a {subdivisions}-times "
            "subdivided sphere: no triangle was removed. Use more subdivisions or a larger hole."
        )
    removed = _remove_pinches(faces, removed, len(unit))
    if removed.all():
        raise ValueError("The hole covers the whole sphere; use a smaller hole_radius_m.")
    kept = faces[~removed]

    # rim: half-edges of the kept triangles whose twin was removed
    nv = len(unit)
    src = kept.reshape(-1)
    dst = np.roll(kept, -1, axis=1).reshape(-1)
    key = src * nv + dst
    rim = ~np.isin(dst * nv + src, key)
    a, b = src[rim], dst[rim]

    # outer vertices 0..nv-1, inner vertices nv..2nv-1, then drop the vertices in the hole(s)
    inner = kept[:, ::-1] + nv
    band = np.concatenate([np.stack([b, a, a + nv], axis=1), np.stack([b, a + nv, b + nv], axis=1)])
    all_faces = np.concatenate([kept, inner, band])
    vertices = np.concatenate([unit * r2, unit * r1])
    used = np.zeros(2 * nv, dtype=bool)
    used[all_faces.reshape(-1)] = True
    new_index = np.cumsum(used) - 1
    vertices = vertices[used] + np.asarray(center_m, dtype=float).reshape(3)
    return TriangleSurface(vertices, new_index[all_faces], name)


def _remove_pinches(faces: np.ndarray, removed: np.ndarray, nv: int) -> np.ndarray:
    """Also remove the triangles around rim vertices shared by more than two rim edges (where the
    rim would touch itself), until the rim is a set of simple loops."""
    removed = removed.copy()
    for _ in range(100):
        kept = faces[~removed]
        src = kept.reshape(-1)
        dst = np.roll(kept, -1, axis=1).reshape(-1)
        key = src * nv + dst
        rim = ~np.isin(dst * nv + src, key)
        degree = np.bincount(src[rim], minlength=nv) + np.bincount(dst[rim], minlength=nv)
        pinched = degree > 2
        if not pinched.any():
            return removed
        removed |= pinched[faces].any(axis=1)
    raise RuntimeError("could not make the rim of the hole a simple loop")  # pragma: no cover
