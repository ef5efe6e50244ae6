"""TIFF stacks through tifffile: round trip, ImageJ/OME/resolution-tag spacing, folders of slices,
missing spacing, bad files."""

import numpy as np
import pytest
import tifffile

from napari_rat_tms.core.errors import UnsupportedVolumeError, VolumeReadError, VolumeTooLargeError
from napari_rat_tms.core.io import read_tiff, read_volume, tiff_slices_in, write_tiff, write_volume
from napari_rat_tms.core.volume import Volume


def test_round_trip_keeps_voxels_and_spacing_units_unknown(tmp_path, volume):
    path = write_tiff(volume, tmp_path / "v.tif")
    back = read_tiff(path)
    assert np.array_equal(back.data, volume.data)
    assert back.data.dtype == np.float32  # ImageJ has no int16: stored as float32, values exact
    assert np.allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), atol=1e-5)
    assert back.intensity_units == "unknown"  # TIFF has nowhere to say HU
    assert back.metadata == {"format": "TIFF", "files": 1}


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_imagej_types_are_kept(tmp_path, dtype):
    data = (np.arange(4 * 5 * 6) % 200).astype(dtype).reshape(4, 5, 6)
    back = read_volume(write_volume(Volume(data, (0.05, 0.05, 0.05)), tmp_path / "v.tiff"))
    assert back.data.dtype == dtype
    assert np.array_equal(back.data, data)
    np.testing.assert_allclose(back.voxel_size_mm, (0.05, 0.05, 0.05), atol=1e-6)


def test_imagej_spacing_in_mm(tmp_path):
    data = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    tifffile.imwrite(tmp_path / "mm.tif", data, imagej=True, resolution=(1 / 0.025, 1 / 0.02),
                     metadata={"spacing": 0.05, "unit": "mm", "axes": "ZYX"})
    back = read_volume(tmp_path / "mm.tif")
    np.testing.assert_allclose(back.voxel_size_mm, (0.05, 0.02, 0.025), rtol=1e-6)  # (z, y, x)
    assert np.array_equal(back.data, data)


@pytest.mark.parametrize("unit", ["um", "micron"])  # ImageJ writes µm as "um"
def test_imagej_spacing_in_microns_is_converted(tmp_path, unit):
    data = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    tifffile.imwrite(tmp_path / "um.tif", data, imagej=True, resolution=(1 / 17.0, 1 / 13.0),
                     metadata={"spacing": 34.0, "unit": unit, "axes": "ZYX"})
    back = read_volume(tmp_path / "um.tif")
    np.testing.assert_allclose(back.voxel_size_mm, (0.034, 0.013, 0.017), rtol=1e-6)
    np.testing.assert_array_equal(back.data, data)


def test_ome_physical_sizes(tmp_path):
    data = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    tifffile.imwrite(tmp_path / "v.ome.tif", data, ome=True, metadata={
        "axes": "ZYX",
        "PhysicalSizeX": 20.0, "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": 30.0, "PhysicalSizeYUnit": "µm",
        "PhysicalSizeZ": 0.04, "PhysicalSizeZUnit": "mm",
    })
    back = read_volume(tmp_path / "v.ome.tif")
    np.testing.assert_allclose(back.voxel_size_mm, (0.04, 0.03, 0.02), rtol=1e-9)
    assert np.array_equal(back.data, data)


def test_resolution_in_centimetres_without_slice_spacing_warns_isotropic(tmp_path):
    data = np.zeros((3, 4, 5), np.uint16)
    tifffile.imwrite(tmp_path / "cm.tif", data, resolution=(100, 50), resolutionunit=3,
                     photometric="minisblack")
    with pytest.warns(UserWarning, match="assuming isotropic voxels"):
        back = read_volume(tmp_path / "cm.tif")
    np.testing.assert_allclose(back.voxel_size_mm, (0.2, 0.2, 0.1))  # 50 and 100 pixels per cm


def test_print_resolution_in_inches_is_not_a_voxel_size(tmp_path):
    tifffile.imwrite(tmp_path / "dpi.tif", np.zeros((3, 4, 5), np.uint8), resolution=(300, 300),
                     resolutionunit=2, photometric="minisblack")
    with pytest.warns(UserWarning, match="does not record its voxel spacing"):
        back = read_volume(tmp_path / "dpi.tif")
    assert back.voxel_size_mm == (1.0, 1.0, 1.0)


def test_missing_spacing_warns_and_defaults_to_1mm(tmp_path, volume):
    tifffile.imwrite(tmp_path / "plain.tif", volume.data)  # no resolution, no metadata
    with pytest.warns(UserWarning, match="voxel spacing"):
        back = read_volume(tmp_path / "plain.tif")
    assert back.voxel_size_mm == (1.0, 1.0, 1.0)
    assert np.array_equal(back.data, volume.data)
    assert back.data.dtype == np.int16


def _slices(folder, n=12, **kwargs):
    folder.mkdir()
    for k in range(1, n + 1):
        tifffile.imwrite(folder / f"slice_{k}.tif", np.full((5, 6), k, np.uint16), **kwargs)
    return folder


def test_folder_of_slices_in_natural_order(tmp_path):
    folder = _slices(tmp_path / "slices", imagej=True, resolution=(1 / 0.02, 1 / 0.02),
                     metadata={"spacing": 0.05, "unit": "mm"})
    assert [p.name for p in tiff_slices_in(folder)][:3] == ["slice_1.tif", "slice_2.tif", "slice_3.tif"]
    back = read_volume(folder)
    assert back.shape == (12, 5, 6)
    # slice_2 before slice_10 (alphabetical order would give 1, 10, 11, 12, 2, ...)
    np.testing.assert_array_equal(back.data[:, 0, 0], np.arange(1, 13))
    assert all(np.all(back.data[k] == k + 1) for k in range(12))
    np.testing.assert_allclose(back.voxel_size_mm, (0.05, 0.02, 0.02))
    assert back.metadata == {"format": "TIFF slices", "files": 12}


def test_folder_with_in_plane_resolution_only_warns_isotropic(tmp_path):
    folder = _slices(tmp_path / "slices", n=4, imagej=True, resolution=(1 / 0.03, 1 / 0.03),
                     metadata={"unit": "mm"})
    with pytest.warns(UserWarning, match="isotropic"):
        back = read_volume(folder)
    np.testing.assert_allclose(back.voxel_size_mm, (0.03, 0.03, 0.03))


def test_folder_ignores_other_files_and_upper_case_suffix(tmp_path):
    folder = tmp_path / "slices"
    folder.mkdir()
    for k in (1, 2, 3):
        tifffile.imwrite(folder / f"IMG{k}.TIF", np.full((4, 4), k, np.uint8))
    (folder / "notes.txt").write_text("scan log")
    (folder / "sub.tif").mkdir()  # a folder named like a slice is not one
    with pytest.warns(UserWarning, match="voxel spacing"):
        back = read_volume(folder)
    np.testing.assert_array_equal(back.data[:, 0, 0], [1, 2, 3])


def test_slices_of_different_sizes(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    tifffile.imwrite(folder / "a1.tif", np.zeros((4, 4), np.uint8))
    tifffile.imwrite(folder / "a2.tif", np.zeros((5, 4), np.uint8))
    with pytest.raises(VolumeReadError, match="do not stack into one volume"):
        read_volume(folder)


def test_empty_folder(tmp_path):
    with pytest.raises(VolumeReadError, match=r"holds no \.tif/\.tiff files"):
        read_tiff(tmp_path)


def test_2d_image_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "slice.tif", np.zeros((20, 30), np.uint16))
    with pytest.raises(UnsupportedVolumeError, match=r"2D image of shape \(20, 30\), not a 3D volume"):
        read_volume(tmp_path / "slice.tif")


def test_rgb_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "photo.tif", np.zeros((20, 30, 3), np.uint8), photometric="rgb")
    with pytest.raises(UnsupportedVolumeError, match="colour"):
        read_volume(tmp_path / "photo.tif")
    tifffile.imwrite(tmp_path / "rgbstack.tif", np.zeros((4, 20, 30, 3), np.uint8), photometric="rgb")
    with pytest.raises(UnsupportedVolumeError, match="colour"):
        read_volume(tmp_path / "rgbstack.tif")
    folder = tmp_path / "rgb_slices"
    folder.mkdir()
    for k in range(3):
        tifffile.imwrite(folder / f"s{k}.tif", np.zeros((20, 30, 3), np.uint8), photometric="rgb")
    with pytest.raises(UnsupportedVolumeError, match="colour"):
        read_volume(folder)


def test_4d_hyperstack_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "tzyx.tif", np.zeros((2, 3, 4, 5), np.uint8), imagej=True,
                     metadata={"axes": "TZYX"})
    with pytest.raises(UnsupportedVolumeError, match=r"4D array of shape \(2, 3, 4, 5\)"):
        read_volume(tmp_path / "tzyx.tif")


def test_corrupt_file(tmp_path):
    (tmp_path / "junk.tif").write_bytes(b"garbage " * 100)
    with pytest.raises(VolumeReadError, match="is not a readable TIFF file"):
        read_volume(tmp_path / "junk.tif")


def test_max_bytes(tmp_path, volume):
    path = write_volume(volume, tmp_path / "v.tif")
    with pytest.raises(VolumeTooLargeError, match="12 x 10 x 9 voxels needs"):
        read_volume(path, max_bytes=100)
    assert read_volume(path, max_bytes=4320).shape == (12, 10, 9)  # 1080 float32 voxels
    folder = _slices(tmp_path / "slices")
    with pytest.raises(VolumeTooLargeError, match="12 x 5 x 6 voxels needs"):
        read_volume(folder, max_bytes=100)
