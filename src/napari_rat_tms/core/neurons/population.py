"""Activation thresholds of many neurons in parallel with Dask, cached and resumable.

A :class:`ThresholdTask` describes one neuron's threshold search so that any process can run it:
NEURON objects cannot be pickled, so a task carries a :class:`CellSpec` (how to build the cell),
the E-field at the cell's segments **in the cell frame** (computed in the parent, where it is
cheap: :func:`threshold_tasks` samples the head-model field through :mod:`.cortex`), the pulse,
the keyword arguments of :func:`.threshold.activation_threshold` and, for the record, the
placement in the cortex. Each worker process builds the cell from its spec once and keeps it for
the next tasks of the same spec (one cell at a time: NEURON simulates every cell alive in a
process, so a previous cell is dropped before the next is built).

:func:`run_thresholds` (blocking) and :func:`iter_run_thresholds` (a ``(fraction, message)``
generator, the package's progress convention, ``core/progress.py``) run the tasks:

* by default on a ``distributed.LocalCluster`` of ``n_workers`` processes (default: the CPUs this
  process may use) with one thread each, started and closed by the call; started only when
  something is left to compute. Worker processes are *spawned*: a script that calls this at import
  time must do so under ``if __name__ == "__main__":``;
* on an existing cluster: ``scheduler_address="tcp://host:8786"`` (the package and NEURON must be
  installed on its workers, with the same versions) or ``client=`` (a ``distributed.Client``; left
  open). Several threads of one worker never run NEURON at the same time (a process-wide lock);
* in this process, one task after the other (``processes=False``): the equivalent of Dask's
  synchronous scheduler without needing Dask, for tiny jobs and tests.

Closing the generator (napari's Cancel; ``close()``) cancels the futures still pending and closes a
cluster the call started.

**Cache** (``cache_dir``): each finished task is written as ``<key>.json``, ``key`` the SHA-256 of
its inputs: the cell spec (with the SHA-256 of a morphology file's bytes), the placement, the field
samples (their bytes, dtype and shape), the pulse (name and waveform samples), the threshold
arguments with their defaults filled in, the package version, the NEURON version and the cache
format. A rerun reads the finished tasks and computes only the others, so an interrupted run
resumes where it stopped; files are written atomically (a temporary file renamed), and an
unreadable or mismatching file is recomputed, never trusted. Results with status ``"ok"``, ``"not
bracketed"`` or ``"outside field"`` are cached (they follow from the inputs); ``"failed: ..."``
ones are not (a missing morphology can be fixed and retried).

**Bad tasks never stop a run**: each result has a status, ``"ok"``, ``"not bracketed"`` (no
threshold in the search range: :class:`.threshold.ThresholdNotFound`), ``"outside field"`` (some
compartments have no field: :class:`.threshold.FieldOutsideDomainError`), ``"failed: morphology"``
(:class:`.cells.MorphologyError`), ``"failed: <ExceptionType>"`` for anything else, with the
message in :attr:`NeuronThreshold.message`.
"""

from __future__ import annotations

import gc
import hashlib
import inspect
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..files import atomic_write, file_sha256, jsonable
from ..progress import ProgressCallback, run_to_completion
from .cortex import CorticalNeuronPlacement, inside_predicate, to_cell_frame, field_at_cell
from .threshold import FieldOutsideDomainError
from .waveforms import TmsPulse, biphasic_pulse, monophasic_pulse

__all__ = [
    "CACHE_FORMAT",
    "CellSpec",
    "ThresholdTask",
    "NeuronThreshold",
    "CompartmentPoints",
    "compartment_points",
    "tasks_from_field",
    "threshold_tasks",
    "iter_run_thresholds",
    "run_thresholds",
    "compute_task",
    "clear_cell_cache",
]

logger = logging.getLogger(__name__)

#: Changes whenever the meaning of a cached result could change: older files are ignored.
CACHE_FORMAT = "napari-rat-tms thresholds 1"

CELL_KINDS = ("straight_axon", "ball_and_stick", "morphology")
CACHEABLE_STATUSES = ("ok", "not bracketed", "outside field")
_TASK_ARGUMENTS = ("cell", "efield_v_per_m", "pulse")


# ---------------------------------------------------------------------- cell specs
def _canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _file_sha256(path: Path) -> str | None:
    """SHA-256 of a file's bytes (None when it cannot be read); remembered per (path, size, mtime)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _file_sha256_cached(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)
def _file_sha256_cached(path: str, size: int, mtime_ns: int) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None


@lru_cache(maxsize=1)
def package_versions() -> tuple[str, str]:
    """(package version, NEURON version) for the cache key."""
    from importlib.metadata import PackageNotFoundError, version

    from ... import __version__

    try:
        neuron_version = version("neuron")
    except PackageNotFoundError:  # pragma: no cover - NEURON installed otherwise (conda, source)
        neuron_version = "unknown"
    return __version__, neuron_version


@dataclass(frozen=True, eq=False)
class CellSpec:
    """How to build a cell model in any process (NEURON objects cannot be pickled).

    ``kind``: ``"straight_axon"`` (:func:`.simple_cells.straight_myelinated_axon`),
    ``"ball_and_stick"`` (:func:`.simple_cells.ball_and_stick_cell`) or ``"morphology"``
    (:func:`.reconstructed_cells.cell_from_morphology`
    of ``path``, a ``.asc``/``.swc`` file). ``kwargs``: the builder's keyword arguments, JSON values
    only (``biophysics`` as a dict of :class:`.cells.Biophysics` fields). Two specs are equal when
    kind, path and arguments are.
    """

    kind: str
    path: str | None = None
    kwargs: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in CELL_KINDS:
            raise ValueError(f"kind must be one of {CELL_KINDS}, got {self.kind!r}")
        if self.kind == "morphology":
            if self.path is None:
                raise ValueError("a 'morphology' CellSpec needs path (a .asc or .swc file)")
            object.__setattr__(self, "path", str(Path(self.path)))
        elif self.path is not None:
            raise ValueError(f"path is only for kind='morphology', not {self.kind!r}")
        kwargs = dict(self.kwargs)
        try:
            _canonical_json(kwargs)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"CellSpec kwargs must be JSON values (numbers, strings, lists, dicts): {exc}") \
                from exc
        object.__setattr__(self, "kwargs", kwargs)

    def canonical(self) -> str:
        """The spec as canonical JSON (identity of the cell model, without the file's content)."""
        return _canonical_json({"kind": self.kind, "path": self.path, "kwargs": self.kwargs})

    def __eq__(self, other):
        return isinstance(other, CellSpec) and self.canonical() == other.canonical()

    def __hash__(self):
        return hash(self.canonical())

    def key_dict(self) -> dict:
        """What the cache key holds of the cell: the spec and the morphology file's SHA-256."""
        out = {"kind": self.kind, "path": self.path, "kwargs": self.kwargs}
        if self.kind == "morphology":
            out["file_sha256"] = _file_sha256(Path(self.path))
        return out

    def label(self) -> str:
        return Path(self.path).stem if self.kind == "morphology" else self.kind

    def build(self):
        """A new :class:`.cells.NeuronCell` (starts NEURON; raises :class:`.cells.MorphologyError`)."""
        from .cells import Biophysics
        from .simple_cells import ball_and_stick_cell, straight_myelinated_axon
        from .reconstructed_cells import cell_from_morphology

        kwargs = dict(self.kwargs)
        if isinstance(kwargs.get("biophysics"), dict):
            kwargs["biophysics"] = Biophysics(**kwargs["biophysics"])
        if self.kind == "straight_axon":
            return straight_myelinated_axon(**kwargs)
        if self.kind == "ball_and_stick":
            return ball_and_stick_cell(**kwargs)
        return cell_from_morphology(self.path, **kwargs)


# One cell per process (NEURON simulates every live cell), guarded by a lock: a Dask worker with
# several threads must not run two NEURON simulations at once.
#: NEURON has one global state per process: every use of it (cells, runs) holds this lock.
NEURON_LOCK = threading.RLock()
_CELL_CACHE: dict = {"key": None, "cell": None}


def cell_for_spec(spec: CellSpec):
    """The NEURON cell of ``spec``, built once and kept while the next call asks for the same cell
    (NEURON holds one cell per process here); call with :data:`NEURON_LOCK` held while using it."""
    with NEURON_LOCK:
        key = spec.canonical()
        if _CELL_CACHE["key"] != key:
            clear_cell_cache()
            cell = spec.build()
            _CELL_CACHE["key"], _CELL_CACHE["cell"] = key, cell
        return _CELL_CACHE["cell"]


def clear_cell_cache() -> None:
    """Drop the cell this process keeps for the next task (NEURON frees its sections)."""
    with NEURON_LOCK:
        had = _CELL_CACHE["cell"] is not None
        _CELL_CACHE["key"], _CELL_CACHE["cell"] = None, None
        if had:
            gc.collect()


# ---------------------------------------------------------------------- tasks
def resolve_pulse(pulse) -> TmsPulse:
    """A :class:`TmsPulse` from itself or a waveform name ("monophasic", "biphasic")."""
    if isinstance(pulse, TmsPulse):
        return pulse
    if pulse == "monophasic":
        return monophasic_pulse()
    if pulse == "biphasic":
        return biphasic_pulse()
    raise ValueError(f"pulse must be a TmsPulse, 'monophasic' or 'biphasic', got {pulse!r}")


@lru_cache(maxsize=1)
def _threshold_default_items() -> tuple:
    from .threshold import activation_threshold

    params = inspect.signature(activation_threshold).parameters
    return tuple((name, p.default) for name, p in params.items() if name not in _TASK_ARGUMENTS)


def _threshold_defaults() -> dict:
    """activation_threshold's keyword arguments and their defaults (a new dict)."""
    return dict(_threshold_default_items())


@dataclass(frozen=True, eq=False)
class ThresholdTask:
    """One neuron's threshold search, runnable in any process (module docstring).

    ``cell``: :class:`CellSpec`. ``efield_v_per_m``: (3,) uniform or (N, 3) per segment, **cell
    frame**, V/m, for amplitude 1 (the threshold amplitude multiplies it: with the field for dI/dt
    = 1 A/us, the amplitude is the threshold dI/dt in A/us); None when it could not be sampled
    (then ``field_error`` says why) or when the cell could not be built in the parent. ``pulse``: a
    :class:`.waveforms.TmsPulse` or ``"monophasic"``/``"biphasic"`` (the defaults).
    ``placement``: where the neuron sits (recorded, and used for the head-frame site).
    ``threshold_kwargs``: keyword arguments of :func:`.threshold.activation_threshold`.
    ``label``: a name for messages and tables (not part of the cache key).
    """

    cell: CellSpec
    efield_v_per_m: np.ndarray | None
    pulse: TmsPulse | str = "monophasic"
    placement: CorticalNeuronPlacement | None = None
    threshold_kwargs: dict = field(default_factory=dict)
    label: str = ""
    field_error: str | None = None

    def __post_init__(self):
        if not isinstance(self.cell, CellSpec):
            raise TypeError(f"cell must be a CellSpec, got {type(self.cell).__name__}")
        if self.efield_v_per_m is not None:
            efield = np.array(self.efield_v_per_m, dtype=np.float64, order="C")
            if efield.shape != (3,) and (efield.ndim != 2 or efield.shape[1] != 3):
                raise ValueError(f"efield_v_per_m must be (3,) or (N, 3) V/m, got shape {efield.shape}")
            efield.setflags(write=False)
            object.__setattr__(self, "efield_v_per_m", efield)
        object.__setattr__(self, "pulse", resolve_pulse(self.pulse))
        if self.placement is not None and not isinstance(self.placement, CorticalNeuronPlacement):
            raise TypeError("placement must be a CorticalNeuronPlacement or None")
        kwargs = dict(self.threshold_kwargs)
        unknown = sorted(set(kwargs) - set(_threshold_defaults()))
        if unknown:
            raise ValueError(f"unknown threshold_kwargs {unknown}; activation_threshold takes "
                             f"{sorted(_threshold_defaults())}")
        object.__setattr__(self, "threshold_kwargs", kwargs)
        if not self.label:
            where = f" at {self.placement.label()}" if self.placement is not None else ""
            object.__setattr__(self, "label", f"{self.cell.label()}{where}")

    def key(self) -> str:
        """SHA-256 (hex) of the inputs that determine the result (module docstring)."""
        package_version, neuron_version = package_versions()
        kwargs = _threshold_defaults()
        kwargs.update(self.threshold_kwargs)
        pulse = self.pulse
        efield = self.efield_v_per_m
        payload = {
            "format": CACHE_FORMAT, "package": package_version, "neuron": neuron_version,
            "cell": self.cell.key_dict(),
            "placement": self.placement.as_dict() if self.placement is not None else None,
            "pulse": {"name": pulse.name, "times_sha256": hashlib.sha256(pulse.times_s.tobytes()).hexdigest(),
                      "shape_sha256": hashlib.sha256(pulse.shape.tobytes()).hexdigest(),
                      "n": int(pulse.times_s.size)},
            "threshold_kwargs": jsonable(kwargs),
            "field": None if efield is None else {
                "shape": list(efield.shape), "dtype": str(efield.dtype),
                "sha256": hashlib.sha256(efield.tobytes()).hexdigest()},
            "field_error": self.field_error,
        }
        return hashlib.sha256(_canonical_json(payload).encode()).hexdigest()

    def summary(self) -> dict:
        """The inputs in words (JSON), stored with a cached result for provenance."""
        return {"label": self.label, "cell": self.cell.key_dict(),
                "placement": self.placement.as_dict() if self.placement is not None else None,
                "pulse": self.pulse.metadata(), "threshold_kwargs": jsonable(self.threshold_kwargs),
                "field_shape": None if self.efield_v_per_m is None else list(self.efield_v_per_m.shape)}


@dataclass(frozen=True)
class NeuronThreshold:
    """The outcome of one :class:`ThresholdTask`.

    ``status``: ``"ok"``, ``"not bracketed"``, ``"outside field"`` or ``"failed: ..."``; ``message``
    says why when not ok. For ``"ok"``: ``threshold_amplitude`` (multiplier of the task's field),
    ``threshold_v_per_m`` (|E| at threshold for a uniform field, else None), ``threshold_peak_v_per_m``
    (largest segment |E| at threshold), the site of first activation (segment index, section,
    cell-frame position in um, head-frame position in m when the task had a placement, time after
    the pulse onset in s), ``n_simulations``, ``seconds`` (the worker's time for the search).
    ``from_cache``: read from the cache rather than computed in this run.
    """

    key: str
    label: str
    status: str
    message: str = ""
    cell_name: str = ""
    threshold_amplitude: float | None = None
    threshold_v_per_m: float | None = None
    threshold_peak_v_per_m: float | None = None
    site_index: int | None = None
    site_section: str | None = None
    site_position_um: tuple | None = None
    site_position_m: tuple | None = None
    site_time_s: float | None = None
    n_simulations: int = 0
    seconds: float = 0.0
    from_cache: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict:
        return jsonable(dict(self.__dict__))

    @classmethod
    def from_dict(cls, data: dict, **changes) -> NeuronThreshold:
        values = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        for name in ("site_position_um", "site_position_m"):
            if values.get(name) is not None:
                values[name] = tuple(float(v) for v in values[name])
        values.update(changes)
        return cls(**values)


def compute_task(task: ThresholdTask, key: str | None = None) -> NeuronThreshold:
    """Run one task in this process (what each Dask worker runs): build or reuse the cell, search
    the threshold, turn every error into a status. Never raises for bad input."""
    from .cells import MorphologyError
    from .threshold import ThresholdNotFound, activation_threshold

    key = task.key() if key is None else key
    start = time.perf_counter()

    def result(status, message="", **values):
        return NeuronThreshold(key=key, label=task.label, status=status, message=message,
                               seconds=time.perf_counter() - start, **values)

    if task.field_error is not None:
        return result("outside field", task.field_error)
    with NEURON_LOCK:
        try:
            cell = cell_for_spec(task.cell)
        except MorphologyError as exc:
            return result("failed: morphology", f"{task.label}: {exc}")
        except Exception as exc:  # a cell that cannot be built must not stop the other tasks
            return result(f"failed: {type(exc).__name__}", f"{task.label}: could not build the cell: {exc}")
        if task.efield_v_per_m is None:
            return result("failed: no field", f"{task.label}: the task has no E-field samples",
                          cell_name=cell.name)
        try:
            r = activation_threshold(cell, task.efield_v_per_m, task.pulse, **task.threshold_kwargs)
        except FieldOutsideDomainError as exc:
            return result("outside field", f"{task.label}: {exc}", cell_name=cell.name)
        except ThresholdNotFound as exc:
            return result("not bracketed", f"{task.label}: {exc}", cell_name=cell.name)
        except Exception as exc:
            logger.warning("threshold of %s failed", task.label, exc_info=True)
            return result(f"failed: {type(exc).__name__}", f"{task.label}: {exc}", cell_name=cell.name)
    site_m = None
    if task.placement is not None:
        p = task.placement
        site = p.soma + p.rotation_matrix @ (np.array(r.first_site_position_um) * 1e-6)
        site_m = tuple(float(v) for v in site)
    return result("ok", cell_name=cell.name, threshold_amplitude=r.threshold_amplitude,
                  threshold_v_per_m=r.threshold_v_per_m, threshold_peak_v_per_m=r.threshold_peak_v_per_m,
                  site_index=r.first_site_index, site_section=r.first_site_section,
                  site_position_um=tuple(r.first_site_position_um), site_position_m=site_m,
                  site_time_s=r.first_site_time_s, n_simulations=r.n_simulations)


# ---------------------------------------------------------------------- tasks from placements
@dataclass(frozen=True, eq=False)
class CompartmentPoints:
    """Where the head-model field is needed for one cell type's neurons (:func:`compartment_points`).

    ``points_m``: (P, 3) head frame, metres: every segment of every placement, placement after
    placement (``n_segments`` each); ``inside``: (P,) which of them lie where the field is defined
    (those to evaluate); ``cell_name``; ``build_error``: the message when the cell could not be built
    (then ``points_m`` is empty and every task fails with ``"failed: morphology"``).
    """

    cell: CellSpec
    placements: tuple
    points_m: np.ndarray
    inside: np.ndarray
    n_segments: int
    cell_name: str = ""
    build_error: str | None = None

    @property
    def points_to_evaluate(self) -> np.ndarray:
        """The points the field must be computed at (``points_m[inside]``)."""
        return self.points_m[self.inside]


def compartment_points(cell: CellSpec, placements: Sequence[CorticalNeuronPlacement], *,
                       inside=None) -> CompartmentPoints:
    """The head-frame positions of the segments of ``cell`` at each placement (builds the cell here,
    in NEURON, once). ``inside``: optional ``TriangleSurface`` or ``points -> bool`` telling which
    points have a field (:func:`threshold_tasks`)."""
    from .cells import MorphologyError
    from .cortex import cell_points_in_head

    if not isinstance(cell, CellSpec):
        raise TypeError(f"cell must be a CellSpec, got {type(cell).__name__}")
    placements = tuple(placements)
    try:
        built = cell_for_spec(cell)
    except MorphologyError as exc:
        return CompartmentPoints(cell, placements, np.zeros((0, 3)), np.zeros(0, bool), 0,
                                 build_error=str(exc))
    positions_um = built.segment_positions_um()
    n = len(positions_um)
    if not placements:
        return CompartmentPoints(cell, placements, np.zeros((0, 3)), np.zeros(0, bool), n, built.name)
    points = np.concatenate([cell_points_in_head(positions_um, p) for p in placements])
    check = inside_predicate(inside)
    mask = np.ones(len(points), dtype=bool) if check is None else np.asarray(check(points), bool).reshape(-1)
    return CompartmentPoints(cell, placements, points, mask, n, built.name)


def tasks_from_field(points: CompartmentPoints, efield_v_per_m, pulse: TmsPulse | str = "monophasic", *,
                     threshold_kwargs: dict | None = None) -> list[ThresholdTask]:
    """One task per placement from the field at ``points.points_to_evaluate`` ((Q, 3) V/m, head
    frame, in that order). A placement with compartments outside the field's domain (not inside, or
    a non-finite field) gets a task whose result will be ``"outside field"``."""
    kwargs = dict(threshold_kwargs or {})
    pulse = resolve_pulse(pulse)
    cell = points.cell
    if points.build_error is not None:
        return [ThresholdTask(cell, None, pulse, p, kwargs) for p in points.placements]
    evaluated = np.asarray(efield_v_per_m, dtype=float).reshape(-1, 3)
    if len(evaluated) != int(points.inside.sum()):
        raise ValueError(f"efield_v_per_m has {len(evaluated)} rows for {int(points.inside.sum())} points")
    efield = np.full(points.points_m.shape, np.nan)
    efield[points.inside] = evaluated
    n = points.n_segments
    tasks = []
    for k, p in enumerate(points.placements):
        try:
            f = to_cell_frame(efield[k * n:(k + 1) * n], p, f"{points.cell_name} at {p.label()}")
            tasks.append(ThresholdTask(cell, f, pulse, p, kwargs))
        except FieldOutsideDomainError as exc:
            tasks.append(ThresholdTask(cell, None, pulse, p, kwargs, field_error=str(exc)))
    return tasks


def threshold_tasks(cell: CellSpec, placements: Sequence[CorticalNeuronPlacement],
                    field_fn: Callable, pulse: TmsPulse | str = "monophasic", *, inside=None,
                    threshold_kwargs: dict | None = None) -> list[ThresholdTask]:
    """One task per placement: the head-model field sampled at the cell's segments, in the cell frame.

    ``field_fn(points_m (P, 3)) -> (P, 3)`` V/m, head frame (see :func:`.cortex.field_at_cell`); it
    is called **once** with the segments of every placement (a BEM evaluation per call is costly).
    ``inside``: optional ``TriangleSurface`` or ``points -> bool`` telling which points have a field
    (e.g. ``lambda p: conductor.conductivity_at(p) > 0``): the others are not passed to
    ``field_fn``. A placement with compartments outside the field's domain (not inside, a
    non-finite field, or ``field_fn`` raising ``ConductorModelError`` for its points alone) gets a
    task whose result will be ``"outside field"`` with the count in the message; the others run.
    Builds the cell in this process (NEURON) to know its segments; a cell that cannot be built
    gives tasks whose results will be ``"failed: morphology"``. The two steps separately (to
    evaluate the field with progress, or once for several cell types): :func:`compartment_points`,
    then :func:`tasks_from_field`.
    """
    from ..errors import ConductorModelError

    points = compartment_points(cell, placements, inside=inside)
    kwargs = dict(threshold_kwargs or {})
    pulse = resolve_pulse(pulse)
    evaluate = points.points_to_evaluate
    if points.build_error is not None or not len(evaluate):
        return tasks_from_field(points, np.zeros((len(evaluate), 3)) * np.nan, pulse, threshold_kwargs=kwargs)
    try:
        evaluated = field_fn(evaluate)
    except ConductorModelError:
        # some neurons reach outside the head: sample each one alone to find which
        positions_um = cell_for_spec(cell).segment_positions_um()
        tasks = []
        for p in points.placements:
            try:
                f = field_at_cell(positions_um, p, field_fn, name=f"{points.cell_name} at {p.label()}")
                tasks.append(ThresholdTask(cell, f, pulse, p, kwargs))
            except FieldOutsideDomainError as exc:
                tasks.append(ThresholdTask(cell, None, pulse, p, kwargs, field_error=str(exc)))
        return tasks
    return tasks_from_field(points, evaluated, pulse, threshold_kwargs=kwargs)


# ---------------------------------------------------------------------- the cache
def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"{key}.json"


def _read_cached(cache_dir: Path | None, key: str, label: str) -> NeuronThreshold | None:
    if cache_dir is None:
        return None
    path = _cache_path(cache_dir, key)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("format") != CACHE_FORMAT or data.get("key") != key:
            raise ValueError("it was written for other inputs or by another version")
        result = NeuronThreshold.from_dict(data["result"], label=label, from_cache=True)
        if result.key != key or result.status not in CACHEABLE_STATUSES:
            raise ValueError("its result does not match its key")
        return result
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring the cached threshold %s (%s); it is recomputed", path, exc)
        return None


def _write_cached(cache_dir: Path | None, task: ThresholdTask, result: NeuronThreshold) -> None:
    if cache_dir is None or result.status not in CACHEABLE_STATUSES:
        return
    path = _cache_path(cache_dir, result.key)
    data = {"format": CACHE_FORMAT, "key": result.key, "inputs": task.summary(),
            "result": result.as_dict()}
    try:
        atomic_write(path, True, lambda tmp: tmp.write_text(json.dumps(data, indent=1, allow_nan=True)))
    except OSError as exc:  # a full disk must not lose the run: the result is still returned
        logger.warning("could not write the threshold cache %s: %s", path, exc)


# ---------------------------------------------------------------------- running
def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def start_client(client, scheduler_address, n_workers):
    """(client, cluster or None, whether we own the client)."""
    if client is not None:
        return client, None, False
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError("running thresholds on a Dask cluster needs dask[distributed]: pip install "
                          "'napari-rat-tms[neurons]' (or 'dask[distributed]'), or pass processes=False "
                          "to run them in this process") from exc
    if scheduler_address is not None:
        return Client(scheduler_address), None, True
    try:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.WARNING)
    except Exception as exc:
        raise RuntimeError(
            f"could not start a Dask LocalCluster of {n_workers} worker processes ({exc}). Its workers are "
            "spawned and re-import the main module: in a script, call run_thresholds under "
            "`if __name__ == \"__main__\":`; or pass processes=False to run in this process.") from exc
    try:
        return Client(cluster), cluster, True
    except BaseException:
        cluster.close()
        raise


def iter_run_thresholds(tasks: Sequence[ThresholdTask], *, client=None, scheduler_address: str | None = None,
                        processes: bool = True, n_workers: int | None = None,
                        cache_dir=None) -> Generator[tuple[float, str], None, list[NeuronThreshold]]:
    """Generator form of :func:`run_thresholds`: yields ``(fraction, message)`` after each neuron and
    returns the results (``StopIteration.value``), one :class:`NeuronThreshold` per task, in order.
    ``close()`` cancels what is still pending (the finished ones are in the cache). Arguments are
    checked now, before the first ``next``."""
    tasks = list(tasks)
    for k, task in enumerate(tasks):
        if not isinstance(task, ThresholdTask):
            raise TypeError(f"tasks[{k}] must be a ThresholdTask, got {type(task).__name__}")
    if client is not None and scheduler_address is not None:
        raise ValueError("give client or scheduler_address, not both")
    if n_workers is not None and (int(n_workers) != n_workers or n_workers < 1):
        raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}")
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
    keys = [task.key() for task in tasks]
    serial = client is None and scheduler_address is None and not processes
    return _run(tasks, keys, cache, serial, client, scheduler_address, n_workers)


def _run(tasks, keys, cache, serial, client, scheduler_address, n_workers):
    total = len(tasks)
    results: list = [None] * total
    yield 0.0, f"{total} neurons: reading the cache" if cache is not None else f"{total} neurons"
    todo: dict[str, list[int]] = {}
    for k, (task, key) in enumerate(zip(tasks, keys)):
        cached = _read_cached(cache, key, task.label)
        if cached is not None:
            results[k] = cached
        else:
            todo.setdefault(key, []).append(k)
    n_cached = total - sum(len(v) for v in todo.values())
    done = n_cached
    counts = {"computed": 0, "bad": sum(1 for r in results if r is not None and not r.ok)}

    def store(key, result):
        nonlocal done
        first = todo[key][0]
        _write_cached(cache, tasks[first], result)
        for k in todo[key]:
            results[k] = NeuronThreshold.from_dict(result.__dict__, label=tasks[k].label, from_cache=False)
        done += len(todo[key])
        counts["computed"] += len(todo[key])
        counts["bad"] += 0 if result.ok else len(todo[key])
        message = (f"{done}/{total} neurons ({counts['computed']} computed, {n_cached} from cache, "
                   f"{counts['bad']} without threshold); last: {result.label}: {result.status}")
        return done / total, message

    if not todo:
        yield 1.0, f"all {total} neurons from the cache"
        return results
    # tasks of one cell together: a worker then rebuilds its cell less often
    order = sorted(todo, key=lambda key: (tasks[todo[key][0]].cell.canonical(), todo[key][0]))
    if serial:
        yield done / total, f"{len(order)} thresholds to compute in this process ({n_cached} from cache)"
        for key in order:
            yield store(key, compute_task(tasks[todo[key][0]], key))
        return results
    local = client is None and scheduler_address is None
    n = min(int(n_workers or _default_workers()), len(order)) if local else None
    if local:
        where = f"a LocalCluster of {n} worker processes"
    elif scheduler_address is not None:
        where = f"the Dask cluster at {scheduler_address}"
    else:
        where = "the Dask client"
    yield done / total, f"{len(order)} thresholds to compute on {where} ({n_cached} from cache)"
    dask_client, cluster, owned = start_client(client, scheduler_address, n)
    futures = []
    try:
        from distributed import as_completed

        run_id = uuid.uuid4().hex[:8]
        futures = dask_client.map(compute_task, [tasks[todo[key][0]] for key in order], order,
                                  key=[f"rat-tms-threshold-{key[:20]}-{run_id}" for key in order])
        key_of = {f.key: key for f, key in zip(futures, order)}
        for future in as_completed(futures):
            key = key_of[future.key]
            try:
                result = future.result()
            except Exception as exc:  # the worker died (NEURON crash, memory): that neuron fails
                task = tasks[todo[key][0]]
                result = NeuronThreshold(key=key, label=task.label, status=f"failed: {type(exc).__name__}",
                                         message=f"{task.label}: the Dask task failed: {exc}")
            yield store(key, result)
        return results
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            dask_client.cancel(pending)
        if owned:
            dask_client.close()
            if cluster is not None:
                cluster.close()


def run_thresholds(tasks: Sequence[ThresholdTask], *, client=None, scheduler_address: str | None = None,
                   processes: bool = True, n_workers: int | None = None, cache_dir=None,
                   progress: ProgressCallback | None = None) -> list[NeuronThreshold]:
    """Activation thresholds of ``tasks``, in parallel, cached (module docstring).

    Default: a ``distributed.LocalCluster`` of ``n_workers`` processes (default: this process's
    CPUs, at most one per task), one thread each, started and closed here. ``scheduler_address``:
    a running Dask scheduler (``"tcp://host:8786"``); ``client``: an existing
    ``distributed.Client`` (left open). ``processes=False`` (and no cluster given): one task after
    the other in this process. ``cache_dir``: where each finished task is stored (resumable).
    ``progress(fraction, message)``: called after each neuron. Returns one :class:`NeuronThreshold`
    per task, in order; bad tasks have an error status and never stop the run.
    """
    return run_to_completion(iter_run_thresholds(tasks, client=client, scheduler_address=scheduler_address,
                                                 processes=processes, n_workers=n_workers,
                                                 cache_dir=cache_dir), progress)

