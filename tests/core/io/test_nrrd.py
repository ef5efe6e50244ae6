"""NRRD (.nrrd, .nhdr) through pynrrd: round trips, spacing from directions/spacings/units, bad files."""

import nrrd
import numpy as np
import pytest

from napari_rat_tms.core.errors import UnsupportedVolumeError, VolumeReadError, VolumeTooLargeError
from napari_rat_tms.core.io import read_nrrd, read_volume, write_nrrd, write_volume
from napari_rat_tms.core.volume import Volume


def test_round_trip_keeps_voxels_spacing_and_hu(tmp_path, volume):
    path = write_nrrd(volume, tmp_path / "v.nrrd")
    back = read_nrrd(path)
    assert back.data.dtype == np.int16
    assert np.array_equal(back.data, volume.data)
    assert np.allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), atol=1e-5)
    assert back.intensity_units == "HU"
    assert back.metadata["format"] == "NRRD"
    np.testing.assert_allclose(back.scanner_affine_mm, volume.scanner_affine_mm, atol=1e-9)


def test_header_is_in_file_axis_order(tmp_path, volume):
    path = write_nrrd(volume, tmp_path / "v.nrrd")
    header = nrrd.read_header(str(path))
    assert list(header["sizes"]) == [9, 10, 12]  # fastest axis first
    np.testing.assert_allclose(np.linalg.norm(header["space directions"], axis=1), (0.4, 0.3, 0.2))
    assert header["intensity_units"] == "HU"
    assert list(header["space units"]) == ["mm", "mm", "mm"]


def test_lps_frame_and_oblique_affine_round_trip(tmp_path, volume):
    c, s = np.cos(0.3), np.sin(0.3)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    affine = np.eye(4)
    affine[:3, :3] = rot * np.asarray(volume.voxel_size_mm)
    affine[:3, 3] = (1.5, -2.0, 3.25)
    oblique = Volume(volume.data, volume.voxel_size_mm, "HU", affine, "LPS")
    back = read_volume(write_volume(oblique, tmp_path / "o.nrrd"))
    assert back.scanner_frame == "LPS"
    np.testing.assert_allclose(back.scanner_affine_mm, affine, atol=1e-9)
    np.testing.assert_allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), atol=1e-9)


def test_units_unknown_without_the_key(tmp_path, volume):
    nrrd.write(str(tmp_path / "plain.nrrd"), volume.data, {"spacings": [0.4, 0.3, 0.2]}, index_order="C")
    back = read_volume(tmp_path / "plain.nrrd")
    assert back.intensity_units == "unknown"
    assert back.scanner_frame == "unknown"
    assert np.array_equal(back.data, volume.data)
    np.testing.assert_allclose(back.voxel_size_mm, (0.2, 0.3, 0.4))


def test_space_units_in_microns_are_converted(tmp_path, volume):
    header = {
        "space": "left-posterior-superior",
        "space directions": np.diag([400.0, 300.0, 200.0]),
        "space origin": np.array([1000.0, 0.0, -500.0]),
        "space units": ["um", "um", "um"],
    }
    nrrd.write(str(tmp_path / "um.nrrd"), volume.data, header, index_order="C")
    back = read_volume(tmp_path / "um.nrrd")
    np.testing.assert_allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), rtol=1e-9)
    np.testing.assert_allclose(back.scanner_affine_mm[:3, 3], (1.0, 0.0, -0.5))
    assert back.scanner_frame == "LPS"


def test_detached_header_nhdr(tmp_path, volume):
    nrrd.write(str(tmp_path / "v.nhdr"), volume.data,
               {"space directions": np.diag([0.4, 0.3, 0.2]), "space": "RAS"},
               detached_header=True, index_order="C")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and "v.nhdr" in names  # header + separate data file
    back = read_volume(tmp_path / "v.nhdr")
    assert np.array_equal(back.data, volume.data)
    np.testing.assert_allclose(back.voxel_size_mm, (0.2, 0.3, 0.4))
    assert back.scanner_frame == "RAS"


def test_no_spacing_warns_and_uses_1mm(tmp_path, volume):
    nrrd.write(str(tmp_path / "none.nrrd"), volume.data, {}, index_order="C")
    with pytest.warns(UserWarning, match="does not record its voxel spacing; using 1 mm"):
        back = read_volume(tmp_path / "none.nrrd")
    assert back.voxel_size_mm == (1.0, 1.0, 1.0)


def test_singleton_non_spatial_axis_is_dropped(tmp_path):
    data = np.arange(60, dtype=np.uint8).reshape(1, 3, 4, 5)
    header = {
        "space dimension": 3,
        "space directions": [[0.4, 0, 0], [0, 0.3, 0], [0, 0, 0.2], [np.nan] * 3],
        "kinds": ["domain", "domain", "domain", "list"],
    }
    nrrd.write(str(tmp_path / "four.nrrd"), data, header, index_order="C")
    back = read_volume(tmp_path / "four.nrrd")
    assert back.shape == (3, 4, 5)
    assert np.array_equal(back.data, data[0])
    np.testing.assert_allclose(back.voxel_size_mm, (0.2, 0.3, 0.4))


def test_2d_and_rgb_are_refused(tmp_path, volume):
    nrrd.write(str(tmp_path / "slice.nrrd"), volume.data[0], {}, index_order="C")
    with pytest.raises(UnsupportedVolumeError, match=r"2D image of shape \(10, 9\)"):
        read_volume(tmp_path / "slice.nrrd")
    nrrd.write(str(tmp_path / "rgb.nrrd"), np.zeros((3, 4, 5, 3), np.uint8),
               {"kinds": ["domain", "domain", "domain", "vector"]}, index_order="C")
    with pytest.raises(UnsupportedVolumeError, match=r"4D array.*colour channels"):
        read_volume(tmp_path / "rgb.nrrd")


def test_corrupt_file(tmp_path):
    path = tmp_path / "junk.nrrd"
    path.write_bytes(b"garbage " * 100)
    with pytest.raises(VolumeReadError, match="is not a readable NRRD file"):
        read_volume(path)


@pytest.mark.parametrize("encoding", ["gzip", "raw"])
def test_truncated_data(tmp_path, volume, encoding):
    path = tmp_path / "v.nrrd"
    nrrd.write(str(path), volume.data, {"encoding": encoding, "spacings": [1, 1, 1]}, index_order="C")
    content = path.read_bytes()
    path.write_bytes(content[: len(content) - 300])
    assert nrrd.read_header(str(path))["sizes"].tolist() == [9, 10, 12]  # header intact
    with pytest.raises(VolumeReadError, match="header is readable but the voxel data are not"):
        read_volume(path)


def test_max_bytes(tmp_path, volume):
    path = write_volume(volume, tmp_path / "v.nrrd")
    with pytest.raises(VolumeTooLargeError, match="GiB in memory, more than the"):
        read_volume(path, max_bytes=100)
    assert read_volume(path, max_bytes=2160).shape == (12, 10, 9)  # 1080 voxels x 2 bytes


def test_huge_header_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.nrrd"
    path.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 4000 4000 4000\n"
                     b"endian: little\nspacings: 0.01 0.01 0.01\nencoding: raw\n\n" + b"\0" * 64)
    with pytest.raises(VolumeTooLargeError, match=r"119\.21 GiB"):
        read_volume(path)
