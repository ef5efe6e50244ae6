"""Neuron activation thresholds in the TMS E-field (issue 8; seed 000), on NEURON.

Pure Python core (no Qt or napari):

* :mod:`.waveforms`: monophasic and biphasic TMS pulses from the stimulator's RLC circuit;
* :mod:`.quasipotentials`: the E-field along the morphology as extracellular potentials;
* :mod:`.mechanisms`: the package's NMODL channels, compiled on first use and cached;
* :mod:`.cells`: :class:`NeuronCell`, its biophysics and discretisation; its builders:
  :mod:`.simple_cells` (straight myelinated axon, ball-and-stick) and :mod:`.reconstructed_cells`
  (``.asc``/``.swc`` cells with adult-rat scaling and myelination);
* :mod:`.map_settings`: the settings of one threshold map (the Neuron thresholds dock);
* :mod:`.threshold`: activation thresholds by bracketing and bisection;
* :mod:`.direction_map`: the uniform-field estimator (threshold versus field direction);
* :mod:`.cortex`: neurons placed in a head model's cortex, the field at their compartments;
* :mod:`.population`: many thresholds in parallel with Dask, cached and resumable;
* :mod:`.placement_thresholds`: threshold maps of one coil placement, per cell type.

The NEURON-dependent names are imported on first use, so that ``waveforms`` and
``quasipotentials`` work without starting NEURON.
"""

from __future__ import annotations

import importlib

from .quasipotentials import quasipotentials, tree_depths
from .waveforms import TmsPulse, biphasic_pulse, monophasic_pulse

_LAZY = {
    "load_mechanisms": "mechanisms",
    "MechanismBuildError": "mechanisms",
    "NeuronCell": "cells",
    "Biophysics": "cells",
    "MorphologyError": "cells",
    "AdultRatScaling": "cells",
    "ADULT_RAT_SCALING": "cells",
    "ADULT_HUMAN_SCALING": "cells",
    "straight_myelinated_axon": "simple_cells",
    "ball_and_stick_cell": "simple_cells",
    "cell_from_morphology": "reconstructed_cells",
    "activation_threshold": "threshold",
    "ThresholdResult": "threshold",
    "ThresholdNotFound": "threshold",
    "FieldOutsideDomainError": "threshold",
    "Stimulation": "threshold",
    "SimulationSettings": "threshold",
    "DirectionMap": "direction_map",
    "compute_direction_map": "direction_map",
    "load_direction_map": "direction_map",
    "estimate": "direction_map",
    "LAYER_DEPTHS_MM": "cortex",
    "CorticalNeuronPlacement": "cortex",
    "place_neurons": "cortex",
    "cell_points_in_head": "cortex",
    "field_at_cell": "cortex",
    "CellSpec": "population",
    "ThresholdTask": "population",
    "NeuronThreshold": "population",
    "threshold_tasks": "population",
    "CompartmentPoints": "population",
    "compartment_points": "population",
    "tasks_from_field": "population",
    "CellType": "placement_thresholds",
    "CellTypeThresholds": "placement_thresholds",
    "cell_types": "placement_thresholds",
    "iter_placement_thresholds": "placement_thresholds",
    "run_thresholds": "population",
    "iter_run_thresholds": "population",
}

__all__ = ["TmsPulse", "monophasic_pulse", "biphasic_pulse", "quasipotentials", "tree_depths", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
