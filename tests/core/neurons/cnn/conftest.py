"""The tiny NEURON dataset (``_fixtures.py``), generated once per test session."""

import pytest


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """``(directory, summary of the first generation)``; skips without NEURON."""
    pytest.importorskip("neuron", reason="the dataset's thresholds come from NEURON (pip install neuron)")
    from napari_rat_tms.core.neurons.population import clear_cell_cache

    from ._fixtures import generate

    directory = tmp_path_factory.mktemp("cnn_dataset")
    try:
        summary = generate(directory)
    finally:
        clear_cell_cache()   # NEURON would otherwise keep simulating the cell in later tests
    return directory, summary
