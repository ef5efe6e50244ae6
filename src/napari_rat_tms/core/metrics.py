"""Error metrics between two E-field distributions (seed 003, "Error metrics"; physics notes section 6).

Fields are (N, 3) arrays of Cartesian components at the same N evaluation points; a "pooled"
vector is the 3N-vector of all components. The seed's metrics, after Stenroos & Koponen (2019):

* relative error  ``RE = ||E - E_ref|| / ||E_ref||`` (pooled; sensitive to magnitude and direction);
* correlation error ``CCE = 1 - (E~ . E~_ref) / (||E~|| ||E~_ref||)`` with ``E~`` de-meaned per
  Cartesian component across points before pooling (insensitive to a constant factor);
* mean angular error between ``E`` and ``E_ref`` per point (direction only);
* each also over the "region of strongest fields", the points where ``|E_ref| > sqrt(0.5) max |E_ref|``
  (energy density above half its maximum);
* the distance between the locations of the two fields' maxima of ``|E|`` (target error).

Undefined values (a zero reference, a de-meaned field that vanishes, a zero vector in an angle)
come back as NaN rather than raising, so that a summary over many placements never stops.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "STRONG_FIELD_FRACTION",
    "relative_error",
    "correlation_error",
    "angular_errors_deg",
    "mean_angular_error_deg",
    "strong_field_mask",
    "peak_distance_m",
    "compare_fields",
]

#: ``|E| > sqrt(0.5) max |E|``: energy density above 50 % of its maximum (seed 003).
STRONG_FIELD_FRACTION = float(np.sqrt(0.5))


def _fields(e, e_ref) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(e, dtype=np.float64)
    b = np.asarray(e_ref, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"e must be an (N, 3) array, got shape {a.shape}")
    if b.shape != a.shape:
        raise ValueError(f"e {a.shape} and e_ref {b.shape} must have the same (N, 3) shape")
    if len(a) == 0:
        raise ValueError("the fields have no points")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("the fields must be finite")
    return a, b


def relative_error(e, e_ref) -> float:
    """``RE = ||E - E_ref|| / ||E_ref||`` over the pooled 3N-vectors (NaN if ``E_ref`` is all zero)."""
    a, b = _fields(e, e_ref)
    den = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / den) if den > 0 else float("nan")


def correlation_error(e, e_ref) -> float:
    """``CCE = 1 - (E~ . E~_ref) / (||E~|| ||E~_ref||)``, ``E~ = E - mean over points`` per component.

    The de-meaned fields are pooled into 3N-vectors. 0 for fields equal up to a positive factor
    (and a constant vector), 2 for a negative factor. NaN if either de-meaned field is zero (a
    single point, or a uniform field).
    """
    a, b = _fields(e, e_ref)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    den = np.linalg.norm(a) * np.linalg.norm(b)
    if den == 0:
        return float("nan")
    return float(1.0 - np.sum(a * b) / den)


def angular_errors_deg(e, e_ref) -> np.ndarray:
    """Angle (degrees, 0-180) between ``E`` and ``E_ref`` at each point, (N,).

    ``atan2(|E x E_ref|, E . E_ref)`` (accurate also for small angles, unlike ``arccos``); NaN
    where either vector is zero.
    """
    a, b = _fields(e, e_ref)
    cross = np.linalg.norm(np.cross(a, b), axis=1)
    dot = np.einsum("ij,ij->i", a, b)
    ang = np.degrees(np.arctan2(cross, dot))
    zero = (np.linalg.norm(a, axis=1) == 0) | (np.linalg.norm(b, axis=1) == 0)
    ang[zero] = np.nan
    return ang


def mean_angular_error_deg(e, e_ref) -> float:
    """Mean over points of :func:`angular_errors_deg` (unweighted; points with a zero vector are skipped)."""
    ang = angular_errors_deg(e, e_ref)
    return float(np.nanmean(ang)) if np.any(np.isfinite(ang)) else float("nan")


def strong_field_mask(e_ref, fraction: float = STRONG_FIELD_FRACTION) -> np.ndarray:
    """Boolean (N,) mask of the points where ``|E_ref| > fraction * max |E_ref|``.

    The default ``sqrt(0.5)`` selects the points whose energy density exceeds half its maximum
    (seed 003). All False for an all-zero field.
    """
    b = np.asarray(e_ref, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 3:
        raise ValueError(f"e_ref must be an (N, 3) array, got shape {b.shape}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    mag = np.linalg.norm(b, axis=1)
    if len(mag) == 0:
        return np.zeros(0, dtype=bool)
    return mag > fraction * mag.max()


def peak_distance_m(points_m, e, e_ref) -> float:
    """``|r_peak(E) - r_peak(E_ref)|``, where ``r_peak`` is the point of largest ``|E|`` (metres)."""
    a, b = _fields(e, e_ref)
    p = np.asarray(points_m, dtype=np.float64)
    if p.shape != a.shape:
        raise ValueError(f"points_m {p.shape} must have the fields' shape {a.shape}")
    i = int(np.argmax(np.linalg.norm(a, axis=1)))
    j = int(np.argmax(np.linalg.norm(b, axis=1)))
    return float(np.linalg.norm(p[i] - p[j]))


def compare_fields(points_m, e, e_ref, fraction: float = STRONG_FIELD_FRACTION) -> dict:
    """All metrics of ``E`` against ``E_ref``, over all points and over the strong-field region.

    The strong-field region is :func:`strong_field_mask` of ``E_ref``. Returns a dict with keys
    ``re``, ``cce``, ``mean_angle_deg`` (all points), ``re_strong``, ``cce_strong``,
    ``mean_angle_deg_strong`` (strong region), ``peak_distance_m``, ``n_points`` and ``n_strong``.
    Metrics are fractions (not per cent) and degrees.
    """
    a, b = _fields(e, e_ref)
    mask = strong_field_mask(b, fraction)
    out = {
        "re": relative_error(a, b),
        "cce": correlation_error(a, b),
        "mean_angle_deg": mean_angular_error_deg(a, b),
        "peak_distance_m": peak_distance_m(points_m, a, b),
        "n_points": int(len(a)),
        "n_strong": int(np.count_nonzero(mask)),
    }
    if np.any(mask):
        out["re_strong"] = relative_error(a[mask], b[mask])
        out["cce_strong"] = correlation_error(a[mask], b[mask])
        out["mean_angle_deg_strong"] = mean_angular_error_deg(a[mask], b[mask])
    else:
        out["re_strong"] = out["cce_strong"] = out["mean_angle_deg_strong"] = float("nan")
    return out
