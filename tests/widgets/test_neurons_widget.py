"""The Neuron thresholds dock on the scene of test_field_widget: a 10 mm scalp sphere ("body"), shown with a
translation, the coil placed above with the Coil placement dock, the 1C model built with the E-field dock
(about a second). The cortex is an
ellipsoid (7 x 5.5 x 4.5 mm) rather than test_field_widget's 7 mm sphere: in a spherical conductor the
field has no radial component, so on a concentric spherical cortex every neuron (axis along the normal)
feels a field across it only and almost none has a threshold within the search range. Ball-and-stick
cells only (0.2 s per threshold)."""

import numpy as np
import pytest

from napari_rat_tms.core.bem.points_field import efield_at_points
from napari_rat_tms.core.coils import MC_B35_MAX_DIDT_A_PER_US
from napari_rat_tms.core.fields import FieldModel
from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.meshes.surface import TriangleSurface
from napari_rat_tms.core.neurons import CellSpec, place_neurons, run_thresholds, threshold_tasks
from napari_rat_tms.viewer.layers import ROLE_KEY
from napari_rat_tms.widgets.coil import CoilPlacementWidget
from napari_rat_tms.widgets.field import FieldWidget
from napari_rat_tms.viewer.shared_state import shared_state
from napari_rat_tms.widgets.neurons import NeuronsWidget

TRANSLATE = np.array([5.0, -3.0, 2.0])
BREGMA, LAMBDA, MIDLINE = (2.0, 0.0, 9.8), (-6.0, 0.0, 9.8), (8.0, 0.0, -6.0)
TOP = np.array([0.0, 0.0, 10.0])
N = 6
CORTEX_AXES_MM = np.array([7.0, 5.5, 4.5])


def _cortex(subdivisions=3):
    """The ellipsoidal cortex (metres), as the models see it (the cortex layer's data frame)."""
    sphere = icosphere(1.0, subdivisions)
    return TriangleSurface(sphere.vertices_m * CORTEX_AXES_MM * 1e-3, sphere.faces, name="cortex")


def _add_surface(viewer, radius_mm, name, subdivisions=3, **kwargs):
    sphere = icosphere(radius_mm * 1e-3, subdivisions, name=name)
    return viewer.add_surface((sphere.vertices_m * 1e3, sphere.faces), name=f"{name} surface",
                              translate=tuple(TRANSLATE), metadata={ROLE_KEY: "surface", "surface": name},
                              **kwargs)


def _scene(make_viewer, kinds=("1C",), place=True):
    viewer = make_viewer()
    cortex = _cortex()
    viewer.add_surface((cortex.vertices_m * 1e3, cortex.faces), name="cortex surface",
                       translate=tuple(TRANSLATE),
                       metadata={ROLE_KEY: "surface", "surface": "cortex"})
    _add_surface(viewer, 10.0, "body", opacity=0.2)
    coil_widget = CoilPlacementWidget(viewer)
    coil_widget.add_landmarks_layer().data = np.array([BREGMA, LAMBDA, MIDLINE]) + TRANSLATE
    coil_widget.skull_layer.value = None
    assert coil_widget.set_frame() is not None, coil_widget.status.value
    if place:
        assert coil_widget.place_at(TOP) is not None, coil_widget.status.value
    field = FieldWidget(viewer)
    if kinds:
        built = field.build_models(list(kinds), blocking=True)
        assert set(built) == set(kinds), field.status.value
    widget = NeuronsWidget(viewer)
    widget.n_neurons.value = N
    return viewer, coil_widget, widget


def _with_role(viewer, role):
    return [layer for layer in viewer.layers if layer.metadata.get(ROLE_KEY) == role]


def test_threshold_map_of_ball_and_stick_cells(viewer_or_skip, tmp_path):
    viewer, coil_widget, widget = _scene(viewer_or_skip)
    widget.cache_dir = tmp_path / "cache"
    assert widget.model_choice.value == "1C"
    done = widget.compute(blocking=True)
    assert list(done) == ["ball-and-stick"], widget.status.value
    results = widget.results["ball-and-stick"]
    cell = widget.cell_results["ball-and-stick"]
    assert len(results) == N
    ok = np.array([r.ok for r in results])
    # some neurons may see too little field along them: no activation up to the search range's 1e5 V/m
    # ("not bracketed"); the others have a threshold
    assert ok.sum() >= 2 and all(r.ok or r.status == "not bracketed" for r in results), \
        [r.message for r in results]
    assert f"{ok.sum()}/{N} neurons with a threshold" in widget.status.value

    # the map: the cortex (lifted 0.1 mm), the cortex layer's transform, the neurons' thresholds at
    # their vertices (nearest-vertex interpolation elsewhere)
    (surface,) = _with_role(viewer, "neuron_threshold_map")
    assert surface.name == "threshold ball-and-stick (A/µs)"
    assert np.allclose(surface.translate, TRANSLATE) and np.allclose(surface.scale, 1.0)
    cortex = _cortex()
    lifted = cortex.vertices_m * 1e3 + 0.1 * cortex.vertex_normals
    np.testing.assert_allclose(surface.data[0], lifted, atol=1e-5)
    np.testing.assert_array_equal(surface.data[1], cortex.faces)
    thresholds = np.array([r.threshold_amplitude if r.ok else np.nan for r in results], dtype=float)
    vertices = np.array([p.vertex for p in cell.placements])
    assert len(np.unique(vertices)) == N
    assert np.all(np.isfinite(surface.vertex_values))
    np.testing.assert_allclose(surface.vertex_values[vertices[ok]], thresholds[ok])
    top = np.nanmax(thresholds)      # no threshold: drawn at the top of the colour range
    np.testing.assert_allclose(surface.vertex_values[vertices[~ok]], top)
    assert tuple(surface.contrast_limits) == pytest.approx((np.nanmin(thresholds), top))
    assert set(np.unique(surface.vertex_values)) <= set(thresholds[ok])

    # the somas: L5 depth (1.12 mm) under the vertices, in the same world frame, with the features
    (points,) = _with_role(viewer, "neuron_somas")
    assert points.name == "neurons ball-and-stick" and np.allclose(points.translate, TRANSLATE)
    expected_somas = (cortex.vertices_m * 1e3 - 1.1195 * cortex.vertex_normals)[vertices]
    np.testing.assert_allclose(points.data, expected_somas, atol=1e-5)
    np.testing.assert_allclose(points.features["threshold_a_per_us"], thresholds)
    np.testing.assert_allclose(points.features["threshold_pct_mso"],
                               100 * thresholds / MC_B35_MAX_DIDT_A_PER_US)
    assert list(points.features["status"]) == [r.status for r in results]

    # independent path through the core for one neuron: rebuild its placement and the BEM field at
    # 1 A/us from the coil dock's placement, one task, run in this process without cache
    store = shared_state(viewer)
    conductor = store.models["1C"].solver.conductor
    placed = coil_widget.placement.place(coil_widget.coil)
    k = int(np.nanargmin(thresholds))          # the most excitable neuron
    (placement,) = place_neurons(cortex, "L5", vertices=[vertices[k]],
                                 azimuths_rad=[cell.placements[k].azimuth_rad])
    np.testing.assert_allclose(placement.soma, cell.placements[k].soma, atol=1e-12)
    (task,) = threshold_tasks(CellSpec("ball_and_stick"), [placement],
                              lambda p: efield_at_points(conductor, placed, 1e6, p), "monophasic")
    (expected,) = run_thresholds([task], processes=False)
    assert expected.ok
    assert results[k].threshold_amplitude == pytest.approx(expected.threshold_amplitude, rel=1e-6)
    # units: the field of the placement's own dI/dt (50 A/us) scaled by threshold / 50 gives the
    # peak |E| at threshold that the engine reports
    didt = coil_widget.placement.didt_a_per_us
    assert didt == pytest.approx(50.0)
    from napari_rat_tms.core.neurons.cortex import cell_points_in_head
    from napari_rat_tms.core.neurons.population import cell_for_spec

    segments = cell_points_in_head(cell_for_spec(CellSpec("ball_and_stick")), placement)
    e50 = efield_at_points(conductor, placed, didt * 1e6, segments)
    peak_at_threshold = np.linalg.norm(e50, axis=1).max() * results[k].threshold_amplitude / didt
    assert peak_at_threshold == pytest.approx(results[k].threshold_peak_v_per_m, rel=1e-6)
    assert 50 < results[k].threshold_peak_v_per_m < 5000      # hundreds of V/m (BENCHMARKS.md)

    # the fraction activated: monotone in % MSO, 0 at 0 %, at a very high output the fraction with a
    # threshold (the not-bracketed ones count as not activated)
    percents = [0, 1, 5, 10, 20, 50, 100, 200, 500, 1000, 1e6]
    fractions = [widget.activated_fraction("ball-and-stick", p) for p in percents]
    assert fractions[0] == 0.0 and fractions[-1] == pytest.approx(ok.mean())
    assert all(a <= b for a, b in zip(fractions, fractions[1:]))
    pct = 100 * np.nanmin(thresholds) / MC_B35_MAX_DIDT_A_PER_US
    widget.mso.value = pct * 1.001       # just above the lowest threshold: that neuron only
    assert widget.activated_fraction("ball-and-stick", widget.mso.value) == pytest.approx(1 / N)
    colours = np.asarray(points.face_color)
    red = np.all(np.isclose(colours[:, :3], [1, 0, 0]), axis=1)
    assert red.tolist() == (np.arange(N) == k).tolist()
    assert "17 % of the neurons activated" in widget.activated.value

    # the map in % MSO
    widget.units.value = "% MSO"
    assert surface.name == "threshold ball-and-stick (% MSO)"
    np.testing.assert_allclose(surface.vertex_values[vertices[ok]],
                               100 * thresholds[ok] / MC_B35_MAX_DIDT_A_PER_US)
    assert tuple(surface.contrast_limits) == pytest.approx(
        (100 * np.nanmin(thresholds) / MC_B35_MAX_DIDT_A_PER_US, 100 * top / MC_B35_MAX_DIDT_A_PER_US))

    # a rerun reads every neuron from the cache and gives the same numbers, replacing the layers
    again = widget.compute(blocking=True)["ball-and-stick"]
    assert all(r.from_cache for r in again.results)
    assert [r.threshold_amplitude for r in again.results] == [r.threshold_amplitude for r in results]
    assert len(_with_role(viewer, "neuron_threshold_map")) == 1
    assert len(_with_role(viewer, "neuron_somas")) == 1


def test_neurons_under_the_coil(viewer_or_skip, tmp_path):
    """"Neurons on: under the coil": every neuron at a vertex where |E| (the 1C model, this placement)
    is at least half its maximum, one of them at the maximum."""
    from napari_rat_tms.widgets.neurons import WHERE

    viewer, coil_widget, widget = _scene(viewer_or_skip)
    widget.cache_dir = tmp_path / "cache"
    widget.where.value = WHERE[1]
    done = widget.compute(blocking=True)
    assert list(done) == ["ball-and-stick"], widget.status.value
    model = shared_state(viewer).models["1C"]
    norm = np.linalg.norm(model.efield(coil_widget.placement.place(coil_widget.coil), 1e6), axis=1)
    vertices = np.array([p.vertex for p in done["ball-and-stick"].placements])
    assert len(vertices) == N
    assert np.all(norm[vertices] >= 0.5 * norm.max()) and int(np.argmax(norm)) in vertices


def test_uniform_field_estimate_in_the_dock(viewer_or_skip, tmp_path):
    """"Thresholds by: uniform-field estimate": the same map layers, drawn from the estimates, the
    method in the status and the layer's metadata; the direction map cached with the thresholds."""
    from napari_rat_tms.widgets.neurons import METHOD_CHOICES

    viewer, coil_widget, widget = _scene(viewer_or_skip)
    widget.cache_dir = tmp_path / "cache"
    widget.method.value = next(k for k, v in METHOD_CHOICES.items() if v == "uniform-field")
    done = widget.compute(blocking=True)
    assert list(done) == ["ball-and-stick"], widget.status.value
    result = done["ball-and-stick"]
    assert result.method == "uniform-field" and "uniform-field estimate" in widget.status.value
    assert np.isfinite(result.thresholds_a_per_us).sum() >= 2, [r.message for r in result.results]
    (surface,) = _with_role(viewer, "neuron_threshold_map")
    assert surface.metadata["method"] == "uniform-field"
    assert list((tmp_path / "cache" / "direction_maps").glob("*.npz"))
    # the map layer keeps the settings it was computed with; a dock set from them gives them back
    from napari_rat_tms.core.neurons.map_settings import ThresholdMapSettings
    from napari_rat_tms.widgets.neurons import NeuronsWidget

    settings = ThresholdMapSettings.from_dict(surface.metadata["settings"])
    assert settings == widget.settings() and settings.method == "uniform-field" and settings.model == "1C"
    other = NeuronsWidget(viewer)
    assert other.settings() != settings
    other.apply_settings(settings)
    assert other.settings() == settings


def test_user_errors_give_a_status_and_no_layer(viewer_or_skip, tmp_path):
    viewer, coil_widget, widget = _scene(viewer_or_skip, kinds=())
    n_layers = len(viewer.layers)
    assert widget.compute(blocking=True) is None
    assert "No head model built" in widget.status.value

    field = FieldWidget(viewer)
    assert set(field.build_models(["1C"], blocking=True)) == {"1C"}, field.status.value
    # a sphere model (fitting one needs a hollow skull: a stand-in with the sphere's kind and a solver
    # without a volume conductor, as the core's SphericalHeadModel)
    store = shared_state(viewer)
    store.add(FieldModel("sphere", object(), store.models["1C"].points_m, 0.0))
    widget.model_choice.value = "sphere"
    assert widget.compute(blocking=True) is None
    assert "sphere model has no volume conductor" in widget.status.value

    widget.model_choice.value = "1C"
    empty = tmp_path / "empty"
    empty.mkdir()
    widget.folder.value = str(empty)
    assert widget.compute(blocking=True) is None
    assert "has no .asc or .swc file" in widget.status.value
    widget.folder.value = ""
    widget.ball_and_stick.value = False
    assert widget.compute(blocking=True) is None
    assert "No cell type is chosen" in widget.status.value

    # a morphology folder: one checkbox per file, its layer from the name
    (tmp_path / "L23_PC_test_1.asc").write_text("")
    (tmp_path / "other.swc").write_text("")
    widget.folder.value = str(tmp_path)
    assert [box.text for box in widget.morphology_boxes] == ["L23_PC_test_1 (L2/3)",
                                                             "other (layer unknown: L5 depth)"]
    # a morphology that cannot be read: its neurons fail with a message, the run goes on and draws
    widget.morphology_boxes[1].value = False
    widget.n_neurons.value = 2
    done = widget.compute(blocking=True)
    assert list(done) == ["L23_PC_test_1"], widget.status.value
    assert [r.status for r in widget.results["L23_PC_test_1"]] == ["failed: morphology"] * 2
    assert "0/2 neurons with a threshold; 2 failed: morphology" in widget.status.value
    assert widget.activated_fraction("L23_PC_test_1", 100.0) is None
    assert "no neuron with a known outcome" in widget.activated.value
    for layer in [layer for layer in viewer.layers if layer.metadata.get("cell") == "L23_PC_test_1"]:
        viewer.layers.remove(layer)
    widget.folder.value = ""

    coil_layer = [layer for layer in viewer.layers if layer.metadata.get(ROLE_KEY) == "coil"][0]
    viewer.layers.remove(coil_layer)
    widget.ball_and_stick.value = True
    n_layers = len(viewer.layers)
    assert widget.compute(blocking=True) is None
    assert "No coil placed" in widget.status.value
    assert len(viewer.layers) == n_layers


def test_worker_run_and_cancel(viewer_or_skip, qtbot, tmp_path):
    viewer, _, widget = _scene(viewer_or_skip)
    widget.cache_dir = None
    widget.n_neurons.value = 2
    worker = widget.compute()
    assert worker is not None, widget.status.value
    qtbot.waitUntil(lambda: widget._worker is None, timeout=60000)
    assert len(widget.results["ball-and-stick"]) == 2, widget.status.value
    assert len(_with_role(viewer, "neuron_threshold_map")) == 1
    assert widget.compute_button.enabled and not widget.cancel_button.enabled

    widget.results.clear()
    widget.cell_results.clear()
    worker = widget.compute()
    widget.cancel()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=60000)
    assert "Cancel" in widget.status.value
    assert widget.compute_button.enabled
