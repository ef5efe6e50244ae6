"""The Model study dock on spheres: a 10 mm scalp ("body"), a 7 mm cortex and a holed 8.5-9.5 mm
skull shell centred on the origin of the model frame, shown with a translation (world = model +
TRANSLATE); the coil placed with the Coil placement dock (anterior = +x, dorsal = +z). The models
(1C and the sphere fitted to the skull: the 1C is the reference here) are put into the viewer's
store directly, as the E-field dock would; a 3 x 3 grid with 3 orientations keeps each run ~1 s."""

import csv
import dataclasses
import json

import numpy as np
import pytest

from napari_rat_tms.core.coils import load_coil
from napari_rat_tms.core.fields import build_field_model
from napari_rat_tms.core.meshes.primitives import holed_spherical_shell, icosphere
from napari_rat_tms.core.placement import placement_grid
from napari_rat_tms.core.study import StudyRun
from napari_rat_tms.core.study.settings import StudySettings
from napari_rat_tms.viewer.layers import ROLE_KEY
from napari_rat_tms.widgets.coil import CoilPlacementWidget
from napari_rat_tms.viewer.shared_state import shared_state
from napari_rat_tms.widgets.study import StudyWidget

TRANSLATE = np.array([5.0, -3.0, 2.0])
BREGMA, LAMBDA, MIDLINE = (2.0, 0.0, 9.8), (-6.0, 0.0, 9.8), (8.0, 0.0, -6.0)
TOP = np.array([0.0, 0.0, 10.0])
COIL = "MC-B35 (low resolution)"
SMALL = {"extent_mm": (6.0, 4.0), "shape": (3, 3), "orientations_deg": (0.0, 60.0, 120.0)}


@pytest.fixture(scope="module")
def built():
    """The surfaces (SI, model frame) and the 1C and sphere models on them, built once."""
    surfaces = {"body": icosphere(0.010, 3, name="body"), "cortex": icosphere(0.007, 2, name="cortex"),
                "skull without spine": holed_spherical_shell(0.0085, 0.0095, 0.003, subdivisions=3,
                                                             axis=(0, 0, -1), name="skull without spine")}
    models = {"1C": build_field_model(surfaces, "1C"),
              "sphere": build_field_model(surfaces, "sphere", up=[0.0, 0.0, 1.0])}
    return surfaces, models


def _scene(make_viewer, built, models=True, place=True, small=True):
    viewer = make_viewer()
    for radius_mm, name, subdivisions in ((7.0, "cortex", 2), (10.0, "body", 3)):
        sphere = icosphere(radius_mm * 1e-3, subdivisions, name=name)
        viewer.add_surface((sphere.vertices_m * 1e3, sphere.faces), name=f"{name} surface",
                           translate=tuple(TRANSLATE), metadata={ROLE_KEY: "surface", "surface": name})
    coil_widget = CoilPlacementWidget(viewer)
    coil_widget.coil_choice.value = COIL
    landmarks = coil_widget.add_landmarks_layer()
    landmarks.data = np.array([BREGMA, LAMBDA, MIDLINE]) + TRANSLATE
    assert coil_widget.set_frame() is not None, coil_widget.status.value
    if place:
        assert coil_widget.place_at(TOP) is not None, coil_widget.status.value
    if models:
        _fill_store(viewer, built)
    widget = StudyWidget(viewer)
    if small:
        _small_grid(widget)
    return viewer, coil_widget, widget


def _fill_store(viewer, built):
    surfaces, models = built
    store = shared_state(viewer)
    store.surfaces = dict(surfaces)
    for model in models.values():
        store.add(model)
    return store


def _small_grid(widget, shape=SMALL["shape"]):
    widget.extent_ap.value, widget.extent_ml.value = SMALL["extent_mm"]
    widget.points_ap.value, widget.points_ml.value = shape
    widget.orientation_step.value = 60.0


def _texts(fig) -> str:
    """Every text of a figure: banners, suptitle, axes titles."""
    parts = [t.get_text() for t in fig.texts]
    if getattr(fig, "_suptitle", None) is not None:
        parts.append(fig._suptitle.get_text())
    parts += [ax.get_title() for ax in fig.axes]
    return "\n".join(parts)


def test_defaults_and_models_label(viewer_or_skip, built, qtbot, tmp_path):
    viewer, coil_widget, widget = _scene(viewer_or_skip, built, models=False, small=False)
    # the seed's grid by default
    assert widget.centre_ap.enabled is False and widget.default_centre.value
    assert (widget.extent_ap.value, widget.extent_ml.value) == (15.0, 10.0)
    assert (widget.points_ap.value, widget.points_ml.value) == (7, 5)
    assert len(widget.orientations_deg()) == 18 and widget.orientations_deg()[-1] == pytest.approx(170.0)
    assert "630 placements" in widget.grid_label.value
    assert "none built" in widget.models_label.value and "E-field dock" in widget.models_label.value
    assert not widget.model_boxes["1C"].enabled and "E-field dock" in widget.status.value
    # the label follows the store
    _fill_store(viewer, built)
    assert "Models built: 1C, sphere" in widget.models_label.value
    assert "Not built: 3C, 2C, 2C*" in widget.models_label.value
    assert "Reference: 1C (the seed's reference is 3C)" in widget.models_label.value
    assert widget.model_boxes["1C"].enabled and not widget.model_boxes["3C"].enabled
    assert widget.status.value == "Ready: press 'Run study'."
    # the dock's study is the job's object (defaults defined once), with the placed coil
    settings = widget.settings()
    assert settings == dataclasses.replace(StudySettings(), models=("1C", "sphere"), coil=settings.coil)
    assert settings.coil == coil_widget.coil_source
    widget.model_boxes["1C"].value = False
    assert list(widget.selected_models()) == ["sphere"] and "Reference: sphere" in widget.models_label.value
    # dI/dt follows the coil placement, or the spin box when unchecked
    coil_widget.didt.value = 80.0
    assert widget.didt.value == pytest.approx(80.0) and widget.didt_a_per_us() == pytest.approx(80.0)
    widget.didt_from_coil.value = False
    widget.didt.value = 20.0
    assert widget.didt_a_per_us() == pytest.approx(20.0)
    widget.default_centre.value = False
    widget.centre_ap.value, widget.centre_ml.value = -1.0, 0.5
    assert widget.centre_ap.enabled and widget.settings().grid_centre_ap_ml_mm == (-1.0, 0.5)
    # settings applied to the dock come back exactly (a saved study's, a project's)
    other = StudySettings(models=("sphere",), coil=settings.coil, didt_a_per_us=33.0,
                          grid_centre_ap_ml_mm=(1.0, -2.0), grid_extent_mm=(4.0, 3.0), grid_shape=(2, 3),
                          orientations_deg=(0.0, 45.0, 90.0, 135.0))
    assert widget.apply_settings(other) == [] and widget.settings() == other
    left = widget.apply_settings(dataclasses.replace(other, orientations_deg=(0.0, 50.0), coil="MagVenture"))
    assert "orientations [0.0, 50.0]" in left[0] and "the coil 'MagVenture'" in left[1]
    # a project folder's layer brings the study its job ran, once
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "parameters.json").write_text(json.dumps({"parameters": {
        "models": ["1C", "sphere"], "grid_shape": [3, 2], "orientations_deg": [0, 90], "didt_a_per_us": 40}}))
    viewer.add_points(np.zeros((1, 3)), metadata={"project_folder": str(folder)})
    assert widget.settings() == StudySettings(models=("1C", "sphere"), coil=settings.coil, didt_a_per_us=40.0,
                                              grid_shape=(3, 2), orientations_deg=(0.0, 90.0))
    assert "Study settings of the project project" in widget.status.value
    # a closed dock stops following the store and the layers
    store = shared_state(viewer)
    destroyed = []
    widget.native.destroyed.connect(lambda *_: destroyed.append(True))
    widget.native.deleteLater()
    qtbot.waitUntil(lambda: bool(destroyed))
    store.clear()
    coil_widget.didt.value = 60.0


def _position_done(message: str) -> bool:
    """A report after a whole grid position ("placement k of N, ..."), not after one model's part."""
    return message.startswith("placement ")


def _cancel_after_a_position(widget):
    """Cancel at the first report that completes a grid position (models report within one)."""
    return lambda fraction, message: widget.cancel() if _position_done(message) else None


def test_blocking_run_fills_result_figures_and_table(viewer_or_skip, built):
    viewer, coil_widget, widget = _scene(viewer_or_skip, built)
    viewer.window.add_dock_widget(widget)
    seen = []
    widget.progressed.connect(lambda fraction, message: seen.append(fraction))
    result = widget.run_study(blocking=True)
    assert result is not None, widget.status.value
    assert result is widget.result and result.is_complete and result.status == "complete"
    assert result.models == ["1C", "sphere"] and result.grid.n_placements == 27
    # one report per model within each of the 9 positions (the first model's, then the position's)
    assert len(seen) == 2 * 9 and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    assert widget.status.value.startswith("Study complete") and widget.progress.value == 100
    assert widget.save_button.enabled and widget.run_button.enabled and not widget.cancel_button.enabled
    # figures: Fig. 2 (median lines), Fig. 3 (the distance matrix), Fig. 4 (|E| on the cortex)
    assert set(widget.figures) == {"figure2_orientation", "figure3_maxima", "figure4_fields"}
    fig2 = widget.figures["figure2_orientation"]
    assert len(fig2.axes) == 4 and all(len(ax.lines) >= 1 for ax in fig2.axes)
    assert np.isfinite(fig2.axes[1].lines[0].get_ydata()).all()
    fig3 = widget.figures["figure3_maxima"]
    assert fig3.axes[0].images and fig3.axes[0].images[0].get_array().shape == (3, 3)
    fig4 = widget.figures["figure4_fields"]
    assert any(len(ax.collections) for ax in fig4.axes)
    assert "PARTIAL" not in "".join(_texts(f) for f in widget.figures.values())
    # the plots dock: a canvas per figure, the summary table with the reference's RE = 0
    assert widget._plots_dock is not None and set(widget.plots.canvases) == set(widget.figures)
    assert widget.plots.canvases["figure2_orientation"].figure is fig2
    rows = {row[0]: row[1:] for row in widget.plots.table_text()}
    assert list(rows) == ["1C", "sphere", "line navigation"]
    assert rows["1C"][0] == "0.0 ± 0.0" and rows["1C"][3] == "0.0 ± 0.0"
    assert result.summary()["1C"]["re_mean"] == 0.0
    re_sphere = 100 * result.summary()["sphere"]["re_mean"]
    assert rows["sphere"][0].startswith(f"{re_sphere:.1f}") and re_sphere < 5.0  # a sphere in a sphere
    assert "Seed 003's findings" in widget.plots.findings.toPlainText()
    assert widget.findings and all("holds" in f for f in widget.findings)


def test_numbers_equal_a_direct_study_run(viewer_or_skip, built):
    viewer, coil_widget, widget = _scene(viewer_or_skip, built)
    coil_widget.didt.value = 70.0
    result = widget.run_study(blocking=True)
    assert result is not None, widget.status.value
    surfaces, models = built
    grid = placement_grid(surfaces["body"], coil_widget.frame, None, **SMALL)
    run = StudyRun(models, grid, surfaces["body"], surfaces["cortex"], coil_widget.frame,
                   load_coil(COIL)[0], didt_a_per_us=70.0)
    for _ in run.iter_run():
        pass
    direct = run.result()
    assert result.didt_a_per_us == 70.0 and np.allclose(result.grid.scalp_points_mm, grid.scalp_points_mm)
    for key, values in direct.metrics.items():
        assert np.allclose(result.metrics[key], values, equal_nan=True), key
    assert np.allclose(result.peak_v_per_m, direct.peak_v_per_m)
    mine, theirs = result.summary(), direct.summary()
    for model in ("1C", "sphere"):
        assert mine[model]["re_mean"] == pytest.approx(theirs[model]["re_mean"])
        assert mine[model]["peak_v_per_m_median"] == pytest.approx(theirs[model]["peak_v_per_m_median"])


def test_cancel_keeps_the_partial_result_labelled(viewer_or_skip, built, tmp_path):
    viewer, coil_widget, widget = _scene(viewer_or_skip, built)
    widget.progressed.connect(_cancel_after_a_position(widget))
    result = widget.run_study(blocking=True)
    assert result is widget.result and result is not None, widget.status.value
    assert not result.is_complete and result.n_completed == 3
    assert result.status == "PARTIAL: cancelled after 3 of 27 placements"
    assert "PARTIAL" in widget.status.value and "cover only these" in widget.status.value
    # figures with the red banner; the study computes Fig. 4's placement (the grid centre) first
    assert set(widget.figures) == {"figure2_orientation", "figure3_maxima", "figure4_fields"}
    for fig in widget.figures.values():
        assert "PARTIAL" in _texts(fig)
    assert "PARTIAL" in widget.plots.header.text()
    tabs = [widget.plots.tabs.tabText(i) for i in range(widget.plots.tabs.count())]
    assert all("(PARTIAL)" in t for t in tabs) and len(tabs) == 4
    # saved: only the computed placements, the status in summary.json and README.txt
    written = widget.save_results(tmp_path / "partial")
    assert written is not None, widget.status.value
    with open(tmp_path / "partial" / "study.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    centre = str(result.example["position"])
    assert len(rows) == 3 * 2 and {r["position"] for r in rows} == {centre}
    summary = json.loads((tmp_path / "partial" / "summary.json").read_text())
    assert summary["status"] == result.status and summary["complete"] is False
    assert summary["placements_computed"] == 3
    readme = (tmp_path / "partial" / "README.txt").read_text()
    assert readme.splitlines()[0].endswith(f"{result.status}.") and "PARTIAL RESULT" in readme
    assert (tmp_path / "partial" / "figure4_fields.png").exists()
    # a new complete run replaces the partial result and its labels
    widget.progressed.disconnect()
    assert widget.run_study(blocking=True).is_complete
    assert "PARTIAL" not in widget.plots.header.text() and "figure4_fields" in widget.figures
    tabs = [widget.plots.tabs.tabText(i) for i in range(widget.plots.tabs.count())]
    assert len(tabs) == 4 and not any("PARTIAL" in t for t in tabs)


def test_worker_run_and_cancel(viewer_or_skip, built, qtbot):
    viewer, coil_widget, widget = _scene(viewer_or_skip, built)
    worker = widget.run_study()
    assert worker is not None, widget.status.value
    assert widget.run_study() is None and "running" in widget.status.value   # one at a time
    qtbot.waitUntil(lambda: widget._worker is None, timeout=60_000)
    assert widget.result is not None and widget.result.is_complete, widget.status.value
    assert widget.status.value.startswith("Study complete")
    first = widget.result

    # cancelled after the first position: the rest is not computed. The GUI thread may be busy (drawing
    # the first result) while the worker goes on, so the worker is also stopped from its own thread
    # (what Cancel does, without the dock's status line, which belongs to the GUI thread)
    from qtpy.QtCore import Qt

    _small_grid(widget, shape=(5, 5))
    widget.progressed.connect(_cancel_after_a_position(widget))
    worker = widget.run_study()
    assert worker is not None, widget.status.value
    worker.yielded.connect(lambda item: _position_done(item[-1]) and worker.quit(),
                           Qt.ConnectionType.DirectConnection)
    qtbot.waitUntil(lambda: widget._worker is None, timeout=60_000)
    result = widget.result
    assert result is not first and not result.is_complete, widget.status.value
    assert result.n_completed in (3, 6)      # 6: the first position was done before the connection
    assert "PARTIAL" in widget.status.value and "PARTIAL" in _texts(widget.figures["figure2_orientation"])


def test_refusals_start_nothing(viewer_or_skip, built, tmp_path):
    viewer, coil_widget, widget = _scene(viewer_or_skip, built, models=False)
    assert widget.run_study() is None and widget.run_study(blocking=True) is None
    assert "build the models in the E-field dock first" in widget.status.value
    assert "Nothing was started" in widget.status.value
    assert widget.result is None and widget._worker is None and widget.plots is None
    assert widget.save_results(tmp_path) is None
    assert "Nothing to save" in widget.status.value

    viewer, coil_widget, widget = _scene(viewer_or_skip, built, place=False)
    assert widget.run_study() is None
    assert "place the coil in the Coil placement dock" in widget.status.value
    assert widget.result is None and widget._worker is None

    viewer, coil_widget, widget = _scene(viewer_or_skip, built)
    store = shared_state(viewer)
    surfaces = store.surfaces
    store.surfaces = {"cortex": surfaces["cortex"]}
    assert widget.run_study() is None and "body surface" in widget.status.value
    store.surfaces = surfaces
    for box in widget.model_boxes.values():
        box.value = False
    assert widget.run_study() is None and "no model is checked" in widget.status.value
    widget.model_boxes["1C"].value = True
    widget.extent_ap.value = 40.0         # off the 10 mm scalp: the grid's own message
    assert widget.run_study() is None and "not above the scalp" in widget.status.value
    assert widget.result is None and widget._worker is None


def test_save_results_never_overwrites_without_asking(viewer_or_skip, built, tmp_path):
    viewer, coil_widget, widget = _scene(viewer_or_skip, built)
    assert widget.save_results(tmp_path) is None and "Nothing to save" in widget.status.value
    assert widget.run_study(blocking=True) is not None, widget.status.value
    out = tmp_path / "results"
    written = widget.save_results(out)
    assert written is not None, widget.status.value
    names = {p.name for p in written}
    assert names == {"study.csv", "summary.json", "README.txt", "figure2_orientation.png",
                     "figure2_orientation.svg", "figure3_maxima.png", "figure3_maxima.svg",
                     "figure4_fields.png", "figure4_fields.svg"}
    assert "Saved 9 files" in widget.status.value
    with open(out / "study.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 27 * 2 and {"re", "cce", "peak_v_per_m", "model"} <= set(rows[0])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and list(summary["models"]) == ["1C", "sphere"]
    assert summary["reference"] == "1C" and summary["summary"]["1C"]["re_mean"] == 0.0
    assert summary["grid"]["shape"] == [3, 3] and len(summary["grid"]["orientations_deg"]) == 3
    assert summary["grid"]["extent_mm"] == [6.0, 4.0] and summary["coil"] == COIL
    assert (out / "figure2_orientation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (out / "figure3_maxima.svg").read_text()

    widget.points_ap.value = 7        # inputs changed after the run: the saved record is the run's
    assert widget.save_results(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["grid"]["shape"] == [3, 3]

    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    assert widget.save_results(out) is None
    assert "Not saved" in widget.status.value and "already exist" in widget.status.value
    assert "Nothing was written" in widget.status.value
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()} == before
    # one existing file is enough to write nothing
    (out / "study.csv").unlink()
    assert widget.save_results(out) is None and not (out / "study.csv").exists()
    # confirmed: replaced
    assert widget.save_results(out, overwrite=True) is not None
    assert (out / "study.csv").exists()
    # a partial result into the same folder: refused, then (confirmed) written, no stale file left
    widget.progressed.connect(_cancel_after_a_position(widget))
    assert not widget.run_study(blocking=True).is_complete
    assert widget.save_results(out) is None and "figure4_fields.png" in widget.status.value
    written = widget.save_results(out, overwrite=True)
    assert written is not None and (out / "figure4_fields.png").exists()
    assert {p.name for p in out.iterdir()} == {p.name for p in written}
    assert json.loads((out / "summary.json").read_text())["complete"] is False
