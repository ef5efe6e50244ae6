"""Widget: autosave of a project's edited layers, and a question before closing with unsaved edits
(Plugins > Rat TMS > Project autosave).

The project folder is the one the layers were opened from (their ``project_folder`` metadata, set by
the job-folder reader) or one the user types. The dock follows every Labels and Points layer of the
viewer (the segmentation, the painted brain, landmarks, eye centres, ROIs): painting or changing one
marks it edited. Every ``interval`` seconds (default :data:`DEFAULT_INTERVAL_S`) the edited state is
written as a snapshot into ``<project>/autosave`` (:mod:`napari_rat_tms.core.autosave`: crash-safe,
the project's own files untouched), with the coil placement of the Coil placement dock. Reopening
the folder adds the snapshot's layers, named "… (autosaved)".

While the dock exists, closing the viewer with edits not yet autosaved asks: save them now,
close without them, or stay. "Discard autosave" removes the snapshot.
"""

from __future__ import annotations

import time
import weakref
from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import CheckBox, Label, LineEdit, PushButton, SpinBox

from ..core.autosave import AutosavedLayer, discard_autosave, write_autosave
from ..viewer.layers import ROLE_KEY
from ..viewer.shared_state import shared_state
from ._dock import ScrollingDock

__all__ = ["AutosaveWidget", "DEFAULT_INTERVAL_S"]

DEFAULT_INTERVAL_S = 60


def _project_folder(viewer) -> str:
    for layer in viewer.layers:
        folder = layer.metadata.get("project_folder")
        if folder:
            return str(folder)
    return ""


class AutosaveWidget(ScrollingDock):
    """The autosave dock (see the module docstring). For scripts and tests: :meth:`save_now`,
    :attr:`edited` (names of the layers edited since the last snapshot), :meth:`confirm_close`."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = napari_viewer
        self._watched = weakref.WeakSet()
        self.edited: set[str] = set()
        self.last_saved: float | None = None
        self.folder = LineEdit(label="project folder", value=_project_folder(napari_viewer))
        self.enabled_box = CheckBox(text="autosave", value=True)
        self.interval = SpinBox(label="every (s)", value=DEFAULT_INTERVAL_S, min=5, max=3600)
        self.save_button = PushButton(text="Save now")
        self.discard_button = PushButton(text="Discard autosave")
        self.status = Label(value="")
        self.status.native.setWordWrap(True)
        self.folder.tooltip = ("The snapshot goes into <project folder>/autosave; the project's files are "
                               "kept.")
        self.extend([self.folder, self.enabled_box, self.interval, self.save_button, self.discard_button,
                     self.status])

        from qtpy.QtCore import QTimer

        self._timer = QTimer(self.native)
        self._timer.timeout.connect(self._on_timer)
        self._timer.start(1000 * int(self.interval.value))
        self.interval.changed.connect(lambda value: self._timer.start(1000 * int(value)))
        self.save_button.changed.connect(lambda *_: self.save_now())
        self.discard_button.changed.connect(self.discard)
        napari_viewer.layers.events.inserted.connect(self._watch_layers)
        self._watch_layers()
        self._install_close_guard()
        self._say()

    # --- edits --------------------------------------------------------------------------------
    def _watch_layers(self, *_):
        if not self.folder.value:
            self.folder.value = _project_folder(self._viewer)
        for layer in self._viewer.layers:
            followed = isinstance(layer, (napari.layers.Labels, napari.layers.Points))
            if followed and layer not in self._watched:
                self._watched.add(layer)
                layer.events.data.connect(lambda *_, name=layer.name: self._mark(name))
                if hasattr(layer.events, "paint"):        # brush strokes change the array in place
                    layer.events.paint.connect(lambda *_, name=layer.name: self._mark(name))

    def _mark(self, name: str):
        self.edited.add(name)
        self._say()

    def _say(self, extra: str = ""):
        saved = ("never" if self.last_saved is None else
                 time.strftime("%H:%M:%S", time.localtime(self.last_saved)))
        edits = f"edited since: {', '.join(sorted(self.edited))}" if self.edited else "no edits since"
        where = self.folder.value or "no project folder (open one, or type it)"
        warning = ("" if self.folder.value or not self.edited else
                   "Your edits are NOT being autosaved: type a project folder above (it is created on the "
                   "first save) or open one. ")
        self.status.value = f"{extra}{warning}Last autosave: {saved} ({where}); {edits}."

    # --- saving -------------------------------------------------------------------------------
    def _on_timer(self):
        if self.enabled_box.value and self.edited and self.folder.value:
            self.save_now()

    def _snapshot_layers(self) -> list[AutosavedLayer]:
        out = []
        for layer in self._viewer.layers:
            if isinstance(layer, napari.layers.Labels):
                kind = "labels"
            elif isinstance(layer, napari.layers.Points):
                kind = "points"
            else:
                continue
            meta = {k: v for k, v in layer.metadata.items() if isinstance(v, (str, int, float, bool))}
            meta.setdefault(ROLE_KEY, layer.metadata.get(ROLE_KEY))
            out.append(AutosavedLayer(layer.name, kind, np.asarray(layer.data), tuple(layer.scale),
                                      tuple(layer.translate), meta))
        return out

    def save_now(self) -> Path | None:
        """Write the snapshot now (every Labels and Points layer, the coil placement); returns the
        index path, or None with the reason in the status."""
        folder = Path(self.folder.value).expanduser() if self.folder.value else None
        if folder is None:
            self._say("Cannot autosave: no project folder. ")
            return None
        created = ""
        if not folder.is_dir():
            if folder.exists():
                self._say(f"Cannot autosave: {folder} is a file, not a folder. ")
                return None
            try:     # a new project folder typed by the user: created on the first save
                folder.mkdir(parents=True)
            except OSError as err:
                self._say(f"Cannot autosave: cannot create the folder {folder}: {err}. ")
                return None
            created = f"Created the folder {folder}. "
        state = shared_state(self._viewer).coil
        placement = None
        if state is not None and state.placement is not None:
            placement = {"coil": state.coil_source, "placement": state.placement.to_dict()}
        try:
            index = write_autosave(folder, self._snapshot_layers(), placement)
        except (OSError, ValueError) as err:
            self._say(f"Cannot autosave: {err}. ")
            return None
        self.edited.clear()
        self.last_saved = time.time()
        self._say(created)
        return index

    def discard(self, *_):
        """Remove the project's snapshot (the project's own files are kept)."""
        if self.folder.value:
            discard_autosave(self.folder.value)
        self._say("Autosave discarded. ")

    # --- closing ------------------------------------------------------------------------------
    def confirm_close(self) -> bool:
        """Whether the viewer may close: True without edits; else asks Save / Discard / Cancel
        (Save writes the snapshot first; Cancel keeps the viewer open)."""
        if not self.edited or not self.folder.value:
            return True
        from qtpy.QtWidgets import QMessageBox

        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self.native, "Unsaved edits",
            f"These layers were edited since the last autosave: {', '.join(sorted(self.edited))}.\n"
            f"Save them into {Path(self.folder.value) / 'autosave'} before closing?",
            buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save)
        if answer == buttons.Cancel:
            return False
        if answer == buttons.Save:
            return self.save_now() is not None
        return True

    def _install_close_guard(self):
        # napari hands docks a PublicOnlyProxy of the viewer: the Qt window itself is behind it
        viewer = getattr(self._viewer, "__wrapped__", self._viewer)
        window = getattr(getattr(viewer, "window", None), "_qt_window", None)
        window = getattr(window, "__wrapped__", window)
        if window is None:
            return
        from qtpy.QtCore import QEvent, QObject

        widget = self

        class _CloseGuard(QObject):
            def eventFilter(self, obj, event):   # noqa: N802 (Qt's name)
                if event.type() == QEvent.Type.Close and not widget.confirm_close():
                    event.ignore()
                    return True
                return False

        self._close_guard = _CloseGuard(window)
        window.installEventFilter(self._close_guard)
