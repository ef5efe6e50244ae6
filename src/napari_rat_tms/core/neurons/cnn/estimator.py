"""Fast thresholds of many neurons at once from their local E-field: the trained CNNs (seed 000).

:class:`CnnThresholdEstimator` holds one network per cell type (or, trained with :mod:`.training`, for the
population median, :data:`.dataset.POPULATION_MEDIAN`; none is shipped: issue 21), loaded from model cards
and weights (:func:`.networks.load_model`).

**Units** (the neurons dock's, ``widgets/neurons.py``): the estimate is the **threshold amplitude**,
the multiplier of the field function's field at threshold, like
:attr:`..population.NeuronThreshold.threshold_amplitude`: with the field for dI/dt = 1 A/us (the
dock's ``UNIT_DIDT_A_PER_S``) it is the threshold dI/dt in A/us; divide by the stimulator's maximum
dI/dt and multiply by 100 for % MSO. The result also gives ``T_soma`` (V/m), the field magnitude
at the soma at threshold (``amplitude x |E_soma|``).

**Fallback**: a cell type without a network but with a uniform-field direction map
(:class:`..direction_map.DirectionMap`, given to the estimator) is estimated from the field at the
soma (:func:`..direction_map.estimate`); the result says so (``method == "uniform-field"``, its
``note``) and a :class:`CnnFallbackWarning` is issued. A cell type with neither raises ``KeyError``.

**Bad input**: grids come as :class:`.local_field.LocalFieldSamples` (their outside points are
already 0 with mask 0, :mod:`.local_field`) or as raw arrays (:meth:`CnnThresholdEstimator.predict_arrays`);
a field value that is NaN/inf inside the tissue raises :class:`.local_field.MissingFieldError`; a grid
other than the network's raises ``ValueError``.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cortex import CorticalNeuronPlacement
from .local_field import LocalFieldGrid, LocalFieldSamples, check_finite_inside, sample_local_fields

__all__ = ["CnnFallbackWarning", "ThresholdEstimate", "CnnThresholdEstimator", "OUT_OF_RANGE_FACTOR",
           "beyond_training_range", "out_of_training_range"]


class CnnFallbackWarning(UserWarning):
    """A cell type had no trained network, or some neurons' fields were outside its training range:
    those thresholds come from the uniform-field estimator (or are NaN without a direction map)."""


@dataclass(frozen=True)
class ThresholdEstimate:
    """Estimated thresholds of ``M`` neurons of one cell type (module docstring for the units).

    ``threshold_amplitude``: (M,) multiplier of the sampled field at threshold (A/us for a field at
    1 A/us; ``inf`` where the uniform-field map has no threshold); ``threshold_soma_v_per_m``: (M,)
    ``|E_soma|`` at threshold (V/m); ``method``: ``"cnn"`` or ``"uniform-field"``; ``note``: why the
    fallback was used, or which neurons the network did not estimate (empty otherwise); ``seconds``:
    the prediction's time (sampling excluded); ``out_of_range``: (M,) bool, neurons whose local field
    lies outside the network's training range (:func:`out_of_training_range`): their values come from
    the uniform-field estimator when the cell type has a direction map, else NaN.
    """

    cell_type: str
    threshold_amplitude: np.ndarray
    threshold_soma_v_per_m: np.ndarray
    method: str
    note: str = ""
    seconds: float = 0.0
    out_of_range: np.ndarray | None = None

    @property
    def fallback(self) -> bool:
        return self.method != "cnn"


#: A grid whose largest normalised field |E|/|E_soma| exceeds this many times the largest the network
#: was trained on is out of its range (e.g. a soma near a field null, or a grid point so close to a
#: BEM surface that its value is a quadrature artefact): the network is not used for that neuron.
OUT_OF_RANGE_FACTOR = 4.0


def beyond_training_range(inputs, max_abs_normalised_field: float) -> np.ndarray:
    """(M,) bool: the grids of ``inputs`` (M, 4, n, n, n) whose largest normalised field component
    exceeds :data:`OUT_OF_RANGE_FACTOR` times ``max_abs_normalised_field`` (the training data's)."""
    inputs = np.asarray(inputs)
    peak = np.abs(inputs[:, :3]).reshape(len(inputs), -1).max(axis=1)
    return peak > OUT_OF_RANGE_FACTOR * float(max_abs_normalised_field)


def out_of_training_range(inputs, card: dict) -> np.ndarray:
    """:func:`beyond_training_range` with the card's ``input.max_abs_normalised_field`` (a card
    without it: nothing is out of range)."""
    limit = card.get("input", {}).get("max_abs_normalised_field")
    if limit is None:
        return np.zeros(len(inputs), bool)
    return beyond_training_range(inputs, limit)


class CnnThresholdEstimator:
    """Thresholds from trained CNNs, with the uniform-field estimator as the fallback (module docstring).

    ``models``: cell type -> ``(network, card)`` (:func:`.networks.load_model`); ``direction_maps``:
    cell type -> :class:`..direction_map.DirectionMap` for the fallback.
    """

    def __init__(self, models: Mapping | None = None, direction_maps: Mapping | None = None):
        self.models = dict(models or {})
        self.direction_maps = dict(direction_maps or {})
        for name, (_, card) in self.models.items():
            if card.get("cell_type", name) != name:
                raise ValueError(f"the network given for {name!r} was trained for {card.get('cell_type')!r}")

    @classmethod
    def from_directory(cls, directory, direction_maps: Mapping | None = None) -> CnnThresholdEstimator:
        """Every model card (``*.json`` with its ``.pt``) in ``directory``, keyed by its cell type."""
        from .networks import MODEL_CARD_FORMAT, load_model

        models = {}
        for card_path in sorted(Path(directory).glob("*.json")):
            try:
                is_card = json.loads(card_path.read_text()).get("format") == MODEL_CARD_FORMAT
            except (OSError, ValueError, AttributeError):
                is_card = False
            if is_card:
                model, card = load_model(card_path)
                models[card["cell_type"]] = (model, card)
        return cls(models, direction_maps)

    @property
    def cell_types(self) -> list[str]:
        """Cell types with a network or a direction map."""
        return sorted(set(self.models) | set(self.direction_maps))

    def has_network(self, cell_type: str) -> bool:
        return cell_type in self.models

    def grid(self, cell_type: str) -> LocalFieldGrid | None:
        """The grid the cell type's network was trained on (None without a network)."""
        if cell_type not in self.models:
            return None
        return LocalFieldGrid.from_dict(self.models[cell_type][1]["input"]["grid"])

    def predict(self, cell_type: str, samples: LocalFieldSamples) -> ThresholdEstimate:
        """Thresholds of the neurons whose local fields are ``samples``
        (:func:`.local_field.sample_local_fields`)."""
        if not isinstance(samples, LocalFieldSamples):
            raise TypeError(f"samples must be LocalFieldSamples, got {type(samples).__name__}")
        return self._predict(cell_type, samples.network_input(), samples.e_soma_v_per_m, samples.grid)

    def predict_arrays(self, cell_type: str, inputs, e_soma_v_per_m, grid: LocalFieldGrid | None = None
                       ) -> ThresholdEstimate:
        """Thresholds from raw network inputs (M, 4, n, n, n) (normalised channels and mask) or
        (M, 3, n, n, n) (every point inside), and the cell-frame field at the somas ``e_soma_v_per_m``
        (M, 3) V/m. NaN/inf at a point inside raises :class:`.local_field.MissingFieldError`."""
        inputs = np.asarray(inputs, dtype=np.float32)
        if inputs.ndim != 5 or inputs.shape[1] not in (3, 4):
            raise ValueError(f"inputs must be (M, 4, n, n, n) or (M, 3, n, n, n), got {inputs.shape}")
        mask = inputs[:, 3] > 0.5 if inputs.shape[1] == 4 else None
        check_finite_inside(inputs[:, :3], mask)
        if inputs.shape[1] == 3:
            inputs = np.concatenate([inputs, np.ones_like(inputs[:, :1])], axis=1)
        else:
            inputs = inputs.copy()
            inputs[:, :3][~np.broadcast_to(mask[:, None], inputs[:, :3].shape)] = 0.0   # outside: 0 (policy)
        n = inputs.shape[-1]
        if grid is None:
            grid = self.grid(cell_type) or LocalFieldGrid(n)
        return self._predict(cell_type, inputs, np.asarray(e_soma_v_per_m, float).reshape(-1, 3), grid)

    def _predict(self, cell_type, inputs, e_soma, grid) -> ThresholdEstimate:
        if len(e_soma) != len(inputs):
            raise ValueError(f"{len(inputs)} grids but {len(e_soma)} soma fields")
        norm = np.linalg.norm(e_soma, axis=1)
        if not np.all(np.isfinite(norm)) or np.any(norm == 0):
            raise ValueError("the field at every soma must be finite and non-zero")
        start = time.perf_counter()
        if cell_type in self.models:
            model, card = self.models[cell_type]
            expected = LocalFieldGrid.from_dict(card["input"]["grid"])
            if expected != grid:
                raise ValueError(f"{cell_type}: the network was trained on the grid {expected}, the samples "
                                 f"are on {grid}")
            bad = out_of_training_range(inputs, card)
            t_soma = np.full(len(inputs), np.nan)
            if np.any(~bad):
                t_soma[~bad] = np.exp(model.predict_log_threshold(inputs[~bad]))
            amplitude, note = t_soma / norm, ""
            if np.any(bad):
                limit = OUT_OF_RANGE_FACTOR * float(card["input"]["max_abs_normalised_field"])
                worst = float(np.abs(inputs[bad, :3]).max())
                note = (f"{int(bad.sum())} of {len(bad)} neurons have a local field outside the network's "
                        f"training range (|E|/|E_soma| up to {worst:.3g}, accepted up to {limit:.3g}): ")
                if cell_type in self.direction_maps:
                    from ..direction_map import estimate

                    amplitude[bad] = np.atleast_1d(estimate(self.direction_maps[cell_type], e_soma[bad]))
                    t_soma[bad] = amplitude[bad] * norm[bad]
                    note += "their thresholds come from the uniform-field estimator"
                else:
                    note += "no threshold (NaN) without a direction map for the uniform-field estimate"
                warnings.warn(note, CnnFallbackWarning, stacklevel=3)
            return ThresholdEstimate(cell_type, amplitude, t_soma, "cnn", note, time.perf_counter() - start,
                                     bad)
        if cell_type in self.direction_maps:
            from ..direction_map import estimate

            amplitude = np.atleast_1d(np.asarray(estimate(self.direction_maps[cell_type], e_soma), float))
            networks = ", ".join(sorted(self.models)) or "none"
            note = (f"no trained CNN for {cell_type!r} (networks: {networks}): thresholds from the "
                    "uniform-field estimator (direction map and the field at the soma)")
            warnings.warn(note, CnnFallbackWarning, stacklevel=3)
            return ThresholdEstimate(cell_type, amplitude, amplitude * norm, "uniform-field", note,
                                     time.perf_counter() - start)
        raise KeyError(f"no trained CNN and no direction map for {cell_type!r}; available: "
                       f"{', '.join(self.cell_types) or 'none'}")

    def estimate(self, cell_type: str, placements: Sequence[CorticalNeuronPlacement], field_fn: Callable, *,
                 inside=None, grid: LocalFieldGrid | None = None, max_outside_fraction: float = 0.5
                 ) -> ThresholdEstimate:
        """Sample the local fields of ``placements`` (:func:`.local_field.sample_local_fields`, one
        ``field_fn`` call) and predict their thresholds. ``grid``: default the network's (or 9^3, 1.5 mm)."""
        grid = grid or self.grid(cell_type) or LocalFieldGrid()
        samples = sample_local_fields(placements, field_fn, grid, inside=inside,
                                      max_outside_fraction=max_outside_fraction)
        return self._predict(cell_type, samples.network_input(), samples.e_soma_v_per_m, grid)


#: Where the package's trained networks lie (``<cell type>.pt`` + model card ``.json`` + check subset).
WEIGHTS_DIR = Path(__file__).with_name("weights")


def shipped_estimator(direction_maps: Mapping | None = None) -> CnnThresholdEstimator:
    """An estimator with the networks shipped in the package (:data:`WEIGHTS_DIR`; each model card
    says on what data they were trained and how well they did); cell types without one fall back to
    ``direction_maps``."""
    if WEIGHTS_DIR.is_dir():
        return CnnThresholdEstimator.from_directory(WEIGHTS_DIR, direction_maps)
    return CnnThresholdEstimator({}, direction_maps)
