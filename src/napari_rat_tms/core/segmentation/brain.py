"""Brain: an automatic suggestion that fills the cranial cavity, and the cortical evaluation
region of seed 003.

Seed 003 painted the brain by hand ("The extent of the brain inside the intracranial cavity was
estimated visually ... filled with manual voxel painting"). The suggestion here gives the user a
start to correct with napari's brush:

    The cranial cavity is open through the skull's holes, so it is not an enclosed region of the
    skull mask. Closing the skull with a ball larger than its openings seals them; the cavity is
    then the largest enclosed background region. The sealing radius is found automatically: the
    smallest of 1, 1.5, 2, ... mm (up to ``max_seal_radius_mm``) for which the largest enclosed
    region holds at least ``MIN_CAVITY_FRACTION`` of the volume enclosed by the sealed skull (the
    skull's own bone and any cavity). It is searched on a grid of about 0.35 mm voxels (cheap),
    then applied at full resolution. The suggestion is that cavity minus air voxels and minus
    ``margin_mm`` next to the bone.

Evaluation region (seed 003): "a volumetric mask (i.e. subtracting a 1-mm dilated skull mask from
the brain mask)", so that the field is evaluated at least ``gap_mm`` from the bone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .histogram import SegmentationError
from .morphology import close_mm, dilate_mm, fill_cavities

__all__ = ["BrainSuggestion", "suggest_brain", "evaluation_region", "EVALUATION_GAP_MM",
           "MIN_CAVITY_FRACTION"]

EVALUATION_GAP_MM = 1.0
MIN_CAVITY_FRACTION = 0.25
_SEARCH_VOXEL_MM = 0.35


@dataclass(frozen=True, eq=False)
class BrainSuggestion:
    """``mask`` (boolean, full size), the sealing radius used (mm) and the cavity's volume."""

    mask: np.ndarray
    seal_radius_mm: float
    volume_mm3: float


def _largest_enclosed(closed: np.ndarray):
    """Largest background component of ``closed`` not touching the border, and the total
    volume (voxels) enclosed by ``closed`` (bone and all its cavities)."""
    labels, n = ndimage.label(~closed)
    if n == 0:
        return None, 0
    border = np.zeros(n + 1, bool)
    for axis in range(3):
        for index in (0, -1):
            border[np.unique(np.take(labels, index, axis=axis))] = True
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[border] = 0
    sizes[0] = 0
    enclosed = int(sizes.sum()) + int(closed.sum())
    k = int(sizes.argmax())
    if sizes[k] == 0:
        return None, enclosed
    return labels == k, enclosed


def _search_seal_radius(skull, h, max_radius_mm) -> float | None:
    factor = np.maximum(1, np.floor(_SEARCH_VOXEL_MM / h).astype(int))
    if np.any(factor > 1):
        trimmed = skull[tuple(slice(0, (n // f) * f) for n, f in zip(skull.shape, factor))]
        shape = [v for n, f in zip(trimmed.shape, factor) for v in (n // f, f)]
        coarse = trimmed.reshape(shape).any(axis=(1, 3, 5))
    else:
        coarse = skull
    hc = h * factor
    pad = int(np.ceil(max_radius_mm / hc.min())) + 2
    coarse = np.pad(coarse, pad)
    for radius in np.arange(1.0, max_radius_mm + 1e-9, 0.5):
        cavity, enclosed = _largest_enclosed(close_mm(coarse, radius, hc))
        if cavity is not None and cavity.sum() >= MIN_CAVITY_FRACTION * enclosed:
            return float(radius)
    return None


def suggest_brain(skull, voxel_size_mm, *, body=None, air=None, seal_radius_mm: float | None = None,
                  max_seal_radius_mm: float = 6.0, margin_mm: float = 0.0) -> BrainSuggestion:
    """Fill the cranial cavity of ``skull`` (boolean mask, without the spine) as a brain
    suggestion; see the module docstring. ``body`` limits it to the body, ``air`` (e.g.
    ``data < air_soft``) removes air voxels. Raises :class:`SegmentationError` when no sealing
    radius up to ``max_seal_radius_mm`` encloses a cavity."""
    skull = np.asarray(skull, dtype=bool)
    h = np.broadcast_to(np.asarray(voxel_size_mm, dtype=float), (3,))
    if not skull.any():
        raise SegmentationError("No skull to find the cranial cavity in: segment the skull first.")
    if seal_radius_mm is None:
        seal_radius_mm = _search_seal_radius(skull, h, max_seal_radius_mm)
        if seal_radius_mm is None:
            raise SegmentationError(
                f"Closing the skull's openings with balls up to {max_seal_radius_mm:g} mm did not "
                "enclose a cranial cavity: the skull may be incomplete (cropped field of view, "
                "bone threshold too high) or the openings larger than expected. Paint the brain "
                "by hand, or give a larger sealing radius."
            )
    pad = int(np.ceil(seal_radius_mm / h.min())) + 2
    closed = close_mm(np.pad(skull, pad), seal_radius_mm, h)
    cavity, _ = _largest_enclosed(closed)
    if cavity is None:
        raise SegmentationError(
            f"Closing the skull with a {seal_radius_mm:g} mm ball encloses no cavity; increase "
            "the sealing radius or paint the brain by hand."
        )
    cavity = cavity[tuple(slice(pad, pad + n) for n in skull.shape)]
    if body is not None:
        cavity &= np.asarray(body, dtype=bool)
    if air is not None:
        cavity &= ~np.asarray(air, dtype=bool)
    if margin_mm > 0:
        cavity &= ~dilate_mm(skull, margin_mm, h)
    cavity = fill_cavities(cavity) & ~skull
    return BrainSuggestion(mask=cavity, seal_radius_mm=float(seal_radius_mm),
                           volume_mm3=float(cavity.sum() * np.prod(h)))


def evaluation_region(brain, bone, voxel_size_mm, *, gap_mm: float = EVALUATION_GAP_MM) -> np.ndarray:
    """Seed 003's cortical evaluation region: ``brain`` minus ``bone`` dilated by ``gap_mm``."""
    brain = np.asarray(brain, dtype=bool)
    region = brain & ~dilate_mm(np.asarray(bone, dtype=bool), gap_mm, voxel_size_mm)
    if brain.any() and not region.any():
        raise SegmentationError(
            f"No brain voxel lies {gap_mm:g} mm or more from the bone: the brain is too thin or "
            "painted over the skull. Reduce the gap or check the brain mask."
        )
    return region
