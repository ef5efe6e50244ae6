"""npe2 sample data: the synthetic rat head µCT with its ground truth."""

from __future__ import annotations

from ..core.synthetic import make_synthetic_rat
from .layers import synthetic_rat_layer_data

__all__ = ["synthetic_rat_sample"]


def synthetic_rat_sample() -> list[tuple]:
    """The synthetic rat at 0.34 mm (256^3, a few seconds): image, labels, landmarks."""
    return synthetic_rat_layer_data(make_synthetic_rat())
