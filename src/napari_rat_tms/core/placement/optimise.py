"""Find the coil placement that best stimulates a cortical target (issue 22; seed 003's "future work":
placements that avoid the hot spots skull openings create).

The placement is three continuous numbers, ``(AP, ML, orientation)``: the coil touches the scalp
(plus a fixed gap) at the point under stereotaxic (AP, ML) with its axis along the inward scalp
normal (no tilt: :class:`.region.ScalpRegion`), turned ``orientation`` degrees from anterior.
Constraints: (AP, ML) inside the region; keep-out points (e.g. the eyes' centres, for the orbits):
the coil's centre at least ``keep_out_radius_mm`` from each.

Objectives (maximised; the target is a set of cortical vertices, its values area-weighted means):

* ``"magnitude"``: mean |E| at the target (V/m);
* ``"direction"``: mean E . d at the target, d a unit vector (the current direction wanted; V/m);
* ``"focality"``: mean |E| at the target over the largest |E| on the cortex farther than
  ``exclusion_mm`` from it (dimensionless; > 1: the target is the hottest place).

``avoid`` (vertex mask, e.g. the cortex under the skull's openings: :func:`cortex_under_openings`)
penalises hot spots there: the objective minus ``avoid_weight`` x the largest |E| on those vertices
(for focality: the ratio with that |E| in the denominator too).

Search: every position of a grid over the region (``coarse_step_mm``) at ``coarse_orientations``,
evaluated in batches, then a Nelder-Mead simplex (Nelder & Mead 1965, scipy) from the best
``n_starts`` distinct candidates. The fields come from any model with ``efield_batch`` (a
:class:`..fields.reduced.ReducedField` makes a search of thousands of placements take seconds); the
optimum's field is recomputed with ``reference`` (the full model) when given. Two baselines are
scored the same way: the best of seed 003's grid placements (:mod:`.grid`) and line navigation
(the coil whose axis passes nearest to the target, turned to its best orientation: line navigation's
best case).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from ..coils.dipoles import CoilDipoles
from ..conventions import SEED_DIDT_A_PER_US, m_to_mm
from ..errors import RatTmsError
from ..meshes.surface import TriangleSurface
from .coil_on_scalp import CoilPlacement, CoilPlacementError, lift_onto_scalp
from .region import ScalpRegion

__all__ = ["PlacementObjective", "OptimisedPlacement", "optimise_placement", "iter_optimise_placement",
           "target_vertices", "cortex_under_openings", "OBJECTIVES", "OptimisationError"]

OBJECTIVES = ("magnitude", "direction", "focality")


class OptimisationError(RatTmsError, ValueError):
    """A target, objective or constraint the optimiser cannot work with (the message says why)."""


def target_vertices(cortex: TriangleSurface, point_mm, radius_mm: float = 0.0) -> np.ndarray:
    """Indices of the cortical vertices within ``radius_mm`` of ``point_mm`` (model frame; the nearest
    vertex when none is that close, or when ``radius_mm`` is 0)."""
    v = m_to_mm(cortex.vertices_m)
    d = np.linalg.norm(v - np.asarray(point_mm, float).reshape(3), axis=1)
    near = np.flatnonzero(d <= radius_mm)
    return near if len(near) else np.array([int(np.argmin(d))])


def cortex_under_openings(cortex: TriangleSurface, skull: TriangleSurface, max_mm: float = 10.0) -> np.ndarray:
    """(V,) bool: cortical vertices whose outward normal ray meets no bone within ``max_mm`` (under
    the orbits, the foramen magnum, the skull's edge): where seed 003 found the hot spots."""
    from ..meshes.rays import first_ray_hit

    out = np.zeros(cortex.n_vertices, bool)
    for i, (p, n) in enumerate(zip(cortex.vertices_m, cortex.vertex_normals)):
        out[i] = first_ray_hit(skull, p + 1e-6 * n, n, max_distance=max_mm * 1e-3) is None
    return out


@dataclass(frozen=True)
class PlacementObjective:
    """What the optimiser maximises, and its constraints (see the module docstring)."""

    target: tuple[int, ...]                        # cortical vertex indices
    kind: str = "magnitude"
    direction: tuple[float, float, float] | None = None   # model frame, for "direction"
    exclusion_mm: float = 2.0                     # for "focality"
    avoid: tuple[int, ...] = ()                   # cortical vertices whose |E| is penalised
    avoid_weight: float = 1.0
    keep_out_mm: tuple[tuple[float, float, float], ...] = ()   # points the coil's centre keeps away from
    keep_out_radius_mm: float = 3.0
    gap_mm: float = 0.0
    didt_a_per_us: float = SEED_DIDT_A_PER_US

    def __post_init__(self):
        if self.kind not in OBJECTIVES:
            raise OptimisationError(f"unknown objective {self.kind!r}: one of {', '.join(OBJECTIVES)}")
        if len(self.target) == 0:
            raise OptimisationError("the target holds no cortical vertex: pick a point on the cortex or a "
                                    "region that overlaps it")
        if self.kind == "direction":
            d = np.asarray(self.direction if self.direction is not None else (np.nan,) * 3, float)
            if d.shape != (3,) or not np.all(np.isfinite(d)) or np.linalg.norm(d) == 0:
                raise OptimisationError("the 'direction' objective needs the wanted current direction "
                                        "(a non-zero 3D vector in the model frame)")
            object.__setattr__(self, "direction", tuple((d / np.linalg.norm(d)).tolist()))
        if not (self.gap_mm >= 0 and self.keep_out_radius_mm >= 0 and self.exclusion_mm >= 0):
            raise OptimisationError("gap, keep-out radius and exclusion distance must be >= 0 mm")

    def to_dict(self) -> dict:
        return {"target_vertices": list(map(int, self.target)), "objective": self.kind,
                "direction": None if self.direction is None else list(self.direction),
                "exclusion_mm": self.exclusion_mm, "avoid_vertices": len(self.avoid),
                "avoid_weight": self.avoid_weight, "keep_out_mm": [list(p) for p in self.keep_out_mm],
                "keep_out_radius_mm": self.keep_out_radius_mm, "gap_mm": self.gap_mm,
                "didt_a_per_us": self.didt_a_per_us}


class _Scorer:
    """Objective values of fields (B, P, 3) for one :class:`PlacementObjective` on one cortex."""

    def __init__(self, objective: PlacementObjective, cortex: TriangleSurface):
        self.objective = objective
        self.target = np.asarray(objective.target, int)
        area = cortex.vertex_areas_m2[self.target]
        self.weights = area / area.sum()
        v = m_to_mm(cortex.vertices_m)
        centre = (self.weights[:, None] * v[self.target]).sum(axis=0)
        spread = np.linalg.norm(v[self.target] - centre, axis=1).max()
        far = np.linalg.norm(v - centre, axis=1) > spread + objective.exclusion_mm
        self.elsewhere = np.flatnonzero(far)
        if objective.kind == "focality" and len(self.elsewhere) == 0:
            raise OptimisationError("nothing of the cortex lies outside the target and its exclusion "
                                    "distance: focality is undefined; make the target smaller")
        self.avoid = np.asarray(objective.avoid, int)
        self.centre_mm = centre

    def __call__(self, e: np.ndarray) -> np.ndarray:
        e = np.asarray(e).reshape(-1, e.shape[-2], 3)
        o = self.objective
        mag = np.linalg.norm(e, axis=2)
        if o.kind == "direction":
            value = (e[:, self.target] @ np.asarray(o.direction)) @ self.weights
        else:
            value = mag[:, self.target] @ self.weights
        hot = mag[:, self.avoid].max(axis=1) if len(self.avoid) else np.zeros(len(e))
        if o.kind == "focality":
            rest = mag[:, self.elsewhere].max(axis=1)
            return value / np.maximum(rest + o.avoid_weight * hot, 1e-300)
        return value - o.avoid_weight * hot


@dataclass(eq=False)
class OptimisedPlacement:
    """The optimiser's answer, with the baselines scored the same way."""

    placement: CoilPlacement
    score: float                           # the objective at the optimum (model used in the search)
    score_reference: float | None          # the same with the reference (full) model, when given
    field_v_per_m: np.ndarray              # (P, 3) at the optimum (the reference model's when given)
    grid_best: tuple[CoilPlacement, float] | None
    line_navigation: tuple[CoilPlacement, float] | None
    evaluations: int
    seconds: float
    objective: PlacementObjective
    history: list = field(default_factory=list)     # (evaluations, best score) after each stage

    @property
    def gain_over_grid(self) -> float:
        return self.score / self.grid_best[1] if self.grid_best else float("nan")

    @property
    def gain_over_line_navigation(self) -> float:
        return self.score / self.line_navigation[1] if self.line_navigation else float("nan")

    def to_dict(self) -> dict:
        def pair(item):
            return None if item is None else {"placement": item[0].to_dict(), "score": item[1]}

        return {"placement": self.placement.to_dict(), "score": self.score,
                "score_reference": self.score_reference, "objective": self.objective.to_dict(),
                "grid_best": pair(self.grid_best), "line_navigation": pair(self.line_navigation),
                "gain_over_grid": None if self.grid_best is None else self.gain_over_grid,
                "gain_over_line_navigation": None if self.line_navigation is None else self.gain_over_line_navigation,
                "evaluations": self.evaluations, "seconds": self.seconds}


def iter_optimise_placement(model, region: ScalpRegion, cortex: TriangleSurface, coil: CoilDipoles,
                            objective: PlacementObjective, *, reference=None, grid=None,
                            coarse_step_mm: float = 1.0, coarse_orientations: int = 12, n_starts: int = 3,
                            max_evaluations: int = 150, batch: int = 256):
    """Optimise ``objective`` over placements in ``region`` (see the module docstring). ``model``:
    anything with ``efield_batch(coils, didt)`` at ``cortex``'s vertices (a reduced field, a BEM
    solver, the sphere); ``reference``: the full model the optimum is checked with; ``grid``: a
    :class:`.grid.PlacementGrid` to score as the baseline (seed 003's 630 placements). A generator
    of ``(fraction, message)``; returns an :class:`OptimisedPlacement`.
    """
    start = time.perf_counter()
    if getattr(model, "n_points", cortex.n_vertices) != cortex.n_vertices:
        raise OptimisationError("the model's points are not the cortex's vertices")
    scorer = _Scorer(objective, cortex)
    didt = objective.didt_a_per_us * 1e6
    keep_out = np.asarray(objective.keep_out_mm, float).reshape(-1, 3)
    count = 0

    def allowed(p: CoilPlacement) -> bool:
        return not len(keep_out) or bool(
            np.all(np.linalg.norm(keep_out - p.centre_mm, axis=1) >= objective.keep_out_radius_mm))

    def score_all(placements):
        nonlocal count
        out = np.full(len(placements), -np.inf)
        for s in range(0, len(placements), batch):
            chunk = placements[s:s + batch]
            e = model.efield_batch([p.place(coil) for p in chunk], didt)
            out[s:s + batch] = scorer(e)
            count += len(chunk)
        return out

    # 1. coarse: a grid of positions over the region, each at several orientations
    low, high = region.bounds_ap_ml_mm
    n = np.maximum(np.ceil((high - low) / coarse_step_mm).astype(int) + 1, 1)
    aps, mls = (np.linspace(low[k], high[k], n[k]) for k in range(2))
    sign_matters = objective.kind == "direction"
    angles = np.arange(coarse_orientations) * (360.0 if sign_matters else 180.0) / coarse_orientations
    yield 0.0, f"placing the coil at {n[0] * n[1]} positions x {len(angles)} orientations"
    candidates, params = [], []
    for ap in aps:
        for ml in mls:
            try:
                base = region.placement(ap, ml, 0.0, coil, objective.gap_mm, objective.didt_a_per_us)
            except CoilPlacementError:
                continue
            for a in angles:
                p = lift_onto_scalp(base.with_orientation(float(a)), coil, region.scalp)
                if allowed(p):
                    candidates.append(p)
                    params.append((ap, ml, float(a)))
    if not candidates:
        raise OptimisationError("no placement in the region satisfies the constraints (keep-out points "
                                "too close, or the region is off the scalp)")
    yield 0.3, f"scoring {len(candidates)} coarse placements"
    coarse = score_all(candidates)
    history = [(count, float(coarse.max()))]

    # 2. refine from the best distinct candidates (Nelder-Mead over AP, ML, orientation)
    def negative(x):
        ap, ml, a = x
        if not region.contains(ap, ml):
            return np.inf
        try:
            p = region.placement(ap, ml, a, coil, objective.gap_mm, objective.didt_a_per_us)
        except CoilPlacementError:
            return np.inf
        if not allowed(p):
            return np.inf
        return -float(score_all([p])[0])

    order = np.argsort(coarse)[::-1]
    starts = []
    for i in order:
        if all(np.hypot(params[i][0] - s[0], params[i][1] - s[1]) > 2 * coarse_step_mm for s in starts):
            starts.append(params[i])
        if len(starts) == n_starts:
            break
    best_x, best_value = np.array(params[order[0]]), float(coarse[order[0]])
    step_angle = 0.5 * (angles[1] - angles[0]) if len(angles) > 1 else 15.0
    for k, x0 in enumerate(starts):
        yield 0.4 + 0.5 * k / len(starts), f"refining from start {k + 1} of {len(starts)}"
        simplex = np.array([x0, np.add(x0, [coarse_step_mm, 0, 0]), np.add(x0, [0, coarse_step_mm, 0]),
                            np.add(x0, [0, 0, step_angle])])
        res = minimize(negative, np.array(x0), method="Nelder-Mead",
                       options={"initial_simplex": simplex, "xatol": 0.02, "fatol": 1e-9 * abs(best_value),
                                "maxfev": max_evaluations})
        if np.isfinite(res.fun) and -res.fun > best_value:
            best_x, best_value = res.x, float(-res.fun)
        history.append((count, best_value))
    ap, ml, a = best_x
    best = region.placement(ap, ml, a % 360.0, coil, objective.gap_mm, objective.didt_a_per_us)

    # 3. baselines, scored the same way
    yield 0.9, "scoring the baselines (seed 003's grid, line navigation)"
    grid_best = None
    if grid is not None:
        grid_placements = [p for _, _, p in grid.placements(region.scalp, region.frame, coil, objective.gap_mm,
                                                               objective.didt_a_per_us)]
        if sign_matters:   # the grid's 0-170 deg and their reverses (a figure-of-eight turned 180 deg reverses E)
            grid_placements += [lift_onto_scalp(p.with_orientation(p.orientation_deg + 180.0), coil, region.scalp)
                                for p in grid_placements]
        grid_scores = score_all(grid_placements)
        i = int(np.argmax(grid_scores))
        grid_best = (grid_placements[i], float(grid_scores[i]))
    line = _line_navigation(candidates, coarse, scorer.centre_mm)
    e_best = (reference if reference is not None else model).efield_batch([best.place(coil)], didt)[0]
    score_reference = None if reference is None else float(scorer(e_best[None])[0])
    yield 1.0, f"optimum: score {best_value:.4g} after {count} evaluations"
    return OptimisedPlacement(best, best_value, score_reference, e_best, grid_best, line, count,
                              time.perf_counter() - start, objective, history)


def _line_navigation(candidates, scores, target_mm):
    """Line navigation's best case among the coarse candidates: the position whose coil axis passes
    nearest to the target, at its best orientation."""
    distance = np.array([np.linalg.norm(np.cross(target_mm - p.centre_mm, p.axis)) for p in candidates])
    nearest = distance <= distance.min() + 1e-3
    i = np.flatnonzero(nearest)[np.argmax(scores[nearest])]
    return candidates[i], float(scores[i])


def optimise_placement(model, region, cortex, coil, objective, progress=None, **kwargs) -> OptimisedPlacement:
    """Blocking form of :func:`iter_optimise_placement`."""
    from ..progress import run_to_completion

    return run_to_completion(iter_optimise_placement(model, region, cortex, coil, objective, **kwargs), progress)
