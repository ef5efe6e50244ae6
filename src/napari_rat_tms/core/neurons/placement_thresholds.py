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
"""

from __future__ import annotations

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
    "CellType",
    "CellTypeThresholds",
    "BALL_AND_STICK",
    "MORPHOLOGY_SUFFIXES",
    "UNIT_DIDT_A_PER_S",
    "cell_types",
    "neuron_vertices",
    "iter_placement_thresholds",
]

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
            files.extend(sorted(p for p in path.iterdir()
                                if p.is_file() and p.suffix.lower() in MORPHOLOGY_SUFFIXES))
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


@dataclass
class CellTypeThresholds:
    """The thresholds of one cell type for one placement: placements and results in the same order.

    ``dropped``: somas outside the head, left out. ``results``:
    :class:`~.population.NeuronThreshold` (``threshold_amplitude`` in A/us).
    """

    name: str
    layer: str
    placements: list
    results: list
    pulse: str
    model: str
    dropped: int = 0

    @property
    def thresholds_a_per_us(self) -> np.ndarray:
        """(N,) threshold dI/dt (A/us); NaN for neurons without one."""
        return np.array([r.threshold_amplitude if r.ok and r.threshold_amplitude is not None else np.nan
                         for r in self.results], dtype=float)

    @property
    def thresholds_pct_mso(self) -> np.ndarray:
        """(N,) thresholds in % of :data:`~napari_rat_tms.core.coils.MC_B35_MAX_DIDT_A_PER_US`."""
        return 100.0 * self.thresholds_a_per_us / MC_B35_MAX_DIDT_A_PER_US

    def activated_fraction(self, didt_a_per_us: float) -> float | None:
        """Fraction of the neurons activated at ``didt_a_per_us``: threshold at most that. Counted:
        neurons with a threshold or not bracketed (no threshold in the search range); those outside
        the field or failed are not. None when there are none."""
        counted = [r for r in self.results if r.ok or r.status == "not bracketed"]
        if not counted:
            return None
        return sum(1 for r in counted if r.ok and r.threshold_amplitude <= didt_a_per_us) / len(counted)


def iter_placement_thresholds(conductor, coil, cortex, cells: Sequence[CellType], vertices, *,
                              azimuths_rad=None, pulse: str = "monophasic", processes: bool = False,
                              cache_dir: Path | None = None, model: str = "", client=None,
                              scheduler_address: str | None = None, threshold_kwargs: dict | None = None):
    """Thresholds of ``cells`` at the cortex ``vertices`` for one coil placement (module docstring).

    ``conductor``: the head model's :class:`~napari_rat_tms.core.bem.conductor.VolumeConductor`;
    ``coil``: the placed :class:`~napari_rat_tms.core.coils.dipoles.CoilDipoles` (same frame,
    metres); ``cortex``: the cortex ``TriangleSurface`` (same frame); ``vertices``: cortex vertex
    indices, one neuron per vertex and cell type; ``azimuths_rad``: the rotation of each about its
    axis. ``processes``/``client``/``scheduler_address``/``cache_dir``: as
    :func:`.population.iter_run_thresholds`. ``model``: a name recorded in the results.
    """
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
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                placements = place_neurons(cortex, cell.layer, vertices=vertices, azimuths_rad=azimuths_rad,
                                           inside=inside)
            dropped = len(vertices) - len(placements)
            if not placements:
                yield "failed", cell.name, (f"every soma ({len(vertices)}) lies outside the head at "
                                            f"{cell.layer} depth")
                continue
            points = compartment_points(cell.spec, placements, inside=inside)
            evaluate = points.points_to_evaluate
            efield = np.zeros((0, 3))
            if len(evaluate):
                what = "solving the BEM for this placement, then " if not placement_field.solved else ""
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")   # points near a boundary: less accurate, not wrong
                    efield = yield from forward(
                        placement_field.iter_at(evaluate), start, 0.3 * span,
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
