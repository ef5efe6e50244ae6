"""Threshold CNNs (issue 9, seed 000) against NEURON and the uniform-field estimator, on a stand-in head.

**Stand-in for the synthetic rat** (documented; the BEM of the meshed synthetic rat costs minutes per
coil placement on a laptop, the analytic sphere milliseconds): the analytic spherical conductor
(``core/bem/sphere_model.py``, Heller & van Hulsteyn 1992) with an ellipsoidal cortex inside it, as
``bench_population.py``: **head "rat"**, cortex semi-axes 7 x 5 x 4 mm, field defined inside a 7.5 mm
sphere; **head "rat-0.85"**, the same scaled by 0.85 (a smaller rat: a head never seen in training).
The brain (the ``inside`` predicate of the grids and compartments) is the inside of the ellipsoid, so
the grid points above the pia get 0 and mask 0. Coil: MC-B35 (low resolution), its casing 4 mm above
the cortex's top, at ``--placements`` positions and orientations (ids ``P0``...; the same id is the same
relative position and orientation on both heads); field at dI/dt = 1 A/us, so thresholds are in A/us.

Cell types: ``ball-and-stick L5`` (the package's simplified cell, soma at L5 depth 1.12 mm) and
``ball-and-stick L2/3`` (dendrite 300 um, soma at L2/3 depth 0.416 mm, its grid reaching 0.33 mm above
the pia); ``--neurons`` vertices nearest the cortex's top per head, random azimuths (seed 0). The
population-median records: the median over both cell types at each vertex. Monophasic pulse,
``rel_tol`` 2 %.

Split: test = head ``rat-0.85`` (all its placements) and placement ``P<last>`` on both heads; validation =
one other placement id; train = the rest of head ``rat``. Uniform-field estimator: a direction map per
cell type (both cells are axisymmetric: 19 polar angles, one azimuth), applied to the field at the soma
of the same test neurons.

Timing (same run, medians): NEURON threshold per neuron (``--time-neurons`` test neurons re-run in this
process without cache), the CNN per neuron (all test neurons in one batch, network only, and with the
grid sampling), the uniform-field estimate per neuron.

Run: python benchmarks/bench_cnn.py [--neurons 30] [--placements 6] [--workers 2] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from _measure import format_metrics as _fmt  # noqa: E402  (benchmarks/ is on sys.path as a script)
from _measure import median_time as _median_time  # noqa: E402

from napari_rat_tms.core.bem.sphere_model import sphere_efield
from napari_rat_tms.core.coils import mc_b35
from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.meshes.surface import TriangleSurface
from napari_rat_tms.core.neurons.cortex import LAYER_DEPTHS_MM, place_neurons
from napari_rat_tms.core.neurons.population import CellSpec, clear_cell_cache

SEMI_AXES_M = np.array([7e-3, 5e-3, 4e-3])
HEAD_RADIUS_M = 7.5e-3
DIDT_A_PER_S = 1e6
HEADS = {"rat": 1.0, "rat-0.85": 0.85}
TEST_HEAD = "rat-0.85"
CELLS = {"ball-and-stick L5": (CellSpec("ball_and_stick"), "L5"),
         "ball-and-stick L2/3": (CellSpec("ball_and_stick", kwargs={"dendrite_length_um": 300.0}), "L2/3")}
THRESHOLD_KWARGS = {"rel_tol": 0.02}


def _head(scale):
    axes = SEMI_AXES_M * scale
    unit = icosphere(1.0, 3)
    cortex = TriangleSurface(unit.vertices_m * axes, unit.faces, "cortex")

    def brain(points):
        return np.sum((np.asarray(points) / axes) ** 2, axis=1) < 1.0
    return cortex, brain, axes


def _coil_positions(n):
    """(x_mm, y_mm, orientation_deg) of the n placements over the cortex's top."""
    out = []
    for k in range(n):
        angle = 2 * np.pi * k / max(n, 1)
        out.append((1.5 * np.cos(angle), 1.0 * np.sin(angle), 45.0 * k % 180))
    return out


def _field_fn(coil, radius):
    def field(points):
        points = np.asarray(points, float)
        e = np.full((len(points), 3), np.nan)
        inside = np.linalg.norm(points, axis=1) < radius
        e[inside] = sphere_efield(points[inside], coil, DIDT_A_PER_S)
        return e
    return field


def _coil(x_mm, y_mm, orientation_deg, top_m):
    c, s = np.cos(np.radians(orientation_deg)), np.sin(np.radians(orientation_deg))
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([1.0, -1.0, -1.0])
    return mc_b35("low").transformed(rotation, [x_mm * 1e-3, y_mm * 1e-3, top_m + 4e-3])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--neurons", type=int, default=30, help="vertices per head and cell type")
    parser.add_argument("--placements", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--channels", default="8,16,32")
    parser.add_argument("--time-neurons", type=int, default=10)
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "napari-rat-tms-bench-cnn"))
    args = parser.parse_args()
    import neuron
    import torch

    from napari_rat_tms.core.neurons.cnn.dataset import POPULATION_MEDIAN, CoilField, ThresholdDataset, \
        generate_dataset
    from napari_rat_tms.core.neurons.cnn.estimator import CnnThresholdEstimator
    from napari_rat_tms.core.neurons.cnn.local_field import sample_local_fields
    from napari_rat_tms.core.neurons.cnn.networks import NetworkConfig
    from napari_rat_tms.core.neurons.cnn.training import threshold_metrics, train_network
    from napari_rat_tms.core.neurons.direction_map import compute_direction_map, estimate
    from napari_rat_tms.core.neurons.population import compute_task, threshold_tasks
    from napari_rat_tms.core.neurons.waveforms import monophasic_pulse

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}, NEURON {neuron.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads)")
    rng = np.random.default_rng(0)
    neurons, fields, heads = {}, [], {}
    for head, scale in HEADS.items():
        cortex, brain, axes = _head(scale)
        heads[head] = (cortex, brain)
        top = np.argsort(-cortex.vertices_m[:, 2])[:args.neurons]
        neurons[head] = {}
        for name, (_, layer) in CELLS.items():
            neurons[head][name] = place_neurons(cortex, layer, vertices=top, depth_mm=LAYER_DEPTHS_MM[layer],
                                                azimuths_rad=rng.uniform(0, 2 * np.pi, len(top)),
                                                inside=brain, on_outside="drop")
        for k, (x, y, angle) in enumerate(_coil_positions(args.placements)):
            coil = _coil(x, y, angle, axes[2])
            fields.append(CoilField(f"P{k}", head, _field_fn(coil, HEAD_RADIUS_M * scale), inside=brain))
    n_thresholds = sum(len(p) for h in neurons.values() for p in h.values()) * args.placements
    print(f"stand-in heads {list(HEADS)} (analytic sphere, ellipsoidal cortex), {args.placements} coil "
          f"placements each, cell types {list(CELLS)}: {n_thresholds} NEURON thresholds; data in {args.data}")
    t = time.perf_counter()
    last = [0.0]

    def progress(fraction, message):
        if time.perf_counter() - last[0] > 20 or fraction >= 1:
            last[0] = time.perf_counter()
            print(f"  [{fraction:4.0%}] {message}", flush=True)

    summary = generate_dataset(args.data, {n: c for n, (c, _) in CELLS.items()}, neurons, fields,
                               threshold_kwargs=THRESHOLD_KWARGS, n_workers=args.workers, progress=progress)
    print(f"dataset: {time.perf_counter() - t:.1f} s; {summary}")
    dataset = ThresholdDataset(args.data)
    statuses = dataset.status_counts()
    print(f"statuses: {statuses}")

    pulse = monophasic_pulse()
    test_placement = f"P{args.placements - 1}"
    config = NetworkConfig(channels=tuple(int(c) for c in args.channels.split(",")), hidden=32)
    print(f"\nsplit: test = head {TEST_HEAD} + placement {test_placement} on both heads; network {config}")
    models, maps = {}, {}
    rows = []
    for name in [*CELLS, POPULATION_MEDIAN]:
        data = dataset.training_data(name)
        dmap = None
        if name in CELLS:
            t = time.perf_counter()
            clear_cell_cache()
            cell = CELLS[name][0].build()
            dmap = compute_direction_map(cell, pulse, n_polar=19, n_azimuth=1, **THRESHOLD_KWARGS)
            del cell
            clear_cell_cache()
            maps[name] = dmap
            print(f"{name}: direction map (19 directions) in {time.perf_counter() - t:.1f} s; threshold "
                  f"along -z {dmap.threshold_v_per_m[-1, 0]:.0f} V/m, along +z "
                  f"{dmap.threshold_v_per_m[0, 0]:.0f} V/m")
        t = time.perf_counter()
        trained = train_network(data, config=config, epochs=args.epochs, batch_size=32, learning_rate=2e-3,
                                patience=25, seed=0, test_heads=[TEST_HEAD], test_placements=[test_placement],
                                direction_map=dmap)
        card = trained.card
        models[name] = (trained.model, card)
        m = card["metrics"]
        print(f"{name}: {len(data)} records (train {m['train']['n']}, validation {m['validation']['n']}, "
              f"test {m['test']['n']}); trained {card['training']['epochs_run']} epochs (best "
              f"{card['training']['best_epoch']}) in {time.perf_counter() - t:.1f} s")
        test = trained.split.test
        held_head = test[data.head_ids[test] == TEST_HEAD]
        held_placement = test[(data.head_ids[test] != TEST_HEAD)]
        for label, index in (("test (all)", test), (f"  head {TEST_HEAD}", held_head),
                             (f"  placement {test_placement}, head rat", held_placement)):
            cnn = trained.predict_threshold_soma(data.inputs[index]) / data.e_soma_norm_v_per_m[index]
            line = f"  {label:34s} CNN {_fmt(threshold_metrics(cnn, data.threshold_amplitude[index]))}"
            if dmap is not None:
                uni = np.atleast_1d(estimate(dmap, data.e_soma_v_per_m[index]))
                line += f" | uniform-field {_fmt(threshold_metrics(uni, data.threshold_amplitude[index]))}"
            print(line)
        rows.append((name, m))

    # ---- timing, same run: NEURON vs CNN vs uniform-field per neuron, on held-out neurons
    name = "ball-and-stick L5"
    cortex, brain = heads[TEST_HEAD]
    cf = next(f for f in fields if f.head_id == TEST_HEAD and f.placement_id == test_placement)
    placements = neurons[TEST_HEAD][name]
    estimator = CnnThresholdEstimator(models, maps)
    samples = sample_local_fields(placements, cf.field_fn, inside=brain)
    net = _median_time(lambda: estimator.predict(name, samples), 20) / len(placements)
    full = _median_time(lambda: estimator.estimate(name, placements, cf.field_fn, inside=brain), 5)
    full /= len(placements)
    uni = _median_time(lambda: estimate(maps[name], samples.e_soma_v_per_m), 20) / len(placements)
    clear_cell_cache()
    tasks = threshold_tasks(CELLS[name][0], placements[:args.time_neurons], cf.field_fn, pulse,
                            inside=brain, threshold_kwargs=THRESHOLD_KWARGS)
    neuron_s, n_other = [], 0
    for task in tasks:
        t = time.perf_counter()
        result = compute_task(task)
        if result.ok:          # the median over neurons with a threshold (a failed search costs more)
            neuron_s.append(time.perf_counter() - t)
        else:
            n_other += 1
    clear_cell_cache()
    t_neuron = float(np.median(neuron_s))
    print(f"\ntiming ({name}, {len(placements)} neurons of head {TEST_HEAD}, placement {test_placement}; "
          "medians):")
    print(f"  NEURON threshold (rel_tol {THRESHOLD_KWARGS['rel_tol']}): {t_neuron * 1e3:9.2f} ms per neuron "
          f"({len(neuron_s)} neurons with a threshold, in this process; {n_other} without left out)")
    print(f"  CNN, network only (batch of {len(placements)}):  {net * 1e3:9.4f} ms per neuron "
          f"({t_neuron / net:,.0f}x faster)")
    print(f"  CNN incl. grid sampling (analytic field): {full * 1e3:9.4f} ms per neuron "
          f"({t_neuron / full:,.0f}x faster)")
    print(f"  uniform-field estimator:                 {uni * 1e3:9.4f} ms per neuron")


if __name__ == "__main__":
    main()
