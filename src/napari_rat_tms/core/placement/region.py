"""A region of the scalp where the coil may go, in stereotaxic AP/ML coordinates (mm).

Seed 003's grid (:mod:`.grid`) drops its points onto the scalp along the dorsal axis; a
:class:`ScalpRegion` does the same for any continuous (AP, ML) in its rectangle, so that a placement
is a function of three numbers: ``(AP, ML, orientation)``, with the coil touching the scalp (its
axis along the inward scalp normal, lifted until the casing touches, plus a gap). Used to sample
the placements a reduced-order field is built for (:mod:`..fields.reduced`) and as the search space
of the placement optimiser (:mod:`.optimise`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..coils.dipoles import CoilDipoles
from ..conventions import SEED_DIDT_A_PER_US, m_to_mm, mm_to_m
from ..meshes.rays import first_ray_hit
from ..meshes.surface import TriangleSurface
from .coil_on_scalp import CoilPlacement, CoilPlacementError, place_coil_on_scalp
from .stereotaxic import StereotaxicFrame

__all__ = ["ScalpRegion"]


@dataclass(frozen=True, eq=False)
class ScalpRegion:
    """The scalp under the rectangle ``centre_ap_ml_mm`` +- ``extent_mm / 2`` (AP, ML; mm).

    ``scalp``: the body surface (metres); ``frame``: the stereotaxic frame (its dorsal axis is the
    direction along which (AP, ML) is dropped onto the scalp, its anterior axis orientation 0).
    """

    scalp: TriangleSurface
    frame: StereotaxicFrame
    centre_ap_ml_mm: tuple[float, float]
    extent_mm: tuple[float, float]

    def __post_init__(self):
        if not all(np.isfinite(e) and e >= 0 for e in self.extent_mm):
            raise ValueError(f"extent_mm must be two lengths >= 0, got {self.extent_mm!r}")

    @property
    def bounds_ap_ml_mm(self) -> np.ndarray:
        """``[[AP min, ML min], [AP max, ML max]]`` in mm."""
        c = np.asarray(self.centre_ap_ml_mm, dtype=float)
        half = 0.5 * np.asarray(self.extent_mm, dtype=float)
        return np.array([c - half, c + half])

    def contains(self, ap_mm: float, ml_mm: float, tol_mm: float = 1e-9) -> bool:
        low, high = self.bounds_ap_ml_mm
        p = np.array([ap_mm, ml_mm])
        return bool(np.all(p >= low - tol_mm) and np.all(p <= high + tol_mm))

    def scalp_point(self, ap_mm: float, ml_mm: float) -> np.ndarray:
        """The scalp point (model frame, mm) under stereotaxic (AP, ML), along the dorsal axis."""
        top = float((m_to_mm(self.scalp.vertices_m) @ self.frame.dorsal).max()
                    - self.frame.origin_mm @ self.frame.dorsal) + 10.0
        start = self.frame.from_stereotaxic([ml_mm, ap_mm, top])
        hit = first_ray_hit(self.scalp, mm_to_m(start), -self.frame.dorsal)
        if hit is None:
            raise CoilPlacementError(
                f"AP {ap_mm:+.1f}, ML {ml_mm:+.1f} mm is not above the scalp (the surface ends there).")
        return m_to_mm(hit.point)

    def placement(self, ap_mm: float, ml_mm: float, orientation_deg: float, coil: CoilDipoles,
                  gap_mm: float = 0.0, didt_a_per_us: float = SEED_DIDT_A_PER_US) -> CoilPlacement:
        """The coil touching the scalp (plus ``gap_mm``) at (AP, ML), turned ``orientation_deg``
        from anterior (:func:`.coil_on_scalp.place_coil_on_scalp`)."""
        return place_coil_on_scalp(self.scalp, self.scalp_point(ap_mm, ml_mm), self.frame.anterior, coil,
                                   float(orientation_deg), float(gap_mm), didt_a_per_us)

    def random_placements(self, coil: CoilDipoles, n: int, rng: np.random.Generator,
                          gap_range_mm: tuple[float, float] = (0.0, 0.0),
                          didt_a_per_us: float = SEED_DIDT_A_PER_US) -> list[CoilPlacement]:
        """``n`` placements with (AP, ML) uniform over the rectangle, orientation uniform in
        [0, 360) deg and gap uniform in ``gap_range_mm``. Points where the scalp cannot take the
        coil (off the surface, snout or neck) are drawn again (at most ``10 n`` draws)."""
        low, high = self.bounds_ap_ml_mm
        out: list[CoilPlacement] = []
        for _ in range(10 * max(int(n), 1)):
            if len(out) == n:
                break
            ap, ml = rng.uniform(low, high)
            try:
                out.append(self.placement(ap, ml, rng.uniform(0.0, 360.0), coil,
                                          rng.uniform(*gap_range_mm), didt_a_per_us))
            except CoilPlacementError:
                continue
        if len(out) < n:
            raise CoilPlacementError(f"only {len(out)} of {n} random placements fit on the scalp in "
                                     f"AP/ML {low.round(1).tolist()}..{high.round(1).tolist()} mm: move or "
                                     "shrink the region.")
        return out
