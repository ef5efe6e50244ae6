"""The field of one coil placement at the cortex, with what a viewer shows beside it.

:func:`field_on_cortex` evaluates a head model (:class:`~napari_rat_tms.core.fields.FieldModel`, or
anything with its ``efield_for(placement, coil)``) for a placed coil
at the cortex vertices (the points where seed 003 evaluates the field) and adds |E|, the vertex of
its maximum and the line-navigation target (where the coil's axis meets the cortex,
:func:`~napari_rat_tms.core.placement.line_navigation_target`). The E-field dock runs it in a worker
thread for every move of the coil.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import RatTmsError
from .line_navigation import line_navigation_target

__all__ = ["CortexField", "field_on_cortex"]


@dataclass(frozen=True, eq=False)
class CortexField:
    """E (V/m, (P, 3)) at the cortex vertices, |E| (V/m, (P,)), the vertex of the largest |E|, the
    line-navigation target (None when the coil's axis misses the cortex) and the seconds it took."""

    efield_v_per_m: np.ndarray
    magnitude_v_per_m: np.ndarray
    peak_vertex: int
    line_navigation: object
    seconds: float

    @property
    def peak_v_per_m(self) -> float:
        return float(self.magnitude_v_per_m[self.peak_vertex])


def field_on_cortex(model, placement, coil, cortex) -> CortexField:
    """The field of ``model`` for ``coil`` (:class:`~napari_rat_tms.core.coils.CoilDipoles`) at
    ``placement`` (:class:`~napari_rat_tms.core.placement.CoilPlacement`, with its dI/dt), at the
    vertices of ``cortex`` (the model's evaluation points)."""
    start = time.perf_counter()
    efield = np.asarray(model.efield_for(placement, coil), dtype=float)
    magnitude = np.linalg.norm(efield, axis=1)
    peak = int(np.argmax(magnitude))
    try:
        target = line_navigation_target(placement, cortex)
    except (RatTmsError, ValueError):
        target = None
    return CortexField(efield, magnitude, peak, target, time.perf_counter() - start)
