"""The coil placement widget on spheres: a 10 mm scalp and a 7 mm cortex, centred on the origin of
the model frame, shown with a translation (world = model + TRANSLATE). The landmarks make
anterior = +x, dorsal = +z, right = -y."""

import json
import types

import numpy as np
import pytest

from napari_rat_tms.core.coils import CoilDipoles, write_ccd
from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.viewer.layers import ROLE_KEY
from napari_rat_tms.widgets.coil import CoilPlacementWidget

TRANSLATE = np.array([5.0, -3.0, 2.0])
BREGMA, LAMBDA, MIDLINE = (2.0, 0.0, 9.8), (-6.0, 0.0, 9.8), (8.0, 0.0, -6.0)
TOP = np.array([0.0, 0.0, 10.0])


def _add_surface(viewer, radius_mm, name):
    sphere = icosphere(radius_mm * 1e-3, 3, name=name)
    return viewer.add_surface((sphere.vertices_m * 1e3, sphere.faces), name=f"{name} surface",
                              translate=tuple(TRANSLATE),
                              metadata={ROLE_KEY: "surface", "surface": name})


def _scene(make_viewer, frame=True):
    viewer = make_viewer()
    _add_surface(viewer, 7.0, "cortex")   # first: the scalp chooser must still pick the body
    _add_surface(viewer, 10.0, "body")
    widget = CoilPlacementWidget(viewer)
    if frame:
        _set_landmarks(widget, [BREGMA, LAMBDA, MIDLINE])
        assert widget.set_frame() is not None, widget.status.value
    return viewer, widget


def _set_landmarks(widget, points_model):
    layer = widget.add_landmarks_layer()
    layer.data = np.asarray(points_model, float) + TRANSLATE
    return layer


def _by_role(viewer, role):
    found = [layer for layer in viewer.layers if layer.metadata.get(ROLE_KEY) == role]
    assert len(found) == 1, [layer.name for layer in viewer.layers]
    return found[0]


def _signed_angle_deg(a, b, about):
    return np.degrees(np.arctan2(np.cross(a, b) @ about, a @ b))


def test_choosers_layers_and_roles(viewer_or_skip):
    viewer, widget = _scene(viewer_or_skip)
    viewer.window.add_dock_widget(widget)
    assert widget.scalp_layer.value.name == "body surface"
    assert widget.cortex_layer.value.name == "cortex surface"
    assert widget.skull_layer.value is None
    assert widget.coil.n_dipoles > 100 and "dipoles" in widget.coil_label.value
    assert widget.frame is not None and np.allclose(widget.frame.anterior, [1, 0, 0])
    assert np.allclose(widget.frame.dorsal, [0, 0, 1])
    # the landmarks layer is made once and never replaced
    landmarks = _by_role(viewer, "landmarks")
    assert list(landmarks.features["landmark"]) == ["bregma", "lambda", "midline"]
    assert widget.add_landmarks_layer() is landmarks and "kept" in widget.status.value

    placement = widget.place_at(TOP + [0.3, 0.0, 0.5])  # snapped onto the scalp
    assert placement is widget.placement
    assert np.allclose(placement.axis, [0, 0, -1], atol=0.05)
    assert np.allclose(placement.current_direction, [1, 0, 0], atol=0.05)  # 0 deg = PA
    assert "AP" in widget.position_label.value and "ML" in widget.position_label.value

    coil = _by_role(viewer, "coil")
    current = _by_role(viewer, "coil_current")
    target = _by_role(viewer, "line_navigation")
    assert coil.name == "coil" and current.name == "coil current"
    assert np.allclose(coil.translate, TRANSLATE) and np.allclose(target.translate, TRANSLATE)
    assert coil.data[0].shape[1] == 3 and len(coil.data[1]) > 0
    # the coil is above the scalp (outside the 10 mm sphere), the arrow 10 mm long
    assert np.linalg.norm(coil.data[0], axis=1).min() >= 9.9
    assert np.isclose(np.linalg.norm(current.data[0, 1]), 10.0)
    assert len(target.data) == 1 and target.visible
    assert np.isclose(np.linalg.norm(target.data[0]), 7.0, atol=0.1)
    assert widget.line_navigation is not None and "Line-navigation target" in widget.status.value

    # a second placement updates the same layers
    widget.place_at([0.0, 6.0, 8.0])
    for role in ("coil", "coil_current", "line_navigation"):
        _by_role(viewer, role)
    n_layers = len(viewer.layers)
    widget.place_at(TOP)
    assert len(viewer.layers) == n_layers


def test_orientation_gap_and_didt_follow_the_controls(viewer_or_skip):
    viewer, widget = _scene(viewer_or_skip)
    seen = []
    widget.placement_changed.connect(seen.append)
    before = widget.place_at(TOP)
    current = _by_role(viewer, "coil_current")
    arrow0 = current.data[0, 1].copy()
    widget.orientation_deg.value = 30.0
    assert widget.orientation_slider.value == pytest.approx(30.0)
    arrow1 = current.data[0, 1]
    # counter-clockwise seen from above the coil = about the outward normal (-axis)
    assert _signed_angle_deg(arrow0, arrow1, -before.axis) == pytest.approx(30.0, abs=1e-6)
    assert widget.placement.orientation_deg == pytest.approx(30.0)
    assert np.allclose(widget.placement.axis, before.axis)
    widget.orientation_slider.value = -45.0  # the slider drives the spin box too
    assert widget.orientation_deg.value == pytest.approx(-45.0)
    assert _signed_angle_deg(arrow0, current.data[0, 1], -before.axis) == pytest.approx(-45.0, abs=1e-6)

    centre = widget.placement.centre_mm.copy()
    widget.gap.value = 2.0
    assert np.allclose(widget.placement.centre_mm, centre - 2.0 * widget.placement.axis, atol=1e-6)
    widget.didt.value = 80.0
    assert widget.placement.didt_a_per_us == pytest.approx(80.0)
    assert widget.placement.gap_mm == pytest.approx(2.0)
    assert len(seen) >= 5 and seen[-1] is widget.placement


def test_off_scalp_keeps_the_previous_placement(viewer_or_skip):
    viewer, widget = _scene(viewer_or_skip)
    before = widget.place_at(TOP)
    assert widget.place_at([0.0, 0.0, 20.0]) is None
    assert "Cannot place" in widget.status.value and "previous placement is kept" in widget.status.value
    assert widget.placement is before


def test_placing_needs_the_frame_and_good_landmarks(viewer_or_skip):
    viewer, widget = _scene(viewer_or_skip, frame=False)
    assert widget.place_at(TOP) is None
    assert "stereotaxic frame" in widget.status.value and widget.placement is None
    assert not any(layer.metadata.get(ROLE_KEY) == "coil" for layer in viewer.layers)
    widget.show_grid()
    assert "frame" in widget.status.value
    # too few landmarks
    layer = widget.add_landmarks_layer()
    layer.data = np.array([BREGMA]) + TRANSLATE
    assert widget.set_frame() is None and "1 of the 3" in widget.status.value
    # collinear landmarks: the core's LandmarkError, shown in the status
    layer.data = np.array([BREGMA, LAMBDA, (10.0, 0.0, 9.8)]) + TRANSLATE
    assert widget.set_frame() is None
    assert "Cannot set the stereotaxic frame" in widget.status.value
    assert "midline point" in widget.status.value and widget.frame is None
    layer.data = np.array([BREGMA, LAMBDA, MIDLINE]) + TRANSLATE
    assert widget.set_frame() is not None
    assert widget.grid_ap.value == pytest.approx(-2.0)  # a quarter of the way to lambda
    assert widget.place_at(TOP) is not None


def test_ccd_coil_and_broken_file(viewer_or_skip, tmp_path):
    viewer, widget = _scene(viewer_or_skip)
    widget.place_at(TOP)
    positions = np.array([[0.01, 0.0, -0.005], [-0.01, 0.0, -0.005], [0.0, 0.01, -0.005],
                          [0.0, -0.01, -0.005]])
    moments = np.tile([0.0, 0.0, 1e-3], (4, 1))
    path = write_ccd(tmp_path / "tiny.ccd", CoilDipoles(positions, moments, "tiny"))
    coil = widget.load_coil_file(path)
    assert coil is not None and coil.n_dipoles == 4 and widget.coil is coil
    assert "4 dipoles" in widget.coil_label.value
    assert widget.coil_choice.value == str(path.resolve())
    mesh = _by_role(viewer, "coil")
    # a slab over the footprint: 2 K outline vertices + 2 cap centres
    assert len(mesh.data[0]) % 2 == 0 and len(mesh.data[1]) > 0
    assert np.linalg.norm(mesh.data[0], axis=1).min() >= 9.9  # still outside the head

    broken = tmp_path / "broken.ccd"
    broken.write_text("# nothing here\nnot a number\n")
    assert widget.load_coil_file(broken) is None
    assert "Cannot load the coil" in widget.status.value and "previous coil is kept" in widget.status.value
    assert widget.coil is coil and widget.coil_choice.value == str(path.resolve())

    widget.coil_choice.value = "MC-B35 (low resolution)"
    assert widget.coil.n_dipoles == 136 and widget.coil_source == "MC-B35 (low resolution)"


def test_placement_grid(viewer_or_skip):
    viewer, widget = _scene(viewer_or_skip)
    grid = widget.show_grid()
    assert grid is not None, widget.status.value
    layer = _by_role(viewer, "placement_grid")
    assert len(layer.data) == 35
    assert set(layer.features.columns) >= {"AP", "ML"}
    assert widget.status.value.endswith("35 positions x 18 orientations = 630 placements.")
    # on the scalp (world = model + translate)
    assert np.allclose(np.linalg.norm(layer.data + layer.translate - TRANSLATE, axis=1), 10.0, atol=0.2)
    widget.grid_ml.value = 1.0
    widget.show_grid()
    assert len(viewer.layers) == len({id(lay) for lay in viewer.layers})
    assert _by_role(viewer, "placement_grid") is layer and layer.features["ML"].mean() == pytest.approx(1.0)


def test_save_and_load_placement(viewer_or_skip, tmp_path):
    viewer, widget = _scene(viewer_or_skip)
    widget.coil_choice.value = "MC-B35 (low resolution)"
    widget.orientation_deg.value = 40.0
    widget.gap.value = 1.5
    saved = widget.place_at([0.0, 4.0, 9.0])
    path = tmp_path / "placement.json"
    assert widget.save_placement(path) == path
    record = json.loads(path.read_text())
    assert record["coil"] == "MC-B35 (low resolution)" and record["placement"]["gap_mm"] == 1.5
    # never replaced without asking
    path_text = path.read_text()
    widget.place_at(TOP)
    assert widget.save_placement(path) is None and "exists" in widget.status.value
    assert path.read_text() == path_text

    widget2 = CoilPlacementWidget(viewer)
    assert widget2.coil_source == "MC-B35"
    loaded = widget2.load_placement(path)
    assert loaded is not None, widget2.status.value
    assert np.allclose(loaded.centre_mm, saved.centre_mm)
    assert np.allclose(loaded.current_direction, saved.current_direction)
    assert widget2.coil_source == "MC-B35 (low resolution)" and widget2.coil.n_dipoles == 136
    assert widget2.orientation_deg.value == pytest.approx(40.0) and widget2.gap.value == pytest.approx(1.5)
    assert np.allclose(widget2.frame.origin_mm, BREGMA)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert widget2.load_placement(bad) is None and "Cannot load" in widget2.status.value
    assert widget2.placement is loaded


def _click(widget, viewer, position_model, direction, drag=False):
    event = types.SimpleNamespace(type="mouse_press", position=tuple(np.asarray(position_model) + TRANSLATE),
                                  view_direction=tuple(direction), dims_displayed=[0, 1, 2],
                                  pos=np.array([100.0, 100.0]), button=1)
    callback = widget._on_mouse_press
    assert callback in viewer.mouse_drag_callbacks
    gen = callback(viewer, event)
    next(gen)
    if drag:
        event.type, event.pos = "mouse_move", np.array([150.0, 120.0])
        next(gen)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)


def test_click_in_3d_places_the_coil(viewer_or_skip):
    viewer, widget = _scene(viewer_or_skip)
    viewer.dims.ndisplay = 3
    widget.place_button.value = True
    assert widget.place_button.native.isChecked()
    # the line of sight through (3, 2, 0), looking down: the scalp's top
    _click(widget, viewer, [3.0, 2.0, 0.0], [0.0, 0.0, -1.0])
    assert widget.placement is not None, widget.status.value
    p = widget.placement.scalp_point_mm
    assert np.allclose(p[:2], [3.0, 2.0], atol=1e-6) and np.isclose(np.linalg.norm(p), 10.0, atol=0.1)
    first = widget.placement
    # a drag turns the camera: no placement
    _click(widget, viewer, [-3.0, 0.0, 0.0], [0.0, 0.0, -1.0], drag=True)
    assert widget.placement is first
    # a line of sight beside the head: message, placement kept
    _click(widget, viewer, [0.0, 30.0, 0.0], [0.0, 0.0, -1.0])
    assert widget.placement is first and "missed the scalp" in widget.status.value
    widget.place_button.value = False
    assert widget._on_mouse_press not in viewer.mouse_drag_callbacks


def test_landmarks_clicked_in_3d_land_on_the_surface(viewer_or_skip):
    viewer, widget = _scene(viewer_or_skip, frame=False)
    viewer.dims.ndisplay = 3
    widget.landmark_click_button.native.setChecked(True)
    assert widget._on_landmark_press in viewer.mouse_drag_callbacks
    down = np.array([0.0, 0.0, -1.0])
    for point in (BREGMA, LAMBDA):
        # a click far above the head, looking down: the landmark goes where the sight meets the scalp
        hit = widget.add_landmark_from_click(np.array([point[0], point[1], 40.0]) + TRANSLATE, down)
        assert hit is not None and abs(np.linalg.norm(hit) - 10.0) < 0.1
        assert abs(hit[0] - point[0]) < 1e-9 and hit[2] > 0
    assert widget.add_landmark_from_click(np.array([0.0, 30.0, 40.0]) + TRANSLATE, down) is None
    assert "missed" in widget.status.value
    widget.add_landmark_from_click(np.array([40.0, 0.0, -6.0]) + TRANSLATE, np.array([-1.0, 0.0, 0.0]))
    layer = _by_role(viewer, "landmarks")
    assert len(layer.data) == 3 and list(layer.features["landmark"]) == ["bregma", "lambda", "midline"]
    assert widget.set_frame() is not None, widget.status.value
    marks = widget.frame.landmarks_mm
    ap = marks["bregma"] - marks["lambda"]
    assert np.allclose(widget.frame.anterior, ap / np.linalg.norm(ap))   # flat skull: through B and L
    assert np.allclose(widget.frame.right, [0, -1, 0], atol=1e-9)
    widget.place_button.native.setChecked(True)          # placing turns landmark clicking off
    assert widget._on_landmark_press not in viewer.mouse_drag_callbacks


def test_click_buttons_need_a_surface_and_say_so(viewer_or_skip):
    """Issue 25: "Place by clicking" and "Click landmarks" switched on with no mesh. Now they are
    enabled only with a surface to click on, their tooltip saying what is missing."""
    viewer = viewer_or_skip()
    widget = CoilPlacementWidget(viewer)
    for button in (widget.place_button, widget.landmark_click_button):
        assert not button.enabled and "mesh the segmentation" in button.tooltip
    body = _add_surface(viewer, 10.0, "body")
    for button in (widget.place_button, widget.landmark_click_button):
        assert button.enabled and "Click" in button.tooltip
    widget.place_button.native.setChecked(True)
    viewer.layers.remove(body)                   # the surface goes: the click mode ends with it
    assert not widget.place_button.enabled and not widget.place_button.native.isChecked()


def test_the_placement_is_prepared_in_a_worker_when_a_scalp_is_chosen(viewer_or_skip, qtbot):
    """The first placement used to load the kernels and build the scalp's search tree in the GUI
    thread (0.22 s); a trial placement in a daemon thread does it when the scalp is chosen, and leaves
    nothing behind."""
    viewer, widget = _scene(viewer_or_skip, frame=False)
    worker = widget._warm_up_worker
    assert worker is not None
    qtbot.waitUntil(lambda: not worker.is_alive(), timeout=30_000)
    assert widget._warmed_up is widget._surface(widget.scalp_layer.value)
    assert [layer.name for layer in viewer.layers] == ["cortex surface", "body surface"]
    assert widget.placement is None
    widget._warm_up()                       # the same scalp: nothing more to prepare
    assert widget._warm_up_worker is worker
