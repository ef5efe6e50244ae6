"""Threshold CNNs trained on the synthetic rat's data, against NEURON and the uniform-field estimator.

Reads the dataset of ``cnn_rat_dataset.py`` (``--data``): heads ``rat`` and ``rat-0.9``, coil
placements ``P0``-``P5``, the cell types L2/3 PC, L4 LBC, L5 TTPC and their population median.

Split (nothing leaks, :func:`~napari_rat_tms.core.neurons.cnn.training.split_by_group`): **test** =
every record of head ``rat-0.9`` (a head never seen in training) and placement ``P5`` of head
``rat`` (a placement never seen); **validation** (early stopping) = placement ``P4``; **train** = the
other placements of head ``rat``.

Per cell type, on the same test neurons: the CNN's MAPE and Pearson R against NEURON, beside the
uniform-field estimator (a direction map of the cell, 7 polar x 6 azimuthal directions, 1 %,
computed here once and cached in ``<data>/direction_maps``, applied with the field at the soma).
Speed, same run (medians per neuron): NEURON (the thresholds' own times in the dataset's cache,
computed by the generation's Dask workers), the CNN (network only, all test neurons in one batch),
the uniform-field estimate.

``--weights DIR`` saves each network with its model card and check subset (``TrainedModel.save``).

    python benchmarks/train_cnn_rat.py --data cnn-rat-data [--weights DIR] [--epochs 300]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from _measure import format_metrics as _fmt  # noqa: E402  (benchmarks/ is on sys.path as a script)
from _measure import median_time as _median_time  # noqa: E402

NEURONS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "neurons"
TEST_HEAD, TEST_PLACEMENT, VALIDATION_PLACEMENT = "rat-0.9", "P5", "P4"


def _neuron_seconds(data_dir: Path, records) -> list[float]:
    """The NEURON engine's own time of each record's threshold search (its cache file)."""
    out = []
    for r in records:
        path = data_dir / "thresholds" / f"{r.get('task_key')}.json"
        if path.is_file():
            out.append(float(json.loads(path.read_text())["result"]["seconds"]))
    return out


def _direction_map(data_dir: Path, name: str):
    from napari_rat_tms.core.neurons.cells import cell_from_morphology
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="cnn-rat-data", type=Path)
    parser.add_argument("--weights", default=None, type=Path)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--channels", default="16,32,64")
    parser.add_argument("--test-head", default=TEST_HEAD, help="'none': no held-out head")
    parser.add_argument("--test-placement", default=TEST_PLACEMENT)
    parser.add_argument("--validation-placement", default=VALIDATION_PLACEMENT)
    args = parser.parse_args(argv)
    import torch

    from napari_rat_tms.core.neurons.cnn.dataset import POPULATION_MEDIAN, ThresholdDataset
    from napari_rat_tms.core.neurons.cnn.networks import NetworkConfig
    from napari_rat_tms.core.neurons.cnn.training import split_by_group, threshold_metrics, train_network
    from napari_rat_tms.core.neurons.direction_map import estimate

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); {time.strftime('%Y-%m-%d')}")
    dataset = ThresholdDataset(args.data)
    statuses = {}
    for r in dataset.records:
        statuses.setdefault(r["cell_type"], {}).setdefault(r["status"], 0)
        statuses[r["cell_type"]][r["status"]] += 1
    print(f"records by status: {json.dumps(statuses)}")
    cell_types = sorted({r["cell_type"] for r in dataset.records} - {POPULATION_MEDIAN})
    config = NetworkConfig(channels=tuple(int(c) for c in args.channels.split(",")), hidden=32)
    test_heads = [] if args.test_head == "none" else [args.test_head]
    print(f"split: test = head {args.test_head} + placement {args.test_placement} of head rat; validation = "
          f"{args.validation_placement}; network {config}")
    for name in [*cell_types, POPULATION_MEDIAN]:
        data = dataset.training_data(name)
        dmap = None
        if name != POPULATION_MEDIAN:
            dmap, seconds = _direction_map(args.data, name)
            t = np.asarray(dmap.threshold_v_per_m)
            print(f"\n{name}: direction map ({t.size} grid values, {seconds:.0f} s): "
                  f"{np.min(t):.0f}-{np.max(t[np.isfinite(t)]):.0f} V/m")
        else:
            print(f"\n{name}:")
        split = split_by_group(data.head_ids, data.placement_ids, test_heads=test_heads,
                               test_placements=[args.test_placement],
                               validation_placements=[args.validation_placement])
        t0 = time.perf_counter()
        trained = train_network(data, split, config=config, epochs=args.epochs, batch_size=32,
                                learning_rate=2e-3, patience=40, seed=0, direction_map=dmap)
        card = trained.card
        m = card["metrics"]
        print(f"  {len(data)} records with a threshold (train {m['train']['n']}, validation "
              f"{m['validation']['n']}, test {m['test']['n']}); {card['training']['epochs_run']} epochs "
              f"(best {card['training']['best_epoch']}), {time.perf_counter() - t0:.0f} s")
        test = trained.split.test
        held = data.head_ids[test] == args.test_head
        subsets = (("test (all)", test), (f"  head {args.test_head}", test[held]),
                   (f"  placement {args.test_placement}, head rat", test[~held]),
                   ("train", trained.split.train))
        for label, index in subsets:
            if not len(index):
                continue
            cnn = trained.predict_threshold_soma(data.inputs[index]) / data.e_soma_norm_v_per_m[index]
            line = f"  {label:30s} CNN {_fmt(threshold_metrics(cnn, data.threshold_amplitude[index]))}"
            if dmap is not None:
                uni = np.atleast_1d(estimate(dmap, data.e_soma_v_per_m[index]))
                line += f" | uniform-field {_fmt(threshold_metrics(uni, data.threshold_amplitude[index]))}"
            print(line)
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
        if args.weights is not None:
            stem = name.replace(" ", "_").replace("/", "")
            trained.save(args.weights / stem)
            print(f"  saved {args.weights / stem}.pt")


if __name__ == "__main__":
    main()
