"""npe2 reader: returns None for what is not ours, Image layers in mm for what is."""

import numpy as np
import pytest

from napari_rat_tms.core.errors import VolumeReadError
from napari_rat_tms.core.io import write_dicom_series, write_nifti
from napari_rat_tms.core.volume import Volume
from napari_rat_tms.viewer.reader import get_reader


@pytest.fixture
def volume():
    rng = np.random.default_rng(1)
    return Volume(rng.integers(-1000, 1500, (5, 6, 7)).astype(np.int16), (0.2, 0.25, 0.3), "HU")


def test_get_reader_declines_other_things(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert get_reader(str(tmp_path / "notes.txt")) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert get_reader(str(empty)) is None  # a folder that is not DICOM: None, no exception
    (empty / "readme.md").write_text("not dicom")
    assert get_reader(str(empty)) is None
    assert get_reader([str(tmp_path / "a.nii"), str(tmp_path / "b.nii")]) is None


def test_reader_gives_image_layer_in_mm(tmp_path, volume):
    path = write_nifti(volume, tmp_path / "scan.nii.gz")
    reader = get_reader(str(path))
    assert reader is not None
    [(data, kwargs, layer_type)] = reader(str(path))
    assert layer_type == "image"
    np.testing.assert_array_equal(data, volume.data)
    np.testing.assert_allclose(kwargs["scale"], volume.voxel_size_mm, rtol=1e-6)
    assert kwargs["metadata"]["intensity_units"] == "HU"
    assert kwargs["metadata"]["source_path"] == str(path)
    assert np.asarray(kwargs["metadata"]["scanner_affine_mm"]).shape == (4, 4)


def test_reader_reads_dicom_folder(tmp_path, volume):
    write_dicom_series(volume, tmp_path / "series")
    reader = get_reader(str(tmp_path / "series"))
    [(data, kwargs, _)] = reader(str(tmp_path / "series"))
    np.testing.assert_array_equal(data, volume.data)
    np.testing.assert_allclose(kwargs["scale"], volume.voxel_size_mm, rtol=1e-5)


def test_reader_raises_clear_error_on_corrupt_file(tmp_path):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"\x00not a nifti" * 20)
    reader = get_reader(str(bad))
    assert reader is not None  # the suffix is ours...
    with pytest.raises(VolumeReadError, match="not a readable NIfTI"):
        reader(str(bad))  # ...and the message says what is wrong


def test_drag_and_drop_into_viewer(viewer_or_skip, tmp_path, volume):
    viewer = viewer_or_skip()
    path = write_nifti(volume, tmp_path / "scan.nii.gz")
    layers = viewer.open(str(path), plugin="napari-rat-tms")
    assert len(layers) == 1
    np.testing.assert_allclose(layers[0].scale, volume.voxel_size_mm, rtol=1e-6)
    assert layers[0].metadata["intensity_units"] == "HU"
