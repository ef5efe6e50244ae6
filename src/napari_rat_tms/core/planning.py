"""Plan a placement for a target: the reduced field of a head model over a region of the scalp,
then the optimiser, then the optimum checked with the full model (issue 22). One frozen
:class:`PlanSettings` travels from the CLI (``rat-tms optimise``) or the E-field dock to here and
into the written result.

Units: millimetres and degrees in the settings and the files (the viewer's), SI inside the models.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .conventions import SEED_DIDT_A_PER_US, m_to_mm
from .fields.reduced import (ReducedField, ReducedFieldSettings, iter_build_reduced_field, load_reduced_field,
                             reduced_cache_key, save_reduced_field)
from .placement.grid import SEED_GRID_EXTENT_MM
from .placement.optimise import (OBJECTIVES, OptimisationError, OptimisedPlacement, PlacementObjective,
                                 cortex_under_openings, iter_optimise_placement, target_vertices)
from .placement.region import ScalpRegion
from .progress import forward

__all__ = ["PlanSettings", "PlacementPlan", "iter_plan_placement", "write_plan", "wanted_direction",
           "cortex_point_at", "reduced_region", "iter_model_reduced_field", "existing_plan_files", "PLAN_FILE",
           "PLACEMENT_FILE"]

PLAN_FILE = "optimisation.json"
PLACEMENT_FILE = "optimised_placement.json"


@dataclass(frozen=True)
class PlanSettings:
    """How a placement is planned. ``direction_deg``: for the "direction" objective, the wanted
    current direction at the target, in the target's tangent plane, in degrees from anterior
    (counter-clockwise seen from above, as the coil's orientation); ``extent_mm``: the (AP, ML) size
    of the region searched, centred above the target (default: seed 003's grid plus 2 mm)."""

    objective: str = "magnitude"
    direction_deg: float | None = None
    target_radius_mm: float = 0.0
    extent_mm: tuple[float, float] = (SEED_GRID_EXTENT_MM[0] + 2.0, SEED_GRID_EXTENT_MM[1] + 2.0)
    gap_mm: float = 0.0
    didt_a_per_us: float = SEED_DIDT_A_PER_US
    avoid_openings: bool = False
    avoid_weight: float = 1.0
    keep_out_eyes: bool = False
    keep_out_radius_mm: float = 3.0
    n_training: int = 1000
    n_validation: int = 200
    tolerance: float = 0.005
    seed: int = 0

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise OptimisationError(f"unknown objective {self.objective!r}: one of {', '.join(OBJECTIVES)}")
        if self.objective == "direction" and (self.direction_deg is None or not np.isfinite(self.direction_deg)):
            raise OptimisationError("the 'direction' objective needs the wanted current direction in degrees "
                                    "from anterior (direction_deg, e.g. 0 for posterior-to-anterior current)")
        if not all(np.isfinite(e) and e > 0 for e in self.extent_mm):
            raise OptimisationError(f"the region's extent must be two lengths > 0 mm, got {self.extent_mm!r}")
        if self.n_training < 10 or self.n_validation < 10:
            raise OptimisationError("the reduced field needs at least 10 training and 10 validation placements")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(eq=False)
class PlacementPlan:
    """A plan: the optimum (with baselines), the reduced field it used, the target."""

    result: OptimisedPlacement
    reduced: ReducedField | None
    target_mm: np.ndarray
    settings: PlanSettings
    seconds: dict


def wanted_direction(frame, normal, direction_deg: float) -> np.ndarray:
    """Unit vector in the plane normal to ``normal`` at ``direction_deg`` from the frame's anterior,
    counter-clockwise seen from above (from along ``normal``)."""
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    a = frame.anterior - (frame.anterior @ n) * n
    if np.linalg.norm(a) < 1e-6:
        raise OptimisationError("the cortex faces along the anterior axis here: the direction is undefined")
    a /= np.linalg.norm(a)
    b = np.cross(n, a)
    t = np.radians(direction_deg)
    return np.cos(t) * a + np.sin(t) * b


def cortex_point_at(cortex, frame, ap_mm: float, ml_mm: float, dv_mm: float | None = None,
                    radius_mm: float = 1.0) -> np.ndarray:
    """A cortical point (model frame, mm) at stereotaxic (AP, ML, DV); without DV the dorsal-most
    cortical vertex within ``radius_mm`` of (AP, ML) (the cortex's surface there)."""
    if dv_mm is not None:
        return frame.from_stereotaxic([ml_mm, ap_mm, dv_mm])
    v = m_to_mm(cortex.vertices_m)
    st = frame.to_stereotaxic(v)
    near = np.flatnonzero(np.hypot(st[:, 0] - ml_mm, st[:, 1] - ap_mm) <= radius_mm)
    if not len(near):
        raise OptimisationError(f"no cortex under AP {ap_mm:+.1f}, ML {ml_mm:+.1f} mm (within {radius_mm:g} mm): "
                                "check the target's coordinates (mm from bregma)")
    return v[near[np.argmax(st[near, 2])]]


def reduced_region(surfaces, frame, margin_mm: float = 2.0) -> ScalpRegion:
    """The region of the scalp a head model's reduced field is built for: above the dorsal half of the
    cortex (the AP x ML box of its vertices above their median DV), plus ``margin_mm`` on each side."""
    st = frame.to_stereotaxic(m_to_mm(surfaces["cortex"].vertices_m))
    dorsal = st[st[:, 2] >= np.median(st[:, 2])]
    low = np.array([dorsal[:, 1].min(), dorsal[:, 0].min()]) - margin_mm
    high = np.array([dorsal[:, 1].max(), dorsal[:, 0].max()]) + margin_mm
    return ScalpRegion(surfaces["body"], frame, tuple(((low + high) / 2).tolist()), tuple((high - low).tolist()))


def iter_model_reduced_field(solver, surfaces, frame, coil, settings: PlanSettings, *, cache_dir=None):
    """The reduced field of a BEM model for ``coil`` over :func:`reduced_region` (placements drawn at
    random: ``settings.n_training`` for the basis, ``settings.n_validation`` for its rank and bound,
    gaps from ``settings.gap_mm`` to 2 mm more). Built once per model and coil: read from
    ``cache_dir`` when it was saved there (same model, coil, region and settings), else built and
    saved. A generator of ``(fraction, message)``; returns the :class:`ReducedField`."""
    region = reduced_region(surfaces, frame)
    build_settings = ReducedFieldSettings(tolerance=settings.tolerance)
    region_key = (*region.bounds_ap_ml_mm.ravel(), *frame.origin_mm, *frame.anterior, *frame.dorsal,
                  settings.gap_mm, settings.didt_a_per_us)
    key = reduced_cache_key(solver, coil, region_key, build_settings, settings.n_training, settings.n_validation,
                            settings.seed)
    path = None if cache_dir is None else Path(cache_dir) / f"reduced-{key[:24]}.npz"
    if path is not None:
        cached = load_reduced_field(path, solver, key)
        if cached is not None:
            yield 1.0, f"read the reduced field from {path}"
            return cached
    start = time.perf_counter()
    yield 0.0, (f"random placements over AP {region.bounds_ap_ml_mm[0][0]:+.1f}..{region.bounds_ap_ml_mm[1][0]:+.1f}, "
                f"ML {region.bounds_ap_ml_mm[0][1]:+.1f}..{region.bounds_ap_ml_mm[1][1]:+.1f} mm")
    rng = np.random.default_rng(settings.seed)
    gaps = (settings.gap_mm, settings.gap_mm + 2.0)
    training = region.random_placements(coil, settings.n_training, rng, gaps, settings.didt_a_per_us)
    validation = region.random_placements(coil, settings.n_validation, rng, gaps, settings.didt_a_per_us)
    yield 0.2, "building the reduced field"
    build = iter_build_reduced_field(solver, [p.place(coil) for p in training], [p.place(coil) for p in validation],
                                     build_settings)
    reduced = yield from forward(build, 0.2, 0.8)
    reduced.info["region_bounds_ap_ml_mm"] = region.bounds_ap_ml_mm.tolist()
    reduced.info["seconds_with_placements"] = time.perf_counter() - start
    if path is not None:
        try:
            save_reduced_field(path, reduced, key)
        except OSError as err:      # a read-only folder: the plan goes on, the next one builds it again
            warnings.warn(f"the reduced field could not be kept in {path.parent} ({err}); it will be built "
                          "again next time", RuntimeWarning, stacklevel=2)
    return reduced


def iter_plan_placement(solver, surfaces, frame, coil, target_mm, settings: PlanSettings, *, grid=None,
                        reduced: ReducedField | None = None, cache_dir=None):
    """Plan a placement for ``target_mm`` (model frame, mm; the nearest cortical vertices) with the full
    model ``solver`` (a :class:`..bem.solver.TmsBemSolver` at the cortex's vertices; the sphere model is
    searched directly). ``reduced``: the model's reduced field (:func:`iter_model_reduced_field`; built,
    or read from ``cache_dir``, when not given). The search region is ``settings.extent_mm`` centred
    above the target, within the reduced field's region. A generator of ``(fraction, message)``;
    returns a :class:`PlacementPlan`."""
    cortex, scalp = surfaces["cortex"], surfaces["body"]
    seconds = {}
    target = target_vertices(cortex, target_mm, settings.target_radius_mm)
    target_point = m_to_mm(cortex.vertices_m[target]).mean(axis=0)
    ml, ap, _ = frame.to_stereotaxic(target_point)
    direction = None
    if settings.objective == "direction":
        normal = cortex.vertex_normals[target].mean(axis=0)
        direction = tuple(wanted_direction(frame, normal, settings.direction_deg).tolist())
    avoid = ()
    if settings.avoid_openings:
        skull = surfaces.get("skull without spine", surfaces.get("skull"))
        if skull is None:
            raise OptimisationError("avoiding the openings' hot spots needs the skull surface: mesh the skull")
        yield 0.0, "finding the cortex under the skull's openings"
        avoid = tuple(np.flatnonzero(cortex_under_openings(cortex, skull)).tolist())
    keep_out = ()
    if settings.keep_out_eyes:
        eyes = surfaces.get("eyes")
        if eyes is None:
            raise OptimisationError("keeping the coil off the eyes needs the eyes' surface: mesh the eyes")
        keep_out = tuple(tuple(c) for c in _component_centres_mm(eyes))
    objective = PlacementObjective(tuple(int(i) for i in target), settings.objective, direction,
                                   avoid=avoid, avoid_weight=settings.avoid_weight, keep_out_mm=keep_out,
                                   keep_out_radius_mm=settings.keep_out_radius_mm, gap_mm=settings.gap_mm,
                                   didt_a_per_us=settings.didt_a_per_us)
    model = solver
    if hasattr(solver, "transfer") and reduced is None:
        start = time.perf_counter()
        reduced = yield from forward(iter_model_reduced_field(solver, surfaces, frame, coil, settings,
                                                             cache_dir=cache_dir), 0.05, 0.45)
        seconds["reduced_field"] = time.perf_counter() - start
    low = np.array([ap, ml]) - 0.5 * np.asarray(settings.extent_mm, float)
    high = np.array([ap, ml]) + 0.5 * np.asarray(settings.extent_mm, float)
    if reduced is not None:
        model = reduced
        bounds = reduced.info.get("region_bounds_ap_ml_mm")
        if bounds is not None:       # where the reduced field answers (outside: the full path, slow)
            low, high = np.maximum(low, bounds[0]), np.minimum(high, bounds[1])
            if np.any(high <= low):
                raise OptimisationError(f"the target at {frame.describe(target_point)} lies outside the region "
                                        "of the scalp the reduced field covers (above the dorsal cortex)")
    region = ScalpRegion(scalp, frame, tuple(((low + high) / 2).tolist()), tuple((high - low).tolist()))
    start = time.perf_counter()
    result = yield from forward(iter_optimise_placement(model, region, cortex, coil, objective,
                                                        reference=solver if model is not solver else None,
                                                        grid=grid), 0.5, 0.5)
    seconds["optimisation"] = time.perf_counter() - start
    return PlacementPlan(result, reduced, target_point, settings, seconds)


def _component_centres_mm(surface) -> list[np.ndarray]:
    """Centroids (mm) of the connected pieces of a surface (the two eyes)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    f = surface.faces
    n = surface.n_vertices
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    count, labels = connected_components(graph, directed=False)
    v = m_to_mm(surface.vertices_m)
    return [v[labels == k].mean(axis=0) for k in range(count)]


def existing_plan_files(folder) -> list[Path]:
    """The files :func:`write_plan` would replace in ``folder`` (to refuse before any work)."""
    return [p for p in (Path(folder) / PLAN_FILE, Path(folder) / PLACEMENT_FILE) if p.exists()]


def write_plan(folder, plan: PlacementPlan, frame, coil_source, coil_name: str, *, overwrite: bool = False) -> list[Path]:
    """Write ``optimisation.json`` (the optimum, its scores beside the grid's best and line navigation,
    the reduced field's rank and bound, the settings) and ``optimised_placement.json`` (a placement
    file the Coil placement dock loads) into ``folder``. Refuses to replace files unless ``overwrite``."""
    from .files import atomic_write
    from .placement.coil_on_scalp import placement_record

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    targets = [folder / PLAN_FILE, folder / PLACEMENT_FILE]
    existing = existing_plan_files(folder)
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(str(p) for p in existing)} exist(s): pass overwrite (--overwrite) to "
                              "replace, or choose another folder (nothing was written)")
    r = plan.result
    reduced = plan.reduced
    content = {
        "format": "napari-rat-tms placement optimisation", "version": 1,
        "target_mm": plan.target_mm.tolist(), "target": frame.describe(plan.target_mm),
        "settings": plan.settings.to_dict(), **r.to_dict(),
        "optimum": frame.describe(r.placement.scalp_point_mm)
                   + f", orientation {r.placement.orientation_deg % 360:.1f} deg",
        "reduced_field": None if reduced is None else {
            "rank": reduced.rank, "measurement_points": reduced.n_measure_points, "bound": reduced.bound,
            "validation_median_re": reduced.info["validation_median_re"],
            "validation_max_re": reduced.info["validation_max_re"],
            "n_training": reduced.info["n_training"], "n_validation": reduced.info["n_validation"],
            "region_bounds_ap_ml_mm": reduced.info.get("region_bounds_ap_ml_mm"),
            "from_cache": bool(reduced.info.get("from_cache", False)), "fallbacks": reduced.n_fallbacks},
        "seconds": plan.seconds,
    }
    record = placement_record(r.placement, frame, coil_source, coil_name)
    for path, value in zip(targets, (content, record)):
        atomic_write(path, True, lambda tmp, v=value: Path(tmp).write_text(json.dumps(v, indent=2, default=float)))
    return targets
