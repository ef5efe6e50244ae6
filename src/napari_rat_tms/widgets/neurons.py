"""Widget: neuron activation thresholds on the cortex for the placed coil (Plugins > Rat TMS >
Neuron thresholds; issue 8, build item 5).

1. Build a BEM head model with the E-field dock (1C, 2C, 2C* or 3C; the sphere model has no volume
   conductor, so the field cannot be sampled at the neurons' compartments) and place the coil with
   the Coil placement dock.
2. Choose the cell types: the simplified ball-and-stick cell (soma at L5 depth; fast, always
   available) and, with a morphology folder, one per ``.asc``/``.swc`` file in it, at the depth of
   its layer (:func:`~napari_rat_tms.core.neurons.cortex.layer_of_cell` of the file name, e.g.
   ``L23_PC_...`` -> L2/3; a name without a layer is placed at L5 depth and the checkbox says so).
3. Choose N and where: N cortex vertices spread evenly (farthest-point sampling) over the whole
   cortex, or under the coil (the vertices where |E| is at least half its maximum for the current
   placement, the first one at the maximum); one neuron per vertex and cell type, its
   somatodendritic axis along the local normal, its azimuth about the axis from the golden-angle
   sequence (spread, reproducible).
4. "Compute thresholds": in a worker (progress, Cancel), for each cell type:
   :func:`~napari_rat_tms.core.neurons.place_neurons` (somas outside the head are left out),
   the E-field at every compartment of every neuron from ONE BEM solve of the current placement
   shared by all cell types (:class:`~napari_rat_tms.core.bem.points_field.PlacementField`)
   at dI/dt = 1 A/us (so the threshold amplitude of the engine, which multiplies the field given
   to it, is the threshold dI/dt in A/us), then
   :func:`~napari_rat_tms.core.neurons.iter_run_thresholds` in this process (default) or on a
   Dask LocalCluster, cached (``<user cache>/napari-rat-tms/thresholds``; a rerun or a resumed
   cancelled run reads the finished neurons from there).

Shown, in the cortex layer's world coordinates (mm), per cell type:

* "threshold <cell> (A/µs)" (Surface, colormap viridis_r: low thresholds bright): the cortex with,
  at every vertex, the threshold of the **nearest computed neuron's vertex** (nearest-vertex
  interpolation, not a smooth one; with N neurons the map is a patchwork of N regions). Vertices
  whose nearest neuron has no threshold (not bracketed in the search range, outside the field,
  failed) are drawn with the colour of the top of the colour range (the largest threshold found):
  the status counts them. The units switch shows the same map in % of the maximum stimulator
  output (the layer is then named "threshold <cell> (% MSO)"). Drawn 0.1 mm outside the cortex
  (above the E-field dock's map, 0.05 mm);
* "neurons <cell>" (Points) at the somas, with the features ``threshold_a_per_us``,
  ``threshold_pct_mso`` and ``status``; coloured red when activated at the chosen stimulator
  output, grey when not, black without a threshold.

"% MSO" is relative to :data:`~napari_rat_tms.core.coils.MC_B35_MAX_DIDT_A_PER_US` (141.28 A/us),
the MC-B35 preset's maximum dI/dt (MagPro X100), whatever coil is placed. The fraction activated
at X % MSO is the fraction of the computed neurons (those with a threshold or not bracketed; those
outside the field are not counted) whose threshold is at most X % of that maximum; it and the
points' colours follow the spin box without recomputing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    SpinBox,
)

from ..core.coils import MC_B35_MAX_DIDT_A_PER_US
from ..core.conventions import DIDT_UNIT, format_didt, format_mso
from ..core.errors import RatTmsError
from ..core.fields import BEM_MODEL_KINDS
from ..core.neurons.map_settings import PULSES, ThresholdMapSettings
from ..core.neurons.placement_thresholds import (
    BALL_AND_STICK,
    UNIT_DIDT_A_PER_S,
    CellTypeThresholds,
    cell_types,
    morphology_files,
)
from ..viewer.layers import (ROLE_EFIELD, ROLE_EFIELD_DIRECTION, ROLE_KEY, ROLE_NEURON_SOMAS, ROLE_THRESHOLD_MAP,
                             put_above, show_colorbar)
from ._layers import layer_shift, layer_transform
from ._dock import ScrollingDock, enable_when_ready
from ._running import start_work
from ..viewer.shared_state import shared_state

__all__ = ["NeuronsWidget", "ROLE_THRESHOLD_MAP", "ROLE_NEURON_SOMAS", "BALL_AND_STICK", "default_cache_dir"]

#: viridis reversed (napari has no "viridis_r"): low thresholds (easily activated) bright yellow.
COLORMAP = "viridis_r"
#: The threshold map is drawn this far (mm) outside the cortex (the E-field map is at 0.05 mm).
LIFT_MM = 0.1
UNITS = (DIDT_UNIT, "% MSO")
#: The dock's defaults (one definition: core/neurons/map_settings.py).
_DEFAULT = ThresholdMapSettings()
#: Where the neurons go (ThresholdMapSettings.sites): the whole cortex, or the vertices where |E| is at
#: least ThresholdMapSettings.hotspot_fraction of its maximum.
SITES = {"the whole cortex": "cortex",
         f"under the coil (|E| ≥ {100 * _DEFAULT.hotspot_fraction:g} % of its maximum)": "hotspot"}
WHERE = tuple(SITES)
#: How the thresholds are obtained (core/neurons/placement_thresholds.py, METHODS).
METHOD_CHOICES = {"NEURON (ground truth)": "neuron",
                  "uniform-field estimate (fast)": "uniform-field",
                  "CNN estimate (fast)": "cnn"}
#: The channel sets (core/neurons/cells.py): thresholds agree within 1 % for the shared cells.
CHANNELS = {"reduced (Na + Kv3.1; fast)": "reduced", "full (Hay et al. 2011)": "hay2011"}
ACTIVATED_COLOUR, NOT_ACTIVATED_COLOUR, NO_THRESHOLD_COLOUR = "red", "gray", "black"

_USER_ERRORS = (RatTmsError, ValueError, OSError)


def _colormap():
    from napari.utils.colormaps import Colormap, ensure_colormap

    viridis = ensure_colormap("viridis")
    return Colormap(np.asarray(viridis.colors)[::-1], name=COLORMAP, display_name="viridis (reversed)")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/napari-rat-tms/thresholds`` (default ``~/.cache/...``)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "napari-rat-tms" / "thresholds"


@dataclass(eq=False)
class _Job:
    """What one computation needs, gathered and checked in the viewer's thread."""

    cells: list             # CellType
    cortex: object          # TriangleSurface (metres, the cortex layer's data frame)
    ref: object             # the cortex layer
    conductor: object
    coil: object            # placed coil (model frame)
    vertices: np.ndarray
    azimuths: np.ndarray
    cache_dir: Path | None
    model: str              # the head model used (the settings' when built)
    settings: ThresholdMapSettings   # pulse, channels, method, processes


def _run_compute(job: _Job):
    """Worker generator: :func:`~napari_rat_tms.core.neurons.placement_thresholds.
    iter_placement_thresholds` for the job."""
    from ..core.neurons.placement_thresholds import iter_placement_thresholds

    return (yield from iter_placement_thresholds(
        job.conductor, job.coil, job.cortex, job.cells, job.vertices, azimuths_rad=job.azimuths,
        pulse=job.settings.pulse, processes=job.settings.processes, cache_dir=job.cache_dir, model=job.model,
        method=job.settings.method))


class NeuronsWidget(ScrollingDock):
    """The neuron-thresholds dock (module docstring).

    Public API (tests, scripts): :meth:`compute` (``blocking=True`` runs in the calling thread and
    returns the dict cell name -> :class:`CellTypeThresholds`), :meth:`cancel`,
    :meth:`activated_fraction`;
    :attr:`results` (cell name -> list of :class:`~napari_rat_tms.core.neurons.NeuronThreshold`),
    :attr:`cell_results` (cell name -> :class:`CellTypeThresholds`), :attr:`status` (Label),
    :attr:`cache_dir` (None: no cache).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = napari_viewer
        self._store = shared_state(napari_viewer)   # what the docks of this viewer share
        self._worker = None
        self._cancel_requested = False
        self._note = ""
        self.results: dict[str, list] = {}
        self.cell_results: dict[str, CellTypeThresholds] = {}
        self._failed: dict[str, str] = {}
        self._morphology_paths: list[Path] = []
        self._done_now: dict = {}
        self._notes: list[str] = []      # the last run's warnings, shown in its result
        self._hidden: list[str] = []     # layers hidden so that a new map shows (said in the status)
        self._pending: list[str] = []
        self._job = None
        self.cache_dir: Path | None = default_cache_dir()

        self.model_choice = ComboBox(label="head model", choices=self._model_choices)
        self.model_note = Label(value="BEM models only (1C, 2C, 2C*, 3C): the sphere model has no volume "
                                      "conductor to sample the field at the neurons.")
        self.ball_and_stick = CheckBox(text=f"{BALL_AND_STICK} (L5 depth; simplified, fast)",
                                       value=_DEFAULT.ball_and_stick)
        self.folder = LineEdit(label="morphology folder", value="")
        self.browse_button = PushButton(text="Choose folder…")
        self.morphology_boxes = Container(labels=False)
        self.n_neurons = SpinBox(label="neurons per cell type", value=_DEFAULT.n_neurons, min=1, max=5000)
        self.where = ComboBox(label="neurons on", choices=list(WHERE),
                              value=next(k for k, v in SITES.items() if v == _DEFAULT.sites))
        self.pulse = ComboBox(label="pulse", choices=list(PULSES), value=_DEFAULT.pulse)
        self.channels = ComboBox(label="ion channels", choices=list(CHANNELS),
                                 value=next(k for k, v in CHANNELS.items() if v == _DEFAULT.channels))
        self.method = ComboBox(label="thresholds by", choices=list(METHOD_CHOICES),
                               value=next(k for k, v in METHOD_CHOICES.items() if v == _DEFAULT.method))
        self.use_dask = CheckBox(text="use Dask (LocalCluster of worker processes)", value=_DEFAULT.processes)
        self.compute_button = PushButton(text="Compute thresholds")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(min=0, max=100, value=0, label="progress")
        self.units = ComboBox(label="map units", choices=list(UNITS), value=UNITS[0])
        self.mso = FloatSpinBox(label="stimulator output (% MSO)", value=50.0, min=0.0, max=1.0e5, step=5.0)
        self.mso_note = Label(value=f"100 % MSO = {MC_B35_MAX_DIDT_A_PER_US:g} A/µs, the MC-B35 preset's "
                                    "maximum dI/dt (MagPro X100), whatever the coil.")
        self.activated = Label(value="")
        self.status = Label(value="")
        for label in (self.model_note, self.mso_note, self.activated, self.status):
            label.native.setWordWrap(True)
        self.folder.tooltip = ("A folder of .asc/.swc morphologies (e.g. ../shared/data/neurons): one cell "
                               "type each.")
        self.n_neurons.tooltip = ("Cortex vertices spread evenly (farthest-point sampling), one neuron per "
                                  "vertex and cell type; the map gives every vertex its nearest neuron's "
                                  "threshold.")
        self.where.tooltip = ("Under the coil: the neurons spread over the vertices where |E| is at least "
                              "half its maximum for the current placement (the lowest thresholds).")
        self.channels.tooltip = ("Reduced: transient Na+ and Kv3.1 in soma and axon, passive dendrites. "
                                 "Full: the 12 mechanisms of Hay et al. 2011 with Markram et al. 2015's L5 "
                                 "densities (slower; thresholds within 1 % for the shared cells).")
        self.method.tooltip = ("NEURON: every neuron simulated (seconds each). Uniform-field estimate: "
                               "each cell type's threshold-direction map (computed once with NEURON, cached) "
                               "applied to the field at the soma. CNN: the shipped networks on the local "
                               "field; cell types without one use the uniform-field estimate.")
        self.use_dask.tooltip = "Off: the neurons one after the other in napari's process (fine for small N)."

        self.extend([self.model_choice, self.model_note, self.ball_and_stick, self.folder, self.browse_button,
                     self.morphology_boxes, self.n_neurons, self.where, self.pulse, self.channels,
                     self.method, self.use_dask, self.compute_button, self.cancel_button, self.progress,
                     self.units, self.mso, self.mso_note, self.activated, self.status])

        self.compute_button.changed.connect(lambda *_: self.compute())
        self.cancel_button.changed.connect(self.cancel)
        self.browse_button.changed.connect(self._browse)
        self.folder.changed.connect(self._refresh_morphologies)
        self.mso.changed.connect(self._update_activation)
        self.units.changed.connect(self._redraw_maps)
        self._store.models_changed.connect(self._on_store_changed)
        self._store.coil_changed.connect(self._update_buttons)
        self._update_buttons()

    # --- choices ------------------------------------------------------------------------------
    def _model_choices(self, *_):
        return list(self._store.ordered())

    def _on_store_changed(self):
        self.model_choice.reset_choices()
        self._update_buttons()

    def _update_buttons(self, *_):
        """Compute is enabled only with a BEM model built and a coil placed, and no run going on
        (the tooltip says what is missing; the other checks are said in the status on a press)."""
        models = self._store.ordered()
        state = self._store.coil
        if not any(kind in BEM_MODEL_KINDS for kind in models):
            missing = "no BEM head model built: build 1C, 2C, 2C* or 3C with the E-field dock."
        elif state is None or state.placement is None:
            missing = "no coil placed: place it with the Coil placement dock."
        else:
            missing = None
        enable_when_ready(self.compute_button, missing, "Compute the thresholds of the chosen cell types for "
                          "the placed coil, in the background.", busy=self.cancel_button.enabled)

    def _morphology_files(self) -> list[Path]:
        text = str(self.folder.value).strip()
        return morphology_files(text) if text else []

    def _refresh_morphologies(self, *_):
        self.morphology_boxes.clear()
        self._morphology_paths = []
        for path in self._morphology_files():
            (cell,) = cell_types([path], ball_and_stick=False)
            text = (f"{path.stem} ({cell.layer})" if cell.layer_known
                    else f"{path.stem} (layer unknown: L5 depth)")
            box = CheckBox(value=True)
            box.text = text        # after creation: magicgui turns "_" into spaces in the text argument
            self._morphology_paths.append(path)
            self.morphology_boxes.append(box)

    def _browse(self, *_):
        from qtpy.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(self.native, "Folder of .asc/.swc morphologies")
        if folder:
            self.folder.value = folder

    def settings(self) -> ThresholdMapSettings | str:
        """The dock's choices as one :class:`~napari_rat_tms.core.neurons.map_settings.ThresholdMapSettings`,
        or the reason they cannot be used (a folder without morphologies, no cell type)."""
        chosen = []
        text = str(self.folder.value).strip()
        if text:
            folder = Path(text).expanduser()
            if not folder.is_dir():
                return f"The morphology folder {folder} does not exist."
            files = self._morphology_files()
            if not files:
                return f"The morphology folder {folder} has no .asc or .swc file."
            if self._morphology_paths != files:
                self._refresh_morphologies()
            chosen = [path for box, path in zip(self.morphology_boxes, self._morphology_paths) if box.value]
        models = self._store.ordered()
        picked = self.model_choice.value
        model = picked if picked in models else next(iter(models), _DEFAULT.model)
        if model not in BEM_MODEL_KINDS:
            return (f"The {model} model has no volume conductor, so the field cannot be sampled at the "
                    "neurons' compartments: choose a BEM model (1C, 2C, 2C* or 3C).")
        try:
            return ThresholdMapSettings(
                model=model, ball_and_stick=bool(self.ball_and_stick.value), morphologies=tuple(chosen),
                n_neurons=int(self.n_neurons.value), sites=SITES[self.where.value], pulse=str(self.pulse.value),
                channels=CHANNELS[self.channels.value], method=METHOD_CHOICES[self.method.value],
                processes=bool(self.use_dask.value))
        except ValueError as err:
            if not self.ball_and_stick.value and not chosen:
                return "No cell type is chosen: tick the ball-and-stick cell or a morphology."
            return f"Cannot compute: {err}"

    def apply_settings(self, settings: ThresholdMapSettings) -> None:
        """Set the dock from ``settings`` (e.g. a threshold map layer's ``settings``): the head model
        is chosen when it is built, the morphologies' folder is their common folder."""
        if settings.model in self._store.models:
            self.model_choice.value = settings.model
        self.ball_and_stick.value = settings.ball_and_stick
        files = [Path(p) for p in settings.morphologies]
        self.folder.value = str(files[0].parent) if files and len({f.parent for f in files}) == 1 else ""
        self._refresh_morphologies()
        for box, path in zip(self.morphology_boxes, self._morphology_paths):
            box.value = str(path) in settings.morphologies
        self.n_neurons.value = settings.n_neurons
        self.where.value = next(label for label, key in SITES.items() if key == settings.sites)
        self.pulse.value = settings.pulse
        self.channels.value = next(label for label, key in CHANNELS.items() if key == settings.channels)
        self.method.value = next(label for label, key in METHOD_CHOICES.items() if key == settings.method)
        self.use_dask.value = settings.processes

    # --- computing ----------------------------------------------------------------------------
    def _set_status(self, text: str):
        self.status.value = text

    def _prepare(self) -> _Job | str:
        """The job, or the reason it cannot run."""
        store = self._store
        models = store.ordered()
        if not models:
            return "No head model built: build a BEM model (1C, 2C, 2C* or 3C) with the E-field dock first."
        settings = self.settings()
        if isinstance(settings, str):
            return settings
        kind = settings.model if settings.model in models else next(iter(models))
        model = models[kind]
        conductor = getattr(model.solver, "conductor", None)
        if kind == "sphere" or conductor is None:
            return (f"The {kind} model has no volume conductor, so the field cannot be sampled at the "
                    "neurons' compartments: choose a BEM model (1C, 2C, 2C* or 3C).")
        state = self._store.coil
        if state is None or state.placement is None:
            return "No coil placed: place the coil with the Coil placement dock first."
        cortex, ref = store.surfaces.get("cortex"), store.surface_layers.get("cortex")
        if cortex is None or ref is None or len(cortex.vertices_m) != len(model.points_m):
            return f"The {kind} model was built from another cortex than the one registered: build it again."
        try:
            cells = settings.cell_types()
        except _USER_ERRORS as err:
            return f"Cannot read the cell types: {err}"
        shift = layer_shift(state.layer, ref)
        if shift is None:
            return ("The coil layer and the cortex layer have different scales: place the coil on the same "
                    "scan.")
        p = state.placement.translated(shift)
        try:
            coil = p.place(store.coil_dipoles(state.coil_source))
        except (*_USER_ERRORS, TypeError, KeyError) as err:
            return f"Cannot load the coil {state.coil_source!r}: {err}"
        efield = model.efield(coil, UNIT_DIDT_A_PER_S) if settings.sites == "hotspot" else None
        vertices, azimuths = settings.neuron_sites(cortex, efield)
        return _Job(cells, cortex, ref, conductor, coil, vertices, azimuths, self.cache_dir, kind, settings)

    def compute(self, blocking: bool = False):
        """Compute the thresholds of the chosen cell types for the current coil placement.

        ``blocking=False``: in a napari worker (returns it); ``blocking=True``: in the calling thread,
        returns the dict cell name -> :class:`CellTypeThresholds` of this run. None when nothing can
        run (the reason is in the status). Errors never raise: they go to the status."""
        if self._worker is not None:
            self._set_status("A computation is going on: wait for it or cancel it.")
            return None
        job = self._prepare()
        if isinstance(job, str):
            self._set_status(job)
            return None
        self._job = job
        self._cancel_requested = False
        self._done_now: dict[str, CellTypeThresholds] = {}
        self._failed = {}
        self._pending = [cell.name for cell in job.cells]
        self.progress.value = 0
        self._set_status(f"Computing {', '.join(self._pending)} with the {job.model} model "
                         f"({len(job.vertices)} neurons each)...")
        self.compute_button.enabled, self.cancel_button.enabled = False, True
        self._notes = []
        self._hidden = []
        worker = start_work(_run_compute(job), blocking=blocking, on_progress=self._on_yield,
                            activity="Neuron thresholds",
                            on_outcome=self._on_outcome, on_error=self._on_error,
                            on_finished=self._on_finished, cancel_requested=lambda: self._cancel_requested)
        if blocking:
            return dict(self._done_now)
        self._worker = worker
        return worker

    def cancel(self, *_):
        """Stop after the current step; the cell types already finished are kept (the finished
        neurons of the current one are in the cache: a rerun resumes)."""
        if self._worker is not None or self.cancel_button.enabled:
            self._cancel_requested = True
            self._set_status("Cancelling after the current step...")
            if self._worker is not None:
                self._worker.quit()

    def _on_yield(self, item):
        what = item[0]
        if what == "progress":
            _, fraction, message = item
            self.progress.value = round(100 * min(max(fraction, 0.0), 1.0))
            self._set_status(message)
        elif what == "cell":
            result = item[1]
            self._pending.remove(result.name)
            self._done_now[result.name] = result
            self.cell_results[result.name] = result
            self.results[result.name] = list(result.results)
            try:
                self._draw(result)
            except Exception as err:   # a drawing problem must not lose the results
                self._failed[result.name] = (f"computed, but its layers cannot be drawn: "
                                             f"{type(err).__name__}: {err}")
        elif what == "failed":
            _, name, message = item
            self._pending.remove(name)
            self._failed[name] = message

    def _summary(self, cancelled: bool) -> str:
        parts = []
        for name, result in self._done_now.items():
            parts.append(self._describe(result))
        if cancelled:
            parts.append("Cancelled" + (f": {', '.join(self._pending)} not finished (their finished neurons "
                                        "are cached: compute again to resume)." if self._pending else "."))
        for name, why in self._failed.items():
            parts.append(f"{name}: {why}." if why.startswith("computed") else
                         f"{name}: no thresholds: {why}.")
        if not self._done_now and not cancelled and not self._failed:
            parts.append("Nothing was computed.")
        parts += [f"Note: {note}" for note in self._notes]
        return "\n".join(parts)

    def _describe(self, result: CellTypeThresholds) -> str:
        thresholds = result.thresholds_a_per_us
        ok = np.isfinite(thresholds)
        statuses = [r.status for r in result.results]
        counts = {s: statuses.count(s) for s in dict.fromkeys(statuses) if s != "ok"}
        how = "" if result.method == "neuron" else f", {result.method} estimate{result.note}"
        text = (f"{result.name} ({result.model}, {result.pulse}{how}): {int(ok.sum())}/{len(statuses)} "
                "neurons")
        if ok.any():
            low, mid = float(thresholds[ok].min()), float(np.median(thresholds[ok]))
            mso = 100.0 / MC_B35_MAX_DIDT_A_PER_US
            text += (f" with a threshold, lowest {format_didt(low)} ({format_mso(low * mso)}), median "
                     f"{format_didt(mid)} ({format_mso(mid * mso)})")
            if low * mso > 100:
                text += "; every threshold is above the stimulator's maximum output"
        else:
            text += " with a threshold"
        if counts:
            text += "; " + ", ".join(f"{n} {s}" for s, n in counts.items())
        if result.dropped:
            text += f"; {result.dropped} somas outside the head left out"
        if statuses and counts.get("outside field", 0) == len(statuses):
            text += (". Every neuron lies partly outside the field's domain: choose other vertices or a "
                     "head model that contains them")
        elif (~ok).any():
            text += (". Vertices nearest to a neuron without a threshold are drawn at the top of the colour "
                     "range")
        return text + "."

    def _on_outcome(self, outcome):
        if outcome.error is not None:
            return self._on_error(outcome.error)
        self._notes = list(outcome.notes)
        if not outcome.cancelled:
            self.progress.value = 100
        hidden = (f" Hidden so that the threshold map shows: {', '.join(self._hidden)} (tick them in the layer "
                  "list to show them again)." if self._hidden else "")
        self._set_status(self._summary(outcome.cancelled) + hidden)
        self._update_activation()

    def _on_error(self, err):
        self.progress.value = 0
        kept = f" Kept: {', '.join(self._done_now)}." if self._done_now else ""
        self._set_status(f"The computation stopped with an error: {type(err).__name__}: {err}.{kept}")

    def _on_finished(self):
        self._worker = None
        self.cancel_button.enabled = False
        self._update_buttons()

    # --- activation ---------------------------------------------------------------------------
    def activated_fraction(self, cell: str, percent: float) -> float | None:
        """Fraction of the computed neurons of ``cell`` activated at ``percent`` % MSO: threshold at most
        ``percent`` % of :data:`MC_B35_MAX_DIDT_A_PER_US`. Counted: neurons with a threshold or not
        bracketed (no threshold in the search range); those outside the field or failed are not. None
        when there are none."""
        result = self.cell_results.get(cell)
        if result is None:
            return None
        return result.activated_fraction(float(percent) / 100.0 * MC_B35_MAX_DIDT_A_PER_US)

    def _update_activation(self, *_):
        percent = float(self.mso.value)
        lines = []
        for name, result in self.cell_results.items():
            fraction = self.activated_fraction(name, percent)
            lines.append(f"{name}: " + ("no neuron with a known outcome" if fraction is None else
                                        f"{100 * fraction:.0f} % of the neurons activated"))
            layer = self._layer(ROLE_NEURON_SOMAS, name)
            if layer is not None and len(layer.data):
                layer.face_color = self._colours(result, percent)
        didt = percent / 100 * MC_B35_MAX_DIDT_A_PER_US
        self.activated.value = (f"At {format_mso(percent)} ({format_didt(didt)}): "
                                + "; ".join(lines)) if lines else ""

    @staticmethod
    def _colours(result: CellTypeThresholds, percent: float) -> list[str]:
        limit = percent / 100.0 * MC_B35_MAX_DIDT_A_PER_US
        return [NO_THRESHOLD_COLOUR if not np.isfinite(t) else
                ACTIVATED_COLOUR if t <= limit else NOT_ACTIVATED_COLOUR for t in result.thresholds_a_per_us]

    # --- drawing ------------------------------------------------------------------------------
    def _layer(self, role, cell):
        for layer in self._viewer.layers:
            if layer.metadata.get(ROLE_KEY) == role and layer.metadata.get("cell") == cell:
                return layer
        return None

    def _map_values(self, result: CellTypeThresholds, cortex) -> tuple[np.ndarray, float, int]:
        """Per cortex vertex: the nearest computed neuron's threshold in the chosen units, missing ones
        at the top of the range; (values, top, number of vertices without a threshold)."""
        values = result.threshold_map(cortex, self.units.value)
        finite = np.isfinite(values)
        top = float(values[finite].max()) if finite.any() else 1.0   # few neurons: their whole range
        values = np.where(finite, values, top)
        return values, top, int((~finite).sum())

    def _hide_what_covers_the_map(self):
        """A new threshold map lies on the cortex like |E| and the other maps: those shown are hidden
        so that the new one is what one sees (said in the status; tick them to show them again)."""
        covering = (ROLE_EFIELD, ROLE_EFIELD_DIRECTION, ROLE_THRESHOLD_MAP)
        for layer in self._viewer.layers:
            if layer.metadata.get(ROLE_KEY) in covering and layer.visible:
                layer.visible = False
                self._hidden.append(layer.name)

    def _redraw_maps(self, *_):
        for result in self.cell_results.values():
            if self._layer(ROLE_THRESHOLD_MAP, result.name) is not None:
                self._draw(result)

    def _draw(self, result: CellTypeThresholds):
        job = self._job
        cortex, ref = job.cortex, job.ref
        scale, translate = layer_transform(ref)
        transform = {"scale": tuple(scale), "translate": tuple(translate)}
        units = str(self.units.value)
        values, top, missing = self._map_values(result, cortex)
        lifted = cortex.vertices_m * 1e3 + LIFT_MM * cortex.vertex_normals
        name = f"threshold {result.name} ({units})"
        meta = {ROLE_KEY: ROLE_THRESHOLD_MAP, "cell": result.name, "units": units, "model": result.model,
                "method": result.method,
                "pulse": result.pulse, "interpolation": "nearest computed neuron's vertex",
                "neuron_vertices": [int(p.vertex) for p in result.placements],
                "settings": job.settings.to_dict(),
                "vertices_without_threshold": missing, "mso_reference_a_per_us": MC_B35_MAX_DIDT_A_PER_US}
        low = float(np.min(values))
        limits = (low, top) if top > low else (low, low + 1.0)
        layer = self._layer(ROLE_THRESHOLD_MAP, result.name)
        if layer is None:
            self._hide_what_covers_the_map()
            layer = self._viewer.add_surface((lifted, cortex.faces, values), name=name, colormap=_colormap(),
                                             contrast_limits=limits, shading="smooth", units="mm",
                                             metadata=meta, **transform)
            put_above(self._viewer, layer, ref)    # before the translucent scalp in the drawing order
            show_colorbar(layer)
        else:
            layer.data = (lifted, cortex.faces, values)
            layer.metadata.update(meta)
            layer.contrast_limits = limits
            layer.name = name
            for attr, value in transform.items():
                setattr(layer, attr, value)
        # the somas
        somas = np.array([p.soma_m for p in result.placements], dtype=float).reshape(-1, 3) * 1e3
        thresholds = result.thresholds_a_per_us
        features = {"threshold_a_per_us": thresholds,
                    "threshold_pct_mso": 100.0 * thresholds / MC_B35_MAX_DIDT_A_PER_US,
                    "status": [r.status for r in result.results]}
        colours = self._colours(result, float(self.mso.value))
        meta = {ROLE_KEY: ROLE_NEURON_SOMAS, "cell": result.name, "model": result.model,
                "pulse": result.pulse,
                "messages": [r.message for r in result.results]}
        layer = self._layer(ROLE_NEURON_SOMAS, result.name)
        if layer is not None:
            self._viewer.layers.remove(layer)   # the number of points may change: a new layer
        # drawn without depth test: the somas lie under the cortex surface and its maps, and must show
        self._viewer.add_points(somas, name=f"neurons {result.name}", size=0.5, face_color=colours,
                                border_color="white", features=features, units="mm", metadata=meta,
                                blending="translucent_no_depth",
                                **transform)
