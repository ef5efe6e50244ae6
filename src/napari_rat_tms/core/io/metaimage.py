"""MetaImage volumes (.mhd + raw, .mha) through SimpleITK (the ``metaimage`` extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import VolumeReadError
from ..volume import INTENSITY_UNITS_HU, INTENSITY_UNITS_UNKNOWN, Volume
from ._checks import as_volume_array, check_fits_in_memory

__all__ = ["read_metaimage", "write_metaimage"]

_UNITS_KEY = "IntensityUnits"


def _sitk():
    """SimpleITK, an optional dependency (264 MB installed, for MetaImage alone: issue 24)."""
    try:
        import SimpleITK as sitk
    except ImportError as err:
        raise VolumeReadError(
            "Reading or writing MetaImage (.mhd, .mha) needs SimpleITK, an optional dependency: "
            "pip install 'napari-rat-tms[metaimage]' (or pip install SimpleITK). NIfTI, NRRD, DICOM "
            "and TIFF need nothing more.") from err
    return sitk


def read_metaimage(path, *, max_bytes: int | None = None) -> Volume:
    """Read a MetaImage file; SimpleITK's array order (z, y, x) is the volume's axis order.

    ITK works in LPS millimetres; intensity units are "HU" when the header has
    ``IntensityUnits = HU`` (as :func:`write_metaimage` writes).
    """
    sitk = _sitk()
    source = str(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(source)
    try:
        reader.ReadImageInformation()
    except Exception as err:
        raise VolumeReadError(f"{source} is not a readable MetaImage file ({err}).") from err
    size = reader.GetSize()[::-1]
    try:
        probe = sitk.Image([1] * reader.GetDimension(), reader.GetPixelID())
        itemsize = sitk.GetArrayViewFromImage(probe).dtype.itemsize
    except Exception:  # exotic pixel type: assume the widest scalar type
        itemsize = 8
    check_fits_in_memory(size, itemsize * reader.GetNumberOfComponents(), source, max_bytes)
    try:
        image = reader.Execute()
    except Exception as err:
        raise VolumeReadError(
            f"{source}: the header is readable but the voxel data are not ({err}). Is the .raw "
            "file beside the .mhd complete?"
        ) from err
    data = as_volume_array(sitk.GetArrayFromImage(image), source)
    dim = image.GetDimension()
    spacing = tuple(float(s) for s in image.GetSpacing()[::-1][-3:]) if dim >= 3 else None
    if spacing is None:
        as_volume_array(np.zeros((1, 1)), source)  # a 2D image: refuse with the usual message
    direction = np.asarray(image.GetDirection(), float).reshape(dim, dim)[:3, :3]
    affine = np.eye(4)
    for k in range(3):  # array axis k is ITK axis 2 - k
        affine[:3, k] = direction[:, 2 - k] * spacing[k]
    affine[:3, 3] = np.asarray(image.GetOrigin(), float)[:3]
    units = INTENSITY_UNITS_UNKNOWN
    if image.HasMetaDataKey(_UNITS_KEY) and image.GetMetaData(_UNITS_KEY).strip().upper() == "HU":
        units = INTENSITY_UNITS_HU
    return Volume(
        data=data,
        voxel_size_mm=spacing,
        intensity_units=units,
        scanner_affine_mm=affine,
        scanner_frame="LPS",
        source=source,
        metadata={"format": "MetaImage"},
    )


def write_metaimage(volume: Volume, path) -> Path:
    """Write a :class:`Volume` as MetaImage (.mha single file or .mhd + .raw)."""
    sitk = _sitk()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.data))
    image.SetSpacing(tuple(float(s) for s in volume.voxel_size_mm[::-1]))
    image.SetOrigin(tuple(float(v) for v in volume.scanner_affine_mm[:3, 3]))
    image.SetMetaData(_UNITS_KEY, volume.intensity_units)
    sitk.WriteImage(image, str(path), useCompression=True)
    return path
