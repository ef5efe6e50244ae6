"""Eye centres found automatically: a suggestion for the two clicks :func:`.eyes.segment_eye` needs.

On the mouse scans (0.14 mm) the eye has almost no contrast to the tissue around it (intensity
profiles around its centre are flat within 1 unit of about 10) and is not uniform inside
(slightly brighter lens), so the centres are looked for mainly by shape, where the eye sits: a
globe of soft tissue wedged between the orbit's bone (medial) and the body surface (lateral),
one on each side of the skull's mid-sagittal plane.

1. Working grid: the volume is block-averaged to voxels of about a quarter of the smallest eye
   radius (0.28 mm on a 0.14 mm mouse scan, 0.68 mm on the 0.34 mm synthetic rat).
   Soft tissue = body, not bone, not internal air (3x3x3 median of the block means at or above
   the air/soft-tissue threshold).
2. Candidates: local maxima of the distance from soft tissue to anything else (air or bone),
   i.e. centres of the largest balls of soft tissue, between 0.5 x the smallest and 1.6 x the
   largest eye radius, with the body surface within 2.5 radii.
3. Each candidate casts 96 rays (2.5 eye radii long) and records what ends each ray in soft
   tissue: air, bone, the edge of the field of view, or nothing (the ray stays in tissue). An
   eye is enclosed (nearly every ray ends in air or bone), sandwiched (a third of the rays or
   more each in air and in bone), round (the ends lie at nearly the same distance) and about
   the eye's radius from both. The candidate's shape score is the geometric mean of those four
   factors (0-1). It is multiplied by 0.8-1 for the intensity contrast between a ball of 0.6
   radii and the shell from 1.1 to 1.8 radii (in noise standard deviations, either sign; away
   from the partial volume of air and bone): the synthetic rat's vitreous is 35 HU darker than
   tissue, which sets its eyes apart from its cheeks (a socket of muscle of the same shape
   7 mm lower), while on the mouse the tissue around the eyes is as contrasted as the eyes.
   With shape alone the mouse eyes rank among the 3 best candidates on all 8 scans, the rat's
   among the 8 best; with the contrast, the two eyes are the two best candidates on 14 of the
   15 scans tried (8 mouse, 7 synthetic rats), third and first on the 15th.
4. Mid-sagittal plane: the plane whose mirror image of the bone falls best on the bone
   (fraction of bone voxels mapped into the bone dilated by one working voxel), searched over
   600 directions and offsets, then refined. Tight fields of view cut the head asymmetrically,
   so reflections that leave the field of view are not counted.
5. Pair: two candidates on opposite sides of the plane, 2 x smallest to 4 x largest eye
   diameter apart, their midpoint near the plane (sigma 0.3 radii; measured within 0.3 mm on
   the mouse scans), the second near the first's mirror image within the plane (sigma 1 radius:
   the eyes are not placed exactly symmetrically, up to 6 degrees of tilt measured), of similar
   size. The pair with the highest product of the two candidate scores and these factors wins.
6. Each centre is refined at full resolution: the centroid of the voxels where the distance
   to non-soft tissue is within one voxel of its local maximum.

Measured (synthetic rat at 0.34 mm, noise seeds 0-4 and two tilted heads): within 0.26 mm of
the true centres; at 0.17 mm, 0.25 mm. On the 8 mouse scans the points lie in the orbits (checked
on slices in the skull's frame). 2-3 s on a mouse scan, 4-7 s on the rat (0.34 or 0.17 mm).

It is a suggestion: the result says how sure it is and the user corrects it with a click.
:func:`check_eye_size` reports eyes whose volume is not that of a species' eye.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .histogram import SegmentationError
from .morphology import ball_mask, dilate_mm, distance_to

__all__ = ["EyeSuggestion", "suggest_eye_centres", "estimate_midsagittal_plane", "check_eye_size",
           "equivalent_diameter_mm", "soft_tissue_ball", "RAT_EYE_DIAMETER_MM", "MOUSE_EYE_DIAMETER_MM"]

RAT_EYE_DIAMETER_MM = (5.5, 6.5)
MOUSE_EYE_DIAMETER_MM = (3.0, 3.6)

_RAYS = 96
_RAY_LENGTH_RADII = 2.5  # of the largest eye radius
_MIN_SCORE = 0.2  # of the pair: below it nothing is suggested


@dataclass(frozen=True, eq=False)
class EyeSuggestion:
    """Two suggested eye centres and how sure the suggestion is.

    centres_mm : (2, 3) volume frame, mm (array index x voxel size). The first lies on the
        negative side of the mid-sagittal plane's normal; which is the animal's left is not
        decided here.
    scores : per eye, 0-1: how eye-like the place is (enclosed between the body surface and
        bone, round, of the eye's size) times how well the pair fits the mirror symmetry.
    radii_mm : per eye, radius of the largest ball of soft tissue at the centre (distance to
        air or bone); about the eye's radius.
    pair_score : 0-1, the pair's score (the product of the eye-likeness and symmetry factors).
    runner_up_score : the best pair elsewhere (at least one of its places more than an eye
        radius from both centres; 0 if none): close to ``pair_score`` means the choice was
        ambiguous.
    midline_normal, midline_offset_mm : mid-sagittal plane ``x . normal = offset`` (mm).
    midline_symmetry : fraction of the bone that the plane maps onto bone (about 0.8-0.95 on
        the scans tried; a low value means the plane, and the pairing, are unreliable).
    candidates : number of places examined.
    note : what the user should do with it.
    """

    centres_mm: np.ndarray
    scores: tuple[float, float]
    radii_mm: tuple[float, float]
    pair_score: float
    runner_up_score: float
    midline_normal: np.ndarray
    midline_offset_mm: float
    midline_symmetry: float
    candidates: int
    note: str

    @property
    def confident(self) -> bool:
        """Both eyes scored at least 0.5 and the runner-up pair is clearly worse."""
        return min(self.scores) >= 0.5 and self.runner_up_score < 0.9 * self.pair_score


def suggest_eye_centres(data, voxel_size_mm, *, body, bone, eye_diameter_mm: tuple[float, float],
                        tissue_range=None, min_score: float = _MIN_SCORE) -> EyeSuggestion:
    """Suggest both eye centres (volume frame, mm) of a rodent head scan; see the module
    docstring for the method.

    data : 3D intensities (HU or any units); voxel_size_mm : spacing per array axis (mm).
    body, bone : boolean masks of the same shape (e.g. ``Segmentation.body`` and
        ``Segmentation.skull_and_spine``).
    eye_diameter_mm : (smallest, largest) plausible eye diameter of the species, mm:
        :data:`RAT_EYE_DIAMETER_MM` (5.5, 6.5) or :data:`MOUSE_EYE_DIAMETER_MM` (3.0, 3.6).
    tissue_range : (air/soft, bone) thresholds of the scan, or a :class:`.Thresholds`; only the
        air/soft one is used (voxels of the body below it are internal air: nasal cavity,
        airway). None: halfway between the median intensity outside the body and that of the
        soft tissue.
    min_score : the best pair must score at least this (0-1), otherwise no suggestion.

    Raises :class:`SegmentationError` (asking to click the eyes) when there is no bone, or no
    pair of eye-like places symmetric about the skull's midline is found (an eye cut off by
    the field of view, a scan without the orbits...). Takes 2-7 s.
    """
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"data must be a 3D volume, got shape {data.shape}")
    h = np.broadcast_to(np.asarray(voxel_size_mm, dtype=float), (3,)).astype(float)
    if not (np.all(np.isfinite(h)) and np.all(h > 0)):
        raise ValueError(f"voxel_size_mm must be positive numbers (mm), got {voxel_size_mm!r}")
    body = _mask(body, data.shape, "body")
    bone = _mask(bone, data.shape, "bone")
    d_lo, d_hi = eye_diameter_range(eye_diameter_mm)
    r_lo, r_hi, radius = d_lo / 2.0, d_hi / 2.0, (d_lo + d_hi) / 4.0
    if not bone.any():
        raise SegmentationError(
            "No bone: the eyes are looked for in the orbits, beside the skull, so they cannot be "
            "suggested without it. Click the centre of each eye."
        )
    if not body.any():
        raise SegmentationError("The body mask is empty: no eyes to suggest. Click the eyes.")
    air_soft = _air_soft_threshold(data, body, bone, tissue_range)

    # 1. working grid
    factor = np.maximum(1, np.floor(r_lo / (4.0 * h))).astype(int)
    hw = h * factor
    mean = _block_mean(data, factor)
    wbody = _block_mean(body, factor) >= 0.5
    wbone = _block_mean(bone, factor) > 0
    # a 3x3x3 median before the threshold: noise alone must not punch holes in the tissue
    soft = wbody & ~wbone & (ndimage.median_filter(mean, size=3, mode="nearest") >= air_soft)
    if not soft.any():
        raise SegmentationError("No soft tissue in the body. Click the centre of each eye.")

    # 2. candidates: centres of the largest balls of soft tissue, near the body surface
    d_soft = distance_to(~soft, hw)
    d_air = distance_to(~wbody, hw)
    footprint = _ball(0.4 * radius, hw)
    peaks = ((d_soft == ndimage.maximum_filter(d_soft, footprint=footprint, mode="constant"))
             & (d_soft >= 0.5 * r_lo) & (d_soft <= 1.6 * r_hi) & (d_air <= 2.5 * r_hi))
    labels, n = ndimage.label(peaks)
    if n == 0:
        raise SegmentationError(
            f"No eye-like place found: no ball of soft tissue of about the eye's radius "
            f"({d_lo:g}-{d_hi:g} mm diameter) between the body surface and the bone. Check the "
            "eye diameter for the species, or click the centre of each eye."
        )
    centres = np.asarray(ndimage.center_of_mass(peaks, labels, np.arange(1, n + 1)), float)
    centres = centres.reshape(-1, 3)
    cidx = tuple(np.round(centres).astype(int).T)
    ball_r = d_soft[cidx].astype(float)

    # 3. rays
    feats = _ray_features(centres, soft, wbody, wbone, hw, _RAY_LENGTH_RADII * r_hi)
    contrast = _contrast(centres, mean, soft & (d_soft >= 2.0 * float(hw.max())), hw, radius)
    del mean
    cand_score = _candidate_scores(feats, ball_r, radius, contrast)
    shift = (factor - 1) / 2.0 * h  # a working voxel's centre is its block's centre
    mm = centres * hw + shift

    # 4. mid-sagittal plane
    normal, offset, symmetry = _midsagittal_plane_working(wbone, hw, max(radius / 3.0, float(hw.max())))
    offset += float(normal @ shift)

    # 5. pair
    order = np.argsort(-cand_score)[:40]
    best, runner_up = None, 0.0
    pairs = []
    for a_i in range(len(order)):
        for b_i in range(a_i + 1, len(order)):
            i, j = int(order[a_i]), int(order[b_i])
            s = _pair_score(mm[i], mm[j], ball_r[i], ball_r[j], normal, offset, radius, d_lo, d_hi)
            if s <= 0:
                continue
            total = float(cand_score[i] * cand_score[j] * s)
            pairs.append((total, i, j, s))
    pairs.sort(key=lambda p: -p[0])
    if pairs:
        best = pairs[0]
        chosen = mm[[best[1], best[2]]]
        others = [p[0] for p in pairs[1:]
                  if np.linalg.norm(chosen[:, None] - mm[[p[1], p[2]]][None], axis=-1).min(axis=0).max()
                  > radius]
        runner_up = float(others[0]) if others else 0.0
    if best is None or best[0] < min_score:
        found = f" (best pair score {best[0]:.2f} < {min_score:g})" if best is not None else ""
        raise SegmentationError(
            f"No pair of eyes found{found}: no two eye-like places (soft tissue of "
            f"{d_lo:g}-{d_hi:g} mm between the body surface and the orbit's bone) lie mirror-"
            "symmetric about the skull's midline. An eye may be cut off by the field of view, "
            "or the eye diameter may not fit the species. Click the centre of each eye."
        )
    total, i, j, sym = best
    if mm[i] @ normal > mm[j] @ normal:
        i, j = j, i

    # 6. refine at full resolution
    refined = [_refine(data, body, bone, air_soft, mm[k], h, r_hi) for k in (i, j)]
    points = np.array([p for p, _ in refined])
    radii = tuple(float(r) if r > 0 else float(ball_r[k]) for (_, r), k in zip(refined, (i, j)))
    scores = tuple(float(np.clip(cand_score[k] * np.sqrt(sym), 0.0, 1.0)) for k in (i, j))
    note = _note(points, scores, total, runner_up, symmetry)
    return EyeSuggestion(centres_mm=points, scores=scores, radii_mm=radii, pair_score=float(total),
                         runner_up_score=runner_up, midline_normal=normal, midline_offset_mm=offset,
                         midline_symmetry=symmetry, candidates=int(n), note=note)


def estimate_midsagittal_plane(bone, voxel_size_mm, *, working_voxel_mm: float = 0.3,
                               offset_step_mm: float = 0.5):
    """Mid-sagittal plane of the skull: ``(normal, offset_mm, symmetry)`` with the plane
    ``x . normal = offset`` (volume frame, mm) and ``symmetry`` the fraction of bone voxels
    whose mirror image falls on bone (within one working voxel). Searched on a grid of about
    ``working_voxel_mm`` (600 directions, offsets every ``offset_step_mm``), then refined."""
    bone = np.asarray(bone, dtype=bool)
    if bone.ndim != 3:
        raise ValueError(f"bone must be a 3D mask, got shape {bone.shape}")
    h = np.broadcast_to(np.asarray(voxel_size_mm, dtype=float), (3,)).astype(float)
    if not bone.any():
        raise SegmentationError("No bone: the mid-sagittal plane is found from the skull's symmetry.")
    factor = np.maximum(1, np.floor(working_voxel_mm / h + 1e-6)).astype(int)
    hw = h * factor
    normal, offset, symmetry = _midsagittal_plane_working(_block_mean(bone, factor) > 0, hw,
                                                          max(offset_step_mm, float(hw.max())))
    return normal, offset + float(normal @ ((factor - 1) / 2.0 * h)), symmetry


def equivalent_diameter_mm(eye, voxel_size_mm=None) -> float:
    """Diameter (mm) of the sphere with the eye's volume; ``eye`` is a volume in mm^3 or a
    boolean mask (then ``voxel_size_mm`` is needed)."""
    volume = _eye_volume_mm3(eye, voxel_size_mm)
    return float((6.0 * volume / np.pi) ** (1.0 / 3.0))


def check_eye_size(eye, voxel_size_mm, eye_diameter_mm: tuple[float, float], *,
                   name: str = "eye") -> list[str]:
    """Warnings (empty list: plausible) for an eye whose equivalent-sphere diameter lies
    outside ``eye_diameter_mm`` = (smallest, largest) of the species, mm.

    eye : the eye's volume in mm^3, or its boolean mask (``voxel_size_mm`` then gives the
        voxel volume; with a volume it may be None).
    """
    d_lo, d_hi = eye_diameter_range(eye_diameter_mm)
    volume = _eye_volume_mm3(eye, voxel_size_mm)
    if volume <= 0:
        return [f"The {name} is empty: nothing was extracted. Click its centre again or adjust "
                "the isolevel."]
    d = equivalent_diameter_mm(volume)
    if d < d_lo:
        return [f"The {name} is small: {volume:.3g} mm^3, the volume of a sphere of {d:.2f} mm "
                f"(expected {d_lo:g}-{d_hi:g} mm). Only part of the eye may have been extracted: "
                "check the point is at the eye's centre, or move the isolevel."]
    if d > d_hi:
        return [f"The {name} is large: {volume:.3g} mm^3, the volume of a sphere of {d:.2f} mm "
                f"(expected {d_lo:g}-{d_hi:g} mm). It may have leaked into the tissue around it: "
                "check the point and the isolevel, or increase the opening radius."]
    return []


# --------------------------------------------------------------------------- helpers


def eye_diameter_range(eye_diameter_mm) -> tuple[float, float]:
    """``(smallest, largest)`` eye diameter (mm) as two floats; :class:`ValueError` unless 0 < smallest <= largest."""
    try:
        lo, hi = (float(v) for v in eye_diameter_mm)
    except (TypeError, ValueError):
        raise ValueError(
            f"eye_diameter_mm must be (smallest, largest) in mm, got {eye_diameter_mm!r}"
        ) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"eye_diameter_mm must be 0 < smallest <= largest (mm), got {eye_diameter_mm!r}")
    return lo, hi


def _mask(mask, shape, name) -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"{name} has shape {m.shape}, the data {tuple(shape)}")
    return m.astype(bool, copy=False)


def _eye_volume_mm3(eye, voxel_size_mm) -> float:
    if np.ndim(eye) == 0:
        v = float(eye)
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(f"the eye volume must be a number >= 0 (mm^3), got {eye!r}")
        return v
    if voxel_size_mm is None:
        raise ValueError("voxel_size_mm is needed to measure an eye mask")
    h = np.broadcast_to(np.asarray(voxel_size_mm, dtype=float), (3,))
    return float(np.count_nonzero(np.asarray(eye)) * np.prod(h))


def _air_soft_threshold(data, body, bone, tissue_range) -> float:
    if tissue_range is not None:
        if hasattr(tissue_range, "air_soft"):  # a Thresholds
            return float(tissue_range.air_soft)
        return float(tuple(tissue_range)[0])
    step = max(1, int(round((data.size / 2e6) ** (1 / 3))))
    sub = (slice(None, None, step),) * 3
    d, b, o = data[sub], body[sub], bone[sub]
    tissue = d[b & ~o]
    air = d[~b]
    if tissue.size == 0:
        return float(np.min(data))
    t = float(np.median(tissue))
    a = float(np.median(air)) if air.size else float(np.min(data))
    return 0.5 * (a + t)


def _block_mean(a, factor) -> np.ndarray:
    """Mean over blocks of ``factor`` voxels (the array trimmed to whole blocks), slab by slab
    (no full-size float copy)."""
    f = tuple(int(v) for v in factor)
    n = [s // k for s, k in zip(a.shape, f)]
    out = np.empty(n, np.float32)
    for i in range(n[0]):
        slab = np.asarray(a[i * f[0]:(i + 1) * f[0], :n[1] * f[1], :n[2] * f[2]], dtype=np.float32)
        out[i] = slab.reshape(f[0], n[1], f[1], n[2], f[2]).mean(axis=(0, 2, 4))
    return out


def _ball(radius_mm, h) -> np.ndarray:
    r = np.maximum(1, np.ceil(radius_mm / np.asarray(h))).astype(int)
    g = np.ogrid[tuple(slice(-k, k + 1) for k in r)]
    return sum((gi * s) ** 2 for gi, s in zip(g, h)) <= radius_mm**2 + 1e-9


def _fibonacci_sphere(n) -> np.ndarray:
    k = np.arange(n) + 0.5
    phi = np.arccos(1.0 - 2.0 * k / n)
    theta = np.pi * (1.0 + 5.0**0.5) * k
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


def _ray_features(centres, soft, body, bone, hw, length_mm) -> dict:
    """For each candidate (working-grid index), what ends each of the rays: air, bone, the
    field of view's edge or nothing, and at what distance."""
    dirs = _fibonacci_sphere(_RAYS)
    step = float(hw.min()) / 2.0
    steps = np.arange(step, length_mm + step / 2, step)
    shape = np.asarray(soft.shape)
    out = {k: np.zeros(len(centres)) for k in ("air", "bone", "fov", "open", "cv")}
    for start in range(0, len(centres), 64):
        c = centres[start:start + 64]
        pts = c[:, None, None, :] + (dirs[None, :, None, :] * steps[None, None, :, None]) / hw
        idx = np.round(pts).astype(np.int64)
        inside = np.all((idx >= 0) & (idx < shape), axis=-1)
        idx = np.clip(idx, 0, shape - 1)
        flat = tuple(np.moveaxis(idx, -1, 0))
        s, o = soft[flat], bone[flat]
        event = ~s | ~inside
        hit = event.any(axis=-1)
        first = event.argmax(axis=-1)
        at = lambda arr: np.take_along_axis(arr, first[..., None], axis=-1)[..., 0]  # noqa: E731
        in_fov = at(inside)
        is_bone = at(o) & in_fov
        kind = np.where(~hit, 3, np.where(~in_fov, 2, np.where(is_bone, 1, 0)))
        dist = steps[first]
        for k, name in enumerate(("air", "bone", "fov", "open")):
            out[name][start:start + len(c)] = (kind == k).mean(axis=1)
        ended = kind <= 1
        for m in range(len(c)):
            dd = dist[m][ended[m]]
            out["cv"][start + m] = float(np.std(dd) / np.mean(dd)) if dd.size >= 3 else 1.0
    return out


def _candidate_scores(f, ball_r, radius, contrast) -> np.ndarray:
    """Eye-likeness 0-1: geometric mean of enclosure, sandwich, roundness and size factors,
    times 0.8-1 for the intensity contrast (1 from one noise standard deviation on, either
    sign: vitreous is darker than tissue on the rat, a mouse eye's lens slightly brighter). The
    contrast weighs little because tissue around the mouse eye is as contrasted as the eye."""
    enclosed = np.clip((f["air"] + f["bone"] - 0.6) / 0.35, 0.01, 1.0)
    sandwich = np.clip(np.minimum(f["air"], f["bone"]) / 0.35, 0.01, 1.0)
    round_ = np.clip((0.45 - f["cv"]) / 0.25, 0.01, 1.0)
    size = np.exp(-0.5 * ((ball_r / radius - 1.0) / 0.3) ** 2)
    shape = (enclosed * sandwich * round_ * size) ** 0.25
    return shape * (0.8 + 0.2 * np.clip(np.abs(contrast), 0.0, 1.0))


def _contrast(centres, mean, interior, hw, radius) -> np.ndarray:
    """Mean intensity within 0.6 eye radii of each candidate minus that of the shell from 1.1 to
    1.8 radii, both over ``interior`` soft tissue (away from the partial volume of air and
    bone), in units of the working grid's noise (robust standard deviation of the difference
    to the 3x3x3 mean)."""
    out = np.zeros(len(centres))
    if not interior.any():
        return out
    residual = (mean - ndimage.uniform_filter(mean, 3, mode="nearest"))[interior]
    noise = 1.4826 * float(np.median(np.abs(residual - np.median(residual)))) * np.sqrt(27.0 / 26.0)
    if not noise > 0:
        return out
    rr = np.ceil(1.8 * radius / hw).astype(int)
    g = np.ogrid[tuple(slice(-k, k + 1) for k in rr)]
    dist = np.sqrt(sum((gi * s) ** 2 for gi, s in zip(g, hw)))
    inner, shell = dist <= 0.6 * radius, (dist >= 1.1 * radius) & (dist <= 1.8 * radius)
    shape = np.asarray(mean.shape)
    for k, c in enumerate(np.round(centres).astype(int)):
        lo, hi = c - rr, c + rr + 1
        src = tuple(slice(max(a, 0), min(b, n)) for a, b, n in zip(lo, hi, shape))
        dst = tuple(slice(s.start - a, s.stop - a) for s, a in zip(src, lo))
        m, ok = mean[src], interior[src]
        a, b = m[inner[dst] & ok], m[shell[dst] & ok]
        if a.size >= 3 and b.size >= 3:
            out[k] = (float(a.mean()) - float(b.mean())) / noise
    return out


def _pair_score(a, b, ra, rb, normal, offset, radius, d_lo, d_hi) -> float:
    sa, sb = float(a @ normal - offset), float(b @ normal - offset)
    if sa * sb >= 0 or min(abs(sa), abs(sb)) < 0.5 * radius:
        return 0.0
    sep = float(np.linalg.norm(a - b))
    if not (2.0 * d_lo <= sep <= 4.0 * d_hi):
        return 0.0
    mid = 0.5 * (sa + sb)  # midpoint's distance to the plane
    mirror = a - 2.0 * sa * normal
    in_plane = np.linalg.norm((mirror - b) - ((mirror - b) @ normal) * normal)
    s_mid = np.exp(-0.5 * (mid / (0.3 * radius)) ** 2)
    s_plane = np.exp(-0.5 * (in_plane / radius) ** 2)
    s_size = np.sqrt(min(ra, rb) / max(ra, rb))
    return float(s_mid * s_plane * s_size)


def _midsagittal_plane_working(bone, hw, step, n_points: int = 4000, seed: int = 0):
    """Reflection-symmetry plane of ``bone`` (working grid, voxel ``hw``; offsets searched every
    ``step`` mm within a quarter of the bone's extent of its centroid)."""
    rng = np.random.default_rng(seed)
    shape = np.asarray(bone.shape)
    target = dilate_mm(bone, float(hw.max()) * 1.01, hw)
    pts = np.argwhere(bone) * hw
    if len(pts) > n_points:
        pts = pts[rng.choice(len(pts), n_points, replace=False)]
    coarse = pts[: min(len(pts), 1500)]
    centroid = pts.mean(axis=0)

    def score(p, n, off):
        s = p @ n - off
        q = np.round((p - 2.0 * s[:, None] * n) / hw).astype(np.int64)
        ok = np.all((q >= 0) & (q < shape), axis=1)
        if ok.sum() < 0.3 * len(p):
            return 0.0
        return float(target[tuple(q[ok].T)].mean())

    normals = _fibonacci_sphere(1200)
    normals = normals[normals[:, 2] >= 0]
    best = (-1.0, normals[0], float(centroid @ normals[0]))
    for n in normals:
        proj = pts @ n
        half = 0.25 * (np.percentile(proj, 99) - np.percentile(proj, 1))
        c = float(centroid @ n)
        for off in np.arange(c - half, c + half + step / 2, step):
            s = score(coarse, n, off)
            if s > best[0]:
                best = (s, n, float(off))
    s0, n0, o0 = score(pts, best[1], best[2]), best[1], best[2]
    for ang, dst in ((0.05, step / 2), (0.02, step / 5), (0.008, step / 12)):
        improved = True
        while improved:
            improved = False
            for dn in np.vstack([np.eye(3), -np.eye(3), np.zeros((1, 3))]):
                for do in (-dst, 0.0, dst):
                    if not dn.any() and do == 0.0:
                        continue
                    n = n0 + ang * dn
                    n = n / np.linalg.norm(n)
                    s = score(pts, n, o0 + do)
                    if s > s0 + 1e-9:
                        s0, n0, o0, improved = s, n, o0 + do, True
    return np.asarray(n0, float), float(o0), float(s0)


def _refine(data, body, bone, air_soft, centre_mm, h, r_hi):
    """Centroid (mm) of the full-resolution voxels within one voxel of the local maximum of the
    distance to non-soft tissue near ``centre_mm``, and that maximum (the ball's radius)."""
    c = np.round(centre_mm / h).astype(int)
    half = np.ceil(1.6 * r_hi / h).astype(int)
    box = tuple(slice(max(int(c[k] - half[k]), 0), min(int(c[k] + half[k] + 1), data.shape[k]))
                for k in range(3))
    smooth = ndimage.median_filter(np.asarray(data[box], dtype=np.float32), size=3, mode="nearest")
    soft = body[box] & ~bone[box] & (smooth >= air_soft)
    if soft.sum() < 10:
        return np.asarray(centre_mm, float), 0.0
    d = distance_to(~soft, h)
    origin = np.array([s.start for s in box])
    local = c - origin
    near = ball_mask(d.shape, local * h, h, 0.5 * r_hi)
    dmax = float(d[near].max()) if near.any() else 0.0
    if dmax <= 0:
        return np.asarray(centre_mm, float), 0.0
    top = near & (d >= dmax - float(h.max()))
    pos = (np.argwhere(top).mean(axis=0) + origin) * h
    return pos, dmax


def soft_tissue_ball(data, body, bone, air_soft, centre_mm, voxel_size_mm, eye_diameter_mm):
    """The largest ball of soft tissue (between air and bone, inside the body) near ``centre_mm``:
    ``(centre_mm, radius_mm)``; the centre is searched within a quarter of the largest eye diameter
    of the point (radius 0 when there is no soft tissue there). What the eye suggestion measures
    at each eye, for a point clicked by hand."""
    h = np.broadcast_to(np.asarray(voxel_size_mm, float), (3,))
    return _refine(data, body, bone, air_soft, np.asarray(centre_mm, float), h, 0.5 * float(max(eye_diameter_mm)))


def _note(points, scores, total, runner_up, symmetry) -> str:
    where = "; ".join("(" + ", ".join(f"{v:.1f}" for v in p) + ")" for p in points)
    text = (f"Suggested eye centres {where} mm (scores {scores[0]:.2f}, {scores[1]:.2f}): found "
            "automatically from the shape of the orbits and the skull's symmetry. Check them on "
            "the image; a click on an eye's centre replaces its suggestion.")
    doubts = []
    if min(scores) < 0.5:
        doubts.append("an eye scored low")
    if runner_up >= 0.9 * total:
        doubts.append(f"another pair of places scored nearly as well ({runner_up:.2f} vs {total:.2f})")
    if symmetry < 0.7:
        doubts.append(f"the skull's mid-sagittal plane is uncertain (symmetry {symmetry:.2f})")
    if doubts:
        text += " Uncertain: " + "; ".join(doubts) + "."
    return text
