"""A first guess of bregma, lambda and a midline point from the segmented skull alone.

:func:`suggest_landmarks` gives the user somewhere to start: the points must be checked on the
skull (bregma where the coronal suture meets the sagittal suture, lambda where the lambdoid
suture meets it) and moved before they define the stereotaxic frame
(:func:`~napari_rat_tms.core.placement.stereotaxic.frame_from_landmarks`). The result says so
in its :attr:`LandmarkSuggestion.note`.

Method (all positions in the volume frame, mm; nothing about the scan's orientation is assumed)
    1. *Mid-sagittal plane*: the plane of mirror symmetry of the skull. Starting from planes
       through the skull's centroid containing its longest principal axis (every 15 degrees),
       the plane's normal and offset are refined (Powell) to minimise the mean distance
       (capped at 4 % of the skull's length, so that asymmetric parts and the field of view's
       cut do not dominate) between the skull surface mirrored in the plane and the surface
       itself. Surface voxels on the border of the volume (cut by the field of view) and mirrored
       points falling outside the volume are left out.
    2. *Axes*: the longest principal axis projected into that plane is the anteroposterior line,
       the in-plane perpendicular the dorsoventral one. The braincase is the largest region
       enclosed by bone along all three of these axes. Dorsal is the side of the braincase with
       less bone (the thin vault, against the skull base, palate and teeth or mandible below);
       anterior is the side away from the braincase (the snout), and the narrower end of the
       skull; eye centres, when given, decide it.
    3. *Bregma and lambda* lie on the dorsal surface of the skull in the mid-sagittal plane
       (the highest bone within 0.6 mm of the plane, which bridges the gap of the sagittal
       suture), at ``c + 0.188 l`` and ``c - 0.166 l`` along the anteroposterior axis, where
       ``c`` is the braincase's centroid and ``l`` its length (2nd to 98th percentile), after a
       closing of the mask by a ball of 4 % of the skull's length (1 mm in a mouse, as the
       segmentation's skull has had) so that thin, unsegmented parts of the vault do not open
       the braincase. The fractions are the means over the 8 mouse scans below (``(bregma -
       c)/l`` ranged 0.10-0.29, ``(c - lambda)/l`` 0.08-0.25). In units of the braincase's
       length they make bregma-lambda ``0.35 l``, about 4 mm in a mouse.
    4. *Midline point*: the dorsal surface in the mid-sagittal plane 85 % of the way from bregma
       to the skull's anterior end (the nasal bones), moved further forward if it lies less
       than 1.5 mm from the bregma-lambda line (the braincase's centre, in the plane, if none
       does).

Accuracy
    Measured against the landmarks of Maga et al. (2017) (``13`` bregma, ``16`` lambda, ``1``
    nasale; see :data:`napari_rat_tms.core.io.markups.MAGA_2017_LANDMARKS`, and the 17 bilateral
    landmark pairs for the symmetry plane) on the 8 mouse µCT scans of ``shared/data/mouse-ct``
    (0.14 mm voxels; skull masks from :func:`napari_rat_tms.core.segmentation.segment` with its
    defaults), distances in mm:

    ==============  ======  ======  ========  =======  ========
    scan            bregma  lambda  midline 1 plane 2  frame 3
    ==============  ======  ======  ========  =======  ========
    C57BL/6J         1.05    0.98    0.04      0.7      6.5
    BALB/cJ          0.73    0.72    0.11      2.4     12.8
    DBA/2J           0.05    0.45    0.05      0.5      3.4
    A/J              0.79    0.16    0.08      0.6      4.1
    NZW/LacJ         0.32    0.16    0.01      0.2      3.2
    CAF1/J           0.58    0.17    0.06      0.5      8.1
    MOLG/DnJ 4       1.01    0.89    0.10      1.2      3.7
    C3H/HeJ          0.45    0.31    0.06      0.6      1.3
    median           0.66    0.38    0.06      0.6      3.9
    max              1.05    0.98    0.11      2.4     12.8
    ==============  ======  ======  ========  =======  ========

    (1) distance of the suggested midline point from the symmetry plane of the bilateral
    landmark pairs; (2) angle (degrees) between that plane and the suggested one;
    (3) angle (degrees) between the stereotaxic frames that
    :func:`~napari_rat_tms.core.placement.stereotaxic.frame_from_landmarks` makes from the
    suggestion and from the reference bregma, lambda and nasale: mostly the reference's own
    scatter, since 0.2 mm of lateral difference between bregma and lambda turn the
    bregma-lambda line by 3 degrees and, nasale being only about 20 degrees off that line seen
    from bregma, roll the frame by about 10 (BALB/cJ). (4) the repository's MOLG/DnJ
    landmark file does not match its scan; its landmarks were placed on the scan by a rigid fit
    to the bone (0.07 mm rms).

    The error is almost all along the anteroposterior axis (lateral <= 0.23 mm, dorsoventral
    <= 0.3 mm): where the sutures lie relative to the braincase varies between strains by about
    +-1 mm, which only the sutures themselves can resolve. The fractions were fitted on these
    scans; leaving each scan out of the fit, the anteroposterior errors reach 1.2 mm (bregma)
    and 1.0 mm (lambda). The suggestion hardly depends on the segmentation's bone threshold
    (19 to 30 on three of these uint8 scans: changes <= 0.2 mm); on a plain threshold of the
    bone without the segmentation's closing it is 0.4-1.5 mm off. On the synthetic rat
    (0.34 mm voxels) bregma comes out 0.6 mm and lambda 2.7 mm (2.4 mm too far forward) from
    the truth: its braincase is proportioned unlike a mouse's (lambda 0.29 braincase lengths
    behind the centroid, against 0.08-0.25 in the mice; bregma 0.16 in front, within the mice's
    range); no real rat scan was at hand to tell which is closer to a rat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.optimize import minimize

from ..volume import check_voxel_size_mm
from .stereotaxic import LandmarkError

__all__ = ["LandmarkSuggestion", "LandmarkSuggestionError", "suggest_landmarks",
           "BREGMA_FRACTION", "LAMBDA_FRACTION", "SUGGESTION_NOTE"]

#: Bregma lies this fraction of the braincase's length anterior of its centroid (mouse mean).
BREGMA_FRACTION = 0.188
#: Lambda lies this fraction of the braincase's length posterior of its centroid (mouse mean).
LAMBDA_FRACTION = 0.166
#: Said by every suggestion.
SUGGESTION_NOTE = (
    "Suggested from the shape of the skull only (its symmetry plane and the extent of the "
    "braincase), not from the sutures: on 8 mouse µCT scans bregma came out up to 1.05 mm "
    "(median 0.66 mm) and lambda up to 0.98 mm (median 0.38 mm) from where they are, mostly "
    "too far anterior or posterior. Check each point on the skull and move it: bregma where "
    "the coronal suture meets the sagittal suture, lambda where the lambdoid suture meets it.")

_MAX_WORKING_VOXELS = 200  # per axis: larger masks are reduced by blocks for speed
_SYMMETRY_CAP_FRACTION = 0.04  # of the skull's length
_SYMMETRY_POINTS = 8000  # surface points mirrored
_CLOSING_FRACTION = 0.04  # of the skull's length (1 mm in a mouse)
_SLAB_MM = 0.6  # half width of the mid-sagittal slab whose highest bone is the dorsal surface
_MIDLINE_FRACTION = 0.85
_MIN_MIDLINE_OFFSET_MM = 1.5
_MIN_SKULL_VOXELS = 1000


class LandmarkSuggestionError(LandmarkError):
    """No landmarks can be suggested: the mask is not a whole cranium (empty, tiny, no braincase)."""


@dataclass(frozen=True, eq=False)
class LandmarkSuggestion:
    """Suggested landmarks and the axes they came from (volume frame, mm; unit vectors).

    bregma_mm, lambda_mm, midline_mm : (3,) points on the dorsal skull surface.
    right, anterior, dorsal : estimated anatomical axes (unit vectors, right-handed).
    plane_point_mm : a point of the estimated mid-sagittal plane (whose normal is ``right``).
    braincase_centre_mm : centroid of the braincase (a "head centre" for
        :func:`~napari_rat_tms.core.placement.stereotaxic.frame_from_landmarks`).
    symmetry_residual_mm : mean distance between the mirrored and the real skull surface
        (capped); a few tenths of a mm for a whole skull.
    note : what this is and that it must be checked (:data:`SUGGESTION_NOTE`).
    warnings : anything that makes this suggestion less trustworthy than usual.
    """

    bregma_mm: np.ndarray
    lambda_mm: np.ndarray
    midline_mm: np.ndarray
    right: np.ndarray
    anterior: np.ndarray
    dorsal: np.ndarray
    plane_point_mm: np.ndarray
    braincase_centre_mm: np.ndarray
    symmetry_residual_mm: float
    note: str = SUGGESTION_NOTE
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        for name in ("bregma_mm", "lambda_mm", "midline_mm", "right", "anterior", "dorsal",
                     "plane_point_mm", "braincase_centre_mm"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=float).reshape(3))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    @property
    def landmarks_mm(self) -> dict[str, np.ndarray]:
        """``{"bregma": ..., "lambda": ..., "midline": ...}`` (volume frame, mm)."""
        return {"bregma": self.bregma_mm.copy(), "lambda": self.lambda_mm.copy(),
                "midline": self.midline_mm.copy()}

    def describe(self) -> str:
        """One paragraph for the GUI: the note, then the warnings."""
        return " ".join([self.note, *self.warnings])


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _working_mask(mask: np.ndarray, voxel: np.ndarray):
    """Crop ``mask`` to its bounding box and reduce it by blocks (any voxel set) so that no axis
    exceeds _MAX_WORKING_VOXELS. Returns (mask, spacing, origin_mm, volume_lo_mm, volume_hi_mm,
    at_border): the working voxel ``i`` is at ``origin_mm + i * spacing`` in the volume frame;
    the original volume spans [volume_lo_mm, volume_hi_mm] in the working frame; ``at_border``
    marks working voxels on the volume's faces."""
    nz = np.nonzero(mask.any(axis=(1, 2)))[0], np.nonzero(mask.any(axis=(0, 2)))[0], \
        np.nonzero(mask.any(axis=(0, 1)))[0]
    lo = np.array([a[0] for a in nz])
    hi = np.array([a[-1] + 1 for a in nz])
    crop = mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    k = max(1, int(np.ceil(max(crop.shape) / _MAX_WORKING_VOXELS)))
    if k > 1:
        pad = [(0, (-n) % k) for n in crop.shape]
        crop = np.pad(crop, pad)
        n0, n1, n2 = (n // k for n in crop.shape)
        crop = crop.reshape(n0, k, n1, k, n2, k).any(axis=(1, 3, 5))
    spacing = voxel * k
    origin = (lo + (k - 1) / 2.0) * voxel
    volume_lo = -0.5 * voxel - origin  # the volume's edges relative to the working origin
    volume_hi = (np.asarray(mask.shape) - 0.5) * voxel - origin
    # working voxels made of original voxels on the volume's faces (cut by the field of view)
    at_border = np.zeros(crop.shape, bool)
    for axis in range(3):
        first = lo[axis] + k * np.arange(crop.shape[axis])
        edge = (first == 0) | (first + k - 1 >= mask.shape[axis] - 1)
        shape = [1, 1, 1]
        shape[axis] = -1
        at_border |= edge.reshape(shape)
    return crop, spacing, origin, volume_lo, volume_hi, at_border


def _surface(mask: np.ndarray) -> np.ndarray:
    surface = mask & ~ndimage.binary_erosion(mask)
    return surface


def _symmetry_plane(mask, spacing, volume_lo, volume_hi, at_border):
    """Mirror-symmetry plane of ``mask`` (working frame): (normal, point, residual_mm, e1)."""
    from ..segmentation.morphology import distance_to

    surface = _surface(mask)
    points = np.argwhere(surface & ~at_border) * spacing
    distance = distance_to(surface, spacing)
    rng = np.random.default_rng(0)
    if len(points) > _SYMMETRY_POINTS:
        points = points[rng.choice(len(points), _SYMMETRY_POINTS, replace=False)]
    skull_points = np.argwhere(mask) * spacing
    if len(skull_points) > 200000:
        skull_points = skull_points[rng.choice(len(skull_points), 200000, replace=False)]
    centre = skull_points.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov((skull_points - centre).T))
    e1, e2, e3 = vectors[:, 2], vectors[:, 1], vectors[:, 0]
    length = float(np.ptp((skull_points - centre) @ e1))
    cap = _SYMMETRY_CAP_FRACTION * length
    grid_hi = (np.asarray(mask.shape) - 1) * spacing

    def normal_of(x):
        n = np.cos(x[0]) * e2 + np.sin(x[0]) * e3
        return _unit(np.cos(x[1]) * n + np.sin(x[1]) * e1)

    def cost(x):
        n = normal_of(x)
        d = (points - centre) @ n - x[2]
        mirrored = points - 2.0 * d[:, None] * n
        in_volume = np.all((mirrored >= volume_lo) & (mirrored <= volume_hi), axis=1)
        if in_volume.mean() < 0.5:
            return 10.0 * cap
        m = mirrored[in_volume]
        in_grid = np.all((m >= 0) & (m <= grid_hi), axis=1)
        values = np.full(len(m), cap)
        values[in_grid] = np.minimum(ndimage.map_coordinates(
            distance, (m[in_grid] / spacing).T, order=1), cap)
        return float(values.mean())

    starts = [np.array([a, 0.0, 0.0]) for a in np.radians(np.arange(0.0, 180.0, 15.0))]
    ranked = sorted(starts, key=cost)
    best = None
    for x0 in ranked[:2]:
        result = minimize(cost, x0, method="Powell", options={"xtol": 1e-3, "ftol": 1e-4})
        if best is None or result.fun < best.fun:
            best = result
    normal = normal_of(best.x)
    return normal, centre + best.x[2] * normal, float(best.fun), e1, length


def _resample(mask, spacing, origin, axes, bounds, h):
    """``mask`` (working frame) on the grid ``origin + i h axes[0] + j h axes[1] + k h axes[2]``
    over ``bounds`` (3 x (lo, hi) in mm): (grid mask, coordinate arrays)."""
    coords = [np.arange(np.floor(lo / h), np.ceil(hi / h) + 1) * h for lo, hi in bounds]
    grid = np.zeros([len(c) for c in coords], bool)
    # slab by slab along the first axis to bound the memory of the coordinate arrays
    b, c = np.meshgrid(coords[1], coords[2], indexing="ij")
    for i, a in enumerate(coords[0]):
        p = origin + a * axes[0] + b[..., None] * axes[1] + c[..., None] * axes[2]
        grid[i] = ndimage.map_coordinates(mask, (p / spacing).transpose(2, 0, 1), order=0,
                                          cval=0) > 0
    return grid, coords


def _enclosed(mask: np.ndarray) -> np.ndarray:
    """Voxels outside ``mask`` with ``mask`` on both sides along each of the three axes."""
    inside = ~mask
    for axis in range(3):
        before = np.maximum.accumulate(mask, axis=axis)
        after = np.flip(np.maximum.accumulate(np.flip(mask, axis), axis=axis), axis)
        inside &= before & after
    return inside


def suggest_landmarks(skull_mask, voxel_size_mm, eye_points_mm=None) -> LandmarkSuggestion:
    """Suggest bregma, lambda and a midline point from a segmented skull (see the module's
    docstring for the method and its measured errors: up to about 1 mm, along the
    anteroposterior axis, on mouse scans).

    Parameters
    ----------
    skull_mask : (n0, n1, n2) bool array
        The cranium (e.g. ``segment(...).skull``), on the scan's grid. A mandible attached to it
        does no harm; the vault and most of the braincase must be in the field of view.
    voxel_size_mm : float or 3 floats
        Voxel size along the array axes, mm.
    eye_points_mm : (K, 3) points, optional
        Eye centres (volume frame, mm): when given they decide which end is anterior.

    Returns
    -------
    LandmarkSuggestion
        Volume-frame points (mm) with a ``note`` saying that they must be checked.

    Raises :class:`LandmarkSuggestionError` when the mask is empty or too small, or has no
    braincase (a mask of something other than a whole cranium).
    """
    mask = np.asarray(skull_mask)
    if mask.ndim != 3:
        raise ValueError(f"skull_mask must be a 3D array, got shape {mask.shape}")
    mask = mask.astype(bool, copy=False)
    voxel = np.asarray(check_voxel_size_mm(voxel_size_mm), dtype=float)
    count = int(np.count_nonzero(mask))
    if count < _MIN_SKULL_VOXELS:
        raise LandmarkSuggestionError(
            f"The skull mask has {count} voxel(s): segment the skull first (at least "
            f"{_MIN_SKULL_VOXELS} voxels are needed to suggest landmarks).")
    warnings = []

    work, spacing, origin, vol_lo, vol_hi, at_border = _working_mask(mask, voxel)
    normal, plane_point, residual, e1, length = _symmetry_plane(work, spacing, vol_lo, vol_hi,
                                                                at_border)
    if residual > 0.5 * _SYMMETRY_CAP_FRACTION * length:
        warnings.append(f"The skull is far from mirror-symmetric (mean mismatch {residual:.2f} mm): "
                        "the mid-sagittal plane, and so all three points, may be wrong.")

    # oriented grid: axes (normal, u, w) through the plane point
    u = _unit(e1 - (e1 @ normal) * normal)
    w = np.cross(normal, u)
    axes = np.stack([normal, u, w])
    skull_points = np.argwhere(work) * spacing
    local = (skull_points - plane_point) @ axes.T
    h = float(spacing.min())
    bounds = [(lo - 2 * h, hi + 2 * h) for lo, hi in zip(local.min(axis=0), local.max(axis=0))]
    grid, coords = _resample(work.astype(np.uint8), spacing, plane_point, axes, bounds, h)

    from ..segmentation.morphology import close_mm, largest_component

    # a closing (as the segmentation's skull has had) seals thin, unsegmented parts of the vault
    # for the braincase; the surface is taken from the mask as it is
    closed = close_mm(grid, _CLOSING_FRACTION * length, h)
    braincase = largest_component(_enclosed(closed), connectivity=1)
    braincase_voxels = int(np.count_nonzero(braincase))
    if braincase_voxels * h**3 < 1e-3 * length**3:
        raise LandmarkSuggestionError(
            "No braincase found in the skull mask (no region enclosed by bone): it does not look "
            "like a whole cranium. Check the segmentation (bone threshold), or place the "
            "landmarks by hand.")
    cells = np.argwhere(braincase)
    case_n, case_u, case_w = (coords[i][cells[:, i]] for i in range(3))

    # dorsal: the side of the braincase with less bone (vault against base, palate, teeth)
    footprint = braincase.any(axis=2)
    k = np.arange(grid.shape[2])
    top = np.where(footprint, grid.shape[2] - 1 - np.argmax(braincase[:, :, ::-1], axis=2), -1)
    bottom = np.where(footprint, np.argmax(braincase, axis=2), grid.shape[2])
    bone_in_columns = closed & footprint[..., None]
    above = int(np.count_nonzero(bone_in_columns & (k > top[..., None])))
    below = int(np.count_nonzero(bone_in_columns & (k < bottom[..., None])))
    w_sign = 1.0 if above <= below else -1.0
    # and the braincase lies on the dorsal side of the skull's centroid (jaws and teeth below)
    cue_centroid = np.sign(np.mean(case_w) - np.mean(local[:, 2]))
    if cue_centroid != w_sign:
        warnings.append("Dorsal and ventral could not be told apart with confidence (the bone "
                        "around the braincase and its position in the skull disagree): check "
                        "that the points are on top of the skull.")

    # anterior: away from the braincase, towards the narrow end (snout); eyes decide if given
    skull_u = local[:, 1]
    cue_case = np.sign(np.mean(skull_u) - np.mean(case_u))
    q_lo, q_hi = np.percentile(skull_u, [10, 90])
    band = 0.03 * length

    def width(at):
        sel = np.abs(skull_u - at) < band
        return np.ptp(local[sel, 0]) if np.count_nonzero(sel) > 1 else 0.0

    cue_width = np.sign(width(q_lo) - width(q_hi))
    u_sign = cue_case if cue_case != 0 else 1.0
    if eye_points_mm is not None and len(np.atleast_2d(eye_points_mm)):
        eyes = np.atleast_2d(np.asarray(eye_points_mm, dtype=float)) - origin
        eye_u = float(np.mean((eyes - plane_point) @ u))
        eye_sign = np.sign(eye_u - np.mean(case_u))
        if eye_sign != 0:
            if eye_sign != u_sign:
                warnings.append("The eyes disagree with the skull's shape about which end is "
                                "anterior; the eyes were followed.")
            u_sign = eye_sign
    elif cue_width != 0 and cue_width != cue_case:
        warnings.append("The skull's shape is ambiguous about which end is anterior: check "
                        "that bregma is anterior of lambda (give the eye centres to settle it).")

    anterior = u_sign * u
    dorsal = w_sign * w
    right = np.cross(anterior, dorsal)  # right-handed (x right, y anterior, z dorsal)

    # dorsal surface along the mid-sagittal slab, as a function of the anteroposterior position
    slab = np.abs(coords[0]) <= max(_SLAB_MM, 1.5 * h)
    columns = grid[slab].any(axis=0)  # (u, w)
    w_values = coords[2] * w_sign
    has_bone = columns.any(axis=1)
    if w_sign > 0:
        top_index = grid.shape[2] - 1 - np.argmax(columns[:, ::-1], axis=1)
    else:
        top_index = np.argmax(columns, axis=1)
    dorsal_height = np.where(has_bone, w_values[top_index], np.nan)
    ap_values = coords[1] * u_sign

    def surface_point(ap):
        near = np.abs(ap_values - ap) <= max(0.25, h)
        heights = dorsal_height[near]
        heights = heights[np.isfinite(heights)]
        if heights.size == 0:
            return None
        local_point = np.array([0.0, ap, float(np.median(heights))])
        return plane_point + origin + local_point @ np.stack([right, anterior, dorsal])

    case_ap = case_u * u_sign
    centre_ap = float(np.mean(case_ap))
    p2, p98 = np.percentile(case_ap, [2, 98])
    case_length = float(p98 - p2)
    bregma_ap = centre_ap + BREGMA_FRACTION * case_length
    lambda_ap = centre_ap - LAMBDA_FRACTION * case_length
    bregma = surface_point(bregma_ap)
    lam = surface_point(lambda_ap)
    if bregma is None or lam is None:
        raise LandmarkSuggestionError(
            "The skull mask has no bone above the braincase where bregma or lambda should be "
            "(vault missing, e.g. bone threshold too high for a thin vault): fix the "
            "segmentation, or place the landmarks by hand.")

    # midline point: on the dorsal midline towards the snout, away from the bregma-lambda line
    front_ap = float(np.max(ap_values[has_bone]))
    ap_axis = _unit(bregma - lam)
    midline = None
    for fraction in (_MIDLINE_FRACTION, 0.9, 0.95):
        candidate = surface_point(bregma_ap + fraction * (front_ap - bregma_ap))
        if candidate is None:
            continue
        offset = candidate - bregma
        if np.linalg.norm(offset - (offset @ ap_axis) * ap_axis) >= _MIN_MIDLINE_OFFSET_MM:
            midline = candidate
            break
    case_centre = plane_point + origin + np.array(
        [np.mean(case_n), np.mean(case_u), np.mean(case_w)]) @ axes
    if midline is None:
        # the braincase centre, put into the mid-sagittal plane, is well below the line
        midline = case_centre - ((case_centre - origin - plane_point) @ normal) * normal
        warnings.append("No point of the dorsal midline anterior of bregma is far enough from "
                        "the bregma-lambda line: the midline point is the braincase's centre "
                        "(in the mid-sagittal plane).")
    return LandmarkSuggestion(
        bregma_mm=bregma, lambda_mm=lam, midline_mm=midline, right=right, anterior=anterior,
        dorsal=dorsal, plane_point_mm=plane_point + origin, braincase_centre_mm=case_centre,
        symmetry_residual_mm=residual, warnings=tuple(warnings))
