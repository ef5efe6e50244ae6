"""The synthetic rat checked against its own ground truth: sizes, openings, eye contrast."""

import numpy as np
import pytest
from scipy import ndimage

from napari_rat_tms.core.synthetic import RatLabel, SyntheticRatParameters, make_synthetic_rat
from napari_rat_tms.core.synthetic.rat import SOFT_TISSUE_HU, VITREOUS_HU


@pytest.fixture(scope="module")
def rat():
    return make_synthetic_rat(voxel_size_mm=0.34)


def _extent_along(mask, h, axis_vector, origin):
    pts = np.argwhere(mask) * h - origin
    proj = pts @ axis_vector
    return proj.max() - proj.min()


def test_volume_geometry_and_units(rat):
    p = SyntheticRatParameters()
    assert rat.volume.shape == p.shape == (256, 256, 256)
    assert rat.volume.voxel_size_mm == (0.34, 0.34, 0.34)
    assert rat.volume.intensity_units == "HU"
    assert rat.volume.data.dtype == np.int16
    assert rat.labels.shape == rat.volume.shape


def test_brain_is_rat_sized(rat):
    h = 0.34
    brain = rat.labels == RatLabel.BRAIN
    o = np.zeros(3)
    length = _extent_along(brain, h, rat.axes["anterior"], o)
    width = _extent_along(brain, h, rat.axes["right"], o)
    height = _extent_along(brain, h, rat.axes["dorsal"], o)
    # about 20 x 15 x 10 mm (the issue), with olfactory bulbs and brainstem to the foramen magnum
    assert 19 <= length <= 26, length
    assert 13 <= width <= 17, width
    assert 9 <= height <= 12.5, height
    volume_ml = brain.sum() * h**3 / 1000
    assert 1.2 <= volume_ml <= 2.5, volume_ml  # an adult rat brain is about 2 ml


def test_intensities_are_hounsfield_units(rat):
    hu = rat.volume.data
    lab = rat.labels
    inner = ndimage.binary_erosion(lab == RatLabel.AIR, iterations=3)
    assert abs(np.median(hu[inner]) - (-1000)) < 30
    body_core = ndimage.binary_erosion(lab == RatLabel.BODY, iterations=3)
    assert abs(np.median(hu[body_core]) - SOFT_TISSUE_HU) < 15
    bone = lab == RatLabel.BONE
    assert 500 <= np.median(hu[bone]) <= 1500  # thin cortical bone, partial volume lowers it
    assert np.percentile(hu[bone], 99) >= 1000


def test_skull_thickness_over_the_cortex(rat):
    """Dorsal skull 0.5-1 mm thick: count bone along the dorsal axis over the cortex."""
    h = 0.34
    for ap in (-2.0, -5.0):
        for ml in (-3.0, 0.5, 3.0):
            start = rat.stereotaxic_to_volume([ml, ap, 3.0])
            samples = start[None, :] - np.linspace(0, 8, 801)[:, None] * rat.axes["dorsal"]
            idx = np.rint(samples / h).astype(int)
            labels = rat.labels[tuple(idx.T)]
            bone = labels == RatLabel.BONE
            first = np.argmax(bone)
            run = np.argmax(~bone[first:])  # length of the first run of bone
            thickness = run * 0.01
            assert 0.3 <= thickness <= 1.4, (ap, ml, thickness)  # 0.65 mm +- voxel discretisation
            assert labels[first + run + 200] in (RatLabel.BRAIN, RatLabel.BODY)


def test_bregma_and_lambda(rat):
    d = np.linalg.norm(rat.landmarks_mm["bregma"] - rat.landmarks_mm["lambda"])
    assert 7.5 <= d <= 9.5
    np.testing.assert_allclose(rat.volume_to_stereotaxic(rat.landmarks_mm["bregma"]), 0, atol=1e-9)
    lam = rat.volume_to_stereotaxic(rat.landmarks_mm["lambda"])
    assert lam[1] < -7 and abs(lam[0]) < 1e-9
    # both on the dorsal skull surface: bone just below, no bone 0.5 mm above
    for name in ("bregma", "lambda"):
        p = rat.landmarks_mm[name]
        below = np.rint((p - 0.3 * rat.axes["dorsal"]) / 0.34).astype(int)
        above = np.rint((p + 0.6 * rat.axes["dorsal"]) / 0.34).astype(int)
        assert rat.labels[tuple(below)] == RatLabel.BONE
        assert rat.labels[tuple(above)] != RatLabel.BONE


def _labels_along(rat, a, b, n=400):
    pts = a[None, :] + np.linspace(0, 1, n)[:, None] * (b - a)[None, :]
    idx = np.rint(pts / 0.34).astype(int)
    return rat.labels[tuple(idx.T)]


def test_openings_go_through_the_skull(rat):
    """Along each opening's axis there is no bone; beside it, the wall is there."""
    names = {o.name for o in rat.openings}
    for required in ("foramen_magnum", "left_orbital_opening", "right_orbital_opening",
                     "left_optic_canal", "right_optic_canal"):
        assert required in names
    assert sum("foramen_ovale" in n or "jugular" in n for n in names) >= 2  # ventral openings
    for o in rat.openings:
        axis_labels = _labels_along(rat, o.start, o.end)
        assert not np.any(axis_labels == RatLabel.BONE), o.name
        # a parallel line just outside the hole crosses bone (the wall the hole goes through)
        u = (o.end - o.start) / np.linalg.norm(o.end - o.start)
        crossed = 0
        for perp in np.eye(3):
            v = perp - (perp @ u) * u
            if np.linalg.norm(v) < 0.5:
                continue
            v /= np.linalg.norm(v)
            for sign in (1, -1):
                shift = sign * (o.radius_mm + 0.7) * v
                crossed += np.any(_labels_along(rat, o.start + shift, o.end + shift) == RatLabel.BONE)
        assert crossed >= 2, o.name


def test_skull_and_spine_are_separate_pieces(rat):
    """The spine is behind the skull/spine cut and not connected to the skull's bone."""
    bone = rat.labels == RatLabel.BONE
    components, n = ndimage.label(bone)
    bregma_component = components[tuple(np.rint(rat.landmarks_mm["bregma"] / 0.34 - 0.3 / 0.34 * rat.axes["dorsal"]).astype(int))]
    assert bregma_component > 0
    skull_piece = components == bregma_component
    # the spine is a separate piece (gap of about 1 mm between occiput and atlas)
    idx = np.argwhere(bone)
    spine_side = rat.is_spine(idx * 0.34)
    assert spine_side.any()
    assert not np.any(skull_piece[tuple(idx[spine_side].T)])


def test_eyes_have_snr_below_one_but_are_recoverable(rat):
    hu = rat.volume.data.astype(np.float32)
    lab = rat.labels
    noise = rat.parameters.noise_hu
    for name in ("left_eye", "right_eye"):
        c = np.rint(rat.landmarks_mm[name] / 0.34).astype(int)
        sl = tuple(slice(i - 14, i + 15) for i in c)  # 9.9 mm cube around the eye
        eye = lab[sl] == RatLabel.EYE
        core = ndimage.binary_erosion(eye, iterations=2)
        ring = ndimage.binary_dilation(eye, iterations=5) & ~ndimage.binary_dilation(eye, iterations=2)
        # soft tissue around the eye, away from the skin (partial volume with air)
        ring &= ndimage.binary_erosion(lab[sl] == RatLabel.BODY, iterations=2)
        contrast = abs(np.median(hu[sl][core]) - np.median(hu[sl][ring]))
        assert contrast / noise < 1.0, contrast  # the seed: SNR far below 1
        assert contrast > 10  # but there is a contrast
        # the seed's median filter (7^3 at 0.17 mm = 1.2 mm; 5^3 here at 0.34 mm) makes the eye
        # separable by one isolevel:
        # classify core and ring voxels at the midpoint of their medians
        def accuracy(img):
            level = 0.5 * (np.median(img[core]) + np.median(img[ring]))
            darker = img < level  # vitreous is darker than the tissue around it
            return 0.5 * (darker[core].mean() + (~darker[ring]).mean())

        filtered = ndimage.median_filter(hu[sl], size=5)
        assert accuracy(filtered) > 0.85, accuracy(filtered)
        assert accuracy(hu[sl]) < 0.75, accuracy(hu[sl])  # hopeless without the filter
    # vitreous is darker than soft tissue
    assert VITREOUS_HU < SOFT_TISSUE_HU


def test_eyes_inside_body_and_clear_of_skull(rat):
    lab = rat.labels
    eye = lab == RatLabel.EYE
    bone_distance = ndimage.distance_transform_edt(lab != RatLabel.BONE, sampling=0.34)
    assert bone_distance[eye].min() >= 0.5
    air_distance = ndimage.distance_transform_edt(lab != RatLabel.AIR, sampling=0.34)
    assert air_distance[eye].min() > 0.2
    for name in ("left_eye", "right_eye"):
        r = np.count_nonzero(ndimage.label(eye)[0] == ndimage.label(eye)[0][tuple(np.rint(rat.landmarks_mm[name] / 0.34).astype(int))])
        diameter = 2 * (3 * r * 0.34**3 / (4 * np.pi)) ** (1 / 3)
        assert 5.0 <= diameter <= 7.0


def test_body_outline_front_half(rat):
    lab = rat.labels
    body = lab != RatLabel.AIR
    body = ndimage.binary_fill_holes(body)
    o = np.zeros(3)
    width = _extent_along(body, 0.34, rat.axes["right"], o)
    assert 30 <= width <= 60  # shoulders and forelimbs
    # the neck and shoulders reach the posterior edge of the field of view (front half of the rat)
    assert body.take(0, axis=int(np.argmax(np.abs(rat.axes["anterior"])))).any()
    # snout: the body's anterior end is well ahead of the eyes
    tip = (np.argwhere(body) * 0.34 @ rat.axes["anterior"]).max()
    assert tip - rat.landmarks_mm["left_eye"] @ rat.axes["anterior"] > 20


def test_deterministic_and_seeded():
    a = make_synthetic_rat(voxel_size_mm=1.0, seed=3)
    b = make_synthetic_rat(voxel_size_mm=1.0, seed=3)
    c = make_synthetic_rat(voxel_size_mm=1.0, seed=4)
    np.testing.assert_array_equal(a.volume.data, b.volume.data)
    assert not np.array_equal(a.volume.data, c.volume.data)
    np.testing.assert_array_equal(a.labels, c.labels)


def test_noise_parameter_sets_the_noise():
    quiet = make_synthetic_rat(voxel_size_mm=1.0, noise_hu=0.0)
    noisy = make_synthetic_rat(voxel_size_mm=1.0, noise_hu=100.0)
    diff = noisy.volume.data.astype(float) - quiet.volume.data
    body = ndimage.binary_erosion(quiet.labels == RatLabel.BODY, iterations=2)  # no clipping there
    assert abs(np.std(diff[body]) - 100) < 5


def test_head_rotation_moves_landmarks_rigidly():
    straight = make_synthetic_rat(voxel_size_mm=1.0)
    tilted = make_synthetic_rat(voxel_size_mm=1.0, head_rotation_deg=(0.0, 0.0, 20.0))
    names = list(straight.landmarks_mm)
    d0 = [np.linalg.norm(straight.landmarks_mm[a] - straight.landmarks_mm[b]) for a in names for b in names]
    d1 = [np.linalg.norm(tilted.landmarks_mm[a] - tilted.landmarks_mm[b]) for a in names for b in names]
    np.testing.assert_allclose(d0, d1, atol=1e-9)
    cos = straight.axes["anterior"] @ tilted.axes["anterior"]
    np.testing.assert_allclose(np.degrees(np.arccos(cos)), 20.0, atol=1e-6)
    for axes in (straight.axes, tilted.axes):
        m = np.column_stack([axes["right"], axes["anterior"], axes["dorsal"]])
        np.testing.assert_allclose(m.T @ m, np.eye(3), atol=1e-12)


def test_progress_is_reported():
    seen = []
    make_synthetic_rat(voxel_size_mm=1.5, progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) > 5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"voxel_size_mm": 0.0}, "voxel_size_mm"),
        ({"voxel_size_mm": 0.05}, "supports"),
        ({"noise_hu": -1.0}, "noise_hu"),
        ({"field_of_view_mm": 10.0}, "field_of_view_mm"),
        ({"head_rotation_deg": (1.0, 2.0)}, "head_rotation_deg"),
        ({"colour": 1}, "unknown parameter"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make_synthetic_rat(**kwargs)


def test_orbit_opening_scale_narrows_only_the_holes_behind_the_eyes():
    import pytest

    wide = make_synthetic_rat(voxel_size_mm=0.5, noise_hu=0.0)
    narrow = make_synthetic_rat(voxel_size_mm=0.5, noise_hu=0.0, orbit_opening_scale=0.5)
    radii = {o.name: o.radius_mm for o in wide.openings}
    for o in narrow.openings:
        expected = radii[o.name] * (0.5 if ("orbital" in o.name or "optic" in o.name) else 1.0)
        assert o.radius_mm == pytest.approx(expected), o.name
    # more bone where the orbital openings were narrowed, the same elsewhere
    gained = (narrow.labels == RatLabel.BONE) & (wide.labels != RatLabel.BONE)
    assert gained.sum() > 0
    points_mm = np.argwhere(gained) * 0.5           # volume frame: index x voxel size
    holes = [o for o in narrow.openings if "orbital" in o.name or "optic" in o.name]

    def distance_to_axis(p, o):
        u = (o.end - o.start) / np.linalg.norm(o.end - o.start)
        t = np.clip((p - o.start) @ u, 0, np.linalg.norm(o.end - o.start))
        return np.linalg.norm(p - (o.start + t[:, None] * u), axis=1)

    nearest = np.min([distance_to_axis(points_mm, o) for o in holes], axis=0)
    assert nearest.max() < 1.5 + 0.5 * 1.8      # within the old radius (+ PSF and a voxel)
    with pytest.raises(ValueError, match="orbit_opening_scale"):
        make_synthetic_rat(voxel_size_mm=1.0, orbit_opening_scale=0.0)
