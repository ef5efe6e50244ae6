"""TIFF stacks: ImageJ spacing and units, folders of numbered slices, missing spacing."""

import numpy as np
import pytest
import tifffile

from napari_rat_tms.core.io import read_volume


def test_imagej_spacing_in_microns(tmp_path):
    data = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    tifffile.imwrite(tmp_path / "um.tif", data, imagej=True, resolution=(1 / 17.0, 1 / 17.0),
                     metadata={"spacing": 34.0, "unit": "um", "axes": "ZYX"})
    back = read_volume(tmp_path / "um.tif")
    np.testing.assert_allclose(back.voxel_size_mm, (0.034, 0.017, 0.017))
    np.testing.assert_array_equal(back.data, data)


def test_folder_of_slices_in_natural_order(tmp_path):
    folder = tmp_path / "slices"
    folder.mkdir()
    for k in range(1, 13):
        tifffile.imwrite(folder / f"slice_{k}.tif", np.full((5, 6), k, np.uint16), imagej=True,
                         resolution=(1 / 0.02, 1 / 0.02), metadata={"unit": "mm"})
    with pytest.warns(UserWarning, match="isotropic"):
        back = read_volume(folder)
    np.testing.assert_array_equal(back.data[:, 0, 0], np.arange(1, 13))  # slice_2 before slice_10
    np.testing.assert_allclose(back.voxel_size_mm, (0.02, 0.02, 0.02))


def test_missing_spacing_warns_and_defaults_to_1mm(tmp_path):
    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((3, 4, 5), np.uint8), photometric="minisblack")
    with pytest.warns(UserWarning, match="voxel spacing.*layer's scale"):
        back = read_volume(tmp_path / "plain.tif")
    assert back.voxel_size_mm == (1.0, 1.0, 1.0)


def test_slices_of_different_sizes(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    tifffile.imwrite(folder / "a1.tif", np.zeros((4, 4), np.uint8))
    tifffile.imwrite(folder / "a2.tif", np.zeros((5, 4), np.uint8))
    with pytest.raises(Exception, match="do not stack"):
        read_volume(folder)
