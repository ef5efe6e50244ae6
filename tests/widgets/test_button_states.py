"""Issue 25: each dock's buttons are enabled only when their inputs exist, and their tooltip says
what is missing and where to get it (before, they switched on with nothing to work on and said why
only after a press)."""

from __future__ import annotations

import numpy as np

from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.viewer.layers import ROLE_KEY, ROLE_SURFACE
from napari_rat_tms.viewer.shared_state import shared_state
from napari_rat_tms.widgets.field import FieldWidget
from napari_rat_tms.widgets.meshing import MeshingWidget
from napari_rat_tms.widgets.neurons import NeuronsWidget
from napari_rat_tms.widgets.segmentation import SegmentationWidget
from napari_rat_tms.widgets.study import StudyWidget


def _not_yet(button, words: str) -> bool:
    return not button.enabled and "Not yet:" in button.tooltip and words in button.tooltip


def _add_surface(viewer, radius_mm, name):
    sphere = icosphere(radius_mm * 1e-3, 2, name=name)
    return viewer.add_surface((sphere.vertices_m * 1e3, sphere.faces), name=f"{name} surface",
                              metadata={ROLE_KEY: ROLE_SURFACE, "surface": name})


def test_buttons_wait_for_their_inputs_and_say_what_is_missing(viewer_or_skip):
    viewer = viewer_or_skip()
    segmentation, meshing = SegmentationWidget(viewer), MeshingWidget(viewer)
    field, neurons, study = FieldWidget(viewer), NeuronsWidget(viewer), StudyWidget(viewer)
    try:
        assert _not_yet(segmentation.segment_button, "open a µCT scan")
        assert _not_yet(segmentation.suggest_button, "no 3D image")
        assert _not_yet(meshing.mesh_button, "no 3D Labels layer")
        assert _not_yet(field.build_button, "no cortex surface")
        assert _not_yet(field.export_button, "no field shown yet")
        assert _not_yet(field.roi_button, "no field shown yet")
        assert _not_yet(neurons.compute_button, "no BEM head model built")
        assert _not_yet(study.run_button, "build the models in the E-field dock")
        assert _not_yet(study.save_button, "no study run yet")

        image = viewer.add_image(np.zeros((8, 8, 8), np.float32), name="scan")
        assert segmentation.segment_button.enabled and segmentation.suggest_button.enabled
        assert "Not yet" not in segmentation.segment_button.tooltip
        labels = viewer.add_labels(np.zeros((8, 8, 8), np.uint8), name="labels")
        assert meshing.mesh_button.enabled and "Not yet" not in meshing.mesh_button.tooltip

        _add_surface(viewer, 7.0, "cortex")
        assert _not_yet(field.build_button, "surfaces are missing")   # every model needs the body too
        _add_surface(viewer, 10.0, "body")
        assert field.build_button.enabled                      # 1C and the sphere can be built
        for box in field.kind_boxes.values():
            box.value = False
        assert _not_yet(field.build_button, "no model is ticked")
        field.kind_boxes["3C"].value = True                     # needs skull and eyes
        assert _not_yet(field.build_button, "surfaces are missing")
        field.kind_boxes["1C"].value = True
        assert field.build_button.enabled
        assert _not_yet(field.roi_button, "no field shown yet")   # no field yet

        # inputs removed again: the buttons go back
        viewer.layers.remove(image)
        viewer.layers.remove(labels)
        assert _not_yet(segmentation.segment_button, "no 3D image")
        assert _not_yet(meshing.mesh_button, "no 3D Labels layer")
    finally:
        shared_state(viewer).clear()
