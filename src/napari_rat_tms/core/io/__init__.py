"""Reading and writing µCT volumes: NIfTI, DICOM (series or multi-frame), NRRD, MetaImage, TIFF.

:func:`read_volume` picks the reader from the path; :func:`detect_format` says which one it would
pick, or None, without raising (the napari reader uses it to decline what is not ours).
Every reader returns a :class:`~napari_rat_tms.core.volume.Volume` whose array axes and voxel size
follow :mod:`~napari_rat_tms.core.conventions`, checks the memory it needs *before* loading, and
raises :class:`~napari_rat_tms.core.errors.VolumeReadError` (with what to do) on bad input.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from ..errors import VolumeReadError
from ..volume import Volume, check_voxel_size_mm
from .dicom import is_dicom_file, read_dicom, write_dicom_series
from .metaimage import read_metaimage, write_metaimage
from .nifti import read_nifti, write_nifti
from .nrrd import read_nrrd, write_nrrd
from .tiff import read_tiff, tiff_slices_in, write_tiff

__all__ = [
    "FORMATS",
    "FILE_PATTERNS",
    "detect_format",
    "read_volume",
    "write_volume",
    "read_nifti",
    "write_nifti",
    "read_dicom",
    "write_dicom_series",
    "read_nrrd",
    "write_nrrd",
    "read_metaimage",
    "write_metaimage",
    "read_tiff",
    "write_tiff",
]

log = logging.getLogger(__name__)

_SUFFIX_FORMAT = {
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mhd": "metaimage",
    ".mha": "metaimage",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".dcm": "dicom",
    ".dicom": "dicom",
    ".ima": "dicom",
}
FORMATS = ("nifti", "dicom", "nrrd", "metaimage", "tiff")
FILE_PATTERNS = tuple(f"*{s}" for s in _SUFFIX_FORMAT)
_READERS = {
    "nifti": read_nifti,
    "nrrd": read_nrrd,
    "metaimage": read_metaimage,
    "tiff": read_tiff,
    "dicom": read_dicom,
}
_WRITERS = {
    "nifti": write_nifti,
    "nrrd": write_nrrd,
    "metaimage": write_metaimage,
    "tiff": write_tiff,
    "dicom": write_dicom_series,
}


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def detect_format(path) -> str | None:
    """Name of the format of ``path`` (one of :data:`FORMATS`), or None if it is not a volume we
    read. A folder is DICOM if it holds a file with the DICOM preamble, TIFF slices if it holds
    .tif files. Never raises."""
    try:
        path = Path(path)
        if path.is_dir():
            files = [p for p in path.iterdir() if p.is_file()]
            if any(is_dicom_file(p) for p in files[:5000]):
                return "dicom"
            if len(tiff_slices_in(path)) > 1:
                return "tiff"
            return None
        fmt = _SUFFIX_FORMAT.get(_suffix(path))
        if fmt is None and path.is_file() and is_dicom_file(path):
            return "dicom"
        return fmt
    except Exception:  # permissions, odd paths: not ours
        return None


def read_volume(
    path,
    *,
    voxel_size_mm=None,
    series_uid: str | None = None,
    max_bytes: int | None = None,
) -> Volume:
    """Read a µCT volume from a file or a folder.

    Parameters
    ----------
    path : str or Path
        .nii/.nii.gz, .nrrd/.nhdr, .mhd/.mha, .tif/.tiff (multi-page), a DICOM file
        (multi-frame) or a folder (a DICOM series, or numbered TIFF slices).
    voxel_size_mm : float or 3 floats, optional
        Overrides the spacing stored in the file (mm, array axis order) - for files that store
        none or a wrong one.
    series_uid : str, optional
        For a folder holding several DICOM series: the SeriesInstanceUID to load (default: the
        largest, with a warning naming the others).
    max_bytes : int, optional
        Refuse volumes larger than this in memory (default: half of the available memory).
    """
    path = Path(path)
    if not path.exists():
        raise VolumeReadError(f"{path} does not exist.")
    fmt = detect_format(path)
    if fmt is None:
        what = "folder" if path.is_dir() else "file"
        raise VolumeReadError(
            f"{path}: not a volume this plugin reads. Supported: NIfTI (.nii, .nii.gz), NRRD "
            "(.nrrd, .nhdr), MetaImage (.mhd, .mha), TIFF stacks (.tif, .tiff, or a folder of "
            f"slices), DICOM (a folder of slices or a multi-frame file). This {what} is none of these."
        )
    if fmt == "dicom":
        volume = read_dicom(path, series_uid=series_uid, max_bytes=max_bytes)
    else:
        volume = _READERS[fmt](path, max_bytes=max_bytes)
    if voxel_size_mm is not None:
        spacing = check_voxel_size_mm(voxel_size_mm, source=str(path))
        volume = dataclasses.replace(volume, voxel_size_mm=spacing)
    log.info("read %s: %s", path, volume.describe())
    return volume


def write_volume(volume: Volume, path, *, overwrite: bool = False) -> Path:
    """Write ``volume`` in the format given by the suffix of ``path`` (a folder for DICOM).

    Refuses to overwrite an existing file or non-empty folder unless ``overwrite=True``.
    """
    path = Path(path)
    fmt = _SUFFIX_FORMAT.get(_suffix(path), "dicom" if path.suffix == "" else None)
    if fmt is None:
        raise ValueError(
            f"path {path}: unknown suffix; use one of {sorted(_SUFFIX_FORMAT)} or a folder (DICOM)"
        )
    exists = path.exists() and (path.is_file() or any(path.iterdir()))
    if exists and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    if exists and fmt == "dicom" and path.is_dir():
        # replace the series: slices left over from an older, longer one would form a second
        # series in the folder, and the reader would load whichever is larger
        for old in path.iterdir():
            if old.is_file() and is_dicom_file(old):
                old.unlink()
    _WRITERS[fmt](volume, path)
    return path


