"""Training data for the threshold CNNs (issue 9, seed 000): NEURON thresholds and local field grids.

For each **coil field** (:class:`CoilField`: one coil placement on one head, a field function at
amplitude 1, e.g. dI/dt = 1 A/us), each **cell type** (a :class:`..population.CellSpec`) and each
neuron of that cell type placed in that head's cortex (:class:`..cortex.CorticalNeuronPlacement`:
soma depth, axis along the local normal, azimuth), one **record**:

* the local E-field grid (:mod:`.local_field`: 9 x 9 x 9 points, cell frame, normalised by
  ``|E_soma|``, zero plus a mask channel outside the tissue);
* the target: the NEURON engine's threshold amplitude ``A`` (:mod:`..population`; the multiplier
  of the field function's field, A/us at 1 A/us) and the normalised threshold ``T_soma = A
  |E_soma|`` (V/m), what the networks learn;
* its groups: ``head_id`` and ``placement_id`` (the coil placement), for splits that do not leak.

The thresholds run through :func:`..population.iter_run_thresholds` (a Dask ``LocalCluster`` of
``n_workers`` processes by default, started once for the whole generation and only when something
is left to compute; ``client``/``scheduler_address`` for a real cluster; ``processes=False`` in this
process) with its on-disk cache in ``<directory>/thresholds``.

**On disk** (``directory``)::

    index.json                     format, grid, pulse, cells, shards (key, file), records
    shards/<shard>.npz             one per (head, coil placement, cell type): channels (M, 3, n, n, n)
                                   float32, mask (M, n, n, n), e_soma_v_per_m (M, 3) cell frame,
                                   threshold_amplitude (M,) (NaN without a threshold)
    thresholds/<key>.json          the NEURON engine's cache (resumption)

Each record of the index: ``id`` (``<shard>:<row>``), ``shard``, ``row``, ``cell_type``,
``head_id``, ``placement_id``, ``group`` (``<head_id>/<placement_id>``), ``neuron`` (the placement,
:meth:`..cortex.CorticalNeuronPlacement.as_dict`), ``vertex``, ``grid``, ``e_soma_norm_v_per_m``,
``threshold_amplitude``, ``threshold_soma_v_per_m``, ``status`` (the engine's ``"ok"``, ``"not
bracketed"``, ``"outside field"``, ``"failed: ..."``, or ``"grid outside field"`` when the local grid
could not be sampled: then no threshold is computed), ``message``, ``task_key``.

**Resumable**: a shard is identified by a key (SHA-256 of the cell spec, the head and placement
ids, the neurons' placements, the grid, the pulse, the threshold arguments and the formats); a rerun
skips every shard whose key is in the index and its file present (**the ids identify the fields**:
give a changed field a new ``placement_id``), and recomputes the others, whose finished thresholds
come from the engine's cache. Shards and the index are written atomically after each coil field, so
an interruption loses at most the shards of the current coil field (and not their thresholds).

**Population median** (``population=True``): for each coil field and each **site** (a cortical
vertex with neurons of any cell type in that head), one record of cell type
:data:`POPULATION_MEDIAN`: the median threshold amplitude over every neuron hanging from the
vertex (all cell types and azimuths; ``"not bracketed"`` counts as infinite, any other failure
makes the record ``"incomplete"``), and the local grid at the site's **reference neuron**
(:func:`site_placement`: soma at the neurons' mean depth below the vertex, azimuth 0), normalised by
``|E|`` there; its ``threshold_soma_v_per_m`` is the median amplitude times that ``|E|``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...files import atomic_write, jsonable
from ..cortex import CorticalNeuronPlacement, placement_rotation
from ..population import CellSpec, resolve_pulse, start_client, iter_run_thresholds
from .local_field import LocalFieldGrid, sample_local_field_arrays

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "POPULATION_MEDIAN",
    "CoilField",
    "TrainingData",
    "ThresholdDataset",
    "site_placement",
    "neuron_ids",
    "iter_generate_dataset",
    "generate_dataset",
]

FORMAT = "napari-rat-tms cnn threshold dataset"
FORMAT_VERSION = 1
#: The cell-type name of the population-median records (and of their network).
POPULATION_MEDIAN = "population median"
GRID_FAILED = "grid outside field"


@dataclass(frozen=True, eq=False)
class CoilField:
    """One coil placement on one head: ``field_fn(points_m (P, 3)) -> (P, 3)`` V/m, head frame, NaN outside
    its domain, at amplitude 1 (dI/dt = 1 A/us makes the thresholds A/us). ``inside``: the tissue (a
    ``TriangleSurface`` or ``points -> bool``; None: where the field is finite), for the grids and the
    compartments. ``placement_id``/``head_id``: identify the field (groups of the splits; resumption).
    ``neuron_set``: the key of this field's neurons in :func:`iter_generate_dataset`'s ``neurons``
    (default ``head_id``: every placement of a head sees the same neurons; give each placement its
    own set for other sites, azimuths or depths per placement).

    With a BEM head model (as the neurons dock does; one solve per placement, reused by every call)::

        field = PlacementField(conductor, placed_coil, 1e6)          # dI/dt = 1 A/us
        CoilField("P0", "rat1", field.at,
                  inside=lambda p: conductor.conductivity_at(p) > 0)
    """

    placement_id: str
    head_id: str
    field_fn: Callable
    inside: object = None
    neuron_set: str | None = None

    def __post_init__(self):
        for name in ("placement_id", "head_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or "/" in value:
                raise ValueError(f"{name} must be a non-empty string without '/', got {value!r}")
        if self.neuron_set is not None and (not isinstance(self.neuron_set, str) or not self.neuron_set):
            raise ValueError(f"neuron_set must be a non-empty string or None, got {self.neuron_set!r}")

    @property
    def neurons_key(self) -> str:
        """The key of this field's neurons in ``neurons`` (``neuron_set``, else ``head_id``)."""
        return self.head_id if self.neuron_set is None else self.neuron_set


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "x"


def _shard_name(head_id: str, placement_id: str, cell_type: str) -> str:
    digest = hashlib.sha256(_canonical([head_id, placement_id, cell_type]).encode()).hexdigest()[:10]
    return f"{_slug(head_id)}__{_slug(placement_id)}__{_slug(cell_type)}__{digest}"


def _write_atomic(path: Path, write) -> None:
    atomic_write(path, True, write)


def _save_npz(path: Path, **arrays) -> None:
    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    _write_atomic(path, write)


def site_placement(neurons: Sequence[CorticalNeuronPlacement]) -> CorticalNeuronPlacement:
    """The reference neuron of a site (neurons hanging from one vertex): soma at their mean depth below the
    vertex along its inward normal, azimuth 0 (:func:`..cortex.placement_rotation`), layer ``"site"``."""
    neurons = list(neurons)
    if not neurons or len({p.vertex for p in neurons}) != 1:
        raise ValueError("site_placement needs neurons hanging from one vertex")
    axis = np.array(neurons[0].axis, float)
    vertex = np.mean([p.soma + p.depth_mm * 1e-3 * np.array(p.axis) for p in neurons], axis=0)
    depth = float(np.mean([p.depth_mm for p in neurons]))
    rotation = placement_rotation(axis, 0.0)
    soma = vertex - depth * 1e-3 * rotation[:, 2]
    return CorticalNeuronPlacement(
        vertex=neurons[0].vertex, soma_m=tuple(float(v) for v in soma),
        axis=tuple(float(v) for v in rotation[:, 2]), azimuth_rad=0.0,
        rotation=tuple(tuple(float(v) for v in row) for row in rotation), layer="site", depth_mm=depth)


# ---------------------------------------------------------------------- reading
@dataclass(frozen=True, eq=False)
class TrainingData:
    """The arrays of one cell type's records (numpy; what :mod:`.training` consumes).

    ``inputs``: (M, 4, n, n, n) float32 (three normalised field channels and the mask);
    ``threshold_soma_v_per_m``: (M,) the normalised threshold ``T_soma`` (V/m), the target;
    ``e_soma_v_per_m``: (M, 3) cell-frame field at the soma (V/m at amplitude 1); ``head_ids``,
    ``placement_ids``: (M,) group labels; ``record_ids``: (M,) the index's record ids;
    ``neuron_ids``: (M,) the neuron each record simulates (:func:`.training.neuron_ids`; None when
    unknown: a split of such data cannot be checked neuron by neuron).
    """

    cell_type: str
    grid: LocalFieldGrid
    inputs: np.ndarray
    threshold_soma_v_per_m: np.ndarray
    e_soma_v_per_m: np.ndarray
    head_ids: np.ndarray
    placement_ids: np.ndarray
    record_ids: np.ndarray
    source: dict
    neuron_ids: np.ndarray | None = None

    def __post_init__(self):
        m = len(self.inputs)
        n = self.grid.n
        if np.shape(self.inputs) != (m, 4, n, n, n):
            raise ValueError(f"inputs must be (M, 4, {n}, {n}, {n}), got {np.shape(self.inputs)}")
        for name in ("threshold_soma_v_per_m", "head_ids", "placement_ids", "record_ids"):
            if len(getattr(self, name)) != m:
                raise ValueError(f"{name} must have one value per input ({m})")
        if self.neuron_ids is not None and len(self.neuron_ids) != m:
            raise ValueError(f"neuron_ids must have one value per input ({m})")
        for name in ("head_ids", "placement_ids", "record_ids"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=str))
        if self.neuron_ids is not None:
            object.__setattr__(self, "neuron_ids", np.asarray(self.neuron_ids, dtype=str))
        if np.shape(self.e_soma_v_per_m) != (m, 3):
            raise ValueError(f"e_soma_v_per_m must be ({m}, 3)")

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def e_soma_norm_v_per_m(self) -> np.ndarray:
        return np.linalg.norm(self.e_soma_v_per_m, axis=1)

    @property
    def threshold_amplitude(self) -> np.ndarray:
        """(M,) the engine's threshold amplitude ``T_soma / |E_soma|`` (A/us for fields at 1 A/us)."""
        return self.threshold_soma_v_per_m / self.e_soma_norm_v_per_m

    def subset(self, index) -> TrainingData:
        index = np.asarray(index)
        return TrainingData(self.cell_type, self.grid, self.inputs[index], self.threshold_soma_v_per_m[index],
                            self.e_soma_v_per_m[index], self.head_ids[index], self.placement_ids[index],
                            self.record_ids[index], dict(self.source),
                            None if self.neuron_ids is None else self.neuron_ids[index])


class ThresholdDataset:
    """A dataset directory written by :func:`generate_dataset` (module docstring)."""

    def __init__(self, directory):
        self.directory = Path(directory)
        path = self.directory / "index.json"
        try:
            self.index = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.directory} is not a readable CNN threshold dataset ({exc})") from exc
        if self.index.get("format") != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} index")
        if self.index.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(f"{path} has format version {self.index['format_version']}; this version "
                             f"reads up to {FORMAT_VERSION}")
        self.grid = LocalFieldGrid.from_dict(self.index["grid"])

    @property
    def records(self) -> list[dict]:
        return self.index["records"]

    def cell_types(self) -> list[str]:
        return sorted({r["cell_type"] for r in self.records})

    def status_counts(self) -> dict[str, dict[str, int]]:
        """cell type -> status -> number of records (index order)."""
        counts: dict[str, dict[str, int]] = {}
        for r in self.records:
            by_status = counts.setdefault(r["cell_type"], {})
            by_status[r["status"]] = by_status.get(r["status"], 0) + 1
        return counts

    def index_sha256(self) -> str:
        return hashlib.sha256(_canonical(self.index).encode()).hexdigest()

    def select(self, cell_type: str, statuses=("ok",)) -> list[dict]:
        return [r for r in self.records if r["cell_type"] == cell_type and r["status"] in statuses]

    def training_data(self, cell_type: str) -> TrainingData:
        """The ``"ok"`` records of ``cell_type`` as arrays (record order of the index)."""
        records = self.select(cell_type)
        if not records:
            raise ValueError(f"{self.directory} has no record with a threshold for {cell_type!r} (cell "
                             f"types: {', '.join(self.cell_types()) or 'none'})")
        n = self.grid.n
        inputs = np.zeros((len(records), 4, n, n, n), np.float32)
        e_soma = np.zeros((len(records), 3))
        shards: dict[str, dict] = {}
        for k, record in enumerate(records):
            name = record["shard"]
            if name not in shards:
                with np.load(self.directory / "shards" / f"{name}.npz", allow_pickle=False) as data:
                    shards[name] = {key: np.array(data[key])
                                    for key in ("channels", "mask", "e_soma_v_per_m")}
            shard, row = shards[name], int(record["row"])
            inputs[k, :3] = shard["channels"][row]
            inputs[k, 3] = shard["mask"][row]
            e_soma[k] = shard["e_soma_v_per_m"][row]
        return TrainingData(
            cell_type, self.grid, inputs, np.array([r["threshold_soma_v_per_m"] for r in records], float),
            e_soma,
            np.array([r["head_id"] for r in records]), np.array([r["placement_id"] for r in records]),
            np.array([r["id"] for r in records]),
            {"dataset": str(self.directory), "index_sha256": self.index_sha256(), "n_records": len(records),
             "pulse": self.index.get("pulse"), "threshold_kwargs": self.index.get("threshold_kwargs"),
             "cell": self.index.get("cells", {}).get(cell_type), "versions": self.index.get("versions")},
            _neuron_ids(records))


def neuron_ids(records) -> np.ndarray:
    """(M,) one key per record for the **neuron** it simulates: cell type, cortical vertex, azimuth (1e-6
    rad) and soma depth (1e-4 mm), from the index records' ``neuron`` placement. The head is left out on
    purpose: the dataset's heads are maps of one segmentation, so a neuron at the same vertex, azimuth and
    depth of a scaled copy of the head is the same neuron seen again (issue 21: placements P0-P5 of head
    ``rat`` reuse one set of neurons)."""
    out = []
    for r in records:
        n = r["neuron"]
        out.append(f"{r['cell_type']}|v{int(n['vertex'])}|az{float(n['azimuth_rad']):.6f}"
                   f"|d{float(n['depth_mm']):.4f}")
    return np.asarray(out, dtype=str)



def _neuron_ids(records) -> np.ndarray | None:
    if all(isinstance(r.get("neuron"), dict) and "azimuth_rad" in r["neuron"] for r in records):
        return neuron_ids(records)
    return None         # population records hang from a site, not a neuron


# ---------------------------------------------------------------------- generation
def _empty_index(grid: LocalFieldGrid, pulse, threshold_kwargs) -> dict:
    from .. import population

    package, neuron = population.package_versions()
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "grid": grid.as_dict(),
            "pulse": pulse.metadata(), "threshold_kwargs": jsonable(threshold_kwargs),
            "versions": {"napari-rat-tms": package, "neuron": neuron}, "cells": {}, "shards": {},
            "records": []}


def _load_index(directory: Path, grid, pulse, threshold_kwargs) -> dict:
    path = directory / "index.json"
    fresh = _empty_index(grid, pulse, threshold_kwargs)
    if not path.is_file():
        return fresh
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError):
        return fresh
    if index.get("format") != FORMAT or index.get("format_version") != FORMAT_VERSION:
        return fresh
    if index.get("grid") != fresh["grid"]:
        raise ValueError(f"{directory} holds a dataset on another grid ({index.get('grid')}, not "
                         f"{fresh['grid']}): use another directory")
    return index


def _write_index(directory: Path, index: dict) -> None:
    text = json.dumps(index, indent=1, allow_nan=True)
    _write_atomic(directory / "index.json", lambda tmp: tmp.write_text(text))


def _replace_shard_records(index: dict, shard: str, info: dict, records: list[dict]) -> None:
    index["records"] = [r for r in index["records"] if r["shard"] != shard] + records
    index["shards"][shard] = info


def _shard_done(directory: Path, index: dict, shard: str, key: str) -> bool:
    info = index["shards"].get(shard)
    return info is not None and info.get("key") == key and (directory / "shards" / f"{shard}.npz").is_file()


def _float(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def iter_generate_dataset(directory, cells: Mapping[str, CellSpec],
                          neurons: Mapping[str, Mapping[str, Sequence[CorticalNeuronPlacement]]],
                          fields: Sequence[CoilField], *, grid: LocalFieldGrid = LocalFieldGrid(),
                          pulse="monophasic", threshold_kwargs: dict | None = None, population: bool = True,
                          max_outside_fraction: float = 0.5, client=None,
                          scheduler_address: str | None = None, processes: bool = True,
                          n_workers: int | None = None):
    """Generate (or complete) a dataset as a ``(fraction, message)`` generator (module docstring).

    ``cells``: cell type name -> :class:`..population.CellSpec`. ``neurons``: head id (or a coil
    field's ``neuron_set``) -> cell type -> the neurons placed in that head's cortex. ``fields``: the
    coil fields (each with its neurons in ``neurons``: :attr:`CoilField.neurons_key`). ``pulse``,
    ``threshold_kwargs``: for :func:`..threshold.activation_threshold`. Dask arguments:
    :func:`..population.iter_run_thresholds`. Returns a summary dict: ``records``, ``shards_computed``,
    ``shards_skipped``, ``thresholds_computed`` (by NEURON in this run), ``thresholds_from_cache``.
    """
    from ...progress import forward
    from .. import population as pop

    directory = Path(directory)
    (directory / "shards").mkdir(parents=True, exist_ok=True)
    cache = directory / "thresholds"
    cache.mkdir(exist_ok=True)
    pulse = resolve_pulse(pulse)
    kwargs = dict(threshold_kwargs or {})
    cells = dict(cells)
    for name, spec in cells.items():
        if not isinstance(spec, CellSpec):
            raise TypeError(f"cells[{name!r}] must be a CellSpec")
        if name == POPULATION_MEDIAN:
            raise ValueError(f"{POPULATION_MEDIAN!r} is reserved for the population records")
    fields = list(fields)
    for f in fields:
        if f.neurons_key not in neurons:
            what = f"head {f.head_id!r}" if f.neuron_set is None else f"neuron set {f.neuron_set!r}"
            raise ValueError(f"coil field {f.placement_id!r} (head {f.head_id!r}) has no neurons: {what} "
                             f"is not a key of neurons ({', '.join(map(repr, neurons)) or 'empty'})")
    if len({(f.head_id, f.placement_id) for f in fields}) != len(fields):
        raise ValueError("two coil fields have the same (head_id, placement_id)")
    index = _load_index(directory, grid, pulse, kwargs)
    index["cells"].update({name: spec.key_dict() for name, spec in cells.items()})
    summary = {"records": 0, "shards_computed": 0, "shards_skipped": 0, "thresholds_computed": 0,
               "thresholds_from_cache": 0}
    started = {"client": client, "cluster": None, "owned": False}
    try:
        for i, cf in enumerate(fields):
            base, span = i / len(fields), 1.0 / len(fields)
            where = f"{cf.head_id}/{cf.placement_id} ({i + 1}/{len(fields)})"
            todo, shard_keys = [], {}
            for cell_type, spec in cells.items():
                placements = list(neurons[cf.neurons_key].get(cell_type, ()))
                shard = _shard_name(cf.head_id, cf.placement_id, cell_type)
                key = hashlib.sha256(_canonical({
                    "format": FORMAT_VERSION, "cache": pop.CACHE_FORMAT, "cell": spec.key_dict(),
                    "head": cf.head_id, "placement": cf.placement_id, "grid": grid.as_dict(),
                    "neurons": [p.as_dict() for p in placements], "pulse": pulse.metadata(),
                    "pulse_shape": hashlib.sha256(pulse.shape.tobytes()).hexdigest(),
                    "threshold_kwargs": jsonable(kwargs), "max_outside": max_outside_fraction,
                }).encode()).hexdigest()
                shard_keys[cell_type] = (shard, key)
                if _shard_done(directory, index, shard, key):
                    summary["shards_skipped"] += 1
                elif placements:
                    todo.append((cell_type, spec, placements, shard, key))
            if todo:
                yield base, f"{where}: sampling the local fields of {sum(len(t[2]) for t in todo)} neurons"
            batch, tasks = [], []
            for cell_type, spec, placements, shard, key in todo:
                labels = [f"{cell_type} at {p.label()}" for p in placements]
                channels, mask, e_soma, errors = sample_local_field_arrays(
                    placements, cf.field_fn, grid, inside=cf.inside,
                    max_outside_fraction=max_outside_fraction, names=labels)
                good = [k for k, e in enumerate(errors) if e is None]
                shard_tasks = pop.threshold_tasks(spec, [placements[k] for k in good], cf.field_fn, pulse,
                                                  inside=cf.inside, threshold_kwargs=kwargs)
                batch.append((cell_type, placements, shard, key, channels, mask, e_soma, errors, good,
                              len(tasks), len(shard_tasks)))
                tasks.extend(shard_tasks)
            results = []
            if tasks:
                missing = [t for t in tasks if not (cache / f"{t.key()}.json").is_file()]
                use_client = started["client"]
                if missing and use_client is None and scheduler_address is None and processes:
                    pop.clear_cell_cache()     # the parent keeps no cell while the workers run
                    n = int(n_workers or pop._default_workers())
                    c, cluster, owned = start_client(None, None, n)
                    started.update(client=c, cluster=cluster, owned=owned)
                    use_client = c
                steps = iter_run_thresholds(tasks, client=use_client, scheduler_address=scheduler_address,
                                            processes=processes, n_workers=n_workers, cache_dir=cache)
                results = yield from forward(steps, base + 0.1 * span, 0.8 * span, f"{where}: ")
                summary["thresholds_computed"] += sum(not r.from_cache for r in results)
                summary["thresholds_from_cache"] += sum(bool(r.from_cache) for r in results)
            for (cell_type, placements, shard, key, channels, mask, e_soma, errors, good, start,
                 count) in batch:
                shard_results = dict(zip(good, results[start:start + count]))
                amplitude = np.full(len(placements), np.nan)
                records = []
                for k, p in enumerate(placements):
                    norm = float(np.linalg.norm(e_soma[k])) if errors[k] is None else None
                    r = shard_results.get(k)
                    status = GRID_FAILED if r is None else r.status
                    a = r.threshold_amplitude if r is not None and r.ok else None
                    if a is not None:
                        amplitude[k] = a
                    records.append({
                        "id": f"{shard}:{k}", "shard": shard, "row": k, "cell_type": cell_type,
                        "head_id": cf.head_id, "placement_id": cf.placement_id,
                        "group": f"{cf.head_id}/{cf.placement_id}", "neuron": p.as_dict(), "vertex": p.vertex,
                        "grid": grid.as_dict(), "e_soma_norm_v_per_m": norm, "threshold_amplitude": _float(a),
                        "threshold_soma_v_per_m": _float(a * norm) if a is not None else None,
                        "status": status, "message": errors[k] if r is None else r.message,
                        "task_key": None if r is None else r.key})
                _save_npz(directory / "shards" / f"{shard}.npz", channels=channels, mask=mask,
                          e_soma_v_per_m=e_soma, threshold_amplitude=amplitude)
                _replace_shard_records(index, shard, {"key": key, "head_id": cf.head_id,
                                                      "placement_id": cf.placement_id, "cell_type": cell_type,
                                                      "n": len(placements)}, records)
                summary["shards_computed"] += 1
            if population:
                done = yield from _population_shard(directory, index, cf, cells, neurons, shard_keys, grid,
                                                    max_outside_fraction, base + 0.95 * span, where)
                summary["shards_computed" if done else "shards_skipped"] += 1
            _write_index(directory, index)
            yield base + span, f"{where}: done"
    finally:
        if started["owned"]:
            started["client"].close()
            if started["cluster"] is not None:
                started["cluster"].close()
    summary["records"] = len(index["records"])
    yield 1.0, (f"dataset: {summary['records']} records; {summary['shards_computed']} shards computed, "
                f"{summary['shards_skipped']} already there; {summary['thresholds_computed']} NEURON "
                f"thresholds computed, {summary['thresholds_from_cache']} from the cache")
    return summary


def _population_shard(directory, index, cf: CoilField, cells, neurons, shard_keys, grid, max_outside_fraction,
                      fraction, where):
    """Write the population-median shard of one coil field; returns whether it was (re)computed."""
    members = [r for r in index["records"] if r["head_id"] == cf.head_id
               and r["placement_id"] == cf.placement_id and r["cell_type"] in cells]
    shard = _shard_name(cf.head_id, cf.placement_id, POPULATION_MEDIAN)
    key = hashlib.sha256(_canonical({"format": FORMAT_VERSION, "grid": grid.as_dict(),
                                     "members": sorted(shard_keys[c][1] for c in cells),
                                     "max_outside": max_outside_fraction}).encode()).hexdigest()
    if _shard_done(directory, index, shard, key):
        return False
    yield fraction, f"{where}: population medians"
    by_vertex: dict[int, list[dict]] = {}
    for r in members:
        by_vertex.setdefault(int(r["vertex"]), []).append(r)
    vertices = sorted(by_vertex)
    sites = [site_placement([CorticalNeuronPlacement.from_dict(r["neuron"]) for r in by_vertex[v]])
             for v in vertices]
    labels = [f"site at {s.label()}" for s in sites]
    channels, mask, e_soma, errors = sample_local_field_arrays(sites, cf.field_fn, grid, inside=cf.inside,
                                                               max_outside_fraction=max_outside_fraction,
                                                               names=labels)
    amplitude = np.full(len(sites), np.nan)
    records = []
    for k, (v, site) in enumerate(zip(vertices, sites)):
        group = by_vertex[v]
        values = [r["threshold_amplitude"] if r["status"] == "ok" else np.inf for r in group
                  if r["status"] in ("ok", "not bracketed")]
        message = ""
        if errors[k] is not None:
            status, message, median = GRID_FAILED, errors[k], None
        elif len(values) < len(group):
            status, median = "incomplete", None
            message = (f"{len(group) - len(values)} of the site's {len(group)} neurons have no threshold "
                       "result")
        else:
            median = float(np.median(values))
            status = "ok" if np.isfinite(median) else "not bracketed"
        norm = None if errors[k] is not None else float(np.linalg.norm(e_soma[k]))
        if status == "ok":
            amplitude[k] = median
        records.append({
            "id": f"{shard}:{k}", "shard": shard, "row": k, "cell_type": POPULATION_MEDIAN,
            "head_id": cf.head_id, "placement_id": cf.placement_id,
            "group": f"{cf.head_id}/{cf.placement_id}",
            "neuron": site.as_dict(), "vertex": v, "grid": grid.as_dict(), "e_soma_norm_v_per_m": norm,
            "threshold_amplitude": median if status == "ok" else None,
            "threshold_soma_v_per_m": median * norm if status == "ok" else None, "status": status,
            "message": message, "task_key": None, "n_neurons": len(group),
            "members": [r["id"] for r in group]})
    _save_npz(directory / "shards" / f"{shard}.npz", channels=channels, mask=mask, e_soma_v_per_m=e_soma,
              threshold_amplitude=amplitude)
    _replace_shard_records(index, shard, {"key": key, "head_id": cf.head_id, "placement_id": cf.placement_id,
                                          "cell_type": POPULATION_MEDIAN, "n": len(sites)}, records)
    return True


def generate_dataset(directory, cells, neurons, fields, *, progress=None, **kwargs) -> dict:
    """Blocking form of :func:`iter_generate_dataset` (same arguments, optional progress callback)."""
    from ...progress import run_to_completion

    return run_to_completion(iter_generate_dataset(directory, cells, neurons, fields, **kwargs), progress)
