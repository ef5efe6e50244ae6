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
       prominence, in natural-log units) among those holding at least 0.2 % of the voxels in
       their bin (a few saturated voxels make sharp but meaningless peaks): air is the lower,
       soft tissue the higher. How sure the choice is follows from the soft-tissue peak's
       prominence: ``"clear"`` at >= 0.7 (it stands out of its surroundings by a factor 2),
       ``"weak"`` at >= 0.15. Real scans have weak ones: on the mouse scans of Maga et al.
       (2017) the soft-tissue peak near 8 stands out by only 0.50 (A/J) and 0.59 (NZW/LacJ),
       against 0.72-0.80 on the six others.
    3. No second peak at all (soft tissue merged into the air peak's flank): a principled
       fallback, ``"fallback"``, instead of stopping: a three-component Gaussian mixture (air,
       soft tissue, bone) fitted to the histogram by expectation-maximisation, started from
       Otsu's two-class split (:func:`_mixture_peaks`); the soft tissue's mean and standard
       deviation take the place of the peak and its width in rules 4-5. (Three-class Otsu was
       tried first: the bone tail's variance pulls its lower threshold to 26-30 on the mouse
       scans, above the soft tissue.)
    4. ``air_soft`` = halfway between the air and soft-tissue peaks.
    5. The soft-tissue peak's right flank gives its width: ``sigma`` from the half-maximum
       crossing (``HWHM / 1.1774``, a Gaussian's). The peak ends where a Gaussian of that width
       has fallen to ``exp(-k^2/2)`` of its height; ``bone`` = ``peak + k * sigma`` with
       ``k = 5`` (``end_of_peak_sigmas``), i.e. 3.7e-6 of the peak height: the noise of soft
       tissue is no longer mistaken for bone. Bone need not make a peak of its own (on the
       mouse scans it is a long tail): only the end of the soft-tissue peak is used. On the
       synthetic rat this gives about 350 HU, on the mouse scans 22-26.
The result (:class:`Histogram`) says which rule chose the thresholds (``confidence``,
``note``). Where no rule applies, the :class:`SegmentationError` gives the intensity percentiles
and a value to type for each threshold.
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


#: Soft-tissue peak prominence (natural-log units) from which the peaks are called clear / weak.
CLEAR_PEAK_PROMINENCE = 0.7
WEAK_PEAK_PROMINENCE = 0.15


@dataclass(frozen=True)
class Histogram:
    """Counts of the (subsampled) intensities: ``counts[k]`` voxels in ``[edges[k], edges[k+1])``;
    ``smoothed`` is the log-scale smoothing the peaks are found on; ``peaks`` the intensities of
    the air and soft-tissue peaks; ``soft_sigma`` the soft-tissue peak's width.
    ``confidence``: ``"clear"``, ``"weak"`` or ``"fallback"`` (module docstring, rules 2-3);
    ``soft_prominence`` the soft-tissue peak's prominence (log units; None for the fallback);
    ``note`` one sentence saying how the thresholds were chosen."""

    counts: np.ndarray
    edges: np.ndarray
    smoothed: np.ndarray
    peaks: tuple[float, float] | None = None
    soft_sigma: float | None = None
    confidence: str | None = None
    soft_prominence: float | None = None
    note: str = ""

    @property
    def centres(self) -> np.ndarray:
        return 0.5 * (self.edges[:-1] + self.edges[1:])

    def percentiles(self, q=(1, 5, 25, 50, 75, 95, 99)) -> dict[float, float]:
        """Intensity percentiles of the (subsampled) histogram."""
        cdf = np.cumsum(self.counts) / max(int(self.counts.sum()), 1)
        return {float(p): float(self.centres[min(int(np.searchsorted(cdf, p / 100.0)), len(cdf) - 1)])
                for p in q}

    def text(self) -> str:
        """The histogram in one line: percentiles, and the peaks when found."""
        pct = ", ".join(f"{p:g}%: {v:.4g}" for p, v in self.percentiles().items())
        peaks = "" if self.peaks is None else f"; peaks at {self.peaks[0]:.4g} and {self.peaks[1]:.4g}"
        return f"intensity percentiles {pct}{peaks}"


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


def _typing_hint(hist: Histogram) -> str:
    """What to type when the rules fail: values read off the percentiles."""
    pct = hist.percentiles((5, 50, 75, 99))
    return (f"The histogram: {hist.text()}. Type the thresholds (air/soft tissue: between the "
            f"air and the tissue intensities, e.g. near {0.5 * (pct[5.0] + pct[75.0]):.4g}; bone: "
            f"where the soft-tissue intensities end, often near the 99th percentile, {pct[99.0]:.4g}); "
            "the Segmentation widget shows the histogram and takes a click on it.")


def _mixture_peaks(hist: Histogram, iterations: int = 300) -> tuple[float, float, float]:
    """Rule 3: a three-component Gaussian mixture (air, soft tissue, bone) fitted to the histogram
    by expectation-maximisation (Dempster, Laird & Rubin 1977), started from Otsu's two-class
    split (``skimage.filters.threshold_otsu``): air at the most frequent intensity, soft tissue at
    the median above Otsu's threshold, bone at the 99th percentile above it. Returns the air and
    soft-tissue means and the soft-tissue standard deviation (scan units).

    On the mouse scans (where rule 2 applies too) it finds soft tissue at 7.6-8.2 with sd 3.2-3.5
    (rule 2: peak 8-9, sigma 2.6-3.3). Its limit: air must look like one Gaussian. On the synthetic
    rat, whose air is clipped at the scanner's floor, the best fit splits the air into two
    components; there rule 2 applies (clear peaks) and this rule is not used."""
    from skimage.filters import threshold_otsu

    counts, x = hist.counts.astype(float), hist.centres
    air_mode = float(x[int(np.argmax(hist.smoothed))])
    # Air is the darkest and (around a head) the most frequent intensity of a µCT: its peak lies
    # at the low end of the range, and the tissue above it holds a real share of the voxels.
    low_end = air_mode <= x[0] + 0.25 * (x[-1] - x[0])
    above_air = counts[x > air_mode].sum()
    if not low_end or above_air < 0.05 * counts.sum():
        raise SegmentationError(
            "The intensity histogram does not show two main peaks (air and soft tissue), nor an air "
            "peak at its low end with tissue above it, so the thresholds cannot be suggested. Is the "
            "whole head in the field of view, with air around it? " + _typing_hint(hist))
    t = float(threshold_otsu(hist=(counts, x)))
    span = float(x[-1] - x[0])
    w = counts / counts.sum()
    floor = 0.5 * float(np.median(np.diff(hist.edges)))

    def quantile(lower, q):
        above = np.where(x > lower, counts, 0.0)
        return float(x[min(int(np.searchsorted(np.cumsum(above) / above.sum(), q)), x.size - 1)])

    best = None
    # EM restarts (soft tissue started at several quantiles above the air peak and above Otsu's
    # threshold); the fit of highest likelihood with air < soft tissue wins
    for lower, q in ((air_mode, 0.5), (t, 0.5), (t, 0.25), (air_mode, 0.25), (air_mode, 0.75)):
        mu = np.array([air_mode, quantile(lower, q), quantile(t, 0.99)], float)
        sd = np.array([span / 50, span / 20, span / 5])
        pi = np.full(3, 1.0 / 3.0)
        for _ in range(iterations):
            log_p = -0.5 * ((x[:, None] - mu) / sd) ** 2 - np.log(sd) + np.log(pi)
            top = log_p.max(axis=1, keepdims=True)
            r = np.exp(log_p - top)
            total = r.sum(axis=1, keepdims=True)
            r *= w[:, None] / total
            pi = r.sum(axis=0) + 1e-300
            mu = (r * x[:, None]).sum(axis=0) / pi
            sd = np.maximum(np.sqrt((r * (x[:, None] - mu) ** 2).sum(axis=0) / pi), floor)
        likelihood = float(np.sum(w * (top[:, 0] + np.log(total[:, 0]))))
        valid = (np.all(np.isfinite(mu)) and mu[0] + 2 * sd[0] < mu[1] and pi[1] > 0.01
                 and mu[1] < mu[2])
        if valid and (best is None or likelihood > best[0]):
            best = (likelihood, mu, sd)
    if best is None:
        raise SegmentationError("A mixture of air, soft tissue and bone does not fit the histogram. "
                                + _typing_hint(hist))
    _, mu, sd = best
    return float(mu[0]), float(mu[1]), float(sd[1])


def suggest_thresholds(data, *, end_of_peak_sigmas: float = END_OF_PEAK_SIGMAS):
    """Air/soft-tissue and bone thresholds from the histogram; returns ``(Thresholds, Histogram)``.

    The histogram says how sure the choice is (``confidence`` and ``note``; module docstring).
    Raises :class:`SegmentationError` when no rule applies (e.g. a label image, a scan cropped
    inside the body with no air), or no intensity lies above the soft-tissue peak (no bone); the
    message gives the intensity percentiles and a value to type for each threshold.
    """
    hist = intensity_histogram(data)
    centres, smooth = hist.centres, hist.smoothed
    idx, props = signal.find_peaks(np.concatenate([[-1.0], smooth, [-1.0]]),
                                   prominence=WEAK_PEAK_PROMINENCE)
    idx = idx - 1
    # ... holding a real share of the voxels (a few saturated voxels make sharp but tiny peaks)
    keep = np.expm1(smooth[idx]) >= _MIN_PEAK_FRACTION * hist.counts.sum()
    idx, prominences = idx[keep], props["prominences"][keep]
    if idx.size >= 2:
        order = np.argsort(prominences)[-2:]
        top2 = np.sort(idx[order])
        air_i, soft_i = int(top2[0]), int(top2[1])
        soft_prominence = float(prominences[list(idx).index(soft_i)])
        confidence = "clear" if soft_prominence >= CLEAR_PEAK_PROMINENCE else "weak"
        note = (f"two histogram peaks, air at {centres[air_i]:.4g} and soft tissue at "
                f"{centres[soft_i]:.4g} (prominence {soft_prominence:.2f}"
                + (")" if confidence == "clear" else
                   f", below {CLEAR_PEAK_PROMINENCE:g}: a weak peak, check the thresholds on the histogram)"))
    else:
        air_peak, soft_peak, sigma = _mixture_peaks(hist)
        confidence = "fallback"
        note = (f"no clear soft-tissue peak in the histogram: a mixture of three Gaussians puts air at "
                f"{air_peak:.4g} and soft tissue at {soft_peak:.4g} (sd {sigma:.3g}); check the "
                "thresholds on the histogram")
        return _thresholds(hist, air_peak, soft_peak, sigma, end_of_peak_sigmas, confidence, None, note)
    air_peak, soft_peak = float(centres[air_i]), float(centres[soft_i])
    # Right flank of the soft-tissue peak on the linear (smoothed) scale.
    linear = np.expm1(smooth)
    half = 0.5 * linear[soft_i]
    right = np.flatnonzero(linear[soft_i:] < half)
    if right.size == 0 or soft_i == 0:
        raise SegmentationError(
            "The soft-tissue peak of the histogram has no upper flank: the scan seems to hold "
            "no intensities above soft tissue (no bone). Check the scan. " + _typing_hint(hist)
        )
    k = soft_i + int(right[0])
    # interpolate the half-maximum crossing between bins k-1 and k
    y0, y1 = linear[k - 1], linear[k]
    x_half = centres[k - 1] + (y0 - half) / (y0 - y1) * (centres[k] - centres[k - 1])
    bin_width = float(np.median(np.diff(hist.edges)))
    sigma = max((x_half - soft_peak) / np.sqrt(2.0 * np.log(2.0)), 0.5 * bin_width)
    return _thresholds(hist, air_peak, soft_peak, sigma, end_of_peak_sigmas, confidence, soft_prominence,
                       note)


def _thresholds(hist, air_peak, soft_peak, sigma, end_of_peak_sigmas, confidence, soft_prominence, note):
    """Rules 4-5 from the air and soft-tissue peaks and the soft-tissue width."""
    bone = soft_peak + end_of_peak_sigmas * sigma
    if bone >= float(hist.edges[-1]):
        raise SegmentationError(
            f"No intensity lies beyond the end of the soft-tissue peak ({bone:g}): the scan seems "
            "to hold no bone. A skull is needed for a TMS model; check the scan. " + _typing_hint(hist)
        )
    hist = Histogram(hist.counts, hist.edges, hist.smoothed, (float(air_peak), float(soft_peak)),
                     float(sigma), confidence, soft_prominence, note)
    return Thresholds(air_soft=0.5 * (air_peak + soft_peak), bone=float(bone)), hist
