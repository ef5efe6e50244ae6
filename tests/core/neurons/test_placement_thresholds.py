"""Threshold maps of one placement in the core (placement_thresholds.py), without napari.

Scene: a 10 mm sphere of brain conductivity (1C), an ellipsoidal cortex inside (7 x 5.5 x 4.5 mm;
a concentric sphere would give radial cells no field along their axis), the MC-B35 (low
resolution) 4 mm above its top, pointing down. Oracles: :func:`threshold_tasks` with the field of
:func:`efield_at_points` (the same BEM, evaluated by another entry point) for the thresholds;
counting for the fractions; the |E| given for the hotspot's vertices.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("neuron", reason="NEURON is not installed (pip install 'napari-rat-tms[neurons]')")

from napari_rat_tms.core.bem.conductor import nested_spheres  # noqa: E402
from napari_rat_tms.core.bem.points_field import efield_at_points  # noqa: E402
from napari_rat_tms.core.coils import MC_B35_MAX_DIDT_A_PER_US, mc_b35  # noqa: E402
from napari_rat_tms.core.meshes.primitives import icosphere  # noqa: E402
from napari_rat_tms.core.meshes.sampling import spread_indices  # noqa: E402
from napari_rat_tms.core.meshes.surface import TriangleSurface  # noqa: E402
from napari_rat_tms.core.neurons import (  # noqa: E402
    CellSpec,
    cell_types,
    compartment_points,
    iter_placement_thresholds,
    run_thresholds,
    tasks_from_field,
    threshold_tasks,
)
from napari_rat_tms.core.neurons.placement_thresholds import (  # noqa: E402
    BALL_AND_STICK,
    UNIT_DIDT_A_PER_S,
    neuron_vertices,
)
from napari_rat_tms.core.neurons.population import clear_cell_cache  # noqa: E402
from napari_rat_tms.core.progress import run_to_completion  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _drop_cells_afterwards():
    yield
    clear_cell_cache()


def _cortex():
    sphere = icosphere(1.0, 3)
    return TriangleSurface(sphere.vertices_m * np.array([7.0, 5.5, 4.5]) * 1e-3, sphere.faces, name="cortex")


def _scene():
    conductor = nested_spheres([10e-3], [0.33], subdivisions=3)
    coil = mc_b35("low").transformed(np.diag([1.0, -1.0, -1.0]), [0.0, 0.0, 14e-3])
    return conductor, coil, _cortex()


def test_spread_indices_are_spread_and_cover_small_sets():
    points = np.array([[0.0, 0, 0], [0.1, 0, 0], [10, 0, 0], [0, 10, 0], [0.2, 0, 0]])
    assert list(spread_indices(points, 3)) == [0, 2, 3]       # the far ones, not the cluster
    assert list(spread_indices(points, 9)) == [0, 1, 2, 3, 4]


def test_neuron_vertices_under_the_coil():
    cortex = _cortex()
    z = cortex.vertices_m[:, 2]
    norm = np.exp((z - z.max()) / 2e-3)           # |E| largest at the top
    chosen = neuron_vertices(cortex, 8, efield_norm=norm, min_fraction_of_peak=0.5)
    assert len(chosen) == 8 and len(set(chosen)) == 8
    assert np.all(norm[chosen] >= 0.5 * norm.max())
    assert int(np.argmax(norm)) in chosen
    everywhere = neuron_vertices(cortex, 8)
    assert np.ptp(z[everywhere]) > 5e-3              # spread over the whole cortex
    with pytest.raises(ValueError, match="efield_norm"):
        neuron_vertices(cortex, 8, min_fraction_of_peak=0.5)
    with pytest.raises(ValueError, match="values for"):
        neuron_vertices(cortex, 8, efield_norm=norm[:-1], min_fraction_of_peak=0.5)
    with pytest.raises(ValueError, match="positive integer"):
        neuron_vertices(cortex, 0)


def test_golden_angle_azimuths_spread_any_first_few():
    """Any first k azimuths leave no gap wider than 2 pi / k times the golden ratio squared (three-gap
    theorem bound for the golden angle), and are in [0, 2 pi)."""
    from napari_rat_tms.core.neurons.placement_thresholds import golden_angle_azimuths

    a = golden_angle_azimuths(50)
    assert a.shape == (50,) and a.min() >= 0.0 and a.max() < 2 * np.pi
    assert a[0] == 0.0 and np.isclose(a[1], np.pi * (3 - np.sqrt(5)))
    for k in (3, 5, 8, 13, 50):
        s = np.sort(a[:k])
        gaps = np.diff(np.concatenate([s, [s[0] + 2 * np.pi]]))
        assert gaps.max() <= 2 * np.pi / k * ((1 + np.sqrt(5)) / 2) ** 2 + 1e-12, k


def test_nearest_neuron_map_gives_each_vertex_its_nearest_neurons_value():
    from napari_rat_tms.core.neurons.placement_thresholds import nearest_neuron_map

    line = np.stack([np.arange(10.0) * 1e-3, np.zeros(10), np.zeros(10)], axis=1)
    values = nearest_neuron_map(line, [1, 8], [3.0, np.nan])
    assert np.array_equal(values[:5], [3.0] * 5) and np.all(np.isnan(values[5:]))
    with pytest.raises(ValueError, match="2 values for 1"):
        nearest_neuron_map(line, [1], [1.0, 2.0])


def test_cell_types_from_files_and_folders(tmp_path):
    for name in ("L23_PC_x.swc", "L6_TPC_y.asc", "mystery.swc", "notes.txt"):
        (tmp_path / name).write_text("")
    types = cell_types([tmp_path])
    assert [t.name for t in types] == [BALL_AND_STICK, "L23_PC_x", "L6_TPC_y", "mystery"]
    assert [t.layer for t in types] == ["L5", "L2/3", "L6", "L5"]
    assert [t.layer_known for t in types] == [True, True, True, False]
    assert types[1].spec == CellSpec("morphology", path=str(tmp_path / "L23_PC_x.swc"))
    assert [t.name for t in cell_types([tmp_path / "L6_TPC_y.asc"], ball_and_stick=False)] == ["L6_TPC_y"]
    # the channel set goes into every spec (the reduced default stays implicit: same cache keys as before)
    full = cell_types([tmp_path / "L6_TPC_y.asc"], channels="hay2011")
    assert all(t.spec.kwargs == {"biophysics": {"channels": "hay2011"}} for t in full)
    assert full[0].spec.build().biophysics.channels == "hay2011"
    assert all(t.spec.kwargs == {} for t in types)
    with pytest.raises(ValueError, match="channels must be one of"):
        cell_types([], channels="hh")


def test_two_step_tasks_equal_threshold_tasks():
    """compartment_points + tasks_from_field is threshold_tasks split in two: the same tasks."""
    from napari_rat_tms.core.neurons import place_neurons

    cortex = _cortex()
    placements = place_neurons(cortex, "L5", vertices=[0, 5, 9])

    def field(points):
        return np.tile([0.0, 0.0, 50.0], (len(points), 1)) + 1e3 * np.asarray(points)

    one = threshold_tasks(CellSpec("ball_and_stick"), placements, field)
    points = compartment_points(CellSpec("ball_and_stick"), placements)
    two = tasks_from_field(points, field(points.points_to_evaluate))
    assert [t.key() for t in one] == [t.key() for t in two]
    with pytest.raises(ValueError, match="rows"):
        tasks_from_field(points, field(points.points_to_evaluate)[:-1])


def test_iter_placement_thresholds_matches_the_engine_and_goes_on_after_a_bad_cell(tmp_path):
    conductor, coil, cortex = _scene()
    z = cortex.vertices_m[:, 2]
    vertices = np.argsort(-z)[:3]                    # under the coil
    cells = cell_types([tmp_path / "L5_missing.swc"])  # a morphology that does not exist
    items = list(iter_placement_thresholds(conductor, coil, cortex, cells, vertices, model="1C",
                                           cache_dir=tmp_path / "cache"))
    progress = [item for item in items if item[0] == "progress"]
    assert progress and all(0.0 <= item[1] <= 1.0 for item in progress)
    done = {item[1].name: item[1] for item in items if item[0] == "cell"}
    assert set(done) == {BALL_AND_STICK, "L5_missing"}
    missing = done["L5_missing"]
    assert all(r.status == "failed: morphology" for r in missing.results)
    assert missing.activated_fraction(1e9) is None
    ball = done[BALL_AND_STICK]
    assert ball.model == "1C" and ball.pulse == "monophasic" and len(ball.results) == 3
    thresholds = ball.thresholds_a_per_us
    assert np.isfinite(thresholds).sum() >= 1, [r.message for r in ball.results]
    np.testing.assert_allclose(ball.thresholds_pct_mso, 100 * thresholds / MC_B35_MAX_DIDT_A_PER_US)

    # the same neurons through another path: the BEM field at their compartments at 1 A/us
    def field(points):
        return efield_at_points(conductor, coil, UNIT_DIDT_A_PER_S, points)

    tasks = threshold_tasks(CellSpec("ball_and_stick"), ball.placements, field)
    expected = np.array([r.threshold_amplitude if r.ok else np.nan for r in run_thresholds(tasks,
                                                                                        processes=False)])
    np.testing.assert_allclose(thresholds, expected, rtol=1e-6)

    # fractions: 0 below the lowest threshold, 1/N-steps above, monotone
    finite = np.sort(thresholds[np.isfinite(thresholds)])
    assert ball.activated_fraction(0.99 * finite[0]) == 0.0
    assert ball.activated_fraction(finite[0]) == pytest.approx(1 / 3)
    fractions = [ball.activated_fraction(x) for x in (0.0, finite[0], finite[-1], 1e12)]
    assert fractions == sorted(fractions)

    # a rerun reads every neuron from the cache
    again = run_to_completion(_only_cells(iter_placement_thresholds(
        conductor, coil, cortex, cells[:1], vertices, cache_dir=tmp_path / "cache")))
    assert all(r.from_cache for r in again[0].results)


def _only_cells(items):
    """A (fraction, message) generator returning the cell results, for run_to_completion."""
    out = []
    for item in items:
        if item[0] == "progress":
            yield item[1], item[2]
        elif item[0] == "cell":
            out.append(item[1])
    return out


def test_fast_estimates_match_the_estimators_and_approach_neuron(tmp_path, monkeypatch):
    """method="uniform-field": the direction map (computed once, then read from the cache) applied to
    the BEM field at each soma in the cell frame, equal to estimate() on that field computed by another
    path; close to NEURON's thresholds for the ball-and-stick (a near-uniform field over the cell).
    method="cnn" without a network for the cell type: the uniform-field estimate, and the results say so."""
    from napari_rat_tms.core.neurons import direction_map as dm
    from napari_rat_tms.core.neurons.direction_map import estimate
    from napari_rat_tms.core.neurons.placement_thresholds import direction_map_for

    conductor, coil, cortex = _scene()
    vertices = np.argsort(-cortex.vertices_m[:, 2])[:3]
    cells = cell_types([])
    cache = tmp_path / "cache"

    def run(method):
        items = list(iter_placement_thresholds(conductor, coil, cortex, cells, vertices, cache_dir=cache,
                                               method=method))
        (result,) = [item[1] for item in items if item[0] == "cell"]
        return result

    fast = run("uniform-field")
    assert len(list((cache / "direction_maps").glob("*.npz"))) == 1
    dmap = direction_map_for(cells[0].spec, cache_dir=cache)
    somas = np.array([p.soma_m for p in fast.placements])
    e_head = efield_at_points(conductor, coil, UNIT_DIDT_A_PER_S, somas)
    e_cell = np.array([e @ p.rotation_matrix for e, p in zip(e_head, fast.placements)])
    expected = np.atleast_1d(estimate(dmap, e_cell))
    ok = np.isfinite(expected)
    np.testing.assert_allclose(fast.thresholds_a_per_us[ok], expected[ok], rtol=1e-6)
    assert all("uniform-field estimate" in r.message for r in fast.results)

    neuron = run("neuron").thresholds_a_per_us
    both = np.isfinite(neuron) & np.isfinite(fast.thresholds_a_per_us)
    assert both.any()
    assert np.median(np.abs(fast.thresholds_a_per_us[both] / neuron[both] - 1)) < 0.25

    # the map is read from the cache: computing another one would fail here
    def refuse(*args, **kwargs):
        raise AssertionError("the direction map was computed again")

    monkeypatch.setattr(dm, "direction_map_steps", refuse)
    cnn = run("cnn")
    np.testing.assert_allclose(cnn.thresholds_a_per_us, fast.thresholds_a_per_us)
    assert all("no trained CNN" in r.message for r in cnn.results if r.ok)
    with pytest.raises(ValueError, match="method must be one of"):
        run("guess")


def test_cnn_estimates_come_from_the_network_and_carry_its_held_out_error(tmp_path):
    """method="cnn" with a network for the cell type (an untrained one: this checks the plumbing,
    not the accuracy): the thresholds equal the estimator's own prediction on the same neurons and
    the results carry the held-out error its card records."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    from napari_rat_tms.core.neurons.cnn import (CnnThresholdEstimator, LocalFieldGrid, NetworkConfig,
                                                 ThresholdCNN)

    torch.manual_seed(0)
    model = ThresholdCNN(NetworkConfig(channels=(4,), hidden=4)).eval()
    card = {"cell_type": BALL_AND_STICK, "input": {"grid": LocalFieldGrid().as_dict()},
            "metrics": {"test": {"mape_percent": 12.5, "n": 40}}}
    estimator = CnnThresholdEstimator({BALL_AND_STICK: (model, card)})
    conductor, coil, cortex = _scene()
    vertices = np.argsort(-cortex.vertices_m[:, 2])[:3]
    items = list(iter_placement_thresholds(conductor, coil, cortex, cell_types([]), vertices,
                                           cache_dir=tmp_path, method="cnn", estimator=estimator))
    (result,) = [item[1] for item in items if item[0] == "cell"]
    assert result.method == "cnn"
    assert all("MAPE 12.5 %" in r.message and r.ok for r in result.results)

    def field(points):
        return efield_at_points(conductor, coil, UNIT_DIDT_A_PER_S, points)

    def inside(points):
        return conductor.conductivity_at(np.asarray(points, float).reshape(-1, 3)) > 0

    expected = estimator.estimate(BALL_AND_STICK, result.placements, field, inside=inside)
    assert expected.method == "cnn"
    np.testing.assert_allclose(result.thresholds_a_per_us, expected.threshold_amplitude, rtol=1e-5)

    # a network of the same name trained on another cell model is not used: the uniform-field estimate,
    # and the results say why
    other = dict(card, data={"cell": {"kind": "ball_and_stick", "kwargs": {"soma_diameter_um": 30.0}}})
    items = list(iter_placement_thresholds(conductor, coil, cortex, cell_types([]), vertices,
                                           cache_dir=tmp_path, method="cnn",
                                           estimator=CnnThresholdEstimator({BALL_AND_STICK: (model, other)})))
    (refused,) = [item[1] for item in items if item[0] == "cell"]
    assert all("no trained CNN for this cell model" in r.message and "cell arguments" in r.message
               for r in refused.results if r.ok)
    uniform = list(iter_placement_thresholds(conductor, coil, cortex, cell_types([]), vertices,
                                             cache_dir=tmp_path, method="uniform-field"))
    (expected_uniform,) = [item[1] for item in uniform if item[0] == "cell"]
    np.testing.assert_allclose(refused.thresholds_a_per_us, expected_uniform.thresholds_a_per_us)
