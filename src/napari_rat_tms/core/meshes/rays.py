"""Rays against triangle surfaces: where a line of sight meets a mesh.

Used to put a click in the 3D viewer on the scalp, to project the placement grid onto the scalp
and for line navigation (the coil's axis down to the cortex). Möller & Trumbore (1997), "Fast,
minimum storage ray-triangle intersection", J. Graphics Tools 2:21, vectorised over all
triangles (a head surface has ~10^4: a ray costs about a millisecond).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .surface import TriangleSurface

__all__ = ["first_hit_along_line", "RayHit", "ray_hits", "first_ray_hit"]


@dataclass(frozen=True)
class RayHit:
    """A ray's crossing of a surface: distance along the unit direction, point, triangle, and
    whether the ray enters (against the outward normal) or leaves the enclosed volume."""

    distance: float
    point: np.ndarray
    face: int
    entering: bool


def ray_hits(surface: TriangleSurface, origin, direction, max_distance: float = np.inf) -> list[RayHit]:
    """All crossings of the ray ``origin + t direction`` (``t >= 0``) with ``surface``, nearest
    first. ``origin`` and distances in the surface's unit (metres); ``direction`` is normalised."""
    o = np.asarray(origin, dtype=float).reshape(3)
    d = np.asarray(direction, dtype=float).reshape(3)
    norm = np.linalg.norm(d)
    if not np.all(np.isfinite(o)) or not np.isfinite(norm) or norm == 0:
        raise ValueError("a ray needs a finite origin and a non-zero direction")
    d = d / norm
    v = surface.vertices_m[surface.faces]
    e1 = v[:, 1] - v[:, 0]
    e2 = v[:, 2] - v[:, 0]
    p = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, p)
    scale = np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1)
    ok = np.abs(det) > 1e-12 * scale
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = o - v[:, 0]
    u = np.einsum("ij,ij->i", s, p) * inv
    q = np.cross(s, e1)
    w = (q @ d) * inv
    t = np.einsum("ij,ij->i", e2, q) * inv
    hit = ok & (u >= 0) & (w >= 0) & (u + w <= 1) & (t >= 0) & (t <= max_distance)
    idx = np.flatnonzero(hit)
    idx = idx[np.argsort(t[idx], kind="stable")]
    normals = surface.face_normals
    tol = 1e-9 * max(float(np.abs(v).max()), 1e-300)
    out: list[RayHit] = []
    for i in idx:
        entering = bool(normals[i] @ d < 0)
        # a ray through an edge or a vertex hits every triangle there: one crossing
        if out and t[i] - out[-1].distance <= tol and out[-1].entering == entering:
            continue
        out.append(RayHit(float(t[i]), o + t[i] * d, int(i), entering))
    return out


def first_ray_hit(surface: TriangleSurface, origin, direction, max_distance: float = np.inf) -> RayHit | None:
    """The nearest crossing of the ray with ``surface``, or None."""
    hits = ray_hits(surface, origin, direction, max_distance)
    return hits[0] if hits else None


def first_hit_along_line(surface: TriangleSurface, point_m, direction) -> RayHit | None:
    """Where the line through ``point_m`` (m) along ``direction`` first meets ``surface``, seen from
    the side the line comes from: the ray starts on the line outside the surface's bounding sphere,
    behind ``point_m``, so a point inside or beyond the surface (a click on the screen in napari's 3D
    view, whose depth is arbitrary) still gives the crossing nearest to the viewer. None if the line
    misses the surface."""
    point = np.asarray(point_m, dtype=float).reshape(3)
    direction = np.asarray(direction, dtype=float).reshape(3)
    norm = float(np.linalg.norm(direction))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError(f"direction must be a non-zero vector, got {direction.tolist()}")
    direction = direction / norm
    lo, hi = surface.vertices_m.min(axis=0), surface.vertices_m.max(axis=0)
    centre, radius = 0.5 * (lo + hi), 0.5 * float(np.linalg.norm(hi - lo))
    back = float(np.linalg.norm(point - centre)) + radius + 1e-3
    return first_ray_hit(surface, point - back * direction, direction)
