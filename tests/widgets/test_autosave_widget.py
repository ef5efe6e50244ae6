"""The Project autosave dock: edits followed, snapshots written, the question before closing."""

import numpy as np
import pytest

from napari_rat_tms.core.autosave import read_autosave
from napari_rat_tms.widgets.autosave import AutosaveWidget


@pytest.fixture
def scene(viewer_or_skip, tmp_path):
    viewer = viewer_or_skip()
    labels = viewer.add_labels(np.zeros((10, 12, 14), np.uint8), name="segmentation", scale=(0.5, 0.5, 0.5),
                               metadata={"project_folder": str(tmp_path)})
    viewer.add_points(np.array([[1.0, 2.0, 3.0]]), name="landmarks")
    widget = AutosaveWidget(viewer)
    return viewer, labels, widget, tmp_path


def test_edits_are_followed_and_autosaved_exactly(scene):
    viewer, labels, widget, folder = scene
    assert widget.folder.value == str(folder) and not widget.edited   # the project folder of the layers
    labels.paint((5, 6, 7), 3)                       # a brush stroke (in place)
    viewer.layers["landmarks"].add([4.0, 5.0, 6.0])
    assert widget.edited == {"segmentation", "landmarks"}
    assert widget.save_now() is not None and not widget.edited
    _, saved = read_autosave(folder)
    by_name = {layer.name: layer for layer in saved}
    np.testing.assert_array_equal(by_name["segmentation"].data, labels.data)
    assert by_name["segmentation"].scale == (0.5, 0.5, 0.5)
    np.testing.assert_array_equal(by_name["landmarks"].data, viewer.layers["landmarks"].data)
    widget.discard()
    assert read_autosave(folder) is None


def test_closing_with_unsaved_edits_asks(scene, monkeypatch):
    from qtpy.QtWidgets import QMessageBox

    viewer, labels, widget, folder = scene
    assert widget.confirm_close()                     # nothing edited: no question
    labels.paint((1, 1, 1), 2)
    answers = []

    def answer(choice):
        def question(*args, **kwargs):
            answers.append(args[2])
            return choice
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    assert not widget.confirm_close() and "segmentation" in answers[-1]
    assert not viewer.window._qt_window.close()       # the close is refused: the viewer stays
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Save))
    assert widget.confirm_close() and read_autosave(folder) is not None and not widget.edited
    labels.paint((2, 2, 2), 2)
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Discard))
    assert widget.confirm_close() and widget.edited   # closes without saving these edits
    widget.edited.clear()     # nothing left to ask about when the fixture closes the viewer


def test_the_close_guard_is_installed_when_docked_from_the_plugin_menu(viewer_or_skip):
    viewer = viewer_or_skip()
    _, widget = viewer.window.add_plugin_dock_widget("napari-rat-tms", "Project autosave")
    assert widget._close_guard is not None          # napari passes a proxy of the viewer


def test_without_a_project_folder_edits_are_flagged_and_a_typed_folder_is_created(viewer_or_skip, tmp_path):
    """Issue 25: without a project folder nothing was saved, silently, and "Save now" refused a folder
    that did not exist yet."""
    viewer = viewer_or_skip()
    labels = viewer.add_labels(np.zeros((4, 5, 6), np.uint8), name="segmentation")
    widget = AutosaveWidget(viewer)
    assert widget.folder.value == ""
    labels.paint((1, 2, 3), 2)
    assert "NOT being autosaved" in widget.status.value
    new = tmp_path / "my project"
    widget.folder.value = str(new)
    assert widget.save_now() is not None and (new / "autosave").is_dir()
    assert "Created the folder" in widget.status.value and "NOT" not in widget.status.value
    (tmp_path / "a file").write_text("x")
    widget.folder.value = str(tmp_path / "a file")
    labels.paint((1, 2, 3), 3)
    assert widget.save_now() is None and "is a file, not a folder" in widget.status.value
    widget.edited.clear()                 # else closing the viewer asks (a modal question) about them
