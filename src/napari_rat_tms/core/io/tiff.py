"""TIFF stacks through tifffile: one multi-page file, or a folder of 2D slices (one per file).

Voxel spacing comes from ImageJ metadata (``spacing`` and ``unit``, X/YResolution), OME-XML
(PhysicalSizeX/Y/Z) or, for a folder of slices with only in-plane resolution, is taken as
isotropic with a warning. Without any of these the reader warns and uses 1 mm.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ..errors import UnsupportedVolumeError, VolumeReadError
from ..volume import INTENSITY_UNITS_UNKNOWN, Volume
from ._checks import as_volume_array, check_fits_in_memory, unit_to_mm, warn_missing_spacing

__all__ = ["read_tiff", "write_tiff", "TIFF_SUFFIXES", "tiff_slices_in"]

TIFF_SUFFIXES = (".tif", ".tiff")


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def tiff_slices_in(folder) -> list[Path]:
    """TIFF files directly in ``folder``, in natural order (slice_2 before slice_10)."""
    folder = Path(folder)
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TIFF_SUFFIXES),
        key=_natural_key,
    )


def _inplane_spacing_mm(tif) -> tuple[float, float] | None:
    """(row, column) pixel size in mm from the first page's resolution tags, if meaningful."""
    page = tif.pages[0]
    ij = tif.imagej_metadata or {}
    tags = page.tags
    if "XResolution" not in tags or "YResolution" not in tags:
        return None
    xres, yres = (tags[k].value for k in ("XResolution", "YResolution"))
    xres = xres[0] / xres[1] if isinstance(xres, tuple) else float(xres)
    yres = yres[0] / yres[1] if isinstance(yres, tuple) else float(yres)
    if xres <= 0 or yres <= 0:
        return None
    factor = unit_to_mm(ij.get("unit")) if ij else None
    if factor is None:
        unit_tag = tags.get("ResolutionUnit")
        unit = int(unit_tag.value) if unit_tag is not None else 2
        if unit == 3:  # centimetre
            factor = 10.0
        else:  # inch or none: a print resolution (72 dpi...), not a voxel size
            return None
    return factor / yres, factor / xres


def _ome_spacing_mm(tif) -> tuple[float, float, float] | None:
    xml = tif.ome_metadata
    if not xml:
        return None
    sizes = {}
    for axis in "ZYX":
        m = re.search(rf'PhysicalSize{axis}="([0-9.eE+-]+)"', xml)
        u = re.search(rf'PhysicalSize{axis}Unit="([^"]+)"', xml)
        if not m:
            return None
        factor = unit_to_mm(u.group(1) if u else "µm")
        if factor is None:
            return None
        sizes[axis] = float(m.group(1)) * factor
    return sizes["Z"], sizes["Y"], sizes["X"]


def read_tiff(path, *, max_bytes: int | None = None) -> Volume:
    """Read a multi-page TIFF file or a folder of single-slice TIFF files as a :class:`Volume`."""
    import tifffile

    path = Path(path)
    source = str(path)
    files = tiff_slices_in(path) if path.is_dir() else [path]
    if not files:
        raise VolumeReadError(f"{source} holds no .tif/.tiff files.")
    try:
        with tifffile.TiffFile(str(files[0])) as tif:
            series = tif.series[0]
            first_shape, dtype = series.shape, series.dtype
            samples = first_shape[series.axes.index("S")] if "S" in series.axes else 1
            inplane = _inplane_spacing_mm(tif)
            ome = _ome_spacing_mm(tif)
            z_spacing = (tif.imagej_metadata or {}).get("spacing")
            z_factor = unit_to_mm((tif.imagej_metadata or {}).get("unit"))
    except Exception as err:
        raise VolumeReadError(f"{files[0]} is not a readable TIFF file ({err}).") from err
    if samples > 1:  # a 2D colour image would otherwise pass for a stack of 3 slices
        raise UnsupportedVolumeError(
            f"{files[0]} holds colour pixels ({samples} samples per pixel, shape {first_shape}), "
            "not greyscale. Export a single 3D greyscale volume."
        )
    if len(files) > 1:
        shape = (len(files), *first_shape)
    else:
        shape = first_shape
    check_fits_in_memory(shape, dtype.itemsize, source, max_bytes)
    try:
        if len(files) == 1:
            data = tifffile.imread(str(files[0]))
        else:
            data = np.stack([tifffile.imread(str(f)) for f in files])
    except ValueError as err:
        raise VolumeReadError(f"{source}: the slices do not stack into one volume ({err}).") from err
    except Exception as err:
        raise VolumeReadError(f"{source}: cannot read the pixel data ({err}); corrupt file?") from err
    data = as_volume_array(data, source)
    if ome is not None:
        spacing = ome
    elif inplane is not None and z_spacing is not None and z_factor is not None:
        spacing = (float(z_spacing) * z_factor, *inplane)
    elif inplane is not None:
        warnings.warn(
            f"{source} gives the in-plane pixel size ({inplane[0]:g} x {inplane[1]:g} mm) but "
            "not the slice spacing; assuming isotropic voxels. Set voxel_size_mm (or the "
            "layer's scale) if the slices are further apart.",
            stacklevel=2,
        )
        spacing = (inplane[0], *inplane)
    else:
        spacing = warn_missing_spacing(source)
    return Volume(
        data=data,
        voxel_size_mm=spacing,
        intensity_units=INTENSITY_UNITS_UNKNOWN,
        scanner_affine_mm=np.diag([*spacing, 1.0]),
        source=source,
        metadata={"format": "TIFF" if len(files) == 1 else "TIFF slices", "files": len(files)},
    )


def write_tiff(volume: Volume, path) -> Path:
    """Write a :class:`Volume` as an ImageJ-compatible multi-page TIFF with its spacing in mm.

    ImageJ stacks cannot hold int16, so signed 16-bit data are stored as float32.
    """
    import tifffile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = volume.data
    if data.dtype not in (np.uint8, np.uint16, np.float32):
        data = data.astype(np.float32)
    dz, dy, dx = volume.voxel_size_mm
    tifffile.imwrite(
        str(path),
        data,
        imagej=True,
        resolution=(1.0 / dx, 1.0 / dy),
        metadata={"spacing": dz, "unit": "mm", "axes": "ZYX"},
    )
    return path
