"""The docks' base: a magicgui container that scrolls, so that no dock makes napari's window taller
than the screen (issue 25: two docks needed 1,656 px, three 2,491 px on a 1,080 px screen).

magicgui's ``Container(scrollable=True)`` puts the dock's content in a ``QScrollArea``, but
``.native`` (what napari's ``add_dock_widget`` docks) is the content inside it; :class:`ScrollingDock`
hands napari the scroll area itself, so the content scrolls inside the dock.
"""

from __future__ import annotations

from magicgui.widgets import Container

__all__ = ["ScrollingDock", "enable_when_ready"]


def enable_when_ready(button, missing: str | None, purpose: str, *, busy: bool = False) -> None:
    """A dock's button state (issue 25): enabled only when its inputs exist and no run is going on;
    its tooltip says what it does, or what is missing and where to get it (``missing``)."""
    button.enabled = missing is None and not busy
    button.tooltip = purpose if missing is None else f"{purpose}\nNot yet: {missing}"


class ScrollingDock(Container):
    """A vertical :class:`magicgui.widgets.Container` whose content scrolls inside its dock."""

    def __init__(self, **kwargs):
        super().__init__(scrollable=True, **kwargs)

    @property
    def native(self):
        """The scroll area around the content (what napari docks)."""
        return self.root_native_widget

    @property
    def content(self):
        """The Qt widget inside the scroll area that holds the dock's layout."""
        return self._widget._mgui_get_native_widget()
