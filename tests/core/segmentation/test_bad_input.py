"""Bad input gets a clear error (or warning) and changes nothing it was given."""

import warnings

import numpy as np
import pytest

from napari_rat_tms.core.segmentation import (
    SegmentationError, SegmentationParameters, SegmentationWarning, TissueLabel, segment,
    segment_body, segment_eye)


def test_air_threshold_selecting_nothing(rat):
    with pytest.raises(SegmentationError, match="selects no voxel.*Lower the threshold"):
        segment_body(rat.volume.data, 5000.0, rat.volume.voxel_size_mm)


def test_air_threshold_selecting_everything(rat):
    with pytest.raises(SegmentationError, match="almost no air.*Raise the threshold"):
        segment_body(rat.volume.data, -5000.0, rat.volume.voxel_size_mm)


def test_bone_threshold_selecting_everything_or_nothing(rat):
    data, h = rat.volume.data[::2, ::2, ::2], 0.68
    params = SegmentationParameters(air_soft_threshold=-480.0, bone_threshold=-400.0)
    with pytest.raises(SegmentationError, match="inside the soft-tissue range"):
        segment(data, h, params)
    params = SegmentationParameters(air_soft_threshold=-480.0, bone_threshold=10_000.0)
    with pytest.raises(SegmentationError, match="No bone"):
        segment(data, h, params)


def test_scan_without_bone(rat):
    data = np.minimum(rat.volume.data[::2, ::2, ::2], 60)
    with pytest.raises(SegmentationError, match="no bone"):
        segment(data, 0.68)


def test_eye_point_outside_the_body(rat, rat_segmentation):
    h = rat.volume.voxel_size_mm
    outside = np.array([2.0, 2.0, 2.0])  # a corner of the field of view: air
    with pytest.raises(SegmentationError, match=r"eye 1 point \(2.0, 2.0, 2.0\) mm lies outside the body"):
        rat_segmentation.with_eyes(rat.volume.data, [outside])
    with pytest.raises(SegmentationError, match="outside the scan"):
        segment_eye(rat.volume.data, [-50.0, 1.0, 1.0], h, body=rat_segmentation.body,
                    bone=rat_segmentation.skull_and_spine)


def test_eye_point_in_bone(rat, rat_segmentation):
    h = np.asarray(rat.volume.voxel_size_mm)
    in_bone = np.argwhere(rat_segmentation.skull)[0] * h
    with pytest.raises(SegmentationError, match="lies in bone"):
        segment_eye(rat.volume.data, in_bone, h, body=rat_segmentation.body,
                    bone=rat_segmentation.skull_and_spine)


def test_eye_isolevel_override_changes_the_eye(rat, rat_segmentation):
    points = rat_segmentation.eye_points_mm
    auto = rat_segmentation.eye_auto_isolevels
    lower = rat_segmentation.with_eyes(rat.volume.data, points, [auto[0] - 12.0, None])
    assert lower.eye_isolevels[0] == auto[0] - 12.0 and lower.eye_isolevels[1] == auto[1]
    assert np.count_nonzero(lower.eyes) < np.count_nonzero(rat_segmentation.eyes)
    # the eye is darker than its surroundings: a higher isolevel takes in more, never flips sides
    higher = rat_segmentation.with_eyes(rat.volume.data, points, [auto[0] + 8.0, None])
    assert np.count_nonzero(rat_segmentation.eyes) < np.count_nonzero(higher.eyes)
    assert np.count_nonzero(higher.eyes) < 2 * np.count_nonzero(rat_segmentation.eyes)
    with pytest.raises(ValueError, match="isolevel"):
        rat_segmentation.with_eyes(rat.volume.data, points, [None])


def test_painting_over_the_skull_warns_and_keeps_the_skull(rat_segmentation):
    painted = rat_segmentation.brain.copy()
    painted |= rat_segmentation.skull  # brush strokes over the bone
    before = painted.copy()
    with pytest.warns(SegmentationWarning, match=r"brain voxel\(s\) lie on bone"):
        updated = rat_segmentation.with_brain(painted)
    assert np.array_equal(painted, before)  # the user's mask is not modified
    assert np.array_equal(updated.skull, rat_segmentation.skull)
    assert updated.brain_source == "painted"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rat_segmentation.with_brain(rat_segmentation.brain)  # a clean painting: no warning


def test_empty_painted_brain(rat_segmentation):
    with pytest.raises(SegmentationError, match="empty"):
        rat_segmentation.with_brain(np.zeros(rat_segmentation.labels.shape, bool))


def test_parameter_validation():
    with pytest.raises(ValueError, match="spine_separation"):
        SegmentationParameters(spine_separation="magic")
    with pytest.raises(ValueError, match="body_closing_radius_mm"):
        SegmentationParameters(body_closing_radius_mm=-1.0)
    with pytest.raises(TypeError, match="unknown segmentation parameter"):
        SegmentationParameters.from_dict({"closing": 2})
    with pytest.raises(ValueError, match="must be above"):
        SegmentationParameters(air_soft_threshold=500.0, bone_threshold=0.0)


def test_cancelling_the_generator_between_steps(rat):
    from napari_rat_tms.core.segmentation import iter_segment

    steps = iter_segment(rat.volume.data[::2, ::2, ::2], 0.68)
    first = next(steps)
    assert first[0] == 0.0
    steps.close()  # what napari's worker.quit() does
    with pytest.raises(StopIteration):
        next(steps)


def test_labels_names_cover_every_value(rat_segmentation):
    values = set(np.unique(rat_segmentation.labels).tolist())
    assert values == {int(v) for v in TissueLabel}
