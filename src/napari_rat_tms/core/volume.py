"""The :class:`Volume`: a 3D scan with its voxel size, scanner geometry and intensity units.

See :mod:`napari_rat_tms.core.conventions` for the axis order and the volume frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Volume", "INTENSITY_UNITS_HU", "INTENSITY_UNITS_UNKNOWN", "check_voxel_size_mm", "refuse_unit_mistakes"]

log = logging.getLogger(__name__)

INTENSITY_UNITS_HU = "HU"
INTENSITY_UNITS_UNKNOWN = "unknown"

# Voxel sizes outside this range are almost certainly a unit mistake for a rodent µCT
# (metres or micrometres read as millimetres). Warn, do not refuse: the user may know better.
_PLAUSIBLE_VOXEL_MM = (0.001, 2.0)


def check_voxel_size_mm(voxel_size_mm, *, source: str = "") -> tuple[float, float, float]:
    """Validate a voxel size in millimetres and return it as three floats (axis order of the array).

    Raises ``ValueError`` for non-positive or non-finite sizes; logs a warning (and returns the
    value) when a size is implausible for a rodent µCT, which usually means wrong units.
    """
    sizes = np.broadcast_to(np.asarray(voxel_size_mm, dtype=float), (3,))
    if not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
        raise ValueError(
            f"voxel_size_mm must be three positive finite numbers (mm), got {tuple(sizes)}"
            + (f" for {source}" if source else "")
        )
    lo, hi = _PLAUSIBLE_VOXEL_MM
    if np.any(sizes < lo) or np.any(sizes > hi):
        import warnings

        warnings.warn(
            f"Voxel size {tuple(round(float(s), 6) for s in sizes)} mm"
            + (f" of {source}" if source else "")
            + f" is outside {lo}-{hi} mm, unusual for a rodent µCT: the file's spacing may be in "
            "metres or micrometres. If so, set the right voxel size (voxel_size_mm=..., or the "
            "layer's scale in napari) before segmenting.",
            stacklevel=3,
        )
    return tuple(float(s) for s in sizes)


#: Beyond these a rodent head scan's voxel size is a unit mistake, not a choice: segmenting would
#: turn millimetre radii into billions of voxels ("Unable to allocate 21.1 TiB", issue 24).
_IMPOSSIBLE_VOXEL_MM = (1e-3, 10.0)


def refuse_unit_mistakes(data, voxel_size_mm, *, what: str = "the scan") -> None:
    """Raise ``ValueError`` (what is wrong and how to fix it) before any heavy work when the voxel
    size can only be in the wrong units (below 0.001 mm: metres; above 10 mm: micrometres) or the
    intensities hold NaN or infinite values."""
    sizes = np.broadcast_to(np.asarray(voxel_size_mm, dtype=float), (3,))
    lo, hi = _IMPOSSIBLE_VOXEL_MM
    shown = tuple(round(float(v), 6) for v in sizes)
    if np.any(sizes < lo):
        raise ValueError(
            f"The voxel size of {what} is {shown} mm: that is metres read as millimetres (a rodent µCT "
            f"has 0.01-0.5 mm voxels). Give the size in mm: {tuple(round(float(v) * 1e3, 6) for v in sizes)} "
            "(--voxel-size-mm, voxel_size_mm in the job file, or the layer's scale in napari).")
    if np.any(sizes > hi):
        raise ValueError(
            f"The voxel size of {what} is {shown} mm: that is micrometres read as millimetres (a rodent "
            f"µCT has 0.01-0.5 mm voxels). Give the size in mm: {tuple(round(float(v) * 1e-3, 6) for v in sizes)} "
            "(--voxel-size-mm, voxel_size_mm in the job file, or the layer's scale in napari).")
    values = np.asarray(data)
    if values.dtype.kind == "f":
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        if bad:
            raise ValueError(
                f"{what.capitalize()} has {bad:,} voxel(s) that are NaN or infinite (of {values.size:,}): "
                "the file is damaged or was exported with missing values. Fill them (e.g. with the air "
                "intensity) before segmenting.")


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D scalar scan.

    Attributes
    ----------
    data : ndarray, shape (n0, n1, n2)
        Intensities, array axes in the order of :mod:`~napari_rat_tms.core.conventions`.
    voxel_size_mm : tuple of 3 float
        Spacing along each array axis, millimetres.
    intensity_units : str
        ``"HU"`` when the file states Hounsfield units (e.g. DICOM rescale slope/intercept of a
        CT), otherwise ``"unknown"``.
    scanner_affine_mm : ndarray, shape (4, 4)
        Maps the homogeneous array index ``(i0, i1, i2, 1)`` to the scanner's coordinates in mm
        (frame named by ``scanner_frame``). Kept for export; the viewer does not apply it.
        Default: ``diag(voxel_size_mm)``.
    scanner_frame : str
        ``"RAS"`` (NIfTI), ``"LPS"`` (DICOM, ITK, NRRD in LPS) or ``"unknown"``.
    source : str
        Path the volume was read from (empty for generated volumes).
    metadata : dict
        Anything else worth keeping (series description, warnings issued while reading).
    """

    data: np.ndarray
    voxel_size_mm: tuple[float, float, float]
    intensity_units: str = INTENSITY_UNITS_UNKNOWN
    scanner_affine_mm: np.ndarray | None = None
    scanner_frame: str = "unknown"
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        data = np.asarray(self.data)
        if data.ndim != 3:
            raise ValueError(f"Volume.data must be 3D, got shape {data.shape}")
        object.__setattr__(self, "data", data)
        object.__setattr__(
            self, "voxel_size_mm", check_voxel_size_mm(self.voxel_size_mm, source=self.source)
        )
        if self.scanner_affine_mm is None:
            affine = np.diag([*self.voxel_size_mm, 1.0])
        else:
            affine = np.asarray(self.scanner_affine_mm, dtype=float)
        if affine.shape != (4, 4):
            raise ValueError(f"scanner_affine_mm must be 4x4, got {affine.shape}")
        object.__setattr__(self, "scanner_affine_mm", affine)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.data.shape)

    @property
    def extent_mm(self) -> np.ndarray:
        """Physical size along each array axis (number of voxels times voxel size), mm."""
        return np.asarray(self.data.shape) * np.asarray(self.voxel_size_mm)

    def index_to_mm(self, index) -> np.ndarray:
        """Array index (..., 3) -> volume-frame position in mm (voxel centres)."""
        return np.asarray(index, dtype=float) * np.asarray(self.voxel_size_mm)

    def mm_to_index(self, position_mm) -> np.ndarray:
        """Volume-frame position in mm (..., 3) -> fractional array index."""
        return np.asarray(position_mm, dtype=float) / np.asarray(self.voxel_size_mm)

    def describe(self) -> str:
        """One line for logs and the CLI."""
        n0, n1, n2 = self.shape
        v = ", ".join(f"{s:g}" for s in self.voxel_size_mm)
        e = " x ".join(f"{s:.1f}" for s in self.extent_mm)
        return (
            f"{n0} x {n1} x {n2} voxels of ({v}) mm = {e} mm, {self.data.dtype}, "
            f"intensity units {self.intensity_units}"
        )
