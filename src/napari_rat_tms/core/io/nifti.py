"""NIfTI-1/2 volumes (.nii, .nii.gz) through nibabel."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import VolumeReadError
from ..volume import INTENSITY_UNITS_HU, INTENSITY_UNITS_UNKNOWN, Volume
from ._checks import as_volume_array, check_fits_in_memory, warn_missing_spacing

__all__ = ["read_nifti", "write_nifti"]

_UNITS_TAG = "intensity_units="
_SPACE_UNIT_TO_MM = {"mm": 1.0, "meter": 1000.0, "micron": 1e-3, "unknown": 1.0}
#: Array axes (k, j, i) <- file axes (i, j, k): the affine that reverses the axis order (its own inverse).
IJK_REVERSAL = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)


def read_nifti(path, *, max_bytes: int | None = None) -> Volume:
    """Read a NIfTI file as a :class:`Volume` (array axes reversed to (k, j, i), spacing in mm).

    The scanner affine is the file's sform/qform (RAS, mm). Intensity units are "HU" only when
    the header's description says so (``intensity_units=HU``, as :func:`write_nifti` writes);
    NIfTI has no standard field for them.
    """
    import nibabel as nib

    source = str(path)
    try:
        img = nib.load(source)
        header = img.header
        shape = img.shape
    except Exception as err:
        raise VolumeReadError(f"{source} is not a readable NIfTI file ({err}).") from err
    # nibabel moves scl_slope/scl_inter from the loaded header into the array proxy, so the
    # header says (None, None) even for a scaled file: ask the proxy. A scaled read makes float64.
    slope = float(getattr(img.dataobj, "slope", 1.0))
    inter = float(getattr(img.dataobj, "inter", 0.0))
    scaled = slope != 1.0 or inter != 0.0
    itemsize = 8 if scaled else np.dtype(header.get_data_dtype()).itemsize
    check_fits_in_memory(shape, itemsize, source, max_bytes)
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as err:
        raise VolumeReadError(
            f"{source}: the header is readable but the voxel data are not ({err}). The file is "
            "probably truncated or corrupt; export it again."
        ) from err
    if scaled and data.dtype == np.float64:
        data = data.astype(np.float32)
    data = as_volume_array(data, source)
    zooms = np.asarray(header.get_zooms()[:3], dtype=float)
    space_unit = header.get_xyzt_units()[0]
    if zooms.size < 3 or np.any(zooms <= 0):
        spacing = warn_missing_spacing(source)
    else:
        spacing = tuple(zooms[::-1] * _SPACE_UNIT_TO_MM.get(space_unit, 1.0))
    descrip = header.get("descrip")
    descrip = descrip.tobytes().decode("latin-1") if descrip is not None else ""
    units = INTENSITY_UNITS_HU if f"{_UNITS_TAG}HU" in descrip else INTENSITY_UNITS_UNKNOWN
    affine = img.affine @ IJK_REVERSAL
    return Volume(
        data=np.transpose(data, (2, 1, 0)),
        voxel_size_mm=spacing,
        intensity_units=units,
        scanner_affine_mm=affine,
        scanner_frame="RAS",
        source=source,
        metadata={"format": "NIfTI", "space_unit": space_unit},
    )


def write_nifti(volume: Volume, path) -> Path:
    """Write a :class:`Volume` as NIfTI (.nii or .nii.gz), spacing in mm, units in the header."""
    import nibabel as nib

    path = Path(path)
    affine = volume.scanner_affine_mm @ IJK_REVERSAL  # IJK_REVERSAL is its own inverse
    spacing_file = np.asarray(volume.voxel_size_mm)[::-1]
    # keep the voxel size exactly, even when the stored affine is only a placeholder
    if not np.allclose(np.linalg.norm(affine[:3, :3], axis=0), spacing_file):
        affine = np.diag([*spacing_file, 1.0])
    img = nib.Nifti1Image(np.transpose(volume.data, (2, 1, 0)), affine)
    img.header.set_xyzt_units("mm")
    img.header.set_zooms(tuple(spacing_file))
    img.header["descrip"] = f"{_UNITS_TAG}{volume.intensity_units}".encode()[:79]
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path
