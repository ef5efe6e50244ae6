"""The stereotaxic frame of one animal, from landmarks clicked on its skull.

Rodent experimenters give positions as AP/ML/DV millimetres from bregma (Paxinos & Watson,
"The Rat Brain in Stereotaxic Coordinates"). The frame here is the one of
:mod:`napari_rat_tms.core.conventions`: x to the animal's right (ML), y anterior (AP), z dorsal
(DV), origin at bregma, in millimetres, "flat skull" (the AP axis runs through bregma and lambda,
as when a stereotaxic frame levels the two).

From three landmarks, in the head model's frame (the volume frame, mm):

* ``bregma`` and ``lambda`` on the dorsal skull surface: the AP axis points from lambda to bregma;
* ``midline``: any other point of the midsagittal plane (e.g. the tip of the nasal bones or a
  point on the occipital crest) at least 1 mm off the bregma-lambda line; the dorsal axis lies in
  the plane of the three points, perpendicular to AP, on the side away from the head's centre
  (bregma and lambda are on top of the skull).

Checks (each a :class:`LandmarkError` saying what to fix): points finite; bregma-lambda distance
2-20 mm (about 8 mm in an adult rat, 4 mm in a mouse; other values mean a mis-click or a unit
error); the midline point off the bregma-lambda line; bregma and lambda within 1.5 mm of the skull
surface when the skull is given; bregma and lambda swapped (the eyes lie anterior of bregma; or,
without eyes, the skull reaches further in front of bregma than behind it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..conventions import m_to_mm, mm_to_m
from ..errors import RatTmsError

__all__ = ["LandmarkError", "StereotaxicFrame", "frame_from_landmarks",
           "BREGMA_LAMBDA_RANGE_MM", "LANDMARK_SKULL_TOLERANCE_MM"]

#: Accepted bregma-lambda distances (mm): an adult rat has about 7-9, a mouse about 4.
BREGMA_LAMBDA_RANGE_MM = (2.0, 20.0)
#: How far (mm) bregma and lambda may lie from the skull surface.
LANDMARK_SKULL_TOLERANCE_MM = 1.5
MIN_MIDLINE_OFFSET_MM = 1.0


class LandmarkError(RatTmsError, ValueError):
    """Landmarks that do not define a stereotaxic frame (collinear, swapped, off the skull)."""


@dataclass(frozen=True, eq=False)
class StereotaxicFrame:
    """Stereotaxic axes (unit vectors) and origin (bregma) in the head model's frame (mm)."""

    origin_mm: np.ndarray
    right: np.ndarray
    anterior: np.ndarray
    dorsal: np.ndarray
    landmarks_mm: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("origin_mm", "right", "anterior", "dorsal"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=float).reshape(3))
        basis = self.rotation
        if not np.allclose(basis.T @ basis, np.eye(3), atol=1e-9) or np.linalg.det(basis) < 0:
            raise ValueError("the stereotaxic axes must be orthonormal and right-handed "
                             "(x right, y anterior, z dorsal)")

    @property
    def rotation(self) -> np.ndarray:
        """Columns: right, anterior, dorsal (stereotaxic axes in the model frame)."""
        return np.column_stack([self.right, self.anterior, self.dorsal])

    @property
    def stereotaxic_to_model_mm(self) -> np.ndarray:
        """4x4 matrix: stereotaxic mm -> model (volume-frame) mm."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.origin_mm
        return m

    def translated(self, shift_mm) -> StereotaxicFrame:
        """This frame (origin and landmarks) moved by ``shift_mm`` (3,); itself when the shift is zero."""
        shift = np.asarray(shift_mm, float).reshape(3)
        if not np.any(shift):
            return self
        return StereotaxicFrame(self.origin_mm + shift, self.right, self.anterior, self.dorsal,
                                {k: np.asarray(v) + shift for k, v in self.landmarks_mm.items()})

    def to_stereotaxic(self, points_mm) -> np.ndarray:
        """Model-frame points (mm) -> stereotaxic (ML, AP, DV) mm."""
        p = np.asarray(points_mm, dtype=float)
        return (p - self.origin_mm) @ self.rotation

    def from_stereotaxic(self, points_mm) -> np.ndarray:
        """Stereotaxic (ML, AP, DV) mm -> model-frame mm."""
        p = np.asarray(points_mm, dtype=float)
        return p @ self.rotation.T + self.origin_mm

    def describe(self, point_mm) -> str:
        """``"AP -2.5, ML +3.0 (right), DV +0.4 mm from bregma"``."""
        ml, ap, dv = self.to_stereotaxic(point_mm)
        side = "right" if ml > 0.05 else "left" if ml < -0.05 else "midline"
        return f"AP {ap:+.1f}, ML {ml:+.1f} ({side}), DV {dv:+.1f} mm from bregma"

    def to_dict(self) -> dict:
        return {"origin_mm": self.origin_mm.tolist(), "right": self.right.tolist(),
                "anterior": self.anterior.tolist(), "dorsal": self.dorsal.tolist(),
                "landmarks_mm": {k: np.asarray(v, float).tolist() for k, v in self.landmarks_mm.items()}}

    @classmethod
    def from_dict(cls, values: dict) -> StereotaxicFrame:
        return cls(values["origin_mm"], values["right"], values["anterior"], values["dorsal"],
                   {k: np.asarray(v, float) for k, v in values.get("landmarks_mm", {}).items()})


def _point(name, value) -> np.ndarray:
    p = np.asarray(value, dtype=float)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise LandmarkError(f"{name} must be one finite 3D point in mm, got {value!r}.")
    return p


def frame_from_landmarks(bregma_mm, lambda_mm, midline_mm, head_centre_mm, skull=None,
                         eyes_mm=None) -> StereotaxicFrame:
    """The stereotaxic frame from bregma, lambda and a third midline point (model frame, mm).

    Parameters
    ----------
    bregma_mm, lambda_mm, midline_mm : (3,) points
    head_centre_mm : (3,) point
        Any point well inside the head (e.g. the centroid of the skull or brain surface); it
        tells dorsal from ventral.
    skull : TriangleSurface, optional
        The skull surface (metres): bregma and lambda must lie on it; without ``eyes_mm`` its
        extent checks that bregma and lambda are not swapped.
    eyes_mm : (K, 3) points, optional
        Eye centres: they must lie anterior of bregma.
    """
    bregma = _point("bregma", bregma_mm)
    lam = _point("lambda", lambda_mm)
    midline = _point("the midline point", midline_mm)
    centre = _point("the head centre", head_centre_mm)
    ap = bregma - lam
    dist = float(np.linalg.norm(ap))
    lo, hi = BREGMA_LAMBDA_RANGE_MM
    if not lo <= dist <= hi:
        raise LandmarkError(
            f"bregma and lambda are {dist:.2f} mm apart; expected {lo:g}-{hi:g} mm (about 8 mm in an adult "
            "rat, 4 mm in a mouse). Check the clicks, and that the scan's voxel size is in mm.")
    anterior = ap / dist
    w = midline - bregma
    w_perp = w - (w @ anterior) * anterior
    offset = float(np.linalg.norm(w_perp))
    if offset < MIN_MIDLINE_OFFSET_MM:
        raise LandmarkError(
            f"the midline point is only {offset:.2f} mm from the line through bregma and lambda, so the "
            "three points do not fix the midsagittal plane. Pick a midline point away from that line "
            f"(at least {MIN_MIDLINE_OFFSET_MM:g} mm), e.g. the tip of the nasal bones.")
    dorsal = w_perp / offset
    if dorsal @ (bregma - centre) < 0:
        dorsal = -dorsal
    right = np.cross(anterior, dorsal)
    landmarks = {"bregma": bregma, "lambda": lam, "midline": midline}

    if skull is not None:
        from ..meshes.checks import distance_to_surface

        d = m_to_mm(distance_to_surface(skull, mm_to_m(np.stack([bregma, lam]))))
        for name, value in zip(("bregma", "lambda"), d):
            if value > LANDMARK_SKULL_TOLERANCE_MM:
                raise LandmarkError(
                    f"{name} is {value:.1f} mm from the skull surface "
                    f"(at most {LANDMARK_SKULL_TOLERANCE_MM:g} mm "
                    "expected). Click it on the skull, where the sutures meet.")
    if eyes_mm is not None and len(np.atleast_2d(eyes_mm)):
        eyes = np.atleast_2d(np.asarray(eyes_mm, dtype=float))
        eye_ap = (eyes - bregma) @ anterior
        if np.all(eye_ap < 0):
            raise LandmarkError(
                f"the eyes lie {-eye_ap.max():.1f} mm or more posterior of bregma: bregma and lambda look "
                "swapped (bregma is the anterior one, where the coronal suture crosses the midline).")
        landmarks.update({f"eye_{k}": e for k, e in enumerate(eyes)})
    elif skull is not None:
        ap_coord = (m_to_mm(skull.vertices_m) - bregma) @ anterior
        front, back = ap_coord.max(), -ap_coord.min()
        if front < back:
            raise LandmarkError(
                f"the skull reaches {front:.1f} mm anterior of bregma but {back:.1f} mm posterior of it: "
                "bregma "
                "and lambda look swapped (in rats and mice the snout makes the skull longer in front of "
                "bregma). Swap them, or give the eyes so that this can be checked directly.")
    return StereotaxicFrame(bregma, right, anterior, dorsal, landmarks)
