"""Core objects -> napari layer data tuples ``(data, kwargs, layer_type)``.

World coordinates are millimetres in the volume frame: an image of voxel size ``h`` gets
``scale = h`` and no translation, points are given in mm directly.
"""

from __future__ import annotations

import numpy as np

from ..core.synthetic import RatLabel, SyntheticRat
from ..core.volume import INTENSITY_UNITS_HU, Volume

__all__ = ["volume_layer_data", "synthetic_rat_layer_data", "HU_CONTRAST_LIMITS"]

HU_CONTRAST_LIMITS = (-1000.0, 2000.0)


def _contrast_limits(volume: Volume) -> tuple[float, float]:
    if volume.intensity_units == INTENSITY_UNITS_HU:
        return HU_CONTRAST_LIMITS
    sample = volume.data[::4, ::4, ::4]
    lo, hi = (float(v) for v in np.percentile(sample, [0.5, 99.9]))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def volume_layer_data(volume: Volume, name: str | None = None) -> tuple:
    """Image layer data for a :class:`Volume`: scale = voxel size (mm), metadata kept."""
    from pathlib import Path

    name = name or (Path(volume.source).name.split(".")[0] if volume.source else "µCT")
    metadata = {
        "voxel_size_mm": tuple(volume.voxel_size_mm),
        "intensity_units": volume.intensity_units,
        "scanner_affine_mm": np.asarray(volume.scanner_affine_mm).tolist(),
        "scanner_frame": volume.scanner_frame,
        "source_path": volume.source,
        **volume.metadata,
    }
    kwargs = {
        "name": name,
        "scale": tuple(volume.voxel_size_mm),
        "colormap": "gray",
        "contrast_limits": _contrast_limits(volume),
        "metadata": metadata,
        "units": "mm",
    }
    return (volume.data, kwargs, "image")


def synthetic_rat_layer_data(rat: SyntheticRat) -> list[tuple]:
    """Image, ground-truth labels and landmark points of a synthetic rat."""
    image = volume_layer_data(rat.volume, name="synthetic rat µCT")
    image[1]["metadata"]["ground_truth"] = {
        "landmarks_mm": {k: v.tolist() for k, v in rat.landmarks_mm.items()},
        "axes": {k: v.tolist() for k, v in rat.axes.items()},
        "stereotaxic_to_volume_mm": rat.stereotaxic_to_volume_mm.tolist(),
    }
    labels = (
        rat.labels,
        {
            "name": "synthetic rat ground truth",
            "scale": tuple(rat.volume.voxel_size_mm),
            "opacity": 0.35,
            "visible": False,
            "metadata": {"label_names": {int(v): v.name.lower() for v in RatLabel}},
            "units": "mm",
        },
        "labels",
    )
    names = list(rat.landmarks_mm)
    points = (
        np.array([rat.landmarks_mm[n] for n in names]),
        {
            "name": "synthetic rat landmarks",
            "features": {"landmark": names},
            "text": {"string": "{landmark}", "size": 10, "color": "yellow", "anchor": "upper_left"},
            "face_color": "yellow",
            "size": 1.0,
            "units": "mm",
        },
        "points",
    )
    return [image, labels, points]
