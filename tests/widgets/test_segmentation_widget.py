"""The segmentation widget: thresholds from the histogram, a run in a worker that adds the result
layers, eyes and painted brain, errors in the status (never raised, no layer touched), cancel,
parameters saved and loaded, the spine cut plane."""

import json

import numpy as np
import pytest

from napari_rat_tms.core.segmentation import LABEL_NAMES, TissueLabel
from napari_rat_tms.core.synthetic import RatLabel, make_synthetic_rat
from napari_rat_tms.viewer.layers import ROLE_KEY, synthetic_rat_layer_data
from napari_rat_tms.widgets.segmentation import SegmentationWidget

RESULT_KEY = "napari_rat_tms_segmentation"


@pytest.fixture(scope="module")
def rat():
    return make_synthetic_rat(0.5)  # 174^3 voxels: a run takes about 3 s


@pytest.fixture
def setup(viewer_or_skip, rat):
    """A viewer with the synthetic rat's layers and the widget on its µCT."""
    viewer = viewer_or_skip()
    for data, kwargs, layer_type in synthetic_rat_layer_data(rat):
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)
    widget = SegmentationWidget(viewer)
    assert widget.image.value is viewer.layers["synthetic rat µCT"]
    return viewer, widget


def _click_eyes(widget, rat, points=None):
    layer = widget.eye_points_layer()
    assert layer.name == "eye centres" and layer.mode == "add"
    layer.data = np.array(points if points is not None else
                          [rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]])
    return layer


def _wait(widget, qtbot, timeout=60_000):
    """Until the widget's worker has finished. (Waiting for ``worker.finished`` after starting
    can miss it when the run fails at once, e.g. on a threshold that selects nothing.)"""
    qtbot.waitUntil(lambda: widget._worker is None, timeout=timeout)


def _run(widget, qtbot, runner=None):
    worker = (runner or widget.start)()
    assert worker is not None, widget.status.value
    _wait(widget, qtbot)
    return worker


def _snapshot(viewer):
    return {layer.name: (id(layer), np.array(layer.data, copy=True) if layer.name != "spine cut"
                         else None) for layer in viewer.layers}


def _unchanged(viewer, before):
    after = _snapshot(viewer)
    assert after.keys() == before.keys()
    for name, (ident, data) in before.items():
        assert after[name][0] == ident
        if data is not None:
            np.testing.assert_array_equal(after[name][1], data, err_msg=name)


def test_segment_adds_layers_with_typed_thresholds_and_eyes(setup, rat, qtbot):
    viewer, widget = setup
    thresholds = widget.suggest()
    assert thresholds is not None and "Suggested" in widget.status.value
    assert widget.air_soft.value == pytest.approx(thresholds.air_soft, abs=0.01)
    assert widget.bone.value == pytest.approx(thresholds.bone, abs=0.01)
    assert len(widget._axes.lines) == 3  # histogram and the two threshold lines
    widget.air_soft.value, widget.bone.value = -450.0, 400.0  # typed: these are used
    assert [line.get_xdata()[0] for line in widget._axes.lines[1:]] == [-450.0, 400.0]
    _click_eyes(widget, rat)
    seen = []
    worker = widget.start()
    worker.yielded.connect(seen.append)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        pass
    assert seen and "Done" in widget.status.value, widget.status.value
    assert widget.progress.value == 100
    seg_layer = viewer.layers["segmentation"]
    region = viewer.layers["cortical evaluation region"]
    brain = viewer.layers["brain"]
    for layer in (seg_layer, region, brain):
        np.testing.assert_allclose(layer.scale, rat.volume.voxel_size_mm)
        assert layer.data.shape == rat.volume.data.shape
    present = set(np.unique(seg_layer.data))
    assert {int(v) for v in (TissueLabel.BODY, TissueLabel.SKULL, TissueLabel.EYE,
                             TissueLabel.BRAIN)} <= present
    record = seg_layer.metadata[RESULT_KEY]
    assert record["parameters"]["air_soft_threshold"] == -450.0
    assert record["parameters"]["bone_threshold"] == 400.0
    assert record["brain_source"] == "suggestion" and len(record["eye_points_mm"]) == 2
    assert list(seg_layer.features["tissue"]) == [LABEL_NAMES[k] for k in sorted(LABEL_NAMES)]
    np.testing.assert_array_equal(brain.data > 0, seg_layer.data == TissueLabel.BRAIN)
    assert region.data.any() and not (region.data.astype(bool) & ~brain.data.astype(bool)).any()

    # one isolevel per eye; a typed one is used by "Update eyes"
    levels = list(widget.eye_levels)
    assert len(levels) == 4 and all(box.value for box in levels[1::2])
    assert widget.eye_isolevels() == [None, None]
    levels[0].value = levels[0].value + 20.0  # typing unticks "auto"
    assert widget.eye_isolevels()[0] == pytest.approx(levels[0].value) and not levels[1].value
    _run(widget, qtbot, widget.update_eyes)
    assert "Done" in widget.status.value, widget.status.value
    record = viewer.layers["segmentation"].metadata[RESULT_KEY]
    assert record["parameters_used"]["eye_isolevels"][0] == pytest.approx(levels[0].value)

    # re-running replaces the data of the plugin's own layers, found by role (not by name)
    seg_layer.name = "my segmentation"
    n_layers = len(viewer.layers)
    widget.air_soft.value = -400.0
    _run(widget, qtbot)
    assert len(viewer.layers) == n_layers
    assert seg_layer.metadata[RESULT_KEY]["parameters"]["air_soft_threshold"] == -400.0
    assert seg_layer.metadata[ROLE_KEY] == "segmentation"


def test_histogram_clicks_set_the_thresholds(setup):
    from matplotlib.backend_bases import MouseEvent

    _, widget = setup
    widget.suggest()
    widget.canvas.draw()
    ax = widget._axes
    y = np.sqrt(np.prod(ax.get_ylim()))  # mid-height on the log axis
    for button, value in ((1, -300.0), (3, 600.0)):
        x_px, y_px = ax.transData.transform((value, y))
        MouseEvent("button_press_event", widget.canvas, x_px, y_px, button=button)._process()
    assert widget.air_soft.value == pytest.approx(-300.0, abs=20)
    assert widget.bone.value == pytest.approx(600.0, abs=20)
    assert widget.thresholds() == (widget.air_soft.value, widget.bone.value)


def test_suggest_reports_errors(viewer_or_skip):
    viewer = viewer_or_skip()
    widget = SegmentationWidget(viewer)
    assert widget.suggest() is None and "Cannot suggest" in widget.status.value  # no image
    assert widget.start() is None and "Cannot segment" in widget.status.value
    viewer.add_image(np.full((20, 20, 20), 7.0, np.float32), scale=(0.5,) * 3)
    assert widget.suggest() is None and "uniform" in widget.status.value


def test_cancel_adds_no_layer(setup, qtbot):
    viewer, widget = setup
    before = _snapshot(viewer)
    worker = widget.start()
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        widget.cancel()
    assert "Cancelled" in widget.status.value
    _unchanged(viewer, before)
    assert widget.segment_button.enabled and not widget.cancel_button.enabled


def test_thresholds_selecting_nothing_add_no_layer(setup, qtbot):
    viewer, widget = setup
    before = _snapshot(viewer)
    widget.bone.value, widget.air_soft.value = 31000.0, 30000.0
    _run(widget, qtbot)
    assert widget.status.value.startswith("Cannot segment:"), widget.status.value
    _unchanged(viewer, before)
    widget.bone.value = 100.0  # below air/soft: refused before any run
    assert widget.start() is None and "Cannot segment" in widget.status.value


def test_eye_outside_the_body_changes_no_layer(setup, rat, qtbot):
    viewer, widget = setup
    _run(widget, qtbot)  # no eye points: a model without eyes
    assert "Done" in widget.status.value and "eye" not in [layer.name for layer in viewer.layers]
    _click_eyes(widget, rat, [rat.landmarks_mm["left_eye"], (1.0, 1.0, 1.0)])
    before = _snapshot(viewer)
    _run(widget, qtbot)
    assert widget.status.value.startswith("Cannot segment:"), widget.status.value
    assert "eye 2" in widget.status.value and "outside the body" in widget.status.value
    _unchanged(viewer, before)


def test_brain_painted_over_the_skull_is_reported(setup, qtbot):
    viewer, widget = setup
    _run(widget, qtbot)
    brain, seg_layer = viewer.layers["brain"], viewer.layers["segmentation"]
    painted = np.array(brain.data, copy=True)
    painted[seg_layer.data == TissueLabel.SKULL] = 1  # over the whole skull
    brain.data = painted
    assert widget.apply_painted_brain() is not None  # a worker
    _wait(widget, qtbot)
    seg = widget._result
    assert seg.brain_source == "painted"
    assert "lie on bone" in widget.status.value, widget.status.value
    np.testing.assert_array_equal(viewer.layers["brain"].data, painted)  # left as painted
    assert (seg_layer.data == TissueLabel.SKULL).any()  # the skull stays skull
    assert seg_layer.metadata[RESULT_KEY]["brain_source"] == "painted"
    brain.data = np.zeros_like(painted)  # empty: refused, nothing changed
    labels = np.array(seg_layer.data, copy=True)
    assert widget.apply_painted_brain() is not None
    _wait(widget, qtbot)
    assert "empty" in widget.status.value
    np.testing.assert_array_equal(seg_layer.data, labels)


def test_existing_brain_layer_is_used_and_kept(setup, rat, qtbot):
    viewer, widget = setup
    mine = (rat.labels == RatLabel.BRAIN).astype(np.uint8)  # the user's own brain layer
    user_layer = viewer.add_labels(mine.copy(), name="brain", scale=rat.volume.voxel_size_mm,
                                   units="mm")
    _run(widget, qtbot)
    assert "Done" in widget.status.value, widget.status.value
    assert [layer.name for layer in viewer.layers].count("brain") == 1
    np.testing.assert_array_equal(user_layer.data, mine)  # never overwritten
    seg_layer = viewer.layers["segmentation"]
    assert seg_layer.metadata[RESULT_KEY]["brain_source"] == "painted"
    assert ((seg_layer.data == TissueLabel.BRAIN) <= mine.astype(bool)).all()


def test_save_and_load_parameters(setup, tmp_path):
    viewer, widget = setup
    widget.body_closing.value, widget.skull_closing.value, widget.gap.value = 1.5, 0.8, 0.7
    widget.air_soft.value, widget.bone.value = -420.0, 380.0
    path = tmp_path / "parameters.json"
    assert widget.save_parameters(path) == path, widget.status.value
    saved = path.read_text()
    widget.gap.value = 0.2
    assert widget.save_parameters(path) is None and "exists" in widget.status.value
    assert path.read_text() == saved  # no silent overwrite

    other = SegmentationWidget(viewer)
    params = other.load_parameters(path)
    assert params is not None and other.parameters() == params
    assert params.to_json() == saved
    assert (other.body_closing.value, other.skull_closing.value, other.gap.value) == (1.5, 0.8, 0.7)
    assert other.thresholds() == (-420.0, 380.0)
    assert widget.save_parameters(path, overwrite=True) == path
    assert json.loads(path.read_text())["evaluation_gap_mm"] == pytest.approx(0.2)

    bad = tmp_path / "bad.json"
    bad.write_text('{"no_such_parameter": 1}')
    assert other.load_parameters(bad) is None and "no_such_parameter" in other.status.value
    assert other.load_parameters(tmp_path / "missing.json") is None
    assert "Cannot load" in other.status.value


def test_spine_cut_layer_follows_the_settings(setup):
    viewer, widget = setup
    assert "spine cut" not in [layer.name for layer in viewer.layers]
    widget.spine.value = "cut"
    layer = viewer.layers["spine cut"]
    assert layer.metadata[ROLE_KEY] == "spine_cut"
    vertices = np.asarray(layer.data[0])
    extent = vertices.max(axis=0) - vertices.min(axis=0)
    assert extent[0] == 0 and extent[1] > 50 and extent[2] > 50  # a plane across axis 0
    widget.cut_axis.value = 1
    widget.cut_position.value = 20.0
    vertices = np.asarray(viewer.layers["spine cut"].data[0])
    np.testing.assert_allclose(vertices[:, 1], 20.0)
    widget.cut_high_side.value = False
    point, normal = widget.spine_cut()
    np.testing.assert_allclose(point, [0.0, 20.0, 0.0])
    np.testing.assert_allclose(normal, [0.0, -1.0, 0.0])
    widget.spine.value = "connectivity"
    assert "spine cut" not in [layer.name for layer in viewer.layers]


def test_spine_cut_parameters_round_trip(setup, tmp_path):
    viewer, widget = setup
    widget.spine.value, widget.cut_axis.value = "cut", 2
    widget.cut_position.value, widget.cut_high_side.value = 12.5, False
    params = widget.parameters()
    assert params.spine_cut_point_mm == (0.0, 0.0, 12.5)
    assert params.spine_cut_normal == (0.0, 0.0, -1.0)
    path = widget.save_parameters(tmp_path / "cut.json")
    assert path is not None, widget.status.value
    other = SegmentationWidget(viewer)
    assert other.load_parameters(path) == params
    assert (other.spine.value, other.cut_axis.value, other.cut_position.value,
            other.cut_high_side.value) == ("cut", 2, 12.5, False)


def test_segment_with_a_spine_cut(setup, rat, qtbot):
    viewer, widget = setup
    normal = np.asarray(rat.spine_cut_normal, dtype=float)
    axis = int(np.argmax(np.abs(normal)))
    widget.spine.value, widget.cut_axis.value = "cut", axis
    widget.cut_position.value = float(rat.spine_cut_point_mm[axis])
    widget.cut_high_side.value = bool(normal[axis] > 0)
    widget.parameters()  # raises while the core bug is there
    _run(widget, qtbot)
    seg_layer = viewer.layers["segmentation"]
    assert seg_layer.metadata[RESULT_KEY]["parameters"]["spine_separation"] == "cut"
    assert (seg_layer.data == TissueLabel.SPINE).any() and (seg_layer.data == TissueLabel.SKULL).any()


def test_changing_the_gap_redoes_the_evaluation_region(setup, qtbot):
    viewer, widget = setup
    _run(widget, qtbot)
    region = viewer.layers["cortical evaluation region"]
    before = np.count_nonzero(region.data)
    widget.gap.value = 2.0  # redone in a worker
    _wait(widget, qtbot)
    assert 0 < np.count_nonzero(region.data) < before
    assert region.metadata["gap_mm"] == 2.0
    assert viewer.layers["segmentation"].metadata[RESULT_KEY]["parameters"]["evaluation_gap_mm"] == 2.0


def test_undo_restores_the_result_layers_exactly(setup, qtbot):
    viewer, widget = setup
    assert not widget.undo() and "Nothing to undo" in widget.status.value
    _run(widget, qtbot)
    segmentation = viewer.layers["segmentation"]
    region = viewer.layers["cortical evaluation region"]
    # the user paints on the segmentation (across slices), then the plugin redoes the region
    segmentation.data[10:20, 30:40, 50:60] = int(TissueLabel.SKULL)
    painted = np.array(segmentation.data, copy=True)
    region_before = np.array(region.data, copy=True)
    metadata_before = json.dumps(region.metadata, sort_keys=True, default=str)
    widget.gap.value = 2.0
    _wait(widget, qtbot)
    assert not np.array_equal(region.data, region_before)
    assert widget.undo_button.enabled and widget.undo()
    np.testing.assert_array_equal(region.data, region_before)
    np.testing.assert_array_equal(segmentation.data, painted)      # the painting is kept
    assert json.dumps(region.metadata, sort_keys=True, default=str) == metadata_before
    assert widget._result.parameters.evaluation_gap_mm != 2.0
    # undoing the first Segment removes the result layers it created
    assert widget.undo() and "segmentation" not in [layer.name for layer in viewer.layers]
    assert not widget.undo_button.enabled


def test_suggest_eye_centres_fills_the_eye_layer_then_update_eyes(setup, rat, qtbot):
    """Segment without eyes, press Suggest eye centres: two points near the true eye centres (within
    2 voxels at 0.5 mm; the core's test measures 0.18-0.26 mm at 0.34 mm) in the 'eye centres' layer;
    Update eyes then extracts two eyes."""
    viewer, widget = setup
    assert not widget.suggest_eyes_button.enabled  # needs a segmentation
    _run(widget, qtbot)
    assert widget.suggest_eyes_button.enabled
    _run(widget, qtbot, widget.suggest_eyes)
    assert "Suggested eye centres" in widget.status.value, widget.status.value
    points = widget.eye_points_mm(widget.image.value)
    truth = np.array([rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]])
    errors = np.linalg.norm(points[:, None] - truth[None], axis=-1).min(axis=1)
    assert len(points) == 2 and errors.max() < 2 * 0.5, errors
    _run(widget, qtbot, widget.update_eyes)
    assert int(TissueLabel.EYE) in np.unique(viewer.layers["segmentation"].data)


def test_species_sets_the_closings_and_the_eye_box(setup):
    from napari_rat_tms.core.species import species_defaults

    _, widget = setup
    widget.species.value = "mouse"
    mouse = species_defaults("mouse")
    params = widget.parameters()
    assert params.body_closing_radius_mm == mouse.body_closing_radius_mm
    assert params.eye_cube_mm == mouse.eye_cube_mm and params.eye_median_mm == mouse.eye_median_mm
    widget.species.value = "rat"
    assert widget.parameters().eye_cube_mm == species_defaults("rat").eye_cube_mm


def test_update_eyes_checks_the_eyes_for_the_species(setup, rat, qtbot):
    """Update eyes uses the core's check (Segmentation.with_plausible_eyes): the synthetic rat's
    6 mm eyes are plausible for a rat (extracted, no note) and not for a mouse, whose dock models
    them as balls within the mouse's eye diameters and says so in the status."""
    from napari_rat_tms.core.species import species_defaults

    viewer, widget = setup
    _click_eyes(widget, rat)
    _run(widget, qtbot)
    assert "modelled as a ball" not in widget.status.value
    rat_eyes = viewer.layers["segmentation"].data == TissueLabel.EYE
    widget.species.value = "mouse"
    _run(widget, qtbot, widget.update_eyes)
    assert widget.status.value.count("modelled as a ball") == 2, widget.status.value
    eyes = viewer.layers["segmentation"].data == TissueLabel.EYE
    d_hi = species_defaults("mouse").eye_diameter_mm[1]
    h = np.asarray(widget._result.voxel_size_mm)
    assert eyes.sum() * h.prod() <= 2 * 1.05 * np.pi / 6 * d_hi**3 < rat_eyes.sum() * h.prod()
