"""NRRD volumes (.nrrd, .nhdr) through pynrrd."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import VolumeReadError
from ..volume import INTENSITY_UNITS_HU, INTENSITY_UNITS_UNKNOWN, Volume
from ._checks import as_volume_array, check_fits_in_memory, unit_to_mm, warn_missing_spacing

__all__ = ["read_nrrd", "write_nrrd"]

_SPACES = {
    "left-posterior-superior": "LPS",
    "right-anterior-superior": "RAS",
    "lps": "LPS",
    "ras": "RAS",
}


def read_nrrd(path, *, max_bytes: int | None = None) -> Volume:
    """Read a NRRD file; array axes are the reverse of the header's (fastest axis last).

    Spacing comes from ``space directions`` (norm of each axis vector) or ``spacings``, scaled by
    ``space units``; intensity units from the key ``intensity_units:=HU`` (written by
    :func:`write_nrrd`), else "unknown".
    """
    import nrrd

    source = str(path)
    try:
        header = nrrd.read_header(source)
    except Exception as err:
        raise VolumeReadError(f"{source} is not a readable NRRD file ({err}).") from err
    sizes = header.get("sizes", [])
    try:
        itemsize = np.dtype(nrrd.reader._determine_datatype(header)).itemsize
    except Exception:  # unknown or private API changed: assume the widest scalar type
        itemsize = 8
    check_fits_in_memory(sizes, itemsize, source, max_bytes)
    try:
        data, header = nrrd.read(source, index_order="C")
    except Exception as err:
        raise VolumeReadError(
            f"{source}: the header is readable but the voxel data are not ({err}). The file is "
            "probably truncated or corrupt."
        ) from err
    data = as_volume_array(data, source)
    ndim_file = len(sizes)
    factor = 1.0
    units = header.get("space units")
    if units is not None and len(units) and unit_to_mm(units[0]) is not None:
        factor = unit_to_mm(units[0])
    affine = np.eye(4)
    directions = header.get("space directions")
    spacing = None
    if directions is not None:
        vecs = [np.asarray(v, float) for v in directions]
        vecs = [v for v in vecs if np.all(np.isfinite(v))]  # drop non-spatial axes (NaN rows)
        if len(vecs) == 3:
            vecs = [v * factor for v in vecs[::-1]]
            spacing = tuple(float(np.linalg.norm(v)) for v in vecs)
            for k, v in enumerate(vecs):
                affine[:3, k] = v
            origin = header.get("space origin")
            if origin is not None:
                affine[:3, 3] = np.asarray(origin, float) * factor
    if spacing is None and header.get("spacings") is not None:
        sp = np.asarray(header["spacings"], float)[::-1][:3]
        if np.all(np.isfinite(sp)) and np.all(sp > 0):
            spacing = tuple(sp * factor)
            affine[:3, :3] = np.diag(spacing)
    if spacing is None or ndim_file < 3:
        spacing = warn_missing_spacing(source)
        affine[:3, :3] = np.diag(spacing)
    frame = _SPACES.get(str(header.get("space", "")).lower(), "unknown")
    hu = str(header.get("intensity_units", "")).strip().upper() == "HU"
    return Volume(
        data=data,
        voxel_size_mm=spacing,
        intensity_units=INTENSITY_UNITS_HU if hu else INTENSITY_UNITS_UNKNOWN,
        scanner_affine_mm=affine,
        scanner_frame=frame,
        source=source,
        metadata={"format": "NRRD"},
    )


def write_nrrd(volume: Volume, path) -> Path:
    """Write a :class:`Volume` as NRRD (gzip), spacing in mm, intensity units as a key."""
    import nrrd

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    affine = volume.scanner_affine_mm
    directions = np.stack([affine[:3, k] for k in (2, 1, 0)])
    if not np.allclose(np.linalg.norm(directions, axis=1), np.asarray(volume.voxel_size_mm)[::-1]):
        directions = np.diag(np.asarray(volume.voxel_size_mm)[::-1])
    header = {
        "space": "left-posterior-superior" if volume.scanner_frame == "LPS" else "right-anterior-superior",
        "space directions": directions,
        "space origin": affine[:3, 3],
        "space units": ["mm", "mm", "mm"],
        "intensity_units": volume.intensity_units,
    }
    nrrd.write(str(path), np.ascontiguousarray(volume.data), header, index_order="C")
    return path
