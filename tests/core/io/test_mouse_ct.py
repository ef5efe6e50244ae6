"""The real mouse µCT scans of ../shared/data/mouse-ct (skipped when ../shared is absent)."""

import numpy as np
import pytest

from napari_rat_tms.core.io import read_volume

from ...conftest import shared_data_or_skip

# file -> shape in NIfTI (i, j, k) order as the data README lists it
SCANS = {
    "C57BL6_J_.nii.gz": (170, 170, 147),
    "BALB_CJ_.nii.gz": (188, 188, 155),
    "DBA_2J_.nii.gz": (163, 163, 143),
    "low_res_template_UCHAR.nii.gz": (130, 206, 114),
}


@pytest.mark.parametrize("name", sorted(SCANS))
def test_mouse_scan_reads_with_its_geometry(name):
    path = shared_data_or_skip("mouse-ct", name)
    volume = read_volume(path)
    assert volume.shape == SCANS[name][::-1]  # array axes are (k, j, i)
    np.testing.assert_allclose(volume.voxel_size_mm, 0.1411, rtol=2e-3)  # template: 0.1409
    assert volume.data.dtype == np.uint8
    assert volume.intensity_units == "unknown"  # not HU, and nothing may pretend it is
    assert volume.scanner_frame == "RAS"


@pytest.mark.parametrize("name", ["C57BL6_J_.nii.gz", "BALB_CJ_.nii.gz", "DBA_2J_.nii.gz"])
def test_mouse_scan_histogram_is_air_soft_tissue_bone(name):
    volume = read_volume(shared_data_or_skip("mouse-ct", name))
    data = volume.data
    counts = np.bincount(data.ravel(), minlength=256)
    assert counts[0] == counts.max()  # air is the main peak at 0
    soft_mode = 1 + int(np.argmax(counts[1:20]))
    assert 4 <= soft_mode <= 13, soft_mode
    assert counts[21:].sum() > 0.01 * data.size  # bone above about 20
