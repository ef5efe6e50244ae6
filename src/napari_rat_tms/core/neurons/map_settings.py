"""The settings of one threshold map (the Neuron thresholds dock), as one frozen, validated object.

A threshold map gives, for one coil placement and head model, the coil-current rate (dI/dt, A/µs)
at which each chosen cell type fires at ``n_neurons`` cortex vertices (one neuron per vertex and
cell type; :func:`.placement_thresholds.iter_placement_thresholds`). :class:`ThresholdMapSettings`
holds every choice of that computation; the dock builds from it, writes it into the map layers'
metadata (:meth:`ThresholdMapSettings.to_dict`) and takes it back from a map layer
(:meth:`ThresholdMapSettings.from_dict` restores it exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fields import BEM_MODEL_KINDS
from ..values import fields_as_json, known_fields, number
from .cells import CHANNEL_SETS
from .placement_thresholds import METHODS, cell_types, golden_angle_azimuths, neuron_vertices

__all__ = ["ThresholdMapSettings", "NEURON_SITES", "PULSES"]

#: Where the neurons go: spread over the whole cortex, or over the vertices where |E| is at least
#: ``hotspot_fraction`` of its maximum for the placement (under the coil, the lowest thresholds).
NEURON_SITES = ("cortex", "hotspot")
#: The coil pulse shapes (:mod:`.waveforms`).
PULSES = ("monophasic", "biphasic")


@dataclass(frozen=True)
class ThresholdMapSettings:
    """What a threshold map is computed with (see the module docstring); checked when made.

    Attributes
    ----------
    model : str
        The BEM head model (1C, 2C, 2C* or 3C; the sphere has no volume conductor at the neurons).
    ball_and_stick : bool
        Include the simplified ball-and-stick cell (L5 depth).
    morphologies : tuple of str
        ``.asc``/``.swc`` files, one cell type each (depth from the layer in the name).
    n_neurons : int
        Neurons per cell type (>= 1), at vertices spread by farthest-point sampling.
    sites : str
        One of :data:`NEURON_SITES`.
    hotspot_fraction : float
        For ``sites="hotspot"``: the fraction of the peak |E| (0 < f <= 1).
    pulse, channels, method : str
        One of :data:`PULSES`, :data:`.cells.CHANNEL_SETS`, :data:`.placement_thresholds.METHODS`.
    processes : bool
        Run the neurons in Dask worker processes.
    """

    model: str = "3C"
    ball_and_stick: bool = True
    morphologies: tuple = ()
    n_neurons: int = 30
    sites: str = "cortex"
    hotspot_fraction: float = 0.5
    pulse: str = "monophasic"
    channels: str = "reduced"
    method: str = "neuron"
    processes: bool = False

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        if self.model not in BEM_MODEL_KINDS:
            raise ValueError(f"model must be a BEM head model among {list(BEM_MODEL_KINDS)} (the sphere has no "
                             f"volume conductor at the neurons), got {self.model!r}")
        for name, allowed in (("sites", NEURON_SITES), ("pulse", PULSES), ("channels", CHANNEL_SETS),
                              ("method", METHODS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        for name in ("ball_and_stick", "processes"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
            put(name, bool(getattr(self, name)))
        if isinstance(self.morphologies, (str, Path)):
            raise ValueError(f"morphologies must be a list of files, got {self.morphologies!r}")
        put("morphologies", tuple(str(p) for p in self.morphologies))
        put("n_neurons", number(self.n_neurons, "n_neurons", positive=True, integer=True))
        fraction = number(self.hotspot_fraction, "hotspot_fraction", positive=True)
        if fraction > 1:
            raise ValueError(f"hotspot_fraction must be in (0, 1], got {fraction!r}")
        put("hotspot_fraction", fraction)
        if not self.ball_and_stick and not self.morphologies:
            raise ValueError("no cell type is chosen: the ball-and-stick cell or at least one morphology")

    def cell_types(self):
        """The :class:`.placement_thresholds.CellType` list (ball-and-stick first)."""
        return cell_types(self.morphologies, ball_and_stick=self.ball_and_stick, channels=self.channels)

    def neuron_sites(self, cortex, efield=None) -> tuple[np.ndarray, np.ndarray]:
        """(cortex vertex indices, azimuths (rad) of the neurons about their axes): the neurons'
        sites. ``efield`` ((V, 3) E at the cortex vertices for the placement, any unit) is needed for
        ``"hotspot"``."""
        if self.sites == "hotspot":
            if efield is None:
                raise ValueError("the neurons under the coil need the field at the cortex vertices")
            norm = np.linalg.norm(np.asarray(efield, dtype=float).reshape(-1, 3), axis=1)
            vertices = neuron_vertices(cortex, self.n_neurons, efield_norm=norm,
                                       min_fraction_of_peak=self.hotspot_fraction)
        else:
            vertices = neuron_vertices(cortex, self.n_neurons)
        return vertices, golden_angle_azimuths(len(vertices))

    def to_dict(self) -> dict:
        """JSON-compatible (tuples as lists)."""
        return fields_as_json(self)

    @classmethod
    def from_dict(cls, values: dict) -> ThresholdMapSettings:
        """From :meth:`to_dict`: unknown names refused."""
        return cls(**known_fields(cls, values, "threshold-map settings", error=ValueError))
