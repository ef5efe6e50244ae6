"""Issue 25: the README's napari workflow, driven end to end through the docks as a user would
(every long step in its worker, as after a button press), with a screenshot after each step and
the layers a user must see there checked: visible, on top of what would hide them, with a colour
bar where there are colours to read.

File > Open Sample > Rat TMS; Segmentation (suggested thresholds, the eye centres clicked,
Segment); Meshing (the seed's edge lengths); Coil placement (bregma, lambda and a midline point,
the frame, the coil at the centre of the seed's grid); E-field (the sphere and 1C models: the
cheapest first, the shown field following the more accurate one); Neuron thresholds (four
ball-and-stick cells under the coil, by NEURON).

With RAT_TMS_WRITE_DOCS=1 the screenshots (whole window, docks included) go to
``docs/walkthrough/`` and the README shows them; otherwise to the test's temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from napari_rat_tms.viewer.layers import ROLE_KEY
from napari_rat_tms.viewer.shared_state import shared_state
from napari_rat_tms.widgets.coil import CoilPlacementWidget
from napari_rat_tms.widgets.field import FieldWidget
from napari_rat_tms.widgets.meshing import MeshingWidget
from napari_rat_tms.widgets.neurons import NeuronsWidget
from napari_rat_tms.widgets.segmentation import SegmentationWidget

DOCS = Path(__file__).resolve().parents[2] / "docs" / "walkthrough"


def _with_role(viewer, role):
    return [layer for layer in viewer.layers if layer.metadata.get(ROLE_KEY) == role]


def _surface(viewer, name):
    (layer,) = [layer for layer in _with_role(viewer, "surface") if layer.metadata.get("surface") == name]
    return layer


def _wait(dock, qtbot, timeout_ms):
    qtbot.waitUntil(lambda: dock._worker is None, timeout=timeout_ms)


def _drawn_share(image) -> float:
    """Share of the canvas that is not background (black)."""
    return float(np.count_nonzero(image[..., :3].max(axis=-1) > 20)) / image[..., 0].size


def _tinted_share(image) -> float:
    """Share of the canvas in colours rather than greys (labels over a grey slice)."""
    rgb = image[..., :3].astype(float) / 255.0
    return float(np.count_nonzero(rgb.max(axis=-1) - rgb.min(axis=-1) > 0.12)) / image[..., 0].size


def _shows(layer, image, shot) -> float:
    """Share of the canvas that ``layer`` changes (the same view without it, then with it again):
    what the user sees of it, however the layers around it are coloured."""
    layer.visible = False
    without = shot("without")
    layer.visible = True
    changed = np.abs(image[..., :3].astype(int) - without[..., :3].astype(int)).max(axis=-1) > 25
    return float(np.count_nonzero(changed)) / changed.size


def _look_at_the_head(viewer, cortex_layer, frame, zoom: float):
    """3D, from above the left hemisphere and in front, centred on the cortex (``zoom`` 2: the
    cortex fills the view)."""
    viewer.dims.ndisplay = 3
    viewer.reset_view()
    view = frame.right - 0.8 * frame.dorsal - 0.3 * frame.anterior
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera   # napari >= 0.9
    camera.set_view_direction(tuple(view / np.linalg.norm(view)), up_direction=tuple(frame.dorsal))
    camera.center = tuple(np.asarray(cortex_layer.data[0]).mean(axis=0) + cortex_layer.translate)
    camera.zoom = zoom * camera.zoom


class _Shots:
    """Screenshots of the canvas (checked) and, for the docs, of the whole window."""

    def __init__(self, viewer, qtbot, folder: Path, write_docs: bool):
        self.viewer, self.qtbot, self.folder, self.write_docs = viewer, qtbot, folder, write_docs
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str):
        from imageio.v3 import imwrite

        self.qtbot.wait(100)
        canvas = self.viewer.screenshot(canvas_only=True, flash=False)
        if name == "without":          # a comparison view, not kept
            return canvas
        image = self.viewer.screenshot(canvas_only=False, flash=False) if self.write_docs else canvas
        imwrite(self.folder / f"{name}.png", image)
        return canvas


def test_the_readmes_napari_workflow_end_to_end(viewer_or_skip, rat_head, qtbot, tmp_path):
    rat = rat_head[0]
    write_docs = os.environ.get("RAT_TMS_WRITE_DOCS") == "1"
    viewer = viewer_or_skip(show=True)
    viewer.window.resize(1600, 1000)
    shot = _Shots(viewer, qtbot, DOCS if write_docs else tmp_path / "walkthrough", write_docs)
    try:
        # 1. File > Open Sample > Rat TMS
        viewer.open_sample("napari-rat-tms", "synthetic_rat")
        image = viewer.layers["synthetic rat µCT"]
        assert image.visible and image.data.shape == (256, 256, 256)
        assert _drawn_share(shot("1_sample")) > 0.01     # a slice through the head (the scan is mostly air)

        # 2. Segmentation: suggested thresholds, the eyes clicked, Segment (in its worker)
        segmentation = SegmentationWidget(viewer)
        viewer.window.add_dock_widget(segmentation, name="Segmentation")
        assert segmentation.segment_button.enabled             # a scan is open
        assert segmentation.suggest() is not None, segmentation.status.value
        eyes = segmentation.eye_points_layer()
        eyes.data = np.array([rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]])
        assert segmentation.start() is not None, segmentation.status.value
        _wait(segmentation, qtbot, 120_000)
        labels = viewer.layers["segmentation"]
        assert labels.visible and set(np.unique(labels.data)) >= {0, 1, 2, 3, 4}, segmentation.status.value
        assert viewer.layers.index(labels) > viewer.layers.index(image)   # drawn over the scan
        assert _tinted_share(shot("2_segmentation")) > 0.01     # the labels' colours over the grey slice

        # 3. Meshing (the seed's edge lengths, the dock's defaults)
        meshing = MeshingWidget(viewer)
        viewer.window.add_dock_widget(meshing, name="Meshing")
        assert meshing.mesh_button.enabled and meshing.segmentation_layer.value is labels
        assert meshing.start() is not None, meshing.status.value
        _wait(meshing, qtbot, 180_000)
        assert meshing.status.value.startswith("Done."), meshing.status.value
        body, cortex = _surface(viewer, "body"), _surface(viewer, "cortex")
        assert body.visible and cortex.visible

        # 4. Coil placement: landmarks, the frame, the coil at the seed grid's centre
        coil = CoilPlacementWidget(viewer)
        viewer.window.add_dock_widget(coil, name="Coil placement")
        assert coil.scalp_layer.value is body and coil.cortex_layer.value is cortex
        lm = rat.landmarks_mm
        coil.add_landmarks_layer().data = np.array(
            [lm["bregma"], lm["lambda"], rat.stereotaxic_to_volume([0.0, 15.0, -3.0])])
        assert coil.set_frame() is not None, coil.status.value
        grid = coil.show_grid()
        assert coil.place_at(grid.scalp_points_mm[len(grid.scalp_points_mm) // 2]) is not None, coil.status.value
        (coil_layer,) = _with_role(viewer, "coil")
        assert coil_layer.visible
        # the volumes, which cover the scalp and the coil in 3D, were hidden on the first placement
        assert not image.visible and not labels.visible and "Hidden so that the coil" in coil.status.value
        _look_at_the_head(viewer, cortex, coil.frame, zoom=1.0)
        assert _drawn_share(shot("3_coil")) > 0.2

        # 5. E-field: the cheapest models first; the field follows the more accurate one
        field = FieldWidget(viewer)
        viewer.window.add_dock_widget(field, name="E-field")
        for kind, box in field.kind_boxes.items():
            box.value = kind in ("1C", "sphere")
        assert field.build_button.enabled
        assert field.build_models() is not None, field.status.value
        _wait(field, qtbot, 180_000)
        qtbot.waitUntil(lambda: field.model_shown == "1C" and not field.preview_shown, timeout=30_000)
        (efield,) = _with_role(viewer, "efield_on_cortex")
        assert efield.visible and efield.colorbar.visible
        # what hid the field in 3D: the skull and eyes hidden, the body dimmed, the coil see-through
        assert not _surface(viewer, "skull").visible and not _surface(viewer, "eyes").visible
        assert body.opacity <= 0.3
        assert "hidden" in field.status.value
        assert field.export_button.enabled
        coil_layer.opacity = 0.15      # the coil (50 mm) is above the whole head
        _look_at_the_head(viewer, cortex, coil.frame, zoom=2.0)
        assert _shows(efield, shot("4_efield"), shot) > 0.05

        # 6. Neuron thresholds: four ball-and-stick cells under the coil, by NEURON
        neurons = NeuronsWidget(viewer)
        viewer.window.add_dock_widget(neurons, name="Neuron thresholds")
        assert neurons.compute_button.enabled
        neurons.n_neurons.value = 4
        neurons.cache_dir = tmp_path / "thresholds-cache"
        assert neurons.compute() is not None, neurons.status.value
        _wait(neurons, qtbot, 300_000)
        results = neurons.results["ball-and-stick"]
        thresholds = np.array([r.threshold_amplitude if r.ok else np.nan for r in results], float)   # A/µs
        assert np.isfinite(thresholds).sum() >= 2, [r.status for r in results]
        ok = thresholds[np.isfinite(thresholds)]
        assert np.all((ok > 1.0) & (ok < 1e6))
        (threshold_map,) = _with_role(viewer, "neuron_threshold_map")
        (somas,) = _with_role(viewer, "neuron_somas")
        assert threshold_map.visible and threshold_map.colorbar.visible and somas.visible
        assert not efield.visible and "Hidden so that the threshold map shows" in neurons.status.value
        assert len(threshold_map.vertex_values) == len(cortex.data[0]) and len(somas.data) == 4
        assert np.nanmin(threshold_map.vertex_values) == pytest.approx(np.nanmin(thresholds))
        fractions = [neurons.activated_fraction("ball-and-stick", p) for p in (0.0, 100.0, 1e3, 1e5)]
        assert fractions[0] == 0.0 and fractions == sorted(fractions)
        assert _shows(threshold_map, shot("5_thresholds"), shot) > 0.05
    finally:
        shared_state(viewer).clear()
