"""Fixtures of the reader/writer tests: a small anisotropic HU volume and the synthetic rat."""

from __future__ import annotations

import numpy as np
import pytest

from napari_rat_tms.core.volume import Volume

SHAPE = (12, 10, 9)
SPACING = (0.2, 0.3, 0.4)


def small_hu_array(seed: int = 7) -> np.ndarray:
    """int16 HU values from air to dense bone, different in every voxel position."""
    rng = np.random.default_rng(seed)
    data = rng.integers(-1024, 2500, SHAPE).astype(np.int16)
    data[0, 0, 0], data[-1, -1, -1] = -1024, 2499  # the extremes are always there
    return data


@pytest.fixture
def volume() -> Volume:
    """12 x 10 x 9 voxels of (0.2, 0.3, 0.4) mm, int16, HU."""
    return Volume(small_hu_array(), SPACING, "HU")


@pytest.fixture(scope="module")
def rat_volume() -> Volume:
    """The synthetic rat at 1 mm (87^3 voxels, int16 HU), built once per test module.

    Its array is read-only so that no test can change it for the others."""
    from napari_rat_tms.core.synthetic import make_synthetic_rat

    volume = make_synthetic_rat(voxel_size_mm=1.0).volume
    volume.data.setflags(write=False)
    return volume
