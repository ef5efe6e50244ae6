"""Signed distance functions (SDF) for building smooth synthetic anatomy.

A shape maps points ``p`` of shape (N, 3) (millimetres) to signed distances (N,): negative inside,
positive outside, zero on the surface. Composite shapes evaluate a child only at the points inside
the child's bounding box grown by :data:`MARGIN_MM`; elsewhere the distance is reported as
``MARGIN_MM`` (a lower bound), which is exact enough for partial-volume rasterisation and shells
thinner than the margin. Primitives follow Inigo Quilez's catalogue of distance functions
(https://iquilezles.org/articles/distfunctions/); the ellipsoid distance is his first-order bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "MARGIN_MM",
    "Shape",
    "Sphere",
    "Ellipsoid",
    "Capsule",
    "RoundCone",
    "Cylinder",
    "Union",
    "Intersection",
    "Difference",
    "Offset",
    "VariableOffset",
    "smooth_min",
]

MARGIN_MM = 3.0


def smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum of two distance fields with blend radius ``k`` (mm)."""
    if k <= 0:
        return np.minimum(a, b)
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1.0 - h) + a * h - k * h * (1.0 - h)


class Shape:
    """Base class: ``distance(points)`` and an axis-aligned bounding box ``bounds`` (lo, hi)."""

    bounds: tuple[np.ndarray, np.ndarray]

    def distance(self, points: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def distance_culled(self, points: np.ndarray) -> np.ndarray:
        """Distance at the points near this shape, ``MARGIN_MM`` elsewhere."""
        lo, hi = self.bounds
        near = np.all((points >= lo - MARGIN_MM) & (points <= hi + MARGIN_MM), axis=1)
        out = np.full(points.shape[0], MARGIN_MM, dtype=points.dtype)
        if near.any():
            out[near] = self.distance(points[near])
        return out


def _as3(v) -> np.ndarray:
    return np.asarray(v, dtype=float).reshape(3)


class Sphere(Shape):
    def __init__(self, center, radius: float):
        self.center, self.radius = _as3(center), float(radius)
        self.bounds = (self.center - radius, self.center + radius)

    def distance(self, p):
        return np.linalg.norm(p - self.center.astype(p.dtype), axis=1) - self.radius


class Ellipsoid(Shape):
    """Ellipsoid with semi-axes ``radii`` along the columns of ``rotation`` (default: x, y, z)."""

    def __init__(self, center, radii, rotation=None):
        self.center, self.radii = _as3(center), _as3(radii)
        self.rotation = np.eye(3) if rotation is None else np.asarray(rotation, dtype=float)
        half = np.abs(self.rotation) @ self.radii
        self.bounds = (self.center - half, self.center + half)

    def distance(self, p):
        q = (p - self.center.astype(p.dtype)) @ self.rotation.astype(p.dtype)
        k0 = np.linalg.norm(q / self.radii.astype(p.dtype), axis=1)
        k1 = np.linalg.norm(q / (self.radii**2).astype(p.dtype), axis=1)
        k1 = np.maximum(k1, 1e-12)
        return k0 * (k0 - 1.0) / k1


class RoundCone(Shape):
    """Segment a-b swept by a sphere whose radius goes linearly from ``ra`` to ``rb``.

    Exact for ``ra == rb`` (a capsule); for a taper the distance is the linear-radius
    approximation, accurate while the taper is gentle.
    """

    def __init__(self, a, b, ra: float, rb: float):
        self.a, self.b = _as3(a), _as3(b)
        self.ra, self.rb = float(ra), float(rb)
        r = max(ra, rb)
        self.bounds = (np.minimum(self.a, self.b) - r, np.maximum(self.a, self.b) + r)

    def distance(self, p):
        a, b = self.a.astype(p.dtype), self.b.astype(p.dtype)
        ab = b - a
        t = np.clip(((p - a) @ ab) / float(ab @ ab), 0.0, 1.0)
        closest = a + t[:, None] * ab
        return np.linalg.norm(p - closest, axis=1) - (self.ra + t * (self.rb - self.ra))


class Capsule(RoundCone):
    def __init__(self, a, b, radius: float):
        super().__init__(a, b, radius, radius)


class Cylinder(Shape):
    """Finite cylinder with flat caps on the segment a-b, exact distance."""

    def __init__(self, a, b, radius: float):
        self.a, self.b, self.radius = _as3(a), _as3(b), float(radius)
        self.bounds = (
            np.minimum(self.a, self.b) - radius,
            np.maximum(self.a, self.b) + radius,
        )

    @property
    def axis(self) -> np.ndarray:
        d = self.b - self.a
        return d / np.linalg.norm(d)

    def distance(self, p):
        a = self.a.astype(p.dtype)
        ab = (self.b - self.a).astype(p.dtype)
        length = float(np.linalg.norm(ab))
        u = ab / length
        s = (p - a) @ u
        radial = np.linalg.norm((p - a) - s[:, None] * u, axis=1) - self.radius
        axial = np.abs(s - 0.5 * length) - 0.5 * length
        outside = np.hypot(np.maximum(radial, 0.0), np.maximum(axial, 0.0))
        return outside + np.minimum(np.maximum(radial, axial), 0.0)


class Union(Shape):
    """Union of shapes; ``blend_mm > 0`` rounds the joins (smooth minimum)."""

    def __init__(self, shapes: Sequence[Shape], blend_mm: float = 0.0):
        self.shapes = list(shapes)
        if not self.shapes:
            raise ValueError("Union needs at least one shape")
        self.blend_mm = float(blend_mm)
        lo = np.min([s.bounds[0] for s in self.shapes], axis=0)
        hi = np.max([s.bounds[1] for s in self.shapes], axis=0)
        self.bounds = (lo, hi)

    def distance(self, p):
        out = np.full(p.shape[0], MARGIN_MM, dtype=p.dtype)
        for shape in self.shapes:
            lo, hi = shape.bounds
            near = np.all((p >= lo - MARGIN_MM) & (p <= hi + MARGIN_MM), axis=1)
            if near.any():
                out[near] = smooth_min(out[near], shape.distance(p[near]), self.blend_mm)
        return out


class Intersection(Shape):
    def __init__(self, shapes: Sequence[Shape]):
        self.shapes = list(shapes)
        lo = np.max([s.bounds[0] for s in self.shapes], axis=0)
        hi = np.min([s.bounds[1] for s in self.shapes], axis=0)
        self.bounds = (lo, hi)

    def distance(self, p):
        out = self.shapes[0].distance_culled(p)
        for shape in self.shapes[1:]:
            out = np.maximum(out, shape.distance_culled(p))
        return out


class Difference(Shape):
    """``base`` minus the union of ``cut`` shapes."""

    def __init__(self, base: Shape, cuts: Sequence[Shape]):
        self.base, self.cuts = base, list(cuts)
        self.bounds = base.bounds

    def distance(self, p):
        out = self.base.distance(p)
        for cut in self.cuts:
            out = np.maximum(out, -cut.distance_culled(p))
        return out


class Offset(Shape):
    """Grow (``delta_mm > 0``) or shrink a shape by a constant distance."""

    def __init__(self, shape: Shape, delta_mm: float):
        if delta_mm >= MARGIN_MM:
            raise ValueError(f"delta_mm must be < MARGIN_MM = {MARGIN_MM}, got {delta_mm}")
        self.shape, self.delta_mm = shape, float(delta_mm)
        lo, hi = shape.bounds
        self.bounds = (lo - max(delta_mm, 0), hi + max(delta_mm, 0))

    def distance(self, p):
        return self.shape.distance(p) - self.delta_mm


class VariableOffset(Shape):
    """Grow a shape by ``delta_mm(points)``, a smooth function of position (mm, below MARGIN_MM)."""

    def __init__(self, shape: Shape, delta_mm: Callable[[np.ndarray], np.ndarray], max_delta_mm: float):
        if max_delta_mm >= MARGIN_MM:
            raise ValueError(f"max_delta_mm must be < MARGIN_MM = {MARGIN_MM}")
        self.shape, self.delta_mm = shape, delta_mm
        lo, hi = shape.bounds
        self.bounds = (lo - max_delta_mm, hi + max_delta_mm)

    def distance(self, p):
        return self.shape.distance(p) - self.delta_mm(p)
