"""Widget: the E-field on the cortex for the placed coil (Plugins > Rat TMS > E-field).

1. Choose the cortex surface (made by the Meshing widget, or read from a project folder) and the
   head models to build: seed 003's reference "3C" (body, skull with the spine, eyes), "2C" (body,
   skull with the spine), "2C*" (body, skull without the spine), "1C" (body only) and the
   "sphere" fitted to the inner skull (Heller & van Hulsteyn 1992). Each model says which of the
   surfaces it needs are missing; the other surfaces are found by their role (the Surface layers of
   the Meshing widget and of a reopened project folder).
2. Press "Build models": they are built in a worker, one after the other (the BEM precomputation
   of the 3C model takes about a minute on the synthetic rat), with a progress bar and Cancel
   (models already built are kept). For a project folder with a ``solver_cache`` beside its
   ``meshes/`` the precomputed models are read from there in seconds. The sphere needs the
   stereotaxic frame (its dorsal direction) from the Coil placement dock.
3. Place the coil with the Coil placement dock: the field of the chosen model is shown at once
   and follows the coil when it is moved or turned, with dI/dt from the placement. Each update
   (the coil's primary field at every boundary triangle and one product with the model's transfer
   matrix) runs in a worker thread, so the viewer keeps drawing; moves made while one runs are
   merged into the next. While the coil moves, the field is a preview computed with the coil's
   dipoles merged to at most :data:`PREVIEW_DIPOLES`
   (:func:`~napari_rat_tms.core.coils.merged_dipoles`; 0.4 % from the full coil's field on the
   synthetic rat); :data:`SETTLE_MS` after the last move the full coil's field replaces it. On 2
   CPU cores and the demo's 3C model a preview takes about 16 ms and the full MC-B35 coil 66 ms
   (``benchmarks/bench_interactive.py``; BENCHMARKS.md).

Shown, in the cortex layer's world coordinates (mm):

* "E-field on cortex" (Surface): |E| in V/m at the cortex vertices (the points where seed 003
  evaluates the field), colormap turbo with its colour bar, colour range 0 to the 99th percentile
  of |E| over the cortex (not the single hottest vertex, often at the edge of an orbit) or to a
  fixed value; drawn 0.05 mm outside the cortex so that the cortex layer does not hide it;
* "E direction" (Vectors): the direction of E at about 300 vertices spread over the cortex, the
  longest arrow 1.5 mm, coloured by |E| with the same colormap and range;
* "field maximum" (Points): the vertex of the largest |E|; the status gives its stereotaxic
  position (AP, ML, DV from bregma) and its distance to the line-navigation target that the Coil
  placement dock draws (where the coil's axis meets the cortex).

These three layers are created once, then updated in place, and put just above the cortex layer
in the layer list: napari draws the layers in list order with a depth test, so a translucent
scalp drawn before them would hide them (as it hides the cortex when it is below the cortex in
the list: keep the scalp above the cortex to see through it). No other layer is changed.

Below them, "Best placement for a target" (:mod:`.field_optimise`): a target at AP/ML (and DV), an
objective (|E|, E along a current direction, focality) and constraints; the search runs in a worker
with a reduced-order field of the model shown (:mod:`napari_rat_tms.core.planning`) and the Coil
placement dock moves the coil to the optimum.

The models built here go into the viewer's shared registry (:func:`~napari_rat_tms.viewer.shared_state.shared_state`) with
the surfaces they were built from, for the Study dock. Physics is in SI units inside the core
(:mod:`napari_rat_tms.core.fields`), positions in millimetres in the viewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    SpinBox,
)

from ..core.coils import CoilDipoles, merged_dipoles
from ..core.conventions import HEAD_SURFACES
from ..core.errors import RatTmsError
from ..core.fields import MODEL_KINDS, FieldModel, iter_field_model, surfaces_needed
from ..core.fields.head_models import build_shares
from ..core.project import project_conductivities
from ..core.fields.export import FIELD_EXPORT_FORMATS, field_provenance, write_surface_field
from ..core.fields.roi import RoiStatistics, maximum_location, roi_statistics, vertices_in_labels
from ..core.meshes.sampling import spread_indices
from ..core.meshes.surface import TriangleSurface
from ..core.placement import CoilPlacement, StereotaxicFrame
from ..core.placement.field_on_cortex import CortexField, field_on_cortex
from ..core.progress import forward
from ..viewer.layers import (
    COLOUR_RANGE_PERCENTILE,
    ROLE_COIL,
    ROLE_EFIELD,
    ROLE_EFIELD_DIRECTION,
    ROLE_EFIELD_MAXIMUM,
    ROLE_KEY,
    ROLE_SURFACE,
    hide_volumes,
    layer_with_role,
    put_above,
    robust_upper_limit,
    show_colorbar,
    surface_in_frame_of,
)
from ._layers import layer_shift, layer_transform
from ._dock import ScrollingDock, enable_when_ready
from ._running import start_work
from .field_optimise import OptimiseSection
from ..viewer.shared_state import shared_state

__all__ = ["FieldWidget", "ROLE_EFIELD", "ROLE_EFIELD_DIRECTION", "ROLE_EFIELD_MAXIMUM",
           "SURFACE_NAMES", "surfaces_needed"]

#: The surfaces of the meshing step that the head models are built from.
SURFACE_NAMES = HEAD_SURFACES
COLORMAP = "turbo"
#: About this many direction arrows are drawn, spread over the cortex.
N_ARROWS = 300
#: Length (mm) of the longest direction arrow.
ARROW_MM = 1.5
#: The |E| surface is drawn this far (mm) outside the cortex, so that the cortex layer (same
#: triangles) does not hide it in 3D.
LIFT_MM = 0.05
#: A preview update starts this long (ms) after a change (0: once the event that changed the coil is
#: handled, so the changes it caused give one update); changes while an update runs give one more.
UPDATE_DELAY_MS = 0
#: This long (ms) after the coil's last move, the full coil's field replaces the preview.
SETTLE_MS = 200
#: Surfaces hidden when the field is first shown: they enclose the cortex or sit in front of it.
HIDES_THE_FIELD = ("skull", "skull without spine", "eyes")
#: The body's opacity at most, once the field is shown (the Meshing dock draws it at 0.25).
BODY_OPACITY_WITH_FIELD = 0.2
#: While the coil moves the field is computed with its dipoles merged to at most this many
#: (:func:`~napari_rat_tms.core.coils.merged_dipoles`). For the MC-B35 (2,580 dipoles) on the demo's
#: 3C model: 0.4 % relative error, the same maximum, a quarter of the time (BENCHMARKS.md).
PREVIEW_DIPOLES = 256

_USER_ERRORS = (RatTmsError, ValueError)
#: What an update reports in the status rather than as a bug (a coil file that cannot be read, a
#: placement the model cannot take).
_UPDATE_ERRORS = (*_USER_ERRORS, OSError, TypeError, KeyError)


def _run_build(surfaces: dict, kinds: list[str], up, cache_dir, conductivities=None):
    """Worker generator: builds the models one after the other, yielding ``("progress",
    fraction, message)`` between the core's steps, then ``("model", kind, FieldModel)`` or
    ``("failed", kind, error)`` for each model."""
    shares = build_shares(surfaces, kinds)       # the bar moves with the estimated time, not the count
    for i, kind in enumerate(kinds):
        try:
            # "auto": on a machine with a CUDA GPU (and PyTorch) each coil move costs milliseconds
            # the BEM matrix's factors are kept: the neuron dock's fields at compartments and the
            # voxel export of this model then need no second factorisation (issue 25)
            steps = iter_field_model(surfaces, kind, up=up, cache_dir=cache_dir, device="auto",
                                     conductivities=conductivities, keep_factorisation=True)
            model = yield from forward(steps, sum(shares[:i]), shares[i], f"{kind}: ", tag="progress")
        except _USER_ERRORS as err:
            yield "failed", kind, err
            continue
        yield "model", kind, model


@dataclass(eq=False)
class _FieldRequest:
    """What one update computes, gathered in the viewer's thread."""

    model: FieldModel
    placement: CoilPlacement
    frame: StereotaxicFrame | None
    coil: CoilDipoles
    cortex: TriangleSurface
    ref: object             # the cortex layer (the models' frame)
    preview: bool           # the coil's dipoles merged (PREVIEW_DIPOLES)
    generation: int         # the inputs' version when it was asked for


def _compute_field(request: _FieldRequest) -> CortexField:
    """The field of a request at the cortex (no Qt: it runs in a worker thread;
    :func:`~napari_rat_tms.core.placement.field_on_cortex.field_on_cortex`). Raises the user's errors
    (:data:`_UPDATE_ERRORS`), which the dock shows in its status."""
    return field_on_cortex(request.model, request.placement, request.coil, request.cortex)


def _same_surface(a: TriangleSurface, b: TriangleSurface) -> bool:
    return (a.vertices_m.shape == b.vertices_m.shape and a.faces.shape == b.faces.shape
            and np.array_equal(a.faces, b.faces) and np.allclose(a.vertices_m, b.vertices_m, rtol=0,
                                                                 atol=1e-9))


class FieldWidget(ScrollingDock):
    """The E-field dock widget (see the module docstring).

    Public API (used by the tests, usable from scripts): :meth:`build_models`, :meth:`cancel`,
    :meth:`update_field`; after an update :attr:`efield_v_per_m` ((P, 3) V/m at the cortex
    vertices), :attr:`peak_v_per_m` and :attr:`peak_point_mm` (the vertex of the largest |E|, in
    the models' frame = the cortex layer's data coordinates, mm), :attr:`placement_shown` (in the
    models' frame), :attr:`preview_shown` (True while the field shown is a preview); :attr:`updating`
    (an update is under way or due); :attr:`status` (Label).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self._conductivities_note = ""   # the project's conductivities the last build used
        # set when Qt destroys the dock's widget (with the window); a list, so that the callback holds
        # no reference to this object
        self._dock_destroyed = [False]
        destroyed = self._dock_destroyed
        self.native.destroyed.connect(lambda *_: destroyed.__setitem__(0, True))
        self._viewer = napari_viewer
        self._store = shared_state(napari_viewer)   # what the docks of this viewer share
        self._worker = None
        self._cancel_requested = False
        self._build_note = ""            # first line of the status: the models (build, errors)
        self._built: list[str] = []
        self._failed: dict[str, str] = {}
        self._pending: list[str] = []
        self._geometry: dict = {}        # id(cortex surface) -> (surface, lifted mm, normals, arrows)
        self._busy = False
        self._drawn_cortex = None
        self.efield_v_per_m: np.ndarray | None = None
        self._model_picked = False       # True once the user chose the model shown (see _on_store_changed)
        self.peak_v_per_m: float | None = None
        self.peak_point_mm: np.ndarray | None = None
        self.model_shown: str | None = None
        self.update_seconds: float | None = None
        self.preview_shown = False       # the field shown is a preview (coil dipoles merged)
        self.uncover_note = ""           # which layers were hidden or dimmed when the field was first shown
        self._estimate_note = ""         # the cost of the model being built, as estimated before its build
        self.placement_shown: CoilPlacement | None = None   # in the models' frame
        self.maximum_region: str | None = None     # where the maximum lies, by name (full updates)
        self.roi: RoiStatistics | None = None       # the last ROI statistics
        self._preview_coils: dict = {}   # coil source -> merged CoilDipoles
        self._update_worker = None       # the worker computing an update, one at a time
        self._queued: bool | None = None  # an update asked for while one runs (True: a preview)
        self._generation = 0             # counts the changes of the inputs
        self._shown_generation = -1

        self.cortex_layer = ComboBox(label="cortex surface", choices=self._cortex_choices)
        self.kind_boxes = {kind: CheckBox(text=f"{kind}: {model.description}", value=True)
                           for kind, model in MODEL_KINDS.items()}
        for kind, box in self.kind_boxes.items():
            box.tooltip = f"Built from the {', '.join(surfaces_needed(kind))} surfaces."
        self.surfaces_label = Label(value="")
        self.build_button = PushButton(text="Build models")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(min=0, max=100, value=0, label="progress")
        self.model_choice = ComboBox(label="model shown", choices=self._model_choices)
        self.auto_range = CheckBox(text=f"colour range: 0 to the {COLOUR_RANGE_PERCENTILE:g}th percentile of "
                                        "|E| on the cortex", value=True)
        self.fixed_max = FloatSpinBox(label="fixed max |E| (V/m)", value=100.0, min=0.1, max=1e5,
                                      step=10.0, enabled=False)
        self.didt_label = Label(value="dI/dt: from the Coil placement dock.")
        self.status = Label(value="")
        for label in (self.surfaces_label, self.status, self.didt_label):
            label.native.setWordWrap(True)
        self.model_choice.tooltip = ("The built model whose field is shown (3C is seed 003's reference). While "
                                     "models are built it follows the most accurate one built so far; a "
                                     "choice here keeps the one chosen.")
        self.fixed_max.tooltip = "Upper end of the colour range when it is not automatic."

        self.roi_layer = ComboBox(label="ROI labels", choices=self._labels_choices, nullable=True)
        self.roi_label = SpinBox(label="ROI label (0: any)", value=0, min=0, max=2**31 - 1)
        self.roi_levels = LineEdit(label="levels (V/m)", value="")
        self.roi_button = PushButton(text="ROI statistics")
        self.roi_result = Label(value="")
        self.export_button = PushButton(text="Export field…")
        self.roi_result.native.setWordWrap(True)
        self.roi_layer.tooltip = ("A Labels layer (e.g. painted over the cortex, or an atlas): its labelled "
                                  "voxels choose the cortex vertices of the region.")
        self.roi_levels.tooltip = "Comma-separated |E| levels: the area of the region at or above each."
        self.export_button.tooltip = ("Save the field shown (cortex vertices, mm; E in V/m; provenance) as "
                                      ".vtk, .ply or .csv.")

        self.optimise = OptimiseSection(self)      # "Best placement for a target" (issue 22)

        self.extend([self.cortex_layer, *self.kind_boxes.values(), self.surfaces_label,
                     self.build_button, self.cancel_button, self.progress, self.model_choice,
                     self.auto_range, self.fixed_max, self.didt_label, self.status,
                     self.roi_layer, self.roi_label, self.roi_levels, self.roi_button, self.roi_result,
                     self.export_button, *self.optimise.widgets])

        from qtpy.QtCore import QTimer

        self._timer = QTimer(self.native)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer)
        self._settle_timer = QTimer(self.native)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.timeout.connect(self._on_settle)

        self.build_button.changed.connect(lambda *_: self.build_models())
        self.roi_button.changed.connect(lambda *_: self.compute_roi_statistics())
        self.export_button.changed.connect(self._export_dialog)
        self.cancel_button.changed.connect(self.cancel)
        self.cortex_layer.changed.connect(self._refresh_needs)
        self.roi_layer.changed.connect(lambda *_: self._update_buttons())
        for box in self.kind_boxes.values():
            box.changed.connect(self._refresh_needs)
        self.model_choice.changed.connect(self._on_model_picked)
        self.model_choice.changed.connect(self._schedule_update)
        self.auto_range.changed.connect(self._on_range_mode)
        self.fixed_max.changed.connect(self._schedule_update)
        self._store.models_changed.connect(self._on_store_changed)
        napari_viewer.layers.events.inserted.connect(self._on_layers_changed)
        napari_viewer.layers.events.removed.connect(self._on_layers_changed)
        self._store.coil_changed.connect(self._schedule_update)
        self._store.coil_changed.connect(self.optimise.update_button)
        self._store.models_changed.connect(self.optimise.update_button)
        self.model_choice.changed.connect(self.optimise.update_button)
        self._refresh_needs()
        self._set_status(self._next_step())
        if self._store.coil is not None:
            self._schedule_update()

    # --- choices ------------------------------------------------------------------------------
    def _cortex_choices(self, *_):
        layers = [layer for layer in self._viewer.layers if isinstance(layer, napari.layers.Surface)
                  and np.asarray(layer.data[0]).ndim == 2 and np.asarray(layer.data[0]).shape[1] == 3
                  and layer.metadata.get(ROLE_KEY) not in (ROLE_EFIELD, "efield", ROLE_COIL)]
        layers.sort(key=lambda layer: not (layer.metadata.get(ROLE_KEY) == ROLE_SURFACE
                                           and layer.metadata.get("surface") == "cortex"))
        return [(layer.name, layer) for layer in layers]

    def _labels_choices(self, *_):
        return [(layer.name, layer) for layer in self._viewer.layers
                if isinstance(layer, napari.layers.Labels) and np.asarray(layer.data).ndim == 3]

    def _model_choices(self, *_):
        return list(self._store.ordered())

    def _surface_layers(self, cortex_layer) -> dict:
        """name -> layer of the surfaces the models are built from (the chosen cortex, and the
        others by role; those of the cortex's project folder first)."""
        found = {"cortex": cortex_layer} if cortex_layer is not None else {}
        folder = None if cortex_layer is None else cortex_layer.metadata.get("project_folder")
        candidates = [layer for layer in self._viewer.layers if isinstance(layer, napari.layers.Surface)
                      and layer.metadata.get(ROLE_KEY) == ROLE_SURFACE]
        candidates.sort(key=lambda layer: layer.metadata.get("project_folder") != folder)
        for layer in candidates:
            name = layer.metadata.get("surface")
            if name in SURFACE_NAMES and name not in found:
                found[name] = layer
        return found

    def _missing(self, kind: str, names) -> list[str]:
        return [name for name in surfaces_needed(kind) if name not in names]

    def _refresh_needs(self, *_):
        names = set(self._surface_layers(self.cortex_layer.value))
        lines = []
        for kind, box in self.kind_boxes.items():
            missing = self._missing(kind, names)
            box.text = f"{kind}: {MODEL_KINDS[kind].description}" + (f" (missing: {', '.join(missing)})" if missing
                                                          else "")
            if missing:
                lines.append(f"{kind} needs the {', '.join(missing)} surface(s)")
        found = [name for name in SURFACE_NAMES if name in names]
        self.surfaces_label.value = ("Surfaces: " + (", ".join(found) if found else "none")
                                     + (". Cannot be built: " + "; ".join(lines) + "." if lines else "."))
        self._update_buttons(names)

    def _update_buttons(self, names=None):
        """Build, ROI statistics and Export enabled only when their inputs exist (tooltips say
        what is missing): a cortex and a chosen model whose surfaces are all there; a field shown
        (and a Labels layer for the ROI)."""
        if names is None:
            names = set(self._surface_layers(self.cortex_layer.value))
        chosen = [kind for kind, box in self.kind_boxes.items() if box.value]
        if "cortex" not in names:
            missing = "no cortex surface: mesh the segmentation (Meshing dock) or open a project folder."
        elif not chosen:
            missing = "no model is ticked."
        elif all(self._missing(kind, names) for kind in chosen):
            missing = "the ticked models' surfaces are missing (listed above)."
        else:
            missing = None
        enable_when_ready(self.build_button, missing, "Build the ticked head models in the background "
                          "(their BEM precomputation; the time and memory are estimated first).",
                          busy=self.cancel_button.enabled)
        no_field = None if self._shown_surface() is not None else (
            "no field shown yet: build a model and place the coil (Coil placement dock).")
        enable_when_ready(self.export_button, no_field, "Save the field shown (.vtk, .ply or .csv) with "
                          "its provenance.")
        no_roi = no_field or (None if self.roi_layer.value is not None else
                              "no Labels layer as the region: paint one over the cortex or open an atlas.")
        enable_when_ready(self.roi_button, no_roi, "Statistics of |E| over the cortex inside the chosen label.")
        if hasattr(self, "optimise"):
            self.optimise.update_button()

    def _on_layers_changed(self, event=None):
        self.cortex_layer.reset_choices()
        self.roi_layer.reset_choices()
        self._refresh_needs()

    def _on_store_changed(self):
        self._busy = True      # no update per choice change: one after the choices are set
        try:
            self.model_choice.reset_choices()
            models = self._store.ordered()
            if models and not self._model_picked:   # follow the most accurate model built so far
                self.model_choice.value = next(iter(models))
        finally:
            self._busy = False
        self._schedule_update()

    def _on_model_picked(self, *_):
        """The user chose the model shown: it stays shown until the next build."""
        if not self._busy:
            self._model_picked = True

    def _on_range_mode(self, *_):
        self.fixed_max.enabled = not self.auto_range.value
        self._schedule_update()

    # --- status -------------------------------------------------------------------------------
    def _set_status(self, field_text: str | None = None):
        self.status.value = "\n".join(filter(None, [self._build_note, field_text]))

    def _next_step(self) -> str:
        if self.cortex_layer.value is None:
            return "Mesh the segmentation (Meshing dock) or open a project folder to get the cortex."
        if not self._store.models:
            return "Choose the models and press 'Build models'."
        state = self._store.coil
        if state is None or state.placement is None:
            return "Place the coil with the Coil placement dock."
        return ""

    # --- building -----------------------------------------------------------------------------
    def _frame(self, ref=None) -> StereotaxicFrame | None:
        """The stereotaxic frame of the Coil placement dock (in ``ref``'s data coordinates when
        given), else the registry's."""
        state = self._store.coil
        if state is not None and state.frame is not None:
            shift = None if ref is None else layer_shift(state.layer, ref)
            return state.frame if shift is None else state.frame.translated(shift)
        return self._store.frame

    @staticmethod
    def _cache_dir(layer) -> Path | None:
        """``<project folder>/solver_cache`` of the layer's project folder, when it exists."""
        candidates = []
        folder = layer.metadata.get("project_folder")
        if folder:
            candidates.append(Path(folder) / "solver_cache")
        source = layer.metadata.get("source")
        if source and Path(source).parent.name == "meshes":
            candidates.append(Path(source).parent.parent / "solver_cache")
        return next((c for c in candidates if c.is_dir()), None)

    def build_models(self, kinds=None, blocking: bool = False):
        """Build the head models ``kinds`` (default: those checked) from the surface layers.

        They are built in a napari worker (``blocking=False``; returns the worker) or in the
        calling thread (``blocking=True``, for scripts and tests; returns the dict kind ->
        :class:`FieldModel` built by this call). Each model is put into
        :func:`~napari_rat_tms.viewer.shared_state.shared_state` as soon as it is built. Returns None when nothing can be
        built (the reason is in the status)."""
        if self._worker is not None:
            self._set_status("A build is going on: wait for it or cancel it.")
            return None
        if kinds is None:
            kinds = [kind for kind, box in self.kind_boxes.items() if box.value]
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        unknown = [kind for kind in kinds if kind not in MODEL_KINDS]
        if unknown or not kinds:
            self._build_note = (
                f"Cannot build: unknown model(s) {', '.join(map(str, unknown))}; choose from "
                f"{', '.join(MODEL_KINDS)}." if unknown else "Cannot build: no model is chosen.")
            self._set_status()
            return None
        # the cheapest first (sphere, 1C, 2C*, 2C, 3C): a first |E| within seconds, each more accurate
        # model replacing the one shown as it arrives, the reference 3C last (issue 25)
        kinds = [kind for kind in reversed(MODEL_KINDS) if kind in kinds]
        cortex_layer = self.cortex_layer.value
        if cortex_layer is None:
            self._build_note = ("Cannot build: no cortex surface layer. Mesh the segmentation (Meshing dock) "
                                "or open a project folder.")
            self._set_status()
            return None
        layers = self._surface_layers(cortex_layer)
        frame = self._frame(cortex_layer)
        skipped: dict[str, str] = {}
        for kind in kinds:
            missing = self._missing(kind, layers)
            if missing:
                skipped[kind] = f"needs the {', '.join(missing)} surface(s), which are missing"
            elif kind == "sphere" and frame is None:
                skipped[kind] = ("needs the stereotaxic frame (its dorsal direction): set it in the Coil "
                                 "placement dock")
        to_build = [kind for kind in kinds if kind not in skipped]
        if not to_build:
            self._build_note = ("Cannot build " + "; ".join(f"{k}: it {why}" for k, why in skipped.items())
                                + ".")
            self._set_status(self._next_step())
            return None
        try:
            surfaces = {name: surface_in_frame_of(layer, cortex_layer, name)
                        for name, layer in layers.items()}
        except _USER_ERRORS as err:
            self._build_note = f"Cannot build: a surface layer is not a valid mesh: {err}"
            self._set_status()
            return None
        store = self._store
        dropped = ""
        if store.models and any(name in store.surfaces and not _same_surface(store.surfaces[name], surface)
                                for name, surface in surfaces.items()):
            dropped = " (the surfaces changed: the models built from the previous ones were dropped)"
            store.clear()
        store.surfaces = surfaces
        store.surface_layers = layers
        if frame is not None:
            store.frame = frame
        self._built, self._failed, self._pending = [], dict(skipped), list(to_build)
        self._model_picked = False       # the field shown follows the models as they are built
        self._cancel_requested = False
        up = None if frame is None else frame.dorsal
        cache_dir = self._cache_dir(cortex_layer)
        # a reopened project's models use the conductivities its job ran with, not seed 003's (issue 23)
        conductivities = project_conductivities(cache_dir.parent) if cache_dir is not None else {}
        used = ("" if not conductivities else " with the project's conductivities ("
                + ", ".join(f"{t} {v:g} S/m" for t, v in sorted(conductivities.items())) + ")")
        self._conductivities_note = used
        self._build_note = f"Building {', '.join(to_build)}{used}{dropped}..."
        self._estimate_note = ""
        self.progress.value = 0
        self._set_status()
        self.build_button.enabled, self.cancel_button.enabled = False, True
        worker = start_work(_run_build(dict(surfaces), to_build, up, cache_dir, conductivities),
                            blocking=blocking, on_progress=self._on_yield, on_outcome=self._on_built,
                            activity="E-field: building the head models",
                            on_error=self._on_error, on_finished=self._on_finished,
                            cancel_requested=lambda: self._cancel_requested)
        if blocking:
            return {kind: self._store.models[kind] for kind in self._built}
        self._worker = worker
        return worker

    def cancel(self, *_):
        """Stop the build after the current step; the models already built are kept."""
        if self._worker is not None or self.cancel_button.enabled:
            self._cancel_requested = True
            self._build_note = "Cancelling after the current step..."
            self._set_status()
            if self._worker is not None:
                self._worker.quit()

    def _on_yield(self, item):
        what = item[0]
        if what == "progress":
            _, fraction, message = item
            self.progress.value = round(100 * min(max(fraction, 0.0), 1.0))
            if ": estimated " in message:      # the model's cost, said before its build: kept in view
                self._estimate_note = message.replace(": estimated ", ": estimated before the build: ", 1)
            self._build_note = f"Building {message}" + (f"\n{self._estimate_note}" if self._estimate_note else "")
            self._set_status()
        elif what == "model":
            _, kind, model = item
            self._pending.remove(kind)
            self._built.append(kind)
            self._store.add(model)     # -> the model chooser, and an update of the field
            self._build_note = f"Built {kind} in {model.build_seconds:.1f} s." + (
                f" Its field is shown until a more accurate model is built; still building: "
                f"{', '.join(self._pending)}." if self._pending and not self._model_picked else "")
            self._set_status()
        elif what == "failed":
            _, kind, err = item
            self._pending.remove(kind)
            self._failed[kind] = f"failed: {err}"

    def _summary(self, cancelled: bool) -> str:
        store = self._store
        parts = []
        if self._built:
            parts.append("Built " + ", ".join(f"{k} ({store.models[k].build_seconds:.1f} s)"
                                              for k in self._built if k in store.models)
                         + (f"{self._conductivities_note}." if self._conductivities_note else "."))
        if cancelled and self._pending:
            parts.append(f"Cancelled: {', '.join(self._pending)} not built.")
        elif cancelled:
            parts.append("Cancelled.")
        if self._failed:
            parts.append("Not built: " + "; ".join(f"{k} ({why})" for k, why in self._failed.items()) + ".")
        if not self._built and not cancelled:
            parts.insert(0, "No model was built.")
        return " ".join(parts)

    def _on_built(self, outcome):
        if outcome.error is not None:
            return self._on_error(outcome.error)
        cancelled = outcome.cancelled
        self.progress.value = 100 if not cancelled else self.progress.value
        self._build_note = self._summary(cancelled) + "".join(f"\nNote: {n}" for n in outcome.notes)
        self._set_status(self._next_step())
        self._schedule_update()

    def _on_error(self, err):
        self.progress.value = 0
        kept = f" Kept: {', '.join(self._built)}." if self._built else ""
        self._build_note = (f"The build stopped with an error: {type(err).__name__}: {err}. Not built: "
                            f"{', '.join(self._pending) or 'none'}.{kept}")
        self._set_status()

    def _on_finished(self):
        self._worker = None
        self.cancel_button.enabled = False
        self._update_buttons()

    # --- showing ------------------------------------------------------------------------------
    def _schedule_update(self, *_):
        """The inputs changed (the coil moved or turned, another model or colour range): a preview
        update soon (moves within :data:`UPDATE_DELAY_MS` give one), the full coil's field
        :data:`SETTLE_MS` after the last change."""
        if self._busy:
            return
        self._generation += 1
        if not self._timer.isActive():
            self._timer.start(UPDATE_DELAY_MS)
        self._settle_timer.start(SETTLE_MS)

    def _viewer_open(self, ref=None) -> bool:
        """False once the dock is gone (its Qt widget destroyed with the window) or, given the
        update's cortex layer ``ref``, once that layer left the viewer (closing a viewer first clears
        its layers): a late update must not add layers to a viewer being torn down. Public API only
        (napari warns plugins that touch its private attributes)."""
        if self._dock_destroyed[0]:
            return False
        return ref is None or ref in self._viewer.layers

    def _on_timer(self):
        if self._viewer_open() and self._store.models:   # else the status says what to do
            self._start_update(preview=True)

    def _on_settle(self):
        if not self._viewer_open() or not self._store.models:
            return
        if self._shown_generation == self._generation and not self.preview_shown:
            return    # the full field of these inputs is shown (the coil has few dipoles)
        self._start_update(preview=False)

    def _start_update(self, preview: bool):
        """Compute the field in a worker thread and show it when it is done. One update runs at a
        time; one asked for meanwhile waits (a full one wins over a preview) and then starts with
        the inputs of that moment."""
        if self._update_worker is not None:
            self._queued = preview if self._queued is None else (self._queued and preview)
            return
        request = self._prepare_update(preview)
        if request is None:
            return
        self._update_worker = start_work(
            partial(_compute_field, request), user_errors=_UPDATE_ERRORS,
            on_outcome=lambda outcome: self._on_update_returned(request, outcome),
            on_error=lambda err: self._set_status(
                f"Cannot compute the {request.model.kind} field: {type(err).__name__}: {err}"),
            on_finished=self._on_update_finished)

    def _on_update_returned(self, request, outcome):
        if not self._viewer_open(request.ref):
            return
        if outcome.error is not None:
            self._set_status(f"Cannot compute the {request.model.kind} field: {outcome.error}")
            return
        store = self._store
        if request.model is not store.models.get(request.model.kind):
            return    # the model was dropped or rebuilt meanwhile; the next update shows the new one
        self._show(request, outcome.value)
        if outcome.notes:
            self.status.value += "".join(f"\nNote: {n}" for n in outcome.notes)

    def _on_update_finished(self):
        self._update_worker = None
        queued, self._queued = self._queued, None
        if queued is not None and self._viewer_open():
            self._start_update(queued)

    @property
    def updating(self) -> bool:
        """Whether an update is being computed or waits to be (for scripts and tests)."""
        return (self._update_worker is not None or self._queued is not None or self._timer.isActive()
                or self._settle_timer.isActive())

    def _shown_model(self, store) -> FieldModel | None:
        models = store.ordered()
        if not models:
            return None
        return models.get(self.model_choice.value) or next(iter(models.values()))

    def _geometry_of(self, cortex: TriangleSurface):
        """(lifted vertices mm, outward normals, arrow indices) of the models' cortex, cached."""
        cached = self._geometry.get(id(cortex))
        if cached is None or cached[0] is not cortex:
            vertices = cortex.vertices_m * 1e3
            normals = cortex.vertex_normals
            arrows = spread_indices(vertices, N_ARROWS)
            cached = (cortex, vertices + LIFT_MM * normals, normals, arrows)
            self._geometry = {id(cortex): cached}
        return cached[1:]

    def _placement_in_model_frame(self, state, ref) -> tuple[CoilPlacement, StereotaxicFrame | None]:
        """The placement and frame (coil layer's data coordinates) in the models' frame (``ref``'s
        data coordinates); they differ only by a translation when the layers are translated apart."""
        placement, frame = state.placement, state.frame or self._store.frame
        shift = layer_shift(state.layer, ref)
        if shift is None:
            raise ValueError("the coil layer and the cortex layer have different scales; place the coil on "
                             "surfaces of the same scan as the cortex.")
        if not np.any(shift):
            return placement, frame
        moved = placement.translated(shift)
        if state.frame is not None:   # the registry's frame is already in the models' frame
            frame = frame.translated(shift)
        return moved, frame

    def _preview_coil(self, source, coil: CoilDipoles) -> CoilDipoles:
        merged = self._preview_coils.get(source)
        if merged is None:
            merged = merged_dipoles(coil, PREVIEW_DIPOLES)
            self._preview_coils[source] = merged
        return merged

    def _prepare_update(self, preview: bool) -> _FieldRequest | None:
        """What an update needs, checked (None: the reason is in the status)."""
        store = self._store
        model = self._shown_model(store)
        if model is None:
            self._set_status("No head model yet: choose the models and press 'Build models' first.")
            return None
        state = self._store.coil
        if state is None or state.placement is None:
            self._set_status("No coil placed: place the coil with the Coil placement dock to see its field.")
            return None
        cortex = store.surfaces.get("cortex")
        ref = store.surface_layers.get("cortex")
        if cortex is None or ref is None or len(cortex.vertices_m) != len(model.points_m) or not np.allclose(
                cortex.vertices_m, model.points_m, rtol=0, atol=1e-9):
            self._set_status(f"The {model.kind} model was built from another cortex surface than the one "
                             "registered: build the models again.")
            return None
        try:
            placement, frame = self._placement_in_model_frame(state, ref)
            coil = store.coil_dipoles(state.coil_source)
            if preview:
                merged = self._preview_coil(state.coil_source, coil)
                preview, coil = merged is not coil, merged
        except (*_USER_ERRORS, OSError, TypeError, KeyError) as err:
            self._set_status(f"Cannot compute the {model.kind} field: {err}")
            return None
        return _FieldRequest(model, placement, frame, coil, cortex, ref, preview, self._generation)

    def update_field(self, *_) -> np.ndarray | None:
        """Compute (with the full coil, in the calling thread) and show the field of the shown model
        for the coil placement of the Coil placement dock. Returns E, (P, 3) in V/m at the cortex
        vertices, or None (the reason is in the status). The dock itself updates in a worker
        thread (:meth:`_schedule_update`)."""
        self._timer.stop()
        self._settle_timer.stop()
        request = self._prepare_update(preview=False)
        if request is None:
            return None
        outcome = start_work(partial(_compute_field, request), blocking=True, user_errors=_UPDATE_ERRORS,
                             on_outcome=lambda outcome: self._on_update_returned(request, outcome))
        return outcome.value.efield_v_per_m if outcome.ok else None

    def _show(self, request: _FieldRequest, result: CortexField):
        """Draw a computed field and say where its maximum is (viewer's thread)."""
        efield, magnitude, peak = result.efield_v_per_m, result.magnitude_v_per_m, result.peak_vertex
        target, seconds = result.line_navigation, result.seconds
        model, placement, frame, cortex = request.model, request.placement, request.frame, request.cortex
        peak_mm = cortex.vertices_m[peak] * 1e3
        self.efield_v_per_m, self.peak_v_per_m, self.peak_point_mm = efield, float(magnitude[peak]), peak_mm
        self.model_shown = model.kind
        self.preview_shown = request.preview
        self.placement_shown = placement
        self._shown_generation = request.generation
        top = robust_upper_limit(magnitude) if self.auto_range.value else max(float(self.fixed_max.value), 1e-12)
        self._draw(model, placement, request.ref, cortex, efield, magnitude, peak, top, request)
        self.update_seconds = seconds
        if not self.export_button.enabled:      # the first field shown: Export and ROI statistics now apply
            self._update_buttons()
        if frame is not None:
            self._store_frame(frame)
        where = frame.describe(peak_mm) if frame is not None else (
            f"({peak_mm[0]:.1f}, {peak_mm[1]:.1f}, {peak_mm[2]:.1f}) mm (no stereotaxic frame)")
        navigation = ("the coil's axis misses the cortex (no line-navigation target)" if target is None else
                      f"{np.linalg.norm(peak_mm - target.target_mm):.1f} mm from the line-navigation target")
        self.maximum_region = None
        if not request.preview:    # one ray against the skull: where the maximum lies, by name
            skull = self._store.surfaces.get("skull")
            self.maximum_region = maximum_location(cortex, efield, skull=skull, frame=frame)["region"]
            navigation += f"; region: {self.maximum_region}"
        how = (f"preview: the coil merged to {request.coil.n_dipoles} dipoles, the full coil follows when it "
               f"stops; {1e3 * seconds:.0f} ms" if request.preview else
               f"{request.coil.n_dipoles} coil dipoles, {1e3 * seconds:.0f} ms")
        self.didt_label.value = f"dI/dt: {placement.didt_a_per_us:g} A/µs (from the Coil placement dock)."
        scale_note = (f"{COLOUR_RANGE_PERCENTILE:g}th percentile of |E| on the cortex; above it the top colour"
                      if self.auto_range.value else "fixed")
        self._set_status(f"{model.kind}: max |E| {self.peak_v_per_m:.1f} V/m at dI/dt "
                         f"{placement.didt_a_per_us:g} A/µs, at {where}; {navigation}. Colour range "
                         f"0-{top:.3g} V/m ({scale_note}; {how})."
                         + (f" {self.uncover_note}" if self.uncover_note else ""))

    # --- regions of interest and export ---------------------------------------------------------
    def _shown_surface(self) -> tuple[TriangleSurface, object] | None:
        store = self._store
        cortex, ref = store.surfaces.get("cortex"), store.surface_layers.get("cortex")
        if self.efield_v_per_m is None or cortex is None or ref is None \
                or len(cortex.vertices_m) != len(self.efield_v_per_m):
            return None
        return cortex, ref

    def compute_roi_statistics(self, labels_layer=None, label: int | None = None, levels=None
                               ) -> RoiStatistics | None:
        """Statistics of the field shown over the cortex vertices in the labelled voxels of
        ``labels_layer`` (default: the chosen one; ``label`` 0 or None: any label) and the area at
        or above each of ``levels`` (V/m). Returns them (also in :attr:`roi`), or None with the
        reason in the ROI result line."""
        labels_layer = self.roi_layer.value if labels_layer is None else labels_layer
        label = int(self.roi_label.value) if label is None else int(label)
        shown = self._shown_surface()
        if shown is None:
            self.roi_result.value = "No field shown yet: build a model and place the coil first."
            return None
        if labels_layer is None:
            self.roi_result.value = ("Choose a Labels layer as the region (paint one over the cortex, or an "
                                     "atlas).")
            return None
        try:
            if levels is None:
                text = self.roi_levels.value.replace(";", ",")
                levels = [float(v) for v in text.split(",") if v.strip()]
            cortex, ref = shown
            scale, translate = layer_transform(ref)
            world = cortex.vertices_m * 1e3 * scale + translate
            lscale, ltranslate = layer_transform(labels_layer)
            inside = vertices_in_labels(world, np.asarray(labels_layer.data), lscale, ltranslate,
                                        label=label or None)
            name = f"{labels_layer.name}" + (f" label {label}" if label else "")
            stats = roi_statistics(cortex, self.efield_v_per_m, inside, levels=levels, name=name)
        except ValueError as err:
            self.roi_result.value = f"Cannot compute the ROI statistics: {err}"
            return None
        self.roi = stats
        model = self.model_shown or "?"
        self.roi_result.value = (f"{model}{' (preview)' if self.preview_shown else ''}: {stats.describe()}")
        return stats

    def export_field(self, path, overwrite: bool = False):
        """Write the field shown to ``path`` (.vtk, .ply or .csv; see :mod:`..core.fields.export`), with
        its provenance. Returns the files written, or None (the reason in the status); never
        overwrites unless ``overwrite``."""
        shown = self._shown_surface()
        if shown is None:
            self._set_status("Nothing to export: no field is shown yet.")
            return None
        if self.preview_shown:
            self._set_status("Wait for the full coil's field (a preview is shown) before exporting.")
            return None
        placement, state = self.placement_shown, self._store.coil
        provenance = field_provenance(
            model=self.model_shown, coil=None if state is None else state.coil_source,
            didt_a_per_us=None if placement is None else float(placement.didt_a_per_us),
            placement=None if placement is None else placement.to_dict(),
            surface=f"cortex ({len(shown[0].vertices_m)} vertices; positions in the cortex layer's data "
                    "coordinates)")
        try:
            written = write_surface_field(path, shown[0], self.efield_v_per_m, provenance=provenance,
                                          overwrite=overwrite)
        except (OSError, ValueError) as err:
            self._set_status(f"Cannot export the field: {err}")
            return None
        self._set_status(f"Exported the {self.model_shown} field to {', '.join(str(p) for p in written)}.")
        return written

    def _export_dialog(self, *_):
        from qtpy.QtWidgets import QFileDialog

        patterns = " ".join(f"*{suffix}" for suffix in FIELD_EXPORT_FORMATS)
        name, _ = QFileDialog.getSaveFileName(self.native, "Export the E-field", "efield_on_cortex.vtk",
                                              f"E-field ({patterns})")
        if name:   # the Qt dialog has already asked before replacing a file
            self.export_field(name, overwrite=True)

    def _store_frame(self, frame):
        store = self._store
        if store.frame is None:
            store.frame = frame

    # --- drawing ------------------------------------------------------------------------------
    def _layer(self, role):
        return layer_with_role(self._viewer, role)

    def _draw(self, model, placement, ref, cortex, efield, magnitude, peak, top, request):
        from napari.utils.colormaps import ensure_colormap

        lifted, normals, arrows = self._geometry_of(cortex)
        scale, translate = layer_transform(ref)
        transform = {"scale": tuple(scale), "translate": tuple(translate)}
        state = {"model": model.kind, "units": "V/m", "didt_a_per_us": float(placement.didt_a_per_us),
                 "placement": placement.to_dict(), "coil": request.coil.name, "preview": request.preview}
        # |E| on the cortex
        layer = self._layer(ROLE_EFIELD)
        if layer is None:
            layer = self._viewer.add_surface(
                (lifted, cortex.faces, magnitude), name="E-field on cortex", colormap=COLORMAP,
                contrast_limits=(0.0, top), shading="smooth", units="mm",
                metadata={ROLE_KEY: ROLE_EFIELD, **state}, **transform)
            show_colorbar(layer)
            put_above(self._viewer, layer, ref)
            self._uncover_the_field()
        else:
            layer.metadata.update(state)
            if self._drawn_cortex is not cortex or len(layer.vertex_values) != len(magnitude):
                layer.data = (lifted, cortex.faces, magnitude)
            else:
                layer.vertex_values = magnitude
            self._set_transform(layer, transform)
            layer.contrast_limits = (0.0, top)
        self._drawn_cortex = cortex
        # directions: arrows centred on spread vertices, just outside the cortex
        e = efield[arrows]
        longest = float(np.linalg.norm(e, axis=1).max())
        length = ARROW_MM / float(np.mean(scale))
        vectors = e / longest * length if longest > 0 else np.zeros_like(e)
        start = lifted[arrows] + 2 * LIFT_MM * normals[arrows] - 0.5 * vectors
        colours = ensure_colormap(COLORMAP).map(np.clip(magnitude[arrows] / top, 0.0, 1.0))
        data = np.stack([start, vectors], axis=1)
        features = {"E_V_per_m": magnitude[arrows]}
        layer = self._layer(ROLE_EFIELD_DIRECTION)
        if layer is None:
            layer = self._viewer.add_vectors(data, name="E direction", edge_color=colours, edge_width=0.12,
                                             vector_style="arrow", features=features, units="mm",
                                             metadata={ROLE_KEY: ROLE_EFIELD_DIRECTION, **state},
                                             **transform)
            put_above(self._viewer, layer, self._layer(ROLE_EFIELD))
        else:
            layer.metadata.update(state)
            layer.data = data
            layer.features = features
            layer.edge_color = colours
            self._set_transform(layer, transform)
        # the maximum
        point = lifted[peak][None]
        features = {"E_V_per_m": [float(magnitude[peak])]}
        layer = self._layer(ROLE_EFIELD_MAXIMUM)
        if layer is None:
            layer = self._viewer.add_points(
                point, name="field maximum", face_color="white", border_color="black", size=0.8,
                features=features, units="mm",
                text={"string": "{E_V_per_m:.0f} V/m", "color": "white", "size": 10, "anchor": "upper_left"},
                metadata={ROLE_KEY: ROLE_EFIELD_MAXIMUM, **state}, **transform)
            put_above(self._viewer, layer, self._layer(ROLE_EFIELD_DIRECTION))
        else:
            layer.metadata.update(state)
            if not np.array_equal(layer.data, point):    # each data change costs napari ~10 ms
                layer.data = point
            layer.features = features
            self._set_transform(layer, transform)

    def _uncover_the_field(self):
        """When the field is first shown: hide what hides it in 3D (the skull and eyes, which enclose
        the cortex or sit in front of it; the image and label volumes) and dim the body, so that what
        this step produced is what one sees; said in the status (tick the layers to show them again).
        Nothing else changes."""
        hidden, dimmed = [], []
        for layer in self._viewer.layers:
            if layer.metadata.get(ROLE_KEY) != ROLE_SURFACE or not isinstance(layer, napari.layers.Surface):
                continue
            name = layer.metadata.get("surface")
            if name in HIDES_THE_FIELD and layer.visible:
                layer.visible = False
                hidden.append(layer.name)
            elif name == "body" and layer.visible and layer.opacity > BODY_OPACITY_WITH_FIELD:
                layer.opacity = BODY_OPACITY_WITH_FIELD
                dimmed.append(layer.name)
        hidden += hide_volumes(self._viewer)     # the µCT and label volumes cover everything in 3D
        parts = []
        if hidden:
            parts.append(f"hidden so that the field shows: {', '.join(hidden)} (tick them in the layer list "
                         "to show them again)")
        if dimmed:
            parts.append(f"{', '.join(dimmed)} made more transparent")
        self.uncover_note = ("Layers " + "; ".join(parts) + ".") if parts else ""

    @staticmethod
    def _set_transform(layer, transform):
        for attr, value in transform.items():
            if not np.allclose(getattr(layer, attr)[-3:], value):
                setattr(layer, attr, value)
