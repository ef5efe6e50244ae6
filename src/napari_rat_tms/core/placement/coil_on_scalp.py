"""A coil on the scalp: its frame from a scalp point, an orientation and a gap.

Coil frame (:mod:`..coils.windings`, SimNIBS ``.ccd``): z points into the head, the casing's
bottom is the plane z = 0. A placement puts the casing's bottom tangent to the scalp:

* the scalp point is the nearest point of the scalp surface to the given point (refused when the
  given point is more than ``max_offset_mm`` off the scalp: a click that missed);
* the coil axis is the scalp's inward normal there, averaged over the triangles within
  ``normal_radius_mm`` (a rat's scalp is curved on the scale of the coil; a single triangle's
  normal would follow the mesh's noise);
* the orientation turns the coil about its axis: 0 deg puts the current induced under the coil's
  centre posterior-to-anterior (PA; physics notes section 1), i.e. along the stereotaxic AP axis
  projected on the coil's plane; positive angles turn it counter-clockwise seen from above the
  coil (from PA towards the animal's left);
* the coil is then lifted along its axis until no part of the scalp under its footprint is above
  the casing's bottom (it touches the scalp, it does not cut into it), plus ``gap_mm`` (hair,
  a spacer). The bottom is the plane z = 0, except where a curved coil's windings reach the
  head's side of it (e.g. the MC-B70's wings): there it follows them.

:func:`check_coil_clearance` refuses placements whose casing cuts into the head or whose windings
are inside it, saying by how much and where. Positions are in millimetres in the head model's
frame (the volume frame, like the viewer); :meth:`CoilPlacement.place` returns the coil's dipoles in
metres for the physics.
"""

from __future__ import annotations

from dataclasses import dataclass

import weakref

import numpy as np
from scipy.spatial import ConvexHull, Delaunay, cKDTree

from ..coils.dipoles import CoilDipoles
from ..conventions import m_to_mm, mm_to_m
from ..errors import RatTmsError
from ..meshes.surface import TriangleSurface
from ..conventions import SEED_DIDT_A_PER_US

__all__ = ["CoilPlacementError", "CoilPlacement", "place_coil_on_scalp", "scalp_normal",
           "coil_footprint_mm", "coil_clearance_mm", "check_coil_clearance", "lift_onto_scalp"]

#: Casing margin (mm) around the coil's dipoles when testing the footprint against the scalp.
FOOTPRINT_MARGIN_MM = 1.0
#: Around a winding dipole that lies on the head's side of the casing plane (curved coils), the
#: casing's bottom follows it within this radius (mm).
CURVED_COIL_RADIUS_MM = 4.0
#: Penetration (mm) of the scalp into the casing accepted as touching (mesh rounding).
CONTACT_TOLERANCE_MM = 0.05


_FOOTPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # coil -> Delaunay of its footprint


class CoilPlacementError(RatTmsError, ValueError):
    """A coil placement that cannot be used: off the scalp, inside the head, undefined orientation."""


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


@dataclass(frozen=True, eq=False)
class CoilPlacement:
    """Where a coil sits on the head (model frame, millimetres).

    Attributes
    ----------
    centre_mm : (3,)
        Centre of the casing's bottom surface (the coil frame's origin).
    axis : (3,)
        Unit vector of the coil's axis, pointing into the head (the coil frame's z).
    current_direction : (3,)
        Unit vector, perpendicular to ``axis``: where the current induced under the coil's centre
        flows (the coil's "orientation").
    orientation_deg : float
        Angle of ``current_direction`` from PA (see the module docstring).
    scalp_point_mm : (3,)
        The scalp point under the coil's centre.
    gap_mm : float
        Distance added between the scalp and the casing.
    didt_a_per_us : float
        Rate of change of the coil current.
    """

    centre_mm: np.ndarray
    axis: np.ndarray
    current_direction: np.ndarray
    orientation_deg: float = 0.0
    scalp_point_mm: np.ndarray | None = None
    gap_mm: float = 0.0
    didt_a_per_us: float = SEED_DIDT_A_PER_US

    def __post_init__(self):
        centre = np.asarray(self.centre_mm, dtype=float).reshape(3)
        axis = _unit(np.asarray(self.axis, dtype=float).reshape(3))
        cur = np.asarray(self.current_direction, dtype=float).reshape(3)
        cur = _unit(cur - (cur @ axis) * axis)
        if not (np.all(np.isfinite(centre)) and np.all(np.isfinite(axis)) and np.all(np.isfinite(cur))):
            raise ValueError("a coil placement needs a finite centre, axis and current direction")
        if not np.isfinite(self.didt_a_per_us):
            raise ValueError(f"didt_a_per_us must be finite, got {self.didt_a_per_us!r}")
        object.__setattr__(self, "centre_mm", centre)
        object.__setattr__(self, "axis", axis)
        object.__setattr__(self, "current_direction", cur)
        if self.scalp_point_mm is not None:
            object.__setattr__(self, "scalp_point_mm", np.asarray(self.scalp_point_mm, float).reshape(3))

    @property
    def didt_a_per_s(self) -> float:
        return float(self.didt_a_per_us) * 1e6

    @property
    def head_axes(self) -> np.ndarray:
        """Columns: current direction, axis x current direction, axis (a right-handed frame)."""
        d = self.current_direction
        return np.column_stack([d, np.cross(self.axis, d), self.axis])

    def rotation_for(self, coil: CoilDipoles) -> np.ndarray:
        """Rotation taking ``coil``'s own frame to the model frame for this placement (its own
        current direction onto :attr:`current_direction`, its z onto :attr:`axis`)."""
        c = coil.current_direction
        coil_axes = np.column_stack([c, np.cross([0.0, 0.0, 1.0], c), [0.0, 0.0, 1.0]])
        return self.head_axes @ coil_axes.T

    def translated(self, shift_mm) -> CoilPlacement:
        """This placement moved by ``shift_mm`` (3,) (e.g. from one image layer's data coordinates to
        another's); itself when the shift is zero."""
        shift = np.asarray(shift_mm, float).reshape(3)
        if not np.any(shift):
            return self
        scalp = None if self.scalp_point_mm is None else self.scalp_point_mm + shift
        return CoilPlacement(self.centre_mm + shift, self.axis, self.current_direction, self.orientation_deg,
                             scalp, self.gap_mm, self.didt_a_per_us)

    def place(self, coil: CoilDipoles) -> CoilDipoles:
        """``coil`` (coil frame, metres) moved to this placement (model frame, metres)."""
        placed = coil.transformed(self.rotation_for(coil), mm_to_m(self.centre_mm))
        return CoilDipoles(placed.positions_m, placed.moments_m2, coil.name)

    def coil_to_model_mm(self, coil: CoilDipoles, points_mm) -> np.ndarray:
        """Points given in ``coil``'s frame (mm) -> model frame (mm), e.g. its outline."""
        return np.asarray(points_mm, float) @ self.rotation_for(coil).T + self.centre_mm

    def model_to_coil_mm(self, coil: CoilDipoles, points_mm) -> np.ndarray:
        return (np.asarray(points_mm, float) - self.centre_mm) @ self.rotation_for(coil)

    def with_orientation(self, orientation_deg: float) -> CoilPlacement:
        """The same placement turned about its axis to ``orientation_deg`` (from PA)."""
        turn = np.deg2rad(orientation_deg - self.orientation_deg)
        d, a = self.current_direction, self.axis
        # counter-clockwise seen from above the coil = about the outward normal (-axis)
        new = d * np.cos(turn) + np.cross(-a, d) * np.sin(turn)
        return CoilPlacement(self.centre_mm, a, new, float(orientation_deg), self.scalp_point_mm,
                             self.gap_mm, self.didt_a_per_us)

    def to_dict(self) -> dict:
        return {"centre_mm": self.centre_mm.tolist(), "axis": self.axis.tolist(),
                "current_direction": self.current_direction.tolist(),
                "orientation_deg": float(self.orientation_deg),
                "scalp_point_mm": None if self.scalp_point_mm is None else self.scalp_point_mm.tolist(),
                "gap_mm": float(self.gap_mm), "didt_a_per_us": float(self.didt_a_per_us)}

    @classmethod
    def from_dict(cls, values: dict) -> CoilPlacement:
        return cls(**values)


#: The ``format`` field of a placement file (the Coil placement dock's "Save placement…", and
#: ``placement.json`` in a project folder).
PLACEMENT_FILE_FORMAT = "napari-rat-tms coil placement"


def placement_record(placement: CoilPlacement, frame, coil_source: str | None, coil_name: str) -> dict:
    """A placement file's content: the coil (preset name or file), the placement and the frame."""
    return {"format": PLACEMENT_FILE_FORMAT, "version": 1, "coil": coil_source, "coil_name": coil_name,
            "placement": placement.to_dict(), "frame": frame.to_dict()}


def scalp_normal(scalp: TriangleSurface, point_mm, radius_mm: float = 3.0) -> np.ndarray:
    """Outward unit normal of ``scalp`` near ``point_mm``: area-weighted mean of the normals of the
    triangles whose centroid lies within ``radius_mm`` (at least the nearest triangle)."""
    centroids = m_to_mm(scalp.face_centroids_m)
    d = np.linalg.norm(centroids - np.asarray(point_mm, float), axis=1)
    near = d <= radius_mm
    if not near.any():
        near = d == d.min()
    n = (scalp.face_normals[near] * scalp.face_areas_m2[near, None]).sum(axis=0)
    norm = np.linalg.norm(n)
    if norm == 0:
        raise CoilPlacementError("the scalp has no defined normal here (opposite triangles cancel); "
                                 "pick a point on a smooth part of the scalp.")
    return n / norm


def _closest_scalp_point(scalp: TriangleSurface, point_mm) -> tuple[np.ndarray, float]:
    """Nearest point of the scalp (mm) and its distance (mm): the exact distance from the
    surface's BVH, the point by projecting onto the triangles around the nearest vertices
    (``trimesh.triangles.closest_point``; Ericson 2005, section 5.1.5)."""
    from trimesh.triangles import closest_point

    from ..meshes.checks import distance_to_surface

    p = np.asarray(point_mm, dtype=float)
    dist = float(m_to_mm(distance_to_surface(scalp, mm_to_m(p[None]))[0]))
    verts = m_to_mm(scalp.vertices_m)
    _, near = cKDTree(verts).query(p, k=min(16, len(verts)))
    faces = np.flatnonzero(np.isin(scalp.faces, np.atleast_1d(near)).any(axis=1))
    candidates = closest_point(verts[scalp.faces[faces]], np.repeat(p[None], len(faces), axis=0))
    best = candidates[np.argmin(np.linalg.norm(candidates - p, axis=1))]
    return best, dist


def coil_footprint_mm(coil: CoilDipoles, margin_mm: float = FOOTPRINT_MARGIN_MM) -> np.ndarray:
    """Outline (K, 2) in the coil's xy plane (mm) of its casing's bottom: the convex hull of the
    dipoles' xy positions grown by ``margin_mm``."""
    xy = m_to_mm(coil.positions_m[:, :2])
    if len(np.unique(np.round(xy, 6), axis=0)) < 3:
        r = max(float(np.linalg.norm(xy, axis=1).max()), 0.0) + margin_mm
        t = np.linspace(0, 2 * np.pi, 33)[:-1]
        return np.column_stack([r * np.cos(t), r * np.sin(t)])
    hull = xy[ConvexHull(xy).vertices]
    centre = hull.mean(axis=0)
    out = hull - centre
    out = out + margin_mm * out / np.linalg.norm(out, axis=1, keepdims=True)
    return out + centre


def _casing_bottom_mm(coil: CoilDipoles, xy_mm: np.ndarray) -> np.ndarray:
    """Height (coil frame z, mm, into the head) of the casing's bottom above points ``xy_mm``.

    0 (the plane z = 0) for flat coils. Coils whose windings reach the head's side of that plane
    (curved "butterfly" coils such as the MC-B70, whose wings bend towards the head) get a bottom
    that follows their dipoles: within :data:`CURVED_COIL_RADIUS_MM` of a dipole at height z > 0,
    the bottom lies at ``z + FOOTPRINT_MARGIN_MM``.
    """
    z = m_to_mm(coil.positions_m[:, 2])
    out = np.zeros(len(xy_mm))
    low = z > -FOOTPRINT_MARGIN_MM
    if not low.any() or len(xy_mm) == 0:
        return out
    tree = cKDTree(m_to_mm(coil.positions_m[low, :2]))
    heights = z[low] + FOOTPRINT_MARGIN_MM
    for i, near in enumerate(tree.query_ball_point(xy_mm, CURVED_COIL_RADIUS_MM)):
        if near:
            out[i] = max(0.0, float(heights[near].max()))
    return out


def coil_clearance_mm(placement: CoilPlacement, coil: CoilDipoles, scalp: TriangleSurface):
    """How far the scalp reaches into the casing (mm; > 0 means it cuts into the coil), and where.

    The scalp's vertices under the coil's footprint (:func:`coil_footprint_mm`) are expressed in
    the coil frame; a vertex closer to the coil than the casing's bottom (the plane z = 0, or for
    curved coils the surface of :func:`_casing_bottom_mm`) is inside the casing. Returns
    ``(penetration_mm, point_mm)``; the penetration is the negative clearance when nothing reaches
    the coil.
    """
    local = placement.model_to_coil_mm(coil, m_to_mm(scalp.vertices_m))
    footprint = _FOOTPRINTS.get(coil)
    if footprint is None:
        footprint = _FOOTPRINTS[coil] = Delaunay(coil_footprint_mm(coil))
    under = np.flatnonzero(footprint.find_simplex(local[:, :2]) >= 0)
    if len(under) == 0:
        return -np.inf, placement.centre_mm.copy()
    depth = _casing_bottom_mm(coil, local[under, :2]) - local[under, 2]
    k = int(np.argmax(depth))
    return float(depth[k]), m_to_mm(scalp.vertices_m[under[k]])


def check_coil_clearance(placement: CoilPlacement, coil: CoilDipoles, scalp: TriangleSurface,
                         tolerance_mm: float = CONTACT_TOLERANCE_MM) -> float:
    """Refuse a coil whose casing cuts into the head or whose windings are inside it.

    Returns the clearance (mm, >= 0 up to the tolerance) between the scalp and the casing.
    """
    from ..meshes.checks import points_inside

    placed = placement.place(coil)
    inside = points_inside(scalp, placed.positions_m)
    if inside.any():
        p = m_to_mm(placed.positions_m[np.flatnonzero(inside)[0]])
        raise CoilPlacementError(
            f"{inside.sum()} of the coil's {coil.n_dipoles} dipoles are inside the head (e.g. at "
            f"({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}) mm). Move the coil out along its axis.")
    depth, where = coil_clearance_mm(placement, coil, scalp)
    if depth > tolerance_mm:
        raise CoilPlacementError(
            f"the coil's casing is {depth:.2f} mm inside the head near ({where[0]:.1f}, {where[1]:.1f}, "
            f"{where[2]:.1f}) mm. Move the coil out by at least {depth:.2f} mm (gap) or place it on the "
            "scalp again.")
    return float(-depth)


def place_coil_on_scalp(scalp: TriangleSurface, point_mm, anterior, coil: CoilDipoles,
                        orientation_deg: float = 0.0, gap_mm: float = 0.0,
                        didt_a_per_us: float = SEED_DIDT_A_PER_US, normal_radius_mm: float = 3.0,
                        max_offset_mm: float = 2.0) -> CoilPlacement:
    """Put ``coil`` on the scalp at ``point_mm`` (see the module docstring).

    ``anterior`` is the animal's anterior direction in the model frame (e.g.
    :attr:`.stereotaxic.StereotaxicFrame.anterior`); ``scalp`` is the body surface (metres).
    """
    if not (np.isfinite(gap_mm) and gap_mm >= 0):
        raise CoilPlacementError(f"the gap between scalp and coil must be >= 0 mm, got {gap_mm!r}.")
    if not np.isfinite(orientation_deg):
        raise CoilPlacementError(
            f"the orientation must be a finite angle in degrees, got {orientation_deg!r}.")
    p = np.asarray(point_mm, dtype=float).reshape(3)
    if not np.all(np.isfinite(p)):
        raise CoilPlacementError(f"the coil position must be a finite point, got {point_mm!r}.")
    scalp_point, dist = _closest_scalp_point(scalp, p)
    if dist > max_offset_mm:
        raise CoilPlacementError(
            f"the point ({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}) mm is {dist:.1f} mm from the scalp (at most "
            f"{max_offset_mm:g} mm accepted). Click on the scalp surface (the body layer).")
    outward = scalp_normal(scalp, scalp_point, normal_radius_mm)
    a = np.asarray(anterior, dtype=float).reshape(3)
    a = a / np.linalg.norm(a)
    pa = a - (a @ outward) * outward
    if np.linalg.norm(pa) < 0.2:
        raise CoilPlacementError(
            "the scalp here faces along the anterior-posterior axis (snout or neck), so the coil's "
            "orientation relative to PA is undefined. Place the coil on the top or side of the head.")
    pa = pa / np.linalg.norm(pa)
    start = CoilPlacement(scalp_point, -outward, pa, 0.0, scalp_point, gap_mm, didt_a_per_us)
    return lift_onto_scalp(start.with_orientation(orientation_deg), coil, scalp)


def lift_onto_scalp(placement: CoilPlacement, coil: CoilDipoles, scalp: TriangleSurface) -> CoilPlacement:
    """``placement`` with its centre put back on its scalp point and moved out along the axis
    until the casing just touches the scalp, plus the placement's gap (turning a coil on a
    curved head changes how far its casing's edges reach)."""
    base = placement.scalp_point_mm if placement.scalp_point_mm is not None else placement.centre_mm
    at_scalp = CoilPlacement(base, placement.axis, placement.current_direction, placement.orientation_deg,
                             base, placement.gap_mm, placement.didt_a_per_us)
    depth, _ = coil_clearance_mm(at_scalp, coil, scalp)
    lift = max(depth, 0.0) + placement.gap_mm
    return CoilPlacement(base - lift * placement.axis, placement.axis, placement.current_direction,
                         placement.orientation_deg, base, placement.gap_mm, placement.didt_a_per_us)
