"""The placement grid of seed 003: coil positions over the scalp times coil orientations.

Seed 003 ("Results"): "35 different coil positions ... span a 15 mm x 10 mm region on the scalp,
covering the superior parts of the cortex. For each position, we studied all tangential coil
orientations with a 10 deg step size, resulting in 630 unique coil placements." Here: a 7 x 5
grid with 2.5 mm spacing, 15 mm along the AP axis and 10 mm along ML (the rat's head is longer
than it is wide), centred on a stereotaxic point (default: on the midline a quarter of the way
from bregma to lambda, AP -2.1 mm on the synthetic rat, so that the grid spans the dorsal cortex
from the frontal to the occipital pole; our choice: the seed does not give its centre), each grid
point dropped onto the scalp
along the dorsal axis; 18 orientations 0-170 deg (a figure-of-eight turned by 180 deg gives the
same field with the opposite sign: physics notes section 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..coils.dipoles import CoilDipoles
from ..conventions import m_to_mm, mm_to_m
from ..meshes.rays import first_ray_hit
from ..meshes.surface import TriangleSurface
from .coil_on_scalp import CoilPlacement, CoilPlacementError, lift_onto_scalp, place_coil_on_scalp
from .stereotaxic import StereotaxicFrame
from ..conventions import SEED_DIDT_A_PER_US

__all__ = ["PlacementGrid", "placement_grid", "default_grid_centre_ap_ml_mm", "DEFAULT_CENTRE_FRACTION", "SEED_GRID_EXTENT_MM", "SEED_GRID_SHAPE",
           "SEED_ORIENTATIONS_DEG"]

SEED_GRID_EXTENT_MM = (15.0, 10.0)   # AP, ML
SEED_GRID_SHAPE = (7, 5)             # points along AP, ML
SEED_ORIENTATIONS_DEG = tuple(float(a) for a in range(0, 180, 10))
#: Default grid centre: on the midline, this fraction of the way from bregma to lambda.
DEFAULT_CENTRE_FRACTION = 0.25


@dataclass(frozen=True, eq=False)
class PlacementGrid:
    """Coil positions on the scalp (model frame, mm) and the orientations to try at each."""

    scalp_points_mm: np.ndarray          # (P, 3)
    stereotaxic_mm: np.ndarray           # (P, 3): ML, AP, DV of the scalp points
    grid_ap_ml_mm: np.ndarray            # (P, 2): the grid's nominal AP, ML
    orientations_deg: np.ndarray         # (O,)
    centre_ap_ml_mm: tuple[float, float]

    @property
    def n_positions(self) -> int:
        return len(self.scalp_points_mm)

    @property
    def n_placements(self) -> int:
        return self.n_positions * len(self.orientations_deg)

    def placements(self, scalp: TriangleSurface, frame: StereotaxicFrame, coil: CoilDipoles,
                   gap_mm: float = 0.0,
                   didt_a_per_us: float = SEED_DIDT_A_PER_US) -> Iterator[tuple[int, int, CoilPlacement]]:
        """``(position index, orientation index, placement)`` for every grid placement."""
        for i, point in enumerate(self.scalp_points_mm):
            base = place_coil_on_scalp(scalp, point, frame.anterior, coil, 0.0, gap_mm, didt_a_per_us)
            for j, angle in enumerate(self.orientations_deg):
                yield i, j, lift_onto_scalp(base.with_orientation(float(angle)), coil, scalp)


def default_grid_centre_ap_ml_mm(frame: StereotaxicFrame) -> tuple[float, float]:
    """The grid's default centre (AP, ML) in mm: on the midline, :data:`DEFAULT_CENTRE_FRACTION` of
    the way from bregma to lambda (bregma when the frame has no lambda)."""
    lam = frame.landmarks_mm.get("lambda")
    ap = DEFAULT_CENTRE_FRACTION * float(frame.to_stereotaxic(lam)[1]) if lam is not None else 0.0
    return float(ap), 0.0


def placement_grid(scalp: TriangleSurface, frame: StereotaxicFrame,
                   centre_ap_ml_mm: tuple[float, float] | None = None,
                   extent_mm: tuple[float, float] = SEED_GRID_EXTENT_MM,
                   shape: tuple[int, int] = SEED_GRID_SHAPE,
                   orientations_deg=SEED_ORIENTATIONS_DEG) -> PlacementGrid:
    """The seed's grid around ``centre_ap_ml_mm`` (stereotaxic AP, ML in mm; default: midline,
    a quarter of the way from bregma to lambda), projected onto ``scalp`` along the dorsal axis."""
    n_ap, n_ml = (int(s) for s in shape)
    if n_ap < 1 or n_ml < 1:
        raise ValueError(f"the grid needs at least one point along each axis, got shape {shape!r}")
    if not all(np.isfinite(e) and e >= 0 for e in extent_mm):
        raise ValueError(f"extent_mm must be two lengths >= 0, got {extent_mm!r}")
    if centre_ap_ml_mm is None:
        centre_ap_ml_mm = default_grid_centre_ap_ml_mm(frame)
    c_ap, c_ml = (float(v) for v in centre_ap_ml_mm)
    aps = c_ap + (np.linspace(-0.5, 0.5, n_ap) * extent_mm[0] if n_ap > 1 else np.zeros(1))
    mls = c_ml + (np.linspace(-0.5, 0.5, n_ml) * extent_mm[1] if n_ml > 1 else np.zeros(1))
    top = m_to_mm(scalp.vertices_m) @ frame.dorsal
    height = float(top.max() - frame.origin_mm @ frame.dorsal) + 10.0
    points, nominal = [], []
    for ap in aps[::-1]:          # anterior first
        for ml in mls:
            start = frame.from_stereotaxic([ml, ap, height])
            hit = first_ray_hit(scalp, mm_to_m(start), -frame.dorsal)
            if hit is None:
                raise CoilPlacementError(
                    f"the grid point AP {ap:+.1f}, ML {ml:+.1f} mm is not above the scalp (the surface ends "
                    "there). Move the grid's centre or make it smaller.")
            points.append(m_to_mm(hit.point))
            nominal.append((ap, ml))
    points = np.array(points)
    angles = np.asarray(orientations_deg, dtype=float).reshape(-1)
    if len(angles) == 0 or not np.all(np.isfinite(angles)):
        raise ValueError("orientations_deg must hold at least one finite angle")
    return PlacementGrid(points, frame.to_stereotaxic(points), np.array(nominal), angles, (c_ap, c_ml))
