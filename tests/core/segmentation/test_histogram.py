"""Histogram thresholds: seed 003's rules on HU data, on arbitrary units, and their failures."""

import numpy as np
import pytest

from napari_rat_tms.core.segmentation import SegmentationError, Thresholds, suggest_thresholds
from napari_rat_tms.core.synthetic.rat import AIR_HU, SOFT_TISSUE_HU, BONE_HU_RANGE

from ...conftest import shared_data_or_skip


def test_synthetic_rat_thresholds_follow_the_seed(rat):
    thresholds, hist = suggest_thresholds(rat.volume.data)
    air_peak, soft_peak = hist.peaks
    assert abs(air_peak - AIR_HU) < 50 and abs(soft_peak - SOFT_TISSUE_HU) < 30
    # halfway between the peaks (seed: about -500 HU)
    assert thresholds.air_soft == pytest.approx(0.5 * (air_peak + soft_peak))
    # after the end of the soft-tissue peak (noise 60 HU: beyond 40 + 4 x 60) and below the
    # densest bone's partial-volume level
    noise = rat.parameters.noise_hu
    assert SOFT_TISSUE_HU + 4 * noise < thresholds.bone < BONE_HU_RANGE[0]


def _mixture(rng, units_scale=1.0, offset=0.0):
    """Air 0, soft tissue 8 (sd 2), bone 20-60: like the mouse scans, in arbitrary units."""
    n = 60
    data = np.zeros((n, n, n), np.float32)
    g = np.indices(data.shape).transpose(1, 2, 3, 0) - n / 2
    r = np.linalg.norm(g, axis=-1)
    data[r < 25] = 8.0
    data[(r > 18) & (r < 20)] = 40.0
    data += rng.normal(0.0, 2.0, data.shape).astype(np.float32)
    return data * units_scale + offset


def test_arbitrary_units_and_affine_invariance():
    rng = np.random.default_rng(0)
    t1, h1 = suggest_thresholds(_mixture(rng))
    assert 2.0 < t1.air_soft < 6.0 and 14.0 < t1.bone < 30.0
    # the same scan in other units (HU-like scale and offset): same thresholds, mapped
    t2, _ = suggest_thresholds(_mixture(np.random.default_rng(0), 25.0, -1000.0))
    assert t2.air_soft == pytest.approx(25 * t1.air_soft - 1000, abs=25 * 1.0)
    assert t2.bone == pytest.approx(25 * t1.bone - 1000, abs=25 * 2.0)


def test_mouse_scans_thresholds():
    folder = shared_data_or_skip("mouse-ct")
    from napari_rat_tms.core.io import read_volume

    for name in ("BALB_CJ_", "C57BL6_J_", "DBA_2J_"):
        volume = read_volume(folder / f"{name}.nii.gz")
        t, hist = suggest_thresholds(volume.data)
        # README of the data: air 0, soft tissue about 8 (4-13), bone from about 20
        assert hist.peaks[0] == 0 and 6 <= hist.peaks[1] <= 11, name
        assert 2 <= t.air_soft <= 6 and 15 <= t.bone <= 30, (name, t)


def test_uniform_volume_is_refused():
    with pytest.raises(SegmentationError, match="uniform"):
        suggest_thresholds(np.full((10, 10, 10), 7, np.int16))


def test_single_peak_is_refused():
    data = np.random.default_rng(0).normal(40, 10, (30, 30, 30))
    with pytest.raises(SegmentationError, match="two main peaks"):
        suggest_thresholds(data)


def test_scan_without_bone_is_refused(rat):
    no_bone = np.minimum(rat.volume.data[::2, ::2, ::2], 60)
    with pytest.raises(SegmentationError, match="no bone"):
        suggest_thresholds(no_bone)


def test_thresholds_must_be_ordered():
    with pytest.raises(ValueError, match="must be above"):
        Thresholds(air_soft=300.0, bone=-500.0)
