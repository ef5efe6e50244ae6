"""Binary morphology in millimetres: Euclidean distance transforms, balls, components, topology.

The closings of seed 003 (2 mm ball for the body, 1 mm for the skull) are 25^3 and 13^3
structuring elements at its 0.17 mm voxels; applied brute force to a 512^3 volume they take
minutes (see ``benchmarks/bench_segmentation.py``). Here a dilation by a ball of radius ``r`` is
a threshold of the exact Euclidean distance to the mask, and an erosion a threshold of the
distance to its complement, so a closing costs two distance transforms whatever ``r`` is.

The distance transform is the separable exact algorithm of Felzenszwalb & Huttenlocher
("Distance transforms of sampled functions", Theory of Computing 8, 2012): the squared distance
is the lower envelope of parabolas, computed one axis at a time, O(N) in the number of voxels,
with the voxel size of each axis (anisotropic voxels are exact). ``scipy.ndimage
.distance_transform_edt`` computes the same distances (tests compare them) but also every
feature index, in float64 and on one core: 42 s for 512^3 on the CI machine against a few
seconds here.

A voxel belongs to the ball of radius ``r`` around a voxel centre when its centre is at
distance ``<= r``; masks outside the array are treated as background (the volume is padded
before a closing so that the dilation is not clipped at the border).
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import ndimage

from ..parallel import kernel_section

__all__ = [
    "ball_mask",
    "squared_distance_to",
    "distance_to",
    "dilate_mm",
    "erode_mm",
    "close_mm",
    "open_mm",
    "largest_component",
    "components",
    "fill_cavities",
    "topology",
    "Topology",
    "ball_voxels",
]

_INF = np.float32(np.inf)


@numba.njit(cache=True, nogil=True)
def _envelope_line(f, d, v, z, spacing):
    """Lower envelope of parabolas ``s^2 (p - q)^2 + f[q]``: d[p] = min_q; in place on d."""
    n = f.shape[0]
    s2 = spacing * spacing
    k = -1
    for q in range(n):
        if f[q] == np.inf:
            continue
        if k < 0:
            k = 0
            v[0] = q
            z[0] = -np.inf
            z[1] = np.inf
            continue
        while True:
            p = v[k]
            # intersection of the parabolas rooted at p and q (in index units)
            sq = ((f[q] + s2 * q * q) - (f[p] + s2 * p * p)) / (2.0 * s2 * (q - p))
            if sq <= z[k]:
                k -= 1
                if k < 0:
                    break
            else:
                break
        k += 1
        v[k] = q
        z[k] = sq if k > 0 else -np.inf
        z[k + 1] = np.inf
    if k < 0:
        for p in range(n):
            d[p] = np.inf
        return
    j = 0
    for p in range(n):
        while z[j + 1] < p:
            j += 1
        q = v[j]
        d[p] = s2 * (p - q) * (p - q) + f[q]


@numba.njit(parallel=True, cache=True, nogil=True)
def _first_axis(feature, out, spacing):
    """Squared distance along axis 2 to the nearest feature voxel of the same line (two sweeps)."""
    n0, n1, n2 = feature.shape
    for i in numba.prange(n0):
        for j in range(n1):
            last = -1
            for k in range(n2):
                if feature[i, j, k]:
                    last = k
                    out[i, j, k] = 0.0
                elif last >= 0:
                    out[i, j, k] = np.float32((k - last) * spacing) ** 2
                else:
                    out[i, j, k] = np.inf
            last = -1
            for k in range(n2 - 1, -1, -1):
                if feature[i, j, k]:
                    last = k
                elif last >= 0:
                    dk = np.float32((last - k) * spacing) ** 2
                    if dk < out[i, j, k]:
                        out[i, j, k] = dk


@numba.njit(parallel=True, cache=True, nogil=True)
def _envelope_middle_axis(a, spacing):
    """Lower envelope along axis 1 of ``a`` (any strides: called on transposed views for the
    other axes), lines in parallel over axis 0."""
    n0, n1, n2 = a.shape
    for i in numba.prange(n0):
        f = np.empty(n1, np.float32)
        d = np.empty(n1, np.float32)
        v = np.empty(n1, np.int64)
        z = np.empty(n1 + 1, np.float32)
        for k in range(n2):
            for j in range(n1):
                f[j] = a[i, j, k]
            _envelope_line(f, d, v, z, spacing)
            for j in range(n1):
                a[i, j, k] = d[j]


def _spacing(voxel_size_mm) -> tuple[float, float, float]:
    s = np.broadcast_to(np.asarray(voxel_size_mm, dtype=float), (3,))
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"voxel_size_mm must be three positive numbers (mm), got {tuple(s)}")
    return tuple(float(x) for x in s)


def _as_mask(mask, name="mask") -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 3:
        raise ValueError(f"{name} must be a 3D array, got shape {m.shape}")
    return np.ascontiguousarray(m, dtype=bool)


def squared_distance_to(feature, voxel_size_mm) -> np.ndarray:
    """Squared Euclidean distance (mm^2, float32) from every voxel centre to the nearest voxel
    of ``feature`` (0 on the feature; ``inf`` everywhere when ``feature`` is empty)."""
    feature = _as_mask(feature, "feature")
    s0, s1, s2 = _spacing(voxel_size_mm)
    out = np.empty(feature.shape, np.float32)
    with kernel_section():
        _first_axis(feature, out, s2)
        _envelope_middle_axis(out, np.float32(s1))
        _envelope_middle_axis(out.transpose(1, 0, 2), np.float32(s0))  # axis 0, lines over axis 1
    return out


def distance_to(feature, voxel_size_mm) -> np.ndarray:
    """Euclidean distance (mm, float32) from every voxel centre to the nearest ``feature`` voxel."""
    d = squared_distance_to(feature, voxel_size_mm)
    np.sqrt(d, out=d)
    return d


def _within(radius_mm) -> np.float32:
    """Squared radius for "within the ball" tests on float32 squared distances. Voxels at exactly
    the radius belong to the ball; the relative 1e-5 absorbs the rounding of float32 (0.2 mm
    voxels: 0.2f * 0.2f > float32(0.04)), which would otherwise drop them at random."""
    return np.float32(radius_mm * radius_mm * (1.0 + 1e-5))


def _radius(radius_mm) -> float:
    r = float(radius_mm)
    if not np.isfinite(r) or r < 0:
        raise ValueError(f"radius_mm must be a finite number >= 0 (mm), got {radius_mm!r}")
    return r


def dilate_mm(mask, radius_mm, voxel_size_mm) -> np.ndarray:
    """Voxels within ``radius_mm`` of ``mask`` (a dilation by a ball; the array's extent)."""
    r = _radius(radius_mm)
    mask = _as_mask(mask)
    if r == 0:
        return mask.copy()
    return squared_distance_to(mask, voxel_size_mm) <= _within(r)


def erode_mm(mask, radius_mm, voxel_size_mm, *, outside_is_background: bool = True) -> np.ndarray:
    """Voxels of ``mask`` farther than ``radius_mm`` from every voxel outside it.

    With ``outside_is_background`` (default) the space beyond the array counts as background,
    so a mask touching the border is eroded from there too."""
    r = _radius(radius_mm)
    mask = _as_mask(mask)
    if r == 0:
        return mask.copy()
    if outside_is_background:
        pad = _pad_width(r, voxel_size_mm)
        padded = np.pad(mask, pad)
        eroded = squared_distance_to(~padded, voxel_size_mm) > _within(r)
        return eroded[_unpad(pad, mask.shape)]
    return squared_distance_to(~mask, voxel_size_mm) > _within(r)


def _pad_width(radius_mm, voxel_size_mm):
    return [(n, n) for n in (int(np.ceil(radius_mm / s)) + 1 for s in _spacing(voxel_size_mm))]


def _unpad(pad, shape):
    return tuple(slice(p[0], p[0] + n) for p, n in zip(pad, shape))


def _bounding_box(mask, margin):
    """Slices of the smallest box holding ``mask`` grown by ``margin`` voxels per axis (clipped)."""
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(mask.any(axis=other))
        if hit.size == 0:
            return None
        lo = max(int(hit[0]) - margin[axis], 0)
        hi = min(int(hit[-1]) + margin[axis] + 1, mask.shape[axis])
        box.append(slice(lo, hi))
    return tuple(box)


def close_mm(mask, radius_mm, voxel_size_mm) -> np.ndarray:
    """Morphological closing by a ball of radius ``radius_mm`` (mm), exact and O(N).

    Equivalent to ``scipy.ndimage.binary_closing`` with a ball-shaped structuring element of
    that radius applied to the mask padded with background (tested), i.e. the closing is not
    clipped at the array's border. Works on the mask's bounding box (grown by the radius)."""
    r = _radius(radius_mm)
    mask = _as_mask(mask)
    if r == 0 or not mask.any():
        return mask.copy()
    pad = _pad_width(r, voxel_size_mm)
    box = _bounding_box(mask, [0, 0, 0])
    sub = np.pad(mask[box], pad)
    r2 = _within(r)
    dilated = squared_distance_to(sub, voxel_size_mm) <= r2
    closed = squared_distance_to(~dilated, voxel_size_mm) > r2
    del dilated
    out = np.zeros_like(mask)
    out[box] = closed[_unpad(pad, mask[box].shape)]
    out |= mask  # exact arithmetic keeps the mask; this guards float rounding at distance r
    return out


def open_mm(mask, radius_mm, voxel_size_mm) -> np.ndarray:
    """Morphological opening by a ball of radius ``radius_mm`` (mm): removes parts thinner than
    the ball (an erosion, border counted as background, then a dilation)."""
    r = _radius(radius_mm)
    eroded = erode_mm(mask, r, voxel_size_mm)
    return dilate_mm(eroded, r, voxel_size_mm) & _as_mask(mask)


def components(mask, *, connectivity: int = 3):
    """Connected components: ``(labels, sizes)`` with ``sizes[k]`` the voxel count of label
    ``k + 1``. ``connectivity`` 1 = faces (6-neighbours), 3 = faces, edges and corners (26)."""
    mask = _as_mask(mask)
    structure = ndimage.generate_binary_structure(3, connectivity)
    labels, n = ndimage.label(mask, structure=structure)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return labels, sizes


def largest_component(mask, *, connectivity: int = 3) -> np.ndarray:
    """The largest connected component of ``mask`` (empty mask -> empty mask)."""
    labels, sizes = components(mask, connectivity=connectivity)
    if sizes.size == 0:
        return np.zeros(labels.shape, bool)
    return labels == (int(np.argmax(sizes)) + 1)


def fill_cavities(mask) -> np.ndarray:
    """``mask`` with every enclosed background region filled (background components, counted
    with face connectivity, that do not touch the array's border). O(N), unlike
    ``scipy.ndimage.binary_fill_holes`` which iterates dilations."""
    mask = _as_mask(mask)
    labels, n = ndimage.label(~mask)  # face connectivity for the background
    if n == 0:
        return mask.copy()
    border = np.zeros(n + 1, bool)
    for axis in range(3):
        for index in (0, -1):
            border[np.unique(np.take(labels, index, axis=axis))] = True
    border[0] = True  # label 0 is the mask itself
    return mask | ~border[labels]


class Topology(tuple):
    """``(components, tunnels, cavities)`` of a binary mask (26-connected foreground)."""

    __slots__ = ()

    def __new__(cls, components, tunnels, cavities):
        return super().__new__(cls, (int(components), int(tunnels), int(cavities)))

    components = property(lambda self: self[0])
    tunnels = property(lambda self: self[1])
    cavities = property(lambda self: self[2])

    def __repr__(self):
        return f"Topology(components={self[0]}, tunnels={self[1]}, cavities={self[2]})"


def topology(mask) -> Topology:
    """Components, tunnels (handles, the genus of a surface) and cavities of a mask.

    Euler characteristic chi = components - tunnels + cavities (Betti numbers b0 - b1 + b2),
    computed with ``skimage.measure.euler_number`` for a 26-connected foreground (and
    6-connected background, the complementary pair). Cavities are background components not
    reaching the border. For a skull: tunnels counts the holes through it (foramen magnum,
    orbital openings...), a cavity means an enclosed space (e.g. a sealed cranial cavity)."""
    from skimage.measure import euler_number

    mask = _as_mask(mask)
    box = _bounding_box(mask, [1, 1, 1])
    if box is None:
        return Topology(0, 0, 0)
    sub = np.pad(mask[box], 1)
    _, sizes = components(sub, connectivity=3)
    n_components = sizes.size
    bg_labels, n_bg = ndimage.label(~sub)
    n_cavities = n_bg - 1  # the padding makes the outside one component
    chi = int(euler_number(sub, connectivity=3))
    return Topology(n_components, n_components + n_cavities - chi, n_cavities)


def ball_voxels(radius_mm, voxel_size_mm) -> np.ndarray:
    """Boolean structuring element: voxels whose centre lies within ``radius_mm`` of the centre
    voxel's (for brute-force comparisons; the functions above do not need it)."""
    r = _radius(radius_mm)
    s = _spacing(voxel_size_mm)
    half = [int(np.floor(r / si)) for si in s]
    grids = np.meshgrid(*[np.arange(-h, h + 1) * si for h, si in zip(half, s)], indexing="ij")
    return sum(g * g for g in grids) <= r * r * (1.0 + 1e-5)  # as _within


def ball_mask(shape, centre_mm, voxel_size_mm, radius_mm) -> np.ndarray:
    """Boolean mask of ``shape``: the voxels whose centres (index x voxel size, mm, the volume frame)
    lie within ``radius_mm`` of ``centre_mm``. Computed in the ball's bounding box only (a
    full-volume index grid would take gigabytes at 512^3)."""
    shape = tuple(int(n) for n in shape)
    h = np.asarray(_spacing(voxel_size_mm), float)
    centre = np.asarray(centre_mm, float).reshape(3)
    r = float(radius_mm)
    out = np.zeros(shape, bool)
    if not (np.all(np.isfinite(centre)) and np.isfinite(r) and r >= 0):
        raise ValueError(f"ball_mask needs a finite centre and radius >= 0, got {centre_mm!r}, {radius_mm!r}")
    lo = np.clip(np.floor((centre - r) / h).astype(int), 0, shape)
    hi = np.clip(np.ceil((centre + r) / h).astype(int) + 1, 0, shape)
    if np.any(hi <= lo):
        return out
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    g = np.ogrid[box]
    out[box] = sum((g[a] * h[a] - centre[a]) ** 2 for a in range(3)) <= r * r
    return out
