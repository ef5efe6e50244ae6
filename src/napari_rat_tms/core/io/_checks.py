"""Checks shared by the volume readers: memory, dimensionality, spacing."""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import UnsupportedVolumeError, VolumeTooLargeError

# Keep this much of the available memory free for the work that follows loading
# (segmentation needs a few copies of the volume).
MEMORY_FRACTION = 0.5
DEFAULT_VOXEL_SIZE_MM = 1.0


def available_memory_bytes() -> int:
    """Memory the OS reports as available now (bytes)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # pragma: no cover - psutil comes with napari, but the core works without
        import os

        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def check_fits_in_memory(shape, itemsize: int, source: str, max_bytes: int | None = None) -> None:
    """Raise :class:`VolumeTooLargeError` *before* loading when the array would not fit.

    ``max_bytes`` defaults to half of the memory available now.
    """
    needed = int(np.prod([int(s) for s in shape], dtype=np.float64)) * int(itemsize)
    limit = int(MEMORY_FRACTION * available_memory_bytes()) if max_bytes is None else int(max_bytes)
    if needed > limit:
        gib = 2.0**30
        raise VolumeTooLargeError(
            f"{source}: a volume of {' x '.join(str(int(s)) for s in shape)} voxels needs "
            f"{needed / gib:.2f} GiB in memory, more than the {limit / gib:.2f} GiB this machine "
            "can spare now. Crop the scan to the head or downsample it (e.g. 2 x 2 x 2 binning) "
            "before loading, or load it on a machine with more memory."
        )


def as_volume_array(data: np.ndarray, source: str) -> np.ndarray:
    """Return ``data`` as a 3D scalar array or raise :class:`UnsupportedVolumeError`.

    Singleton axes (e.g. NIfTI's 4th) are dropped; 2D images, RGB and time series are refused.
    """
    squeezed = np.squeeze(data)
    if data.dtype.fields is not None or data.dtype.kind not in "biuf":
        raise UnsupportedVolumeError(
            f"{source} holds voxels of type {data.dtype} (colour or complex values?), not "
            "scalar intensities. Export a single 3D greyscale volume."
        )
    if squeezed.ndim == 3:
        return squeezed
    if squeezed.ndim < 3:
        raise UnsupportedVolumeError(
            f"{source} holds a {squeezed.ndim}D image of shape {data.shape}, not a 3D volume. "
            "napari-rat-tms needs the whole µCT stack: open the folder of slices or the "
            "multi-slice file instead of a single slice."
        )
    raise UnsupportedVolumeError(
        f"{source} holds a {squeezed.ndim}D array of shape {data.shape} (colour channels or "
        "a time series?). Export a single 3D greyscale volume."
    )


def warn_missing_spacing(source: str, fallback_mm: float = DEFAULT_VOXEL_SIZE_MM) -> tuple[float, float, float]:
    """Warn that ``source`` has no voxel spacing and return the fallback (mm)."""
    warnings.warn(
        f"{source} does not record its voxel spacing; using {fallback_mm:g} mm. Distances, "
        "meshes and fields will be wrong until you set the real voxel size: in napari, set the "
        "layer's scale (Layer > Transform, or `layer.scale = (dz, dy, dx)` in mm); in Python, "
        "read_volume(path, voxel_size_mm=...); on the command line, --voxel-size-mm.",
        stacklevel=3,
    )
    return (fallback_mm,) * 3


UNIT_TO_MM = {
    "mm": 1.0,
    "millimeter": 1.0,
    "millimetre": 1.0,
    "um": 1e-3,
    "µm": 1e-3,
    "\u03bcm": 1e-3,
    "micron": 1e-3,
    "microns": 1e-3,
    "micrometer": 1e-3,
    "micrometre": 1e-3,
    "nm": 1e-6,
    "cm": 10.0,
    "m": 1e3,
    "meter": 1e3,
    "metre": 1e3,
}


def unit_to_mm(unit: str | None) -> float | None:
    """Factor from a length unit name to millimetres, None if unknown."""
    if unit is None:
        return None
    return UNIT_TO_MM.get(str(unit).strip().lower())
