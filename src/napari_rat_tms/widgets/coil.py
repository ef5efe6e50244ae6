"""Widget: put a TMS coil on the scalp (Plugins > Rat TMS > Coil placement).

1. Choose the surfaces (made by the Meshing widget): the scalp ("body"), the cortex and, optionally,
   the skull (without the spine), used to check the landmarks.
2. Choose the coil: a preset (the MagVenture MC-B35 of the rat study), a SimNIBS ``.ccd`` file, or
   your own round/figure-of-eight coil as a windings ``.json`` file
   (:func:`napari_rat_tms.core.coils.write_windings_json`).
3. Stereotaxic frame: check "Click landmarks on the skull (3D)" and click, in this order, bregma,
   lambda and a third point of the midline (e.g. the tip of the nasal bones) on the skull surface
   (each click adds the point where the line of sight meets the skull; or add them on slices with
   the "landmarks" Points layer), then press "Set stereotaxic frame". The coil's orientation is
   measured from posterior-to-anterior (PA).
4. Place the coil: check "Place by clicking" and click on the scalp (in 3D the line of sight is
   followed to the scalp; in 2D the click must be within 2 mm of the scalp). The casing is put
   tangent to the scalp and lifted until it touches it, plus the gap.
5. Turn it (orientation, 0 deg = current under the coil's centre flowing PA, positive = towards the
   animal's left), set the gap and dI/dt: the coil follows at once.

Shown: the coil ("coil" Surface layer), the current under its centre and its axis ("coil
current" Vectors: yellow = current, 10 mm; cyan = axis), the line-navigation target (where the
axis meets the cortex), and on request the seed's placement grid. All in millimetres in the
scalp layer's world coordinates; positions are also given from bregma (AP, ML). The placement
can be saved and loaded as JSON. Other widgets read :attr:`CoilPlacementWidget.placement`,
:attr:`~CoilPlacementWidget.frame` and :attr:`~CoilPlacementWidget.coil`, and may connect to
:attr:`~CoilPlacementWidget.placement_changed`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import ComboBox, Container, FloatSlider, FloatSpinBox, Label, PushButton
from psygnal import Signal

from ..core.coils import COIL_PRESETS, CoilDipoles, load_coil
from ..core.errors import RatTmsError
from ..core.meshes.rays import first_hit_along_line
from ..core.meshes.surface import TriangleSurface
from ..core.placement import (
    PLACEMENT_FILE_FORMAT,
    CoilPlacement,
    CoilPlacementError,
    StereotaxicFrame,
    check_coil_clearance,
    frame_from_landmarks,
    lift_onto_scalp,
    line_navigation_target,
    place_coil_on_scalp,
    placement_grid,
    placement_record,
)
from ..core.placement.grid import default_grid_centre_ap_ml_mm
from ..core.conventions import SEED_DIDT_A_PER_US, m_to_mm, mm_to_m
from ..viewer.coil_drawing import coil_drawing_mesh_mm
from ..viewer.layers import (
    ROLE_COIL,
    ROLE_COIL_CURRENT,
    ROLE_EYE_POINTS,
    ROLE_KEY,
    ROLE_LANDMARKS,
    ROLE_LINE_NAVIGATION,
    ROLE_PLACEMENT_GRID,
    ROLE_SURFACE,
    layer_with_role,
    surface_in_frame_of,
)
from ..viewer.shared_state import CoilState, shared_state
from ..viewer.work import call

__all__ = ["CoilPlacementWidget", "ROLE_COIL", "ROLE_COIL_CURRENT", "ROLE_LINE_NAVIGATION",
           "ROLE_PLACEMENT_GRID", "ROLE_LANDMARKS", "LANDMARK_NAMES"]

LANDMARK_NAMES = ("bregma", "lambda", "midline")
#: Length (mm) of the drawn current arrow.
CURRENT_ARROW_MM = 10.0
#: A press-and-release that moves the mouse more than this (pixels) is a drag (camera), not a click.
CLICK_TOLERANCE_PX = 4.0

_USER_ERRORS = (RatTmsError, ValueError)


def _surface_layers(viewer, preferred: tuple[str, ...]):
    """3D Surface layers, those made by the Meshing widget with a ``preferred`` name first."""
    layers = [layer for layer in viewer.layers if isinstance(layer, napari.layers.Surface)
              and np.asarray(layer.data[0]).ndim == 2 and np.asarray(layer.data[0]).shape[1] == 3]

    def rank(layer):
        name = layer.metadata.get("surface") if layer.metadata.get(ROLE_KEY) == ROLE_SURFACE else None
        return preferred.index(name) if name in preferred else len(preferred)

    layers.sort(key=rank)
    return layers


def _is_surface(layer, names: tuple[str, ...]) -> bool:
    return (isinstance(layer, napari.layers.Surface) and layer.metadata.get(ROLE_KEY) == ROLE_SURFACE
            and layer.metadata.get("surface") in names)


def _click_without_drag(event, viewer=None):
    """Body of a napari mouse-drag callback (``yield from``): follows the press until the button is
    released and returns ``(world position, view direction or None, number of displayed dims)`` of
    the press when the mouse moved less than :data:`CLICK_TOLERANCE_PX` (a click), None for a drag
    (the user turning the camera) or another button."""
    if event.type != "mouse_press" or getattr(event, "button", 1) not in (1, None):
        return None
    position = np.asarray(event.position, dtype=float)
    view = getattr(event, "view_direction", None)
    view = None if view is None else np.asarray(view, dtype=float)
    displayed = getattr(event, "dims_displayed", None)
    if displayed is None:
        displayed = viewer.dims.displayed if viewer is not None else range(3)
    start = getattr(event, "pos", None)
    start = None if start is None else np.asarray(start, dtype=float)
    dragged = False
    yield
    while event.type == "mouse_move":
        pos = getattr(event, "pos", None)
        moved = np.inf if start is None or pos is None else np.linalg.norm(np.asarray(pos, float) - start)
        dragged = dragged or moved > CLICK_TOLERANCE_PX
        yield
    return None if dragged else (position, view, len(list(displayed)))


class CoilPlacementWidget(Container):
    """The coil placement dock widget (see the module docstring)."""

    #: Emitted with the new :class:`CoilPlacement` (or None) whenever the placement changes.
    placement_changed = Signal(object)

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = napari_viewer
        self.placement: CoilPlacement | None = None
        self.frame: StereotaxicFrame | None = None
        self.coil: CoilDipoles | None = None
        self.coil_info: dict = {}
        self.coil_source: str | None = None     # preset name or .ccd path
        self.line_navigation = None
        self.grid = None
        self._surface_cache: dict = {}
        self._busy = False                      # set while the dock changes its own controls
        self._coil_choices: list[tuple[str, str]] = [(name, name) for name in COIL_PRESETS]

        # inputs
        self.scalp_layer = ComboBox(label="scalp surface", choices=self._scalp_choices)
        self.cortex_layer = ComboBox(label="cortex surface", choices=self._cortex_choices)
        self.skull_layer = ComboBox(label="skull surface (optional)", choices=self._skull_choices,
                                    nullable=True)
        # coil
        self.coil_choice = ComboBox(label="coil", choices=self._coil_choices)
        self.load_coil_button = PushButton(text="Load coil (.ccd or windings .json)…")
        self.coil_label = Label(value="")
        # controls
        self.orientation_deg = FloatSpinBox(label="orientation (°)", value=0.0, min=-180.0,
                                        max=180.0, step=5.0)
        self.orientation_slider = FloatSlider(label="", value=0.0, min=-180.0, max=180.0,
                                              tracking=True)
        self.gap = FloatSpinBox(label="gap scalp-coil (mm)", value=0.0, min=0.0, max=50.0, step=0.5)
        self.didt = FloatSpinBox(label="dI/dt (A/µs)", value=SEED_DIDT_A_PER_US, min=0.1, max=1000.0, step=1.0)
        # stereotaxic frame
        self.landmarks_button = PushButton(text="Add landmarks layer")
        self.landmark_click_button = PushButton(text="Click landmarks on the skull (3D)")
        self.landmark_click_button.native.setCheckable(True)
        self.frame_button = PushButton(text="Set stereotaxic frame")
        self.frame_label = Label(value="Frame: not set.")
        # placing
        self.place_button = PushButton(text="Place by clicking")
        self.place_button.native.setCheckable(True)
        self.position_label = Label(value="Coil: not placed.")
        # grid
        self.grid_ap = FloatSpinBox(label="grid centre AP (mm)", value=0.0, min=-100.0, max=100.0,
                                    step=0.5)
        self.grid_ml = FloatSpinBox(label="grid centre ML (mm)", value=0.0, min=-100.0, max=100.0,
                                    step=0.5)
        self.grid_button = PushButton(text="Show placement grid")
        # files
        self.save_button = PushButton(text="Save placement…")
        self.load_button = PushButton(text="Load placement…")
        self.status = Label(value="")
        for label in (self.status, self.coil_label, self.frame_label, self.position_label):
            label.native.setWordWrap(True)
        self.orientation_deg.tooltip = ("0 = the current under the coil's centre flows posterior-to-"
                                        "anterior (PA); positive turns it towards the animal's left.")
        self.didt.tooltip = ("Rate of change of the coil current; the seed's 50 A/µs is about 33 % "
                             "of a MagPro X100's maximum.")
        self.gap.tooltip = "Distance added between the scalp and the coil's casing (hair, spacer)."

        self.extend([self.scalp_layer, self.cortex_layer, self.skull_layer,
                     self.coil_choice, self.load_coil_button, self.coil_label,
                     self.landmarks_button, self.landmark_click_button, self.frame_button,
                     self.frame_label,
                     self.place_button, self.orientation_deg, self.orientation_slider, self.gap,
                     self.didt, self.position_label,
                     self.grid_ap, self.grid_ml, self.grid_button,
                     self.save_button, self.load_button, self.status])

        self.coil_choice.changed.connect(self._on_coil_choice)
        self.load_coil_button.changed.connect(self._load_coil_dialog)
        self.orientation_deg.changed.connect(self._on_orientation_spin)
        self.orientation_slider.changed.connect(self._on_orientation_slider)
        self.gap.changed.connect(self._on_gap_or_didt)
        self.didt.changed.connect(self._on_gap_or_didt)
        self.landmarks_button.changed.connect(self.add_landmarks_layer)
        self.frame_button.changed.connect(self.set_frame)
        self.landmark_click_button.native.toggled.connect(self._on_landmark_click_toggled)
        self.place_button.native.toggled.connect(self._on_place_toggled)
        self.grid_button.changed.connect(self.show_grid)
        self.save_button.changed.connect(self._save_dialog)
        self.load_button.changed.connect(self._load_dialog)
        self.scalp_layer.changed.connect(self._on_scalp_changed)
        self.cortex_layer.changed.connect(self._on_cortex_changed)
        napari_viewer.layers.events.inserted.connect(self._on_inserted)
        napari_viewer.layers.events.removed.connect(self._refresh)
        callbacks = napari_viewer.mouse_drag_callbacks
        for callback in (self._on_mouse_press, self._on_landmark_press):
            self.native.destroyed.connect(
                lambda *_, cb=callback: callbacks.remove(cb) if cb in callbacks else None)

        self._refresh()
        self._apply_coil(self.coil_choice.value, quiet=True)
        self.status.value = self._next_step()

    # --- layer choosers -----------------------------------------------------------------------
    def _scalp_choices(self, *_):
        return [(layer.name, layer) for layer in _surface_layers(self._viewer, ("body",))]

    def _cortex_choices(self, *_):
        return [(layer.name, layer) for layer in _surface_layers(self._viewer, ("cortex",))]

    def _skull_choices(self, *_):
        return [(layer.name, layer) for layer in
                _surface_layers(self._viewer, ("skull without spine", "skull"))]

    def _refresh(self, *_):
        for combo in (self.scalp_layer, self.cortex_layer, self.skull_layer):
            combo.reset_choices()
        skull = self.skull_layer.value
        if skull is None or not _is_surface(skull, ("skull without spine", "skull")):
            preferred = [layer for _, layer in self._skull_choices()
                         if _is_surface(layer, ("skull without spine",))]
            self.skull_layer.value = preferred[0] if preferred else None

    def _on_inserted(self, event):
        self._refresh()
        layer = event.value
        # a surface made by the Meshing widget takes over its chooser (e.g. the cortex arriving
        # after the body, which the cortex chooser had picked as the only surface)
        if _is_surface(layer, ("body",)):
            self.scalp_layer.value = layer
        elif _is_surface(layer, ("cortex",)):
            self.cortex_layer.value = layer
        elif _is_surface(layer, ("skull without spine",)):
            self.skull_layer.value = layer

    def _on_scalp_changed(self, *_):
        if self._busy or self.placement is None:
            return
        self._replace_at(self.placement.scalp_point_mm)

    def _on_cortex_changed(self, *_):
        if not self._busy and self.placement is not None:
            self._draw()

    def _layer(self, role):
        return layer_with_role(self._viewer, role)

    def _surface(self, layer) -> TriangleSurface | None:
        """``layer`` as a surface in the model frame (the scalp layer's data frame), metres."""
        if layer is None:
            return None
        scalp_layer = self.scalp_layer.value
        vertices, faces = layer.data[0], layer.data[1]
        key = id(layer)
        ref = scalp_layer if scalp_layer is not None else layer
        transform = (tuple(np.asarray(layer.translate, float)), tuple(np.asarray(layer.scale, float)),
                     tuple(np.asarray(ref.translate, float)), tuple(np.asarray(ref.scale, float)))
        cached = self._surface_cache.get(key)
        if cached is not None and cached[0] is vertices and cached[1] is faces and cached[2] == transform:
            return cached[3]
        surface = surface_in_frame_of(layer, ref, layer.metadata.get("surface", layer.name))
        self._surface_cache[key] = (vertices, faces, transform, surface)
        return surface

    def _world_to_model(self, points_world) -> np.ndarray:
        """World points (..., >=3; the last 3 axes are the layers') -> model frame (mm)."""
        scalp = self.scalp_layer.value
        p = np.atleast_2d(np.asarray(points_world, dtype=float))[:, -3:]
        return (p - np.asarray(scalp.translate, float)[-3:]) / np.asarray(scalp.scale, float)[-3:]

    # --- coil ---------------------------------------------------------------------------------
    def _on_coil_choice(self, value):
        if self._busy or value is None or value == self.coil_source:
            return
        self._apply_coil(value)

    def _apply_coil(self, source, quiet: bool = False) -> bool:
        """Load the coil ``source`` (preset name or .ccd path); keep the previous one on error."""
        loaded = call(load_coil, source, user_errors=(*_USER_ERRORS, OSError))
        if loaded.error is not None:
            self.status.value = f"Cannot load the coil: {loaded.error} The previous coil is kept."
            self._select_coil_choice(self.coil_source)
            return False
        coil, info = loaded.value
        self.coil, self.coil_info, self.coil_source = coil, info, str(source)
        self._select_coil_choice(self.coil_source)
        kind = ("parametric windings" if info.get("windings") is not None
                else "dipoles from a .ccd file")
        self.coil_label.value = f"{coil.name}: {coil.n_dipoles:,} dipoles ({kind})."
        notes = "".join(f" Note: {note}" for note in loaded.notes)
        if self.placement is not None:
            self._update(lambda p: p, f"Coil changed to {coil.name}.")
        elif not quiet:
            self.status.value = f"Coil: {coil.name} ({coil.n_dipoles:,} dipoles).{notes} " + self._next_step()
        return True

    def _select_coil_choice(self, source):
        if source is None:
            return
        if source not in [value for _, value in self._coil_choices]:
            self._coil_choices.append((Path(source).name, source))
        self._busy = True
        try:
            self.coil_choice.choices = list(self._coil_choices)
            self.coil_choice.value = source
        finally:
            self._busy = False

    def load_coil_file(self, path) -> CoilDipoles | None:
        """Use the coil at ``path`` (SimNIBS ``.ccd``, or parametric windings ``.json``); returns
        it, or None (previous coil kept, the
        reason in the status)."""
        path = str(Path(path).expanduser().resolve())
        return self.coil if self._apply_coil(path) else None

    def _load_coil_dialog(self, *_):
        from qtpy.QtWidgets import QFileDialog

        name, _ = QFileDialog.getOpenFileName(
            self.native, "Load a coil", "",
            "Coil models (*.ccd *.json);;SimNIBS coil (*.ccd);;Parametric coil windings (*.json)")
        if name:
            self.load_coil_file(name)

    # --- controls -----------------------------------------------------------------------------
    def _on_orientation_spin(self, value):
        if self.orientation_slider.value != value:
            self.orientation_slider.value = value
        self._on_orientation(value)

    def _on_orientation_slider(self, value):
        if self.orientation_deg.value != value:
            self.orientation_deg.value = value  # -> _on_orientation_spin
            return
        self._on_orientation(value)

    def _on_orientation(self, value):
        if self._busy or self.placement is None or float(value) == self.placement.orientation_deg:
            return
        self._update(lambda p: p.with_orientation(float(value)), None)

    def _on_gap_or_didt(self, *_):
        if self._busy or self.placement is None:
            return
        self._update(lambda p: dataclasses.replace(p, gap_mm=float(self.gap.value),
                                                   didt_a_per_us=float(self.didt.value)), None)

    def _set_controls(self, placement: CoilPlacement):
        self._busy = True
        try:
            self.orientation_deg.value = float(placement.orientation_deg)
            self.orientation_slider.value = float(placement.orientation_deg)
            self.gap.value = float(placement.gap_mm)
            self.didt.value = float(placement.didt_a_per_us)
        finally:
            self._busy = False

    # --- stereotaxic frame --------------------------------------------------------------------
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
        click = yield from _click_without_drag(event)
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

    # --- placing ------------------------------------------------------------------------------
    def _next_step(self) -> str:
        if self.scalp_layer.value is None:
            return "Mesh the segmentation (Meshing widget) to get the scalp and cortex surfaces."
        if self.frame is None:
            return ("Set the stereotaxic frame: 'Add landmarks layer', click bregma, lambda and a "
                    "midline point, then 'Set stereotaxic frame'.")
        if self.placement is None:
            return "Place the coil: check 'Place by clicking' and click on the scalp."
        return ""

    def _can_place(self, what: str) -> bool:
        if self.scalp_layer.value is None:
            self.status.value = f"Cannot {what}: no scalp surface (mesh the segmentation first)."
            return False
        if self.coil is None:
            self.status.value = f"Cannot {what}: no coil (choose a preset or load a coil file)."
            return False
        if self.frame is None:
            self.status.value = (f"Cannot {what}: set the stereotaxic frame first (the coil's "
                                 "orientation is measured from PA). Click bregma, lambda and a "
                                 "midline point on the landmarks layer, then 'Set stereotaxic frame'.")
            return False
        return True

    def place_at(self, point_mm) -> CoilPlacement | None:
        """Put the coil on the scalp at ``point_mm`` (model frame, mm; snapped to the scalp if
        within 2 mm). Returns the placement, or None (previous placement kept, reason in status)."""
        if not self._can_place("place the coil"):
            return None
        return self._replace_at(point_mm, None)

    def _replace_at(self, point_mm, message: str | None = None) -> CoilPlacement | None:
        if not self._can_place("place the coil"):
            return None
        try:
            scalp = self._surface(self.scalp_layer.value)
            placement = place_coil_on_scalp(
                scalp, point_mm, self.frame.anterior, self.coil, float(self.orientation_deg.value),
                float(self.gap.value), float(self.didt.value))
            check_coil_clearance(placement, self.coil, scalp)
        except _USER_ERRORS as err:
            kept = " The previous placement is kept." if self.placement is not None else ""
            self.status.value = f"Cannot place the coil here: {err}{kept}"
            return None
        self._commit(placement, message)
        return placement

    def _update(self, change, message: str | None) -> CoilPlacement | None:
        """Apply ``change`` to the placement, lift it onto the scalp, check and draw it."""
        try:
            scalp = self._surface(self.scalp_layer.value)
            if scalp is None:
                raise CoilPlacementError("no scalp surface is chosen.")
            placement = lift_onto_scalp(change(self.placement), self.coil, scalp)
            check_coil_clearance(placement, self.coil, scalp)
        except _USER_ERRORS as err:
            self.status.value = f"Cannot change the placement: {err} The previous placement is kept."
            self._set_controls(self.placement)
            return None
        self._commit(placement, message)
        return placement

    def _commit(self, placement: CoilPlacement, message: str | None):
        self.placement = placement
        self._set_controls(placement)
        notes = self._draw()
        where = self.frame.describe(placement.scalp_point_mm) if self.frame is not None else "(no frame)"
        self.position_label.value = (
            f"Coil: {where}; orientation {placement.orientation_deg:+.0f}° from PA; "
            f"gap {placement.gap_mm:g} mm; dI/dt {placement.didt_a_per_us:g} A/µs.")
        head = (message + " ") if message else ""
        self.status.value = f"{head}Placed {self.coil.name} at {where}.{notes}"
        self.placement_changed.emit(placement)

    def _on_place_toggled(self, checked: bool):
        callbacks = self._viewer.mouse_drag_callbacks
        if checked:
            if self.landmark_click_button.native.isChecked():
                self.landmark_click_button.native.setChecked(False)
            if self._on_mouse_press not in callbacks:
                callbacks.append(self._on_mouse_press)
            landmarks = self._layer(ROLE_LANDMARKS)
            if landmarks is not None and landmarks.mode == "add":
                landmarks.mode = "pan_zoom"  # a click is for the coil now, not a new landmark
            self.status.value = ("Click on the scalp to place the coil (in 3D: anywhere on the "
                                 "visible scalp; dragging still turns the camera). Uncheck "
                                 "'Place by clicking' when done.")
        else:
            if self._on_mouse_press in callbacks:
                callbacks.remove(self._on_mouse_press)
            self.status.value = "Placing by clicking is off."

    def _on_mouse_press(self, viewer, event):
        """Mouse callback (while 'Place by clicking' is checked): a click without dragging places
        the coil where the line of sight (3D) or the cursor (2D) meets the scalp."""
        click = yield from _click_without_drag(event, viewer)
        if click is not None:
            position, view, n_displayed = click
            self.place_from_click(position, view, n_displayed == 3)

    def _line_of_sight_hit(self, surface_layer, position_world, view_direction):
        """Where the line of sight through ``position_world`` along ``view_direction`` (world)
        first meets ``surface_layer``'s surface, in the model frame (mm); None if it misses."""
        point = self._world_to_model(position_world)[0]
        end = self._world_to_model(np.asarray(position_world, float) + np.asarray(view_direction, float))[0]
        hit = first_hit_along_line(self._surface(surface_layer), mm_to_m(point), end - point)
        return None if hit is None else m_to_mm(np.asarray(hit.point))

    def place_from_click(self, position_world, view_direction=None, in_3d: bool = True):
        """Place the coil from a click at ``position_world`` (world coordinates); in 3D along the
        line of sight ``view_direction`` (world). Returns the placement or None."""
        if not self._can_place("place the coil"):
            return None
        point = self._world_to_model(position_world)[0]
        if not in_3d or view_direction is None or not np.any(view_direction):
            return self.place_at(point)
        scalp_layer = self.scalp_layer.value
        hit = self._line_of_sight_hit(scalp_layer, position_world, view_direction)
        if hit is None:
            kept = " The previous placement is kept." if self.placement is not None else ""
            self.status.value = f"The click missed the scalp ({scalp_layer.name}): click on the head.{kept}"
            return None
        return self.place_at(hit)

    # --- drawing ------------------------------------------------------------------------------
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

    # --- files --------------------------------------------------------------------------------
    def save_placement(self, path, *, overwrite: bool = False) -> Path | None:
        """Write the coil, placement and frame as JSON. An existing file is kept (the status says
        so) unless ``overwrite=True``. Returns the path, or None when nothing was written."""
        path = Path(path)
        if self.placement is None or self.frame is None:
            self.status.value = "Cannot save: place the coil first (nothing was written)."
            return None
        record = placement_record(self.placement, self.frame, self.coil_source, self.coil.name)
        try:
            if path.exists() and not overwrite:
                raise FileExistsError(f"{path} exists: choose another name (nothing was written)")
            path.write_text(json.dumps(record, indent=2))
        except OSError as err:
            self.status.value = f"Cannot save the placement: {err}"
            return None
        self.status.value = f"Saved the placement to {path}."
        return path

    def load_placement(self, path) -> CoilPlacement | None:
        """Read a placement saved by :meth:`save_placement` (coil, placement, frame) and show it.
        Returns the placement, or None (nothing changed, the reason in the status)."""
        if self.scalp_layer.value is None:
            self.status.value = "Cannot load a placement: no scalp surface (mesh the segmentation first)."
            return None
        try:
            record = json.loads(Path(path).read_text())
            if record.get("format") != PLACEMENT_FILE_FORMAT:
                raise ValueError(f"{path} is not a coil placement file of napari-rat-tms")
            frame = StereotaxicFrame.from_dict(record["frame"])
            placement = CoilPlacement.from_dict(record["placement"])
        except (*_USER_ERRORS, OSError, KeyError, TypeError) as err:
            self.status.value = f"Cannot load the placement: {err}"
            return None
        saved_placement, self.placement = self.placement, None  # no re-placing while the coil changes
        if record.get("coil") != self.coil_source and not self._apply_coil(record.get("coil")):
            self.placement = saved_placement
            self.status.value = (f"Cannot load the placement: its coil {record.get('coil')!r} cannot "
                                 "be loaded.")
            return None
        self.frame = frame
        lam = frame.landmarks_mm.get("lambda")
        if lam is not None:
            bl = float(np.linalg.norm(frame.origin_mm - np.asarray(lam)))
            self.frame_label.value = f"Frame: bregma-lambda {bl:.1f} mm (loaded)."
        else:
            self.frame_label.value = "Frame: loaded."
        self._commit(placement, f"Loaded {path}.")
        return placement

    def _save_dialog(self, *_):
        from qtpy.QtWidgets import QFileDialog

        name, _ = QFileDialog.getSaveFileName(self.native, "Save the coil placement",
                                              "coil_placement.json", "JSON (*.json)")
        if name:  # the Qt dialog has already asked before replacing a file
            self.save_placement(name, overwrite=True)

    def _load_dialog(self, *_):
        from qtpy.QtWidgets import QFileDialog

        name, _ = QFileDialog.getOpenFileName(self.native, "Load a coil placement", "", "JSON (*.json)")
        if name:
            self.load_placement(name)
