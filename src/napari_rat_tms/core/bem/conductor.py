"""Piecewise-homogeneous volume conductor models: closed surfaces with the conductivity on each side.

A model is any number of closed, non-intersecting triangle surfaces (:class:`Boundary`), each with
the conductivity inside and outside it (S/m). Surfaces may be nested (spheres, a skull in a body)
or side by side (two eyes in the body); a surface may have tunnels (a skull with its foramina).
This is the geometry of seed 003 ("Head models"): the rat's 1C model is the body alone; the 2C
model adds ONE closed skull surface, holed, floating in the body compartment (the brain lies in the
body compartment, outside the skull surface, because the intracranial and body conductivities are
equal); the 3C reference adds the eyes.

Every model is checked when built (:meth:`VolumeConductor.__init__`): each surface closed and
manifold, outward (inward normals are flipped and a warning says so, or refused with
``fix_orientation=False``), free of self-intersections; no two surfaces intersect; conductivities
positive and consistent across nesting (the conductivity outside a surface equals the one inside
the surface that encloses it, or 0 = air for the outermost).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ConductorModelError, MeshError
from ..meshes import checks
from ..meshes.surface import TriangleSurface

__all__ = [
    "SIGMA_BODY",
    "SIGMA_SKULL",
    "SIGMA_EYE",
    "Boundary",
    "VolumeConductor",
    "nested_spheres",
    "rat_head_model",
]

#: Conductivities of seed 003 ("Computation of the E-field"), S/m.
SIGMA_BODY = 0.33
SIGMA_SKULL = 0.0066
SIGMA_EYE = 1.5


@dataclass(frozen=True, eq=False)
class Boundary:
    """One closed surface and the conductivities (S/m) on its two sides."""

    surface: TriangleSurface
    sigma_inside: float
    sigma_outside: float

    @property
    def name(self) -> str:
        return self.surface.name

    @property
    def sigma_jump(self) -> float:
        """``sigma_inside - sigma_outside``: the weight of this surface in the BEM equations."""
        return self.sigma_inside - self.sigma_outside


class VolumeConductor:
    """A checked set of boundaries.

    Parameters
    ----------
    boundaries : sequence of Boundary
    name : str
        Shown in messages and reports (``"2C"``, ``"3-shell sphere"``).
    fix_orientation : bool
        Flip surfaces whose normals point inwards (with a warning). If False, such a surface is an
        error.
    check_intersections : bool
        Look for self- and mutual intersections (the slowest check; a few seconds at 50k faces).
    """

    def __init__(self, boundaries, *, name: str = "model", fix_orientation: bool = True,
                 check_intersections: bool = True):
        boundaries = list(boundaries)
        if not boundaries:
            raise ConductorModelError("A volume conductor needs at least one closed surface.")
        self.name = name
        checked = []
        for b in boundaries:
            if not isinstance(b, Boundary):
                raise TypeError(f"boundaries must be Boundary objects, got {type(b).__name__}")
            _check_conductivities(b)
            surface = b.surface
            checks.check_closed(surface)
            surface, flipped = checks.orient_outward(surface)
            if flipped:
                if not fix_orientation:
                    raise MeshError(
                        f"The normals of surface {surface.name!r} point inwards. Reverse the winding of its "
                        "triangles, or build the model with fix_orientation=True."
                    )
                warnings.warn(
                    f"The normals of surface {surface.name!r} pointed inwards; its triangles were flipped "
                    "so that they point outwards.",
                    stacklevel=2,
                )
            if check_intersections:
                pairs = checks.find_self_intersections(surface, max_pairs=10)
                if len(pairs):
                    where = surface.face_centroids_m[pairs[0, 0]] * 1000.0
                    raise MeshError(
                        f"Surface {surface.name!r} intersects itself ({len(pairs)}+ pairs of triangles cross; "
                        f"the first near ({where[0]:.2f}, {where[1]:.2f}, {where[2]:.2f}) mm). Remesh it, e.g. "
                        "with a larger closing radius or a coarser edge length."
                    )
            checked.append(Boundary(surface, float(b.sigma_inside), float(b.sigma_outside)))
        self.boundaries: tuple[Boundary, ...] = tuple(checked)
        if check_intersections:
            for i in range(len(checked)):
                for j in range(i + 1, len(checked)):
                    a, c = checked[i].surface, checked[j].surface
                    pairs = checks.find_surface_intersections(a, c)
                    if len(pairs):
                        where = a.face_centroids_m[pairs[0, 0]] * 1000.0
                        raise ConductorModelError(
                            f"Surfaces {a.name!r} and {c.name!r} intersect ({len(pairs)} pairs of triangles, "
                            f"e.g. near ({where[0]:.2f}, {where[1]:.2f}, {where[2]:.2f}) mm). BEM surfaces must "
                            "not touch: shrink the inner one or remesh."
                        )
        self.parents = self._nesting()
        self._check_nesting_conductivities()

    # ------------------------------------------------------------------ structure
    def _nesting(self) -> tuple[int | None, ...]:
        """Index of the smallest surface enclosing each surface (None when outermost)."""
        n = len(self.boundaries)
        volumes = [b.surface.enclosed_volume_m3 for b in self.boundaries]
        parents: list[int | None] = []
        for i in range(n):
            probe = self.boundaries[i].surface.vertices_m[:1]
            enclosing = [
                j for j in range(n)
                if j != i and volumes[j] > volumes[i] and checks.points_inside(self.boundaries[j].surface, probe)[0]
            ]
            parents.append(min(enclosing, key=lambda j: volumes[j]) if enclosing else None)
        return tuple(parents)

    def _check_nesting_conductivities(self):
        for i, (b, parent) in enumerate(zip(self.boundaries, self.parents)):
            expected = 0.0 if parent is None else self.boundaries[parent].sigma_inside
            where = "air (nothing encloses it)" if parent is None else f"inside {self.boundaries[parent].name!r}"
            if not np.isclose(b.sigma_outside, expected, rtol=1e-9, atol=0.0):
                raise ConductorModelError(
                    f"Surface {b.name!r} lies {where}, so the conductivity outside it must be {expected:g} S/m, "
                    f"but the model says {b.sigma_outside:g} S/m."
                )

    @property
    def surfaces(self) -> tuple[TriangleSurface, ...]:
        return tuple(b.surface for b in self.boundaries)

    @property
    def n_vertices(self) -> int:
        return sum(b.surface.n_vertices for b in self.boundaries)

    @property
    def n_faces(self) -> int:
        return sum(b.surface.n_faces for b in self.boundaries)

    @property
    def vertex_offsets(self) -> np.ndarray:
        """Start of each surface's vertices in the stacked unknown vector (length n_surfaces + 1)."""
        return np.concatenate([[0], np.cumsum([b.surface.n_vertices for b in self.boundaries])])

    def innermost_boundary(self, points_m) -> np.ndarray:
        """Index of the innermost boundary containing each point (its compartment), -1 in air."""
        points = np.asarray(points_m, dtype=float).reshape(-1, 3)
        index = np.full(len(points), -1, dtype=np.int64)
        depth = np.full(len(points), -1)
        levels = self._depths()
        for i, b in enumerate(self.boundaries):
            take = checks.points_inside(b.surface, points) & (levels[i] > depth)
            index[take] = i
            depth[take] = levels[i]
        return index

    def conductivity_at(self, points_m) -> np.ndarray:
        """Conductivity (S/m) at each point: that inside the innermost surface containing it, else 0."""
        index = self.innermost_boundary(points_m)
        sigma_inside = np.array([b.sigma_inside for b in self.boundaries] + [0.0])
        return sigma_inside[index]  # index -1 -> the appended 0 (air)

    def _depths(self) -> list[int]:
        depths = []
        for i in range(len(self.boundaries)):
            d, p = 0, self.parents[i]
            while p is not None:
                d, p = d + 1, self.parents[p]
            depths.append(d)
        return depths

    def fingerprint(self) -> str:
        """SHA-256 of the geometry and conductivities (for cache keys)."""
        h = hashlib.sha256()
        for b in self.boundaries:
            h.update(b.surface.fingerprint())
            h.update(np.array([b.sigma_inside, b.sigma_outside]).tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{b.name}: {b.surface.n_vertices} vertices, {b.sigma_inside:g}/{b.sigma_outside:g} S/m"
            for b in self.boundaries
        )
        return f"VolumeConductor({self.name!r}; {parts})"


def _check_conductivities(b: Boundary):
    name = b.surface.name
    for label, value in (("inside", b.sigma_inside), ("outside", b.sigma_outside)):
        if not np.isfinite(value):
            raise ConductorModelError(f"The conductivity {label} surface {name!r} is not a finite number ({value}).")
    if b.sigma_inside <= 0:
        raise ConductorModelError(
            f"The conductivity inside surface {name!r} must be positive (S/m), got {b.sigma_inside:g}."
        )
    if b.sigma_outside < 0:
        raise ConductorModelError(
            f"The conductivity outside surface {name!r} must be positive or 0 (air), got {b.sigma_outside:g}."
        )
    if b.sigma_inside == b.sigma_outside:
        raise ConductorModelError(
            f"Surface {name!r} has the same conductivity ({b.sigma_inside:g} S/m) on both sides, so it is no "
            "boundary; leave it out of the model."
        )


def nested_spheres(radii_m, conductivities, *, subdivisions: int = 4, center_m=(0.0, 0.0, 0.0),
                   name: str | None = None) -> VolumeConductor:
    """Concentric icospheres; ``conductivities[i]`` (S/m) fills the shell inside ``radii_m[i]``.

    Radii in increasing order; outside the largest is air. ``subdivisions=4`` gives 2,562 vertices
    per sphere.
    """
    from ..meshes.primitives import icosphere

    radii = [float(r) for r in radii_m]
    sigmas = [float(s) for s in conductivities]
    if len(radii) != len(sigmas) or not radii:
        raise ValueError("radii_m and conductivities must have the same, non-zero length")
    if any(b <= a for a, b in zip(radii, radii[1:])):
        raise ValueError("radii_m must increase")
    boundaries = [
        Boundary(
            icosphere(r, subdivisions, center_m, name=f"sphere {r * 1000:g} mm"),
            sigmas[i],
            sigmas[i + 1] if i + 1 < len(sigmas) else 0.0,
        )
        for i, r in enumerate(radii)
    ]
    return VolumeConductor(boundaries, name=name or f"{len(radii)}-shell sphere", check_intersections=False)


def rat_head_model(body: TriangleSurface, skull: TriangleSurface | None = None, eyes=(), *,
                   sigma_body: float = SIGMA_BODY, sigma_skull: float = SIGMA_SKULL,
                   sigma_eye: float = SIGMA_EYE, name: str | None = None) -> VolumeConductor:
    """The seed's rat models: 1C (body), 2C (body + holed skull), 3C (plus eyes). Conductivities in S/m."""
    boundaries = [Boundary(body, sigma_body, 0.0)]
    if skull is not None:
        boundaries.append(Boundary(skull, sigma_skull, sigma_body))
    boundaries += [Boundary(eye, sigma_eye, sigma_body) for eye in eyes]
    # compartments, as the seed counts them: body, skull, eyes (both eyes are one tissue)
    default = f"{1 + (skull is not None) + bool(eyes)}C"
    return VolumeConductor(boundaries, name=name or default)
