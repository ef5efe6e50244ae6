"""Body: everything that is not air, as one closed solid (seed 003: "the segmented body was
smoothed by computing its morphological closure with a 2-mm-radius spherical kernel ... this
operation filled small channels in the nose and ears")."""

from __future__ import annotations

import numpy as np

from .histogram import SegmentationError
from .morphology import close_mm, fill_cavities, largest_component

__all__ = ["segment_body", "BODY_CLOSING_RADIUS_MM"]

BODY_CLOSING_RADIUS_MM = 2.0


def segment_body(data, air_soft_threshold: float, voxel_size_mm, *,
                 closing_radius_mm: float = BODY_CLOSING_RADIUS_MM) -> np.ndarray:
    """Body mask: ``data >= air_soft_threshold``, its largest connected component, internal air
    (nasal cavity, airway, ear canals) filled, closed with a ball of ``closing_radius_mm`` (mm,
    exact on anisotropic voxels) and filled again.

    Raises :class:`SegmentationError` when the threshold selects nothing, or nearly everything
    (more than 98 % of the voxels: there would be no air around the head to find its surface).
    """
    data = np.asarray(data)
    tissue = data >= air_soft_threshold
    n = int(tissue.sum())
    if n == 0:
        raise SegmentationError(
            f"The air/soft-tissue threshold ({air_soft_threshold:g}) selects no voxel: every "
            f"intensity is below it (maximum {float(data.max()):g}). Lower the threshold."
        )
    if n > 0.98 * tissue.size:
        raise SegmentationError(
            f"The air/soft-tissue threshold ({air_soft_threshold:g}) selects {100 * n / tissue.size:.1f} % "
            "of the volume: almost no air is left around the head. Raise the threshold (it should "
            "lie halfway between the air and soft-tissue peaks of the histogram)."
        )
    body = fill_cavities(largest_component(tissue))
    del tissue
    body = close_mm(body, closing_radius_mm, voxel_size_mm)
    return fill_cavities(body)
