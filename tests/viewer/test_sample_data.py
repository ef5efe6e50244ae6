"""File > Open Sample: the synthetic rat appears with its physical size."""

import numpy as np
import pytest

from napari_rat_tms.core.synthetic import SyntheticRatParameters


def test_sample_opens_with_physical_size(viewer_or_skip):
    viewer = viewer_or_skip()
    layers = viewer.open_sample("napari-rat-tms", "synthetic_rat")
    names = [layer.name for layer in layers]
    assert names == ["synthetic rat µCT", "synthetic rat ground truth", "synthetic rat landmarks"]
    image = viewer.layers["synthetic rat µCT"]
    defaults = SyntheticRatParameters()
    np.testing.assert_allclose(image.scale, [defaults.voxel_size_mm] * 3)
    # napari's world extent spans the voxel centres; one more voxel gives the field of view
    world = image.extent.world
    size_mm = world[1] - world[0] + image.extent.step
    np.testing.assert_allclose(size_mm, defaults.shape[0] * defaults.voxel_size_mm, rtol=1e-6)
    assert image.metadata["intensity_units"] == "HU"
    labels = viewer.layers["synthetic rat ground truth"]
    np.testing.assert_allclose(labels.scale, image.scale)
    points = viewer.layers["synthetic rat landmarks"]
    assert list(points.features["landmark"]) == ["bregma", "lambda", "right_eye", "left_eye"]
    # landmarks are in world mm: bregma lies on bone in the labels (label 2) or within a voxel of it
    bregma_index = np.rint(points.data[0] / image.scale).astype(int)
    neighbourhood = labels.data[tuple(slice(i - 1, i + 2) for i in bregma_index)]
    assert (neighbourhood == 2).any()


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_sample_layers_share_world_frame(viewer_or_skip, axis):
    viewer = viewer_or_skip()
    viewer.open_sample("napari-rat-tms", "synthetic_rat")
    extents = [layer.extent.world for layer in viewer.layers[:2]]
    np.testing.assert_allclose(extents[0][:, axis], extents[1][:, axis])
