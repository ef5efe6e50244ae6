"""DICOM: a series written with pydicom from the synthetic rat comes back voxel for voxel, in HU."""

import shutil

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from napari_rat_tms.core.errors import UnsupportedVolumeError, VolumeReadError
from napari_rat_tms.core.io import read_dicom, read_volume, write_dicom_series
from napari_rat_tms.core.synthetic import make_synthetic_rat
from napari_rat_tms.core.volume import Volume


@pytest.fixture(scope="module")
def rat_volume():
    return make_synthetic_rat(voxel_size_mm=1.0).volume


@pytest.mark.parametrize("slope, intercept", [(1.0, -1024.0), (0.5, -1100.0)])
def test_synthetic_rat_series_round_trip_in_hu(tmp_path, rat_volume, slope, intercept):
    files = write_dicom_series(rat_volume, tmp_path / "rat", rescale_slope=slope,
                               rescale_intercept=intercept)
    assert len(files) == rat_volume.shape[0]
    raw = pydicom.dcmread(files[40])
    stored = raw.pixel_array.astype(float)
    # the file holds stored values, not HU: the rescale is really exercised
    assert not np.array_equal(stored, rat_volume.data[40])
    np.testing.assert_array_equal(stored * slope + intercept, rat_volume.data[40])
    back = read_volume(tmp_path / "rat")
    np.testing.assert_array_equal(back.data, rat_volume.data)
    np.testing.assert_allclose(back.voxel_size_mm, rat_volume.voxel_size_mm, atol=1e-6)
    assert back.intensity_units == "HU"
    assert back.metadata["modality"] == "CT"


def test_slice_order_comes_from_positions_not_names(tmp_path, rat_volume):
    files = write_dicom_series(rat_volume, tmp_path / "rat")
    for k, f in enumerate(files):  # reverse the name order
        f.rename(f.with_name(f"z{len(files) - k:05d}.dcm"))
    back = read_volume(tmp_path / "rat")
    np.testing.assert_array_equal(back.data, rat_volume.data)


def test_mixed_series_loads_largest_and_says_so(tmp_path, rat_volume):
    small = Volume(rat_volume.data[:5, :20, :20], (1.0, 1.0, 1.0), "HU")
    big_files = write_dicom_series(rat_volume, tmp_path / "big", series_description="head")
    small_files = write_dicom_series(small, tmp_path / "small", series_description="scout")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for f in big_files:
        shutil.copy(f, mixed / f"a_{f.name}")
    for f in small_files:
        shutil.copy(f, mixed / f"b_{f.name}")
    with pytest.warns(UserWarning, match="holds 2 DICOM series.*largest.*scout.*series_uid"):
        back = read_volume(mixed)
    assert back.shape == rat_volume.shape
    small_uid = pydicom.dcmread(small_files[0]).SeriesInstanceUID
    chosen = read_volume(mixed, series_uid=small_uid)
    np.testing.assert_array_equal(chosen.data, small.data)
    with pytest.raises(VolumeReadError, match="no series 'nope'.*scout"):
        read_volume(mixed, series_uid="nope")


def test_truncated_slice_is_named(tmp_path, rat_volume):
    files = write_dicom_series(rat_volume, tmp_path / "rat")
    data = files[10].read_bytes()
    files[10].write_bytes(data[: len(data) // 2])
    with pytest.raises(VolumeReadError, match=files[10].name):
        read_volume(tmp_path / "rat")


def test_single_slice_folder_is_2d(tmp_path, rat_volume):
    write_dicom_series(Volume(rat_volume.data[:1], (1.0, 1.0, 1.0), "HU"), tmp_path / "one")
    with pytest.raises(UnsupportedVolumeError, match="2D image"):
        read_volume(tmp_path / "one")


def test_units_unknown_without_hu_rescale(tmp_path):
    volume = Volume(np.arange(60, dtype=np.int16).reshape(3, 4, 5) + 100, (1.0, 1.0, 1.0), "unknown")
    write_dicom_series(volume, tmp_path / "s", rescale_intercept=0.0)
    for f in (tmp_path / "s").iterdir():
        ds = pydicom.dcmread(f)
        ds.Modality = "OT"
        ds.save_as(f)
    back = read_volume(tmp_path / "s")
    assert back.intensity_units == "unknown"
    np.testing.assert_array_equal(back.data, volume.data)


def test_missing_pixel_spacing_warns_and_defaults(tmp_path):
    volume = Volume(np.zeros((3, 4, 5), np.int16), (0.5, 0.5, 0.5), "HU")
    write_dicom_series(volume, tmp_path / "s")
    for f in (tmp_path / "s").iterdir():
        ds = pydicom.dcmread(f)
        del ds.PixelSpacing
        ds.save_as(f)
    with pytest.warns(UserWarning, match="does not record its voxel spacing.*1 mm"):
        back = read_volume(tmp_path / "s")
    assert back.voxel_size_mm == (0.5, 1.0, 1.0)  # slice spacing from positions, in-plane 1 mm


def _multiframe(path, hu, spacing=(0.3, 0.2, 0.25), slope=1.0, intercept=-1024.0):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID = "CT", generate_uid()
    ds.NumberOfFrames = hu.shape[0]
    ds.Rows, ds.Columns = hu.shape[1:]
    ds.PixelSpacing = [spacing[1], spacing[2]]
    ds.SpacingBetweenSlices = spacing[0]
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.rint((hu - intercept) / slope).astype(np.uint16).tobytes()
    ds.save_as(str(path), enforce_file_format=True)


def test_multiframe_file(tmp_path, rat_volume):
    hu = rat_volume.data[30:40].astype(np.int16)
    _multiframe(tmp_path / "enhanced.dcm", hu)
    back = read_volume(tmp_path / "enhanced.dcm")
    np.testing.assert_array_equal(back.data, hu)
    np.testing.assert_allclose(back.voxel_size_mm, (0.3, 0.2, 0.25))
    assert back.intensity_units == "HU"
    assert back.metadata["format"] == "DICOM multi-frame"
    # the same file alone in a folder is found through the folder too
    folder = tmp_path / "one_file"
    folder.mkdir()
    shutil.copy(tmp_path / "enhanced.dcm", folder / "IMG")
    np.testing.assert_array_equal(read_dicom(folder).data, hu)
