"""Automatic eye centres (core/segmentation/eye_suggestion.py): the synthetic rat against its
ground truth, a small phantom with and without eyes, the 8 real mouse scans (skipped without
../shared) and the eye-size check."""

import numpy as np
import pytest

from napari_rat_tms.core.segmentation import SegmentationError, segment
from napari_rat_tms.core.segmentation.eye_suggestion import (
    MOUSE_EYE_DIAMETER_MM, RAT_EYE_DIAMETER_MM, check_eye_size, equivalent_diameter_mm,
    estimate_midsagittal_plane, suggest_eye_centres)
from napari_rat_tms.core.segmentation.eyes import segment_eye

from ...conftest import shared_data_or_skip
from .conftest import dice


def _match(points, truth):
    """Distance of each true centre to the nearer suggested one, the pairing being one-to-one."""
    p, t = np.asarray(points), np.asarray(truth)
    straight = np.linalg.norm(p - t, axis=1)
    crossed = np.linalg.norm(p[::-1] - t, axis=1)
    return straight if straight.max() <= crossed.max() else crossed


# --------------------------------------------------------------------------- synthetic rat


@pytest.fixture(scope="module")
def rat_suggestion(rat, rat_segmentation):
    seg = rat_segmentation
    return suggest_eye_centres(rat.volume.data, rat.volume.voxel_size_mm, body=seg.body,
                               bone=seg.skull_and_spine, eye_diameter_mm=RAT_EYE_DIAMETER_MM)


def test_rat_centres_within_two_voxels_of_the_truth(rat, rat_suggestion):
    """Measured 0.21-0.26 mm at 0.34 mm on noise seeds 0-4 and two tilted heads when this was
    written (and 0.25 mm at 0.17 mm). Asserted: 0.3 mm on this rat (the README's figure); a
    suggestion in the neighbouring tissue (the cheek candidates lie 7 mm below the eyes) fails."""
    truth = [rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]]
    errors = _match(rat_suggestion.centres_mm, truth)
    assert errors.max() < 0.3, errors
    # the runner-up is the cheek pair (0.44-0.51 against 0.68-0.75 on five noise seeds)
    assert rat_suggestion.confident, rat_suggestion.note
    assert rat_suggestion.runner_up_score < 0.85 * rat_suggestion.pair_score


def test_rat_midline_and_order(rat, rat_suggestion):
    s = rat_suggestion
    right = np.asarray(rat.axes["right"], float)
    angle = np.degrees(np.arccos(min(1.0, abs(float(s.midline_normal @ right)))))
    assert angle < 3.0, angle
    side = s.centres_mm @ s.midline_normal - s.midline_offset_mm
    assert side[0] < 0 < side[1]
    assert "click" in s.note.lower()


def test_rat_eye_segmented_from_the_suggestion(rat, rat_segmentation, rat_suggestion):
    """The seed's extraction from the suggested centres is rat-sized and as good as from the true
    centres (Dice 0.87-0.88 either way)."""
    seg, h = rat_segmentation, rat.volume.voxel_size_mm
    truth = rat.labels == 3
    for point in rat_suggestion.centres_mm:
        eye = segment_eye(rat.volume.data, point, h, body=seg.body, bone=seg.skull_and_spine,
                          tissue_range=(seg.thresholds.air_soft, seg.thresholds.bone))
        mask = eye.paste(truth.shape)
        assert check_eye_size(mask, h, RAT_EYE_DIAMETER_MM) == []
        near = np.zeros_like(truth)
        near[eye.box] = truth[eye.box]
        assert dice(mask, near) > 0.8


# --------------------------------------------------------------------------- phantom


def _phantom(*, eyes: bool, eye_value: float = 8.0, seed: int = 0):
    """A head of 'soft tissue' 10 (noise 1.5) in air 0, an ellipsoidal skull shell (40) with a
    bony block that leaves one plane of symmetry, thin scalp; optionally two globes of radius
    1.65 mm bulging from the sides, against the skull, with 0.3 mm of skin."""
    h = 0.2
    shape = (100, 80, 80)
    c = np.array(shape) * h / 2
    x, y, z = np.meshgrid(*[np.arange(n) * h - ci for n, ci in zip(shape, c)], indexing="ij",
                          sparse=True)

    def ellipsoid(r):
        return (x / r[0]) ** 2 + (y / r[1]) ** 2 + (z / r[2]) ** 2 <= 1

    body = ellipsoid((8, 6, 4.3))
    bone = ellipsoid((7.2, 5.2, 3.5)) & ~ellipsoid((6.7, 4.7, 3.0))
    bone = bone | ((x >= 2) & (x <= 6) & (y >= -4) & (y <= -1.5) & (np.abs(z) <= 1.5))
    data = np.where(body, 10.0, 0.0)
    centres = []
    if eyes:
        for side in (-1, 1):
            e = np.array([2.5, -0.5, 5.0 * side])
            r2 = (x - e[0]) ** 2 + (y - e[1]) ** 2 + (z - e[2]) ** 2
            body = body | (r2 <= 1.95**2)
            data = np.where(r2 <= 1.95**2, 10.0, data)
            data = np.where((r2 <= 1.65**2) & ~bone, eye_value, data)
            centres.append(e + c)
    data = np.where(bone, 40.0, data) + np.random.default_rng(seed).normal(0, 1.5, shape)
    return data.astype(np.float32), np.asarray(body), np.asarray(bone), h, np.array(centres)


@pytest.mark.parametrize("eye_value", [8.0, 10.0], ids=["darker", "no-contrast"])
def test_phantom_eyes_found(eye_value):
    """Darker globes, and globes with no contrast at all (found by shape alone)."""
    data, body, bone, h, centres = _phantom(eyes=True, eye_value=eye_value)
    s = suggest_eye_centres(data, h, body=body, bone=bone, eye_diameter_mm=MOUSE_EYE_DIAMETER_MM)
    assert _match(s.centres_mm, centres).max() < 0.4
    assert all(1.4 < r < 2.0 for r in s.radii_mm), s.radii_mm


def test_phantom_without_eyes_raises_a_clear_error():
    data, body, bone, h, _ = _phantom(eyes=False)
    with pytest.raises(SegmentationError, match="[Cc]lick the centre of each eye"):
        suggest_eye_centres(data, h, body=body, bone=bone, eye_diameter_mm=MOUSE_EYE_DIAMETER_MM)


def test_phantom_with_a_rat_eye_size_finds_nothing():
    """Mouse-sized globes are not suggested as rat eyes (diameter 5.5-6.5 mm)."""
    data, body, bone, h, _ = _phantom(eyes=True)
    with pytest.raises(SegmentationError, match="[Cc]lick"):
        suggest_eye_centres(data, h, body=body, bone=bone, eye_diameter_mm=RAT_EYE_DIAMETER_MM)


def test_midsagittal_plane_of_the_phantom():
    """The bony block leaves one mirror plane (normal along the third axis, through the
    centre); the ellipsoidal shell alone would have three."""
    _, _, bone, h, _ = _phantom(eyes=False)
    normal, offset, symmetry = estimate_midsagittal_plane(bone, h)
    assert abs(normal[2]) > np.cos(np.radians(2.0)), normal
    assert abs(offset * np.sign(normal[2]) - 40 * h) < 0.2, offset
    assert symmetry > 0.95


def test_bad_input():
    data, body, bone, h, _ = _phantom(eyes=True)
    with pytest.raises(SegmentationError, match="No bone"):
        suggest_eye_centres(data, h, body=body, bone=np.zeros_like(bone), eye_diameter_mm=(3, 3.6))
    with pytest.raises(ValueError, match="shape"):
        suggest_eye_centres(data, h, body=body[:-1], bone=bone, eye_diameter_mm=(3, 3.6))
    with pytest.raises(ValueError, match="eye_diameter_mm"):
        suggest_eye_centres(data, h, body=body, bone=bone, eye_diameter_mm=(3.6, 3.0))
    with pytest.raises(ValueError, match="eye_diameter_mm"):
        suggest_eye_centres(data, h, body=body, bone=bone, eye_diameter_mm=3.3)


# --------------------------------------------------------------------------- eye size


def test_check_eye_size_from_volume():
    sphere = lambda d: np.pi / 6 * d**3  # noqa: E731
    assert check_eye_size(sphere(3.3), None, MOUSE_EYE_DIAMETER_MM) == []
    small = check_eye_size(sphere(2.0), None, MOUSE_EYE_DIAMETER_MM, name="left eye")
    assert len(small) == 1 and "small" in small[0] and "left eye" in small[0] and "2.00 mm" in small[0]
    large = check_eye_size(sphere(6.0), None, MOUSE_EYE_DIAMETER_MM)
    assert len(large) == 1 and "large" in large[0]
    assert check_eye_size(sphere(6.0), None, RAT_EYE_DIAMETER_MM) == []
    assert "empty" in check_eye_size(0.0, None, RAT_EYE_DIAMETER_MM)[0]
    with pytest.raises(ValueError):
        check_eye_size(-1.0, None, RAT_EYE_DIAMETER_MM)


def test_check_eye_size_from_mask():
    h = (0.1, 0.1, 0.2)  # anisotropic voxels count
    g = np.mgrid[-30:31, -30:31, -15:16] * np.array(h)[:, None, None, None]
    ball = (g**2).sum(axis=0) <= 1.65**2
    assert abs(equivalent_diameter_mm(ball, h) - 3.3) < 0.05
    assert check_eye_size(ball, h, MOUSE_EYE_DIAMETER_MM) == []
    assert "large" in check_eye_size(ball, (0.2, 0.2, 0.4), MOUSE_EYE_DIAMETER_MM)[0]
    assert "small" in check_eye_size(ball, h, RAT_EYE_DIAMETER_MM)[0]
    with pytest.raises(ValueError, match="voxel_size_mm"):
        check_eye_size(ball, None, RAT_EYE_DIAMETER_MM)


# --------------------------------------------------------------------------- mouse scans

MOUSE_SCANS = ("C57BL6_J_", "BALB_CJ_", "DBA_2J_", "A_J_", "NZW_LACJ_", "CAF1_J_", "MOLG.DnJ_",
               "C3H_HEJ_")
# Thresholds typed where the histogram's are being fixed (weak soft-tissue peak, faint vault).
MOUSE_THRESHOLDS = {"A_J_": (4.5, 22.0), "NZW_LACJ_": (4.5, 22.0), "CAF1_J_": (None, 18.0)}
# Eye centres (volume frame, mm) checked by eye on slices in the skull's own frame (coronal,
# horizontal, sagittal): in the orbit, lateral to the interorbital constriction where the
# braincase meets the snout, above the zygomatic arch, one each side of the midline. The mouse
# eye has almost no contrast at 0.14 mm (radial intensity profiles flat within 1 unit of ~10),
# so the check is anatomical; the masseter pair below the zygomatic arch is the usual
# alternative and lies 4-5 mm from these.
MOUSE_EYES_MM = {
    "C57BL6_J_": [(12.0, 14.2, 9.1), (11.7, 8.8, 14.0)],
    "BALB_CJ_": [(14.8, 17.0, 12.9), (10.7, 12.0, 17.2)],
    "DBA_2J_": [(12.9, 9.2, 8.9), (12.2, 13.6, 14.3)],
    "A_J_": [(12.8, 15.1, 10.4), (12.0, 7.9, 10.9)],
    "NZW_LACJ_": [(12.1, 11.0, 5.9), (14.8, 9.4, 13.7)],
    "CAF1_J_": [(12.1, 8.4, 8.4), (10.9, 12.8, 14.2)],
    "MOLG.DnJ_": [(13.6, 15.5, 22.8), (12.5, 20.2, 26.7)],
    "C3H_HEJ_": [(10.4, 11.0, 6.8), (11.5, 11.2, 14.1)],
}


@pytest.fixture(scope="module", params=MOUSE_SCANS)
def mouse(request):
    """(name, volume, body, bone, suggestion): body and bone as the pipeline's first steps make
    them (histogram thresholds, or the typed ones above), then the suggestion (~2 s)."""
    from napari_rat_tms.core.io import read_volume
    from napari_rat_tms.core.segmentation import segment_body, segment_skull, suggest_thresholds

    name = request.param
    volume = read_volume(shared_data_or_skip("mouse-ct", f"{name}.nii.gz"))
    data, h = volume.data, volume.voxel_size_mm
    air_soft, bone_threshold = MOUSE_THRESHOLDS.get(name, (None, None))
    if air_soft is None or bone_threshold is None:
        suggested, _ = suggest_thresholds(data)
        air_soft = suggested.air_soft if air_soft is None else air_soft
        bone_threshold = suggested.bone if bone_threshold is None else bone_threshold
    body = segment_body(data, air_soft, h)
    bones = segment_skull(data, bone_threshold, h, within=body)
    bone = bones.skull | bones.spine
    suggestion = suggest_eye_centres(data, h, body=body, bone=bone,
                                     eye_diameter_mm=MOUSE_EYE_DIAMETER_MM,
                                     tissue_range=(air_soft, bone_threshold))
    return name, volume, body, bone, (air_soft, bone_threshold), suggestion


def test_mouse_points_in_the_body_off_the_bone_one_each_side(mouse):
    name, volume, body, bone, _, s = mouse
    h = np.asarray(volume.voxel_size_mm)
    for point in s.centres_mm:
        index = tuple(np.round(point / h).astype(int))
        assert body[index] and not bone[index], (name, point)
    assert s.midline_symmetry > 0.75, (name, s.midline_symmetry)  # measured 0.84-0.96
    side = s.centres_mm @ s.midline_normal - s.midline_offset_mm
    assert side[0] * side[1] < 0 and np.abs(side).min() > 2.0, (name, side)
    separation = float(np.linalg.norm(s.centres_mm[0] - s.centres_mm[1]))
    assert 5.5 < separation < 10.0, (name, separation)  # measured 6.2-8.3 mm


def test_mouse_points_are_the_eyes_checked_by_eye(mouse):
    """Within 1 mm (0.6 eye radii) of the centres checked on the images."""
    name, *_, s = mouse
    errors = _match(s.centres_mm, MOUSE_EYES_MM[name])
    assert errors.max() < 1.0, (name, errors, s.centres_mm.round(1).tolist())
    assert min(s.scores) > 0.4 and s.runner_up_score < 0.8 * s.pair_score, (name, s.note)


def test_mouse_eye_sized_space_at_the_points(mouse):
    """The largest ball of soft tissue at each point (between the orbit's bone and the skin) is
    of a mouse eye's size: diameter 3.0-3.6 mm, plus up to 0.8 mm of eyelid and skin (measured
    3.3-4.1 mm)."""
    name, *_, s = mouse
    diameters = 2.0 * np.asarray(s.radii_mm)
    lo, hi = MOUSE_EYE_DIAMETER_MM
    assert np.all((diameters > lo - 0.2) & (diameters < hi + 0.8)), (name, diameters)


@pytest.mark.xfail(strict=True, reason=(
    "segment_eye (Otsu isolevel in a cube) does not delineate the mouse eye, whose contrast is "
    "below the noise at 0.14 mm: from the suggested centres it extracts 1.0-2.8 mm pieces "
    "(lens side or vitreous side) or nothing. Remove this mark once segment_eye handles mice."))
def test_mouse_eye_segmented_from_the_suggestion_is_mouse_sized(mouse):
    name, volume, body, bone, thresholds, s = mouse
    for point in s.centres_mm:
        eye = segment_eye(volume.data, point, volume.voxel_size_mm, body=body, bone=bone,
                          tissue_range=thresholds, cube_mm=4.5, median_size_mm=0.6,
                          opening_radius_mm=0.35)
        assert check_eye_size(eye.mask, volume.voxel_size_mm, MOUSE_EYE_DIAMETER_MM) == [], name


# --------------------------------------------------------------------------- eyes checked for the species


def test_plausible_eyes_are_kept_as_extracted(rat, rat_segmentation):
    seg = rat_segmentation
    points = [rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]]
    checked, notes, balls = seg.with_plausible_eyes(rat.volume.data, points, RAT_EYE_DIAMETER_MM,
                                                    species="rat")
    assert notes == [] and balls == {}
    assert np.array_equal(checked.eyes, seg.with_eyes(rat.volume.data, points).eyes)


def test_implausible_eyes_become_balls_unless_the_isolevel_was_typed(rat, rat_segmentation):
    """A 6 mm rat eye checked against a 2-3 mm range (a mouse's): with the automatic isolevel it is
    modelled as a ball of the largest soft-tissue ball there, clipped to 3 mm, inside the body and
    off the bone; with a typed isolevel the extraction is kept and the note says what is wrong."""
    seg, data, h = rat_segmentation, rat.volume.data, rat.volume.voxel_size_mm
    points = [rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]]
    checked, notes, balls = seg.with_plausible_eyes(data, points, (2.0, 3.0), species="mouse")
    assert sorted(balls) == [0, 1] and all(d == pytest.approx(3.0) for d in balls.values())
    assert len(notes) == 2 and all("modelled as a ball of 3.00 mm" in n for n in notes)
    assert not (checked.eyes & ~seg.body).any() and not (checked.eyes & seg.skull_and_spine).any()
    for centre in points:               # each ball: about a 3 mm sphere's volume, around its centre
        near = np.linalg.norm(np.argwhere(checked.eyes) * h - centre, axis=1) < 2.0
        volume = near.sum() * np.prod(h)
        assert 0.8 * (np.pi / 6) * 3.0**3 < volume <= 1.05 * (np.pi / 6) * 3.0**3
    typed_level = seg.eye_isolevels[0]
    kept, notes, balls = seg.with_plausible_eyes(data, points[:1], (2.0, 3.0), isolevels=[typed_level])
    assert balls == {} and "typed isolevel" in notes[0] and "large" in notes[0]
    assert np.array_equal(kept.eyes, seg.with_eyes(data, points[:1], [typed_level]).eyes)


def test_segment_checks_the_eyes_once_with_the_species_sizes_in_its_parameters(rat, rat_segmentation):
    """``SegmentationParameters.eye_diameter_mm`` (set by the species defaults) makes ``segment``
    itself check each eye, extracted once: the same eyes and notes as the explicit check, the notes
    in the segmentation's own notes (which the job, the CLI and the dock show); the rat's own range
    keeps the rat's eyes as extracted (the check can fail both ways)."""
    from dataclasses import replace

    from napari_rat_tms.core.species import species_defaults

    data, h = rat.volume.data, rat.volume.voxel_size_mm
    points = [rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]]
    params = rat_segmentation.parameters
    checked = segment(data, h, replace(params, eye_diameter_mm=(2.0, 3.0)), eye_points_mm=points)
    explicit, notes, _ = rat_segmentation.with_plausible_eyes(data, points, (2.0, 3.0))
    assert np.array_equal(checked.labels, explicit.labels)
    assert [n for n in checked.notes if n.startswith("Eyes:")] == notes and len(notes) == 2
    assert checked.parameters.eye_diameter_mm == (2.0, 3.0)
    # the fixture is segmented with the rat's range: its eyes are the unchecked extraction's
    assert params.eye_diameter_mm == species_defaults("rat").eye_diameter_mm
    assert np.array_equal(rat_segmentation.eyes, rat_segmentation.with_eyes(data, points).eyes)
    assert not any(n.startswith("Eyes:") for n in rat_segmentation.notes)
