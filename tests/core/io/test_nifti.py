"""NIfTI (.nii, .nii.gz) through nibabel: round trips, units, spacing, scaling, bad files."""

import gzip

import nibabel as nib
import numpy as np
import pytest

from napari_rat_tms.core.errors import UnsupportedVolumeError, VolumeReadError, VolumeTooLargeError
from napari_rat_tms.core.io import read_nifti, read_volume, write_nifti, write_volume
from napari_rat_tms.core.volume import Volume


def _save(data, path, zooms=None, units="mm", descrip=None, affine=None):
    img = nib.Nifti1Image(data, np.eye(4) if affine is None else affine)
    if zooms is not None:
        img.header.set_zooms(zooms)
    img.header.set_xyzt_units(units)
    if descrip is not None:
        img.header["descrip"] = descrip
    nib.save(img, str(path))
    return path


@pytest.mark.parametrize("name", ["v.nii", "v.nii.gz"])
def test_round_trip_keeps_voxels_spacing_and_hu(tmp_path, volume, name):
    path = write_nifti(volume, tmp_path / name)
    back = read_nifti(path)
    assert back.data.dtype == np.int16
    assert back.shape == (12, 10, 9)
    assert np.array_equal(back.data, volume.data)
    assert np.allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), atol=1e-5)
    assert back.intensity_units == "HU"
    assert back.scanner_frame == "RAS"
    assert back.metadata["format"] == "NIfTI"
    np.testing.assert_allclose(back.scanner_affine_mm, volume.scanner_affine_mm, atol=1e-6)


def test_file_axes_are_the_reverse_of_array_axes(tmp_path, volume):
    """The array (k, j, i) is stored as NIfTI (i, j, k): shape and zooms reversed in the file."""
    path = write_nifti(volume, tmp_path / "v.nii.gz")
    img = nib.load(str(path))
    assert img.shape == (9, 10, 12)
    np.testing.assert_allclose(img.header.get_zooms()[:3], (0.4, 0.3, 0.2), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(img.dataobj), np.transpose(volume.data, (2, 1, 0)))
    assert img.header.get_xyzt_units()[0] == "mm"
    assert bytes(img.header["descrip"]).rstrip(b"\0") == b"intensity_units=HU"


def test_units_unknown_without_the_description_tag(tmp_path, volume):
    path = write_nifti(Volume(volume.data, volume.voxel_size_mm, "unknown"), tmp_path / "u.nii")
    assert read_nifti(path).intensity_units == "unknown"
    # a file from another program: no tag in descrip
    other = _save(np.transpose(volume.data, (2, 1, 0)), tmp_path / "other.nii", zooms=(0.4, 0.3, 0.2),
                  descrip=b"dcm2niix CT")
    back = read_nifti(other)
    assert back.intensity_units == "unknown"
    assert np.array_equal(back.data, volume.data)
    np.testing.assert_allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), atol=1e-6)


@pytest.mark.parametrize("unit, zooms", [("meter", (0.0004, 0.0003, 0.0002)),
                                         ("micron", (400.0, 300.0, 200.0)),
                                         ("mm", (0.4, 0.3, 0.2))])
def test_spatial_units_are_converted_to_mm(tmp_path, volume, unit, zooms):
    path = _save(np.transpose(volume.data, (2, 1, 0)), tmp_path / f"{unit}.nii", zooms=zooms, units=unit)
    back = read_nifti(path)
    np.testing.assert_allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), rtol=1e-5)
    assert back.metadata["space_unit"] == unit


def test_scaled_file_is_read_in_float32_and_counted_at_float_size(tmp_path):
    """scl_slope/scl_inter are applied; the memory check counts the scaled (float) array."""
    raw = np.arange(60, dtype=np.uint16).reshape(5, 4, 3)
    img = nib.Nifti1Image(raw, np.eye(4))
    img.header.set_slope_inter(0.5, -1024.0)
    path = tmp_path / "scaled.nii"
    nib.save(img, str(path))
    back = read_nifti(path)
    assert back.data.dtype == np.float32
    np.testing.assert_array_equal(back.data, np.transpose(raw, (2, 1, 0)) * 0.5 - 1024.0)
    # 60 voxels: 120 bytes as uint16 on disk, but the scaled array is a float one
    with pytest.raises(VolumeTooLargeError, match="GiB"):
        read_nifti(path, max_bytes=200)


def test_intercept_only_scaling_is_applied(tmp_path):
    """dcm2niix-style CT: stored uint16, scl_slope 1, scl_inter -1024 gives HU values."""
    raw = np.arange(60, dtype=np.uint16).reshape(5, 4, 3) * 10
    img = nib.Nifti1Image(raw, np.eye(4))
    img.header.set_slope_inter(1.0, -1024.0)
    path = tmp_path / "inter.nii"
    nib.save(img, str(path))
    back = read_nifti(path)
    assert back.data.dtype == np.float32  # not nibabel's float64
    np.testing.assert_array_equal(back.data, np.transpose(raw, (2, 1, 0)).astype(float) - 1024.0)
    with pytest.raises(VolumeTooLargeError, match="more than the"):
        read_nifti(path, max_bytes=200)  # 120 bytes raw, 240+ once scaled


def test_nifti2_is_read(tmp_path, volume):
    img = nib.Nifti2Image(np.transpose(volume.data, (2, 1, 0)), np.diag([0.4, 0.3, 0.2, 1.0]))
    img.header.set_xyzt_units("mm")
    nib.save(img, str(tmp_path / "two.nii"))
    back = read_volume(tmp_path / "two.nii")
    assert np.array_equal(back.data, volume.data)
    np.testing.assert_allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), atol=1e-6)


def test_random_bytes_are_not_a_nifti(tmp_path):
    path = tmp_path / "junk.nii.gz"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(VolumeReadError, match="is not a readable NIfTI file"):
        read_volume(path)
    plain = tmp_path / "junk.nii"
    plain.write_bytes(b"\x01" * 500)
    with pytest.raises(VolumeReadError, match="is not a readable NIfTI file"):
        read_volume(plain)


def test_truncated_nii_header_fine_data_cut(tmp_path, volume):
    good = write_nifti(volume, tmp_path / "v.nii")
    cut = tmp_path / "cut.nii"
    content = good.read_bytes()
    cut.write_bytes(content[: 352 + 100])  # header + extension flag + 50 of 1080 voxels
    assert nib.load(str(cut)).shape == (9, 10, 12)  # the header alone is readable
    with pytest.raises(VolumeReadError, match="header is readable but the voxel data are not"):
        read_volume(cut)


def test_truncated_nii_gz(tmp_path, volume):
    good = write_nifti(volume, tmp_path / "v.nii")
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(gzip.compress(good.read_bytes()[:600]))
    with pytest.raises(VolumeReadError, match="truncated or corrupt"):
        read_volume(cut)
    # a gzip stream cut in the middle
    cut2 = tmp_path / "cut2.nii.gz"
    full = gzip.compress(good.read_bytes())
    cut2.write_bytes(full[: len(full) // 2])
    with pytest.raises(VolumeReadError, match="readable"):
        read_volume(cut2)


def test_2d_image_is_refused(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((20, 30), np.int16), np.eye(4)), str(tmp_path / "slice.nii"))
    with pytest.raises(UnsupportedVolumeError, match=r"2D image of shape \(20, 30\), not a 3D volume"):
        read_volume(tmp_path / "slice.nii")
    # 3D with one slice is 2D too
    nib.save(nib.Nifti1Image(np.zeros((20, 30, 1), np.int16), np.eye(4)), str(tmp_path / "one.nii"))
    with pytest.raises(UnsupportedVolumeError, match="2D image"):
        read_volume(tmp_path / "one.nii")


def test_4d_and_rgb_are_refused(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((5, 6, 7, 3), np.uint8), np.eye(4)), str(tmp_path / "rgb.nii"))
    with pytest.raises(UnsupportedVolumeError, match=r"4D array of shape \(5, 6, 7, 3\).*colour"):
        read_volume(tmp_path / "rgb.nii")
    nib.save(nib.Nifti1Image(np.zeros((5, 6, 7, 4), np.float32), np.eye(4)), str(tmp_path / "t.nii"))
    with pytest.raises(UnsupportedVolumeError, match="time series"):
        read_volume(tmp_path / "t.nii")
    rgb24 = np.zeros((5, 6, 7), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb24, np.eye(4)), str(tmp_path / "rgb24.nii"))
    with pytest.raises(UnsupportedVolumeError, match="colour"):
        read_volume(tmp_path / "rgb24.nii")


def test_singleton_4th_axis_is_dropped(tmp_path):
    data = np.arange(5 * 6 * 7, dtype=np.uint8).reshape(5, 6, 7, 1)
    img = nib.Nifti1Image(data, np.diag([0.1, 0.2, 0.3, 1.0]))
    nib.save(img, str(tmp_path / "v4.nii"))
    back = read_volume(tmp_path / "v4.nii")
    assert back.shape == (7, 6, 5)
    assert np.array_equal(back.data, np.transpose(data[..., 0], (2, 1, 0)))
    np.testing.assert_allclose(back.voxel_size_mm, (0.3, 0.2, 0.1), atol=1e-6)


def _header_only(path, shape, dtype=np.int16):
    header = nib.Nifti1Header()
    header.set_data_dtype(dtype)
    header.set_data_shape(shape)
    header.set_zooms((0.01,) * len(shape))
    with open(path, "wb") as fh:
        header.write_to(fh)
        fh.write(b"\x00" * 4)  # extension flag, then no voxel data at all
    return path


def test_huge_header_is_refused_before_reading_data(tmp_path, monkeypatch):
    path = _header_only(tmp_path / "huge.nii", (4000, 4000, 4000))
    assert path.stat().st_size < 400  # 119 GiB announced, a few hundred bytes present
    # the voxel data are never asked for: the refusal comes from the header alone
    touched = []

    def no_read(self, *args, **kwargs):
        touched.append(self)
        raise AssertionError("voxel data read")

    monkeypatch.setattr(nib.arrayproxy.ArrayProxy, "__array__", no_read)
    with pytest.raises(VolumeTooLargeError, match=r"4000 x 4000 x 4000 voxels needs 119\.21 GiB") as info:
        read_volume(path)
    assert touched == []
    assert "downsample" in str(info.value)
    assert isinstance(info.value, MemoryError)
    assert isinstance(info.value, VolumeReadError)


def test_max_bytes(tmp_path, volume):
    path = write_volume(volume, tmp_path / "v.nii.gz")
    with pytest.raises(VolumeTooLargeError, match=r"9 x 10 x 12 voxels needs 0\.00 GiB"):
        read_volume(path, max_bytes=100)
    # 1080 int16 voxels = 2160 bytes: exactly enough is enough
    assert read_volume(path, max_bytes=2160).shape == (12, 10, 9)
    with pytest.raises(VolumeTooLargeError):
        read_volume(path, max_bytes=2159)


def test_implausible_spacing_in_file_warns(tmp_path, volume):
    path = _save(np.transpose(volume.data, (2, 1, 0)), tmp_path / "m.nii", zooms=(0.0001,) * 3)
    with pytest.warns(UserWarning, match="metres or micrometres"):
        back = read_volume(path)
    np.testing.assert_allclose(back.voxel_size_mm, (0.0001,) * 3, rtol=1e-5)


def test_write_creates_parent_and_refuses_overwrite(tmp_path, volume):
    path = write_volume(volume, tmp_path / "a" / "b" / "v.nii.gz")
    assert path.is_file()
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_volume(Volume(volume.data * 0, volume.voxel_size_mm, "HU"), path)
    assert path.read_bytes() == before
    write_volume(Volume(volume.data * 0, volume.voxel_size_mm, "HU"), path, overwrite=True)
    assert not read_volume(path).data.any()
