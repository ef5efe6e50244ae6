"""Widget: compare the head models over the placement grid (Plugins > Rat TMS > Model study).

This is seed 003's model comparison (Koponen et al., seed 003 of this project, "Results": 35 coil
positions over a 15 mm x 10 mm region of the scalp x 18 orientations 10 deg apart = 630 placements,
every model against the reference 3C) run on the models built in this viewer:

1. Build the models in the E-field dock (they are shared through
   :func:`~napari_rat_tms.viewer.shared_state.shared_state`) and place the coil in the Coil placement dock (its coil, its
   stereotaxic frame and, by default, its dI/dt are used; its gap is not: the study puts the coil
   on the scalp, as the seed did).
2. Choose the grid (centre in mm from bregma, default: on the midline a quarter of the way from
   bregma to lambda; extent and number of points along AP and ML; orientation step) and the
   models (the first one checked, in the seed's order 3C, 2C, 2C*, 1C, sphere, is the reference).
3. "Run study": the placements are computed in a worker, one grid position (all its orientations)
   at a time, with a progress bar. "Cancel" stops after the current position and KEEPS what was
   computed: such a result is labelled "PARTIAL: cancelled after k of N placements" in the status,
   in the plots (red banner / title), in ``summary.json`` and ``README.txt``, and its CSV holds
   only the placements computed.

Outputs (the "Model study plots" dock, and "Save results…" into a folder):

* Fig. 2 (``figure2_orientation``): per model, against the coil orientation, the direction of the
  field at its maximum relative to the coil's current (projected on the coil's plane) and the peak
  |E| at the study's dI/dt, median over the grid positions with percentile bands (seed Fig. 2);
* Fig. 3 (``figure3_maxima``): mean distance (mm) between the field maxima of every pair of models
  and the line-navigation target (seed Fig. 3);
* Fig. 4 (``figure4_fields``): |E| of each model and |E - E_ref| for one placement (the grid point
  nearest the centre, 0 deg), on the dorsal cortex seen from above (seed Fig. 4); a cancelled run
  has it only when that placement was computed;
* the summary table: per model, mean ± SD over the placements of the relative error RE and the
  correlation error CCE (%, against the reference), the mean angle error (deg), the mean distance
  between its maximum and the reference's (mm) and the median peak |E| (V/m); with the seed's
  findings checked on this anatomy (:func:`..core.study.report.seed_findings`);
* ``study.csv``: one row per model and computed placement (units in the column names);
  ``summary.json``: status, models, grid, dI/dt, the summary and the findings;
  ``figure*.png`` and ``.svg``; ``README.txt``: what the files are, and the status.

Tests and scripts use :meth:`StudyWidget.run_study`, :meth:`~StudyWidget.cancel`,
:attr:`~StudyWidget.result` (a :class:`..core.study.StudyResult` or None),
:attr:`~StudyWidget.figures` (name -> matplotlib Figure), :meth:`~StudyWidget.save_results` and
:attr:`~StudyWidget.status`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import CheckBox, FloatSpinBox, Label, ProgressBar, PushButton, SpinBox
from psygnal import Signal

from ..core.errors import RatTmsError
from ..core.fields import MODEL_KINDS
from ..core.project import project_study_settings
from ..core.study import StudyResult, StudyRun
from ..core.study.settings import StudySettings
from ..core.study.results_folder import (
    SUMMARY_COLUMNS,
    summary_table_rows,
    existing_study_outputs,
    study_output_files,
    write_study_results,
)
from ..viewer.shared_state import shared_state
from ._dock import ScrollingDock, enable_when_ready
from ._running import start_work

__all__ = ["StudyWidget", "StudyPlots", "FIGURE_NAMES", "OUTPUT_FILES", "SUMMARY_COLUMNS"]

_USER_ERRORS = (RatTmsError, ValueError, OSError)
#: name -> tab title of the figures (the names are also the saved files' names).
FIGURE_NAMES = {"figure2_orientation": "Fig. 2: orientation",
                "figure3_maxima": "Fig. 3: distances between maxima",
                "figure4_fields": "Fig. 4: fields"}
#: Files written by :meth:`StudyWidget.save_results` (figures as PNG and SVG).
OUTPUT_FILES = study_output_files()
#: The dock's defaults: seed 003's study (one definition, core/study/settings.py).
_DEFAULT = StudySettings()
_SEED_ORIENTATION_STEP = float(_DEFAULT.orientations_deg[1] - _DEFAULT.orientations_deg[0])


def _even_orientations(step_deg: float) -> np.ndarray:
    """The dock's orientations: 0 up to (not including) 180 deg, ``step_deg`` apart (a figure-of-eight
    turned by 180 deg gives the same field reversed)."""
    return np.arange(0.0, 180.0 - 1e-9, step_deg)


class StudyPlots:
    """The "Model study plots" dock: the figures in tabs, the summary table and the seed's findings."""

    def __init__(self):
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import (
            QLabel,
            QPlainTextEdit,
            QSplitter,
            QTableWidget,
            QTabWidget,
            QVBoxLayout,
            QWidget,
        )

        self.native = QWidget()
        self.native.setObjectName("Model study plots")
        layout = QVBoxLayout(self.native)
        layout.setContentsMargins(2, 2, 2, 2)
        self.header = QLabel("No study yet: run it in the Model study dock.")
        self.header.setWordWrap(True)
        self.tabs = QTabWidget()
        layout.addWidget(self.header)
        layout.addWidget(self.tabs)
        self.table = QTableWidget(0, len(SUMMARY_COLUMNS))
        self.table.setHorizontalHeaderLabels([title for title, _ in SUMMARY_COLUMNS])
        for k, (_, tip) in enumerate(SUMMARY_COLUMNS):
            self.table.horizontalHeaderItem(k).setToolTip(tip)
        self.findings = QPlainTextEdit()
        self.findings.setReadOnly(True)
        summary = QSplitter(Qt.Orientation.Vertical)
        summary.addWidget(self.table)
        summary.addWidget(self.findings)
        self.summary_page = summary
        self.tabs.addTab(summary, "Summary")
        self.canvases: dict = {}
        self._figure_tabs: dict = {}

    def table_text(self) -> list[list[str]]:
        """The table as text: one list per row, the model's name first."""
        out = []
        for i in range(self.table.rowCount()):
            head = self.table.verticalHeaderItem(i)
            cells = [self.table.item(i, j).text() if self.table.item(i, j) else ""
                     for j in range(self.table.columnCount())]
            out.append([head.text() if head else "", *cells])
        return out

    def show_result(self, result: StudyResult, figures: dict, findings_text: str, notes: dict) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
        from qtpy.QtWidgets import QLabel, QScrollArea, QTableWidgetItem, QVBoxLayout, QWidget

        partial = "" if result.is_complete else " (PARTIAL)"
        what = (f"Study complete: {result.n_completed} placements" if result.is_complete
                else f"Study {result.status}")
        self.header.setText(
            f"{what}; models {', '.join(result.models)} (reference {result.reference}); dI/dt "
            f"{result.didt_a_per_us:g} A/µs."
            + ("" if result.is_complete else " The numbers cover only the placements computed."))
        self.header.setStyleSheet("" if result.is_complete else "color: red; font-weight: bold")
        rows = summary_table_rows(result)
        self.table.setRowCount(len(rows))
        self.table.setVerticalHeaderLabels([name for name, _ in rows])
        for i, (_, cells) in enumerate(rows):
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.findings.setPlainText(findings_text)
        self.tabs.setTabText(self.tabs.indexOf(self.summary_page), "Summary" + partial)

        # figures: new canvases (a Figure belongs to one canvas), in the order of FIGURE_NAMES
        for name in FIGURE_NAMES:
            old = self._figure_tabs.pop(name, None)
            if old is not None:
                self.tabs.removeTab(self.tabs.indexOf(old))
                old.deleteLater()
        self.canvases = {}
        for k, (name, title) in enumerate(FIGURE_NAMES.items()):
            page = QWidget()
            box = QVBoxLayout(page)
            box.setContentsMargins(0, 0, 0, 0)
            fig = figures.get(name)
            if fig is None:
                note = QLabel(notes.get(name, "Not drawn."))
                note.setWordWrap(True)
                box.addWidget(note)
            else:
                canvas = FigureCanvasQTAgg(fig)
                width, height = fig.get_size_inches()
                canvas.setMinimumSize(int(60 * width), int(60 * height))
                scroll = QScrollArea()
                scroll.setWidgetResizable(True)
                scroll.setWidget(canvas)
                box.addWidget(NavigationToolbar2QT(canvas, page))
                box.addWidget(scroll)
                canvas.draw_idle()
                self.canvases[name] = canvas
            self.tabs.insertTab(k, page, title + partial)
            self._figure_tabs[name] = page
        self.tabs.setCurrentIndex(0)


class StudyWidget(ScrollingDock):
    """The model-study dock widget (see the module docstring)."""

    #: Emitted with ``(fraction, message)`` after each grid position (in the GUI thread).
    progressed = Signal(float, str)
    #: Emitted with the :class:`StudyResult` (complete or partial) or None when a run ends.
    study_finished = Signal(object)

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = napari_viewer
        self.result: StudyResult | None = None
        self.figures: dict = {}
        self.findings: list[dict] = []
        self.plots: StudyPlots | None = None
        self._plots_dock = None
        self._worker = None
        self._run: StudyRun | None = None
        self._steps = None
        self._cancel_requested = False
        self._error: Exception | None = None
        self._notes: list[str] = []          # the run's warnings, shown with its result
        self._finished_result: StudyResult | None = None
        self._pending_settings: StudySettings | None = None
        self._adopted_projects: set[str] = set()   # project folders whose study settings were taken
        self.result_settings: StudySettings | None = None   # what :attr:`result` ran with

        # models
        self.models_label = Label(value="")
        self.model_boxes = {kind: CheckBox(text=f"{kind} ({model.description})", value=True, enabled=False)
                            for kind, model in MODEL_KINDS.items()}
        # grid
        self.default_centre = CheckBox(text="grid centre: midline, a quarter of bregma → lambda",
                                       value=True)
        self.centre_ap = FloatSpinBox(label="grid centre AP (mm)", value=0.0, min=-100.0, max=100.0, step=0.5,
                                      enabled=False)
        self.centre_ml = FloatSpinBox(label="grid centre ML (mm)", value=0.0, min=-100.0, max=100.0, step=0.5,
                                      enabled=False)
        self.extent_ap = FloatSpinBox(label="grid extent AP (mm)", value=_DEFAULT.grid_extent_mm[0], min=0.0,
                                      max=100.0, step=0.5)
        self.extent_ml = FloatSpinBox(label="grid extent ML (mm)", value=_DEFAULT.grid_extent_mm[1], min=0.0,
                                      max=100.0, step=0.5)
        self.points_ap = SpinBox(label="points along AP", value=_DEFAULT.grid_shape[0], min=1, max=50)
        self.points_ml = SpinBox(label="points along ML", value=_DEFAULT.grid_shape[1], min=1, max=50)
        self.orientation_step = FloatSpinBox(label="orientation step (°)", value=_SEED_ORIENTATION_STEP,
                                             min=1.0, max=180.0, step=5.0)
        self.grid_label = Label(value="")
        # dI/dt
        self.didt_from_coil = CheckBox(text="dI/dt of the coil placement", value=True)
        self.didt = FloatSpinBox(label="dI/dt (A/µs)", value=_DEFAULT.didt_a_per_us, min=0.1, max=1000.0,
                                 step=1.0, enabled=False)
        # run
        self.run_button = PushButton(text="Run study")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(min=0, max=100, value=0, label="progress")
        self.save_button = PushButton(text="Save results…", enabled=False)
        self.status = Label(value="")
        for label in (self.models_label, self.grid_label, self.status):
            label.native.setWordWrap(True)
        self.default_centre.tooltip = ("Seed 003 does not give its grid's centre; the default covers the "
                                       "dorsal cortex. Uncheck to set AP/ML (mm from bregma, right = +ML).")
        self.orientation_step.tooltip = ("Orientations from 0 (current PA) up to 180 deg; a figure-of-eight "
                                         "turned by 180 deg gives the same field reversed. Seed: 10 deg.")
        self.didt.tooltip = "Rate of change of the coil current; the seed used 50 A/µs."

        self.extend([self.models_label, *self.model_boxes.values(),
                     self.default_centre, self.centre_ap, self.centre_ml, self.extent_ap, self.extent_ml,
                     self.points_ap, self.points_ml, self.orientation_step, self.grid_label,
                     self.didt_from_coil, self.didt,
                     self.run_button, self.cancel_button, self.progress, self.save_button, self.status])

        self.default_centre.changed.connect(self._on_centre_mode)
        for w in (self.points_ap, self.points_ml, self.orientation_step):
            w.changed.connect(self._update_grid_label)
        self.didt_from_coil.changed.connect(self._on_didt_mode)
        for box in self.model_boxes.values():   # the label names the reference: the first checked
            box.changed.connect(self._refresh_models)
        self.run_button.changed.connect(lambda *_: self.run_study())
        self.cancel_button.changed.connect(lambda *_: self.cancel())
        self.save_button.changed.connect(self._save_dialog)
        self._store = shared_state(napari_viewer)
        self._store.models_changed.connect(self._refresh_models)
        self._store.coil_changed.connect(self._refresh_coil)
        napari_viewer.layers.events.inserted.connect(self._adopt_project_settings)
        self.native.destroyed.connect(self._disconnecter())

        self._refresh_models()
        self._refresh_coil()
        self._update_grid_label()

    def _disconnecter(self):
        """A callback for when the dock is closed: stop following the shared state. It holds what
        it needs (by the time Qt calls it, this object's attributes may be gone)."""
        store, refresh_models, refresh_coil = self._store, self._refresh_models, self._refresh_coil
        layers, adopt = self._viewer.layers, self._adopt_project_settings

        def disconnect(*_):
            layers.events.inserted.disconnect(adopt)
            store.models_changed.disconnect(refresh_models, missing_ok=True)
            store.coil_changed.disconnect(refresh_coil, missing_ok=True)

        return disconnect

    # --- inputs -------------------------------------------------------------------------------
    def orientations_deg(self) -> np.ndarray:
        """The orientations tried at each position: 0 up to (not including) 180 deg."""
        return _even_orientations(float(self.orientation_step.value))

    def settings(self) -> StudySettings:
        """The dock's study as one :class:`~napari_rat_tms.core.study.settings.StudySettings` (the
        job's object): the checked built models (the reference first), the placed coil (else the
        species' default), dI/dt, the grid and orientations. Raises
        :class:`~napari_rat_tms.core.study.settings.StudySettingsError` when no model is checked."""
        state = self._store.coil
        centre = None if self.default_centre.value else (float(self.centre_ap.value),
                                                         float(self.centre_ml.value))
        coil = state.coil_source if state is not None and state.coil_source else _DEFAULT.coil
        return StudySettings(models=tuple(self.selected_models()), coil=coil, didt_a_per_us=self.didt_a_per_us(),
                             grid_centre_ap_ml_mm=centre,
                             grid_extent_mm=(float(self.extent_ap.value), float(self.extent_ml.value)),
                             grid_shape=(int(self.points_ap.value), int(self.points_ml.value)),
                             orientations_deg=tuple(self.orientations_deg().tolist()))

    def apply_settings(self, settings: StudySettings) -> list[str]:
        """Set the dock from ``settings`` (a project's job or a saved study): grid, orientations,
        dI/dt (typed in, no longer the coil placement's when they differ) and the models checked
        among those built. Returns what could not be applied (the dock's models are always in the
        seed's order, its orientations an even step from 0, its coil the Coil placement dock's)."""
        left = []
        self.default_centre.value = settings.grid_centre_ap_ml_mm is None
        if settings.grid_centre_ap_ml_mm is not None:
            self.centre_ap.value, self.centre_ml.value = settings.grid_centre_ap_ml_mm
        self.extent_ap.value, self.extent_ml.value = settings.grid_extent_mm
        self.points_ap.value, self.points_ml.value = settings.grid_shape
        angles = np.asarray(settings.orientations_deg)
        step = float(angles[1] - angles[0]) if len(angles) > 1 else 180.0
        even = _even_orientations(step) if step > 0 else np.zeros(0)
        if angles.shape == even.shape and np.allclose(angles, even):
            self.orientation_step.value = step
        else:
            left.append(f"orientations {list(settings.orientations_deg)} (not an even step from 0)")
        state = self._store.coil
        placed = None if state is None or state.placement is None else state.placement.didt_a_per_us
        if placed is None or abs(placed - settings.didt_a_per_us) > 1e-9:
            self.didt_from_coil.value = False
            self.didt.value = settings.didt_a_per_us
        for kind, box in self.model_boxes.items():
            box.value = kind in settings.models
        if tuple(k for k in MODEL_KINDS if k in settings.models) != settings.models:
            left.append(f"the models' order {list(settings.models)} (the dock uses the seed's)")
        if state is not None and state.coil_source and state.coil_source != settings.coil:
            left.append(f"the coil {settings.coil!r} (the Coil placement dock's {state.coil_source!r} is used)")
        self._refresh_models()
        self._update_grid_label()
        return left

    def _adopt_project_settings(self, event=None):
        """A layer of a project folder came in: the first time, take the study settings its job ran
        with (so a rerun in the dock repeats the project's study)."""
        layer = getattr(event, "value", None)
        folder = None if layer is None else layer.metadata.get("project_folder")
        if not folder or folder in self._adopted_projects or self._run is not None:
            return
        self._adopted_projects.add(folder)
        settings = project_study_settings(folder)
        if settings is not None:
            left = self.apply_settings(settings)
            self.status.value = (f"Study settings of the project {Path(folder).name}: "
                                 f"{settings.grid_shape[0]} x {settings.grid_shape[1]} positions x "
                                 f"{len(settings.orientations_deg)} orientations, "
                                 f"{settings.didt_a_per_us:g} A/µs."
                                 + (" Not applied: " + "; ".join(left) + "." if left else ""))

    def selected_models(self) -> dict:
        """The built models checked in the dock, the reference first (the seed's order)."""
        return {kind: model for kind, model in self._store.ordered().items() if self.model_boxes[kind].value}

    def didt_a_per_us(self) -> float:
        """dI/dt of the study: the coil placement's (when followed and placed), else the spin box's."""
        if self.didt_from_coil.value:
            state = self._store.coil
            if state is not None and state.placement is not None:
                return float(state.placement.didt_a_per_us)
        return float(self.didt.value)

    def _on_centre_mode(self, *_):
        manual = not self.default_centre.value
        self.centre_ap.enabled = self.centre_ml.enabled = manual

    def _on_didt_mode(self, *_):
        self.didt.enabled = not self.didt_from_coil.value
        self._refresh_coil()

    def _update_grid_label(self, *_):
        n_o = len(self.orientations_deg())
        n_p = int(self.points_ap.value) * int(self.points_ml.value)
        self.grid_label.value = (f"Grid: {self.points_ap.value} x {self.points_ml.value} positions x {n_o} "
                                 f"orientations = {n_p * n_o} placements (seed: 7 x 5 x 18 = 630).")

    def _refresh_models(self, *_):
        if self._run is None and self.result is None:
            self.status.value = self._next_step() or "Ready: press 'Run study'."
        self._update_buttons()
        built = self._store.ordered()
        for kind, box in self.model_boxes.items():
            box.enabled = kind in built
            box.text = f"{kind} ({MODEL_KINDS[kind].description})" + ("" if kind in built else " - not built")
        if not built:
            self.models_label.value = ("Models: none built yet. Build the models in the E-field dock first "
                                       "(the seed compares 3C, 2C, 2C*, 1C and the sphere).")
            return
        missing = [kind for kind in MODEL_KINDS if kind not in built]
        text = f"Models built: {', '.join(built)}."
        if missing:
            text += f" Not built: {', '.join(missing)} (build them in the E-field dock to include them)."
        reference = next(iter(self.selected_models()), None)
        if reference is not None:
            text += f" Reference: {reference}"
            text += "." if reference == "3C" else " (the seed's reference is 3C)."
        self.models_label.value = text

    def _refresh_coil(self, *_):
        self._update_buttons()
        if self.didt_from_coil.value:
            state = self._store.coil
            if state is not None and state.placement is not None:
                self.didt.value = float(state.placement.didt_a_per_us)

    def _next_step(self) -> str:
        if not self._store.models:
            return "Build the models in the E-field dock first."
        state = self._store.coil
        if state is None or state.placement is None:
            return "Place the coil in the Coil placement dock."
        return ""

    def _update_buttons(self, *_):
        """Run is enabled only with models built and a coil placed (its placement gives the
        stereotaxic frame) and no run going on; Save only with a result. Tooltips say what is
        missing."""
        missing = self._next_step() or None
        enable_when_ready(self.run_button, missing and missing[0].lower() + missing[1:],
                          "Run the placement-grid comparison of the ticked models in the background.",
                          busy=self.cancel_button.enabled)
        enable_when_ready(self.save_button, None if self.result is not None else "no study run yet.",
                          "Save the table, summary and figures into a new folder.",
                          busy=self.cancel_button.enabled)

    # --- running ------------------------------------------------------------------------------
    def _refuse(self, why: str):
        self.status.value = f"Cannot run the study: {why} Nothing was started."
        return None

    def _prepare(self) -> StudyRun | None:
        """A :class:`StudyRun` for the dock's inputs, or None (the reason is in the status)."""
        store = self._store
        if not store.models:
            return self._refuse("no head model is built: build the models in the E-field dock first.")
        models = self.selected_models()
        if not models:
            return self._refuse("no model is checked: check the models to compare (the first is the "
                                "reference).")
        missing = [name for name in ("body", "cortex") if name not in store.surfaces]
        if missing:
            return self._refuse(f"the {' and '.join(missing)} surface(s) the models were built from are "
                                "missing: build the models again in the E-field dock.")
        state = self._store.coil
        if state is None or state.placement is None:
            return self._refuse("no coil is placed: place the coil in the Coil placement dock (the study "
                                "uses its coil, stereotaxic frame and dI/dt).")
        frame = state.frame if state.frame is not None else store.frame
        if frame is None:
            return self._refuse("no stereotaxic frame: set it in the Coil placement dock.")
        try:
            coil, _ = state.load_coil()
        except _USER_ERRORS as err:
            return self._refuse(f"cannot load the coil {state.coil_source!r}: {err}")
        scalp, cortex = store.surfaces["body"], store.surfaces["cortex"]
        try:
            settings = self.settings()
            run = StudyRun(models, settings.grid(scalp, frame), scalp, cortex, frame, coil,
                           didt_a_per_us=settings.didt_a_per_us)
        except _USER_ERRORS as err:
            return self._refuse(str(err))
        self._pending_settings = settings
        return run

    def run_study(self, blocking: bool = False):
        """Run the study on the checked models over the dock's grid.

        Returns the worker (``blocking=False``; the result arrives in :attr:`result` when it
        finishes), the :class:`StudyResult` (``blocking=True``: run in the calling thread, which
        :meth:`cancel` may stop from a :attr:`progressed` callback), or None when nothing was
        started (the status says why).
        """
        if self._worker is not None or self._run is not None:
            self.status.value = "A study is running: wait for it or cancel it."
            return None
        run = self._prepare()
        if run is None:
            return None
        self._run, self._steps = run, run.iter_run()
        self._cancel_requested, self._error, self._notes = False, None, []
        self.run_button.enabled, self.cancel_button.enabled, self.save_button.enabled = False, True, False
        self.progress.value = 0
        grid = run.grid
        self.status.value = (f"Running the study: {', '.join(run.names)} over {grid.n_positions} positions x "
                             f"{len(grid.orientations_deg)} orientations at {run.didt_a_per_us:g} A/µs…")
        # a user error goes to the status, a bug is raised again once the dock is usable (_on_finished)
        worker = start_work(self._steps, blocking=blocking, on_progress=self._on_progress, activity="Model study",
                            on_outcome=self._on_outcome, on_error=self._on_errored,
                            on_finished=self._on_finished, user_errors=_USER_ERRORS,
                            cancel_requested=lambda: self._cancel_requested)
        if blocking:
            return self._finished_result
        self._worker = worker
        return worker

    def cancel(self, *_):
        """Stop the running study after the current grid position; what was computed is kept."""
        if self._run is None:
            return
        self._cancel_requested = True
        self.status.value = "Cancelling after the current grid position (the positions done are kept)…"
        if self._worker is not None:
            self._worker.quit()

    def _on_progress(self, item):
        fraction, message = item
        run = self._run
        if run is None:
            return
        n_o = len(run.grid.orientations_deg)
        done = int(round(fraction * run.grid.n_placements))
        self.progress.value = round(100 * fraction)
        if not self._cancel_requested:
            self.status.value = (f"Study: position {done // n_o} of {run.grid.n_positions} done "
                                 f"({message}).")
        self.progressed.emit(float(fraction), str(message))

    def _on_outcome(self, outcome):
        self._error = outcome.error
        self._notes = list(outcome.notes)

    def _on_errored(self, err):
        self._error = err

    def _on_finished(self) -> StudyResult | None:
        """The run stopped (done, cancelled or failed): show what it computed; returns that (also
        in ``_finished_result``, what the blocking :meth:`run_study` returns)."""
        self._finished_result = None
        self._finished_result = self._show_finished()
        return self._finished_result

    def _show_finished(self) -> StudyResult | None:
        run, steps, error = self._run, self._steps, self._error
        self._worker = None
        self.cancel_button.enabled = False
        if steps is not None:
            try:
                steps.close()        # stops the run's clock
            except ValueError:       # still executing (cannot happen once the worker has stopped)
                pass
        self._run = self._steps = None
        result = run.result() if run is not None else None
        self._update_buttons()
        if error is not None and not isinstance(error, _USER_ERRORS):
            self.progress.value = 0
            self.status.value = f"The study failed: {type(error).__name__}: {error}"
            self.study_finished.emit(None)
            raise error       # a bug: the dock is usable again, and the error is seen
        if error is not None:
            self.progress.value = 0
            self.status.value = (f"The study failed: {error}" + (" The previous result is still shown."
                                                               if self.result is not None else ""))
            self.study_finished.emit(None)
            return None
        if result is None or result.n_completed == 0:
            self.progress.value = 0
            self.status.value = ("Cancelled before the first grid position was done: nothing to show"
                                 + (" (the previous result is still shown)." if self.result is not None
                                    else "."))
            self.study_finished.emit(None)
            return None
        self._show_result(result)
        if self._notes:
            self.status.value += "".join(f"\nNote: {note}" for note in self._notes)
        self.study_finished.emit(result)
        return result

    # --- results ------------------------------------------------------------------------------
    def _make_figures(self, result: StudyResult) -> tuple[dict, dict]:
        from ..core.study.figures import figure_fields, figure_maxima_distances, figure_orientation

        figures, notes = {}, {}
        cortex = self._store.surfaces.get("cortex")
        makers = {"figure2_orientation": figure_orientation, "figure3_maxima": figure_maxima_distances,
                  "figure4_fields": lambda r: figure_fields(r, None if cortex is None else cortex.faces)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN bands of a partial study
            for name, make in makers.items():
                if name == "figure4_fields" and not result.example:
                    notes[name] = ("Fig. 4 shows the placement at the grid's centre, 0 deg, which was not "
                                   f"computed before the study was cancelled ({result.status}).")
                    continue
                try:
                    figures[name] = make(result)
                except (ValueError, IndexError) as err:
                    notes[name] = f"Cannot draw {FIGURE_NAMES[name]}: {err}"
        return figures, notes

    def _findings_text(self, result: StudyResult) -> str:
        from ..core.study.report import seed_findings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                self.findings = seed_findings(result, self._store.surfaces)
        except (ValueError, IndexError, KeyError) as err:
            self.findings = []
            return f"Seed 003's findings could not be checked: {err}"
        lines = [f"Seed 003's findings on this anatomy ({result.status}; reference {result.reference}):", ""]
        for f in self.findings:
            verdict = "holds" if f["holds"] else "does NOT hold here"
            lines.append(f"- {f['finding']}: {verdict}.\n  Measured: {f['measured']}.\n  Seed: {f['seed']}.")
        return "\n".join(lines)

    def _ensure_plots(self) -> StudyPlots:
        plots = self.plots
        if plots is not None:
            try:
                plots.native.objectName()      # RuntimeError once Qt deleted it (dock closed)
            except RuntimeError:
                plots = self._plots_dock = None
        if plots is None:
            plots = StudyPlots()
            window = getattr(self._viewer, "window", None)
            try:
                self._plots_dock = window.add_dock_widget(plots.native, area="bottom",
                                                          name="Model study plots")
            except (AttributeError, RuntimeError):      # no window: a tab inside this dock
                self._plots_dock = None
                self.content.layout().addWidget(plots.native)
            self.plots = plots
        elif self._plots_dock is not None:
            try:
                self._plots_dock.show()
                self._plots_dock.raise_()
            except RuntimeError:
                pass
        return plots

    def _show_result(self, result: StudyResult) -> None:
        self.result, self.result_settings = result, self._pending_settings
        self.figures, notes = self._make_figures(result)
        findings = self._findings_text(result)
        self._ensure_plots().show_result(result, self.figures, findings, notes)
        self.save_button.enabled = True
        self.progress.value = round(100 * result.n_completed / result.completed.size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            s = result.summary()
        re = ", ".join(f"{m} {100 * s[m]['re_mean']:.1f} %" for m in result.models[1:])
        g = result.grid
        head = ("Study complete" if result.is_complete else
                f"Study {result.status} (the plots, the table and saved files cover only these)")
        self.status.value = (f"{head}: grid of {g.n_positions} positions x {len(g.orientations_deg)} "
                             "orientations, "
                             f"models {', '.join(result.models)} (reference {result.reference}), "
                             f"{result.seconds:.1f} s."
                             + (f" Mean RE against the reference: {re}." if re else "")
                             + " See the Model study plots dock.")

    # --- saving -------------------------------------------------------------------------------
    def output_files(self, folder) -> list[Path]:
        """The files :meth:`save_results` writes into ``folder`` for the current result."""
        folder = Path(folder)
        names = ["study.csv", "summary.json", "README.txt"]
        names += [f"{name}{suffix}" for name in self.figures for suffix in (".png", ".svg")]
        return [folder / name for name in names]

    def existing_outputs(self, folder) -> list[Path]:
        """The files of a study (:data:`OUTPUT_FILES`, also those this result does not write, such as
        Fig. 4 of a partial study) that already exist in ``folder``."""
        return existing_study_outputs(folder)

    def save_results(self, folder, overwrite: bool = False) -> list[Path] | None:
        """Write study.csv, summary.json, README.txt and the figures (PNG and SVG) into ``folder``
        (:func:`...core.study.results_folder.write_study_results`).

        Existing files are never replaced unless ``overwrite=True``: then nothing is written and
        the status lists them. Returns the written paths, or None (the status says why).
        """
        if self.result is None:
            self.status.value = "Nothing to save: run the study first."
            return None
        folder = Path(folder)
        surfaces = self._store.surfaces
        try:
            written = write_study_results(folder, self.result, self.figures, settings=self.result_settings,
                                          findings=self.findings, cortex=surfaces.get("cortex"),
                                          skull=surfaces.get("skull"), overwrite=overwrite)
        except FileExistsError as err:
            self.status.value = (f"Not saved: {err}. Nothing was written: choose another folder or confirm "
                                 "replacing them.")
            return None
        except (OSError, ValueError) as err:
            self.status.value = f"Cannot save the results: {err}"
            return None
        self.status.value = (f"Saved {len(written)} files to {folder} ({self.result.status}).")
        return written

    def _save_dialog(self, *_):
        from qtpy.QtWidgets import QFileDialog, QMessageBox

        if self.result is None:
            self.status.value = "Nothing to save: run the study first."
            return
        folder = QFileDialog.getExistingDirectory(self.native, "Save the study's results into a folder")
        if not folder:
            return
        existing = self.existing_outputs(folder)
        overwrite = False
        if existing:
            answer = QMessageBox.question(
                self.native, "Replace files?",
                f"{len(existing)} file(s) of a study already exist in {folder}:\n"
                + "\n".join(p.name for p in existing) + "\n\nReplace them?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                self.status.value = f"Not saved: the files in {folder} were kept."
                return
            overwrite = True
        self.save_results(folder, overwrite=overwrite)
