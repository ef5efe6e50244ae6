"""Many neurons' thresholds with Dask, cached and resumable (population.py).

Oracles: the serial run in this process (the same function, no Dask) for the LocalCluster's
numbers (NEURON's fixed step is deterministic, so they must be identical); counting what a rerun
computes (``from_cache``) for the cache and the resumption; the single-neuron engine
(``activation_threshold``) and ``field_at_cell`` for the tasks built from placements; the engine's
own exceptions for the error statuses.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from napari_rat_tms.core.errors import ConductorModelError
from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.neurons.cortex import field_at_cell, place_neurons
from napari_rat_tms.core.neurons.population import (CellSpec, ThresholdTask, clear_cell_cache, compute_task,
                                                    iter_run_thresholds, run_thresholds, threshold_tasks)

BALL = CellSpec("ball_and_stick")
AXON = CellSpec("straight_axon", kwargs={"length_um": 2000.0, "axon_diameter_um": 2.0})
RADIUS_M = 6e-3


@pytest.fixture(scope="module", autouse=True)
def _drop_cells_afterwards():
    yield
    clear_cell_cache()  # NEURON would otherwise keep simulating the cached cell in later tests


def _good_tasks():
    return [ThresholdTask(BALL, [0.0, 0.0, -100.0], label="ball -z"),
            ThresholdTask(BALL, [40.0, 10.0, -100.0], label="ball oblique"),
            ThresholdTask(BALL, [0.0, 0.0, -100.0], "biphasic", label="ball biphasic"),
            ThresholdTask(AXON, [0.0, 0.0, 150.0], label="axon +z")]


def _bad_tasks(tmp_path):
    return [ThresholdTask(BALL, [0.0, 0.0, -100.0], threshold_kwargs={"search_range_v_per_m": (1.0, 20.0)},
                          label="too small a range"),
            ThresholdTask(CellSpec("morphology", path=tmp_path / "missing.asc"), [0.0, 0.0, -1.0],
                          label="missing file"),
            ThresholdTask(BALL, np.full((95, 3), np.nan), label="no field")]


def _cell():
    """The ball-and-stick cell the population module keeps in this process (the one it simulates)."""
    from napari_rat_tms.core.neurons.population import cell_for_spec

    return cell_for_spec(BALL)


def _numbers(results):
    return [(r.status, r.threshold_amplitude, r.site_index, r.site_section, r.n_simulations) for r in results]


@pytest.fixture(scope="module")
def serial_results(tmp_path_factory):
    tasks = _good_tasks() + _bad_tasks(tmp_path_factory.mktemp("bad"))
    return tasks, run_thresholds(tasks, processes=False)


def test_serial_results_and_error_statuses(serial_results):
    tasks, results = serial_results
    from napari_rat_tms.core.neurons.simple_cells import ball_and_stick_cell
    from napari_rat_tms.core.neurons.threshold import activation_threshold
    from napari_rat_tms.core.neurons.waveforms import monophasic_pulse

    bad = ["not bracketed", "failed: morphology", "outside field"]
    assert [r.status for r in results] == ["ok"] * 4 + bad
    assert [r.label for r in results] == [t.label for t in tasks]
    assert not any(r.from_cache for r in results)
    # the same number as the single-neuron engine
    clear_cell_cache()
    direct = activation_threshold(ball_and_stick_cell(), [0.0, 0.0, -100.0], monophasic_pulse())
    assert results[0].threshold_amplitude == direct.threshold_amplitude
    assert results[0].threshold_v_per_m == pytest.approx(100.0 * direct.threshold_amplitude)
    assert results[0].site_section == direct.first_site_section and results[0].site_position_m is None
    assert "1-20 V/m" in results[4].message and results[4].message.startswith("too small a range")
    assert "missing.asc" in results[5].message and "does not exist" in results[5].message
    assert "not finite at 95 of 95 segments" in results[6].message
    assert results[2].threshold_amplitude != results[0].threshold_amplitude  # the pulse matters


def test_local_cluster_of_two_workers_gives_identical_thresholds(serial_results):
    tasks, serial = serial_results
    messages = []
    clustered = run_thresholds(tasks, n_workers=2, progress=lambda f, m: messages.append((f, m)))
    assert _numbers(clustered) == _numbers(serial)
    assert any("LocalCluster of 2 worker processes" in m for _, m in messages)
    fractions = [f for f, _ in messages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_second_run_reads_everything_from_the_cache(serial_results, tmp_path, caplog):
    tasks, serial = serial_results
    first = run_thresholds(tasks, processes=False, cache_dir=tmp_path)
    assert not any(r.from_cache for r in first)
    # every result but the failed one is cached (a missing morphology can be fixed and retried)
    assert len(list(tmp_path.glob("*.json"))) == len(tasks) - 1
    second = run_thresholds(tasks, processes=False, cache_dir=tmp_path)
    assert [r.from_cache for r in second] == [True] * 5 + [False, True]
    assert _numbers(second) == _numbers(serial)
    assert second[0].site_position_um == serial[0].site_position_um
    # renaming a task keeps its key; a damaged file is recomputed, never trusted
    assert ThresholdTask(BALL, [0.0, 0.0, -100.0], label="renamed").key() == tasks[0].key()
    (tmp_path / f"{tasks[1].key()}.json").write_text("{ not json")
    with caplog.at_level(logging.WARNING):
        third = run_thresholds(tasks, processes=False, cache_dir=tmp_path)
    assert "ignoring the cached threshold" in caplog.text
    assert [r.from_cache for r in third] == [True, False, True, True, True, False, True]
    assert third[1].threshold_amplitude == serial[1].threshold_amplitude
    stored = json.loads((tmp_path / f"{tasks[3].key()}.json").read_text())
    assert stored["inputs"]["cell"]["kind"] == "straight_axon" and stored["result"]["status"] == "ok"


def test_cache_key_follows_the_inputs():
    base = ThresholdTask(BALL, [0.0, 0.0, -100.0])
    same = ThresholdTask(CellSpec("ball_and_stick"), np.array([0.0, 0.0, -100.0]), "monophasic")
    assert base.key() == same.key()
    changed = [ThresholdTask(BALL, [0.0, 0.0, -100.0 * (1 + 1e-15)]),
               ThresholdTask(BALL, [0.0, 0.0, -100.0], "biphasic"),
               ThresholdTask(BALL, [0.0, 0.0, -100.0], threshold_kwargs={"rel_tol": 0.005}),
               ThresholdTask(CellSpec("ball_and_stick", kwargs={"n_internodes": 9}), [0.0, 0.0, -100.0])]
    assert len({t.key() for t in changed} | {base.key()}) == 5
    # defaults written out give the same key as defaults left out
    assert ThresholdTask(BALL, [0.0, 0.0, -100.0], threshold_kwargs={"rel_tol": 0.01}).key() == base.key()


def test_interrupted_run_resumes_with_only_the_rest(serial_results, tmp_path):
    tasks = serial_results[0][:4]
    steps = iter_run_thresholds(tasks, processes=False, cache_dir=tmp_path)
    done = 0
    for fraction, _ in steps:
        done = round(fraction * len(tasks))
        if done == 2:
            steps.close()  # Cancel after two neurons
            break
    assert len(list(tmp_path.glob("*.json"))) == 2
    resumed = run_thresholds(tasks, processes=False, cache_dir=tmp_path)
    assert sum(r.from_cache for r in resumed) == 2
    assert _numbers(resumed) == _numbers(serial_results[1][:4])


def test_closing_a_cluster_run_cancels_it_and_the_rest_resumes(serial_results, tmp_path):
    tasks = serial_results[0][:4]
    steps = iter_run_thresholds(tasks, n_workers=2, cache_dir=tmp_path)
    for fraction, _ in steps:
        if fraction > 0:  # the first neuron is done
            break
    steps.close()  # cancels the pending futures, closes the LocalCluster it started
    n_cached = len(list(tmp_path.glob("*.json")))
    assert 1 <= n_cached < len(tasks)
    resumed = run_thresholds(tasks, processes=False, cache_dir=tmp_path)
    assert sum(r.from_cache for r in resumed) == n_cached
    assert _numbers(resumed) == _numbers(serial_results[1][:4])


@pytest.fixture(scope="module")
def external_cluster():
    """A running LocalCluster that the calls under test do not own (a stand-in for a real cluster)."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.WARNING)
    yield cluster
    cluster.close()


def test_scheduler_address_uses_a_running_cluster(serial_results, external_cluster):
    tasks, serial = serial_results
    results = run_thresholds(tasks[:2], scheduler_address=external_cluster.scheduler_address)
    assert _numbers(results) == _numbers(serial[:2])
    assert len(external_cluster.scheduler.workers) == 2  # left running


def test_closing_cancels_the_pending_futures_of_a_client(external_cluster, tmp_path):
    import time

    from distributed import Client, get_task_stream

    # ten distinct tasks of ~0.15 s each: ~0.8 s of work for two workers if nothing were cancelled
    tasks = [ThresholdTask(BALL, [0.0, 5.0 * k, -100.0]) for k in range(10)]
    with Client(external_cluster) as client:
        with get_task_stream(client) as stream:  # the tasks the workers ran, collected on exit
            steps = iter_run_thresholds(tasks, client=client, cache_dir=tmp_path)
            for fraction, _ in steps:
                if fraction > 0:  # the first neuron is done
                    break
            steps.close()
            time.sleep(2.0)  # long enough for every task to have run, had they not been cancelled
        assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) == 0
        assert client.status == "running"  # a client passed in is left open
    executed = [t for t in stream.data if "rat-tms-threshold" in str(t["key"])]
    assert 1 <= len(executed) < len(tasks)
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_tasks_from_placements_in_a_head(tmp_path):
    cortex = icosphere(RADIUS_M, 2, name="cortex")
    e_head = np.array([20.0, -30.0, -100.0])

    def field(points):  # uniform inside the head, no field outside it
        e = np.tile(e_head, (len(points), 1))
        e[np.linalg.norm(points, axis=1) > RADIUS_M] = np.nan
        return e

    calls = []

    def counted(points):
        calls.append(len(points))
        return field(points)

    placements = place_neurons(cortex, "L5", vertices=[0, 1], azimuths_rad=[0.0, 2.0])
    placements += place_neurons(cortex, "L1", vertices=[2])  # its dendrite sticks out of the head
    tasks = threshold_tasks(BALL, placements, counted)
    assert len(calls) == 1 and calls[0] == 3 * 95  # one call for every neuron's compartments
    single = field_at_cell(_cell().segment_positions_um(), placements[0], field)
    assert np.allclose(tasks[0].efield_v_per_m, single, rtol=0, atol=1e-12)
    assert tasks[2].efield_v_per_m is None and "compartments lie outside" in tasks[2].field_error
    results = run_thresholds(tasks, processes=False)
    assert [r.status for r in results] == ["ok", "ok", "outside field"]
    assert "ball_and_stick at vertex 2 (L1" in results[2].message
    from napari_rat_tms.core.neurons.threshold import activation_threshold

    cell = _cell()
    direct = activation_threshold(cell, tasks[0].efield_v_per_m, tasks[0].pulse)
    assert results[0].threshold_amplitude == direct.threshold_amplitude
    # the site in the head frame is the cell-frame site moved by the placement
    p = placements[0]
    expected = p.soma + p.rotation_matrix @ (np.array(results[0].site_position_um) * 1e-6)
    assert np.allclose(results[0].site_position_m, expected, atol=1e-15)

    # a field that refuses points in air (the BEM) instead of returning NaN: the same statuses
    def refusing(points):
        if np.any(np.linalg.norm(points, axis=1) > RADIUS_M):
            raise ConductorModelError("points lie outside the head model (in air)")
        return field(points)

    again = threshold_tasks(BALL, placements, refusing)
    assert [t.field_error is None for t in again] == [True, True, False]
    assert np.array_equal(again[1].efield_v_per_m, tasks[1].efield_v_per_m)
    # an inside test keeps the points in air away from field_fn
    inside = threshold_tasks(BALL, placements, refusing, inside=cortex)
    assert [t.key() for t in inside] == [t.key() for t in tasks]
    # a morphology that cannot be built: tasks whose results say so
    missing = threshold_tasks(CellSpec("morphology", path=tmp_path / "gone.swc"), placements[:1], field)
    assert run_thresholds(missing, processes=False)[0].status == "failed: morphology"


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        CellSpec("pyramid")
    with pytest.raises(ValueError, match="needs path"):
        CellSpec("morphology")
    with pytest.raises(ValueError, match="JSON values"):
        CellSpec("ball_and_stick", kwargs={"biophysics": object()})
    with pytest.raises(ValueError, match=r"unknown threshold_kwargs \['rel_tolerance'\]"):
        ThresholdTask(BALL, [0.0, 0.0, 1.0], threshold_kwargs={"rel_tolerance": 0.1})
    with pytest.raises(ValueError, match="pulse must be"):
        ThresholdTask(BALL, [0.0, 0.0, 1.0], "triphasic")
    with pytest.raises(ValueError, match="efield_v_per_m must be"):
        ThresholdTask(BALL, [0.0, 1.0])
    with pytest.raises(ValueError, match="not both"):
        iter_run_thresholds([], client=object(), scheduler_address="tcp://localhost:1")
    with pytest.raises(TypeError, match=r"tasks\[0\] must be a ThresholdTask"):
        run_thresholds([object()], processes=False)
    assert run_thresholds([], processes=False) == []
    # a field of the wrong length for the cell: a failed status, not an exception
    result = compute_task(ThresholdTask(BALL, np.ones((7, 3))))
    assert result.status == "failed: ValueError" and "(95, 3)" in result.message
