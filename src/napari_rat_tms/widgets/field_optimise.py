"""The E-field dock's "Best placement for a target" section (issue 22): a thin shell over
:func:`napari_rat_tms.core.planning.iter_plan_placement`.

The target is given in stereotaxic coordinates (AP, ML from bregma, mm; the cortex's surface there,
or a depth DV), drawn as a Points layer "optimisation target". *Find best placement* builds, in a
worker with progress and Cancel, the reduced field of the model shown over the scalp above the
target (seconds; its error bound is said), searches the placements (AP, ML, orientation; the coil
touching the scalp) for the objective, checks the optimum with the full model, and moves the coil
there through the Coil placement dock (whose field the dock then shows, as for any move). The status
compares the optimum with the best of seed 003's grid and with line navigation, scored the same way.
"""

from __future__ import annotations

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, Label, ProgressBar, PushButton

from ..core.placement import placement_grid
from ..core.placement.optimise import OBJECTIVES
from ..core.planning import PlanSettings, cortex_point_at, iter_plan_placement
from ..viewer.layers import ROLE_KEY, ROLE_OPTIMISATION_TARGET, layer_with_role
from ._dock import enable_when_ready
from ._layers import layer_transform
from ._running import start_work

__all__ = ["OptimiseSection", "ROLE_OPTIMISATION_TARGET"]


class OptimiseSection:
    """Widgets and actions of the section; ``dock`` is the :class:`~.field.FieldWidget`."""

    def __init__(self, dock):
        self.dock = dock
        self._worker = None
        self._cancelled = False
        self.plan = None                 # the last PlacementPlan (models' frame)
        self._reduced: dict = {}         # (model, coil, frame) -> its reduced field, built by the first search
        self.n_training = PlanSettings.n_training    # placements the reduced field is built from
        self.heading = Label(value="Best placement for a target")
        self.target_ap = FloatSpinBox(label="target AP (mm from bregma)", value=-2.0, min=-40.0, max=40.0, step=0.5)
        self.target_ml = FloatSpinBox(label="target ML (mm, + right)", value=2.0, min=-20.0, max=20.0, step=0.5)
        self.use_dv = CheckBox(text="at depth DV (else the cortex's surface)", value=False)
        self.target_dv = FloatSpinBox(label="target DV (mm)", value=-2.0, min=-30.0, max=10.0, step=0.5,
                                      enabled=False)
        self.objective = ComboBox(label="objective", choices=list(OBJECTIVES), value="magnitude")
        self.direction_deg = FloatSpinBox(label="current direction (deg from anterior)", value=0.0,
                                          min=-180.0, max=180.0, step=15.0, enabled=False)
        self.avoid_openings = CheckBox(text="penalise hot spots under the skull's openings", value=False)
        self.keep_out_eyes = CheckBox(text="keep the coil 3 mm or more off the eyes", value=False)
        self.button = PushButton(text="Find best placement")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(min=0, max=100, value=0, label="search")
        self.result = Label(value="")
        self.result.native.setWordWrap(True)
        self.objective.tooltip = ("magnitude: |E| at the target; direction: E along the current direction "
                                  "below; focality: |E| at the target over the largest |E| elsewhere on the "
                                  "cortex (more than 2 mm away).")
        self.direction_deg.tooltip = ("The current wanted at the target, in its tangent plane: degrees from "
                                      "anterior (0: posterior-to-anterior), counter-clockwise seen from above.")
        self.widgets = [self.heading, self.target_ap, self.target_ml, self.use_dv, self.target_dv,
                        self.objective, self.direction_deg, self.avoid_openings, self.keep_out_eyes,
                        self.button, self.cancel_button, self.progress, self.result]
        self.objective.changed.connect(self._on_objective)
        self.use_dv.changed.connect(lambda v: setattr(self.target_dv, "enabled", bool(v)))
        self.button.changed.connect(lambda *_: self.find_best_placement())
        self.cancel_button.changed.connect(self.cancel)

    def _on_objective(self, value):
        self.direction_deg.enabled = value == "direction"

    def settings(self) -> PlanSettings:
        return PlanSettings(objective=self.objective.value,
                            direction_deg=float(self.direction_deg.value) if self.objective.value == "direction"
                            else None,
                            avoid_openings=bool(self.avoid_openings.value), keep_out_eyes=bool(self.keep_out_eyes.value),
                            n_training=int(self.n_training))

    def missing(self) -> str | None:
        """What the search still needs (None: ready)."""
        dock = self.dock
        store = dock._store
        model = dock._shown_model(store)
        state = store.coil
        if model is None:
            return "no head model: build one (above)."
        if not hasattr(model.solver, "transfer"):
            return "the sphere model is shown: choose a BEM model (1C, 2C*, 2C or 3C) above."
        if state is None or state.placement is None:
            return "no coil yet: place the coil once with the Coil placement dock (its coil is used)."
        if state.frame is None and store.frame is None:
            return "no stereotaxic frame: set it in the Coil placement dock (bregma, lambda, midline)."
        if "body" not in store.surfaces:
            return "no scalp (body) surface among the models' surfaces."
        return None

    def update_button(self):
        enable_when_ready(self.button, self.missing(), "Search the placements above the target for the "
                          "objective (a reduced field of the model shown; seconds) and move the coil there.",
                          busy=self._worker is not None)

    def find_best_placement(self, blocking: bool = False):
        """Start the search (in a worker; ``blocking``: in this thread, for scripts and tests)."""
        missing = self.missing()
        if missing is not None:
            self.result.value = f"Cannot search: {missing}"
            return None
        dock, store = self.dock, self.dock._store
        model = dock._shown_model(store)
        state = store.coil
        ref = store.surface_layers.get("cortex")
        try:
            settings = self.settings()
            placement, frame = dock._placement_in_model_frame(state, ref)
            coil = store.coil_dipoles(state.coil_source)
            cortex = store.surfaces["cortex"]
            dv = float(self.target_dv.value) if self.use_dv.value else None
            target = cortex_point_at(cortex, frame, float(self.target_ap.value), float(self.target_ml.value), dv)
            grid = placement_grid(store.surfaces["body"], frame)
        except (ValueError, KeyError, OSError) as err:
            self.result.value = f"Cannot search: {err}"
            return None
        self._show_target(target, ref)
        self._cancelled = False
        self._worker = True              # busy until on_finished (the worker object replaces it)
        self.button.enabled = False
        self.cancel_button.enabled = True
        self.result.value = f"Searching for the best {settings.objective} at {frame.describe(target)}..."
        key = (id(model.solver), state.coil_source, tuple(frame.origin_mm), tuple(frame.anterior), tuple(frame.dorsal))
        reduced = self._reduced.get(key)
        if reduced is not None and reduced.solver is not model.solver:
            reduced = None
        steps = iter_plan_placement(model.solver, store.surfaces, frame, coil, target, settings, grid=grid,
                                    reduced=reduced)
        context = (model.kind, frame, state.placement.centre_mm - placement.centre_mm, grid.n_placements, key)
        worker = start_work(steps, blocking=blocking, on_progress=self._on_progress,
                            cancel_requested=lambda: self._cancelled, activity="Best placement",
                            on_outcome=lambda outcome: self._on_done(outcome, context),
                            on_finished=self._on_finished)
        if not blocking:                 # (a blocking run has finished: nothing to keep)
            self._worker = worker
        return worker

    def cancel(self, *_):
        self._cancelled = True
        if hasattr(self._worker, "quit"):
            self._worker.quit()
        self.result.value = "Cancelling the search..."

    def _on_progress(self, item):
        fraction, message = item
        self.progress.value = round(100 * fraction)
        self.result.value = message

    def _on_finished(self):
        self._worker = None
        self.cancel_button.enabled = False
        self.update_button()

    def _on_done(self, outcome, context):
        kind, frame, to_coil_frame, n_grid, key = context
        if outcome.cancelled:
            self.result.value = "Search cancelled: the coil was not moved."
            return
        if outcome.error is not None:
            self.result.value = f"Cannot find a placement: {outcome.error}"
            return
        plan = self.plan = outcome.value
        if plan.reduced is not None:        # the next search of this model and coil reuses it
            self._reduced = {key: plan.reduced}
        r = plan.result
        p = r.placement
        lines = [f"Optimum ({kind}, {plan.settings.objective}): {frame.describe(p.scalp_point_mm)}, "
                 f"orientation {p.orientation_deg % 360:.0f}° from anterior; objective {r.score:.4g}"
                 + (f" (full model {r.score_reference:.4g})" if r.score_reference is not None else "") + "."]
        if r.grid_best is not None:
            lines.append(f"Best of seed 003's {n_grid} grid placements: "
                         f"{r.grid_best[1]:.4g} (optimum x{r.gain_over_grid:.3f}).")
        lines.append(f"Line navigation (axis through the target, best orientation): {r.line_navigation[1]:.4g} "
                     f"(optimum x{r.gain_over_line_navigation:.3f}).")
        if plan.reduced is not None:
            built = plan.seconds.get("reduced_field")
            lines.append(f"Reduced field: rank {plan.reduced.rank}, error bound {plan.reduced.bound:.1%}"
                         + (f" (built in {built:.1f} s, kept for the next searches)" if built is not None else "")
                         + f"; {r.evaluations} placements in {plan.seconds.get('optimisation', 0):.1f} s.")
        moved = self.dock._store.request_placement(p.translated(to_coil_frame))
        lines.append("The coil was moved there (Coil placement dock)." if moved else
                     "Open the Coil placement dock to move the coil there (Save the result from it).")
        self.result.value = "\n".join(lines)

    def _show_target(self, target_mm, ref):
        viewer = self.dock._viewer
        layer = layer_with_role(viewer, ROLE_OPTIMISATION_TARGET)
        data = np.asarray(target_mm, float)[None]
        if layer is None:
            scale, translate = layer_transform(ref)       # the cortex layer's frame (the models')
            viewer.add_points(data, name="optimisation target", size=1.0, face_color="magenta", scale=scale,
                              translate=translate, metadata={ROLE_KEY: ROLE_OPTIMISATION_TARGET})
        else:
            layer.data = data
