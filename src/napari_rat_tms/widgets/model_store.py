"""The head models built in one napari viewer, shared by the E-field and Study docks.

Building a BEM model takes minutes; the E-field dock builds them (in a worker) and puts them here,
the Study dock runs the placement study on them, and both follow the Coil placement dock through
the coil layer's metadata (:func:`coil_state`). One :class:`ViewerModels` per viewer, kept only as
long as the viewer lives.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass

from psygnal import Signal

from ..core.coils import CoilModelWarning, load_coil
from ..core.fields import MODEL_KINDS, FieldModel
from ..core.placement import CoilPlacement, StereotaxicFrame
from ..viewer.layers import ROLE_COIL, layer_with_role

__all__ = ["ViewerModels", "models_for", "CoilState", "coil_state", "COIL_ROLE"]

#: Role of the Coil placement dock's coil layer (see :mod:`.coil`); its metadata holds the
#: placement, the coil's source and the stereotaxic frame (written by the dock on every redraw).
COIL_ROLE = ROLE_COIL


class ViewerModels:
    """Built :class:`FieldModel` objects by kind, and the surfaces (SI) they were built from."""

    #: Emitted (with no argument) when a model is added or the set is cleared.
    changed = Signal()

    def __init__(self):
        self.models: dict[str, FieldModel] = {}
        self.surfaces: dict = {}          # name -> TriangleSurface (metres), as used for the models
        self.surface_layers: dict = {}    # name -> napari layer the surface came from
        self.frame: StereotaxicFrame | None = None
        self._coils: dict = {}            # coil source -> CoilDipoles, loaded once per viewer

    def coil(self, source):
        """The :class:`~napari_rat_tms.core.coils.CoilDipoles` of a coil source (preset name or file),
        loaded once for this viewer (its warnings were shown by the Coil placement dock)."""
        coil = self._coils.get(source)
        if coil is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CoilModelWarning)   # shown when the coil was chosen
                coil, _ = load_coil(source)
            self._coils[source] = coil
        return coil

    def ordered(self) -> dict[str, FieldModel]:
        """The built models in the seed's order (the reference, 3C, first when built)."""
        return {kind: self.models[kind] for kind in MODEL_KINDS if kind in self.models}

    def add(self, model: FieldModel) -> None:
        self.models[model.kind] = model
        self.changed.emit()

    def clear(self) -> None:
        self.models.clear()
        self.changed.emit()


_STORES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def models_for(viewer) -> ViewerModels:
    """The :class:`ViewerModels` of ``viewer`` (created on first use)."""
    store = _STORES.get(viewer)
    if store is None:
        store = _STORES[viewer] = ViewerModels()
    return store


@dataclass
class CoilState:
    """What the Coil placement dock has placed: read from its coil layer's metadata."""

    layer: object
    placement: CoilPlacement | None
    coil_source: str | None
    frame: StereotaxicFrame | None

    def load_coil(self):
        """(CoilDipoles, info) of :attr:`coil_source` (a preset name or a file)."""
        return load_coil(self.coil_source)


def coil_state(viewer) -> CoilState | None:
    """The coil layer's state, or None when no coil layer exists."""
    layer = layer_with_role(viewer, COIL_ROLE)
    if layer is None:
        return None
    meta = layer.metadata
    placement, frame = meta.get("placement"), meta.get("frame")
    return CoilState(layer, CoilPlacement.from_dict(placement) if placement else None,
                     meta.get("coil_source"), StereotaxicFrame.from_dict(frame) if frame else None)
