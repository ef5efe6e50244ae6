"""Brain: an automatic suggestion that fills the cranial cavity, and the cortical evaluation
region of seed 003.

Seed 003 painted the brain by hand ("The extent of the brain inside the intracranial cavity was
estimated visually ... filled with manual voxel painting"). The suggestion here gives the user a
start to correct with napari's brush:

    The cranial cavity is open through the skull's holes, so it is not an enclosed region of the
    skull mask. Closing the skull with a ball larger than its openings seals them; the cavity is
    then the largest enclosed background region: one that holds no air from around the body
    (the volume is edge-padded, so a skull cropped by a tight field of view is continued
    straight out of it). The enclosed volume jumps up at the radius that seals the last
    opening and then shrinks as larger balls fill the cavity's corners (a mouse's cranial
    cavity is only about 6 mm high), so the sealing radius is the one, among 1, 1.5, 2, ... mm
    up to ``max_seal_radius_mm`` (default 30 % of the skull's smallest extent), that encloses
    the most; it is searched on a grid of about 0.35 mm voxels and must enclose at least 1 % of
    the skull's bounding box (regions are compared by their non-air voxels, so the nasal cavity
    does not count). At full resolution the cavity's corners filled by the closing are taken
    back: the cavity dilated by half the sealing radius, within the sealed skull, off the bone.
    Half, because a full radius also takes in the rims of the openings: on the synthetic rat
    the Dice coefficient against the true brain is 0.93 without recovery, 0.92 with half and
    0.89 with the full radius; on the three mouse scans no recovery leaves the cavity 20-35 %
    smaller than the atlas's endocranial volume (458 mm^3), half gives 385-431 mm^3. The
    suggestion is that region minus air voxels and minus ``margin_mm`` next to the bone.

    The closing also fills narrow parts of the cavity that no half-radius reaches: the olfactory
    bulbs' chamber (a tube about 2-3 mm wide in a mouse, narrower than the sealing ball) and the
    posterior fossa beside the foramen magnum. With ``recover_enclosed`` (the default) they are
    taken back too: from the sealed cavity, grown through the sealed solid's non-bone, non-air
    voxels that have bone on both sides along each of the three axes (:func:`enclosed_on_every_axis`:
    inside the braincase and its chambers; not an opening's plug or what lies beyond it, where a ray
    leaves the skull), connected to the cavity without crossing bone. Grown only from the sealed
    cavity itself: growing from the half-radius recovery, whose dilation can reach across thin bone,
    took in the soft tissue around the skull base and the bullae on one mouse scan (BALB/cJ, +23 %).
    Measured (``benchmarks/bench_mouse_scans.py``, BENCHMARKS.md): on the 8 mouse scans the volume
    rises by 1-10 % (most where the olfactory chamber was missing), on the synthetic rat the Dice
    coefficient is unchanged (0.921 to 0.922); on the mouse atlas template (no soft tissue or air to
    tell the nasal cavity from the brain, and blurred thin bone) it halves the missed volume and
    adds some outside the endocranium (Dice 0.862 to 0.917, 0.856 to 0.862, 0.837 to 0.827 at bone
    thresholds 18, 22, 26).

    Faint or thin bone (a mouse's vault near the bone threshold) is full of pinholes at full
    resolution, through which every closing small enough to spare the cavity leaks. Then, with
    ``search_grid_sealing``, the sealing found on the search grid (a pinhole narrower than its
    0.35 mm voxels is closed there) is brought back to full resolution and used instead
    (:func:`_coarse_sealing`); ``BrainSuggestion.sealed_on`` says which grid sealed the cavity.

Evaluation region (seed 003): "a volumetric mask (i.e. subtracting a 1-mm dilated skull mask from
the brain mask)", so that the field is evaluated at least ``gap_mm`` from the bone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..progress import run_to_completion
from .histogram import SegmentationError
from .morphology import close_mm, dilate_mm, fill_cavities, largest_component

__all__ = ["BrainSuggestion", "suggest_brain", "iter_suggest_brain", "evaluation_region", "enclosed_on_every_axis",
           "EVALUATION_GAP_MM", "MIN_CAVITY_FRACTION"]

EVALUATION_GAP_MM = 1.0
MIN_CAVITY_FRACTION = 0.01  # of the skull's bounding box: smaller enclosures are pockets
_SEARCH_VOXEL_MM = 0.35
# Corners of the cavity filled by the sealing closing are taken back within this fraction of the
# sealing radius (see the module docstring for the measurements behind 0.5 on the synthetic rat;
# on the mouse atlas template 0.6 matches its volume better, at a cost said in core/species.py).
CORNER_RECOVERY = 0.5




@dataclass(frozen=True, eq=False)
class BrainSuggestion:
    """``mask`` (boolean, full size), the sealing radius used (mm) and the cavity's volume."""

    mask: np.ndarray
    seal_radius_mm: float
    volume_mm3: float
    sealed_on: str = "full resolution"


def _largest_enclosed(closed: np.ndarray, outside: np.ndarray | None, tissue=None):
    """Largest background region of ``closed`` that is enclosed, and the volume (voxels)
    enclosed by ``closed`` (its bone and all its enclosed regions). A region is open when it
    touches the array's border or, if ``outside`` (air around the body) is given, holds a voxel
    of ``outside``. With ``tissue`` (not air) the regions are compared by their tissue voxels,
    so that an air-filled enclosure (the nasal cavity) does not pass for the cranial cavity."""
    labels, n = ndimage.label(~closed)
    if n == 0:
        return None, 0
    open_ = np.zeros(n + 1, bool)
    for axis in range(3):
        for index in (0, -1):
            open_[np.unique(np.take(labels, index, axis=axis))] = True
    if outside is not None:
        open_[:] = False
        open_[np.unique(labels[outside])] = True
    if tissue is None:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
    else:
        sizes = np.bincount(labels[tissue], minlength=n + 1)
    sizes[open_] = 0
    sizes[0] = 0
    enclosed = int(sizes.sum()) + int(closed.sum())
    k = int(sizes.argmax())
    if sizes[k] == 0:
        return None, enclosed
    return labels == k, enclosed


def _coarsen(mask, factor):
    trimmed = mask[tuple(slice(0, (n // f) * f) for n, f in zip(mask.shape, factor))]
    shape = [v for n, f in zip(trimmed.shape, factor) for v in (n // f, f)]
    return trimmed.reshape(shape).any(axis=(1, 3, 5))


def _padded(skull, body, h, radius_mm, air=None):
    """Skull and outside-air masks padded by the closing radius. Edge padding: where the scan
    crops the head (tight fields of view), the anatomy is continued straight out of the field of
    view, so a cavity cut by the border can still be sealed."""
    pad = [(n, n) for n in (int(np.ceil(radius_mm / s)) + 2 for s in h)]
    skull_p = np.pad(skull, pad, mode="edge")
    outside = None if body is None else ~np.pad(body, pad, mode="edge")
    tissue = None if air is None else ~np.pad(air, pad, mode="edge")
    return skull_p, outside, tissue, pad


def _search_seal_radius(skull, body, air, h, max_radius_mm):
    """Sealing radius with the largest enclosed cavity (coarse grid), or None; a generator that
    yields ``(0, message)`` before each radius tried and returns it."""
    factor = np.maximum(1, np.floor(_SEARCH_VOXEL_MM / h).astype(int))
    if np.any(factor > 1):
        skull = _coarsen(skull, factor)
        # coarse body: a coarse voxel is outside only when all its fine voxels are
        body = None if body is None else ~_coarsen(~body, factor)
        air = None if air is None else ~_coarsen(~air, factor)
    hc = h * factor
    skull_p, outside, tissue, _ = _padded(skull, body, hc, max_radius_mm, air)
    min_voxels = MIN_CAVITY_FRACTION * _box_voxels(skull)
    best, best_radius = 0, None
    for radius in np.arange(1.0, max_radius_mm + 1e-9, 0.5):
        yield 0.0, f"searching the sealing radius: {radius:g} mm (0.35 mm grid)"
        cavity, _ = _largest_enclosed(close_mm(skull_p, radius, hc), outside, tissue)
        volume = 0 if cavity is None else int(np.count_nonzero(cavity & tissue) if tissue is not None
                                              else cavity.sum())
        if volume > best:
            best, best_radius = volume, float(radius)
        elif best >= min_voxels and volume < 0.7 * best:
            break  # past the sealing radius the closing fills the cavity in
    if best < min_voxels:
        return None
    return best_radius


def _coarse_sealing(skull, body, air, h, radius_mm):
    """The closed skull and the cavity at ``radius_mm`` on the search grid (as in
    :func:`_search_seal_radius`), brought back to full resolution; None when nothing seals."""
    factor = np.maximum(1, np.floor(_SEARCH_VOXEL_MM / h).astype(int))
    if not np.any(factor > 1):
        return None
    skull_c = _coarsen(skull, factor)
    body_c = None if body is None else ~_coarsen(~body, factor)
    air_c = None if air is None else ~_coarsen(~air, factor)
    hc = h * factor
    skull_p, outside, tissue, pad = _padded(skull_c, body_c, hc, radius_mm, air_c)
    closed = close_mm(skull_p, radius_mm, hc)
    seed, _ = _largest_enclosed(closed, outside, tissue)
    if seed is None:
        return None
    crop = tuple(slice(p[0], p[0] + n) for p, n in zip(pad, skull_c.shape))

    def upsample(mask):
        full = np.zeros(skull.shape, bool)
        up = mask[crop]
        for axis, f in enumerate(factor):
            up = np.repeat(up, f, axis=axis)
        full[tuple(slice(0, n) for n in up.shape)] = up
        return full

    return upsample(closed) | skull, upsample(seed) & ~skull


def enclosed_on_every_axis(bone: np.ndarray) -> np.ndarray:
    """Voxels with ``bone`` on both sides along each of the three array axes (rays in +-x, +-y and
    +-z all meet bone; O(N) by cumulative maxima). Inside a closed braincase and its narrow
    chambers; not in an opening's plug or beyond the opening, where a ray leaves the skull."""
    bone = np.asarray(bone, dtype=bool)
    inside = np.ones(bone.shape, bool)
    for axis in range(3):
        before = np.maximum.accumulate(bone, axis=axis)
        after = np.flip(np.maximum.accumulate(np.flip(bone, axis), axis=axis), axis)
        inside &= before & after
    return inside


def _box_voxels(mask) -> float:
    """Number of voxels of the mask's bounding box."""
    return float(np.prod([np.ptp(np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != k)))) + 1
                          for k in range(3)]))


def default_max_seal_radius_mm(skull, voxel_size_mm) -> float:
    """A species-independent bound for the sealing search: 30 % of the smallest extent of the
    skull's bounding box, between 2 and 8 mm (about 3 mm for a mouse, 6 mm for a rat)."""
    h = np.broadcast_to(np.asarray(voxel_size_mm, dtype=float), (3,))
    extents = [(np.ptp(np.flatnonzero(skull.any(axis=tuple(a for a in range(3) if a != k)))) + 1) * h[k]
               for k in range(3)]
    return float(np.clip(0.3 * min(extents), 2.0, 8.0))


def suggest_brain(skull, voxel_size_mm, *, body=None, air=None, seal_radius_mm: float | None = None,
                  max_seal_radius_mm: float | None = None, margin_mm: float = 0.0,
                  search_grid_sealing: bool = True,
                  corner_recovery: float = CORNER_RECOVERY,
                  recover_enclosed: bool = True) -> BrainSuggestion:
    """Fill the cranial cavity of ``skull`` (boolean mask, without the spine) as a brain
    suggestion; see the module docstring. ``body`` limits it to the body, ``air`` (e.g.
    ``data < air_soft``) removes air voxels. Raises :class:`SegmentationError` when no sealing
    radius up to ``max_seal_radius_mm`` encloses a cavity. ``recover_enclosed``: also take back
    the narrow parts of the cavity enclosed by bone on every axis (module docstring). The
    blocking form of :func:`iter_suggest_brain`."""
    steps = iter_suggest_brain(skull, voxel_size_mm, body=body, air=air, seal_radius_mm=seal_radius_mm,
                               max_seal_radius_mm=max_seal_radius_mm, margin_mm=margin_mm,
                               search_grid_sealing=search_grid_sealing, corner_recovery=corner_recovery,
                               recover_enclosed=recover_enclosed)
    return run_to_completion(steps)


def iter_suggest_brain(skull, voxel_size_mm, *, body=None, air=None, seal_radius_mm: float | None = None,
                       max_seal_radius_mm: float | None = None, margin_mm: float = 0.0,
                       search_grid_sealing: bool = True, corner_recovery: float = CORNER_RECOVERY,
                       recover_enclosed: bool = True):
    """:func:`suggest_brain` as a generator: yields ``(0, message)`` before each closing tried and
    each later phase (at the seed's 0.17 mm the whole took ~30 s without a report, so a Cancel
    waited for it: BENCHMARKS.md "How soon Cancel takes effect"), returns the
    :class:`BrainSuggestion`; closing it stops between two phases."""
    skull = np.asarray(skull, dtype=bool)
    h = np.broadcast_to(np.asarray(voxel_size_mm, dtype=float), (3,))
    if not skull.any():
        raise SegmentationError("No skull to find the cranial cavity in: segment the skull first.")
    if body is not None:
        body = np.asarray(body, dtype=bool)
    if air is not None:
        air = np.asarray(air, dtype=bool)
    searched = seal_radius_mm is None
    sealed_on = "full resolution"
    if searched:
        if max_seal_radius_mm is None:
            max_seal_radius_mm = default_max_seal_radius_mm(skull, h)
        seal_radius_mm = yield from _search_seal_radius(skull, body, air, h, max_seal_radius_mm)
        if seal_radius_mm is None:
            raise SegmentationError(
                f"Closing the skull's openings with balls up to {max_seal_radius_mm:g} mm did not "
                "enclose a cranial cavity: the skull may be incomplete (cropped field of view, "
                "bone threshold too high) or the openings larger than expected. Paint the brain "
                "by hand, or give a larger sealing radius."
            )
        # The coarse grid may seal a little early; at full resolution go up by 0.5 mm steps
        # until the cavity is there.
        radii = np.arange(seal_radius_mm, max(max_seal_radius_mm, seal_radius_mm) + 1e-9, 0.5)
    else:
        radii = [float(seal_radius_mm)]
    min_voxels = MIN_CAVITY_FRACTION * _box_voxels(skull)
    for seal_radius_mm in radii:
        yield 0.0, f"closing the skull with a {seal_radius_mm:g} mm ball (full resolution)"
        skull_p, outside, tissue, pad = _padded(skull, body, h, seal_radius_mm, air)
        closed = close_mm(skull_p, seal_radius_mm, h)
        seed, _ = _largest_enclosed(closed, outside, tissue)
        if seed is not None and np.count_nonzero(seed if tissue is None else seed & tissue) >= min_voxels:
            break
    else:
        coarse = None if not (searched and search_grid_sealing) else _coarse_sealing(skull, body, air, h, float(radii[0]))
        if coarse is None:
            raise SegmentationError(
                f"Closing the skull with a {seal_radius_mm:g} mm ball encloses no cranial cavity; "
                "increase the sealing radius or paint the brain by hand."
            )
        # Faint or thin bone full of pinholes at full resolution: the sealing found on the search
        # grid (where a pinhole narrower than a coarse voxel is closed) is used instead.
        seal_radius_mm = float(radii[0])
        sealed_on = "search grid"
        closed, seed = coarse
        skull_p, pad = skull, [(0, 0)] * 3
        tissue = None if air is None else ~air
    # The closing also filled the cavity's corners within the radius of the bone: take them
    # back (within the sealed solid, off the bone).
    yield 0.0, "taking back the cavity's corners"
    sealed = closed | seed
    cavity = dilate_mm(seed, corner_recovery * seal_radius_mm, h) & sealed & ~skull_p
    if recover_enclosed:
        free = sealed & ~skull_p & enclosed_on_every_axis(skull_p)
        if tissue is not None:
            free &= tissue
        labels, _ = ndimage.label(free)          # face connectivity: never across bone
        reached = np.unique(labels[seed & free])
        cavity |= np.isin(labels, reached[reached > 0])
        del labels, free
    del closed, sealed, seed, skull_p, outside, tissue
    cavity = cavity[tuple(slice(p[0], p[0] + n) for p, n in zip(pad, skull.shape))]
    yield 0.0, "the cavity's largest part, its holes filled"
    if body is not None:
        cavity &= body
    if air is not None:
        cavity &= ~air
    if margin_mm > 0:
        cavity &= ~dilate_mm(skull, margin_mm, h)
    cavity = largest_component(cavity, connectivity=1)
    cavity = fill_cavities(cavity) & ~skull
    return BrainSuggestion(mask=cavity, seal_radius_mm=float(seal_radius_mm),
                           volume_mm3=float(cavity.sum() * np.prod(h)), sealed_on=sealed_on)


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
