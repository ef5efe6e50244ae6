"""Ball morphology in mm against scipy's brute-force operations and distance transform, and
topology counts against shapes whose Betti numbers are known."""

import numpy as np
import pytest
from scipy import ndimage

from napari_rat_tms.core.segmentation.morphology import (
    ball_voxels, close_mm, components, dilate_mm, distance_to, erode_mm, fill_cavities,
    largest_component, open_mm, topology)

ANISOTROPIC = (0.17, 0.3, 0.22)


def _blobs(shape=(48, 40, 44), seed=0, fraction=0.4):
    """Random smooth blobs filling ``fraction`` of the array."""
    rng = np.random.default_rng(seed)
    g = ndimage.gaussian_filter(rng.random(shape), 2.5)
    return g > np.quantile(g, 1.0 - fraction)


@pytest.mark.parametrize("spacing", [(0.2, 0.2, 0.2), ANISOTROPIC])
def test_distance_equals_scipy_edt(spacing):
    mask = np.random.default_rng(1).random((37, 41, 29)) < 0.01
    ours = distance_to(mask, spacing)
    ref = ndimage.distance_transform_edt(~mask, sampling=spacing)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-5)


def test_distance_to_nothing_is_infinite():
    assert np.all(np.isinf(distance_to(np.zeros((4, 5, 6), bool), 0.1)))


@pytest.mark.parametrize("radius", [0.5, 1.0])
def test_closing_equals_bruteforce_ball_closing(radius):
    mask = _blobs()
    ball = ball_voxels(radius, ANISOTROPIC)
    pad = max(ball.shape)
    ref = ndimage.binary_closing(np.pad(mask, pad), structure=ball)[pad:-pad, pad:-pad, pad:-pad]
    ours = close_mm(mask, radius, ANISOTROPIC)
    assert np.array_equal(ours, ref)
    assert np.count_nonzero(ours) > np.count_nonzero(mask)  # the closing did something


def test_dilation_erosion_opening_equal_bruteforce():
    mask = _blobs(seed=2)
    ball = ball_voxels(0.8, ANISOTROPIC)
    assert np.array_equal(dilate_mm(mask, 0.8, ANISOTROPIC), ndimage.binary_dilation(mask, ball))
    # scipy's erosion treats the outside as background with border_value=0
    assert np.array_equal(erode_mm(mask, 0.8, ANISOTROPIC), ndimage.binary_erosion(mask, ball))
    ref_open = ndimage.binary_dilation(ndimage.binary_erosion(mask, ball), ball) & mask
    assert np.array_equal(open_mm(mask, 0.8, ANISOTROPIC), ref_open)


def test_closing_touching_the_border_is_not_clipped():
    mask = np.zeros((30, 30, 30), bool)
    mask[:, :3, 10:20] = True  # a slab on the border with a gap of 2 voxels
    mask[:, :3, 14:16] = False
    closed = close_mm(mask, 0.5, 0.2)
    assert closed[:, :3, 14:16].all()  # the gap is bridged up to the border


def test_radius_validation():
    with pytest.raises(ValueError, match="radius_mm"):
        close_mm(np.ones((3, 3, 3), bool), -1.0, 0.1)
    with pytest.raises(ValueError, match="voxel_size_mm"):
        dilate_mm(np.ones((3, 3, 3), bool), 1.0, (0.1, 0.0, 0.1))


def test_fill_cavities_equals_scipy_fill_holes():
    mask = _blobs(seed=3, fraction=0.6)
    assert np.array_equal(fill_cavities(mask), ndimage.binary_fill_holes(mask))


def test_components_and_largest():
    mask = np.zeros((20, 20, 20), bool)
    mask[1:4, 1:4, 1:4] = True
    mask[10:18, 10:18, 10:18] = True
    _, sizes = components(mask)
    assert sorted(sizes.tolist()) == [27, 512]
    assert np.count_nonzero(largest_component(mask)) == 512
    assert not largest_component(np.zeros((3, 3, 3), bool)).any()


def _grid(n=48, h=0.25):
    c = (np.arange(n) - (n - 1) / 2) * h
    return np.meshgrid(c, c, c, indexing="ij")


def test_topology_of_known_shapes():
    x, y, z = _grid()
    r = np.sqrt(x**2 + y**2 + z**2)
    assert topology(r < 4) == (1, 0, 0)  # ball
    assert topology((r < 5) & (r > 3.5)) == (1, 0, 1)  # hollow sphere: one cavity
    torus = (np.sqrt(x**2 + y**2) - 3.5) ** 2 + z**2 < 1.2**2
    assert topology(torus) == (1, 1, 0)
    shell_two_holes = (r < 5) & (r > 3.5) & ~((np.abs(z) > 2) & (x**2 + y**2 < 1.5**2))
    assert topology(shell_two_holes) == (1, 1, 0)  # a shell with 2 holes = one tunnel
    two_balls = (np.sqrt((x - 3) ** 2 + y**2 + z**2) < 2) | (np.sqrt((x + 3) ** 2 + y**2 + z**2) < 2)
    assert topology(two_balls) == (2, 0, 0)
    assert topology(np.zeros((5, 5, 5), bool)) == (0, 0, 0)


@pytest.mark.parametrize("h", [0.1, 0.2, 0.3, 0.17])
def test_ball_of_exactly_one_voxel_is_exact(h):
    """Voxels at exactly the radius belong to the ball, despite float32 rounding (0.2f^2 > 0.04f)."""
    plate = np.zeros((9, 9, 9), bool)
    plate[4] = True
    assert not erode_mm(plate, h, h).any()  # a one-voxel plate does not survive
    assert np.count_nonzero(dilate_mm(plate, h, h)) == 3 * 81  # face neighbours are in
    ref = ndimage.binary_erosion(plate, ball_voxels(h, h))
    assert np.array_equal(erode_mm(plate, h, h), ref)
