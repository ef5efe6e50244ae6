"""Issue 25: docks that fit a 1080p screen. Each dock scrolls (magicgui's scrollable container), so
however many settings it shows, the window's minimum height stays within a 1080-pixel screen with
several docks open (before: two docks needed 1,656 px, three 2,491 px)."""

from __future__ import annotations

from napari_rat_tms.widgets.autosave import AutosaveWidget
from napari_rat_tms.widgets.coil import CoilPlacementWidget
from napari_rat_tms.widgets.field import FieldWidget
from napari_rat_tms.widgets.meshing import MeshingWidget
from napari_rat_tms.widgets.neurons import NeuronsWidget
from napari_rat_tms.widgets.segmentation import SegmentationWidget
from napari_rat_tms.widgets.study import StudyWidget
from napari_rat_tms.widgets.synthetic_rat import SyntheticRatWidget

DOCKS = (SyntheticRatWidget, SegmentationWidget, MeshingWidget, CoilPlacementWidget, FieldWidget,
         NeuronsWidget, StudyWidget, AutosaveWidget)


def test_every_dock_scrolls_and_three_fit_a_1080p_screen(viewer_or_skip):
    viewer = viewer_or_skip()
    docks = [cls(viewer) for cls in DOCKS]
    from qtpy.QtWidgets import QScrollArea

    for dock in docks:
        # what napari docks is a scroll area around the content (often taller than a screen)
        assert isinstance(dock.native, QScrollArea), f"{type(dock).__name__} does not scroll"
        assert dock.native.minimumSizeHint().height() < 300, type(dock).__name__
    for dock in docks[1:4]:                       # Segmentation, Meshing, Coil placement: the tallest three
        docked = viewer.window.add_dock_widget(dock, area="right")
        assert docked.widget() is dock.native    # napari docks the scroll area, not the bare content
    window = docks[1].native.window()
    assert window.minimumSizeHint().height() <= 1080
