"""Widget: surface meshes of the segmentation (Plugins > Rat TMS > Meshing).

Choose the "segmentation" Labels layer (made by the Segmentation widget or read from a label
file with values 0 air, 1 body, 2 skull, 3 eye, 4 brain, 5 spine), set the target edge lengths
(seed 003's defaults) and press Mesh: the surfaces are built in a worker with a progress bar and
Cancel, checked (closed, outward, no self-intersections, nesting and gaps between them) and shown
as Surface layers in millimetres, in the image's world coordinates. Changing a parameter after a
run meshes again. The statistics (vertices, faces, edge length, genus, volumes, gaps) are in the
status line and in each layer's metadata.
"""

from __future__ import annotations

from dataclasses import fields

import napari
import numpy as np
from magicgui.widgets import ComboBox, FloatSpinBox, Label, ProgressBar, PushButton, SpinBox

from ..core.meshes.from_segmentation import HeadMeshes, MeshingParameters, iter_mesh_labels
from ..viewer.layers import (DEFAULT_SURFACE_STYLE, ROLE_KEY, ROLE_SEGMENTATION, ROLE_SURFACE, SURFACE_STYLE,
                             surface_draw_rank)
from ._dock import ScrollingDock, enable_when_ready
from ._running import start_work

__all__ = ["MeshingWidget", "SURFACE_STYLE"]

_DEFAULTS = {f.name: f.default for f in fields(MeshingParameters)}


class MeshingWidget(ScrollingDock):
    """The meshing dock widget (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        self._worker = None
        self._has_result = False
        self.segmentation_layer = ComboBox(label="segmentation", choices=self._label_choices)
        self.body_edge = FloatSpinBox(label="body edge (mm)", value=_DEFAULTS["body_edge_mm"],
                                      min=0.2, max=10.0, step=0.1)
        self.skull_edge = FloatSpinBox(label="skull edge (mm)", value=_DEFAULTS["skull_edge_mm"],
                                       min=0.1, max=5.0, step=0.01)
        self.eye_edge = FloatSpinBox(label="eye edge (mm)", value=_DEFAULTS["eye_edge_mm"],
                                     min=0.1, max=5.0, step=0.01)
        self.cortex_points = SpinBox(label="cortex points", value=_DEFAULTS["cortex_points"],
                                     min=100, max=200_000, step=100)
        self.mesh_button = PushButton(text="Mesh")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(min=0, max=100, value=0, label="progress")
        self.status = Label(value="Choose the segmentation layer, then Mesh.")
        self.status.native.setWordWrap(True)
        self.extend([self.segmentation_layer, self.body_edge, self.skull_edge, self.eye_edge,
                     self.cortex_points, self.mesh_button, self.cancel_button, self.progress,
                     self.status])
        self.mesh_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self.cancel)
        for w in (self.body_edge, self.skull_edge, self.eye_edge, self.cortex_points):
            w.changed.connect(self._on_parameter_changed)
        viewer.layers.events.inserted.connect(self._refresh)
        viewer.layers.events.removed.connect(self._refresh)
        self._update_buttons()

    def _label_choices(self, *_):
        layers = [layer for layer in self._viewer.layers if isinstance(layer, napari.layers.Labels)
                  and layer.ndim == 3]
        layers.sort(key=lambda layer: layer.metadata.get(ROLE_KEY) != ROLE_SEGMENTATION)
        return [(layer.name, layer) for layer in layers]

    def _refresh(self, *_):
        self.segmentation_layer.reset_choices()
        self._update_buttons()

    def _update_buttons(self, *_):
        """Mesh is enabled only with a 3D Labels layer and no run going on (tooltip says why not)."""
        missing = None if self.segmentation_layer.value is not None else (
            "no 3D Labels layer: segment the scan (Segmentation dock) or open a label volume.")
        enable_when_ready(self.mesh_button, missing, "Mesh the chosen segmentation's surfaces in the background.",
                          busy=self._worker is not None)

    def parameters(self) -> MeshingParameters:
        return MeshingParameters(body_edge_mm=float(self.body_edge.value),
                                 skull_edge_mm=float(self.skull_edge.value),
                                 eye_edge_mm=float(self.eye_edge.value),
                                 cortex_points=int(self.cortex_points.value))

    def start(self, *_):
        """Mesh in a worker; returns the worker, or None (the reason is in the status)."""
        if self._worker is not None:
            self.status.value = "A run is going on: wait for it or cancel it."
            return None
        layer = self.segmentation_layer.value
        if layer is None:
            self.status.value = "Cannot mesh: no 3D Labels layer (segment the scan first)."
            return None
        gap = layer.metadata.get("napari_rat_tms_segmentation", {}).get(
            "parameters", {}).get("evaluation_gap_mm", 1.0)
        self.mesh_button.enabled, self.cancel_button.enabled = False, True
        self.progress.value = 0
        self.status.value = "Meshing..."
        steps = iter_mesh_labels(np.asarray(layer.data), tuple(layer.scale), self.parameters(),
                                 evaluation_gap_mm=gap)
        self._worker = start_work(steps, on_progress=self._on_progress, activity="Meshing",
                                  on_outcome=lambda outcome: self._on_done(outcome, layer),
                                  on_finished=self._on_finished)
        return self._worker

    def cancel(self, *_):
        if self._worker is not None:
            self.status.value = "Cancelling after the current surface..."
            self._worker.quit()

    def _on_parameter_changed(self, *_):
        if self._has_result:
            if self._worker is not None:
                self._worker.quit()
                self._worker.finished.connect(self.start)
            else:
                self.start()

    def _on_progress(self, item):
        fraction, message = item
        self.progress.value = round(100 * fraction)
        self.status.value = message

    def _on_finished(self):
        self._worker = None
        self.cancel_button.enabled = False
        self._update_buttons()

    def _surface_layer(self, name):
        for layer in self._viewer.layers:
            if layer.metadata.get(ROLE_KEY) == ROLE_SURFACE and layer.metadata.get("surface") == name:
                return layer
        return None

    def _on_done(self, outcome, labels_layer):
        if outcome.cancelled:
            self.progress.value = 0
            self.status.value = "Cancelled; no layer was added or changed."
            return
        if outcome.error is not None:
            self.progress.value = 0
            self.status.value = f"Cannot mesh: {outcome.error}"
            return
        meshes: HeadMeshes = outcome.value
        self._show(meshes, labels_layer)
        self._has_result = True
        self.progress.value = 100
        self.status.value = "Done.\n" + meshes.describe() + "".join(f"\nNote: {n}" for n in outcome.notes)

    def _show(self, meshes: HeadMeshes, labels_layer):
        translate = tuple(float(t) for t in labels_layer.translate)
        for name, surface in sorted(meshes.surfaces.items(), key=lambda item: surface_draw_rank(item[0])):
            data = (surface.vertices_m * 1e3, surface.faces)
            stats = meshes.statistics[name]
            metadata = {ROLE_KEY: ROLE_SURFACE, "surface": name, "units": "mm",
                        "statistics": {f.name: getattr(stats, f.name) for f in fields(stats)},
                        "gaps_mm": dict(meshes.gaps_mm)}
            layer = self._surface_layer(name)
            if layer is None:
                colormap, opacity, visible = SURFACE_STYLE.get(name, DEFAULT_SURFACE_STYLE)
                self._viewer.add_surface(data, name=f"{name} surface", colormap=colormap,
                                         opacity=opacity, visible=visible, metadata=metadata,
                                         translate=translate, units="mm", shading="smooth")
            else:
                layer.data = data
                layer.metadata = metadata
