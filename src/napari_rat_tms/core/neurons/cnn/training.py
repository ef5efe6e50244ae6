"""Training the threshold CNNs: a split by group, Adam, early stopping, metrics and the model card.

**Split** (:func:`split_by_group`; nothing leaks): the test set holds every record of the **test
heads** (heads never seen in training) and every record of the **test coil placements** (placement
ids never seen in training, on any head); the validation set (early stopping) holds the records of
other placement ids, chosen at random (seeded) among the rest; training gets what is left. The
groups ``<head>/<placement>`` of the three sets are disjoint, no test head and no test or
validation placement id appears in training (:meth:`Split.check`, which every training run calls).

**Training** (:func:`train_network`): the network of :mod:`.networks` regresses the standardised
``log(T_soma)`` (mean squared error), Adam, mini-batches shuffled by a seeded generator, early
stopping when the validation loss has not improved for ``patience`` epochs (the weights of the best
epoch are kept). Seeded (``torch.manual_seed``), single-process.

**Metrics** (:func:`threshold_metrics`; issue 21): on ``T_soma``, what the network predicts, MAPE =
mean ``|pred - true| / true`` in % (the same on the amplitude ``T_soma / |E_soma|``) and Pearson's R
on ``log T_soma`` (the headline); R on the amplitude (A/us) as an additional figure only (``|E_soma|``
is an input, so a constant ``T_soma`` already correlates there). For the train, validation and test
sets, each **beside its baselines on the same records**: :class:`ConstantBaseline` (the training
mean of ``log T_soma``), :class:`SomaDirectionBaseline` (``log T_soma`` quadratic in the field's
direction at the soma, fitted on the training set) and, given its map, the uniform-field estimator
(:mod:`..direction_map`). The split is checked **neuron by neuron** when the data name their neurons
(:func:`neuron_ids`: a neuron seen in training under another coil placement is not held out).

**Model card** (JSON next to the weights, :meth:`TrainedModel.save`): cell type, seed paper,
input and output definitions, data (dataset, index SHA-256, record counts, heads, placements),
split (the groups of each set), training settings and loss history, metrics, versions (Python,
numpy, torch, the package, NEURON), and a **check subset**: up to ``subset_size`` test records
saved as ``<name>.subset.npz`` with the metrics the saved network reaches on them, which
:func:`verify_saved_model` recomputes after loading (the shipped weights check themselves).
"""

from __future__ import annotations

import copy
import itertools
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dataset import TrainingData, neuron_ids
from .estimator import beyond_training_range, out_of_training_range
from .networks import NetworkConfig, ThresholdCNN, load_model, save_model, torch

__all__ = ["Split", "split_by_group", "threshold_metrics", "neuron_ids", "ConstantBaseline",
           "SomaDirectionBaseline", "TrainedModel", "train_network",
           "verify_saved_model", "SEED_PAPER"]

SEED_PAPER = ("Aberra AS, Lopez A, Grill WM, Peterchev AV (2023). Rapid estimation of cortical neuron "
              "activation thresholds by transcranial magnetic stimulation using convolutional neural "
              "networks. NeuroImage 275:120184")


def threshold_metrics(predicted, true, e_soma_norm=None) -> dict:
    """Metrics of predicted vs true thresholds (positive; non-finite pairs are left out and counted in
    ``"n_excluded"``), on the quantity the networks predict, ``T_soma`` (V/m) or its log:

    * ``"mape_percent"``, ``"max_ape_percent"``: mean and largest ``|pred - true| / true`` in % (the same
      for ``T_soma`` and for the amplitude ``T_soma / |E_soma|``: one ratio);
    * ``"pearson_r_log"``: Pearson's R between ``log(pred)`` and ``log(true)``, the headline R (issue 21:
      the network's own output; a constant predictor gets no correlation here);
    * ``"pearson_r"``: R between the values as given;
    * ``"pearson_r_amplitude"`` (with ``e_soma_norm``, (M,) V/m per unit amplitude): R between the
      amplitudes ``value / |E_soma|`` (A/us), an **additional** figure only: ``|E_soma|`` is an input of
      every estimator, so a constant ``T_soma`` already correlates there (seed 000 reports this one).
    """
    p = np.asarray(predicted, float).reshape(-1)
    t = np.asarray(true, float).reshape(-1)
    e = None if e_soma_norm is None else np.asarray(e_soma_norm, float).reshape(-1)
    if e is not None and e.shape != t.shape:
        raise ValueError(f"e_soma_norm must have one value per threshold ({len(t)}), got {e.shape}")
    ok = np.isfinite(p) & np.isfinite(t) & (t > 0) & (p > 0)
    if e is not None:
        ok &= np.isfinite(e) & (e > 0)
    p, t = p[ok], t[ok]
    out = {"n": int(ok.sum()), "n_excluded": int((~ok).sum())}
    if not len(t):
        out |= {"mape_percent": None, "pearson_r": None, "pearson_r_log": None, "max_ape_percent": None}
        return out | ({"pearson_r_amplitude": None} if e is not None else {})

    def r(a, b):
        def varies(x):              # a constant has no correlation (not R of rounding noise)
            return np.ptp(x) > 1e-9 * max(1.0, float(np.abs(x).max()))

        if len(a) > 1 and varies(a) and varies(b):
            return float(np.corrcoef(a, b)[0, 1])
        return None

    ape = np.abs(p - t) / t * 100
    out |= {"mape_percent": float(ape.mean()), "pearson_r": r(p, t), "pearson_r_log": r(np.log(p), np.log(t)),
            "max_ape_percent": float(ape.max())}
    if e is not None:
        out["pearson_r_amplitude"] = r(p / e[ok], t / e[ok])
    return out


class ConstantBaseline:
    """The constant predictor: ``T_soma = exp(mean log T_soma)`` of the training records (what a network
    must beat; its MSE on the standardised target is 1 by construction on the training set)."""

    name = "constant"

    def __init__(self, threshold_soma_train):
        self.log_mean = float(np.mean(np.log(np.asarray(threshold_soma_train, float))))

    def predict_threshold_soma(self, e_soma_v_per_m) -> np.ndarray:
        return np.full(len(np.asarray(e_soma_v_per_m)), math.exp(self.log_mean))


class SomaDirectionBaseline:
    """The simplest alternative to the CNN: ``log T_soma`` as a quadratic polynomial of the field's
    direction at the soma in the cell frame (unit vector ``u``: 1, u_x, u_y, u_z, u_x^2 - u_z^2,
    u_y^2 - u_z^2, u_x u_y, u_x u_z, u_y u_z; ridge least squares on the training records). It sees
    what the uniform-field estimate sees (the direction at the soma) and nothing of the field's gradient
    or curvature, but is fitted to the same data as the network."""

    name = "soma direction"

    def __init__(self, e_soma_train, threshold_soma_train, ridge: float = 1e-3):
        x = self._features(e_soma_train)
        y = np.log(np.asarray(threshold_soma_train, float))
        a = x.T @ x + ridge * len(y) * np.diag([0.0] + [1.0] * (x.shape[1] - 1))
        self.coefficients = np.linalg.solve(a, x.T @ y)

    @staticmethod
    def _features(e_soma) -> np.ndarray:
        e = np.asarray(e_soma, float).reshape(-1, 3)
        u = e / np.linalg.norm(e, axis=1, keepdims=True)
        x, y, z = u.T
        return np.stack([np.ones_like(x), x, y, z, x * x - z * z, y * y - z * z, x * y, x * z, y * z], axis=1)

    def predict_threshold_soma(self, e_soma_v_per_m) -> np.ndarray:
        return np.exp(self._features(e_soma_v_per_m) @ self.coefficients)


@dataclass(frozen=True)
class Split:
    """Record indices of the three sets and what defined them (module docstring)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    test_heads: tuple
    test_placements: tuple
    validation_placements: tuple
    seed: int
    groups: dict = field(default_factory=dict)     # set name -> sorted "<head>/<placement>" groups
    neurons_checked: bool = False                  # whether the split was checked neuron by neuron

    def check(self, head_ids, placement_ids, neuron_ids=None) -> None:
        """Raise ``AssertionError`` if a group, a test head or a held-out placement id leaks into training,
        or, with ``neuron_ids`` (:func:`neuron_ids`, one per record), if one neuron has records in two
        sets (the unit that can repeat: a neuron seen in training under another coil placement is not
        held out)."""
        head_ids, placement_ids = np.asarray(head_ids, str), np.asarray(placement_ids, str)
        sets = {"train": self.train, "validation": self.validation, "test": self.test}
        groups = {name: {f"{h}/{p}" for h, p in zip(head_ids[i], placement_ids[i])} for name, i in sets.items()}
        neurons = None
        if neuron_ids is not None:
            neuron_ids = np.asarray(neuron_ids, str)
            if neuron_ids.shape != head_ids.shape:
                raise ValueError("neuron_ids must have one value per record")
            neurons = {name: set(neuron_ids[i]) for name, i in sets.items()}
        for a, b in itertools.combinations(sets, 2):
            common = groups[a] & groups[b]
            assert not common, f"groups in both {a} and {b}: {sorted(common)[:5]}"
            if neurons is not None:
                common = neurons[a] & neurons[b]
                assert not common, (f"{len(common)} neurons have records in both {a} and {b} (e.g. "
                                    f"{sorted(common)[0]}): the same neuron under another coil placement "
                                    "is not held out; hold out its every placement")
        all_index = np.concatenate(list(sets.values()))
        assert len(np.unique(all_index)) == len(all_index), "a record is in two sets"
        train_heads, train_placements = set(head_ids[self.train]), set(placement_ids[self.train])
        assert not train_heads & set(self.test_heads), "a test head is in the training set"
        assert not train_placements & set(self.test_placements), "a test placement is in the training set"
        assert not train_placements & set(self.validation_placements), "a validation placement is in training"

    def as_dict(self) -> dict:
        return {"method": "by group: test heads and test coil placements held out; validation placements "
                          "held out of training; no neuron in two sets (checked when the records name "
                          "their neurons)", "neurons_checked": self.neurons_checked, "seed": self.seed, "test_heads": list(self.test_heads),
                "test_placements": list(self.test_placements),
                "validation_placements": list(self.validation_placements),
                "n": {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)},
                "groups": self.groups}


def split_by_group(head_ids, placement_ids, *, test_heads=(), test_placements=None,
                   test_fraction: float = 0.2, validation_fraction: float = 0.2, seed: int = 0,
                   validation_placements=None, neuron_ids=None) -> Split:
    """Split records by head and coil placement (module docstring). ``head_ids``, ``placement_ids``: one per
    record. ``test_heads``: heads held out entirely. ``test_placements``: placement ids held out (None:
    ``round(test_fraction * #placements)`` of them at random, at least one when ``test_fraction > 0``).
    ``validation_fraction``: the share of placement ids (at least one) for early stopping, drawn at
    random unless ``validation_placements`` names them. ``neuron_ids``: one key per record
    (:func:`neuron_ids`); the split is then also checked neuron by neuron (:meth:`Split.check`)."""
    head_ids, placement_ids = np.asarray(head_ids, str), np.asarray(placement_ids, str)
    if head_ids.shape != placement_ids.shape or head_ids.ndim != 1:
        raise ValueError("head_ids and placement_ids must be 1-D, one per record")
    rng = np.random.default_rng(seed)
    heads, placements = sorted(set(head_ids)), sorted(set(placement_ids))
    test_heads = tuple(sorted(set(str(h) for h in test_heads)))
    unknown = set(test_heads) - set(heads)
    if unknown:
        raise ValueError(f"test heads {sorted(unknown)} have no records (heads: {heads})")
    if test_placements is None:
        k = int(round(test_fraction * len(placements)))
        k = max(k, 1) if test_fraction > 0 else 0
        test_placements = tuple(sorted(rng.choice(placements, size=min(k, len(placements)), replace=False)))
    else:
        test_placements = tuple(sorted(set(str(p) for p in test_placements)))
    rest = [p for p in placements if p not in test_placements]
    k = max(1, int(round(validation_fraction * len(placements))))
    if len(rest) < 2 or k >= len(rest):
        raise ValueError(f"too few coil placements to split: {len(placements)} placement ids, "
                         f"{len(test_placements)} held out for testing; training and validation need at "
                         "least one each of the rest")
    if validation_placements is None:
        validation_placements = tuple(sorted(rng.choice(rest, size=k, replace=False)))
    else:
        validation_placements = tuple(sorted(set(str(p) for p in validation_placements)))
        if set(validation_placements) & set(test_placements):
            raise ValueError("a placement cannot be both a validation and a test placement")
    is_test = np.isin(head_ids, test_heads) | np.isin(placement_ids, test_placements)
    is_validation = ~is_test & np.isin(placement_ids, validation_placements)
    is_train = ~is_test & ~is_validation
    index = {"train": np.flatnonzero(is_train), "validation": np.flatnonzero(is_validation),
             "test": np.flatnonzero(is_test)}
    for name in ("train", "validation"):
        if not len(index[name]):
            raise ValueError(f"the {name} set is empty: every record of the training heads is held out")
    groups = {name: sorted({f"{head_ids[i]}/{placement_ids[i]}" for i in idx}) for name, idx in index.items()}
    split = Split(index["train"], index["validation"], index["test"], test_heads, test_placements,
                  validation_placements, int(seed), groups, neuron_ids is not None)
    split.check(head_ids, placement_ids, neuron_ids)
    return split


@dataclass
class TrainedModel:
    """A trained network, its split, loss history and model card (module docstring)."""

    model: ThresholdCNN
    card: dict
    split: Split
    data: TrainingData
    baselines: tuple = ()          # the baselines fitted on the training records (ConstantBaseline, ...)

    def predict_threshold_soma(self, inputs) -> np.ndarray:
        return np.exp(self.model.predict_log_threshold(inputs))

    def save(self, path, subset_size: int = 16) -> tuple[Path, Path]:
        """Write ``<path>.pt``, ``<path>.json`` (the card) and ``<path>.subset.npz`` (the check subset: up to
        ``subset_size`` test records, or validation ones without a test set, among those whose grids are
        within the network's training range)."""
        path = Path(path)
        base = path.with_suffix("") if path.suffix in (".pt", ".json") else path
        pool = self.split.test if len(self.split.test) else self.split.validation
        pool = pool[~out_of_training_range(self.data.inputs[pool], self.card)]   # what the estimator accepts
        chosen = np.sort(np.random.default_rng(self.split.seed).choice(
            pool, size=min(subset_size, len(pool)), replace=False))
        sub = self.data.subset(chosen)
        predicted = self.predict_threshold_soma(sub.inputs)
        subset_file = base.with_name(base.name + ".subset.npz")
        subset_file.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(subset_file, inputs=sub.inputs, threshold_soma_v_per_m=sub.threshold_soma_v_per_m,
                            e_soma_v_per_m=sub.e_soma_v_per_m, record_ids=sub.record_ids)
        card = dict(self.card)
        card["check_subset"] = {"file": subset_file.name, "record_ids": sub.record_ids.tolist(),
                                "from": "test" if len(self.split.test) else "validation",
                                "metrics": threshold_metrics(predicted, sub.threshold_soma_v_per_m),
                                "predicted_threshold_soma_v_per_m": predicted.tolist()}
        self.card = card
        return save_model(self.model, card, base)


def verify_saved_model(path, rtol: float = 1e-4) -> dict:
    """Load a saved model and its check subset, recompute the subset's metrics and compare them with the
    card's (relative tolerance ``rtol``). Returns the recomputed metrics; ``AssertionError`` on a mismatch."""
    model, card = load_model(path)
    subset = card.get("check_subset")
    if not subset:
        raise ValueError(f"{path}: its model card has no check subset")
    base = Path(path).with_suffix("") if Path(path).suffix in (".pt", ".json") else Path(path)
    with np.load(base.with_name(subset["file"]), allow_pickle=False) as data:
        inputs, true = np.array(data["inputs"]), np.array(data["threshold_soma_v_per_m"])
    predicted = np.exp(model.predict_log_threshold(inputs))
    metrics = threshold_metrics(predicted, true)
    np.testing.assert_allclose(predicted, subset["predicted_threshold_soma_v_per_m"], rtol=rtol)
    for key in ("mape_percent", "pearson_r"):
        if subset["metrics"].get(key) is not None:
            assert math.isclose(metrics[key], subset["metrics"][key], rel_tol=rtol, abs_tol=1e-6), (
                f"{key}: {metrics[key]} recomputed, {subset['metrics'][key]} recorded")
    return metrics


def _versions(data: TrainingData) -> dict:
    from .... import __version__

    versions = {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
                "napari-rat-tms": __version__}
    if isinstance(data.source.get("versions"), dict):
        versions["dataset"] = data.source["versions"]
    return versions


def _portable(source: dict) -> dict:
    """The data source without the build machine's paths (cards ship in the package): the dataset's
    directory name and the morphology's file name (its SHA-256 identifies it)."""
    out = dict(source)
    if out.get("dataset"):
        out["dataset"] = Path(str(out["dataset"])).name
    cell = out.get("cell")
    if isinstance(cell, dict) and cell.get("path"):
        out["cell"] = dict(cell) | {"path": Path(str(cell["path"])).name}
    return out


def _uniform_field_metrics(direction_map, data: TrainingData, index) -> dict:
    from ..direction_map import estimate

    if not len(index):
        return threshold_metrics([], [])
    amplitude = np.atleast_1d(estimate(direction_map, data.e_soma_v_per_m[index]))
    norm = data.e_soma_norm_v_per_m[index]
    metrics = threshold_metrics(amplitude * norm, data.threshold_soma_v_per_m[index], norm)
    return metrics | {"map_cell_name": direction_map.cell_name}


def train_network(data: TrainingData, split: Split | None = None, *, config: NetworkConfig | None = None,
                  epochs: int = 200, batch_size: int = 64, learning_rate: float = 1e-3,
                  weight_decay: float = 0.0, patience: int = 20, seed: int = 0, test_heads=(),
                  test_placements=None, direction_map=None, progress=None,
                  lr_plateau: int | None = None) -> TrainedModel:
    """Train one network on ``data`` (one cell type, or the population median) and fill its model card.

    ``split``: default :func:`split_by_group` of ``data``'s groups with ``test_heads``,
    ``test_placements`` and ``seed``. ``config``: :class:`.networks.NetworkConfig` (its ``grid_n`` is
    set from the data). ``direction_map``: the cell type's :class:`..direction_map.DirectionMap`, for
    the uniform-field estimator's metrics on the same test neurons. ``progress(fraction, message)``:
    called after each epoch. ``lr_plateau``: halve the learning rate when the validation loss has not
    improved for that many epochs (``torch.optim.lr_scheduler.ReduceLROnPlateau``; None: constant).
    Returns a :class:`TrainedModel` (the best epoch's weights, eval mode).
    """
    if len(data) < 4:
        raise ValueError(f"{data.cell_type}: {len(data)} records are too few to train on")
    if split is None:
        split = split_by_group(data.head_ids, data.placement_ids, test_heads=test_heads,
                               test_placements=test_placements, seed=seed, neuron_ids=data.neuron_ids)
    split.check(data.head_ids, data.placement_ids, data.neuron_ids)
    config = config or NetworkConfig()
    if config.grid_n != data.grid.n:
        config = NetworkConfig(**(config.as_dict() | {"grid_n": data.grid.n, "channels": config.channels}))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ThresholdCNN(config)
    log_t = np.log(data.threshold_soma_v_per_m)
    if not np.all(np.isfinite(log_t)):
        raise ValueError(f"{data.cell_type}: the targets must be positive and finite")
    model.set_target_scale(log_t[split.train])
    mean, std = float(model.target_mean), float(model.target_std)
    x = torch.from_numpy(np.ascontiguousarray(data.inputs, dtype=np.float32))
    z = torch.from_numpy(((log_t - mean) / std).astype(np.float32))
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    scheduler = None
    if lr_plateau is not None:
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5,
                                                               patience=int(lr_plateau))
    loss_fn = torch.nn.MSELoss()

    def evaluate(index) -> float:
        model.eval()
        with torch.inference_mode():
            return float(loss_fn(model.standardised(x[index]), z[index]))

    history = {"train_loss": [], "validation_loss": []}
    best = (math.inf, -1, None)
    start = time.perf_counter()
    train_index = np.asarray(split.train)
    for epoch in range(int(epochs)):
        model.train()
        order = rng.permutation(train_index)
        for s in range(0, len(order), batch_size):
            batch = order[s:s + batch_size]
            if len(batch) < 2:     # BatchNorm needs two samples
                continue
            optimiser.zero_grad()
            loss = loss_fn(model.standardised(x[batch]), z[batch])
            loss.backward()
            optimiser.step()
        train_loss, validation_loss = evaluate(train_index), evaluate(split.validation)
        history["train_loss"].append(train_loss)
        history["validation_loss"].append(validation_loss)
        if scheduler is not None:
            scheduler.step(validation_loss)
        if validation_loss < best[0]:
            best = (validation_loss, epoch, copy.deepcopy(model.state_dict()))
        if progress is not None:
            progress((epoch + 1) / epochs, f"{data.cell_type}: epoch {epoch + 1}: train loss "
                                           f"{train_loss:.4g}, validation loss {validation_loss:.4g}")
        if epoch - best[1] >= patience:
            break
    model.load_state_dict(best[2])
    model.eval()
    seconds = time.perf_counter() - start
    baselines = (ConstantBaseline(data.threshold_soma_v_per_m[split.train]),
                 SomaDirectionBaseline(data.e_soma_v_per_m[split.train], data.threshold_soma_v_per_m[split.train]))
    trained = TrainedModel(model, {}, split, data, baselines)
    metrics = {}
    limit = float(np.abs(data.inputs[split.train, :3]).max())
    norm = data.e_soma_norm_v_per_m
    for name in ("train", "validation", "test"):
        index = getattr(split, name)
        true = data.threshold_soma_v_per_m[index]
        predicted = trained.predict_threshold_soma(data.inputs[index]) if len(index) else np.zeros(0)
        if len(index):    # grids the estimator would refuse: excluded
            predicted = np.where(beyond_training_range(data.inputs[index], limit), np.nan, predicted)
        metrics[name] = threshold_metrics(predicted, true, norm[index])
        for baseline in baselines:      # issue 21: every metric beside its baselines, same neurons
            key = f"{name}_{baseline.name.replace(' ', '_')}"
            guess = baseline.predict_threshold_soma(data.e_soma_v_per_m[index])
            # on the same neurons as the network (a grid it refuses is left out of both)
            metrics[key] = threshold_metrics(np.where(np.isfinite(predicted), guess, np.nan), true, norm[index])
    if direction_map is not None:
        for name in ("validation", "test"):
            metrics[f"{name}_uniform_field"] = _uniform_field_metrics(direction_map, data, getattr(split, name))
    trained.card = {
        "cell_type": data.cell_type, "paper": SEED_PAPER,
        "input": {"grid": data.grid.as_dict(),
                  "frame": "cell frame (+z somatodendritic axis), centred at the soma",
                  "channels": ["E_x / |E_soma|", "E_y / |E_soma|", "E_z / |E_soma|",
                               "mask (1 inside the tissue)"],
                  "outside": "field channels 0 and mask 0 outside the tissue",
                  # the estimator refuses grids far beyond what the network saw (estimator.py)
                  "max_abs_normalised_field": limit},
        "output": "log(T_soma / (1 V/m)); T_soma = threshold amplitude x |E_soma| (V/m); amplitude = "
                  "T_soma / |E_soma| (A/us for a field at dI/dt = 1 A/us)",
        "data": _portable(data.source) | {"n_records": len(data), "heads": sorted(set(data.head_ids)),
                                     "placements": sorted(set(data.placement_ids))},
        "split": split.as_dict(),
        "training": {"loss": "MSE of the standardised log threshold", "optimiser": "Adam",
                     "learning_rate": learning_rate, "weight_decay": weight_decay, "batch_size": batch_size,
                     "lr_schedule": (None if lr_plateau is None else
                                     f"x0.5 after {int(lr_plateau)} epochs without a better validation loss"),
                     "max_epochs": int(epochs), "epochs_run": len(history["train_loss"]),
                     "best_epoch": best[1],
                     "patience": patience, "seed": seed, "seconds": seconds, "history": history,
                     "target_mean": mean, "target_std": std},
        "metrics": metrics,
        "versions": _versions(data),
    }
    return trained
