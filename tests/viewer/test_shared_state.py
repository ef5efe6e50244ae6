"""What the docks of one viewer share (viewer/shared_state.py): typed coil state with a signal,
read once from a reopened coil layer."""

from __future__ import annotations

import numpy as np

from napari_rat_tms.core.placement import CoilPlacement
from napari_rat_tms.viewer.layers import ROLE_COIL, ROLE_KEY
from napari_rat_tms.viewer.shared_state import CoilState, shared_state

_TRIANGLE = (np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]), np.array([[0, 1, 2]]))


def _placement(x=0.0, didt=50.0):
    return CoilPlacement(np.array([x, 0.0, 10.0]), np.array([0.0, 0, -1]), np.array([1.0, 0, 0]),
                         didt_a_per_us=didt)


def test_coil_state_follows_the_coil_layer_and_the_dock(viewer_or_skip):
    viewer = viewer_or_skip()
    state = shared_state(viewer)
    assert shared_state(viewer) is state and state.coil is None
    changes = []
    state.coil_changed.connect(lambda: changes.append(True))

    # a coil layer reopened from a project folder: read from its metadata, once
    saved = CoilState(None, _placement(didt=35.0), "MC-B35", None).metadata()
    layer = viewer.add_surface(_TRIANGLE, metadata={ROLE_KEY: ROLE_COIL, **saved})
    assert changes == [True]
    coil = state.coil
    assert coil.layer is layer and coil.coil_source == "MC-B35" and coil.placement.didt_a_per_us == 35.0
    assert state.coil is coil                     # not parsed again on the next read

    # the Coil placement dock publishes a move: typed, copied into the metadata, announced
    moved = state.publish_coil(layer, _placement(x=2.0), "MC-B35", None)
    assert len(changes) == 2 and state.coil is moved
    np.testing.assert_allclose(CoilPlacement.from_dict(layer.metadata["placement"]).centre_mm, [2, 0, 10])

    viewer.layers.remove(layer)
    assert len(changes) == 3 and state.coil is None
    viewer.add_surface(_TRIANGLE, name="not a coil")
    assert len(changes) == 3
