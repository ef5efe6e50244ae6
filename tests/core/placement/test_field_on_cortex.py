"""The field of one placement at the cortex (core/placement/field_on_cortex.py)."""

from __future__ import annotations

import numpy as np

from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.placement import CoilPlacement
from napari_rat_tms.core.placement.field_on_cortex import field_on_cortex


class _Model:
    """A stand-in head model: E grows towards +x, so the maximum is the vertex of largest x."""

    def __init__(self, cortex):
        self.cortex = cortex

    def efield_for(self, placement, coil):
        x = self.cortex.vertices_m[:, 0]
        return np.stack([np.zeros_like(x), 10.0 * (x - x.min()), np.zeros_like(x)], axis=1)


def test_magnitude_peak_and_line_navigation():
    cortex = icosphere(0.008, subdivisions=2)
    model = _Model(cortex)
    above = CoilPlacement(np.array([0.0, 0.0, 20.0]), np.array([0.0, 0.0, -1.0]), np.array([1.0, 0.0, 0.0]))
    f = field_on_cortex(model, above, None, cortex)
    x = cortex.vertices_m[:, 0]
    assert f.peak_vertex == int(np.argmax(x)) and f.peak_v_per_m == np.max(10.0 * (x - x.min()))
    np.testing.assert_allclose(f.magnitude_v_per_m, np.linalg.norm(f.efield_v_per_m, axis=1))
    np.testing.assert_allclose(f.line_navigation.target_mm, [0, 0, 8.0], atol=0.2)   # the axis meets the top
    beside = CoilPlacement(np.array([30.0, 0.0, 20.0]), np.array([0.0, 0.0, -1.0]), np.array([1.0, 0.0, 0.0]))
    assert field_on_cortex(model, beside, None, cortex).line_navigation is None
