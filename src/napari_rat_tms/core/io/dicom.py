"""DICOM volumes through pydicom: a folder holding a series of 2D slices, or one multi-frame file.

Slices are ordered by their position along the slice normal (ImagePositionPatient projected on
the cross product of the ImageOrientationPatient cosines), falling back to InstanceNumber. Each
slice's RescaleSlope/RescaleIntercept is applied, so a CT comes out in Hounsfield units. The
intensity units are "HU" when RescaleType says so, or when a CT image has a rescale and no
RescaleType (DICOM PS3.3 C.11.1.1.2: CT values are then HU).
"""

from __future__ import annotations

import datetime
import logging
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import VolumeReadError
from ..volume import INTENSITY_UNITS_HU, INTENSITY_UNITS_UNKNOWN, Volume
from ._checks import as_volume_array, check_fits_in_memory, warn_missing_spacing

__all__ = ["read_dicom", "write_dicom_series", "is_dicom_file", "list_dicom_series"]

log = logging.getLogger(__name__)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def is_dicom_file(path) -> bool:
    """True if ``path`` is a file with the DICOM preamble ("DICM" at byte 128)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def list_dicom_series(folder) -> dict[str, list]:
    """Headers (no pixels) of the DICOM files in ``folder``, grouped by SeriesInstanceUID."""
    import pydicom

    series: dict[str, list] = defaultdict(list)
    for path in _files_of(Path(folder)):
        if not is_dicom_file(path):
            continue
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception as err:
            warnings.warn(f"Skipping {path}: not a readable DICOM file ({err}).", stacklevel=2)
            continue
        ds.filename = str(path)
        series[str(ds.get("SeriesInstanceUID", "unknown"))].append(ds)
    return dict(series)


def _describe(uid: str, headers: list) -> str:
    ds = headers[0]
    desc = ds.get("SeriesDescription", "") or ds.get("Modality", "")
    frames = sum(int(h.get("NumberOfFrames", 1) or 1) for h in headers)
    return f"{uid} ('{desc}', {frames} slices)"


def _is_hu(ds) -> bool:
    rescale_type = str(ds.get("RescaleType", "")).strip().upper()
    if rescale_type:
        return rescale_type == "HU"
    return str(ds.get("Modality", "")).upper() == "CT" and "RescaleIntercept" in ds


def _rescale(pixels: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    if slope == 1.0 and float(intercept).is_integer():
        out = pixels.astype(np.int32) + int(intercept)
        if out.min(initial=0) >= np.iinfo(np.int16).min and out.max(initial=0) <= np.iinfo(np.int16).max:
            return out.astype(np.int16)
        return out
    return (pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)


def _orientation(ds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    iop = ds.get("ImageOrientationPatient")
    if iop is None or len(iop) != 6:
        return np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0])
    row_cos, col_cos = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    return row_cos, col_cos, np.cross(row_cos, col_cos)


def _dicom_volume(data, spacing, hu: bool, affine, source: str, ds, fmt: str) -> Volume:
    """The Volume of a DICOM read: LPS scanner frame, series identity from ``ds``."""
    return Volume(
        data=as_volume_array(data, source),  # colour (SamplesPerPixel 3) -> UnsupportedVolumeError
        voxel_size_mm=spacing,
        intensity_units=INTENSITY_UNITS_HU if hu else INTENSITY_UNITS_UNKNOWN,
        scanner_affine_mm=affine,
        scanner_frame="LPS",
        source=source,
        metadata={
            "format": fmt,
            "series_instance_uid": str(ds.get("SeriesInstanceUID", "")),
            "series_description": str(ds.get("SeriesDescription", "")),
            "modality": str(ds.get("Modality", "")),
        },
    )


def _read_series(headers: list, source: str, max_bytes: int | None) -> Volume:
    import pydicom

    first = headers[0]
    rows, cols = int(first.Rows), int(first.Columns)
    for h in headers:
        if (int(h.Rows), int(h.Columns)) != (rows, cols):
            raise VolumeReadError(
                f"{source}: slices of one series have different sizes "
                f"({rows}x{cols} in {first.filename}, {h.Rows}x{h.Columns} in {h.filename})."
            )
    row_cos, col_cos, normal = _orientation(first)
    if all("ImagePositionPatient" in h for h in headers):
        positions = np.array([np.asarray(h.ImagePositionPatient, float) @ normal for h in headers])
        order = np.argsort(positions)
        positions = positions[order]
        steps = np.diff(positions)
        if steps.size and np.any(steps < 1e-6):
            k = int(np.argmin(steps))
            raise VolumeReadError(
                f"{source}: two slices lie at the same position ({positions[k]:.3f} mm): "
                f"{headers[order[k]].filename} and {headers[order[k + 1]].filename}. The folder "
                "probably mixes two acquisitions with the same series UID; separate them."
            )
        slice_spacing = float(np.median(steps)) if steps.size else None
        if steps.size and np.max(np.abs(steps - slice_spacing)) > 0.01 * slice_spacing:
            warnings.warn(
                f"{source}: the slice spacing varies from {steps.min():.4f} to {steps.max():.4f} mm "
                f"(missing slices?); using the median {slice_spacing:.4f} mm.",
                stacklevel=3,
            )
    else:
        order = np.argsort([int(h.get("InstanceNumber", i)) for i, h in enumerate(headers)])
        slice_spacing = None
    headers = [headers[i] for i in order]
    if slice_spacing is None:
        for key in ("SpacingBetweenSlices", "SliceThickness"):
            if first.get(key):
                slice_spacing = float(first.get(key))
                break
    pixel_spacing = first.get("PixelSpacing")
    if pixel_spacing is None or slice_spacing is None:
        fallback = warn_missing_spacing(source)
        inplane = fallback[1:] if pixel_spacing is None else (float(pixel_spacing[0]), float(pixel_spacing[1]))
        spacing = (slice_spacing or fallback[0], *inplane)
    else:
        spacing = (slice_spacing, float(pixel_spacing[0]), float(pixel_spacing[1]))

    check_fits_in_memory((len(headers), rows, cols), 4, source, max_bytes)
    slices = []
    for h in headers:
        try:
            ds = pydicom.dcmread(h.filename)
            pixels = ds.pixel_array
        except Exception as err:
            raise VolumeReadError(
                f"{h.filename}: cannot decode the pixel data ({err}). The file may be truncated "
                "or use a compression that needs an extra decoder (pylibjpeg, gdcm)."
            ) from err
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
        slices.append(_rescale(pixels, slope, intercept))
    dtype = np.result_type(*[s.dtype for s in slices])
    data = np.stack([s.astype(dtype, copy=False) for s in slices])

    origin = np.asarray(headers[0].get("ImagePositionPatient", [0.0, 0.0, 0.0]), float)
    affine = np.eye(4)
    affine[:3, 0] = normal * spacing[0]
    affine[:3, 1] = col_cos * spacing[1]
    affine[:3, 2] = row_cos * spacing[2]
    affine[:3, 3] = origin
    return _dicom_volume(data, spacing, _is_hu(first), affine, source, first, "DICOM")


def _first(ds, *path):
    """Follow a path of (sequence keyword, item) in a functional-group dataset, None if absent."""
    node = ds
    for key in path:
        seq = node.get(key) if node is not None else None
        if not seq:
            return None
        node = seq[0]
    return node


def _read_multiframe(path: Path, max_bytes: int | None) -> Volume:
    import pydicom

    source = str(path)
    try:
        ds = pydicom.dcmread(source, stop_before_pixels=True)
    except Exception as err:
        raise VolumeReadError(f"{source} is not a readable DICOM file ({err}).") from err
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames < 2:
        from ._checks import as_volume_array

        ds.filename = source
        as_volume_array(np.zeros((int(ds.Rows), int(ds.Columns))), source)  # raises: a 2D image
    check_fits_in_memory((frames, int(ds.Rows), int(ds.Columns)), 4, source, max_bytes)
    try:
        full = pydicom.dcmread(source)
        pixels = full.pixel_array
    except Exception as err:
        raise VolumeReadError(f"{source}: cannot decode the pixel data ({err}).") from err
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    measures = _first(shared, "PixelMeasuresSequence") if shared is not None else None
    pixel_spacing = (measures.get("PixelSpacing") if measures is not None else None) or ds.get("PixelSpacing")
    slice_spacing = None
    for holder in (measures, ds):
        if holder is None:
            continue
        for key in ("SpacingBetweenSlices", "SliceThickness"):
            if holder.get(key):
                slice_spacing = float(holder.get(key))
                break
        if slice_spacing:
            break
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    positions = None
    if per_frame:
        pos = [_first(f, "PlanePositionSequence") for f in per_frame]
        if all(p is not None and "ImagePositionPatient" in p for p in pos):
            positions = np.array([np.asarray(p.ImagePositionPatient, float) for p in pos])
    orient = _first(shared, "PlaneOrientationSequence") if shared is not None else None
    row_cos, col_cos, normal = _orientation(orient if orient is not None else ds)
    order = np.arange(frames)
    if positions is not None:
        along = positions @ normal
        order = np.argsort(along)
        steps = np.diff(along[order])
        if steps.size and np.all(steps > 0):
            slice_spacing = float(np.median(steps))
    if pixel_spacing is None or slice_spacing is None:
        spacing = warn_missing_spacing(source)
    else:
        spacing = (slice_spacing, float(pixel_spacing[0]), float(pixel_spacing[1]))
    transform = _first(shared, "PixelValueTransformationSequence") if shared is not None else None
    holder = transform if transform is not None else ds
    slope = float(holder.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(holder.get("RescaleIntercept", 0.0) or 0.0)
    data = _rescale(np.asarray(pixels)[order], slope, intercept)
    affine = np.eye(4)
    affine[:3, 0] = normal * spacing[0]
    affine[:3, 1] = col_cos * spacing[1]
    affine[:3, 2] = row_cos * spacing[2]
    if positions is not None:
        affine[:3, 3] = positions[order[0]]
    units_holder = holder if "RescaleType" in holder else ds
    # a CT with a rescale is in HU only when no RescaleType says otherwise (e.g. "US")
    hu = _is_hu(units_holder) or (
        not str(units_holder.get("RescaleType", "")).strip()
        and str(ds.get("Modality", "")).upper() == "CT"
        and "RescaleIntercept" in holder
    )
    return _dicom_volume(data, spacing, hu, affine, source, ds, "DICOM multi-frame")


def read_dicom(path, *, series_uid: str | None = None, max_bytes: int | None = None) -> Volume:
    """Read a DICOM series (a folder) or a multi-frame DICOM file as a :class:`Volume`.

    A folder that mixes several series loads the largest one and warns, naming the others;
    pass ``series_uid`` to choose. Array axes are (slice, row, column).
    """
    path = Path(path)
    source = str(path)
    if path.is_file():
        return _read_multiframe(path, max_bytes)
    if not path.is_dir():
        raise VolumeReadError(f"{source} does not exist.")
    series = list_dicom_series(path)
    if not series:
        raise VolumeReadError(f"{source} holds no DICOM files (files with the 'DICM' preamble).")
    if series_uid is not None:
        if series_uid not in series:
            raise VolumeReadError(
                f"{source} has no series {series_uid!r}; it holds: "
                + "; ".join(_describe(u, h) for u, h in series.items())
            )
        uid = series_uid
    else:
        uid = max(series, key=lambda u: sum(int(h.get("NumberOfFrames", 1) or 1) for h in series[u]))
        if len(series) > 1:
            others = "; ".join(_describe(u, h) for u, h in series.items() if u != uid)
            warnings.warn(
                f"{source} holds {len(series)} DICOM series. Loaded the largest, "
                f"{_describe(uid, series[uid])}. Also there: {others}. To load another, pass "
                "series_uid=... to read_volume (or --series-uid on the command line), or put "
                "each series in its own folder.",
                stacklevel=2,
            )
    headers = series[uid]
    if len(headers) == 1 and int(headers[0].get("NumberOfFrames", 1) or 1) > 1:
        return _read_multiframe(Path(headers[0].filename), max_bytes)
    if len(headers) == 1:
        from ._checks import as_volume_array

        as_volume_array(np.zeros((int(headers[0].Rows), int(headers[0].Columns))), source)
    return _read_series(headers, source, max_bytes)


def write_dicom_series(
    volume: Volume,
    folder,
    *,
    rescale_slope: float = 1.0,
    rescale_intercept: float = -1024.0,
    series_description: str = "napari-rat-tms export",
    patient_name: str = "anonymous^rat",
) -> list[Path]:
    """Write a :class:`Volume` as a CT Image Storage series, one file per slice of axis 0.

    Values are stored as unsigned 16-bit ``round((value - intercept) / slope)``; the reader
    recovers them with the RescaleSlope/RescaleIntercept tags (RescaleType "HU" when the volume
    is in HU). Refuses values that the stored range cannot hold.
    """
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    if rescale_slope <= 0:
        raise ValueError(f"rescale_slope must be > 0, got {rescale_slope}")
    stored = np.rint((np.asarray(volume.data, dtype=np.float64) - rescale_intercept) / rescale_slope)
    if stored.min() < 0 or stored.max() > 65535:
        raise ValueError(
            f"values {volume.data.min()}..{volume.data.max()} do not fit in 16 bits with "
            f"slope {rescale_slope} and intercept {rescale_intercept}; choose another rescale"
        )
    stored = stored.astype(np.uint16)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame_uid = generate_uid(), generate_uid(), generate_uid()
    spacing = volume.voxel_size_mm
    axes = volume.scanner_affine_mm[:3, :3] / np.asarray(spacing)
    origin = volume.scanner_affine_mm[:3, 3]
    # DICOM orders slices along (row cosine x column cosine); an array (slice, row, column)
    # fits that only if its axes form a left-handed, orthonormal set. Otherwise (e.g. a
    # generated volume with no scanner geometry) stack the slices along +z of the patient frame.
    orthonormal = np.allclose(axes.T @ axes, np.eye(3), atol=1e-4)
    if not (orthonormal and np.linalg.det(axes) < 0 and volume.scanner_frame == "LPS"):
        if volume.scanner_frame != "unknown":
            warnings.warn(
                f"the {volume.scanner_frame} orientation of this volume is not kept in the DICOM "
                "export (slices are written along +z); voxels and spacing are.",
                stacklevel=2,
            )
        axes = np.array([[0.0, 0, 1], [0, 1.0, 0], [1.0, 0, 0]]).T  # slice->z, row->y, col->x
        origin = np.zeros(3)
    slice_dir, rows_dir, cols_dir = axes[:, 0], axes[:, 1], axes[:, 2]
    now = datetime.datetime.now()
    paths = []
    for k in range(volume.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"slice_{k:05d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = "CT"
        ds.PatientName = patient_name
        ds.PatientID = "rat"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame_uid
        ds.SeriesDescription = series_description
        ds.StudyDate = ds.ContentDate = now.strftime("%Y%m%d")
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        position = origin + k * spacing[0] * slice_dir
        ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*cols_dir, *rows_dir)]
        ds.PixelSpacing = [f"{spacing[1]:.6f}", f"{spacing[2]:.6f}"]
        ds.SliceThickness = f"{spacing[0]:.6f}"
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = f"{rescale_slope:g}", f"{rescale_intercept:g}"
        if volume.intensity_units == INTENSITY_UNITS_HU:
            ds.RescaleType = "HU"
        else:
            ds.RescaleType = "US"  # unspecified: keeps the reader from assuming HU
        ds.PixelData = stored[k].tobytes()
        ds.save_as(str(path), enforce_file_format=True)
        paths.append(path)
    log.info("wrote %d DICOM slices to %s", len(paths), folder)
    return paths
