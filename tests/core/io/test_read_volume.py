"""Round trips through every format, format detection and the errors of read_volume."""

import os

import nibabel as nib
import numpy as np
import pytest
import tifffile

from napari_rat_tms.core.errors import UnsupportedVolumeError, VolumeReadError, VolumeTooLargeError
from napari_rat_tms.core.io import detect_format, read_volume, write_volume
from napari_rat_tms.core.volume import Volume


@pytest.fixture
def volume():
    rng = np.random.default_rng(7)
    return Volume(rng.integers(-1000, 2000, (12, 10, 9)).astype(np.int16), (0.2, 0.3, 0.4), "HU")


@pytest.mark.parametrize(
    "name, units",
    [("v.nii", "HU"), ("v.nii.gz", "HU"), ("v.nrrd", "HU"), ("v.mha", "HU"), ("v.mhd", "HU"),
     ("v.tif", "unknown"), ("dicom_folder", "HU")],
)
def test_round_trip(tmp_path, volume, name, units):
    path = write_volume(volume, tmp_path / name)
    back = read_volume(path)
    np.testing.assert_array_equal(back.data, volume.data)
    np.testing.assert_allclose(back.voxel_size_mm, volume.voxel_size_mm, atol=1e-5)
    assert back.intensity_units == units
    assert back.source == str(path)


def test_detect_format(tmp_path, volume):
    for suffix, fmt in [(".nii", "nifti"), (".nii.gz", "nifti"), (".nrrd", "nrrd"),
                        (".nhdr", "nrrd"), (".mhd", "metaimage"), (".mha", "metaimage"),
                        (".tif", "tiff"), (".TIFF", "tiff"), (".dcm", "dicom")]:
        assert detect_format(tmp_path / f"x{suffix}") == fmt
    assert detect_format(tmp_path / "x.png") is None
    paths = write_volume(volume, tmp_path / "series")
    assert detect_format(paths) == "dicom"
    no_suffix = tmp_path / "IM0001"
    (tmp_path / "series" / "slice_00000.dcm").rename(no_suffix)
    assert detect_format(no_suffix) == "dicom"
    slices = tmp_path / "slices"
    slices.mkdir()
    for k in range(3):
        tifffile.imwrite(slices / f"s{k}.tif", np.zeros((4, 4), np.uint8))
    assert detect_format(slices) == "tiff"
    broken = tmp_path / "dangling"
    os.symlink(tmp_path / "nowhere", broken)
    assert detect_format(broken) is None


def test_voxel_size_override_and_unit_warning(tmp_path, volume):
    path = write_volume(volume, tmp_path / "v.nii.gz")
    assert read_volume(path, voxel_size_mm=0.17).voxel_size_mm == (0.17, 0.17, 0.17)
    with pytest.warns(UserWarning, match="metres or micrometres"):
        read_volume(path, voxel_size_mm=50.0)
    with pytest.raises(ValueError, match="voxel_size_mm"):
        read_volume(path, voxel_size_mm=-1)


def test_not_a_volume_and_missing(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    assert detect_format(folder) is None
    with pytest.raises(VolumeReadError, match="not a volume this plugin reads"):
        read_volume(folder)
    with pytest.raises(VolumeReadError, match="does not exist"):
        read_volume(tmp_path / "missing.nii")


def test_corrupt_and_truncated_nifti(tmp_path, volume):
    bad = tmp_path / "junk.nii.gz"
    bad.write_bytes(os.urandom(2000))
    with pytest.raises(VolumeReadError, match="not a readable NIfTI"):
        read_volume(bad)
    good = write_volume(volume, tmp_path / "v.nii")
    truncated = tmp_path / "cut.nii"
    truncated.write_bytes(good.read_bytes()[:600])
    with pytest.raises(VolumeReadError, match="truncated or corrupt"):
        read_volume(truncated)


def test_two_dimensional_and_rgb_refused(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((20, 30), np.int16), np.eye(4)), tmp_path / "slice.nii")
    with pytest.raises(UnsupportedVolumeError, match="2D image"):
        read_volume(tmp_path / "slice.nii")
    tifffile.imwrite(tmp_path / "slice.tif", np.zeros((20, 30), np.uint16))
    with pytest.raises(UnsupportedVolumeError, match="not a 3D volume"):
        read_volume(tmp_path / "slice.tif")
    nib.save(nib.Nifti1Image(np.zeros((5, 6, 7, 3), np.uint8), np.eye(4)), tmp_path / "rgb.nii")
    with pytest.raises(UnsupportedVolumeError, match="colour channels or a time series"):
        read_volume(tmp_path / "rgb.nii")
    # a singleton 4th axis is fine
    nib.save(nib.Nifti1Image(np.zeros((5, 6, 7, 1), np.uint8), np.eye(4)), tmp_path / "v4.nii")
    assert read_volume(tmp_path / "v4.nii").shape == (7, 6, 5)


def test_huge_volume_refused_before_loading(tmp_path):
    """A header claiming 4000^3 int16 (119 GiB) is refused from the header alone."""
    header = nib.Nifti1Header()
    header.set_data_dtype(np.int16)
    header.set_data_shape((4000, 4000, 4000))
    header.set_zooms((0.01, 0.01, 0.01))
    path = tmp_path / "huge.nii"
    with open(path, "wb") as fh:
        header.write_to(fh)
        fh.write(b"\x00" * 4)  # extension flag; no voxel data at all
    with pytest.raises(VolumeTooLargeError, match="GiB") as info:
        read_volume(path)
    assert "downsample" in str(info.value)
    assert isinstance(info.value, MemoryError)


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nrrd", "v.mha", "v.tif", "series"])
def test_max_bytes_limit_for_every_format(tmp_path, volume, name):
    path = write_volume(volume, tmp_path / name)
    with pytest.raises(VolumeTooLargeError, match="more than the"):
        read_volume(path, max_bytes=100)


def test_write_refuses_to_overwrite(tmp_path, volume):
    path = write_volume(volume, tmp_path / "v.nrrd")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_volume(volume, path)
    assert path.read_bytes() == before
    write_volume(volume, path, overwrite=True)
    with pytest.raises(ValueError, match="unknown suffix"):
        write_volume(volume, tmp_path / "v.png")


@pytest.mark.parametrize("name, match", [("junk.nrrd", "not a readable NRRD"),
                                         ("junk.mha", "not a readable MetaImage"),
                                         ("junk.tif", "not a readable TIFF"),
                                         ("junk.dcm", "not a readable DICOM")])
def test_corrupt_files_of_every_format(tmp_path, name, match):
    path = tmp_path / name
    path.write_bytes(b"garbage " * 100)
    with pytest.raises(VolumeReadError, match=match):
        read_volume(path)


def test_truncated_nrrd_and_metaimage_data(tmp_path, volume):
    for name, match in [("v.nrrd", "truncated or corrupt"), ("v.mhd", "voxel data are not")]:
        path = write_volume(volume, tmp_path / name)
        data_file = path if name.endswith(".nrrd") else next(tmp_path.glob("v.*raw*"))
        content = data_file.read_bytes()
        data_file.write_bytes(content[: len(content) - 200])
        with pytest.raises(VolumeReadError, match=match):
            read_volume(path)
