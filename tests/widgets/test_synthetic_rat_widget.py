"""The synthetic-rat widget builds in a worker, reports progress, cancels, and docks."""

import numpy as np

from napari_rat_tms.widgets.synthetic_rat import SyntheticRatWidget


def test_every_manifest_widget_docks(viewer_or_skip):
    viewer = viewer_or_skip()
    import npe2

    manifest = npe2.PluginManifest.from_distribution("napari-rat-tms")
    for contribution in manifest.contributions.widgets:
        dock, widget = viewer.window.add_plugin_dock_widget("napari-rat-tms", contribution.display_name)
        assert widget is not None


def test_build_adds_layers_with_progress(viewer_or_skip, qtbot):
    viewer = viewer_or_skip()
    widget = SyntheticRatWidget(viewer)
    widget.voxel_size_mm.value = 1.5
    seen = []
    worker = widget.start()
    worker.yielded.connect(seen.append)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        pass
    assert [layer.name for layer in viewer.layers] == [
        "synthetic rat µCT (1.5 mm)", "synthetic rat ground truth (1.5 mm)",
        "synthetic rat landmarks (1.5 mm)"]
    np.testing.assert_allclose(viewer.layers[0].scale, [1.5] * 3)
    assert widget.progress.value == 100
    assert widget.build_button.enabled and not widget.cancel_button.enabled


def test_cancel_adds_nothing(viewer_or_skip, qtbot):
    viewer = viewer_or_skip()
    widget = SyntheticRatWidget(viewer)
    widget.voxel_size_mm.value = 0.5
    worker = widget.start()
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        widget.cancel()
    assert len(viewer.layers) == 0
    assert "Cancel" in widget.status.value


def test_bad_parameters_are_reported_not_raised(viewer_or_skip):
    viewer = viewer_or_skip()
    widget = SyntheticRatWidget(viewer)
    widget.voxel_size_mm.min = 0.01
    widget.voxel_size_mm.value = 0.05  # 1741^3 voxels: refused by the parameters' validation
    assert widget.start() is None
    assert "Cannot build" in widget.status.value and len(viewer.layers) == 0
