"""Where napari layers sit relative to each other (shared by the docks).

Every layer of this plugin is in millimetres (``conventions.py``); a layer's ``scale`` and
``translate`` map its data coordinates to the viewer's world. Two layers loaded from different files
may have the same scale but another translation (a scan cropped differently); then a coil placed in
one layer's coordinates is moved by :func:`layer_shift` before it meets the other's surfaces
(``CoilPlacement.translated``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["layer_transform", "layer_shift"]


def layer_transform(layer) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, translate)`` of a layer's last three (spatial) axes."""
    return np.asarray(layer.scale, float)[-3:], np.asarray(layer.translate, float)[-3:]


def layer_shift(layer, ref) -> np.ndarray | None:
    """What to add to ``layer``'s data coordinates (mm) to get ``ref``'s: zero for layers in the same
    frame, a translation when only their translations differ, None when their scales differ."""
    scale, translate = layer_transform(layer)
    ref_scale, ref_translate = layer_transform(ref)
    if not np.allclose(scale, ref_scale):
        return None
    shift = (translate - ref_translate) / ref_scale
    return np.zeros(3) if np.allclose(shift, 0.0) else shift
