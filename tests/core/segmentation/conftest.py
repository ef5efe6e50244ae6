"""The synthetic rat at 0.34 mm and its segmentation, built once per test session."""

import numpy as np
import pytest

from napari_rat_tms.core.segmentation import segment
from napari_rat_tms.core.synthetic import make_synthetic_rat


@pytest.fixture(scope="session")
def rat():
    return make_synthetic_rat(0.34)


@pytest.fixture(scope="session")
def rat_segmentation(rat):
    """The synthetic rat segmented as the job does: the rat's species defaults (seed 003's values,
    and the eyes checked against the rat's eye sizes), eye points at the true centres."""
    from napari_rat_tms.core.segmentation import SegmentationParameters
    from napari_rat_tms.core.species import species_defaults

    eyes = [rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]]
    params = SegmentationParameters(**species_defaults("rat").segmentation_defaults())
    return segment(rat.volume.data, rat.volume.voxel_size_mm, params, eye_points_mm=eyes)


def dice(a, b) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))
