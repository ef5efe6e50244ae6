"""What the docks of one viewer share, typed, with signals: the head models and the coil.

Building a BEM model takes minutes; the E-field dock builds them (in a worker) and adds them here,
the Study and Neuron thresholds docks use them. The Coil placement dock publishes its placement
here (:meth:`ViewerState.publish_coil`) and the E-field, Study and Neuron thresholds docks follow
:attr:`ViewerState.coil_changed`. One :class:`ViewerState` per viewer (:func:`shared_state`), kept
as long as the viewer lives.

The coil layer's metadata keeps a serialised copy (``placement``, ``coil_source``, ``frame``): it is
what a project folder saves and what a reopened coil layer brings back; it is read once per layer
(:attr:`ViewerState.coil`), never on every access. Positions are in the coil layer's data
coordinates (mm), as the Coil placement dock draws them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from psygnal import Signal

from ..core.coils import CoilModelWarning, load_coil
from ..core.fields import MODEL_KINDS, FieldModel
from ..core.placement import CoilPlacement, StereotaxicFrame
from .layers import ROLE_COIL, ROLE_KEY, layer_with_role
from .work import call

__all__ = ["ViewerState", "CoilState", "shared_state"]


@dataclass(frozen=True, eq=False)
class CoilState:
    """The placed coil: its layer, placement (None before the first placement), source (a preset name
    or a coil file) and the stereotaxic frame it was placed in (None without landmarks)."""

    layer: object
    placement: CoilPlacement | None
    coil_source: str | None
    frame: StereotaxicFrame | None

    @classmethod
    def from_layer(cls, layer) -> CoilState:
        """Read from a coil layer's metadata (a layer read from a project folder)."""
        meta = layer.metadata
        placement, frame = meta.get("placement"), meta.get("frame")
        return cls(layer, CoilPlacement.from_dict(placement) if placement else None,
                   meta.get("coil_source"), StereotaxicFrame.from_dict(frame) if frame else None)

    def metadata(self) -> dict:
        """The serialised copy kept in the coil layer's metadata."""
        return {"placement": None if self.placement is None else self.placement.to_dict(),
                "coil_source": self.coil_source,
                "frame": None if self.frame is None else self.frame.to_dict()}

    def load_coil(self):
        """(CoilDipoles, info) of :attr:`coil_source`."""
        return load_coil(self.coil_source)


class ViewerState:
    """The built :class:`FieldModel` objects by kind and the surfaces (SI) they were built from, the
    placed coil, and the signals that say when they change."""

    #: Emitted (no argument) when a model is added or the set is cleared.
    models_changed = Signal()
    #: Emitted (no argument) when the coil is placed, moved, turned or changed, or its layer is
    #: added or removed.
    coil_changed = Signal()
    #: Emitted with a :class:`CoilPlacement` (the coil layer's frame) when another dock asks the Coil
    #: placement dock to move the coil there (the E-field dock's best placement).
    placement_requested = Signal(object)

    def __init__(self, viewer=None):
        self.models: dict[str, FieldModel] = {}
        self.surfaces: dict = {}          # name -> TriangleSurface (metres), as used for the models
        self.surface_layers: dict = {}    # name -> napari layer the surface came from
        self.frame: StereotaxicFrame | None = None   # the frame the models were built with
        self._coils: dict = {}            # coil source -> CoilDipoles, loaded once per viewer
        self._coil: CoilState | None = None
        self._viewer = None if viewer is None else weakref.ref(viewer)
        if viewer is not None:
            viewer.layers.events.inserted.connect(self._on_layers_changed)
            viewer.layers.events.removed.connect(self._on_layers_changed)

    # --- models -------------------------------------------------------------------------------
    def ordered(self) -> dict[str, FieldModel]:
        """The built models in the seed's order (the reference, 3C, first when built)."""
        return {kind: self.models[kind] for kind in MODEL_KINDS if kind in self.models}

    def add(self, model: FieldModel) -> None:
        self.models[model.kind] = model
        self.models_changed.emit()

    def clear(self) -> None:
        self.models.clear()
        self.models_changed.emit()

    # --- coil ---------------------------------------------------------------------------------
    @property
    def coil(self) -> CoilState | None:
        """The placed coil, or None when the viewer has no coil layer."""
        viewer = None if self._viewer is None else self._viewer()
        layer = None if viewer is None else layer_with_role(viewer, ROLE_COIL)
        if layer is None:
            return None
        if self._coil is None or self._coil.layer is not layer:
            self._coil = CoilState.from_layer(layer)
        return self._coil

    def publish_coil(self, layer, placement: CoilPlacement | None, coil_source: str | None,
                     frame: StereotaxicFrame | None) -> CoilState:
        """The Coil placement dock's new state: kept (typed), copied into the layer's metadata and
        announced (:attr:`coil_changed`)."""
        self._coil = CoilState(layer, placement, coil_source, frame)
        layer.metadata.update(self._coil.metadata())
        self.coil_changed.emit()
        return self._coil

    def request_placement(self, placement: CoilPlacement) -> bool:
        """Ask the Coil placement dock to move the coil to ``placement`` (coil layer's frame); False
        when no dock listens (it is not open)."""
        if not len(self.placement_requested):
            return False
        self.placement_requested.emit(placement)
        return True

    def coil_dipoles(self, source):
        """The :class:`~napari_rat_tms.core.coils.CoilDipoles` of a coil source, loaded once for this
        viewer (the Coil placement dock showed its notes when the coil was chosen)."""
        coil = self._coils.get(source)
        if coil is None:
            loaded = call(load_coil, source, notes_of=(CoilModelWarning,), user_errors=())
            coil = self._coils[source] = loaded.value[0]
        return coil

    def _on_layers_changed(self, event):
        layer = getattr(event, "value", None)
        if layer is not None and getattr(layer, "metadata", {}).get(ROLE_KEY) == ROLE_COIL:
            self._coil = None         # read again from whichever coil layer is now first
            self.coil_changed.emit()


_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def shared_state(viewer) -> ViewerState:
    """The :class:`ViewerState` of ``viewer`` (created on first use). napari hands each dock its own
    public-only proxy of the viewer: the state belongs to the viewer behind them (``__wrapped__``), so
    that every dock finds the same one for as long as the viewer lives."""
    viewer = getattr(viewer, "__wrapped__", viewer)
    state = _STATES.get(viewer)
    if state is None:
        state = _STATES[viewer] = ViewerState(viewer)
    return state
