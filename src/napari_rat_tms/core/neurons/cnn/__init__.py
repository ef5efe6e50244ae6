"""Fast activation thresholds from the local E-field with 3D CNNs (issue 9; seed 000: Aberra et al. 2023
NeuroImage 275:120184).

Pure core (no Qt or napari):

* :mod:`.local_field`: the 9 x 9 x 9 E-field grid around a neuron, in its cell frame, normalised by
  ``|E_soma|``, zero plus a mask channel outside the tissue (numpy only);
* :mod:`.dataset`: training data: NEURON thresholds (Dask, cached, resumable) and grids, in shards;
* :mod:`.networks`: the Conv3d + BatchNorm3d + ReLU networks (PyTorch), saving and loading;
* :mod:`.training`: the split by head and coil placement, training, metrics, the model card;
* :mod:`.estimator`: :class:`CnnThresholdEstimator`, thresholds of many neurons at once, falling back
  to the uniform-field estimator for a cell type without a network.

PyTorch is optional (``pip install 'napari-rat-tms[cnn]'``); the names that need it are imported on
first use.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "LocalFieldGrid": "local_field",
    "LocalFieldSamples": "local_field",
    "MissingFieldError": "local_field",
    "sample_local_fields": "local_field",
    "samples_from_arrays": "local_field",
    "CoilField": "dataset",
    "TrainingData": "dataset",
    "ThresholdDataset": "dataset",
    "POPULATION_MEDIAN": "dataset",
    "site_placement": "dataset",
    "generate_dataset": "dataset",
    "iter_generate_dataset": "dataset",
    "NetworkConfig": "networks",
    "ThresholdCNN": "networks",
    "save_model": "networks",
    "load_model": "networks",
    "Split": "training",
    "split_by_group": "training",
    "threshold_metrics": "training",
    "train_network": "training",
    "TrainedModel": "training",
    "verify_saved_model": "training",
    "CnnThresholdEstimator": "estimator",
    "ThresholdEstimate": "estimator",
    "CnnFallbackWarning": "estimator",
    "shipped_estimator": "estimator",
    "out_of_training_range": "estimator",
    "beyond_training_range": "estimator",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
