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
import threading
from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import ComboBox, FloatSlider, FloatSpinBox, Label, PushButton
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
    lift_onto_scalp,
    place_coil_on_scalp,
    placement_record,
)
from ..core.conventions import SEED_DIDT_A_PER_US, m_to_mm, mm_to_m
from ..viewer.layers import (
    ROLE_COIL,
    ROLE_COIL_CURRENT,
    ROLE_KEY,
    ROLE_LANDMARKS,
    ROLE_LINE_NAVIGATION,
    ROLE_PLACEMENT_GRID,
    ROLE_SURFACE,
    hide_volumes,
    layer_with_role,
    surface_in_frame_of,
)
from ..viewer.work import call
from ._clicks import click_without_drag
from ..viewer.shared_state import shared_state
from .coil_frame import LANDMARK_NAMES, StereotaxicFrameSection
from .coil_layers import CoilLayersSection
from ._dock import ScrollingDock

__all__ = ["CoilPlacementWidget", "ROLE_COIL", "ROLE_COIL_CURRENT", "ROLE_LINE_NAVIGATION",
           "ROLE_PLACEMENT_GRID", "ROLE_LANDMARKS", "LANDMARK_NAMES"]


_USER_ERRORS = (RatTmsError, ValueError)


def _trial_placement_quietly(scalp: TriangleSurface, coil: CoilDipoles) -> None:
    """:func:`_trial_placement`, its errors dropped (a warm-up: the real placement reports them)."""
    try:
        _trial_placement(scalp, coil)
    except Exception:     # noqa: BLE001 - whatever it is, the user's placement will say it
        pass


def _trial_placement(scalp: TriangleSurface, coil: CoilDipoles) -> None:
    """A placement at the scalp's highest vertex along its thinnest extent (the dock's warm-up:
    loads the placement's kernels and builds the scalp's search tree)."""
    vertices_mm = m_to_mm(scalp.vertices_m)
    extent = np.ptp(vertices_mm, axis=0)
    up = np.zeros(3)
    up[int(np.argmin(extent))] = 1.0          # the thinnest extent: dorsal for a head, any for a sphere
    tangent = np.roll(up, 1)
    top = vertices_mm[int(np.argmax(vertices_mm @ up))]
    placement = place_coil_on_scalp(scalp, top, tangent, coil, 0.0, 1.0, SEED_DIDT_A_PER_US)
    check_coil_clearance(placement, coil, scalp)


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


class CoilPlacementWidget(StereotaxicFrameSection, CoilLayersSection, ScrollingDock):
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
        self._warmed_up: TriangleSurface | None = None   # the scalp the placement was prepared for
        self._warm_up_worker = None
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
        self.scalp_layer.changed.connect(self._update_buttons)
        self.scalp_layer.changed.connect(self._warm_up)
        self.cortex_layer.changed.connect(self._on_cortex_changed)
        napari_viewer.layers.events.inserted.connect(self._on_inserted)
        napari_viewer.layers.events.removed.connect(self._refresh)
        requests = shared_state(napari_viewer).placement_requested
        requests.connect(self._on_placement_requested)
        self.native.destroyed.connect(lambda *_: requests.disconnect(self._on_placement_requested, missing_ok=True))
        callbacks = napari_viewer.mouse_drag_callbacks
        for callback in (self._on_mouse_press, self._on_landmark_press):
            self.native.destroyed.connect(
                lambda *_, cb=callback: callbacks.remove(cb) if cb in callbacks else None)

        self._refresh()
        self._apply_coil(self.coil_choice.value, quiet=True)
        self.status.value = self._next_step()
        self._warm_up()

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
        self._update_buttons()

    def _update_buttons(self, *_):
        """The click buttons are enabled only when there is something to click on (their tooltip
        says what is missing otherwise); a checked one is unchecked when its surface goes."""
        missing = "" if self.scalp_layer.value is not None else (
            "No surface to click on: mesh the segmentation (Meshing dock) or open a project folder.")
        for button, tip in ((self.landmark_click_button, "Click bregma, lambda and a midline point on the skull "
                                                           "(or scalp) in the 3D view."),
                            (self.place_button, "Click on the scalp to place the coil there (the stereotaxic "
                                                "frame must be set).")):
            if missing and button.native.isChecked():
                button.native.setChecked(False)
            button.enabled = not missing
            button.tooltip = missing or tip

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

    def _warm_up(self, *_):
        """Prepare the placement of a coil on the chosen scalp in the background: the first
        placement loads the compiled kernels and builds the scalp's search tree (0.22 s measured
        on 2 cores, in the GUI thread before), later ones take milliseconds. A trial placement at
        the scalp's highest vertex, in a daemon thread; its result and any error are dropped."""
        layer = self.scalp_layer.value
        if layer is None or self.coil is None:
            return
        scalp = self._surface(layer)
        if scalp is None or scalp is self._warmed_up or scalp.n_faces == 0:
            return
        self._warmed_up = scalp
        # a plain daemon thread, not a napari worker: nothing comes back to the dock, and a worker's Qt
        # signals deleted with a closed viewer abort the process when it ends after them
        self._warm_up_worker = threading.Thread(target=_trial_placement_quietly, args=(scalp, self.coil),
                                                name="rat-tms coil warm-up", daemon=True)
        self._warm_up_worker.start()

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

    def _on_placement_requested(self, placement: CoilPlacement) -> CoilPlacement | None:
        """Another dock (the E-field dock's best placement) asks for the coil at ``placement`` (this
        dock's frame): lifted onto the scalp, checked, drawn."""
        if self.placement is None and not self._can_place("move the coil to the best placement"):
            return None
        return self._update(lambda _: placement, "Moved to the best placement found by the E-field dock.")

    def _commit(self, placement: CoilPlacement, message: str | None):
        first = self.placement is None
        self.placement = placement
        self._set_controls(placement)
        notes = self._draw()
        if first:    # the µCT and label volumes cover the scalp and the coil in 3D
            hidden = hide_volumes(self._viewer)
            if hidden:
                notes += (f" Hidden so that the coil and the surfaces show in 3D: {', '.join(hidden)} "
                          "(tick them in the layer list to show them again).")
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
        click = yield from click_without_drag(event, viewer)
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
