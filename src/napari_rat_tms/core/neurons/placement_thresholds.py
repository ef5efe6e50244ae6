"""Threshold maps of one coil placement: neurons of several cell types in a head model's cortex.

What the Neuron thresholds dock computes (issue 8, build item 5), usable from scripts and
benchmarks:

1. each cell type's neurons are placed on the cortex (:func:`.cortex.place_neurons`: soma at the
   layer's depth along the inward normal, somatodendritic axis along the outward normal, a rotation
   about it); somas outside the head are left out;
2. the E-field at every compartment of every neuron of **all** cell types comes from ONE BEM solve
   of the placement (:class:`~napari_rat_tms.core.bem.points_field.PlacementField`), at dI/dt = 1
   A/us, so that the threshold amplitude of the engine (a multiplier of the field it is given) is
   the threshold dI/dt in **A/us**;
3. thresholds by :func:`.population.iter_run_thresholds` (in this process, or on Dask; cached).

:func:`iter_placement_thresholds` follows the package's progress convention with tagged items:
``("progress", fraction, message)``, then per cell type ``("cell", CellTypeThresholds)`` or
``("failed", name, message)`` (a cell type that cannot be placed or built does not stop the others).

**Fast estimates** instead of NEURON (:func:`iter_placement_thresholds` with ``method``):

* ``"uniform-field"``: the uniform-field estimator of seed 000 (:mod:`.direction_map`): each cell
  type's threshold-versus-direction map, computed once with NEURON (7 polar x 6 azimuthal
  directions, 32 thresholds; minutes for a reconstructed cell) and cached on disk
  (:func:`direction_map_for`), applied with the field at each soma: one field evaluation per neuron;
* ``"cnn"``: the cell type's trained network (:mod:`.cnn`), fed with the 9 x 9 x 9 local field grid
  around each neuron; a cell type without a network falls back to the uniform-field estimate and
  its results say so (``message``).

Their results are :class:`~.population.NeuronThreshold` like NEURON's, with ``message`` naming the
method; a neuron whose map has no threshold in its direction is ``"not bracketed"``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..coils import MC_B35_MAX_DIDT_A_PER_US
from ..errors import RatTmsError
from ..meshes.sampling import spread_indices
from ..progress import forward
from .population import CellSpec

__all__ = [
    "GOLDEN_ANGLE_RAD",
    "golden_angle_azimuths",
    "nearest_neuron_map",
    "CellType",
    "CellTypeThresholds",
    "BALL_AND_STICK",
    "MORPHOLOGY_SUFFIXES",
    "UNIT_DIDT_A_PER_S",
    "cell_types",
    "morphology_files",
    "neuron_vertices",
    "iter_placement_thresholds",
    "METHODS",
    "direction_map_for",
    "iter_direction_map_for",
]

#: How thresholds are obtained: NEURON (ground truth) or one of the fast estimators.
METHODS = ("neuron", "uniform-field", "cnn")
#: Direction grid of the dock's uniform-field maps (polar angles incl. the poles x azimuths).
MAP_POLAR, MAP_AZIMUTH = 7, 6

#: dI/dt (A/s) of the field given to the engine: 1 A/us, so that thresholds are in A/us.
UNIT_DIDT_A_PER_S = 1e6
#: The name of the simplified cell type.
BALL_AND_STICK = "ball-and-stick"
MORPHOLOGY_SUFFIXES = (".asc", ".swc")

_USER_ERRORS = (RatTmsError, ValueError, OSError)


@dataclass(frozen=True)
class CellType:
    """A cell model and the cortical layer its somas sit in (``layer_known``: the layer came from
    the file name; otherwise L5 depth is used)."""

    name: str
    spec: CellSpec
    layer: str
    layer_known: bool = True


def morphology_files(folder) -> list[Path]:
    """The ``.asc``/``.swc`` files of ``folder``, sorted (none when it is not a folder)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MORPHOLOGY_SUFFIXES)


def cell_types(morphologies: Sequence = (), *, ball_and_stick: bool = True,
               channels: str = "reduced") -> list[CellType]:
    """The ball-and-stick cell (L5 depth) and one cell type per ``.asc``/``.swc`` file, at the depth
    of the layer its name gives (:func:`.cortex.layer_of_cell`, e.g. ``L23_PC_...`` -> L2/3; L5 when
    the name has none, with ``layer_known=False``). A folder is expanded to its morphology files.
    ``channels``: the channel set of every cell (:data:`.cells.CHANNEL_SETS`)."""
    from .cells import CHANNEL_SETS
    from .cortex import layer_of_cell

    if channels not in CHANNEL_SETS:
        raise ValueError(f"channels must be one of {CHANNEL_SETS}, got {channels!r}")
    # the default set is left implicit, so that its specs (and cached thresholds) stay as before
    kwargs = {} if channels == "reduced" else {"biophysics": {"channels": channels}}
    out = []
    if ball_and_stick:
        out.append(CellType(BALL_AND_STICK, CellSpec("ball_and_stick", kwargs=kwargs), "L5"))
    files = []
    for item in morphologies:
        path = Path(item).expanduser()
        if path.is_dir():
            files.extend(morphology_files(path))
        else:
            files.append(path)
    for path in files:
        try:
            layer, known = layer_of_cell(path.stem), True
        except ValueError:
            layer, known = "L5", False
        out.append(CellType(path.stem, CellSpec("morphology", path=str(path), kwargs=kwargs), layer, known))
    return out


def neuron_vertices(cortex, n: int, *, efield_norm=None, min_fraction_of_peak: float | None = None
                    ) -> np.ndarray:
    """Cortex vertex indices for ``n`` neurons, spread evenly (farthest-point sampling).

    Over the whole cortex by default; with ``efield_norm`` ((V,) |E| at the vertices) and
    ``min_fraction_of_peak`` (e.g. 0.5), only over the vertices where |E| is at least that fraction of
    its maximum: the neurons under the coil, where thresholds are lowest.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    candidates = np.arange(cortex.n_vertices)
    if min_fraction_of_peak is not None:
        if efield_norm is None:
            raise ValueError("min_fraction_of_peak needs efield_norm (|E| at the cortex vertices)")
        norm = np.asarray(efield_norm, dtype=float).reshape(-1)
        if norm.shape != (cortex.n_vertices,):
            raise ValueError(f"efield_norm has {norm.size} values for {cortex.n_vertices} cortex vertices")
        if not (0.0 <= min_fraction_of_peak <= 1.0):
            raise ValueError(f"min_fraction_of_peak must be in [0, 1], got {min_fraction_of_peak!r}")
        peak = np.nanmax(norm)
        candidates = np.flatnonzero(norm >= min_fraction_of_peak * peak)
        # start the farthest-point sampling at the maximum
        candidates = np.concatenate([[int(np.nanargmax(norm))], candidates[candidates != np.nanargmax(norm)]])
    chosen = candidates[spread_indices(cortex.vertices_m[candidates], int(n))]
    return np.sort(chosen)


#: The golden angle (rad): successive neurons turned by it about their somatodendritic axis cover
#: the azimuths evenly for any number of neurons (Vogel 1979's phyllotaxis).
GOLDEN_ANGLE_RAD = math.pi * (3.0 - math.sqrt(5.0))


def golden_angle_azimuths(n: int) -> np.ndarray:
    """(n,) azimuths (rad, in [0, 2 pi)) of ``n`` neurons about their somatodendritic axes: the
    k-th turned by k golden angles, so that any first few are spread over the circle."""
    return np.mod(GOLDEN_ANGLE_RAD * np.arange(int(n)), 2.0 * np.pi)


def nearest_neuron_map(vertices_m, neuron_vertices_idx, values) -> np.ndarray:
    """Per vertex of a surface (``vertices_m``, (V, 3) m): the value of the nearest neuron's vertex
    (``neuron_vertices_idx``, (N,) indices into ``vertices_m``; ``values``, (N,)): the
    nearest-neighbour interpolation of a few neurons' thresholds over the cortex. Values may be NaN
    (no threshold); they stay NaN on the vertices they are nearest to."""
    from scipy.spatial import cKDTree

    vertices_m = np.asarray(vertices_m, dtype=float)
    index = np.asarray(neuron_vertices_idx, dtype=np.int64).reshape(-1)
    values = np.asarray(values, dtype=float).reshape(-1)
    if len(index) != len(values) or len(index) == 0:
        raise ValueError(f"{len(values)} values for {len(index)} neuron vertices (need the same, at least one)")
    _, nearest = cKDTree(vertices_m[index]).query(vertices_m)
    return values[nearest]


@dataclass
class CellTypeThresholds:
    """The thresholds of one cell type for one placement: placements and results in the same order.

    ``dropped``: somas outside the head, left out; ``method``: how the thresholds were obtained
    (:data:`METHODS`); ``note``: for an estimate, what it rests on (the network's held-out error, or
    why the CNN fell back to the uniform-field estimate), also in each result's message. ``results``:
    :class:`~.population.NeuronThreshold` (``threshold_amplitude`` in A/us).
    """

    name: str
    layer: str
    placements: list
    results: list
    pulse: str
    model: str
    dropped: int = 0
    method: str = "neuron"
    note: str = ""

    @property
    def thresholds_a_per_us(self) -> np.ndarray:
        """(N,) threshold dI/dt (A/us); NaN for neurons without one."""
        return np.array([r.threshold_amplitude if r.ok and r.threshold_amplitude is not None else np.nan
                         for r in self.results], dtype=float)

    @property
    def thresholds_pct_mso(self) -> np.ndarray:
        """(N,) thresholds in % of :data:`~napari_rat_tms.core.coils.MC_B35_MAX_DIDT_A_PER_US`."""
        return 100.0 * self.thresholds_a_per_us / MC_B35_MAX_DIDT_A_PER_US

    def threshold_map(self, cortex, units: str = "A/µs") -> np.ndarray:
        """(V,) per cortex vertex: the threshold of the nearest computed neuron's vertex
        (:func:`nearest_neuron_map`), in ``units`` "A/µs" (or "A/us") or "% MSO"; NaN where that
        neuron has none."""
        if units not in ("A/µs", "A/us", "% MSO"):
            raise ValueError(f"units must be 'A/µs' or '% MSO', got {units!r}")
        values = self.thresholds_pct_mso if units == "% MSO" else self.thresholds_a_per_us
        return nearest_neuron_map(cortex.vertices_m, [p.vertex for p in self.placements], values)

    def activated_fraction(self, didt_a_per_us: float) -> float | None:
        """Fraction of the neurons activated at ``didt_a_per_us``: threshold at most that. Counted:
        neurons with a threshold or not bracketed (no threshold in the search range); those outside
        the field or failed are not. None when there are none."""
        counted = [r for r in self.results if r.ok or r.status == "not bracketed"]
        if not counted:
            return None
        return sum(1 for r in counted if r.ok and r.threshold_amplitude <= didt_a_per_us) / len(counted)


def _map_key(spec: CellSpec, pulse) -> str:
    import hashlib
    import json

    from .population import resolve_pulse, package_versions

    pulse = resolve_pulse(pulse)
    payload = {"cell": spec.key_dict(), "pulse": pulse.metadata(), "grid": [MAP_POLAR, MAP_AZIMUTH],
               "rel_tol": 0.01, "versions": list(package_versions())}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def iter_direction_map_for(spec: CellSpec, pulse="monophasic", *, cache_dir: Path | None = None):
    """The uniform-field direction map of ``spec`` (a ``(fraction, message)`` generator returning a
    :class:`.direction_map.DirectionMap`): read from ``cache_dir`` when it was computed before for
    the same cell (its file's SHA-256), pulse and package version, else computed with NEURON in this
    process (``MAP_POLAR`` x ``MAP_AZIMUTH`` directions, 1 %) and written there."""
    from .direction_map import direction_map_steps, load_direction_map
    from .population import NEURON_LOCK, cell_for_spec, resolve_pulse

    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "direction_maps" / f"{_map_key(spec, pulse)}.npz"
        if path.is_file():
            try:
                return load_direction_map(path)
            except ValueError:
                pass                                 # unreadable: computed again
    with NEURON_LOCK:
        cell = cell_for_spec(spec)
        dmap = yield from direction_map_steps(cell, resolve_pulse(pulse), n_polar=MAP_POLAR,
                                              n_azimuth=MAP_AZIMUTH, rel_tol=0.01)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.npz")
        dmap.save(tmp)
        tmp.replace(path)
    return dmap


def direction_map_for(spec: CellSpec, pulse="monophasic", *, cache_dir: Path | None = None):
    """Blocking form of :func:`iter_direction_map_for`."""
    from ..progress import run_to_completion

    return run_to_completion(iter_direction_map_for(spec, pulse, cache_dir=cache_dir))


def _estimated_results(cell: CellType, placements, amplitudes, method: str, note: str) -> list:
    from .population import NeuronThreshold

    out = []
    for p, a in zip(placements, np.asarray(amplitudes, float)):
        label = f"{cell.name} at {p.label()}"
        if np.isnan(a):
            out.append(NeuronThreshold(key="", label=label, status="outside field", cell_name=cell.name,
                                       message=f"{method} estimate: no finite field at the soma"))
        elif np.isfinite(a) and a > 0:
            out.append(NeuronThreshold(key="", label=label, status="ok", message=f"{method} estimate{note}",
                                       cell_name=cell.name, threshold_amplitude=float(a)))
        else:
            out.append(NeuronThreshold(key="", label=label, status="not bracketed", cell_name=cell.name,
                                       message=f"{method} estimate: no threshold in this field direction"))
    return out


def iter_placement_thresholds(conductor, coil, cortex, cells: Sequence[CellType], vertices, *,
                              azimuths_rad=None, pulse: str = "monophasic", processes: bool = False,
                              cache_dir: Path | None = None, model: str = "", client=None,
                              scheduler_address: str | None = None, threshold_kwargs: dict | None = None,
                              method: str = "neuron", estimator=None):
    """Thresholds of ``cells`` at the cortex ``vertices`` for one coil placement (module docstring).

    ``conductor``: the head model's :class:`~napari_rat_tms.core.bem.conductor.VolumeConductor`;
    ``coil``: the placed :class:`~napari_rat_tms.core.coils.dipoles.CoilDipoles` (same frame,
    metres); ``cortex``: the cortex ``TriangleSurface`` (same frame); ``vertices``: cortex vertex
    indices, one neuron per vertex and cell type; ``azimuths_rad``: the rotation of each about its
    axis. ``processes``/``client``/``scheduler_address``/``cache_dir``: as
    :func:`.population.iter_run_thresholds` (``cache_dir`` also keeps the direction maps).
    ``model``: a name recorded in the results. ``method``: one of :data:`METHODS` (module
    docstring); ``estimator``: the :class:`.cnn.CnnThresholdEstimator` of ``"cnn"`` (default: the
    package's shipped networks, :func:`.cnn.shipped_estimator`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    from ..bem.points_field import PlacementField
    from .cortex import place_neurons
    from .population import compartment_points, iter_run_thresholds, tasks_from_field

    cells = list(cells)
    vertices = np.asarray(vertices, dtype=np.int64).reshape(-1)
    placement_field = PlacementField(conductor, coil, UNIT_DIDT_A_PER_S)

    def inside(points):
        return conductor.conductivity_at(np.asarray(points, float).reshape(-1, 3)) > 0

    n = max(1, len(cells))
    for i, cell in enumerate(cells):
        start, span = i / n, 1.0 / n
        prefix = f"{cell.name} ({i + 1}/{n})"
        try:
            yield "progress", start, f"{prefix}: placing {len(vertices)} neurons at {cell.layer} depth"
            # somas outside the tissue are left out and counted in the result (``dropped``)
            placements = place_neurons(cortex, cell.layer, vertices=vertices, azimuths_rad=azimuths_rad,
                                       inside=inside, on_outside="ignore")
            dropped = len(vertices) - len(placements)
            if not placements:
                yield "failed", cell.name, (f"every soma ({len(vertices)}) lies outside the head at "
                                            f"{cell.layer} depth")
                continue
            if method != "neuron":
                results, note = yield from _iter_estimates(cell, placements, placement_field, inside, method,
                                                           estimator, pulse, cache_dir, start, span, prefix)
                yield "cell", CellTypeThresholds(cell.name, cell.layer, placements, results, str(pulse),
                                                 model, dropped, method, note)
                continue
            points = compartment_points(cell.spec, placements, inside=inside)
            evaluate = points.points_to_evaluate
            efield = np.zeros((0, 3))
            if len(evaluate):
                what = "solving the BEM for this placement, then " if not placement_field.solved else ""
                # compartments near a boundary: less accurate, not wrong (dendrites reach the bone)
                efield = yield from forward(
                    placement_field.iter_at(evaluate, on_near_surface="ignore"), start, 0.3 * span,
                    f"{prefix}: {what}E-field at {len(evaluate)} compartments: ", tag="progress")
            tasks = tasks_from_field(points, efield, pulse, threshold_kwargs=threshold_kwargs)
            # Cancel closes the steps (forward): pending Dask futures are cancelled, the finished cached
            steps = iter_run_thresholds(tasks, processes=processes, cache_dir=cache_dir, client=client,
                                        scheduler_address=scheduler_address)
            results = yield from forward(steps, start + 0.3 * span, 0.7 * span, f"{prefix}: thresholds: ",
                                         tag="progress")
        except _USER_ERRORS as err:
            yield "failed", cell.name, f"{type(err).__name__}: {err}"
            continue
        yield "cell", CellTypeThresholds(cell.name, cell.layer, placements, results, str(pulse), model,
                                         dropped)


def _trained_on_other_cell(estimator, cell: CellType) -> str:
    """Why the estimator's network named like ``cell`` does not apply to its cell model (its card
    records the cell spec it was trained on: kind, builder arguments, the morphology file's SHA-256),
    or "" when it applies (or has no record, or there is no such network)."""
    if not estimator.has_network(cell.name):
        return ""
    trained = estimator.models[cell.name][1].get("data", {}).get("cell")
    if not trained:
        return ""
    here = cell.spec.key_dict()
    for key, what in (("kind", "cell kind"), ("kwargs", "cell arguments (e.g. the channel set)"),
                      ("file_sha256", "morphology file content")):
        if trained.get(key) != here.get(key):
            return f"different {what}"
    return ""


def _iter_estimates(cell, placements, placement_field, inside, method, estimator, pulse, cache_dir, start,
                    span, prefix):
    """The fast estimates of one cell type's neurons (module docstring); returns ``(results, note)``.

    The CNN runs only where a network applies to the cell model; otherwise (and for
    ``"uniform-field"``) the direction map, computed or read once, is applied to the field at the
    somas: neither the map nor the local grids are computed where they are not used."""
    from .direction_map import estimate

    def field_fn(points):
        return placement_field.at(points, on_near_surface="ignore")   # local grids reach the bone

    note = ""
    if method == "cnn":
        if estimator is None:
            from .cnn import shipped_estimator

            estimator = shipped_estimator()
        reason = _trained_on_other_cell(estimator, cell)
        if estimator.has_network(cell.name) and not reason:
            yield "progress", start, f"{prefix}: local fields of {len(placements)} neurons (CNN)"
            from .cnn import CnnFallbackWarning

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CnnFallbackWarning)   # its note goes into every result
                result = estimator.estimate(cell.name, placements, field_fn, inside=inside)
            test = estimator.models[cell.name][1].get("metrics", {}).get("test", {})
            if test.get("mape_percent") is not None:
                note = (f" (network's error on held-out data: MAPE {test['mape_percent']:.1f} %, "
                        f"{test.get('n')} neurons)")
            results = _estimated_results(cell, placements, result.threshold_amplitude, "cnn", note)
            if result.out_of_range is not None and result.out_of_range.any():
                # no direction map here (the network applies): those neurons have no estimate, and say why
                for k in np.flatnonzero(result.out_of_range):
                    results[k] = dataclasses.replace(
                        results[k], status="failed: local field outside the CNN's training range",
                        message=result.note, threshold_amplitude=None)
                note += f"; {result.note}"
            return results, note
        # a network of the same name for another cell model must not be used
        why = (f"the network named {cell.name!r} was trained on another one, {reason}" if reason else
               f"networks: {', '.join(sorted(estimator.models)) or 'none'}")
        note = f" (no trained CNN for this cell model: {why}; uniform-field estimate)"
    dmap = yield from forward(iter_direction_map_for(cell.spec, pulse, cache_dir=cache_dir), start,
                              0.6 * span, f"{prefix}: uniform-field map (once per cell type): ",
                              tag="progress")
    yield "progress", start + 0.6 * span, f"{prefix}: the field at {len(placements)} somas"
    somas = np.array([p.soma_m for p in placements], dtype=float).reshape(-1, 3)
    e_head = field_fn(somas)
    e_cell = np.einsum("kij,ki->kj", np.array([p.rotation_matrix for p in placements]), e_head)
    amplitudes = np.atleast_1d(estimate(dmap, e_cell))
    return _estimated_results(cell, placements, amplitudes, "uniform-field", note), note
