"""The coil as the viewer draws it (viewer/coil_drawing.py), without a display."""

import numpy as np

from napari_rat_tms.core.coils import figure_eight_coil, mc_b35
from napari_rat_tms.core.meshes import TriangleSurface, check_closed
from napari_rat_tms.core.placement import coil_footprint_mm
from napari_rat_tms.viewer.coil_drawing import CCD_SLAB_MM, coil_drawing_mesh_mm


def test_a_coil_without_windings_is_a_closed_slab_over_its_footprint():
    coil = mc_b35("low")
    vertices, faces, values = coil_drawing_mesh_mm(coil)
    check_closed(TriangleSurface(vertices * 1e-3, faces, "slab"))     # raises if open or non-manifold
    assert np.allclose(values, 0.5)
    assert np.isclose(vertices[:, 2].max(), 0.0) and np.isclose(vertices[:, 2].min(), -CCD_SLAB_MM)
    footprint = coil_footprint_mm(coil)
    assert np.allclose(vertices[: len(footprint), :2], footprint)


def test_windings_are_rings_behind_the_casing_bottom():
    windings = figure_eight_coil(20.0, 40.0, 10, casing_to_winding_mm=1.0)
    coil = windings.dipoles("low")
    vertices, faces, values = coil_drawing_mesh_mm(coil, windings)
    rings = values == 1.0
    assert rings.any() and (values == 0.0).any()
    assert np.all(vertices[~rings, 2] == 0.0)              # the casing's bottom at z = 0
    assert faces.min() == 0 and faces.max() == len(vertices) - 1
    # ring radii within the windings' extent (outer diameter 40 mm per wing)
    assert np.abs(vertices[rings, :2]).max() <= 40.0 + 1e-6
