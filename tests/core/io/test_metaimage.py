"""MetaImage (.mha, .mhd + raw) through SimpleITK: round trips, ITK axis order, units, bad files."""

import numpy as np
import pytest
import SimpleITK as sitk

from napari_rat_tms.core.errors import UnsupportedVolumeError, VolumeReadError, VolumeTooLargeError
from napari_rat_tms.core.io import read_metaimage, read_volume, write_metaimage, write_volume
from napari_rat_tms.core.volume import Volume


@pytest.mark.parametrize("name", ["v.mha", "v.mhd"])
def test_round_trip_keeps_voxels_spacing_and_hu(tmp_path, volume, name):
    path = write_metaimage(volume, tmp_path / name)
    back = read_metaimage(path)
    assert back.data.dtype == np.int16
    assert np.array_equal(back.data, volume.data)
    assert np.allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), atol=1e-5)
    assert back.intensity_units == "HU"
    assert back.scanner_frame == "LPS"
    assert back.metadata["format"] == "MetaImage"
    # each array axis of the affine has the length of its voxel (the writer keeps no direction)
    np.testing.assert_allclose(np.linalg.norm(back.scanner_affine_mm[:3, :3], axis=0), (0.2, 0.3, 0.4))


def test_mhd_writes_header_and_data_file(tmp_path, volume):
    write_metaimage(volume, tmp_path / "v.mhd")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[0] == "v.mhd" and len(names) == 2 and "raw" in names[1]
    header = (tmp_path / "v.mhd").read_text()
    assert "IntensityUnits = HU" in header
    spacing_line = next(line for line in header.splitlines() if line.startswith("ElementSpacing"))
    # ITK's x, y, z: the array axes reversed
    np.testing.assert_allclose([float(v) for v in spacing_line.split("=")[1].split()], (0.4, 0.3, 0.2))
    assert "DimSize = 9 10 12" in header


def test_file_written_by_simpleitk_itself(tmp_path, volume):
    """No IntensityUnits key: units unknown; origin and direction go into the affine."""
    image = sitk.GetImageFromArray(volume.data)
    image.SetSpacing((0.4, 0.3, 0.2))
    image.SetOrigin((10.0, -5.0, 2.5))
    image.SetDirection((-1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    sitk.WriteImage(image, str(tmp_path / "itk.mha"))
    back = read_volume(tmp_path / "itk.mha")
    assert back.intensity_units == "unknown"
    assert np.array_equal(back.data, volume.data)
    np.testing.assert_allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), atol=1e-9)
    # array axis 0 is ITK z, axis 2 is ITK x (flipped by the direction)
    expected = np.array([[0, 0, -0.4, 10.0], [0, 0.3, 0, -5.0], [0.2, 0, 0, 2.5], [0, 0, 0, 1]])
    np.testing.assert_allclose(back.scanner_affine_mm, expected, atol=1e-9)


def test_units_other_than_hu_are_unknown(tmp_path, volume):
    path = write_metaimage(Volume(volume.data, volume.voxel_size_mm, "unknown"), tmp_path / "u.mha")
    assert read_metaimage(path).intensity_units == "unknown"


def test_singleton_4th_axis_is_dropped(tmp_path):
    data = np.arange(60, dtype=np.uint8).reshape(1, 3, 4, 5)
    image = sitk.GetImageFromArray(data)
    image.SetSpacing((0.2, 0.3, 0.4, 1.0))
    sitk.WriteImage(image, str(tmp_path / "t1.mha"))
    back = read_volume(tmp_path / "t1.mha")
    assert back.shape == (3, 4, 5)
    assert np.array_equal(back.data, data[0])
    np.testing.assert_allclose(back.voxel_size_mm, (0.4, 0.3, 0.2))


def test_2d_4d_and_rgb_are_refused(tmp_path, volume):
    sitk.WriteImage(sitk.GetImageFromArray(volume.data[0]), str(tmp_path / "slice.mha"))
    with pytest.raises(UnsupportedVolumeError, match=r"2D image of shape \(10, 9\), not a 3D volume"):
        read_volume(tmp_path / "slice.mha")
    rgb = sitk.GetImageFromArray(np.zeros((3, 4, 5, 3), np.uint8), isVector=True)
    sitk.WriteImage(rgb, str(tmp_path / "rgb.mha"))
    with pytest.raises(UnsupportedVolumeError, match=r"4D array of shape \(3, 4, 5, 3\).*colour"):
        read_volume(tmp_path / "rgb.mha")
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 4, 5), np.uint8)), str(tmp_path / "t.mha"))
    with pytest.raises(UnsupportedVolumeError, match="time series"):
        read_volume(tmp_path / "t.mha")


def test_corrupt_file(tmp_path):
    path = tmp_path / "junk.mha"
    path.write_bytes(b"garbage " * 100)
    with pytest.raises(VolumeReadError, match="is not a readable MetaImage file"):
        read_volume(path)


def test_mhd_with_truncated_or_missing_raw(tmp_path, volume):
    path = write_volume(volume, tmp_path / "v.mhd")
    raw = next(p for p in tmp_path.iterdir() if p.name != "v.mhd")
    content = raw.read_bytes()
    raw.write_bytes(content[: len(content) - 200])
    with pytest.raises(VolumeReadError, match="header is readable but the voxel data are not"):
        read_volume(path)
    raw.unlink()
    with pytest.raises(VolumeReadError, match="voxel data are not"):
        read_volume(path)


def test_max_bytes(tmp_path, volume):
    path = write_volume(volume, tmp_path / "v.mha")
    with pytest.raises(VolumeTooLargeError, match="12 x 10 x 9 voxels needs"):
        read_volume(path, max_bytes=100)
    assert read_volume(path, max_bytes=2160).shape == (12, 10, 9)  # 1080 voxels x 2 bytes
    with pytest.raises(VolumeTooLargeError):
        read_volume(path, max_bytes=2159)


def test_huge_header_is_refused_before_reading(tmp_path):
    (tmp_path / "huge.mhd").write_text(
        "ObjectType = Image\nNDims = 3\nDimSize = 4000 4000 4000\nElementSpacing = 0.01 0.01 0.01\n"
        "ElementType = MET_SHORT\nElementDataFile = huge.raw\n"
    )
    (tmp_path / "huge.raw").write_bytes(b"\0" * 64)
    with pytest.raises(VolumeTooLargeError, match=r"4000 x 4000 x 4000 voxels needs 119\.21 GiB"):
        read_volume(tmp_path / "huge.mhd")
