"""The Coil placement dock's stereotaxic-frame section: the landmarks layer (bregma, lambda, a
midline point), clicking them on the scalp, and the frame made from them
(:func:`~napari_rat_tms.core.placement.frame_from_landmarks`). A part of
:class:`~napari_rat_tms.widgets.coil.CoilPlacementWidget` (which holds the widgets and state it uses)."""

from __future__ import annotations

import numpy as np

from ..core.errors import RatTmsError
from ..core.placement import StereotaxicFrame, frame_from_landmarks
from ..core.placement.grid import default_grid_centre_ap_ml_mm
from ..viewer.layers import ROLE_EYE_POINTS, ROLE_KEY, ROLE_LANDMARKS
from ._clicks import click_without_drag

__all__ = ["StereotaxicFrameSection", "LANDMARK_NAMES"]

LANDMARK_NAMES = ("bregma", "lambda", "midline")
_USER_ERRORS = (RatTmsError, ValueError)


class StereotaxicFrameSection:
    """Landmarks and the stereotaxic frame (methods of the Coil placement dock)."""

    def add_landmarks_layer(self, *_):
        """Add (or select) the Points layer on which bregma, lambda and a midline point are clicked."""
        layer = self._layer(ROLE_LANDMARKS)
        if layer is None:
            scalp = self.scalp_layer.value
            ndim = 3 if scalp is None else scalp.ndim
            layer = self._viewer.add_points(
                np.empty((0, ndim)), ndim=ndim, name="landmarks", face_color="yellow", size=1.0,
                units="mm", metadata={ROLE_KEY: ROLE_LANDMARKS},
                features={"landmark": np.array([], dtype=object)},
                text={"string": "{landmark}", "color": "yellow", "size": 10, "anchor": "upper_left"})
            layer.feature_defaults = {"landmark": LANDMARK_NAMES[0]}
            layer.events.data.connect(lambda _event, lay=layer: self._name_landmarks(lay))
            message = "Added the landmarks layer. "
        else:
            message = "The landmarks layer exists (kept as it is). "
        self._viewer.layers.selection.active = layer
        layer.mode = "add"
        self.status.value = (message + "Click bregma, then lambda, then a third point of the midline "
                             "(e.g. the tip of the nasal bones) on the skull, then press "
                             "'Set stereotaxic frame'.")
        return layer

    @staticmethod
    def _name_landmarks(layer):
        n = len(layer.data)
        names = [LANDMARK_NAMES[k] if k < len(LANDMARK_NAMES) else "extra (ignored)" for k in range(n)]
        try:
            if list(layer.features.get("landmark", [])) != names:
                layer.features = {"landmark": np.array(names, dtype=object)}
            layer.feature_defaults = {"landmark": LANDMARK_NAMES[n] if n < len(LANDMARK_NAMES)
                                      else "extra (ignored)"}
        except (ValueError, KeyError, TypeError):  # labels only; never block the user's edit
            pass

    def set_frame(self, *_) -> StereotaxicFrame | None:
        """The stereotaxic frame from the landmarks layer; returns it, or None (reason in the status)."""
        scalp_layer = self.scalp_layer.value
        if scalp_layer is None:
            self.status.value = "Cannot set the frame: choose the scalp surface first (run Meshing)."
            return None
        layer = self._layer(ROLE_LANDMARKS)
        n = 0 if layer is None else len(layer.data)
        if n < 3:
            self.status.value = (f"Cannot set the frame: {n} of the 3 landmarks clicked. Press 'Add "
                                 "landmarks layer' and click bregma, lambda and a midline point.")
            return None
        world = np.array([layer.data_to_world(p) for p in np.asarray(layer.data, float)[:3]])
        points = self._world_to_model(world)
        skull_layer = self.skull_layer.value
        try:
            scalp = self._surface(scalp_layer)
            skull = self._surface(skull_layer)
            centre = (skull if skull is not None else scalp).vertices_m.mean(axis=0) * 1e3
            eyes = None
            eye_layer = self._layer(ROLE_EYE_POINTS)
            if eye_layer is not None and len(eye_layer.data):
                eyes = self._world_to_model(
                    [eye_layer.data_to_world(p) for p in np.asarray(eye_layer.data, float)])
            frame = frame_from_landmarks(points[0], points[1], points[2], centre, skull=skull,
                                         eyes_mm=eyes)
        except _USER_ERRORS as err:
            self.status.value = f"Cannot set the stereotaxic frame: {err}"
            return None
        self.frame = frame
        distance = float(np.linalg.norm(points[0] - points[1]))
        checks = ", ".join(filter(None, ["skull" if skull is not None else "",
                                         "eyes" if eyes is not None else ""]))
        self.frame_label.value = (f"Frame: bregma-lambda {distance:.1f} mm"
                                  + (f" (checked against the {checks})" if checks else "") + ".")
        self._busy = True
        try:
            ap, ml = default_grid_centre_ap_ml_mm(frame)
            self.grid_ap.value, self.grid_ml.value = round(ap, 2), round(ml, 2)
        finally:
            self._busy = False
        extra = " (landmarks after the third are ignored)" if n > 3 else ""
        if self.placement is not None and self._replace_at(self.placement.scalp_point_mm,
                                                           "The stereotaxic frame is set" + extra + "."):
            return frame
        self.status.value = "The stereotaxic frame is set" + extra + ". " + self._next_step()
        return frame

    def _on_landmark_click_toggled(self, checked: bool):
        callbacks = self._viewer.mouse_drag_callbacks
        if checked:
            if self.place_button.native.isChecked():
                self.place_button.native.setChecked(False)
            layer = self.add_landmarks_layer()
            layer.mode = "pan_zoom"  # the widget adds the points, on the skull
            if self._on_landmark_press not in callbacks:
                callbacks.append(self._on_landmark_press)
            target = "skull" if self.skull_layer.value is not None else "scalp"
            self.status.value = (f"Click bregma, lambda and a midline point on the {target} in the 3D "
                                 "view: each click adds the point where the line of sight meets the "
                                 f"{target}. Uncheck the button when done.")
        elif self._on_landmark_press in callbacks:
            callbacks.remove(self._on_landmark_press)

    def _on_landmark_press(self, viewer, event):
        """Mouse callback (while 'Click landmarks on the skull' is checked): a click without
        dragging adds a landmark where the line of sight meets the skull (or the scalp)."""
        click = yield from click_without_drag(event)
        if click is not None:
            position, view, _ = click
            self.add_landmark_from_click(position, view)

    def add_landmark_from_click(self, position_world, view_direction):
        """Add the next landmark where the line of sight meets the skull (or the scalp when no
        skull is chosen); returns the point (model frame, mm) or None (reason in the status)."""
        surface_layer = self.skull_layer.value or self.scalp_layer.value
        if surface_layer is None:
            self.status.value = "Cannot add a landmark: no skull or scalp surface (run Meshing)."
            return None
        if view_direction is None or not np.any(view_direction):
            self.status.value = ("Landmarks are clicked on the surface in the 3D view; in 2D, add them "
                                 "with the landmarks layer's own point tool.")
            return None
        hit = self._line_of_sight_hit(surface_layer, position_world, view_direction)
        if hit is None:
            self.status.value = f"The click missed the {surface_layer.name}; no landmark added."
            return None
        layer = self._layer(ROLE_LANDMARKS) or self.add_landmarks_layer()
        layer.mode = "pan_zoom"
        scalp = self.scalp_layer.value
        world = hit * np.asarray(scalp.scale, float)[-3:] + np.asarray(scalp.translate, float)[-3:]
        layer.add(np.asarray(layer.world_to_data(world), float)[None])
        n = len(layer.data)
        name = LANDMARK_NAMES[n - 1] if n <= len(LANDMARK_NAMES) else "extra (ignored)"
        after = (f"next: {LANDMARK_NAMES[n]}." if n < len(LANDMARK_NAMES)
                 else "all three clicked: press 'Set stereotaxic frame'.")
        self.status.value = f"Added {name} at ({hit[0]:.1f}, {hit[1]:.1f}, {hit[2]:.1f}) mm; {after}"
        return hit
