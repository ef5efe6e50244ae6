"""Seed 003's model comparison: every head model over the placement grid, against the reference.

For each placement of the grid (35 positions x 18 orientations) and each model (the reference
first), the E-field on the cortical points gives:

* the peak |E| (V/m at the study's dI/dt), where it is (model frame and stereotaxic mm), and the
  direction error at the peak: the signed angle from the coil's current direction to the field
  there, both projected on the plane of the coil's bottom (seed 003, Fig. 2 left: "to get a
  directed 1-dimensional angle, the E-field was projected to the plane defined by the bottom of
  the coil"; positive = counter-clockwise seen from above, like the orientation);
* against the reference model, :func:`..metrics.compare_fields`: RE, CCE, mean angle error, over
  all points and over the strong-field region, and the distance between the two maxima;
* for line navigation (:mod:`..placement.line_navigation`): its target's distance to each
  model's maximum (its predicted direction is the coil's, so its direction error is 0).

Fields are not kept (630 x points x 3 per model), only these numbers, plus the fields of one
placement chosen for figures (default: the grid's centre at 0 deg).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..coils.dipoles import CoilDipoles
from ..conventions import m_to_mm
from ..errors import RatTmsError
from ..meshes.surface import TriangleSurface
from ..metrics import compare_fields
from ..placement.coil_on_scalp import CoilPlacementError
from ..placement.grid import PlacementGrid
from ..progress import format_duration
from ..placement.line_navigation import line_navigation_target
from ..placement.stereotaxic import StereotaxicFrame
from ..conventions import SEED_DIDT_A_PER_US

__all__ = ["StudyResult", "StudyRun", "StudyError", "iter_run_study", "LINE_NAVIGATION", "METRIC_NAMES"]

LINE_NAVIGATION = "line navigation"
METRIC_NAMES = ("re", "cce", "mean_angle_deg", "re_strong", "cce_strong", "mean_angle_deg_strong",
                "peak_distance_mm")


class StudyError(RatTmsError, ValueError):
    """The study cannot run with what it was given."""


def signed_angle_in_plane_deg(reference, vector, normal_out) -> float:
    """Angle (deg, -180..180) from ``reference`` to ``vector`` after projecting both on the plane of
    ``normal_out``, counter-clockwise seen from the side ``normal_out`` points to."""
    n = np.asarray(normal_out, float) / np.linalg.norm(normal_out)
    a = np.asarray(reference, float) - (np.dot(reference, n)) * n
    b = np.asarray(vector, float) - (np.dot(vector, n)) * n
    if np.linalg.norm(a) == 0 or np.linalg.norm(b) == 0:
        return float("nan")
    return float(np.degrees(np.arctan2(np.cross(a, b) @ n, a @ b)))


@dataclass(eq=False)
class StudyResult:
    """Numbers of the study; arrays are indexed ``[model, position, orientation]``."""

    models: list[str]                      # the reference first
    grid: PlacementGrid
    didt_a_per_us: float
    points_mm: np.ndarray                  # (N, 3) cortical points
    peak_v_per_m: np.ndarray               # (M, P, O)
    peak_point_mm: np.ndarray              # (M, P, O, 3)
    direction_error_deg: np.ndarray        # (M, P, O)
    metrics: dict[str, np.ndarray]         # name -> (M, P, O) against the reference
    line_navigation_mm: np.ndarray         # (P, O, 3), NaN where the axis misses the cortex
    coil_centre_mm: np.ndarray             # (P, O, 3)
    example: dict = field(default_factory=dict)   # fields of one placement, for figures
    seconds: float = 0.0
    frame: StereotaxicFrame | None = None
    completed: np.ndarray | None = None    # (P, O) bool: placements computed (None: all)

    def __post_init__(self):
        if self.completed is None:
            self.completed = np.ones(self.peak_v_per_m.shape[1:], dtype=bool)

    @property
    def n_completed(self) -> int:
        return int(self.completed.sum())

    @property
    def is_complete(self) -> bool:
        return bool(self.completed.all())

    @property
    def status(self) -> str:
        """``"complete"`` or ``"PARTIAL: cancelled after 210 of 630 placements"``."""
        if self.is_complete:
            return "complete"
        return f"PARTIAL: cancelled after {self.n_completed} of {self.completed.size} placements"

    @property
    def reference(self) -> str:
        return self.models[0]

    def distance_between_maxima_mm(self) -> tuple[list[str], np.ndarray]:
        """Mean distance (mm) between the maxima of every pair of models and line navigation (Fig. 3)."""
        names = [*self.models, LINE_NAVIGATION]
        pts = np.concatenate([self.peak_point_mm, self.line_navigation_mm[None]], axis=0)
        k = len(names)
        out = np.full((k, k), np.nan)
        for i in range(k):
            for j in range(k):
                d = np.linalg.norm(pts[i] - pts[j], axis=-1)
                out[i, j] = float(np.nanmean(d)) if np.isfinite(d).any() else np.nan
        return names, out

    def line_navigation_error_mm(self) -> np.ndarray:
        """(M, P, O): distance from the line-navigation target to each model's maximum."""
        return np.linalg.norm(self.peak_point_mm - self.line_navigation_mm[None], axis=-1)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per model: mean and SD of each metric (seed style), median and 95th percentile of the
        maximum's distance to the reference's and to the line-navigation target."""
        import warnings

        ln = self.line_navigation_error_mm()
        out = {}
        with warnings.catch_warnings():  # all-NaN columns (e.g. undefined CCE) give NaN, quietly
            warnings.simplefilter("ignore", RuntimeWarning)
            return self._summary(ln, out)

    def _summary(self, ln, out):
        for m, name in enumerate(self.models):
            row = {"peak_v_per_m_median": float(np.nanmedian(self.peak_v_per_m[m]))}
            for metric, values in self.metrics.items():
                v = values[m]
                row[f"{metric}_mean"] = float(np.nanmean(v))
                row[f"{metric}_sd"] = float(np.nanstd(v))
            d = self.metrics["peak_distance_mm"][m]
            row["peak_distance_mm_median"] = float(np.nanmedian(d))
            row["peak_distance_mm_p95"] = float(np.nanpercentile(d, 95))
            row["line_navigation_to_max_mm_median"] = float(np.nanmedian(ln[m]))
            out[name] = row
        ref_max = self.peak_point_mm[0]
        d = np.linalg.norm(self.line_navigation_mm - ref_max, axis=-1)
        out[LINE_NAVIGATION] = {"peak_distance_mm_median": float(np.nanmedian(d)),
                                "peak_distance_mm_p95": float(np.nanpercentile(d, 95)),
                                "misses": int(np.count_nonzero(~np.isfinite(d)))}
        return out

    def peak_regions(self, cortex: TriangleSurface, skull: TriangleSurface | None = None) -> np.ndarray:
        """Where each model's maximum lies, by name (:func:`..fields.roi.name_region`: cortex,
        behind lambda, at a skull opening), ``(models, positions, orientations)``; "" where not
        computed. One ray against the skull per distinct maximum vertex."""
        from scipy.spatial import cKDTree

        from ..fields.roi import name_region

        names = np.full(self.peak_v_per_m.shape, "", dtype=object)
        done = np.broadcast_to(self.completed, names.shape)
        if not done.any():
            return names
        points = self.peak_point_mm[done]
        _, vertex = cKDTree(cortex.vertices_m * 1e3).query(points)
        unique, inverse = np.unique(vertex, return_inverse=True)
        named = [name_region(cortex.vertices_m[v] * 1e3, cortex.vertex_normals[v], skull=skull,
                             frame=self.frame)["region"] for v in unique]
        names[done] = np.array(named, dtype=object)[inverse.reshape(-1)]
        return names

    def rows(self, regions: np.ndarray | None = None) -> list[dict]:
        """One row per model and placement, for the CSV table; ``regions``: :meth:`peak_regions`,
        added as the column ``peak_region``."""
        rows = []
        frame = self.frame
        for p in range(self.grid.n_positions):
            ap, ml = self.grid.grid_ap_ml_mm[p]
            for o, angle in enumerate(self.grid.orientations_deg):
                if not self.completed[p, o]:
                    continue
                ln = self.line_navigation_mm[p, o]
                for m, name in enumerate(self.models):
                    peak = self.peak_point_mm[m, p, o]
                    row = {"position": p, "grid_ap_mm": ap, "grid_ml_mm": ml, "orientation_deg": angle,
                           "model": name, "didt_a_per_us": self.didt_a_per_us,
                           "peak_v_per_m": self.peak_v_per_m[m, p, o],
                           "peak_x_mm": peak[0], "peak_y_mm": peak[1], "peak_z_mm": peak[2]}
                    if frame is not None:
                        ml_, ap_, dv_ = frame.to_stereotaxic(peak)
                        row.update(peak_ap_mm=ap_, peak_ml_mm=ml_, peak_dv_mm=dv_)
                    row["direction_error_deg"] = self.direction_error_deg[m, p, o]
                    for metric, values in self.metrics.items():
                        row[metric] = values[m, p, o]
                    row["line_navigation_to_max_mm"] = float(np.linalg.norm(peak - ln))
                    if regions is not None:
                        row["peak_region"] = regions[m, p, o]
                    rows.append(row)
        return rows

    def write_csv(self, path, overwrite: bool = False, *, cortex: TriangleSurface | None = None,
                  skull: TriangleSurface | None = None) -> Path:
        """The table (:meth:`rows`) as CSV; units in the column names (mm, deg, V/m); with ``cortex``
        (and ``skull``) also where each maximum lies (:meth:`peak_regions`)."""
        from ..files import atomic_write

        rows = self.rows(None if cortex is None else self.peak_regions(cortex, skull))
        path = Path(path)

        def write(tmp):
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: (f"{v:.6g}" if isinstance(v, (float, np.floating)) else v)
                                     for k, v in row.items()})

        atomic_write(path, overwrite, write)
        return path


class StudyRun:
    """One run of the study that can be stopped and still gives what it has.

    ``field_models``: ``{name: FieldModel}`` with the reference first (e.g. "3C"), all on the
    same cortical points. ``example``: (position index or None = the grid point nearest its
    centre, orientation index) whose fields are kept for figures.

    >>> run = StudyRun(models, grid, scalp, cortex, frame, coil)
    >>> for fraction, message in run.iter_run():   # stop iterating (or close()) to cancel
    ...     pass
    >>> result = run.result()    # complete, or partial and labelled so (result.status)

    Placements are computed in batches of one position (all orientations at once), the example
    position (kept for the figures) first; a cancelled run keeps every finished position, the
    others stay NaN and ``result.completed`` says which.
    """

    def __init__(self, field_models: dict, grid: PlacementGrid, scalp: TriangleSurface,
                 cortex: TriangleSurface, frame: StereotaxicFrame, coil: CoilDipoles, *,
                 didt_a_per_us: float = SEED_DIDT_A_PER_US, example=(None, 0)):
        names = list(field_models)
        if not names:
            raise StudyError("the study needs at least one field model (the reference first): build "
                             "the models before running the study.")
        points_m = field_models[names[0]].points_m
        for name in names[1:]:
            if field_models[name].points_m.shape != points_m.shape or not np.allclose(
                    field_models[name].points_m, points_m):
                raise StudyError(f"model {name!r} is evaluated at other points than the reference "
                                 f"{names[0]!r}: rebuild the models on the same cortex surface.")
        self.field_models, self.names, self.grid = field_models, names, grid
        self.scalp, self.cortex, self.frame, self.coil = scalp, cortex, frame, coil
        self.didt_a_per_us = float(didt_a_per_us)
        n_m, n_p, n_o = len(names), grid.n_positions, len(grid.orientations_deg)
        self.peak = np.full((n_m, n_p, n_o), np.nan)
        self.peak_pt = np.full((n_m, n_p, n_o, 3), np.nan)
        self.dir_err = np.full((n_m, n_p, n_o), np.nan)
        self.metrics = {k: np.full((n_m, n_p, n_o), np.nan) for k in METRIC_NAMES}
        self.ln = np.full((n_p, n_o, 3), np.nan)
        self.centres = np.full((n_p, n_o, 3), np.nan)
        self.completed = np.zeros((n_p, n_o), dtype=bool)
        self.estimated_seconds_left: float | None = None   # after the first batch of a run
        self.points_mm = m_to_mm(points_m)
        if example[0] is None:
            centre_ap, centre_ml = grid.centre_ap_ml_mm
            self.example_position = int(np.argmin(np.hypot(grid.grid_ap_ml_mm[:, 0] - centre_ap,
                                                           grid.grid_ap_ml_mm[:, 1] - centre_ml)))
        else:
            self.example_position = int(example[0])
        self.example_orientation = int(example[1])
        self.example_fields: dict = {}
        self.seconds = 0.0

    def _iter_compute_batch(self, batch):
        """Compute one position's placements (all orientations in one batch per model: the
        batched solve is ~1.5x faster than thirds of it on the demo's 3C), yielding each model's
        name once its fields are computed, so that progress and cancel come per model, not only
        per position (~40 s at the seed's meshing). Marks the placements completed at the end."""
        names, points_m = self.names, self.field_models[self.names[0]].points_m
        coils = [pl.place(self.coil) for _, _, pl in batch]
        didt = batch[0][2].didt_a_per_s
        fields = {}
        for name in names:
            fields[name] = self.field_models[name].solver.efield_batch(coils, didt)
            yield name
        for k, (pi, oi, pl) in enumerate(batch):
            self.centres[pi, oi] = pl.centre_mm
            try:
                self.ln[pi, oi] = line_navigation_target(pl, self.cortex).target_mm
            except CoilPlacementError:
                pass
            ref = fields[names[0]][k]
            for m, name in enumerate(names):
                e = fields[name][k]
                mag = np.linalg.norm(e, axis=1)
                i = int(np.argmax(mag))
                self.peak[m, pi, oi] = mag[i]
                self.peak_pt[m, pi, oi] = self.points_mm[i]
                self.dir_err[m, pi, oi] = signed_angle_in_plane_deg(pl.current_direction, e[i], -pl.axis)
                c = compare_fields(points_m, e, ref)
                for key in METRIC_NAMES[:-1]:
                    self.metrics[key][m, pi, oi] = c[key]
                self.metrics["peak_distance_mm"][m, pi, oi] = c["peak_distance_m"] * 1e3
            if pi == self.example_position and oi == self.example_orientation:
                self.example_fields = {"position": pi, "orientation_index": oi, "placement": pl.to_dict(),
                                       "fields": {name: fields[name][k].copy() for name in names}}
            self.completed[pi, oi] = True

    def iter_run(self):
        """Compute the placements not yet done, yielding ``(fraction, message)`` after each batch."""
        grid = self.grid
        n_o = len(grid.orientations_deg)
        start = time.perf_counter()

        def positions(only=None):
            batch = []
            for p, o, placement in grid.placements(self.scalp, self.frame, self.coil,
                                                   didt_a_per_us=self.didt_a_per_us):
                if only is not None and p != only:
                    if p > only:
                        return
                    continue
                if not self.completed[p, o]:
                    batch.append((p, o, placement))
                if o == n_o - 1 and batch:
                    yield batch
                    batch = []

        todo = grid.n_placements - int(self.completed.sum())
        computed = 0
        try:
            # the example position first, so that a cancelled run still has the figures' example
            for batches in (positions(self.example_position), positions()):
                for batch in batches:
                    done = int(self.completed.sum())
                    for k, name in enumerate(self._iter_compute_batch(batch), start=1):
                        if k == len(self.names):
                            continue     # the last model: the position's report follows
                        # within a position: a share of its placements per model computed
                        yield ((done + len(batch) * k / len(self.names)) / grid.n_placements,
                               f"grid position {batch[0][0] + 1} of {grid.n_positions}: model {name} "
                               f"done ({k} of {len(self.names)})"
                               + ("" if self.estimated_seconds_left is None else
                                  f", about {format_duration(self.estimated_seconds_left)} left"))
                    computed += len(batch)
                    done = int(self.completed.sum())
                    # the time left, measured on this machine from the placements computed so far
                    per = (time.perf_counter() - start) / computed
                    left = per * (todo - computed)
                    self.estimated_seconds_left = left
                    yield done / grid.n_placements, (f"placement {done} of {grid.n_placements}, about "
                                                     f"{format_duration(left)} left ({1e3 * per:.0f} ms each)")
        finally:
            self.seconds += time.perf_counter() - start

    def result(self) -> StudyResult:
        """What has been computed: complete, or partial (``status`` says how much)."""
        return StudyResult(self.names, self.grid, self.didt_a_per_us, self.points_mm, self.peak.copy(),
                           self.peak_pt.copy(), self.dir_err.copy(),
                           {k: v.copy() for k, v in self.metrics.items()}, self.ln.copy(),
                           self.centres.copy(), dict(self.example_fields), self.seconds, self.frame,
                           self.completed.copy())


def iter_run_study(field_models: dict, grid: PlacementGrid, scalp: TriangleSurface,
                   cortex: TriangleSurface, frame: StereotaxicFrame, coil: CoilDipoles, *,
                   didt_a_per_us: float = SEED_DIDT_A_PER_US, example=(None, 0)):
    """Run the study, yielding ``(fraction, message)``; returns a :class:`StudyResult`
    (see :class:`StudyRun` for the arguments, and for a run that can be cancelled and keep its
    partial results)."""
    run = StudyRun(field_models, grid, scalp, cortex, frame, coil, didt_a_per_us=didt_a_per_us,
                   example=example)
    yield from run.iter_run()
    return run.result()
