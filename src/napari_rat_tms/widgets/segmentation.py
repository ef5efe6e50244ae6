"""Widget: segment the µCT into air, body, skull, spine, eyes and brain (seed 003's Methods).

Plugins > Rat TMS > Segmentation. A thin layer over :mod:`napari_rat_tms.core.segmentation`:

* **Thresholds**: "Suggest thresholds" draws the chosen image's histogram (log counts) in the dock
  with the air/soft-tissue and bone thresholds from the seed's rules; a left click on the plot
  moves the air/soft threshold, a right click the bone threshold, or type them. Until the user
  suggests, types or clicks them, a run uses the suggested ones and shows them afterwards.
* **Body, skull, spine**: closing radii in mm; the spine is separated by connectivity, or by a
  plane across an array axis (drawn in the viewer as the "spine cut" layer while "cut" is chosen).
* **Eyes**: "Eye points layer" adds (or selects) the "eye centres" Points layer on which the user
  clicks each eye's centre (in 2D slices or 3D). After a run each eye gets its isolevel (Otsu's
  with "auto" ticked, or typed); "Update eyes" redoes only the eyes.
* **Brain**: the first run adds a paintable Labels layer "brain" (1 = brain) from the automatic
  suggestion. A "brain" layer that already exists is never overwritten: when it is non-empty the
  run uses it as the brain instead of the suggestion. After painting, "Apply painted brain" puts it
  into the segmentation; brain painted over bone is left out and the status says so.
* **Result**: the Labels layer "segmentation" (0 air, 1 body, 2 skull, 3 eye, 4 brain, 5 spine;
  hovering shows the tissue name), whose metadata hold every parameter used, and "cortical
  evaluation region" (brain minus the bone dilated by the gap). Re-running replaces the data of
  these two layers, found by their metadata role, not by name.
* **Parameters**: saved to and loaded from JSON (:class:`SegmentationParameters`); a previous
  run's ``.segmentation.json`` (``rat-tms segment``) can be loaded too.

"Undo last segmentation step" puts the result layers (segmentation, evaluation region) back exactly
as they were before the last Segment, Update eyes, Apply painted brain or gap change, with any
painting done on them in between (the last five steps; napari's own Ctrl+Z undoes brush strokes).
Long steps run in a napari thread worker with a progress bar and Cancel. Errors of the input
(thresholds selecting nothing, an eye point in air...) are shown in the status line as
"Cannot segment: ..."; a failed or cancelled run adds and changes no layer.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Generator
from dataclasses import fields, replace
from functools import partial
from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import (CheckBox, ComboBox, Container, FloatSpinBox, Label, ProgressBar,
                              PushButton)

from ..core.errors import RatTmsError
from ..core.species import SPECIES_NAMES, species_defaults
from ..core.segmentation import (LABEL_COLORS, Segmentation, SegmentationParameters,
                                 SegmentationWarning, TissueLabel, intensity_histogram,
                                 iter_segment, suggest_thresholds)
from ..viewer.layers import (ROLE_BRAIN_PAINT, ROLE_EYE_POINTS, ROLE_KEY, ROLE_SPINE_CUT,
                             labels_kwargs, layer_with_role, segmentation_layer_data)
from ..viewer.work import Outcome
from ._dock import ScrollingDock, enable_when_ready
from ._running import start_work

__all__ = ["SegmentationWidget"]

_DEFAULTS = {f.name: f.default for f in fields(SegmentationParameters)}
BRAIN_LAYER_NAME = "brain"
#: Plugin edits of the result layers that can be undone (each keeps a copy of the labels it replaced).
UNDO_STEPS = 5
_USER_ERRORS = (RatTmsError, ValueError)  # SegmentationError is both


# --- worker helpers (no Qt: they run in the worker thread) -------------------------------------
def _evaluation_region(result) -> dict:
    """The evaluation region of a Segmentation result, computed in the worker (a dilation of the
    bone: seconds at 512^3, which must not freeze the viewer)."""
    return {"region": result.evaluation_region()} if isinstance(result, Segmentation) else {}


#: How the dock runs its work (:func:`._running.start_work`): the segmentation's own warnings become
#: notes in the status; its evaluation region is computed in the worker too.
_WORK = {"notes_of": (SegmentationWarning,), "user_errors": _USER_ERRORS, "finish": _evaluation_region}


def _plausible_eyes(seg: Segmentation, data, points, levels, eye_diameter_mm, species) -> Segmentation:
    """:meth:`Segmentation.with_plausible_eyes`, its notes as :class:`SegmentationWarning` (which
    the dock's worker collects into its status)."""
    new, notes, _ = seg.with_plausible_eyes(data, points, eye_diameter_mm, isolevels=levels, species=species)
    for note in notes:
        warnings.warn(note, SegmentationWarning, stacklevel=2)
    return new


class SegmentationWidget(ScrollingDock):
    """The segmentation dock widget (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        self._worker = None
        self._result: Segmentation | None = None
        self._result_image = None
        self._histogram = None
        self._shown_image = None  # the image whose histogram and thresholds the dock shows
        self._base = SegmentationParameters()  # loaded settings the dock does not show
        self._thresholds_set = False  # True once suggested, typed, clicked or loaded
        self._updating = False  # set while the widget itself changes values
        self._auto_levels: list[float] = []
        self._history: list[dict] = []   # what each plugin edit replaced, newest last (see undo)
        self._running = False             # a run (segmentation, eyes update) is going on

        self.image = ComboBox(label="µCT image", choices=self._image_choices)
        self.species = ComboBox(label="species", choices=list(SPECIES_NAMES), value="rat")
        self.species.tooltip = ("Sets the closings and the eye extraction for the species "
                                "(napari_rat_tms.core.species); every value can still be changed.")
        self.suggest_button = PushButton(text="Suggest thresholds")
        self.air_soft = FloatSpinBox(label="air / soft tissue", min=-1e9, max=1e9, step=1.0)
        self.bone = FloatSpinBox(label="bone", min=-1e9, max=1e9, step=1.0)
        self.body_closing = FloatSpinBox(label="body closing (mm)", min=0.0, max=20.0, step=0.1,
                                         value=_DEFAULTS["body_closing_radius_mm"])
        self.skull_closing = FloatSpinBox(label="skull closing (mm)", min=0.0, max=20.0, step=0.1,
                                          value=_DEFAULTS["skull_closing_radius_mm"])
        self.spine = ComboBox(label="spine separation", choices=["connectivity", "cut"],
                              value=_DEFAULTS["spine_separation"])
        self.cut_axis = ComboBox(label="cut across array axis", choices=[0, 1, 2], value=0,
                                 visible=False)
        self.cut_position = FloatSpinBox(label="cut position (mm)", min=-1e4, max=1e4, step=0.1,
                                         visible=False)
        self.cut_high_side = CheckBox(text="spine on the high side", value=True, visible=False)
        self.eye_points_button = PushButton(text="Eye points layer")
        self.eye_levels = Container(labels=True)
        self.update_eyes_button = PushButton(text="Update eyes", enabled=False)
        self.suggest_eyes_button = PushButton(text="Suggest eye centres", enabled=False)
        self.suggest_eyes_button.tooltip = ("Find both eyes in the scan (needs a segmentation: body and bone); "
                                            "the points go to the 'eye centres' layer, to check and correct "
                                            "by clicking, then Update eyes.")
        self.gap = FloatSpinBox(label="evaluation gap (mm)", min=0.0, max=10.0, step=0.1,
                                value=_DEFAULTS["evaluation_gap_mm"])
        self.segment_button = PushButton(text="Segment")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.apply_brain_button = PushButton(text="Apply painted brain", enabled=False)
        self.undo_button = PushButton(text="Undo last segmentation step", enabled=False)
        self.undo_button.tooltip = (
            f"Restore the result layers as they were before the last Segment, Update eyes, Apply painted "
            f"brain or gap change (the last {UNDO_STEPS} steps are kept; your own painting in napari has "
            "its own undo, Ctrl+Z).")
        self.save_button = PushButton(text="Save parameters...")
        self.load_button = PushButton(text="Load parameters...")
        self.progress = ProgressBar(min=0, max=100, value=0, label="progress")
        self.status = Label(value="Choose the µCT image, then Suggest thresholds.")
        self.status.native.setWordWrap(True)
        self.extend([
            self.image, self.species, self.suggest_button, self.air_soft, self.bone, self.body_closing,
            self.skull_closing, self.spine, self.cut_axis, self.cut_position, self.cut_high_side,
            self.eye_points_button, self.suggest_eyes_button, self.eye_levels, self.update_eyes_button,
            self.gap,
            self.segment_button, self.cancel_button, self.apply_brain_button, self.undo_button,
            self.save_button, self.load_button, self.progress, self.status,
        ])
        self._add_histogram_plot(after=self.suggest_button)

        self.suggest_button.changed.connect(self.suggest)
        self.air_soft.changed.connect(self._on_threshold_typed)
        self.bone.changed.connect(self._on_threshold_typed)
        self.spine.changed.connect(self._on_spine_mode)
        self.cut_axis.changed.connect(self._on_cut_axis)
        self.cut_position.changed.connect(self._show_cut)
        self.cut_high_side.changed.connect(self._show_cut)
        self.eye_points_button.changed.connect(self.eye_points_layer)
        self.update_eyes_button.changed.connect(self.update_eyes)
        self.suggest_eyes_button.changed.connect(self.suggest_eyes)
        self.species.changed.connect(self._on_species)
        self.segment_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self.cancel)
        self.apply_brain_button.changed.connect(self.apply_painted_brain)
        self.undo_button.changed.connect(self.undo)
        self.save_button.changed.connect(self._save_dialog)
        self.load_button.changed.connect(self._load_dialog)
        self.gap.changed.connect(self._on_gap_changed)
        self.image.changed.connect(self._on_image_changed)
        viewer.layers.events.inserted.connect(self._refresh_choices)
        viewer.layers.events.removed.connect(self._refresh_choices)
        self._on_image_changed()

    # --- layers -----------------------------------------------------------------------------
    def _image_choices(self, *_):
        return [(layer.name, layer) for layer in self._viewer.layers
                if isinstance(layer, napari.layers.Image) and layer.ndim == 3 and not layer.rgb]

    def _refresh_choices(self, *_):
        try:
            self.native.objectName()  # raises once Qt has deleted the dock
        except RuntimeError:
            self._viewer.layers.events.inserted.disconnect(self._refresh_choices)
            self._viewer.layers.events.removed.disconnect(self._refresh_choices)
            return
        self.image.reset_choices()
        self._update_image_buttons()

    def _layer(self, role):
        return layer_with_role(self._viewer, role)

    def brain_layer(self):
        """The paintable brain: the plugin's own, else the user's Labels layer named "brain"."""
        layer = self._layer(ROLE_BRAIN_PAINT)
        if layer is None:
            layer = next((lyr for lyr in self._viewer.layers if lyr.name == BRAIN_LAYER_NAME
                          and isinstance(lyr, napari.layers.Labels)), None)
        return layer

    def _image_layer(self):
        layer = self.image.value
        if layer is None:
            raise ValueError("there is no 3D image layer: open a µCT scan first")
        return layer

    @staticmethod
    def _volume(layer):
        """(data, voxel size in mm) of an image layer (the finest level of a multiscale one)."""
        data = layer.data[0] if layer.multiscale else layer.data
        return np.asarray(data), tuple(float(s) for s in layer.scale)

    def _add_histogram_plot(self, after):
        """Matplotlib canvas in the dock's layout, just below the widget ``after``."""
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self._figure = Figure(figsize=(3.2, 1.8), layout="tight")
        self._axes = self._figure.add_subplot()
        self.canvas = FigureCanvasQTAgg(self._figure)
        self.canvas.setMinimumHeight(150)
        self.canvas.mpl_connect("button_press_event", self._on_plot_click)
        layout = self.content.layout()
        index = layout.indexOf(after.native)
        if index < 0:  # a labelled widget sits inside a row widget
            index = layout.indexOf(after.native.parentWidget())
        layout.insertWidget(index + 1 if index >= 0 else layout.count(), self.canvas)

    # --- thresholds and histogram -------------------------------------------------------------
    def _draw_histogram(self):
        ax = self._axes
        ax.clear()
        if self._histogram is not None:
            h = self._histogram
            ax.semilogy(h.centres, np.maximum(h.counts, 0.5), color="0.3", lw=0.8)
            ax.set_ylabel("voxels", fontsize=7)
        if self._thresholds_set or self._histogram is not None:
            ax.axvline(self.air_soft.value, color="tab:orange", lw=1.2, label="air/soft")
            ax.axvline(self.bone.value, color="tab:blue", lw=1.2, label="bone")
            ax.legend(fontsize=6, loc="upper right")
        ax.set_xlabel("intensity (left click: air/soft, right click: bone)", fontsize=7)
        ax.tick_params(labelsize=6)
        self.canvas.draw()  # now, not idle: a deferred draw could outlive the dock

    def _set_thresholds(self, air_soft, bone, *, by_user: bool):
        self._updating = True
        try:
            self.air_soft.value, self.bone.value = float(air_soft), float(bone)
        finally:
            self._updating = False
        self._thresholds_set = self._thresholds_set or by_user
        self._draw_histogram()

    def thresholds(self) -> tuple[float, float] | None:
        """The thresholds the next run uses, or None for "suggested from the histogram"."""
        if not self._thresholds_set:
            return None
        return float(self.air_soft.value), float(self.bone.value)

    def suggest(self, *_):
        """Suggest the thresholds from the chosen image's histogram; errors go to the status.
        Returns the :class:`Thresholds` or None."""
        try:
            data, _ = self._volume(self._image_layer())
        except _USER_ERRORS as err:
            self.status.value = f"Cannot suggest thresholds: {err}"
            return None
        try:
            thresholds, self._histogram = suggest_thresholds(data)
        except _USER_ERRORS as err:
            self.status.value = f"Cannot suggest thresholds: {err}"
            try:  # still draw the histogram, so that the thresholds can be clicked or typed
                self._histogram = intensity_histogram(data)
            except _USER_ERRORS:
                self._histogram = None
            self._draw_histogram()
            return None
        self._set_thresholds(thresholds.air_soft, thresholds.bone, by_user=True)
        peaks = self._histogram.peaks
        self.status.value = (f"Suggested thresholds: air/soft {thresholds.air_soft:g}, bone "
                             f"{thresholds.bone:g} (air and soft-tissue peaks at {peaks[0]:g} and "
                             f"{peaks[1]:g}).")
        return thresholds

    def _on_threshold_typed(self, *_):
        if not self._updating:
            self._thresholds_set = True
            self._draw_histogram()

    def _on_plot_click(self, event):
        if event.inaxes is not self._axes or event.xdata is None:
            return
        if event.button == 1:
            self._set_thresholds(event.xdata, self.bone.value, by_user=True)
        elif event.button == 3:
            self._set_thresholds(self.air_soft.value, event.xdata, by_user=True)

    def _update_image_buttons(self, *_):
        """Suggest thresholds and Segment are enabled only with a 3D image and no run going on
        (their tooltip says what is missing)."""
        missing = None if self.image.value is not None else (
            "no 3D image: open a µCT scan (File > Open) or the sample (File > Open Sample > Rat TMS).")
        busy = self._running
        enable_when_ready(self.suggest_button, missing, "Thresholds from the image's histogram (seed 003).",
                          busy=busy)
        enable_when_ready(self.segment_button, missing, "Segment the image in the background with these "
                          "settings.", busy=busy)

    def _on_image_changed(self, *_):
        """Another scan: its own histogram, and thresholds suggested again (thresholds typed or
        loaded before any scan was open are kept)."""
        self._update_image_buttons()
        layer = self.image.value
        if self._shown_image is not None and layer is not self._shown_image:
            self._thresholds_set = False
        self._shown_image = layer if layer is not None else self._shown_image
        self._histogram = None
        if layer is not None:  # spin box resolution: about 1/1000 of the contrast range
            lo, hi = (float(v) for v in layer.contrast_limits)
            step = 10.0 ** np.floor(np.log10(max(hi - lo, 1e-6) / 1000.0)) if hi > lo else 1.0
            self.air_soft.step = self.bone.step = float(min(step, 1.0))
        self._draw_histogram()
        self._show_cut()

    # --- spine cut ----------------------------------------------------------------------------
    def _on_spine_mode(self, *_):
        cut = self.spine.value == "cut"
        for w in (self.cut_axis, self.cut_position, self.cut_high_side):
            w.visible = cut
        if cut:
            self._on_cut_axis()
        else:
            layer = self._layer(ROLE_SPINE_CUT)
            if layer is not None:
                self._viewer.layers.remove(layer)

    def _on_cut_axis(self, *_):
        """A new axis: put the plane in the middle of the image along it."""
        try:
            data, scale = self._volume(self._image_layer())
        except ValueError:
            return
        axis = int(self.cut_axis.value)
        self.cut_position.value = 0.5 * (data.shape[axis] - 1) * scale[axis]
        self._show_cut()

    def spine_cut(self):
        """(point_mm, normal) of the cut plane in the volume frame; the normal points to the
        spine's side."""
        axis = int(self.cut_axis.value)
        point = np.zeros(3)
        point[axis] = float(self.cut_position.value)
        normal = np.zeros(3)
        normal[axis] = 1.0 if self.cut_high_side.value else -1.0
        return point, normal

    def _show_cut(self, *_):
        """Draw the cut plane (across the image's extent) as the "spine cut" Surface layer."""
        if self.spine.value != "cut":
            return
        try:
            image = self._image_layer()
            data, scale = self._volume(image)
        except ValueError:
            return
        axis = int(self.cut_axis.value)
        u, v = (a for a in range(3) if a != axis)
        corners = []
        for cu, cv in ((0, 0), (1, 0), (1, 1), (0, 1)):
            index = np.zeros(3)  # in the image's array indices
            index[axis] = self.cut_position.value / scale[axis]
            index[u], index[v] = cu * (data.shape[u] - 1), cv * (data.shape[v] - 1)
            corners.append(image.data_to_world(index))
        surface = (np.asarray(corners, dtype=float), np.array([[0, 1, 2], [0, 2, 3]]))
        layer = self._layer(ROLE_SPINE_CUT)
        if layer is None:
            self._viewer.add_surface(surface, name="spine cut", opacity=0.4, colormap="yellow",
                                     units="mm", metadata={ROLE_KEY: ROLE_SPINE_CUT})
        else:
            layer.data = surface

    # --- eyes ---------------------------------------------------------------------------------
    def eye_points_layer(self, *_):
        """Add (or select) the Points layer on which the user clicks the eyes' centres."""
        layer = self._layer(ROLE_EYE_POINTS)
        if layer is None:
            layer = self._viewer.add_points(
                np.empty((0, 3)), ndim=3, name="eye centres", face_color="cyan", size=1.0,
                units="mm", metadata={ROLE_KEY: ROLE_EYE_POINTS})
        self._viewer.layers.selection.active = layer
        layer.mode = "add"
        self.status.value = "Click the centre of each eye on the image (in 2D slices or 3D)."
        return layer

    def _on_species(self, *_):
        """The species' closings in the dock, its eye extraction in the settings it does not show."""
        defaults = species_defaults(self.species.value)
        values = defaults.segmentation_defaults()
        self.body_closing.value = values.pop("body_closing_radius_mm")
        self.skull_closing.value = values.pop("skull_closing_radius_mm")
        self._base = replace(self._base, **values)
        self.status.value = (f"Species {defaults.name}: closings {self.body_closing.value:g} / "
                             f"{self.skull_closing.value:g} mm, eye cube {defaults.eye_cube_mm:g} mm.")

    def suggest_eyes(self, *_):
        """Suggest both eye centres from the last segmentation's body and bone (in a worker); the
        points replace those of the 'eye centres' layer. Returns the worker or None."""
        from ..core.segmentation.eye_suggestion import suggest_eye_centres

        if self._result is None or self._worker is not None:
            self.status.value = "Segment first." if self._result is None else "A run is going on."
            return None
        image, seg = self._result_image, self._result
        data, scale = self._volume(image)
        diameters = species_defaults(self.species.value).eye_diameter_mm
        self.status.value = "Looking for the eyes..."
        return self._start(lambda: suggest_eye_centres(
            data, scale, body=seg.body, bone=seg.skull_and_spine, eye_diameter_mm=diameters),
            lambda outcome: self._on_eyes_suggested(outcome, image))

    def _on_eyes_suggested(self, outcome, image):
        if outcome.error is not None:
            self.status.value = f"No eye centres suggested: {outcome.error} Click them on the image."
            return
        suggestion = outcome.value
        layer = self.eye_points_layer()
        _, scale = self._volume(image)
        world = [image.data_to_world(np.asarray(c) / np.asarray(scale)) for c in suggestion.centres_mm]
        layer.data = np.array([layer.world_to_data(w) for w in world], dtype=float)
        layer.mode = "select"
        self.status.value = (f"Suggested eye centres ({suggestion.note}). Check them, drag or re-click to "
                             "correct, then press Update eyes.")

    def eye_points_mm(self, image) -> np.ndarray:
        """Eye points (n, 3) in the image's volume frame (mm along its array axes)."""
        layer = self._layer(ROLE_EYE_POINTS)
        if layer is None or len(layer.data) == 0:
            return np.empty((0, 3))
        world = [layer.data_to_world(p) for p in np.asarray(layer.data, dtype=float)]
        _, scale = self._volume(image)
        return np.array([image.world_to_data(w) for w in world], dtype=float) * np.asarray(scale)

    def _show_eye_levels(self, seg: Segmentation):
        """One isolevel spin box and one "auto" box per eye of ``seg``."""
        self.eye_levels.clear()
        # an eye whose extraction found nothing (modelled as a ball) has no isolevel: shown as 0
        self._auto_levels = [0.0 if v is None else float(v) for v in seg.eye_auto_isolevels]
        for k, (used, auto) in enumerate(zip(seg.eye_isolevels, seg.eye_auto_isolevels)):
            level = FloatSpinBox(label=f"eye {k + 1} isolevel", value=0.0 if used is None else used,
                                 min=-1e9, max=1e9, step=self.air_soft.step)
            asked = seg.parameters.eye_isolevels  # () when every isolevel was automatic
            is_auto = CheckBox(text="auto (none found)" if auto is None else f"auto ({auto:.4g})",
                               value=k >= len(asked) or asked[k] is None)
            level.changed.connect(lambda *_, box=is_auto: self._on_level_typed(box))
            is_auto.changed.connect(lambda on, k=k, spin=level: self._on_auto(on, k, spin))
            self.eye_levels.extend([level, is_auto])

    def _on_level_typed(self, box):
        if not self._updating:
            box.value = False

    def _on_auto(self, on, k, spin):
        if on:
            self._updating = True
            try:
                spin.value = self._auto_levels[k]
            finally:
                self._updating = False

    def eye_isolevels(self) -> list[float | None]:
        """Per-eye isolevels from the dock: None where "auto" is ticked."""
        widgets = list(self.eye_levels)
        return [None if auto.value else float(level.value)
                for level, auto in zip(widgets[0::2], widgets[1::2])]

    # --- parameters ---------------------------------------------------------------------------
    def parameters(self, n_eyes: int | None = None) -> SegmentationParameters:
        """The dock's settings as :class:`SegmentationParameters` (settings the dock does not show
        come from the last loaded file). ``n_eyes``: the number of eye points of the run; the
        per-eye isolevels are kept only if they match it (None: keep those shown)."""
        point, normal = self.spine_cut() if self.spine.value == "cut" else (None, None)
        levels = self.eye_isolevels()
        if n_eyes is not None and len(levels) != n_eyes:
            levels = list(self._base.eye_isolevels)
            if len(levels) != n_eyes:
                levels = []
        thresholds = self.thresholds() or (None, None)
        return replace(
            self._base, air_soft_threshold=thresholds[0], bone_threshold=thresholds[1],
            body_closing_radius_mm=float(self.body_closing.value),
            skull_closing_radius_mm=float(self.skull_closing.value),
            spine_separation=self.spine.value,
            spine_cut_point_mm=None if point is None else tuple(point),
            spine_cut_normal=None if normal is None else tuple(normal),
            eye_isolevels=tuple(levels), evaluation_gap_mm=float(self.gap.value),
        )

    def save_parameters(self, path, *, overwrite: bool = False) -> Path | None:
        """Write the dock's parameters as JSON. An existing file is kept (and the status says so)
        unless ``overwrite=True``. Returns the path, or None when nothing was written."""
        path = Path(path)
        try:
            if path.exists() and not overwrite:
                raise FileExistsError(f"{path} exists: choose another name (nothing was written)")
            path.write_text(self.parameters().to_json())
        except (*_USER_ERRORS, OSError) as err:
            self.status.value = f"Cannot save the parameters: {err}"
            return None
        self.status.value = f"Saved the parameters to {path}."
        return path

    def load_parameters(self, path) -> SegmentationParameters | None:
        """Read JSON parameters (a saved file, a ``rat-tms segment`` .segmentation.json record or
        a layer's metadata) into the dock. Returns them, or None (with the reason in the status)."""
        try:
            values = json.loads(Path(path).read_text())
            values = values.get("napari_rat_tms_segmentation", values)
            params = SegmentationParameters.from_dict(values.get("parameters_used", values))
        except (*_USER_ERRORS, TypeError, OSError) as err:
            self.status.value = f"Cannot load the parameters: {err}"
            return None
        self._base = params
        self.body_closing.value = params.body_closing_radius_mm
        self.skull_closing.value = params.skull_closing_radius_mm
        self.gap.value = params.evaluation_gap_mm
        self.spine.value = params.spine_separation
        if params.spine_separation == "cut":
            normal = np.asarray(params.spine_cut_normal)
            axis = int(np.argmax(np.abs(normal)))
            self.cut_axis.value = axis
            if np.count_nonzero(normal) == 1:
                self.cut_position.value = float(params.spine_cut_point_mm[axis])
            else:  # an oblique plane: the dock shows the nearest axis-aligned one
                self.cut_position.value = float(np.dot(params.spine_cut_point_mm, normal)
                                                / normal[axis])
            self.cut_high_side.value = bool(normal[axis] > 0)
        if params.air_soft_threshold is not None and params.bone_threshold is not None:
            self._set_thresholds(params.air_soft_threshold, params.bone_threshold, by_user=True)
            how = f"air/soft {params.air_soft_threshold:g}, bone {params.bone_threshold:g}"
        else:
            self._thresholds_set = False
            self._draw_histogram()
            how = "suggested from the histogram"
        self.status.value = f"Loaded the parameters of {path} (thresholds {how})."
        return params

    def _save_dialog(self, *_):
        from qtpy.QtWidgets import QFileDialog

        name, _ = QFileDialog.getSaveFileName(self.native, "Save segmentation parameters",
                                              "segmentation_parameters.json", "JSON (*.json)")
        if name:  # the Qt dialog has already asked before replacing a file
            self.save_parameters(name, overwrite=True)

    def _load_dialog(self, *_):
        from qtpy.QtWidgets import QFileDialog

        name, _ = QFileDialog.getOpenFileName(self.native, "Load segmentation parameters", "",
                                              "JSON (*.json)")
        if name:
            self.load_parameters(name)

    # --- running ------------------------------------------------------------------------------
    def start(self, *_):
        """Check the inputs, then segment in a worker thread; returns the worker, or None when the
        inputs are wrong (the reason is in the status)."""
        if self._worker is not None:
            self.status.value = "A run is going on: wait for it or cancel it."
            return None
        try:
            image = self._image_layer()
            data, scale = self._volume(image)
            eyes = self.eye_points_mm(image)
            params = self.parameters(len(eyes))
            brain = self._painted_brain(data.shape)
        except _USER_ERRORS as err:
            self.status.value = f"Cannot segment: {err}"
            return None
        # the species' eye sizes travel in params (eye_diameter_mm): each eye extracted once and
        # checked there, as in the job and the CLI
        steps = iter_segment(data, scale, params, eye_points_mm=eyes, brain_mask=brain)
        self.progress.value = 0
        self.status.value = f"Segmenting {' x '.join(map(str, data.shape))} voxels..."
        return self._start(steps, lambda outcome: self._on_done(outcome, image))

    def _painted_brain(self, shape):
        """The brain layer's mask when there is a non-empty one, else None (suggestion)."""
        layer = self.brain_layer()
        if layer is None or layer.multiscale or not np.any(layer.data):
            return None
        if tuple(layer.data.shape) != tuple(shape):
            raise ValueError(f"the '{layer.name}' layer has shape {tuple(layer.data.shape)}, the "
                             f"image {tuple(shape)}: paint it on the image's grid, or remove it")
        return np.asarray(layer.data) > 0

    def _start(self, work, on_outcome):
        """Run ``work`` (a core generator, cancellable between its steps, or a function) in a
        worker; its outcome goes to ``on_outcome`` unless cancelled. Returns the worker."""
        def outcome_or_cancel(outcome):
            if outcome.cancelled:
                self.progress.value = 0
                self.status.value = "Cancelled; no layer was added or changed."
            else:
                on_outcome(outcome)

        # a bug (not an input error) shows in the status and in napari's notifications
        self._set_running(True, cancellable=isinstance(work, Generator))
        self._worker = start_work(work, on_progress=self._on_progress, on_outcome=outcome_or_cancel,
                                  activity="Segmentation",
                                  on_error=self._on_error, notify_bugs=True,
                                  on_finished=self._on_finished, **_WORK)
        return self._worker

    def cancel(self, *_):
        """Stop the run after its current step; no layer is added or changed."""
        if self._worker is not None:
            self.status.value = "Cancelling after the current step..."
            self._worker.quit()

    def _set_running(self, running: bool, cancellable: bool = True):
        self._running = running
        self.load_button.enabled = not running
        self._update_image_buttons()
        for w in (self.update_eyes_button, self.apply_brain_button, self.suggest_eyes_button):  # need a result
            w.enabled = not running and self._result is not None
        self.cancel_button.enabled = running and cancellable
        self.undo_button.enabled = not running and bool(self._history)

    def _on_progress(self, item):
        fraction, message = item
        self.progress.value = round(100 * fraction)
        self.status.value = message

    def _on_error(self, err):  # not an input error: a bug, also shown by napari's notifications
        self.status.value = f"Cannot segment (unexpected error): {err!r}"

    def _on_finished(self):
        self._worker = None
        self._set_running(False)

    def _on_done(self, outcome: Outcome, image, action: str = "segment"):
        if outcome.error is not None:
            self.progress.value = 0
            self.status.value = f"Cannot {action}: {outcome.error}"
            return
        seg: Segmentation = outcome.value
        self._show_result(seg, image, outcome.extras.get("region"))
        brain = self.brain_layer()
        used = (f"the '{brain.name}' layer (remove it to get a new suggestion)"
                if seg.brain_source == "painted" and brain is not None else seg.brain_source)
        self.progress.value = 100
        # a new segmentation's own notes (thresholds and how sure, a faint vault adapted, eyes
        # modelled as balls), then what was corrected on the way
        notes = list(seg.notes) if action == "segment" else []
        notes += [n for n in outcome.notes if n not in notes]
        self.status.value = f"Done: {seg.summary()}. Brain from {used}." + "".join(
            f" Note: {n}" for n in notes)

    def _remember(self, roles):
        """Keep what the next edit replaces: each result layer's data (a copy, with the user's own
        painting in it), scale, translate and metadata, or that it did not exist; and the result."""
        layers = {}
        for role in roles:
            layer = self._layer(role)
            layers[role] = None if layer is None else (
                np.array(layer.data, copy=True), tuple(layer.scale), tuple(layer.translate),
                dict(layer.metadata))
        self._history.append({"layers": layers, "result": self._result, "image": self._result_image})
        del self._history[:-UNDO_STEPS]
        self.undo_button.enabled = True

    def undo(self, *_) -> bool:
        """Restore the result layers and the result as they were before the last plugin edit
        (exactly: the same arrays, scale, translate, metadata); a layer that edit created is
        removed. Returns False (and says why) when there is nothing to undo or a run is going on."""
        if self._worker is not None:
            self.status.value = "A run is going on: wait for it or cancel it before undoing."
            return False
        if not self._history:
            self.status.value = "Nothing to undo."
            return False
        step = self._history.pop()
        for role, saved in step["layers"].items():
            layer = self._layer(role)
            if saved is None:
                if layer is not None:
                    self._viewer.layers.remove(layer)
                continue
            data, scale, translate, metadata = saved
            if layer is None:
                continue   # removed by the user since: not recreated
            layer.data = data
            layer.scale, layer.translate, layer.metadata = scale, translate, metadata
        self._result, self._result_image = step["result"], step["image"]
        self.undo_button.enabled = bool(self._history)
        self.update_eyes_button.enabled = self.apply_brain_button.enabled = self._result is not None
        self.suggest_eyes_button.enabled = self._result is not None
        self.status.value = (f"Undone: the result layers are as before the last step "
                             f"({len(self._history)} more can be undone).")
        return True

    def _show_result(self, seg: Segmentation, image, region=None):
        """Add or update the result layers (``region``: the evaluation region if computed
        already); add the brain layer if there is none. What they held before can be restored
        with :meth:`undo`."""
        self._remember([kwargs["metadata"][ROLE_KEY] for _, kwargs, _ in
                        segmentation_layer_data(seg, self._volume(image)[1], region)])
        self._result, self._result_image = seg, image
        _, scale = self._volume(image)
        translate = tuple(float(t) for t in image.translate)
        for data, kwargs, layer_type in segmentation_layer_data(seg, scale, region):
            role = kwargs["metadata"][ROLE_KEY]
            layer = self._layer(role)
            if layer is None:
                getattr(self._viewer, f"add_{layer_type}")(data, translate=translate, **kwargs)
            else:
                layer.data = data
                layer.scale, layer.translate = kwargs["scale"], translate
                layer.metadata = dict(kwargs["metadata"])
        if self.brain_layer() is None:
            self._viewer.add_labels(seg.brain.astype(np.uint8), translate=translate, **labels_kwargs(
                BRAIN_LAYER_NAME, scale, ROLE_BRAIN_PAINT, {"source": seg.brain_source},
                {1: LABEL_COLORS[int(TissueLabel.BRAIN)]}, opacity=0.5))
        if not self._thresholds_set:  # show the thresholds used (still "automatic")
            self._set_thresholds(seg.thresholds.air_soft, seg.thresholds.bone, by_user=False)
        self._show_eye_levels(seg)

    def update_eyes(self, *_):
        """Redo only the eyes with the current points and isolevels, in a worker; body, bone and
        brain are kept. Returns the worker or None."""
        if self._result is None or self._worker is not None:
            self.status.value = "Segment first." if self._result is None else "A run is going on."
            return None
        image = self._result_image
        data, _ = self._volume(image)
        eyes = self.eye_points_mm(image)
        levels = self.eye_isolevels()
        if len(levels) != len(eyes):
            levels = None  # points added or removed: automatic isolevels
        defaults = species_defaults(self.species.value)
        self.status.value = "Updating the eyes..."
        return self._start(partial(_plausible_eyes, self._result, data, eyes, levels,
                                   defaults.eye_diameter_mm, defaults.name),
                           lambda outcome: self._on_done(outcome, image, "update the eyes"))

    def apply_painted_brain(self, *_):
        """Put the painted brain layer into the segmentation, in a worker (the labels and the
        evaluation region are redone). The brain layer itself is never modified; brain painted
        over bone is reported in the status. Returns the worker or None."""
        layer = self.brain_layer()
        if self._result is None or layer is None:
            self.status.value = "Segment first: the brain layer comes with the first run."
            return None
        if self._worker is not None:
            self.status.value = "A run is going on: wait for it or cancel it."
            return None
        image = self._result_image
        self.status.value = "Applying the painted brain..."
        return self._start(partial(self._result.with_brain, np.asarray(layer.data) > 0),
                           lambda outcome: self._on_done(outcome, image, "apply the painted brain"))

    def _on_gap_changed(self, *_):
        """Redo the evaluation region of the current result with the new gap (in a worker)."""
        if self._result is None or self._worker is not None:
            return None  # used by the next run
        seg = replace(self._result, parameters=replace(self._result.parameters,
                                                        evaluation_gap_mm=float(self.gap.value)))
        image = self._result_image
        self.status.value = f"Evaluation region with a {self.gap.value:g} mm gap..."
        return self._start(lambda: seg, lambda outcome: self._on_done(outcome, image,
                                                                      "update the evaluation region"))
