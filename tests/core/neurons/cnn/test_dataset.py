"""Training data generation (dataset.py): NEURON thresholds and local grids in shards, resumable.

Oracles: the population engine run directly on the same neuron and field (threshold_tasks + compute);
the local-field sampler for the stored grids; counting field-function calls and NEURON computations of
a rerun; the median of the stored thresholds for the population records."""

import json

import numpy as np
import pytest

pytest.importorskip("neuron", reason="the dataset's thresholds come from NEURON (pip install neuron)")

from napari_rat_tms.core.neurons.cnn.dataset import POPULATION_MEDIAN, ThresholdDataset  # noqa: E402
from napari_rat_tms.core.neurons.cnn.local_field import sample_local_fields  # noqa: E402
from napari_rat_tms.core.neurons.population import (CellSpec, clear_cell_cache, run_thresholds,  # noqa: E402
                                                    threshold_tasks)

from ._fixtures import (CELL, HEADS, PLACEMENTS, THRESHOLD_KWARGS, brain, field_fn_for,  # noqa: E402
                        generate, neurons_of)


@pytest.fixture(scope="module", autouse=True)
def _drop_cells_afterwards():
    yield
    clear_cell_cache()


@pytest.fixture(scope="module")
def dataset_dir(tiny_dataset):
    return tiny_dataset


def test_generation_writes_records_grids_and_thresholds(dataset_dir):
    directory, summary = dataset_dir
    n = len(HEADS) * len(PLACEMENTS) * 3
    assert summary["thresholds_computed"] == n
    assert summary["shards_computed"] == 2 * len(HEADS) * len(PLACEMENTS)
    data = ThresholdDataset(directory)
    assert data.cell_types() == sorted([CELL, POPULATION_MEDIAN])
    assert data.status_counts() == {CELL: {"ok": n}, POPULATION_MEDIAN: {"ok": n}}
    records = data.select(CELL, statuses=("ok", "not bracketed", "outside field"))
    assert len(records) == n and all(r["status"] == "ok" for r in records), [r["message"] for r in records]
    r = next(r for r in records if r["head_id"] == "ratB" and r["placement_id"] == "P1" and r["row"] == 2)
    assert r["group"] == "ratB/P1" and r["grid"] == {"n": 9, "side_mm": 1.5}
    # the threshold is the engine's for the same neuron and field; T_soma = amplitude x |E_soma|
    neuron = neurons_of("ratB")[2]
    fn = field_fn_for("ratB", "P1")
    (task,) = threshold_tasks(CellSpec("ball_and_stick"), [neuron], fn, "monophasic", inside=brain,
                              threshold_kwargs=THRESHOLD_KWARGS)
    (direct,) = run_thresholds([task], processes=False)
    assert r["threshold_amplitude"] == direct.threshold_amplitude and r["task_key"] == direct.key
    samples = sample_local_fields([neuron], fn, data.grid, inside=brain)
    assert r["e_soma_norm_v_per_m"] == pytest.approx(samples.e_soma_norm_v_per_m[0])
    assert r["threshold_soma_v_per_m"] == pytest.approx(r["threshold_amplitude"] * r["e_soma_norm_v_per_m"])
    train = data.training_data(CELL)
    k = list(train.record_ids).index(r["id"])
    np.testing.assert_array_equal(train.inputs[k], samples.network_input()[0])
    assert 0 < (train.inputs[k, 3] == 0).sum() < 729                   # some grid points above the pia
    np.testing.assert_allclose(train.threshold_amplitude[k], r["threshold_amplitude"])


def test_population_median_records(dataset_dir):
    directory, _ = dataset_dir
    data = ThresholdDataset(directory)
    by_id = {r["id"]: r for r in data.records}
    sites = data.select(POPULATION_MEDIAN)
    assert len(sites) == len(HEADS) * len(PLACEMENTS) * 3             # one neuron per vertex here
    for site in sites:
        members = [by_id[m] for m in site["members"]]
        median = np.median([m["threshold_amplitude"] for m in members])
        assert site["threshold_amplitude"] == pytest.approx(median)
        assert site["neuron"]["layer"] == "site" and site["neuron"]["azimuth_rad"] == 0.0


def test_rerun_computes_nothing_and_a_lost_shard_comes_from_the_cache(dataset_dir):
    directory, _ = dataset_dir
    before = json.loads((directory / "index.json").read_text())
    calls = []
    summary = generate(directory, counter=calls)
    assert summary["shards_computed"] == 0 and summary["thresholds_computed"] == 0 and not calls
    assert json.loads((directory / "index.json").read_text())["records"] == before["records"]
    # an interrupted run: one shard lost; its thresholds are in the engine's cache
    lost = next(iter(before["shards"]))
    (directory / "shards" / f"{lost}.npz").unlink()
    summary = generate(directory, counter=calls)
    assert summary["shards_computed"] >= 1 and summary["thresholds_computed"] == 0
    assert summary["thresholds_from_cache"] == 3 and calls
    after = json.loads((directory / "index.json").read_text())
    assert sorted(r["id"] for r in after["records"]) == sorted(r["id"] for r in before["records"])


def test_a_placement_can_have_its_own_neurons(dataset_dir, tmp_path):
    """``CoilField.neuron_set``: each placement of a head with other neurons (sites, azimuths, depths)."""
    import shutil

    from napari_rat_tms.core.neurons.cnn.dataset import CoilField, generate_dataset

    source, _ = dataset_dir
    shutil.copytree(source / "thresholds", tmp_path / "thresholds")      # the same tasks: from the cache
    own = neurons_of("ratA")[1:]
    fields = [CoilField("P0", "ratA", field_fn_for("ratA", "P0"), brain, neuron_set="ratA:P0"),
              CoilField("P1", "ratA", field_fn_for("ratA", "P1"), brain)]
    neurons = {"ratA": {CELL: neurons_of("ratA")}, "ratA:P0": {CELL: own}}
    summary = generate_dataset(tmp_path, {CELL: CellSpec("ball_and_stick")}, neurons, fields,
                               threshold_kwargs=THRESHOLD_KWARGS, processes=False)
    assert summary["thresholds_computed"] == 0 and summary["thresholds_from_cache"] == 2 + 3
    data = ThresholdDataset(tmp_path)
    p0 = [r for r in data.select(CELL) if r["placement_id"] == "P0"]
    p1 = [r for r in data.select(CELL) if r["placement_id"] == "P1"]
    assert [r["neuron"] for r in p0] == [n.as_dict() for n in own]
    assert [r["neuron"] for r in p1] == [n.as_dict() for n in neurons_of("ratA")]
    with pytest.raises(ValueError, match="neuron set 'ratA:P2' is not a key of neurons"):
        generate_dataset(tmp_path / "other", {CELL: CellSpec("ball_and_stick")}, neurons,
                         [CoilField("P2", "ratA", field_fn_for("ratA", "P2"), brain, neuron_set="ratA:P2")],
                         processes=False)
