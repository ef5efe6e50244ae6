"""The Coil placement dock's drawing section: the coil (its windings' mesh,
:mod:`napari_rat_tms.viewer.coil_drawing`), the current arrow, the line-navigation target and the
placement grid as napari layers in the scalp's frame; the placement published to the viewer's
shared state (:mod:`napari_rat_tms.viewer.shared_state`). A part of
:class:`~napari_rat_tms.widgets.coil.CoilPlacementWidget` (which holds the widgets and state it uses)."""

from __future__ import annotations

import numpy as np

from ..core.errors import RatTmsError
from ..core.placement import line_navigation_target, placement_grid
from ..viewer.coil_drawing import coil_drawing_mesh_mm
from ..viewer.layers import ROLE_COIL, ROLE_COIL_CURRENT, ROLE_KEY, ROLE_LINE_NAVIGATION, ROLE_PLACEMENT_GRID
from ..viewer.shared_state import CoilState, shared_state

__all__ = ["CoilLayersSection", "CURRENT_ARROW_MM"]

#: Length (mm) of the drawn current arrow.
CURRENT_ARROW_MM = 10.0
_USER_ERRORS = (RatTmsError, ValueError)


class CoilLayersSection:
    """The coil's layers and the placement grid (methods of the Coil placement dock)."""

    def _coil_mesh_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return coil_drawing_mesh_mm(self.coil, self.coil_info.get("windings"))

    def _match_scalp(self, layer):
        scalp = self.scalp_layer.value
        if scalp is None:
            return
        for attr in ("scale", "translate", "rotate", "shear", "affine"):
            value = getattr(scalp, attr)
            current = getattr(layer, attr)
            if attr == "affine":
                value, current = value.affine_matrix, current.affine_matrix
            if np.shape(value) == np.shape(current) and np.allclose(value, current):
                continue    # setting it anyway costs ~40 ms of napari events per layer and move
            try:
                setattr(layer, attr, getattr(scalp, attr))
            except (ValueError, TypeError):
                pass

    def _show(self, role, kind, data, state=None, **kwargs):
        """Update the layer with ``role`` (created once) to ``data``, in the scalp's frame; ``state``
        goes into its metadata before the data changes."""
        layer = self._layer(role)
        if layer is None:
            layer = getattr(self._viewer, f"add_{kind}")(
                data, metadata={ROLE_KEY: role, **(state or {})}, units="mm", **kwargs)
        else:
            layer.metadata.update(state or {})
            layer.data = data
            if "features" in kwargs:
                layer.features = kwargs["features"]
        self._match_scalp(layer)
        return layer

    def _draw(self) -> str:
        """Draw the placement; returns notes for the status."""
        p, coil = self.placement, self.coil
        vertices, faces, values = self._coil_mesh_mm()
        # the E-field, Study and Neuron docks follow the shared state (viewer/shared_state.py); the
        # layer's metadata keeps a copy, for the project folder (and a layer added now has it at once)
        state = CoilState(None, p, self.coil_source, self.frame)
        layer = self._show(ROLE_COIL, "surface", (p.coil_to_model_mm(coil, vertices), faces, values),
                           name="coil", colormap="cyan", contrast_limits=(-1.0, 1.0), opacity=0.6,
                           shading="flat", state=state.metadata())
        shared_state(self._viewer).publish_coil(layer, p, self.coil_source, self.frame)
        notes = ""
        self.line_navigation = None
        cortex_layer = self.cortex_layer.value
        if cortex_layer is None:
            notes = " No cortex surface: no line-navigation target."
        else:
            try:
                self.line_navigation = line_navigation_target(p, self._surface(cortex_layer))
            except _USER_ERRORS as err:
                notes = f" No line-navigation target: {err}"
        axis_length = self.line_navigation.depth_mm if self.line_navigation is not None else CURRENT_ARROW_MM
        vectors = np.array([[p.centre_mm, CURRENT_ARROW_MM * p.current_direction],
                            [p.centre_mm, axis_length * p.axis]])
        self._show(ROLE_COIL_CURRENT, "vectors", vectors, name="coil current",
                   edge_color=np.array([[1.0, 0.85, 0.0, 1.0], [0.0, 0.9, 0.9, 1.0]]), edge_width=0.4,
                   vector_style="arrow", features={"vector": ["current", "axis"]})
        target = self._layer(ROLE_LINE_NAVIGATION)
        if self.line_navigation is not None:
            t = self.line_navigation
            self._show(ROLE_LINE_NAVIGATION, "points", t.target_mm[None], name="line navigation target",
                       face_color="magenta", size=1.0, features={"depth_mm": [t.depth_mm]})
            layer = self._layer(ROLE_LINE_NAVIGATION)
            if not layer.visible:
                layer.visible = True
            where = self.frame.describe(t.target_mm) if self.frame is not None else ""
            notes += f" Line-navigation target {t.depth_mm:.1f} mm under the casing ({where})."
        elif target is not None:
            target.data = np.empty((0, 3))
            target.visible = False
        return notes

    # --- grid ---------------------------------------------------------------------------------
    def show_grid(self, *_):
        """Show the seed's placement grid (7 x 5 positions) around the AP/ML centre."""
        if self.scalp_layer.value is None or self.frame is None:
            self.status.value = ("Cannot show the placement grid: " + (
                "no scalp surface." if self.scalp_layer.value is None
                else "set the stereotaxic frame first."))
            return None
        try:
            grid = placement_grid(self._surface(self.scalp_layer.value), self.frame,
                                  (float(self.grid_ap.value), float(self.grid_ml.value)))
        except _USER_ERRORS as err:
            self.status.value = f"Cannot show the placement grid: {err}"
            return None
        features = {"AP": grid.grid_ap_ml_mm[:, 0], "ML": grid.grid_ap_ml_mm[:, 1]}
        self._show(ROLE_PLACEMENT_GRID, "points", grid.scalp_points_mm, name="placement grid",
                   face_color="lime", size=0.6, features=features)
        n_o = len(grid.orientations_deg)
        self.status.value = (f"Placement grid around AP {grid.centre_ap_ml_mm[0]:+.1f}, ML "
                             f"{grid.centre_ap_ml_mm[1]:+.1f} mm: {grid.n_positions} positions x {n_o} "
                             f"orientations = {grid.n_placements} placements.")
        self.grid = grid
        return grid
