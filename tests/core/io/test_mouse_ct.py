"""The real mouse head µCT scans of shared/data/mouse-ct (see its README.md).

The ``shared`` folder lies beside the repository; the tests skip, saying so, when it is absent
(a user's clone has no shared/)."""

from pathlib import Path

import numpy as np
import pytest

from napari_rat_tms.core.io import detect_format, read_volume


def _repository_root() -> Path:
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    return here.parents[3]  # tests/core/io/<file> -> the repository


MOUSE_CT = _repository_root().parent / "shared" / "data" / "mouse-ct"

# file -> shape in the NIfTI (i, j, k) order of the README
SCANS = {
    "C57BL6_J_.nii.gz": (170, 170, 147),
    "BALB_CJ_.nii.gz": (188, 188, 155),
    "DBA_2J_.nii.gz": (163, 163, 143),
    "low_res_template_UCHAR.nii.gz": (130, 206, 114),
}
TARGETS = ["C57BL6_J_.nii.gz", "BALB_CJ_.nii.gz", "DBA_2J_.nii.gz"]
TEMPLATE = "low_res_template_UCHAR.nii.gz"


def _scan_or_skip(name: str) -> Path:
    path = MOUSE_CT / name
    if not path.is_file():
        pytest.skip(
            f"mouse µCT scan not found: {path}; tests on real data need ../shared beside the "
            "repository (CI has it, a user's clone does not)."
        )
    return path


@pytest.fixture(scope="module")
def scans():
    """Each scan read once for the module (they are a few MB each)."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = read_volume(_scan_or_skip(name))
        return cache[name]

    return get


@pytest.mark.parametrize("name", list(SCANS))
def test_geometry_dtype_and_units(scans, name):
    assert detect_format(_scan_or_skip(name)) == "nifti"
    volume = scans(name)
    assert volume.shape == SCANS[name][::-1]  # array axes are (k, j, i)
    # README: 0.1411 mm; C57BL6_J's slice axis is stored as 0.14087 mm (0.16 % off), hence 2e-3
    np.testing.assert_allclose(volume.voxel_size_mm, 0.1411, rtol=2e-3)
    np.testing.assert_allclose(volume.voxel_size_mm[1:], 0.1411, rtol=1e-3)
    assert volume.data.dtype == np.uint8
    assert volume.intensity_units == "unknown"  # NOT HU, and nothing may pretend it is
    assert volume.scanner_frame == "RAS"
    assert volume.metadata["format"] == "NIfTI"
    # the affine's axes have the voxel size as length
    np.testing.assert_allclose(np.linalg.norm(volume.scanner_affine_mm[:3, :3], axis=0),
                               volume.voxel_size_mm, rtol=1e-6)


@pytest.mark.parametrize("name", list(SCANS))
def test_histogram_is_air_soft_tissue_bone(scans, name):
    data = scans(name).data
    counts = np.bincount(data.ravel(), minlength=256)
    assert counts[0] == counts.max()  # air (0) is the main peak
    assert counts[0] > 0.5 * data.size  # most voxels are air
    assert counts[21:].sum() > 0.01 * data.size  # bone, above about 20
    assert data.min() == 0
    if name in TARGETS:
        soft_mode = 1 + int(np.argmax(counts[1:20]))
        assert 4 <= soft_mode <= 13, soft_mode  # the soft-tissue peak, near 8
        assert counts[4:14].sum() > 0.1 * data.size
        assert data.max() == 255
    else:  # the population template is an average: a lower soft-tissue peak, no saturation
        assert 1 <= 1 + int(np.argmax(counts[1:20])) <= 13
        assert data.max() < 255


def test_tissue_touches_the_border(scans):
    """A tight field of view (README): non-air voxels on the faces of the volume."""
    data = scans("C57BL6_J_.nii.gz").data
    faces = [data[0], data[-1], data[:, 0], data[:, -1], data[:, :, 0], data[:, :, -1]]
    assert sum(int(np.count_nonzero(f > 4)) > 0 for f in faces) >= 2


def test_labels_share_the_template_grid(scans):
    template = scans(TEMPLATE)
    labels = scans("low_res_template_UCHAR-label.nii.gz")
    assert labels.shape == template.shape
    np.testing.assert_allclose(labels.scanner_affine_mm, template.scanner_affine_mm, atol=1e-6)
    assert set(np.unique(labels.data)) == {0, 1, 2, 3, 15, 21}  # README: 1, 2, 21, 15, 3 (+ background)


def test_float_skull_template(scans):
    volume = scans("low_res_skull_only.nii.gz")
    assert volume.shape == (148, 268, 169)
    assert volume.data.dtype == np.float32
    assert volume.intensity_units == "unknown"
    np.testing.assert_allclose(volume.voxel_size_mm, 0.1411, rtol=1e-3)
