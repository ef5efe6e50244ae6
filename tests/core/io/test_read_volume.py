"""read_volume / write_volume / detect_format: every format's round trip, format detection,
overrides, and the errors of the entry points."""

import os
import pathlib

import nibabel as nib
import numpy as np
import pytest
import tifffile

from napari_rat_tms.core.errors import UnsupportedVolumeError, VolumeReadError, VolumeTooLargeError
from napari_rat_tms.core.io import (
    FILE_PATTERNS,
    FORMATS,
    detect_format,
    read_volume,
    write_dicom_series,
    write_volume,
)
from napari_rat_tms.core.volume import Volume

# name written -> intensity units read back
ROUND_TRIPS = [
    ("v.nii", "HU"),
    ("v.nii.gz", "HU"),
    ("v.nrrd", "HU"),
    ("v.nhdr", "HU"),
    ("v.mha", "HU"),
    ("v.mhd", "HU"),
    ("v.tif", "unknown"),  # TIFF cannot say HU
    ("v.tiff", "unknown"),
    ("dicom_folder", "HU"),
]


@pytest.mark.parametrize("name, units", ROUND_TRIPS)
def test_round_trip_small_anisotropic_volume(tmp_path, volume, name, units):
    path = write_volume(volume, tmp_path / name)
    assert path == tmp_path / name
    back = read_volume(path)
    assert back.shape == (12, 10, 9)
    assert np.array_equal(back.data, volume.data)
    assert np.allclose(back.voxel_size_mm, (0.2, 0.3, 0.4), atol=1e-5)
    assert back.intensity_units == units
    assert back.source == str(path)


@pytest.mark.parametrize("name, units", ROUND_TRIPS)
def test_round_trip_synthetic_rat(tmp_path, rat_volume, name, units):
    assert rat_volume.intensity_units == "HU" and rat_volume.data.dtype == np.int16
    back = read_volume(write_volume(rat_volume, tmp_path / name))
    assert back.shape == (87, 87, 87)
    assert np.array_equal(back.data, rat_volume.data)
    assert np.allclose(back.voxel_size_mm, (1.0, 1.0, 1.0), atol=1e-5)
    assert back.intensity_units == units


def test_unknown_units_stay_unknown_in_every_format(tmp_path, volume):
    unknown = Volume(volume.data + 1024, volume.voxel_size_mm, "unknown")  # >= 0: fits DICOM as is
    for name in ("u.nii.gz", "u.nrrd", "u.mha", "u.tif", "u_dicom"):
        back = read_volume(write_volume(unknown, tmp_path / name))
        assert back.intensity_units == "unknown", name
        assert np.array_equal(back.data, unknown.data), name


# ---------------------------------------------------------------- detect_format


@pytest.mark.parametrize("suffix, fmt", [
    (".nii", "nifti"), (".nii.gz", "nifti"), (".NII.GZ", "nifti"),
    (".nrrd", "nrrd"), (".nhdr", "nrrd"),
    (".mhd", "metaimage"), (".mha", "metaimage"),
    (".tif", "tiff"), (".tiff", "tiff"), (".TIFF", "tiff"),
    (".dcm", "dicom"), (".dicom", "dicom"), (".IMA", "dicom"),
    (".png", None), (".gz", None), (".txt", None), ("", None),
])
def test_detect_format_by_suffix(tmp_path, suffix, fmt):
    # the file need not exist: the suffix decides
    assert detect_format(tmp_path / f"scan{suffix}") == fmt
    assert detect_format(str(tmp_path / f"scan{suffix}")) == fmt


def test_formats_and_patterns_cover_every_suffix():
    assert set(FORMATS) == {"nifti", "dicom", "nrrd", "metaimage", "tiff"}
    assert {"*.nii", "*.nii.gz", "*.nrrd", "*.nhdr", "*.mhd", "*.mha", "*.tif", "*.tiff", "*.dcm"} <= set(
        FILE_PATTERNS
    )


def test_detect_dicom_file_without_suffix(tmp_path, volume):
    files = write_dicom_series(Volume(volume.data[:2], volume.voxel_size_mm, "HU"), tmp_path / "s")
    no_suffix = tmp_path / "IM0001"
    files[0].rename(no_suffix)
    assert detect_format(no_suffix) == "dicom"
    (tmp_path / "IM0002").write_bytes(b"\0" * 200)  # no preamble: not DICOM
    assert detect_format(tmp_path / "IM0002") is None


def test_detect_folders(tmp_path, volume):
    write_volume(volume, tmp_path / "series")
    assert detect_format(tmp_path / "series") == "dicom"
    slices = tmp_path / "slices"
    slices.mkdir()
    for k in range(3):
        tifffile.imwrite(slices / f"s{k}.tif", np.zeros((4, 4), np.uint8))
    assert detect_format(slices) == "tiff"
    one = tmp_path / "one_tif"
    one.mkdir()
    tifffile.imwrite(one / "s0.tif", np.zeros((4, 4), np.uint8))
    assert detect_format(one) is None  # one slice is not a stack
    empty = tmp_path / "empty"
    empty.mkdir()
    assert detect_format(empty) is None


def test_detect_format_never_raises(tmp_path, monkeypatch):
    broken = tmp_path / "dangling.nii"
    os.symlink(tmp_path / "nowhere.nii", broken)
    assert detect_format(broken) == "nifti"  # by its name; read_volume then says it does not exist
    with pytest.raises(VolumeReadError, match="does not exist"):
        read_volume(broken)
    dangling = tmp_path / "dangling"
    os.symlink(tmp_path / "nowhere", dangling)
    assert detect_format(dangling) is None
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    assert detect_format(loop) is None
    assert detect_format(tmp_path / "a\0b") is None
    assert detect_format("x" * 5000) is None  # name too long for the OS
    assert detect_format(tmp_path / "file.txt" / "inside.bin") is None
    assert detect_format(None) is None
    assert detect_format(12) is None
    assert detect_format(b"\xff\xfe") is None

    # a folder that cannot be listed (no permission): as a non-root user sees it
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "x.dcm").write_bytes(b"\0" * 132)
    locked.chmod(0)
    try:
        assert detect_format(locked) is None
        real_iterdir = pathlib.Path.iterdir

        def iterdir(self):
            if self.name == "locked":
                raise PermissionError(13, "Permission denied", str(self))
            return real_iterdir(self)

        monkeypatch.setattr(pathlib.Path, "iterdir", iterdir)
        assert detect_format(locked) is None
        assert detect_format(str(locked)) is None
    finally:
        locked.chmod(0o755)


def test_unreadable_file_without_suffix_is_not_dicom(tmp_path, monkeypatch):
    path = tmp_path / "IMG"
    path.write_bytes(b"\0" * 128 + b"DICM")
    real_open = open

    def no_permission(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_permission)
    assert detect_format(path) is None


# ---------------------------------------------------------------- read_volume options


def test_voxel_size_override(tmp_path, volume):
    path = write_volume(volume, tmp_path / "v.nii.gz")
    assert read_volume(path, voxel_size_mm=0.17).voxel_size_mm == (0.17, 0.17, 0.17)
    back = read_volume(path, voxel_size_mm=(0.05, 0.06, 0.07))
    assert back.voxel_size_mm == (0.05, 0.06, 0.07)
    assert np.array_equal(back.data, volume.data)
    assert back.intensity_units == "HU"
    for bad in (-1, 0, float("nan"), (0.1, 0.1, float("inf"))):
        with pytest.raises(ValueError, match="voxel_size_mm must be three positive finite numbers"):
            read_volume(path, voxel_size_mm=bad)


def test_voxel_size_override_for_a_file_without_spacing(tmp_path, volume):
    tifffile.imwrite(tmp_path / "plain.tif", volume.data)
    with pytest.warns(UserWarning, match="voxel spacing"):
        back = read_volume(tmp_path / "plain.tif", voxel_size_mm=(0.2, 0.3, 0.4))
    assert back.voxel_size_mm == (0.2, 0.3, 0.4)


@pytest.mark.parametrize("spacing", [0.0001, 50.0, (0.1, 0.1, 3.0)])
def test_implausible_override_warns_about_units(tmp_path, volume, spacing):
    path = write_volume(volume, tmp_path / "v.nrrd")
    with pytest.warns(UserWarning, match="metres or micrometres") as record:
        back = read_volume(path, voxel_size_mm=spacing)
    assert "units" in str(record[0].message) or "metres" in str(record[0].message)
    np.testing.assert_allclose(back.voxel_size_mm, np.broadcast_to(spacing, 3))


def test_spacing_in_metres_stored_as_mm_warns(tmp_path, volume):
    """A file whose spacing was written in metres but labelled mm (0.0002 'mm')."""
    img = nib.Nifti1Image(np.transpose(volume.data, (2, 1, 0)), np.diag([0.0004, 0.0003, 0.0002, 1]))
    img.header.set_xyzt_units("mm")
    nib.save(img, str(tmp_path / "metres.nii"))
    with pytest.warns(UserWarning, match=r"outside 0\.001-2\.0 mm.*metres"):
        back = read_volume(tmp_path / "metres.nii")
    np.testing.assert_allclose(back.voxel_size_mm, (0.0002, 0.0003, 0.0004), rtol=1e-5)


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nrrd", "v.mha", "v.mhd", "v.tif", "series"])
def test_max_bytes_limit_for_every_format(tmp_path, volume, name):
    path = write_volume(volume, tmp_path / name)
    too_large = r"voxels needs 0\.00 GiB in memory, more than the 0\.00 GiB"
    with pytest.raises(VolumeTooLargeError, match=too_large):
        read_volume(path, max_bytes=100)
    assert read_volume(path, max_bytes=10**6).shape == (12, 10, 9)


def test_huge_nifti_header_refused_before_loading(tmp_path):
    """A header claiming 4000^3 int16 (119 GiB) is refused from the header alone."""
    header = nib.Nifti1Header()
    header.set_data_dtype(np.int16)
    header.set_data_shape((4000, 4000, 4000))
    header.set_zooms((0.01, 0.01, 0.01))
    path = tmp_path / "huge.nii"
    with open(path, "wb") as fh:
        header.write_to(fh)
        fh.write(b"\x00" * 4)  # extension flag; no voxel data at all
    with pytest.raises(VolumeTooLargeError, match="119.21 GiB") as info:
        read_volume(path)
    assert "downsample" in str(info.value)
    assert isinstance(info.value, MemoryError)


# ---------------------------------------------------------------- bad paths


def test_not_a_volume_folder(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    (folder / "photo.png").write_bytes(b"\x89PNG")
    assert detect_format(folder) is None
    with pytest.raises(VolumeReadError, match="not a volume this plugin reads.*This folder is none"):
        read_volume(folder)


def test_not_a_volume_file(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(VolumeReadError, match="not a volume this plugin reads.*This file is none"):
        read_volume(tmp_path / "notes.txt")


def test_missing_path(tmp_path):
    with pytest.raises(VolumeReadError, match=r"missing\.nii does not exist"):
        read_volume(tmp_path / "missing.nii")
    with pytest.raises(VolumeReadError, match="does not exist"):
        read_volume(str(tmp_path / "no_folder"))


def test_errors_are_volume_read_errors(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((20, 30), np.int16), np.eye(4)), str(tmp_path / "slice.nii"))
    with pytest.raises(VolumeReadError):  # UnsupportedVolumeError is a VolumeReadError
        read_volume(tmp_path / "slice.nii")
    with pytest.raises(UnsupportedVolumeError):
        read_volume(tmp_path / "slice.nii")


# ---------------------------------------------------------------- write_volume


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nrrd", "v.mha", "v.mhd", "v.tif"])
def test_write_refuses_to_overwrite_a_file(tmp_path, volume, name):
    path = write_volume(volume, tmp_path / name)
    before = path.read_bytes()
    other = Volume(np.zeros_like(volume.data), volume.voxel_size_mm, "HU")
    with pytest.raises(FileExistsError, match="exists; pass overwrite=True"):
        write_volume(other, path)
    assert path.read_bytes() == before
    assert np.array_equal(read_volume(path).data, volume.data)
    assert write_volume(other, path, overwrite=True) == path
    assert not read_volume(path).data.any()


def test_write_refuses_a_non_empty_folder_unless_overwrite(tmp_path, volume):
    folder = tmp_path / "series"
    folder.mkdir()
    assert len(write_dicom_series(volume, folder)) == 12  # an empty folder is fine
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_volume(volume, folder)
    # replacing a longer series by a shorter one leaves none of the old slices behind
    short = Volume(np.full((5, 10, 9), 7, np.int16), volume.voxel_size_mm, "HU")
    write_volume(short, folder, overwrite=True)
    assert len(list(folder.iterdir())) == 5
    back = read_volume(folder)
    assert back.shape == (5, 10, 9)
    assert np.all(back.data == 7)


def test_write_overwrite_keeps_other_files_in_the_folder(tmp_path, volume):
    folder = tmp_path / "series"
    write_volume(volume, folder)
    (folder / "notes.txt").write_text("keep me")
    write_volume(volume, folder, overwrite=True)
    assert (folder / "notes.txt").read_text() == "keep me"
    assert np.array_equal(read_volume(folder).data, volume.data)


def test_write_unknown_suffix(tmp_path, volume):
    with pytest.raises(ValueError, match="unknown suffix"):
        write_volume(volume, tmp_path / "v.png")
    assert not (tmp_path / "v.png").exists()
