"""Threshold CNNs trained on the synthetic rat's data, against NEURON and the uniform-field estimator.

Reads the dataset of ``cnn_rat_dataset.py`` (``--data``): heads ``rat``, ``rat-0.9`` and ``rat-B``
(differently shaped), coil placements ``P0``-``P5`` (shared neurons) and ``Q*``/``R0`` (own neurons,
random azimuths and depths), the five shared cell types and their population median.

Split (issue 21: **by neuron**, the unit that can repeat; :func:`~napari_rat_tms.core.neurons.cnn.
training.split_by_group` with the records' neuron ids, checked): **test** = every record of head
``rat-B`` (a head shape never seen in training; its placements ``Q0``-``Q3`` and ``R0``, ``Q0`` with
the current reversed) and of ``rat-B@3C`` (the same head with the 3C BEM model, a head model never
trained on); **validation** (early stopping, learning-rate halving, and whether the network ships) =
placements ``Q3`` and ``Q5`` (own neurons) of the training heads; **train** = the rest, including
every ``P`` placement (they share one set of neurons per head, so none of them can be held out).

Per cell type, on the same neurons, beside the network (what users get: the estimator):
the **constant** predictor (training mean of log T_soma), the **soma-direction** regression (log T_soma
quadratic in the field's direction at the soma, fitted on the training records: the simplest
alternative), the **uniform-field** estimator (a direction map of the cell, 7 polar x 6 azimuthal
directions, 1 %, computed here once and cached in ``<data>/direction_maps``, applied with the field at
the soma). Metrics: MAPE (on T_soma, the same as on the A/us threshold), R on log T_soma (the network's
own output: the headline) and R on the A/us amplitude (labelled; |E_soma| is an input, so a constant
already correlates there). A network is saved only when its MAPE beats the constant, the soma-direction
baseline and (for a cell type) the uniform-field estimator, what users get without it, on the
validation neurons. ``--learning-curve 0.25,0.5``: retrained on those fractions of
the training neurons (whole neurons, seeded), held-out error vs training-set size.

Speed (medians per neuron): the CNN (network only, all test neurons in one batch), the uniform-field
estimate, NEURON (the thresholds' own times in the dataset's cache, computed by the generation's Dask
workers); and **end to end in this run** (``--project``, ``--time-neurons`` test neurons of the held-out
head's first placement, its BEM rebuilt here): NEURON = the field at the compartments plus the threshold
search (cell already built; the build is printed apart), the CNN = the field on the 9 x 9 x 9 grid plus
the network. The NEURON thresholds recomputed here are compared with the dataset's (same task keys).

``--weights DIR`` saves each network with its model card and check subset (``TrainedModel.save``).
``--compare DIR``: networks saved earlier (e.g. the package's shipped ones before retraining),
evaluated on the same test neurons (a baseline measured in the same run).

    python benchmarks/train_cnn_rat.py --data cnn-rat-data [--weights DIR] [--epochs 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from _measure import format_metrics as _fmt  # noqa: E402  (benchmarks/ is on sys.path as a script)
from _measure import median_time as _median_time  # noqa: E402

NEURONS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "neurons"
#: issue 21: held out by head (rat-B, its 3C model, its reversed-current placement R0) and by neuron:
#: P0-P5 share one set of neurons, so they all train; validation = own-site placements only.
TEST_HEADS, VALIDATION_PLACEMENTS = ("rat-B", "rat-B@3C"), ("Q3", "Q5")
REVERSED = "R0"
#: the weights derive from simulations of CC BY-NC-SA 4.0 morphologies (issue 21; weights/LICENSE)
LICENCE = {"spdx": "CC-BY-NC-SA-4.0", "file": "LICENSE",
           "why": "trained on NEURON simulations of the Blue Brain Project morphologies (Markram et al. 2015; "
                  "Aberra et al. 2018), licensed CC BY-NC-SA 4.0; the weights are distributed under the same "
                  "terms, not under the package's BSD-3-Clause"}


def _neuron_seconds(data_dir: Path, records) -> list[float]:
    """The NEURON engine's own time of each record's threshold search (its cache file)."""
    out = []
    for r in records:
        path = data_dir / "thresholds" / f"{r.get('task_key')}.json"
        if path.is_file():
            out.append(float(json.loads(path.read_text())["result"]["seconds"]))
    return out


def _direction_map(data_dir: Path, name: str):
    from napari_rat_tms.core.neurons.reconstructed_cells import cell_from_morphology
    from napari_rat_tms.core.neurons.direction_map import compute_direction_map, load_direction_map
    from napari_rat_tms.core.neurons.population import clear_cell_cache
    from napari_rat_tms.core.neurons.waveforms import monophasic_pulse

    path = data_dir / "direction_maps" / f"{name}.npz"
    if path.is_file():
        return load_direction_map(path), 0.0
    t = time.perf_counter()
    clear_cell_cache()
    cell = cell_from_morphology(NEURONS / f"{name}.asc")
    dmap = compute_direction_map(cell, monophasic_pulse(), n_polar=7, n_azimuth=6, rel_tol=0.01)
    del cell
    path.parent.mkdir(parents=True, exist_ok=True)
    dmap.save(path)
    return dmap, time.perf_counter() - t


def _time_end_to_end(project: Path, dataset, name: str, records, trained) -> None:
    """NEURON and the CNN per neuron, from the BEM to the threshold, for ``records`` (one coil field)."""
    import cnn_rat_dataset as generation  # noqa: E402  (benchmarks/ on sys.path)

    from napari_rat_tms.core.coils import mc_b35
    from napari_rat_tms.core.neurons.cnn.local_field import sample_local_fields
    from napari_rat_tms.core.neurons.cortex import CorticalNeuronPlacement
    from napari_rat_tms.core.neurons.population import (CellSpec, clear_cell_cache, run_thresholds,
                                                        threshold_tasks)

    if not records:
        return
    head_id, placement_id = records[0]["head_id"], records[0]["placement_id"]
    records = [r for r in records if (r["head_id"], r["placement_id"]) == (head_id, placement_id)]
    base, _, model = head_id.partition("@")                            # "rat-B@3C": head rat-B, model 3C
    heads, project_placement = generation.heads(project, model or "1C", [base])
    field_fn, inside = generation.coil_field(heads[base], placement_id, mc_b35("high"), project_placement)
    neurons = [CorticalNeuronPlacement.from_dict(r["neuron"]) for r in records]
    t = time.perf_counter()
    field_fn(np.array([n.soma for n in neurons[:1]]))                 # the solve, shared by every neuron
    solve = time.perf_counter() - t
    spec = CellSpec("morphology", path=str(NEURONS / f"{name}.asc"))
    kwargs = dataset.index.get("threshold_kwargs") or {}
    t = time.perf_counter()
    tasks = threshold_tasks(spec, neurons, field_fn, "monophasic", inside=inside, threshold_kwargs=kwargs)
    compartments = (time.perf_counter() - t) / len(tasks)
    clear_cell_cache()
    t = time.perf_counter()
    run_thresholds([tasks[0]], processes=False)                       # builds the cell
    build = time.perf_counter() - t
    searches, results = [], []
    for task in tasks:
        t = time.perf_counter()
        results.extend(run_thresholds([task], processes=False))
        searches.append(time.perf_counter() - t)
    clear_cell_cache()
    same = [r.threshold_amplitude / rec["threshold_amplitude"] - 1 for r, rec in zip(results, records)]
    t = time.perf_counter()
    samples = sample_local_fields(neurons, field_fn, dataset.grid, inside=inside)
    grid = (time.perf_counter() - t) / len(neurons)
    inputs = samples.network_input()
    net = _median_time(lambda: trained.predict_threshold_soma(inputs), 20) / len(neurons)
    neuron_total = compartments + float(np.median(searches))
    print(f"  end to end, this run ({len(neurons)} neurons of {head_id}/{placement_id}; BEM solve "
          f"{solve:.1f} s shared): NEURON {neuron_total:.2f} s per neuron (field at compartments "
          f"{compartments:.2f} s + search {np.median(searches):.2f} s; cell build {build:.1f} s once); CNN "
          f"{1e3 * (grid + net):.1f} ms (grid {1e3 * grid:.1f} ms + network {1e3 * net:.2f} ms): "
          f"{neuron_total / (grid + net):,.0f}x; thresholds recomputed vs dataset: max |diff| "
          f"{100 * np.max(np.abs(same)):.2g} %")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="cnn-rat-data", type=Path)
    parser.add_argument("--weights", default=None, type=Path)
    parser.add_argument("--compare", default=None, type=Path, help="earlier networks to evaluate alongside")
    parser.add_argument("--project", default=None, type=Path,
                        help="the dataset's project folder: time NEURON and the CNN end to end in this run")
    parser.add_argument("--time-neurons", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--channels", default="16,32,64")
    parser.add_argument("--lr-plateau", type=int, default=None, help="halve the learning rate after N epochs "
                        "without a better validation loss")
    parser.add_argument("--patience", type=int, default=40)
    parser.add_argument("--test-heads", nargs="*", default=list(TEST_HEADS),
                        help="heads held out (those in the data); none: no held-out head")
    parser.add_argument("--test-placements", nargs="*", default=[],
                        help="placement ids held out on every head (their neurons must be their own)")
    parser.add_argument("--learning-curve", default="",
                        help="comma-separated fractions of the training neurons (e.g. 0.25,0.5): retrain on "
                             "each (whole neurons, seeded) and print the held-out error")
    parser.add_argument("--cells", nargs="*", default=None, help="cell types to train (default: every one)")
    parser.add_argument("--validation-placements", nargs="+", default=list(VALIDATION_PLACEMENTS))
    args = parser.parse_args(argv)
    import torch

    from napari_rat_tms.core.neurons.cnn.dataset import POPULATION_MEDIAN, ThresholdDataset
    from napari_rat_tms.core.neurons.cnn.estimator import CnnFallbackWarning, CnnThresholdEstimator
    from napari_rat_tms.core.neurons.cnn.networks import NetworkConfig, load_model
    from napari_rat_tms.core.neurons.cnn.training import split_by_group, threshold_metrics, train_network
    from napari_rat_tms.core.neurons.direction_map import estimate

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); {time.strftime('%Y-%m-%d')}")
    dataset = ThresholdDataset(args.data)
    statuses = dataset.status_counts()
    print(f"records by status: {json.dumps(statuses)}")
    cell_types = sorted({r["cell_type"] for r in dataset.records} - {POPULATION_MEDIAN})
    names = [*cell_types, POPULATION_MEDIAN] if args.cells is None else list(args.cells)
    config = NetworkConfig(channels=tuple(int(c) for c in args.channels.split(",")), hidden=32)
    present = {r["head_id"] for r in dataset.records}
    test_heads = [h for h in args.test_heads if h in present]
    print(f"split: test = heads {', '.join(test_heads) or 'none'}"
          f"{' + placements ' + ', '.join(args.test_placements) if args.test_placements else ''}; "
          f"validation = {', '.join(args.validation_placements)} (own neurons); train = the rest; no neuron "
          f"in two sets (checked); network {config}")
    print("metrics: MAPE on T_soma (= on the A/us threshold), R on log T_soma (what the network predicts: "
          "the headline), R(A/us) on the amplitude T_soma/|E_soma| (|E_soma| is every estimator's input: "
          "a constant already correlates there); baselines fitted on the same training records")
    fractions = [float(f) for f in args.learning_curve.split(",") if f.strip()]
    for name in names:
        data = dataset.training_data(name)
        dmap = None
        if name != POPULATION_MEDIAN:
            dmap, seconds = _direction_map(args.data, name)
            t = np.asarray(dmap.threshold_v_per_m)
            print(f"\n{name}: direction map ({t.size} grid values, {seconds:.0f} s): "
                  f"{np.min(t):.0f}-{np.max(t[np.isfinite(t)]):.0f} V/m")
        else:
            print(f"\n{name}:")
        try:
            split = split_by_group(data.head_ids, data.placement_ids,
                                   test_heads=[h for h in test_heads if h in set(data.head_ids)],
                                   test_placements=args.test_placements,
                                   validation_placements=args.validation_placements, neuron_ids=data.neuron_ids)
        except (ValueError, AssertionError) as exc:     # e.g. data not all generated yet, or a leaking split
            print(f"  skipped: {exc}")
            continue
        t0 = time.perf_counter()
        trained = train_network(data, split, config=config, epochs=args.epochs, batch_size=32,
                                learning_rate=2e-3, patience=args.patience, seed=0, direction_map=dmap,
                                lr_plateau=args.lr_plateau)
        card = trained.card
        m = card["metrics"]
        n_neurons = {k: len(set(data.neuron_ids[getattr(split, k)])) if data.neuron_ids is not None else None
                     for k in ("train", "validation", "test")}
        print(f"  {len(data)} records with a threshold (train {m['train']['n']} of {n_neurons['train']} neurons, "
              f"validation {m['validation']['n']} of {n_neurons['validation']}, test {m['test']['n']} of "
              f"{n_neurons['test']}); {card['training']['epochs_run']} epochs (best "
              f"{card['training']['best_epoch']}), {time.perf_counter() - t0:.0f} s")
        test = trained.split.test
        estimator = CnnThresholdEstimator({name: (trained.model, card)}, {} if dmap is None else {name: dmap})
        stem = name.replace(" ", "_").replace("/", "")
        earlier = None
        if args.compare is not None and (args.compare / f"{stem}.pt").is_file():
            earlier, _ = load_model(args.compare / stem)
        train = trained.split.train
        baselines = trained.baselines        # fitted on the training records, as in the card
        heads_of_test = data.head_ids[test]
        subsets = [("validation", trained.split.validation), ("test (all)", test),
                   *((f"  head {h}", test[heads_of_test == h]) for h in test_heads),
                   (f"  reversed current ({REVERSED})", test[data.placement_ids[test] == REVERSED]),
                   ("train", train)]
        wins = {}
        for label, index in subsets:
            if not len(index):
                continue
            norm, true = data.e_soma_norm_v_per_m[index], data.threshold_soma_v_per_m[index]
            # what users get: the estimator (a grid outside the training range: uniform-field estimate)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CnnFallbackWarning)
                result = estimator.predict_arrays(name, data.inputs[index], data.e_soma_v_per_m[index])
            cnn, bad = result.threshold_amplitude * norm, result.out_of_range
            ours = threshold_metrics(cnn, true, norm)
            line = f"  {label:30s} CNN {_fmt(ours)}"
            if bad.any():
                line += f" ({int(bad.sum())} out of range: {'uniform-field' if dmap else 'none'})"
            for baseline in baselines:
                theirs = threshold_metrics(baseline.predict_threshold_soma(data.e_soma_v_per_m[index]), true, norm)
                line += f" | {baseline.name} {_fmt(theirs)}"
                wins.setdefault(label, []).append(ours["mape_percent"] < theirs["mape_percent"])
            if dmap is not None:      # what users get without the network: it must beat it too
                uni = np.atleast_1d(estimate(dmap, data.e_soma_v_per_m[index])) * norm
                theirs = threshold_metrics(uni, true, norm)
                line += f" | uniform-field {_fmt(theirs)}"
                wins.setdefault(label, []).append(ours["mape_percent"] < theirs["mape_percent"])
            if earlier is not None:
                old = np.exp(earlier.predict_log_threshold(data.inputs[index]))
                line += f" | earlier CNN {_fmt(threshold_metrics(old, true, norm))}"
            print(line)
        for fraction in fractions:       # learning curve: whole training neurons, seeded
            neurons = np.unique(data.neuron_ids[train])
            keep = np.random.default_rng(1).permutation(neurons)[:max(2, int(round(fraction * len(neurons))))]
            sub_train = train[np.isin(data.neuron_ids[train], keep)]
            sub_split = dataclasses.replace(split, train=sub_train)     # same validation and test
            sub = train_network(data, sub_split, config=config, epochs=args.epochs, batch_size=32,
                                learning_rate=2e-3, patience=args.patience, seed=0, lr_plateau=args.lr_plateau)
            sm = sub.card["metrics"]
            print(f"  learning curve: {len(keep)} of {len(neurons)} training neurons ({len(sub_train)} records): "
                  f"test CNN {_fmt(sm['test'])} | constant {_fmt(sm['test_constant'])} | soma direction "
                  f"{_fmt(sm['test_soma_direction'])}")
        validation_wins = all(wins.get("validation", [False]))
        if not validation_wins:
            print(f"  NOT SHIPPED: on the validation neurons the network does not beat every baseline "
                  f"(constant, soma direction{', uniform-field' if dmap is not None else ''})")
        if len(test):
            inputs = data.inputs[test]
            net = _median_time(lambda: trained.predict_threshold_soma(inputs), 20) / len(test)
            line = f"  speed per neuron: CNN {net * 1e3:.4f} ms (batch of {len(test)})"
            if dmap is not None:
                e = data.e_soma_v_per_m[test]
                uni = _median_time(lambda: estimate(dmap, e), 20) / len(test)
                line += f", uniform-field {uni * 1e3:.4f} ms"
            seconds = _neuron_seconds(args.data, [r for r in dataset.records
                                                  if r["cell_type"] == name and r["status"] == "ok"])
            if seconds:
                line += (f", NEURON {np.median(seconds) * 1e3:.0f} ms (median of {len(seconds)}; "
                         f"{np.median(seconds) / net:,.0f}x the CNN)")
            print(line)
        if args.project is not None and args.time_neurons > 0 and name != POPULATION_MEDIAN and test_heads:
            held_records = [r for r in dataset.select(name) if r["head_id"] == test_heads[0]]
            _time_end_to_end(args.project, dataset, name, held_records[:args.time_neurons], trained)
        if args.weights is not None and validation_wins:
            trained.card["licence"] = LICENCE
            trained.save(args.weights / stem)
            print(f"  saved {args.weights / stem}.pt")


if __name__ == "__main__":
    main()
