"""Line navigation: where experimenters assume the coil stimulates, without a head model.

Seed 003 (Introduction): "a line-of-sight model (this is called line navigation), in which the
E-field maximum is assumed to be directly below the coil centre and the E-field orientation is
assumed to correspond to the coil orientation". Here: the target is the first point where the
coil's axis, followed from the centre of the casing into the head, meets the cortical surface
(the evaluation surface of the meshing step); the predicted field direction is the coil's current
direction (:attr:`.coil_on_scalp.CoilPlacement.current_direction`, in the coil's plane). The
study compares both with the modelled field's maximum and direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..conventions import m_to_mm, mm_to_m
from ..meshes.rays import first_ray_hit
from ..meshes.surface import TriangleSurface
from .coil_on_scalp import CoilPlacement, CoilPlacementError

__all__ = ["LineNavigationTarget", "line_navigation_target"]


@dataclass(frozen=True, eq=False)
class LineNavigationTarget:
    """The line-navigation prediction for one placement (model frame, mm)."""

    target_mm: np.ndarray
    field_direction: np.ndarray
    depth_mm: float          # from the casing's bottom to the target, along the axis
    face: int                # triangle of the cortical surface that the axis crosses


def line_navigation_target(placement: CoilPlacement, cortex: TriangleSurface) -> LineNavigationTarget:
    """Follow the coil's axis from its centre to ``cortex`` (metres); see the module docstring."""
    hit = first_ray_hit(cortex, mm_to_m(placement.centre_mm), placement.axis)
    if hit is None:
        raise CoilPlacementError(
            "the coil's axis does not reach the cortical surface from this placement (it passes beside "
            "the brain). Move the coil over the brain.")
    return LineNavigationTarget(m_to_mm(hit.point), placement.current_direction.copy(),
                                float(m_to_mm(hit.distance)), hit.face)
