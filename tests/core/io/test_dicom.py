"""DICOM through pydicom: series written from the synthetic rat come back voxel for voxel in HU;
multi-frame files, mixed series, slice order, intensity units, bad input."""

import shutil

import numpy as np
import pydicom
import pydicom.errors
import pytest
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from napari_rat_tms.core.errors import UnsupportedVolumeError, VolumeReadError, VolumeTooLargeError
from napari_rat_tms.core.io import detect_format, read_dicom, read_volume, write_dicom_series
from napari_rat_tms.core.io.dicom import is_dicom_file, list_dicom_series
from napari_rat_tms.core.volume import Volume

# ---------------------------------------------------------------- series from the synthetic rat


@pytest.mark.parametrize("slope, intercept", [(1.0, -1024.0), (0.5, -1100.0)])
def test_synthetic_rat_series_round_trip_in_hu(tmp_path, rat_volume, slope, intercept):
    files = write_dicom_series(rat_volume, tmp_path / "rat", rescale_slope=slope,
                               rescale_intercept=intercept)
    assert len(files) == rat_volume.shape[0] == 87
    assert files[0].name == "slice_00000.dcm"

    # the file holds stored values, not HU: the rescale is really exercised
    raw = pydicom.dcmread(files[40])
    assert float(raw.RescaleSlope) == slope and float(raw.RescaleIntercept) == intercept
    assert raw.RescaleType == "HU" and raw.Modality == "CT"
    stored = raw.pixel_array
    assert stored.dtype == np.uint16
    hu = rat_volume.data[40]
    assert not np.array_equal(stored, hu)
    assert np.count_nonzero(stored.astype(float) != hu) > 0.9 * hu.size
    np.testing.assert_array_equal(stored.astype(float) * slope + intercept, hu)

    back = read_volume(tmp_path / "rat")
    assert np.array_equal(back.data, rat_volume.data)
    assert np.allclose(back.voxel_size_mm, rat_volume.voxel_size_mm, atol=1e-5)
    assert back.intensity_units == "HU"
    assert back.scanner_frame == "LPS"
    assert back.metadata["format"] == "DICOM"
    assert back.metadata["modality"] == "CT"
    assert back.metadata["series_description"] == "napari-rat-tms export"
    # an integer rescale gives int16 HU, a fractional one float32
    assert back.data.dtype == (np.int16 if slope == 1.0 else np.float32)


def test_anisotropic_small_series_round_trip(tmp_path, volume):
    write_dicom_series(volume, tmp_path / "s")
    back = read_dicom(tmp_path / "s")
    assert np.array_equal(back.data, volume.data)
    assert np.allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), atol=1e-5)
    ds = pydicom.dcmread(tmp_path / "s" / "slice_00003.dcm")
    assert [float(v) for v in ds.PixelSpacing] == [0.3, 0.4]
    assert float(ds.SliceThickness) == 0.2
    assert (ds.Rows, ds.Columns) == (10, 9)
    np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], (0.0, 0.0, 0.6), atol=1e-6)


def test_slice_order_comes_from_positions_not_names(tmp_path, rat_volume):
    files = write_dicom_series(rat_volume, tmp_path / "rat")
    rng = np.random.default_rng(3)
    new_names = [f"IM{n:05d}.dcm" for n in rng.permutation(len(files))]
    for f, name in zip(files, new_names):
        f.rename(f.with_name(name))
    name_order = sorted(new_names)
    assert name_order != new_names  # the name order is not the position order
    back = read_volume(tmp_path / "rat")
    assert np.array_equal(back.data, rat_volume.data)


def test_reread_series_writes_back_with_its_geometry(tmp_path, volume):
    """A volume read from DICOM (LPS, with origin) is exported with the same geometry."""
    write_dicom_series(volume, tmp_path / "a")
    first = read_volume(tmp_path / "a")
    write_dicom_series(first, tmp_path / "b")
    second = read_volume(tmp_path / "b")
    assert np.array_equal(second.data, volume.data)
    np.testing.assert_allclose(second.scanner_affine_mm, first.scanner_affine_mm, atol=1e-6)


def test_writer_warns_when_orientation_is_dropped(tmp_path, volume):
    ras = Volume(volume.data, volume.voxel_size_mm, "HU", scanner_frame="RAS")
    with pytest.warns(UserWarning, match="RAS orientation of this volume is not kept"):
        write_dicom_series(ras, tmp_path / "r")
    assert np.array_equal(read_volume(tmp_path / "r").data, volume.data)


def test_writer_refuses_values_that_do_not_fit(tmp_path, volume):
    with pytest.raises(ValueError, match="do not fit in 16 bits"):
        write_dicom_series(volume, tmp_path / "x", rescale_intercept=0.0)  # -1024 < 0
    with pytest.raises(ValueError, match="rescale_slope must be > 0"):
        write_dicom_series(volume, tmp_path / "y", rescale_slope=0.0)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


# ---------------------------------------------------------------- intensity units


def _edit_all(folder, **changes):
    for f in sorted(folder.iterdir()):
        ds = pydicom.dcmread(f)
        for key, value in changes.items():
            if value is None:
                delattr(ds, key)
            else:
                setattr(ds, key, value)
        ds.save_as(f)


def test_rescale_type_us_and_other_modality_give_unknown_units(tmp_path):
    volume = Volume(np.arange(60, dtype=np.int16).reshape(3, 4, 5) + 100, (1.0, 1.0, 1.0), "unknown")
    write_dicom_series(volume, tmp_path / "s", rescale_intercept=0.0)
    assert pydicom.dcmread(tmp_path / "s" / "slice_00000.dcm").RescaleType == "US"
    _edit_all(tmp_path / "s", Modality="OT")
    back = read_volume(tmp_path / "s")
    assert back.intensity_units == "unknown"
    assert back.metadata["modality"] == "OT"
    assert np.array_equal(back.data, volume.data)


def test_rescale_type_us_wins_over_modality_ct(tmp_path, volume):
    write_dicom_series(volume, tmp_path / "s")
    _edit_all(tmp_path / "s", RescaleType="US")
    assert read_volume(tmp_path / "s").intensity_units == "unknown"


def test_ct_with_rescale_and_no_rescale_type_is_hu(tmp_path, volume):
    """DICOM PS3.3 C.11.1.1.2: a CT's rescaled values are HU when no RescaleType is given."""
    write_dicom_series(volume, tmp_path / "s")
    _edit_all(tmp_path / "s", RescaleType=None)
    assert read_volume(tmp_path / "s").intensity_units == "HU"
    _edit_all(tmp_path / "s", Modality="MR")
    assert read_volume(tmp_path / "s").intensity_units == "unknown"


# ---------------------------------------------------------------- several series in one folder


def test_mixed_series_loads_largest_and_says_so(tmp_path, rat_volume):
    small = Volume(np.asarray(rat_volume.data[:5, :20, :20]), (1.0, 1.0, 1.0), "HU")
    big_files = write_dicom_series(rat_volume, tmp_path / "big", series_description="head")
    small_files = write_dicom_series(small, tmp_path / "small", series_description="scout")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for f in big_files:
        shutil.copy(f, mixed / f"a_{f.name}")
    for f in small_files:
        shutil.copy(f, mixed / f"b_{f.name}")
    assert len(list_dicom_series(mixed)) == 2
    with pytest.warns(UserWarning, match=r"holds 2 DICOM series.*largest.*87 slices.*scout.*series_uid"):
        back = read_volume(mixed)
    assert back.shape == rat_volume.shape
    assert np.array_equal(back.data, rat_volume.data)
    assert back.metadata["series_description"] == "head"

    small_uid = str(pydicom.dcmread(small_files[0]).SeriesInstanceUID)
    chosen = read_volume(mixed, series_uid=small_uid)
    assert chosen.shape == (5, 20, 20)
    assert np.array_equal(chosen.data, small.data)
    assert chosen.metadata["series_instance_uid"] == small_uid

    with pytest.raises(VolumeReadError, match=r"has no series 'nope'.*head.*scout"):
        read_volume(mixed, series_uid="nope")


# ---------------------------------------------------------------- slice geometry


def test_no_positions_orders_by_instance_number_and_uses_spacing_tag(tmp_path, volume):
    files = write_dicom_series(volume, tmp_path / "s")
    for k, f in enumerate(files):  # names now in reverse order of the instances
        f.rename(f.with_name(f"z{len(files) - k:03d}.dcm"))
    _edit_all(tmp_path / "s", ImagePositionPatient=None)
    back = read_volume(tmp_path / "s")
    assert np.array_equal(back.data, volume.data)
    np.testing.assert_allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), atol=1e-6)  # SliceThickness


def test_missing_pixel_spacing_warns_and_defaults(tmp_path):
    volume = Volume(np.zeros((3, 4, 5), np.int16), (0.5, 0.5, 0.5), "HU")
    write_dicom_series(volume, tmp_path / "s")
    _edit_all(tmp_path / "s", PixelSpacing=None)
    with pytest.warns(UserWarning, match="does not record its voxel spacing.*1 mm"):
        back = read_volume(tmp_path / "s")
    assert back.voxel_size_mm == (0.5, 1.0, 1.0)  # slice spacing from positions, in-plane 1 mm


def test_missing_slice_warns_and_uses_median_spacing(tmp_path, volume):
    files = write_dicom_series(volume, tmp_path / "s")
    files[5].unlink()
    with pytest.warns(UserWarning, match=r"slice spacing varies from 0\.2000 to 0\.4000 mm"):
        back = read_volume(tmp_path / "s")
    assert back.shape == (11, 10, 9)
    np.testing.assert_allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), atol=1e-6)
    assert np.array_equal(back.data, np.delete(volume.data, 5, axis=0))


def test_two_slices_at_the_same_position(tmp_path, volume):
    files = write_dicom_series(volume, tmp_path / "s")
    ds = pydicom.dcmread(files[4])
    ds.ImagePositionPatient = pydicom.dcmread(files[3]).ImagePositionPatient
    ds.save_as(files[4])
    with pytest.raises(VolumeReadError, match=r"two slices lie at the same position \(0\.600 mm\)"):
        read_volume(tmp_path / "s")


def test_slices_of_different_sizes(tmp_path, volume):
    write_dicom_series(volume, tmp_path / "s")
    odd = Volume(np.zeros((1, 4, 4), np.int16), (1.0, 1.0, 1.0), "HU")
    other = write_dicom_series(odd, tmp_path / "o")[0]
    ds = pydicom.dcmread(other)
    ds.SeriesInstanceUID = pydicom.dcmread(tmp_path / "s" / "slice_00000.dcm").SeriesInstanceUID
    ds.save_as(tmp_path / "s" / "zz_odd.dcm")
    with pytest.raises(VolumeReadError, match=r"different sizes \(10x9 .*4x4"):
        read_volume(tmp_path / "s")


# ---------------------------------------------------------------- bad input


def test_truncated_slice_is_named(tmp_path, volume):
    files = write_dicom_series(volume, tmp_path / "s")
    data = files[6].read_bytes()
    files[6].write_bytes(data[: len(data) - 100])  # header intact, pixel data cut
    with pytest.raises(VolumeReadError, match=r"slice_00006\.dcm: cannot decode the pixel data"):
        read_volume(tmp_path / "s")


def test_single_slice_folder_is_2d(tmp_path, volume):
    write_dicom_series(Volume(volume.data[:1], (1.0, 1.0, 1.0), "HU"), tmp_path / "one")
    assert detect_format(tmp_path / "one") == "dicom"
    with pytest.raises(UnsupportedVolumeError, match=r"2D image of shape \(10, 9\)"):
        read_volume(tmp_path / "one")
    # and the slice alone, as a file
    with pytest.raises(UnsupportedVolumeError, match="not a 3D volume"):
        read_volume(tmp_path / "one" / "slice_00000.dcm")


def test_other_files_in_the_folder_are_ignored(tmp_path, volume):
    write_dicom_series(volume, tmp_path / "s")
    (tmp_path / "s" / "DICOMDIR.txt").write_text("not dicom")
    (tmp_path / "s" / ".hidden.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"junk")
    back = read_volume(tmp_path / "s")
    assert np.array_equal(back.data, volume.data)


def test_folder_without_dicom(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(VolumeReadError, match="holds no DICOM files"):
        read_dicom(tmp_path)
    with pytest.raises(VolumeReadError, match="does not exist"):
        read_dicom(tmp_path / "missing")


def test_corrupt_dicom_file(tmp_path):
    (tmp_path / "junk.dcm").write_bytes(b"garbage " * 100)
    with pytest.raises(VolumeReadError, match="is not a readable DICOM file"):
        read_volume(tmp_path / "junk.dcm")


def test_unreadable_file_with_preamble_is_skipped_with_a_warning(tmp_path, volume, monkeypatch):
    write_dicom_series(volume, tmp_path / "s")
    (tmp_path / "s" / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 3)
    # pydicom reads almost anything leniently; make it fail on this file as on a badly broken one
    real_dcmread = pydicom.dcmread

    def dcmread(path, *args, **kwargs):
        if str(path).endswith("broken.dcm"):
            raise pydicom.errors.InvalidDicomError("broken on purpose")
        return real_dcmread(path, *args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", dcmread)
    with pytest.warns(UserWarning, match=r"Skipping .*broken\.dcm: not a readable DICOM file"):
        back = read_volume(tmp_path / "s")
    assert np.array_equal(back.data, volume.data)


def test_colour_series_is_refused(tmp_path, volume):
    files = write_dicom_series(volume, tmp_path / "s")
    for f in files:
        ds = pydicom.dcmread(f)
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = np.zeros((10, 9, 3), np.uint8).tobytes()
        ds.save_as(f)
    with pytest.raises(UnsupportedVolumeError, match=r"4D array of shape \(12, 10, 9, 3\).*colour"):
        read_volume(tmp_path / "s")


def test_max_bytes_series(tmp_path, volume):
    write_dicom_series(volume, tmp_path / "s")
    with pytest.raises(VolumeTooLargeError, match="12 x 10 x 9 voxels needs"):
        read_volume(tmp_path / "s", max_bytes=100)
    assert read_volume(tmp_path / "s", max_bytes=4320).shape == (12, 10, 9)  # counted at 4 bytes


# ---------------------------------------------------------------- multi-frame files


def _multiframe(path, hu, spacing=(0.3, 0.2, 0.25), slope=1.0, intercept=-1024.0, *,
                modality="CT", rescale_type=None, functional_groups=False, positions=None,
                samples=1):
    """A multi-frame (Enhanced CT like) file of ``hu`` (frames, rows, columns)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID = modality, generate_uid()
    ds.NumberOfFrames = hu.shape[0]
    ds.Rows, ds.Columns = hu.shape[1:3]
    if functional_groups:
        measures = Dataset()
        measures.PixelSpacing = [spacing[1], spacing[2]]
        measures.SliceThickness = spacing[0]
        transform = Dataset()
        transform.RescaleSlope, transform.RescaleIntercept = slope, intercept
        if rescale_type:
            transform.RescaleType = rescale_type
        orientation = Dataset()
        orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        shared = Dataset()
        shared.PixelMeasuresSequence = Sequence([measures])
        shared.PixelValueTransformationSequence = Sequence([transform])
        shared.PlaneOrientationSequence = Sequence([orientation])
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
    else:
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SpacingBetweenSlices = spacing[0]
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        if rescale_type:
            ds.RescaleType = rescale_type
    if positions is not None:
        frames = []
        for p in positions:
            plane = Dataset()
            plane.ImagePositionPatient = [0.0, 0.0, float(p)]
            item = Dataset()
            item.PlanePositionSequence = Sequence([plane])
            frames.append(item)
        ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = "MONOCHROME2" if samples == 1 else "RGB"
    if samples == 1:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = np.rint((hu - intercept) / slope).astype(np.uint16).tobytes()
    else:
        ds.PlanarConfiguration = 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = np.zeros((*hu.shape, samples), np.uint8).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


def test_multiframe_file_is_a_volume_in_hu(tmp_path, volume):
    hu = volume.data
    path = _multiframe(tmp_path / "enhanced.dcm", hu, slope=0.5, intercept=-1100.0)
    raw = pydicom.dcmread(path).pixel_array
    assert raw.shape == (12, 10, 9) and not np.array_equal(raw, hu)
    assert detect_format(path) == "dicom"
    back = read_volume(path)
    assert back.shape == (12, 10, 9)
    assert np.array_equal(back.data, hu)
    np.testing.assert_allclose(back.voxel_size_mm, (0.3, 0.2, 0.25), atol=1e-6)
    assert back.intensity_units == "HU"
    assert back.metadata["format"] == "DICOM multi-frame"
    # the same file alone in a folder, without suffix, is found through the folder too
    folder = tmp_path / "one_file"
    folder.mkdir()
    shutil.copy(path, folder / "IMG")
    assert detect_format(folder) == "dicom"
    via_folder = read_dicom(folder)
    assert np.array_equal(via_folder.data, hu)
    np.testing.assert_allclose(via_folder.voxel_size_mm, (0.3, 0.2, 0.25), atol=1e-6)


def test_multiframe_functional_groups_and_frame_positions(tmp_path, volume):
    """Spacing and rescale in the shared functional groups; frames stored in reverse position order."""
    hu = volume.data
    positions = 5.0 + 0.3 * np.arange(12)[::-1]  # frame 0 is the highest
    path = _multiframe(tmp_path / "fg.dcm", hu[::-1], functional_groups=True, positions=positions)
    back = read_volume(path)
    assert np.array_equal(back.data, hu)  # sorted by position along the slice normal
    np.testing.assert_allclose(back.voxel_size_mm, (0.3, 0.2, 0.25), atol=1e-6)
    np.testing.assert_allclose(back.scanner_affine_mm[:3, 3], (0.0, 0.0, 5.0), atol=1e-6)
    assert back.intensity_units == "HU"


@pytest.mark.parametrize("functional_groups", [False, True])
def test_multiframe_rescale_type_us_is_not_hu(tmp_path, volume, functional_groups):
    path = _multiframe(tmp_path / "us.dcm", volume.data, rescale_type="US",
                       functional_groups=functional_groups)
    back = read_volume(path)
    assert back.intensity_units == "unknown"
    assert np.array_equal(back.data, volume.data)


def test_multiframe_other_modality_is_not_hu(tmp_path, volume):
    path = _multiframe(tmp_path / "ot.dcm", volume.data, modality="OT", rescale_type="US")
    assert read_volume(path).intensity_units == "unknown"


def test_multiframe_single_frame_and_colour_are_refused(tmp_path, volume):
    one = _multiframe(tmp_path / "one.dcm", volume.data[:1])
    with pytest.raises(UnsupportedVolumeError, match=r"2D image of shape \(10, 9\)"):
        read_volume(one)
    rgb = _multiframe(tmp_path / "rgb.dcm", volume.data, samples=3)
    with pytest.raises(UnsupportedVolumeError, match="colour"):
        read_volume(rgb)


def test_multiframe_max_bytes_and_truncation(tmp_path, volume):
    path = _multiframe(tmp_path / "mf.dcm", volume.data)
    with pytest.raises(VolumeTooLargeError, match="12 x 10 x 9 voxels needs"):
        read_volume(path, max_bytes=100)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) - 500])
    with pytest.raises(VolumeReadError, match="cannot decode the pixel data"):
        read_volume(path)


# ---------------------------------------------------------------- helpers


def test_is_dicom_file(tmp_path, volume):
    files = write_dicom_series(Volume(volume.data[:2], volume.voxel_size_mm, "HU"), tmp_path / "s")
    assert is_dicom_file(files[0]) is True
    (tmp_path / "short").write_bytes(b"DICM")
    assert is_dicom_file(tmp_path / "short") is False
    assert is_dicom_file(tmp_path / "s") is False  # a folder
    assert is_dicom_file(tmp_path / "missing") is False
