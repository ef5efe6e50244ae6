"""Bregma, lambda and midline suggested from the skull mask: against the landmarks of Maga et
al. (2017) on the real mouse scans (skipped without ../shared), against the synthetic rat's
ground truth, and on masks where the answer follows from another one (axes permuted)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_rat_tms.core.placement.landmark_suggestion import (
    SUGGESTION_NOTE, LandmarkSuggestion, LandmarkSuggestionError, suggest_landmarks)
from napari_rat_tms.core.placement.stereotaxic import LandmarkError

from ...conftest import shared_data_or_skip

# Scans whose landmark file matches the scan (MOLG/DnJ's does not: tested plausible only).
MATCHING = ("C57BL6_J_", "BALB_CJ_", "DBA_2J_", "A_J_", "NZW_LACJ_", "CAF1_J_", "C3H_HEJ_")
# Largest error measured on the 7 matching scans: bregma 1.05 mm, lambda 0.98 mm (the README's
# "within 1.1 mm"; leaving each scan out of the fit of the fractions, 1.2 and 1.0 mm along the
# anteroposterior axis: the fractions were fitted on these scans); a swapped bregma and lambda is
# 3.4-4.6 mm off.
TOLERANCE_MM = 1.1
# Measured medians 0.66 (bregma) and 0.38 (lambda): the README's "median below 0.7 and 0.4 mm".
MEDIAN_TOLERANCE_MM = {"bregma": 0.7, "lambda": 0.4}
# Segmentation settings for scans the defaults once failed on (used only if they fail).
FALLBACK = {"A_J_": dict(air_soft_threshold=4.5, bone_threshold=22),
            "NZW_LACJ_": dict(air_soft_threshold=4.5, bone_threshold=22),
            "CAF1_J_": dict(bone_threshold=18)}


def _skull(volume, scan):
    from napari_rat_tms.core.segmentation import SegmentationError, SegmentationParameters, segment

    try:
        return segment(volume.data, volume.voxel_size_mm).skull
    except SegmentationError:
        if scan not in FALLBACK:
            raise
        return segment(volume.data, volume.voxel_size_mm,
                       SegmentationParameters(**FALLBACK[scan])).skull


# Bilateral pairs of Maga's landmarks (mirror images in the template): their midpoints and
# directions give the mid-sagittal plane far better than three midline points do.
MAGA_PAIRS = (("2", "3"), ("4", "5"), ("6", "7"), ("8", "9"), ("10", "11"), ("12", "14"),
              ("15", "17"), ("18", "20"), ("22", "25"), ("24", "27"), ("30", "31"), ("32", "33"),
              ("36", "37"), ("38", "39"), ("40", "41"), ("42", "43"), ("46", "47"))


def _symmetry_plane(markups, points_mm):
    """{"normal", "plane_point"}: the mean direction of the pairs, through their midpoints."""
    left = np.array([points_mm[markups.find(a)[0]] for a, _ in MAGA_PAIRS])
    right = np.array([points_mm[markups.find(b)[0]] for _, b in MAGA_PAIRS])
    d = (left - right) / np.linalg.norm(left - right, axis=1)[:, None]
    d *= np.sign(d @ d[0])[:, None]
    normal = d.mean(axis=0)
    return {"normal": normal / np.linalg.norm(normal), "plane_point": (left + right).mean(0) / 2}


@pytest.fixture(scope="module")
def mice():
    """scan -> (volume, skull mask, suggestion, reference landmarks or None)."""
    from napari_rat_tms.core.io import read_volume
    from napari_rat_tms.core.io.markups import (MAGA_2017_LANDMARKS, landmarks_from_markups,
                                                read_markups, to_volume_frame)

    shared_data_or_skip("mouse-ct")
    out = {}
    for scan in (*MATCHING, "MOLG.DnJ_"):
        volume = read_volume(shared_data_or_skip("mouse-ct", f"{scan}.nii.gz"))
        skull = _skull(volume, scan)
        reference = None
        if scan in MATCHING:
            markups = read_markups(shared_data_or_skip("mouse-ct", "landmarks", f"{scan}.mrk.json"))
            reference = landmarks_from_markups(markups, volume, MAGA_2017_LANDMARKS)
            reference.update(_symmetry_plane(markups, to_volume_frame(markups, volume)))
        out[scan] = (volume, skull, suggest_landmarks(skull, volume.voxel_size_mm), reference)
    return out


def _distance_to_mask_mm(mask, voxel_size_mm, point_mm, reach_mm=2.0):
    """Distance (mm) from a point to the nearest voxel centre of ``mask`` (inf beyond reach)."""
    voxel = np.asarray(voxel_size_mm, dtype=float)
    centre = np.asarray(point_mm) / voxel
    lo = np.maximum(np.floor(centre - reach_mm / voxel), 0).astype(int)
    hi = np.minimum(np.ceil(centre + reach_mm / voxel) + 1, mask.shape).astype(int)
    found = np.argwhere(mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]) + lo
    if not len(found):
        return np.inf
    return float(np.min(np.linalg.norm((found - centre) * voxel, axis=1)))


@pytest.mark.parametrize("scan", MATCHING)
def test_suggestion_near_the_maga_landmarks(mice, scan):
    _, _, suggestion, ref = mice[scan]
    for name in ("bregma", "lambda"):
        error = np.linalg.norm(suggestion.landmarks_mm[name] - ref[name])
        assert error < TOLERANCE_MM, (scan, name, error)
    # the mid-sagittal plane is that of the 17 landmark pairs: measured <= 2.4 degrees, the
    # three points <= 0.13 mm from it
    normal = ref["normal"]
    assert abs(suggestion.right @ normal) > np.cos(np.radians(4)), scan
    for p in (suggestion.bregma_mm, suggestion.lambda_mm, suggestion.midline_mm):
        assert abs((p - ref["plane_point"]) @ normal) < 0.3, scan
    # anterior along lambda -> bregma: the skull's long axis within 8.3 degrees, the suggested
    # bregma-lambda line (the frame's AP axis) within 5.9 degrees as measured; dorsal away from
    # the braincase (bregma 2.3-3.1 mm above its centre)
    ap = (ref["bregma"] - ref["lambda"]) / np.linalg.norm(ref["bregma"] - ref["lambda"])
    assert suggestion.anterior @ ap > np.cos(np.radians(12)), scan
    line = suggestion.bregma_mm - suggestion.lambda_mm
    assert line @ ap / np.linalg.norm(line) > np.cos(np.radians(9)), scan
    assert (ref["bregma"] - suggestion.braincase_centre_mm) @ suggestion.dorsal > 1.5, scan


def test_median_errors(mice):
    for name, tolerance in MEDIAN_TOLERANCE_MM.items():
        errors = [np.linalg.norm(mice[s][2].landmarks_mm[name] - mice[s][3][name]) for s in MATCHING]
        assert np.median(errors) < tolerance, (name, np.round(errors, 2))


@pytest.mark.parametrize("scan", (*MATCHING, "MOLG.DnJ_"))
def test_suggestion_is_a_plausible_mouse_frame(mice, scan):
    """On the skull's dorsal surface, 3-5 mm apart (mouse), usable by frame_from_landmarks, with
    the note that says to check them."""
    from napari_rat_tms.core.placement import frame_from_landmarks

    volume, skull, s, _ = mice[scan]
    assert isinstance(s, LandmarkSuggestion) and s.note == SUGGESTION_NOTE and not s.warnings
    assert "Check" in s.note and "suture" in s.note
    assert 3.0 < np.linalg.norm(s.bregma_mm - s.lambda_mm) < 5.0
    for p in (s.bregma_mm, s.lambda_mm, s.midline_mm):
        assert _distance_to_mask_mm(skull, volume.voxel_size_mm, p) < 0.5, scan
        # nothing but air and soft tissue above it: on the dorsal surface
        above = np.round(volume.mm_to_index(p + np.outer(np.arange(2, 20), s.dorsal) * 0.14))
        inside = np.all((above >= 0) & (above < volume.shape), axis=1)
        values = volume.data[tuple(above[inside].astype(int).T)]
        assert values.size and values.max() < 22, scan
    frame = frame_from_landmarks(s.bregma_mm, s.lambda_mm, s.midline_mm, s.braincase_centre_mm)
    assert frame.anterior @ s.anterior > 0.99 and frame.dorsal @ s.dorsal > 0.99


# ------------------------------------------------------------------------------ synthetic rat
@pytest.fixture(scope="module")
def rat_suggestion(rat_head):
    rat, seg, _ = rat_head
    return rat, seg, suggest_landmarks(seg.skull, seg.voxel_size_mm)


def test_synthetic_rat(rat_suggestion):
    """Axes and mid-sagittal plane from the ground truth (measured: right 0.0 degrees off;
    anterior and dorsal 3.1, the skull's long axis against the rat's axes); bregma within 1 mm
    (measured 0.6); lambda 2.4 mm too far forward (the synthetic braincase is proportioned
    unlike the mice's that calibrated the method), so only within 3 mm along the AP axis."""
    rat, seg, s = rat_suggestion
    assert s.right @ rat.axes["right"] > np.cos(np.radians(1))
    for axis in ("anterior", "dorsal"):
        assert getattr(s, axis) @ rat.axes[axis] > np.cos(np.radians(5)), axis
    stereo = rat.volume_to_stereotaxic(np.stack([s.bregma_mm, s.lambda_mm, s.midline_mm]))
    truth = rat.volume_to_stereotaxic(np.stack([rat.landmarks_mm["bregma"],
                                                rat.landmarks_mm["lambda"]]))
    assert np.all(np.abs(stereo[:, 0]) < 0.3)  # ML: in the mid-sagittal plane
    assert np.linalg.norm(stereo[0] - truth[0]) < 1.0
    assert abs(stereo[1, 1] - truth[1, 1]) < 3.0 and stereo[1, 1] < stereo[0, 1] - 5.0
    for p in (s.bregma_mm, s.lambda_mm, s.midline_mm):
        assert _distance_to_mask_mm(seg.skull, seg.voxel_size_mm, p) < 0.5


def test_eyes_decide_which_end_is_anterior(rat_suggestion):
    rat, seg, s = rat_suggestion
    eyes = [rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]]
    with_eyes = suggest_landmarks(seg.skull, seg.voxel_size_mm, eye_points_mm=eyes)
    np.testing.assert_allclose(with_eyes.bregma_mm, s.bregma_mm)
    assert not with_eyes.warnings
    # eyes mirrored to the back of the head: followed, with a warning
    back = [e - 2 * ((e - s.braincase_centre_mm) @ s.anterior + 5.0) * s.anterior for e in eyes]
    flipped = suggest_landmarks(seg.skull, seg.voxel_size_mm, eye_points_mm=back)
    assert flipped.anterior @ s.anterior < -0.99
    assert any("eyes" in w for w in flipped.warnings)


def test_independent_of_the_array_axes(rat_suggestion):
    """The same skull with the array axes permuted and one flipped: the same points, moved."""
    rat, seg, s = rat_suggestion
    voxel = seg.voxel_size_mm[0]
    assert np.allclose(seg.voxel_size_mm, voxel)
    n0 = seg.skull.shape[0]
    moved = suggest_landmarks(np.flip(seg.skull.transpose(2, 0, 1), axis=1), voxel)

    def move(p):
        return np.array([p[2], (n0 - 1) * voxel - p[0], p[1]])

    for name in ("bregma_mm", "lambda_mm", "midline_mm"):
        assert np.linalg.norm(move(getattr(s, name)) - getattr(moved, name)) < 0.2, name


# ------------------------------------------------------------------------------ bad input
def _shell(shape=(40, 40, 60), radii=(12, 15, 25), thickness=2.0):
    """A closed ellipsoidal shell (a braincase without a skull around it)."""
    z, y, x = np.indices(shape, dtype=float)
    c = (np.asarray(shape) - 1) / 2
    r = np.sqrt(((z - c[0]) / radii[0]) ** 2 + ((y - c[1]) / radii[1]) ** 2
                + ((x - c[2]) / radii[2]) ** 2)
    return (r <= 1.0) & (r >= 1.0 - thickness / min(radii))


def test_bad_masks():
    with pytest.raises(ValueError, match="3D"):
        suggest_landmarks(np.ones((10, 10), bool), 0.1)
    with pytest.raises(LandmarkSuggestionError, match="segment the skull first"):
        suggest_landmarks(np.zeros((30, 30, 30), bool), 0.1)
    solid = np.zeros((40, 40, 60), bool)
    solid[5:35, 8:32, 5:55] = True
    with pytest.raises(LandmarkSuggestionError, match="No braincase") as info:
        suggest_landmarks(solid, 0.1)
    assert isinstance(info.value, LandmarkError) and isinstance(info.value, ValueError)


def test_a_symmetric_shell_gives_points_on_its_midplane():
    """Not a skull, but the plane and the surface follow: points on the shell's outer surface,
    in one of its symmetry planes."""
    shell = _shell()
    s = suggest_landmarks(shell, 0.2)
    centre = (np.asarray(shell.shape) - 1) / 2 * 0.2
    assert max(abs(v) for v in s.right) > 0.99  # a symmetry plane of the ellipsoid
    for p in (s.bregma_mm, s.lambda_mm):
        assert abs((p - centre) @ s.right) < 0.2
        assert _distance_to_mask_mm(shell, (0.2,) * 3, p) < 0.3
