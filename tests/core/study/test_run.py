"""The study's bookkeeping on hand-made fields: known metrics, maxima, direction errors, CSV."""

import csv

import numpy as np
import pytest

from napari_rat_tms.core.coils import figure_eight_coil
from napari_rat_tms.core.fields.head_models import FieldModel
from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.placement import StereotaxicFrame, placement_grid
from napari_rat_tms.core.progress import run_to_completion
from napari_rat_tms.core.study import LINE_NAVIGATION, iter_run_study, signed_angle_in_plane_deg
from napari_rat_tms.core.study.settings import StudySettings
from napari_rat_tms.core.study.figures import figure_fields, figure_maxima_distances, figure_orientation, save_figure


class _Uniform:
    """A 'solver' whose field is the coil's current direction (a unit vector per placement, so the
    field's direction is known) times a fixed profile over the points, times ``gain``."""

    def __init__(self, points_m, gain, rotate_deg=0.0, peak_index=0):
        self.points_m = points_m
        self.gain = gain
        self.rotate = np.radians(rotate_deg)
        profile = np.ones(len(points_m))
        profile[peak_index] = 2.0
        self.profile = profile

    def efield_batch(self, coils, didt):
        out = []
        for coil in coils:
            d = coil.current_direction_in_model  # set by the test's place()
            c, s = np.cos(self.rotate), np.sin(self.rotate)
            n = coil.axis_in_model
            # rotate d about -n (counter-clockwise seen from above) by rotate
            d = d * c + np.cross(-n, d) * s
            out.append(self.gain * self.profile[:, None] * d[None, :])
        return np.stack(out)


@pytest.fixture(scope="module")
def setup():
    scalp = icosphere(0.010, 3, name="body")
    cortex = icosphere(0.007, 2, name="cortex")
    frame = StereotaxicFrame([0, 0, 10.0], [0, -1, 0], [1, 0, 0], [0, 0, 1],
                             {"bregma": np.array([0, 0, 10.0]), "lambda": np.array([-6.0, 0, 9.0])})
    grid = placement_grid(scalp, frame, centre_ap_ml_mm=(0.0, 0.0), extent_mm=(4.0, 4.0), shape=(3, 3),
                          orientations_deg=(0.0, 45.0, 90.0))
    coil = figure_eight_coil(20, 40, 8).dipoles("low")
    return scalp, cortex, frame, grid, coil


def test_metrics_maxima_and_direction_errors_by_hand(setup, monkeypatch):
    scalp, cortex, frame, grid, coil = setup
    from napari_rat_tms.core.placement import coil_on_scalp

    original = coil_on_scalp.CoilPlacement.place

    def place(self, c):  # tag the placed coil with the placement's axes for the fake solvers
        placed = original(self, c)
        object.__setattr__(placed, "current_direction_in_model", self.current_direction)
        object.__setattr__(placed, "axis_in_model", self.axis)
        return placed

    monkeypatch.setattr(coil_on_scalp.CoilPlacement, "place", place)
    pts = cortex.vertices_m
    models = {"ref": FieldModel("ref", _Uniform(pts, 1.0), pts, 0.0),
              "double": FieldModel("double", _Uniform(pts, 2.0), pts, 0.0),
              "turned": FieldModel("turned", _Uniform(pts, 1.0, rotate_deg=30.0, peak_index=5), pts, 0.0)}
    result = run_to_completion(iter_run_study(models, grid, scalp, cortex, frame, coil))
    m = {name: k for k, name in enumerate(result.models)}
    # E = 2 E_ref: RE = 1, CCE = 0 (same pattern), angles 0, same maximum
    np.testing.assert_allclose(result.metrics["re"][m["double"]], 1.0, rtol=1e-9)
    np.testing.assert_allclose(result.metrics["mean_angle_deg"][m["double"]], 0.0, atol=1e-6)
    np.testing.assert_allclose(result.metrics["peak_distance_mm"][m["double"]], 0.0)
    np.testing.assert_allclose(result.peak_v_per_m[m["double"]], 4.0)     # 2 x profile peak 2 x |d| 1
    # turned by 30 deg about the coil axis: every point 30 deg off, direction error +30 at the peak
    np.testing.assert_allclose(result.metrics["mean_angle_deg"][m["turned"]], 30.0, atol=1e-6)
    np.testing.assert_allclose(result.direction_error_deg[m["turned"]], 30.0, atol=1e-6)
    np.testing.assert_allclose(result.direction_error_deg[m["ref"]], 0.0, atol=1e-6)
    expected = np.linalg.norm(cortex.vertices_m[5] - cortex.vertices_m[0]) * 1e3
    np.testing.assert_allclose(result.metrics["peak_distance_mm"][m["turned"]], expected)
    names, d = result.distance_between_maxima_mm()
    assert names[-1] == LINE_NAVIGATION and d[m["ref"], m["turned"]] == pytest.approx(expected)
    summary = result.summary()
    assert summary["double"]["re_mean"] == pytest.approx(1.0)
    assert set(summary) == {"ref", "double", "turned", LINE_NAVIGATION}


def test_table_and_figures(setup, monkeypatch, tmp_path):
    scalp, cortex, frame, grid, coil = setup
    pts = cortex.vertices_m

    class Real:
        def __init__(self, gain):
            self.gain = gain

        def efield_batch(self, coils, didt):
            from napari_rat_tms.core.coils import primary_efield
            return np.stack([self.gain * primary_efield(pts, c, didt) for c in coils])

    models = {"a": FieldModel("a", Real(1.0), pts, 0.0), "b": FieldModel("b", Real(0.5), pts, 0.0)}
    result = run_to_completion(iter_run_study(models, grid, scalp, cortex, frame, coil))
    path = result.write_csv(tmp_path / "study.csv")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * grid.n_placements
    assert {"model", "orientation_deg", "peak_v_per_m", "re", "cce", "peak_ap_mm"} <= set(rows[0])
    b = [r for r in rows if r["model"] == "b"]
    assert all(abs(float(r["re"]) - 0.5) < 1e-6 for r in b)
    for fig, name in ((figure_orientation(result), "fig2"), (figure_maxima_distances(result), "fig3"),
                      (figure_fields(result), "fig4")):
        png, svg = save_figure(fig, tmp_path / name)
        assert png.stat().st_size > 10_000 and svg.read_text().lstrip().startswith("<?xml")


def test_signed_angle():
    assert signed_angle_in_plane_deg([1, 0, 0], [0, 1, 0], [0, 0, 1]) == pytest.approx(90.0)
    assert signed_angle_in_plane_deg([1, 0, 0], [0, 1, 5], [0, 0, 1]) == pytest.approx(90.0)
    assert signed_angle_in_plane_deg([1, 0, 0], [0, -1, 0], [0, 0, 1]) == pytest.approx(-90.0)


class _Primary:
    """The coil's primary field times ``gain`` (a cheap stand-in for a BEM model)."""

    def __init__(self, points_m, gain):
        self.points_m, self.gain = points_m, gain

    def efield_batch(self, coils, didt):
        from napari_rat_tms.core.coils import primary_efield
        return np.stack([self.gain * primary_efield(self.points_m, c, didt) for c in coils])


def test_cancelled_run_keeps_partial_results_and_resumes(setup, tmp_path):
    from napari_rat_tms.core.study import StudyError, StudyRun

    scalp, cortex, frame, grid, coil = setup
    pts = cortex.vertices_m
    models = {"a": FieldModel("a", _Primary(pts, 1.0), pts, 0.0),
              "b": FieldModel("b", _Primary(pts, 0.5), pts, 0.0)}
    full = run_to_completion(iter_run_study(models, grid, scalp, cortex, frame, coil))
    assert full.is_complete and full.status == "complete"

    run = StudyRun(models, grid, scalp, cortex, frame, coil)
    steps = run.iter_run()
    n_o = len(grid.orientations_deg)
    # progress per model within a position (model a's fields of the first position), then per position
    fraction, message = next(steps)
    assert fraction == pytest.approx(n_o / 2 / grid.n_placements)
    assert message == (f"grid position {run.example_position + 1} of {grid.n_positions}: model a done "
                       "(1 of 2)")
    assert not run.completed.any()          # a position counts once all its models are done
    fraction, message = next(steps)        # one position (all orientations) done
    steps.close()                          # the user cancels
    partial = run.result()
    assert not partial.is_complete and partial.n_completed == n_o
    assert fraction == pytest.approx(n_o / grid.n_placements)
    # the time left, from the placements measured so far: (N - n_o) x the time of each
    assert message.startswith(f"placement {n_o} of {grid.n_placements}, about ") and " left (" in message
    assert run.estimated_seconds_left >= 0.0
    assert partial.status == f"PARTIAL: cancelled after {n_o} of {grid.n_placements} placements"
    done = partial.completed
    # the example position (kept for the figures) is computed first
    ex = run.example_position
    assert done[ex].all() and done.sum() == n_o and partial.example["position"] == ex
    # what was computed equals the full run's numbers; the rest is NaN, not zeros
    np.testing.assert_allclose(partial.metrics["re"][:, done], full.metrics["re"][:, done])
    assert np.isnan(partial.peak_v_per_m[:, ~done]).all()
    path = partial.write_csv(tmp_path / "partial.csv")
    with open(path) as f:
        assert len(list(csv.DictReader(f))) == 2 * n_o
    # resuming computes only what is missing and ends equal to the uninterrupted run
    run_to_completion(run.iter_run())
    resumed = run.result()
    assert resumed.is_complete
    np.testing.assert_allclose(resumed.metrics["re"], full.metrics["re"])
    np.testing.assert_allclose(resumed.peak_point_mm, full.peak_point_mm)
    with pytest.raises(StudyError, match="build the models"):
        StudyRun({}, grid, scalp, cortex, frame, coil)
    other = icosphere(0.006, 2, name="cortex")
    with pytest.raises(StudyError, match="other points"):
        StudyRun({"a": models["a"], "c": FieldModel("c", _Primary(other.vertices_m, 1), other.vertices_m, 0)},
                 grid, scalp, cortex, frame, coil)


def test_a_study_folder_is_written_whole_and_never_over_another(setup, tmp_path):
    """core/study/results_folder.py (what the Model study dock saves): table, strict-JSON summary,
    README, figures; a second save refuses without overwrite (nothing written), and with it removes
    the first study's files that the new one does not write (no mixed folder)."""
    import json

    from napari_rat_tms.core.study.figures import figure_orientation
    from napari_rat_tms.core.study.results_folder import study_output_files, write_study_results

    scalp, cortex, frame, grid, coil = setup
    pts = cortex.vertices_m
    models = {"3C": FieldModel("3C", _Primary(pts, 1.0), pts, 0.0),
              "1C": FieldModel("1C", _Primary(pts, 0.5), pts, 0.0)}
    result = run_to_completion(iter_run_study(models, grid, scalp, cortex, frame, coil))
    figures = {"figure2_orientation": figure_orientation(result), "figure4_fields": figure_fields(result)}
    settings = StudySettings(models=result.models, coil="MC-B35")
    written = write_study_results(tmp_path, result, figures, settings=settings)
    assert {p.name for p in written} == {"study.csv", "summary.json", "README.txt", "figure2_orientation.png",
                                         "figure2_orientation.svg", "figure4_fields.png", "figure4_fields.svg"}
    record = json.loads((tmp_path / "summary.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert record["complete"] and record["models"]["1C"] == "body only" and record["coil"] == "MC-B35"
    assert record["grid"]["centre_default"] is True
    assert StudySettings.from_dict(record["settings"]) == settings      # stored whole, restored exactly
    assert "complete" in (tmp_path / "README.txt").read_text()
    before = (tmp_path / "study.csv").read_bytes()
    with pytest.raises(FileExistsError, match="study.csv"):
        write_study_results(tmp_path, result, {})
    assert (tmp_path / "study.csv").read_bytes() == before
    again = write_study_results(tmp_path, result, {"figure2_orientation": figures["figure2_orientation"]},
                                overwrite=True)
    left = {p.name for p in tmp_path.iterdir()} & set(study_output_files())
    assert left == {p.name for p in again} and "figure4_fields.png" not in left
    assert "figure4_fields: not drawn" in (tmp_path / "README.txt").read_text()
