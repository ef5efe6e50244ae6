"""Telling a click from a drag in napari's mouse callbacks (the coil and landmark docks)."""

from __future__ import annotations

import numpy as np

__all__ = ["click_without_drag", "CLICK_TOLERANCE_PX"]

#: A press-and-release that moves the mouse more than this (pixels) is a drag (camera), not a click.
CLICK_TOLERANCE_PX = 4.0


def click_without_drag(event, viewer=None):
    """Body of a napari mouse-drag callback (``yield from``): follows the press until the button is
    released and returns ``(world position, view direction or None, number of displayed dims)`` of
    the press when the mouse moved less than :data:`CLICK_TOLERANCE_PX` (a click), None for a drag
    (the user turning the camera) or another button."""
    if event.type != "mouse_press" or getattr(event, "button", 1) not in (1, None):
        return None
    position = np.asarray(event.position, dtype=float)
    view = getattr(event, "view_direction", None)
    view = None if view is None else np.asarray(view, dtype=float)
    displayed = getattr(event, "dims_displayed", None)
    if displayed is None:
        displayed = viewer.dims.displayed if viewer is not None else range(3)
    start = getattr(event, "pos", None)
    start = None if start is None else np.asarray(start, dtype=float)
    dragged = False
    yield
    while event.type == "mouse_move":
        pos = getattr(event, "pos", None)
        moved = np.inf if start is None or pos is None else np.linalg.norm(np.asarray(pos, float) - start)
        dragged = dragged or moved > CLICK_TOLERANCE_PX
        yield
    return None if dragged else (position, view, len(list(displayed)))
