"""Intensity thresholds read off the histogram, as in seed 003's Methods.

"We set thresholds halfway between the two main peaks in the intensity histogram (air and sum of
all soft tissues ...) and after the end of the soft-tissue peak" (about -500 HU and 500 HU on
the seed's Flex CT scan). Nothing here assumes Hounsfield units: the same rules work on scans in
arbitrary units, such as the mouse scans of Maga et al. (2017) stored as uint8 with air at 0,
soft tissue near 8 and bone from about 20.

Rules (:func:`suggest_thresholds`)
    1. Histogram of the volume (a strided subsample of about 4 million voxels; integer data with
       a small range gets one bin per value), smoothed with a Gaussian of 1.5 bins, on a log
       scale so that the huge air peak does not hide the others.
    2. The two main peaks are the two most prominent local maxima (``scipy.signal.find_peaks``
       prominence) among those holding at least 0.2 % of the voxels in their bin (a few
       saturated voxels make sharp but meaningless peaks): air is the lower, soft tissue the
       higher.
    3. ``air_soft`` = halfway between them.
    4. The soft-tissue peak's right flank gives its width: ``sigma`` from the half-maximum
       crossing (``HWHM / 1.1774``, a Gaussian's). The peak ends where a Gaussian of that width
       has fallen to ``exp(-k^2/2)`` of its height; ``bone`` = ``peak + k * sigma`` with
       ``k = 5`` (``end_of_peak_sigmas``), i.e. 3.7e-6 of the peak height: the noise of soft
       tissue is no longer mistaken for bone. On the synthetic rat this gives about 350 HU,
       on the mouse scans about 22.
Both can be moved by the user (the widget shows the histogram); :class:`Thresholds` checks that
they are ordered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage, signal

from ..errors import RatTmsError

__all__ = ["Thresholds", "Histogram", "intensity_histogram", "suggest_thresholds",
           "SegmentationError", "END_OF_PEAK_SIGMAS"]

END_OF_PEAK_SIGMAS = 5.0
_SAMPLE_VOXELS = 4_000_000
_MAX_BINS = 1024
_MIN_PEAK_FRACTION = 2e-3  # of all (sampled) voxels, in one bin


class SegmentationError(RatTmsError, ValueError):
    """A segmentation step cannot give a usable result: thresholds selecting nothing or
    everything, no bone in the scan, an eye point outside the body..."""


@dataclass(frozen=True)
class Thresholds:
    """Intensity thresholds in the scan's own units (HU or arbitrary).

    air_soft : voxels ``>= air_soft`` are tissue (body), below are air.
    bone : voxels ``>= bone`` are bone. Must be above ``air_soft``.
    """

    air_soft: float
    bone: float

    def __post_init__(self):
        a, b = float(self.air_soft), float(self.bone)
        if not (np.isfinite(a) and np.isfinite(b)):
            raise ValueError(f"thresholds must be finite numbers, got air/soft={a}, bone={b}")
        if b <= a:
            raise ValueError(
                f"the bone threshold ({b:g}) must be above the air/soft-tissue threshold ({a:g})"
            )
        object.__setattr__(self, "air_soft", a)
        object.__setattr__(self, "bone", b)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Histogram:
    """Counts of the (subsampled) intensities: ``counts[k]`` voxels in ``[edges[k], edges[k+1])``;
    ``smoothed`` is the log-scale smoothing the peaks are found on; ``peaks`` the intensities of
    the air and soft-tissue peaks; ``soft_sigma`` the soft-tissue peak's width."""

    counts: np.ndarray
    edges: np.ndarray
    smoothed: np.ndarray
    peaks: tuple[float, float] | None = None
    soft_sigma: float | None = None

    @property
    def centres(self) -> np.ndarray:
        return 0.5 * (self.edges[:-1] + self.edges[1:])


def _subsample(data: np.ndarray) -> np.ndarray:
    step = max(1, int(np.ceil((data.size / _SAMPLE_VOXELS) ** (1.0 / 3.0))))
    return data[::step, ::step, ::step]


def intensity_histogram(data) -> Histogram:
    """Histogram of a volume's intensities (see the module docstring for the binning)."""
    data = np.asarray(data)
    if data.ndim != 3 or data.size == 0:
        raise ValueError(f"expected a non-empty 3D volume, got shape {data.shape}")
    sample = _subsample(data)
    finite = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample.ravel()
    if finite.size == 0:
        raise SegmentationError("The volume holds no finite intensity (all NaN or infinite).")
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        raise SegmentationError(
            f"The volume is uniform (every voxel = {lo:g}): there is nothing to segment."
        )
    if data.dtype.kind in "iu" and hi - lo + 1 <= _MAX_BINS:
        edges = np.arange(lo - 0.5, hi + 1.5, 1.0)
    else:
        edges = np.linspace(lo, hi, 513 if hi - lo > 512 else 257)
    counts, edges = np.histogram(finite, bins=edges)
    smoothed = ndimage.gaussian_filter1d(np.log1p(counts.astype(float)), 1.5, mode="nearest")
    return Histogram(counts=counts, edges=edges, smoothed=smoothed)


def suggest_thresholds(data, *, end_of_peak_sigmas: float = END_OF_PEAK_SIGMAS):
    """Air/soft-tissue and bone thresholds from the histogram; returns ``(Thresholds, Histogram)``.

    Raises :class:`SegmentationError` when the histogram does not have two main peaks (e.g. a
    scan cropped inside the body, or a label image) or no intensity lies above the soft-tissue
    peak (no bone).
    """
    hist = intensity_histogram(data)
    centres, smooth = hist.centres, hist.smoothed
    # Prominence on the log scale: a peak must stand out of its surroundings by a factor ~2.
    idx, props = signal.find_peaks(np.concatenate([[-1.0], smooth, [-1.0]]), prominence=0.7)
    idx = idx - 1
    # ... and hold a real share of the voxels (a few saturated voxels make sharp but tiny peaks)
    keep = np.expm1(smooth[idx]) >= _MIN_PEAK_FRACTION * hist.counts.sum()
    idx, props = idx[keep], {"prominences": props["prominences"][keep]}
    if idx.size < 2:
        raise SegmentationError(
            "The intensity histogram does not show two main peaks (air and soft tissue), so the "
            "thresholds cannot be suggested. Is the whole head in the field of view, with air "
            "around it? Type the thresholds instead (the widget shows the histogram)."
        )
    top2 = np.sort(idx[np.argsort(props["prominences"])[-2:]])
    air_i, soft_i = int(top2[0]), int(top2[1])
    air_peak, soft_peak = float(centres[air_i]), float(centres[soft_i])
    # Right flank of the soft-tissue peak on the linear (smoothed) scale.
    linear = np.expm1(smooth)
    half = 0.5 * linear[soft_i]
    right = np.flatnonzero(linear[soft_i:] < half)
    if right.size == 0:
        raise SegmentationError(
            "The soft-tissue peak of the histogram has no upper flank: the scan seems to hold "
            "no intensities above soft tissue (no bone). Check the scan, or type a bone threshold."
        )
    k = soft_i + int(right[0])
    # interpolate the half-maximum crossing between bins k-1 and k
    y0, y1 = linear[k - 1], linear[k]
    x_half = centres[k - 1] + (y0 - half) / (y0 - y1) * (centres[k] - centres[k - 1])
    bin_width = float(np.median(np.diff(hist.edges)))
    sigma = max((x_half - soft_peak) / np.sqrt(2.0 * np.log(2.0)), 0.5 * bin_width)
    bone = soft_peak + end_of_peak_sigmas * sigma
    if bone >= float(hist.edges[-1]):
        raise SegmentationError(
            f"No intensity lies beyond the end of the soft-tissue peak ({bone:g}): the scan seems "
            "to hold no bone. A skull is needed for a TMS model; check the scan or type a bone "
            "threshold."
        )
    hist = Histogram(hist.counts, hist.edges, hist.smoothed, (air_peak, soft_peak), float(sigma))
    return Thresholds(air_soft=0.5 * (air_peak + soft_peak), bone=float(bone)), hist
