"""Reduced-order E-field of one BEM head model: a coil placement's E at the cortical points in
about a millisecond, with its own error bound and a fallback to the full transfer (issue 22).

The full path (:class:`..bem.solver.TmsBemSolver`, equation 3 of :mod:`..bem.lc_bem`) is

    E = E_p(points) + T g,        g_j = E_p(c_j) . n_j                                   (1)

with E_p the coil's primary field (physics notes section 2), c_j and n_j the centroids and normals
of the F boundary triangles and T the (3P x F) transfer matrix. A placement costs the primary field
at F + P points (K dipoles each) and the product with T: 40 ms at the demo's meshing, 180 ms at
the seed's on 2 cores (BENCHMARKS.md).

Both terms of (1) are linear in f = [g; E_p(points)], the coil's primary field sampled in the head
(F + 3P numbers). The coils of interest lie outside the head, near one region of the scalp, so
their fields in the head are smooth (their sources are outside it) and span a space of small
dimension. Hence:

1. Snapshots and basis (proper orthogonal decomposition): f of N training placements drawn at
   random over the region of the scalp the model is for (any orientation, gaps in a range);
   F_s = U S V^T (through the N x N Gram matrix), the basis U_r of the r leading modes.
2. The head's response to each mode, exact through (1): Y = L U_r with L [u_g; u_p] = u_p + T u_g.
3. Where to measure: Q-DEIM (Drmač & Gugercin 2016, SIAM J. Sci. Comput. 38:A631; the discrete
   empirical interpolation of Chaturantabut & Sorensen 2010, SIAM J. Sci. Comput. 32:2737): the
   pivots of a column-pivoted QR of U_m^T on m = ``oversampling`` x r modes give m rows of f, i.e.
   E_p at no more than m points. With more rows than modes the coefficients are a least-squares fit
   (gappy POD: Everson & Sirovich 1995, J. Opt. Soc. Am. A 12:1657; oversampling for stability:
   Peherstorfer, Drmač & Gugercin 2020, SIAM J. Sci. Comput. 42:A2837).
4. One placement: E_p at the measurement points (K dipoles x <= m points), c = P f_m (P the
   pseudo-inverse of U_r's measured rows, r x m), E = Y c (3P x r).

Error bound (:attr:`ReducedField.bound`): the rank is the smallest whose largest relative error
(:func:`..metrics.relative_error`, ||E - E_full|| / ||E_full|| over all points) over validation
placements, drawn independently of the training ones, is at most ``margin`` (1/2) of the requested
tolerance; the bound stated is the tolerance. If no rank reaches it, the bound stated is the best
rank's validation maximum over ``margin`` (and a warning says so).

Fallback to the full path (1), per placement (:meth:`ReducedField.evaluate` says which and why):
the coil is not like those the model was built for when its centre (the mean of its dipoles) is
farther than :attr:`ReducedField.reach_m` from every training coil's centre (off the region, too far
from or too close to the scalp), or when the basis does not fit its measured primary field (the
least-squares residual at the measurement points, relative, above :attr:`ReducedField.residual_limit`,
twice the largest of the validation placements: a tilted coil, another coil model).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import qr
from scipy.spatial import cKDTree

from ..bem.solver import parallel_matvec
from ..coils.dipoles import CoilDipoles, primary_efield
from ..parallel import kernel_section

__all__ = ["ReducedField", "ReducedFieldSettings", "iter_build_reduced_field", "build_reduced_field",
           "CANDIDATE_RANKS", "reduced_cache_key", "save_reduced_field", "load_reduced_field"]

#: Ranks tried, in order, when choosing the smallest that meets the tolerance.
CANDIDATE_RANKS = (10, 15, 20, 30, 40, 50, 60, 80, 100, 120, 150, 180, 220, 260, 300, 350, 400, 500, 600)


@dataclass(frozen=True)
class ReducedFieldSettings:
    """How a reduced-order field is built (:func:`iter_build_reduced_field`).

    ``tolerance``: the relative error (fraction) the model must keep, checked on the validation
    placements with ``margin``; ``oversampling``: measurement rows per mode (>= 1).
    """

    tolerance: float = 0.005
    margin: float = 0.5
    oversampling: float = 2.0
    max_rank: int = 600

    def __post_init__(self):
        if not (0 < self.tolerance < 1):
            raise ValueError(f"tolerance must be a fraction in (0, 1), got {self.tolerance!r}")
        if not (0 < self.margin <= 1):
            raise ValueError(f"margin must be in (0, 1], got {self.margin!r}")
        if not self.oversampling >= 1:
            raise ValueError(f"oversampling must be >= 1, got {self.oversampling!r}")
        if int(self.max_rank) < 1:
            raise ValueError(f"max_rank must be >= 1, got {self.max_rank!r}")


@dataclass(eq=False)
class ReducedField:
    """Coil placement -> E (V/m) at a head model's points, reduced (see the module docstring).

    Same interface as :class:`..head_models.FieldModel`'s solver (``efield``, ``efield_batch``,
    ``points_m``, ``n_points``), plus :meth:`evaluate` (which placements took the full path).
    """

    solver: object                      # the full model (TmsBemSolver): the fallback and the reference
    rank: int
    bound: float                        # relative error the model states (fraction)
    measure_points_m: np.ndarray        # (q, 3) float32: where E_p is evaluated
    row_point: np.ndarray               # (m,) index into measure_points_m of each measured row
    row_weight: np.ndarray              # (m, 3): row value = E_p(point) . weight
    pinv: np.ndarray                    # (r, m): coefficients from the measured rows
    basis_rows: np.ndarray              # (m, r): the basis at the measured rows (residual)
    response: np.ndarray                # (3P, r) float32: E of each mode (Y)
    residual_limit: float
    reach_m: float
    training_centres_m: np.ndarray      # (N, 3)
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self._tree = cKDTree(self.training_centres_m)
        self.n_fallbacks = 0

    @property
    def points_m(self) -> np.ndarray:
        return self.solver.points_m

    @property
    def n_points(self) -> int:
        return self.solver.n_points

    @property
    def n_measure_points(self) -> int:
        return len(self.measure_points_m)

    def _measure(self, coil: CoilDipoles, didt_a_per_s: float) -> np.ndarray:
        e = primary_efield(self.measure_points_m, coil, didt_a_per_s, np.float32)
        return np.einsum("ij,ij->i", e[self.row_point], self.row_weight)

    def _outside(self, coil: CoilDipoles) -> str | None:
        distance, _ = self._tree.query(coil.positions_m.mean(axis=0))
        if distance > self.reach_m:
            return (f"the coil's centre is {distance * 1e3:.1f} mm from the nearest placement the reduced "
                    f"model was built for (reach {self.reach_m * 1e3:.1f} mm)")
        return None

    def _fit(self, measured: np.ndarray):
        """Coefficients of the measured rows (``(m,)`` or ``(m, b)``) and whether the basis fits them
        (relative least-squares residual within :attr:`residual_limit`), with that residual."""
        coeffs = self.pinv @ measured
        residual = (np.linalg.norm(measured - self.basis_rows @ coeffs, axis=0)
                    / np.maximum(np.linalg.norm(measured, axis=0), 1e-300))
        return coeffs, residual <= self.residual_limit, residual

    def evaluate(self, coils, didt_a_per_s: float = 1.0):
        """``(E (B, P, 3), full (B,) bool, reasons)``: the fields, which placements took the full
        path (1) and why (``None`` where the reduced model answered)."""
        coils = list(coils)
        n = len(coils)
        out = np.empty((n, self.n_points, 3))
        reasons: list[str | None] = [self._outside(c) for c in coils]
        inside = [i for i in range(n) if reasons[i] is None]
        if inside:
            measured = np.stack([self._measure(coils[i], didt_a_per_s) for i in inside], axis=1)   # (m, b)
            coeffs, fits, residual = self._fit(measured)
            fields = (self.response @ coeffs.astype(self.response.dtype)).T.reshape(len(inside), self.n_points, 3)
            for k, i in enumerate(inside):
                if not fits[k]:
                    reasons[i] = (f"the basis does not fit this coil's field (residual {residual[k]:.2e}"
                                  f" > {self.residual_limit:.2e}): not a placement like the ones it was built for")
                else:
                    out[i] = fields[k]
        full = np.array([r is not None for r in reasons], dtype=bool)
        if full.any():
            idx = np.flatnonzero(full)
            out[idx] = self.solver.efield_batch([coils[i] for i in idx], didt_a_per_s)
            self.n_fallbacks += len(idx)
        return out, full, reasons

    def efield(self, coil: CoilDipoles, didt_a_per_s: float = 1.0) -> np.ndarray:
        """E (V/m) at the points, (P, 3), for a coil already placed (model frame, metres)."""
        if self._outside(coil) is None:
            coeffs, fits, _ = self._fit(self._measure(coil, didt_a_per_s))
            if fits:
                # numba's product, not BLAS: OpenBLAS's threads spinning after a product delay the next
                # numba primary-field kernel on 2 cores by milliseconds (measured: 8 ms instead of 0.2 ms
                # at rank 180; the same effect as in ..bem.solver's single placement)
                out = np.empty(self.response.shape[0])
                with kernel_section():
                    parallel_matvec(self.response, np.ascontiguousarray(coeffs, dtype=self.response.dtype), out)
                return out.reshape(-1, 3)
        self.n_fallbacks += 1
        return self.solver.efield(coil, didt_a_per_s)

    def efield_batch(self, coils, didt_a_per_s: float = 1.0) -> np.ndarray:
        """E (V/m) of several placed coils, (B, P, 3). A few coils go one by one (:meth:`efield`: no
        BLAS product, whose spinning threads would delay the caller's next numba kernels, e.g. the
        next placement's geometry in the optimiser's simplex steps)."""
        coils = list(coils)
        if len(coils) <= 4:
            return np.stack([self.efield(c, didt_a_per_s) for c in coils]) if coils else np.zeros((0, self.n_points, 3))
        return self.evaluate(coils, didt_a_per_s)[0]

    def efield_for(self, placement, coil: CoilDipoles) -> np.ndarray:
        """E (V/m) for ``coil`` (its own frame) at a :class:`..placement.CoilPlacement`."""
        return self.efield(placement.place(coil), placement.didt_a_per_s)


def _snapshot(solver, coil: CoilDipoles) -> np.ndarray:
    """f = [g; E_p(points)] of one placed coil at dI/dt = 1 A/s (F + 3P values)."""
    e_centroids, e_points = solver._primary(coil, 1.0)
    return np.concatenate([solver._triangle_source(e_centroids), e_points.ravel()])


def _response(solver, modes: np.ndarray) -> np.ndarray:
    """Y = L U: E at the points (3P rows) of each column of ``modes`` = [u_g; u_p], by (1)."""
    n_sources = len(solver.source_points_m)
    return modes[n_sources:] + solver._apply(np.ascontiguousarray(modes[:n_sources]))


def _measurement_rows(basis: np.ndarray, m: int) -> np.ndarray:
    """Q-DEIM: the first ``m`` pivots of a column-pivoted QR of the leading ``m`` modes' transpose."""
    m = min(m, basis.shape[1])
    _, _, pivots = qr(basis[:, :m].T, mode="economic", pivoting=True)
    return np.sort(pivots[:m])


def iter_build_reduced_field(solver, training, validation, settings: ReducedFieldSettings | None = None):
    """Build a :class:`ReducedField` of ``solver`` (a :class:`..bem.solver.TmsBemSolver`) from
    placed coils (:class:`CoilDipoles`, model frame, metres): ``training`` for the basis,
    ``validation`` (drawn independently) for the rank and the error bound. A generator of
    ``(fraction, message)``; returns the model.
    """
    settings = settings or ReducedFieldSettings()
    if not hasattr(solver, "transfer"):
        raise TypeError("a reduced-order field needs a BEM model (TmsBemSolver); the sphere model is "
                        "analytic and needs none")
    training, validation = list(training), list(validation)
    if len(training) < 10 or len(validation) < 10:
        raise ValueError(f"need at least 10 training and 10 validation placements, got {len(training)} "
                         f"and {len(validation)}")
    start = time.perf_counter()
    n_sources = len(solver.source_points_m)
    snaps = np.empty((n_sources + 3 * solver.n_points, len(training)))
    for k, coil in enumerate(training):
        snaps[:, k] = _snapshot(solver, coil)
        if k % 20 == 0:
            yield 0.5 * k / len(training), f"primary fields of the training placements ({k}/{len(training)})"
    yield 0.5, "basis (proper orthogonal decomposition)"
    gram = snaps.T @ snaps
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0, None), vectors[:, order]
    singular = np.sqrt(values)
    keep = int(np.sum(singular > singular[0] * 1e-6))
    keep = min(keep, int(settings.max_rank * settings.oversampling), len(training))
    basis = snaps @ (vectors[:, :keep] / singular[:keep])
    basis, _ = np.linalg.qr(basis)                 # re-orthogonalised (the Gram route loses a little)
    del snaps, gram
    ranks = [r for r in CANDIDATE_RANKS if r <= min(keep, settings.max_rank)] or [keep]
    yield 0.6, f"responses of the head to {min(keep, ranks[-1])} modes"
    response = _response(solver, basis[:, :ranks[-1]])
    yield 0.75, f"full fields of the {len(validation)} validation placements"
    val = np.stack([_snapshot(solver, c) for c in validation], axis=1)
    reference = _response(solver, val)            # (3P, B): the full path (1), from the same primary fields
    ref_norm = np.linalg.norm(reference, axis=0)
    table = []
    chosen = None
    for r in ranks:
        rows = _measurement_rows(basis, int(np.ceil(settings.oversampling * r)))
        pinv = np.linalg.pinv(basis[rows, :r])
        coeffs = pinv @ val[rows]
        errors = np.linalg.norm(response[:, :r] @ coeffs - reference, axis=0) / ref_norm
        residual = (np.linalg.norm(val[rows] - basis[rows, :r] @ coeffs, axis=0)
                    / np.linalg.norm(val[rows], axis=0))
        table.append({"rank": r, "rows": len(rows), "median_re": float(np.median(errors)),
                      "max_re": float(errors.max())})
        yield 0.75 + 0.25 * len(table) / len(ranks), f"rank {r}: largest validation error {errors.max():.2%}"
        chosen = (r, rows, pinv, errors, residual)
        if errors.max() <= settings.margin * settings.tolerance:
            break
    r, rows, pinv, errors, residual = chosen
    bound = settings.tolerance
    if errors.max() > settings.margin * settings.tolerance:
        bound = float(errors.max() / settings.margin)
        warnings.warn(f"the reduced field did not reach {settings.tolerance:.2%} with rank <= {r} "
                      f"({len(training)} training placements): its stated bound is {bound:.2%}. Use more "
                      "training placements or a smaller region.", RuntimeWarning, stacklevel=2)
    points = np.concatenate([solver.source_points_m, solver.points_m])
    is_source = rows < n_sources
    point_of_row = np.where(is_source, rows, n_sources + (rows - n_sources) // 3)
    unique, row_point = np.unique(point_of_row, return_inverse=True)
    weight = np.zeros((len(rows), 3))
    weight[is_source] = solver.surface_normals[rows[is_source]]
    comp = (rows[~is_source] - n_sources) % 3
    weight[np.flatnonzero(~is_source), comp] = 1.0
    centres = np.array([c.positions_m.mean(axis=0) for c in training])
    spacing, _ = cKDTree(centres).query(centres, k=2)
    info = {"n_training": len(training), "n_validation": len(validation), "tolerance": settings.tolerance,
            "validation_median_re": float(np.median(errors)), "validation_max_re": float(errors.max()),
            "ranks_tried": table, "modes_kept": keep, "build_seconds": time.perf_counter() - start,
            "singular_values": singular[:keep].tolist()}
    model = ReducedField(
        solver=solver, rank=r, bound=bound,
        measure_points_m=np.ascontiguousarray(points[unique], dtype=np.float32),
        row_point=row_point.astype(np.int64), row_weight=weight,
        pinv=pinv, basis_rows=basis[rows, :r], response=np.ascontiguousarray(response[:, :r], dtype=np.float32),
        residual_limit=float(2.0 * residual.max()), reach_m=float(1.5 * spacing[:, 1].max()),
        training_centres_m=centres, info=info)
    yield 1.0, f"reduced field: rank {r}, {model.n_measure_points} measurement points, bound {bound:.2%}"
    return model


def build_reduced_field(solver, training, validation, settings: ReducedFieldSettings | None = None,
                        progress=None) -> ReducedField:
    """Blocking form of :func:`iter_build_reduced_field`."""
    from ..progress import run_to_completion

    return run_to_completion(iter_build_reduced_field(solver, training, validation, settings), progress)


#: Version of the reduced field's cache files (bump when what they hold changes).
REDUCED_CACHE_VERSION = "reduced-1"


def reduced_cache_key(solver, coil: CoilDipoles, region_key: tuple, settings: ReducedFieldSettings, n_training: int,
               n_validation: int, seed: int) -> str:
    import hashlib
    import json

    from ..bem.solver import model_cache_key as solver_key

    h = hashlib.sha256(REDUCED_CACHE_VERSION.encode())
    h.update(solver_key(solver.conductor, solver.points_m, solver.dtype, "auto").encode())
    h.update(np.ascontiguousarray(coil.positions_m, np.float64).tobytes())
    h.update(np.ascontiguousarray(coil.moments_m2, np.float64).tobytes())
    h.update(json.dumps([np.round(np.asarray(region_key, float), 6).tolist(), settings.tolerance, settings.margin,
                         settings.oversampling, settings.max_rank, n_training, n_validation, seed]).encode())
    return h.hexdigest()


_ARRAYS = ("measure_points_m", "row_point", "row_weight", "pinv", "basis_rows", "response", "training_centres_m")


def save_reduced_field(path, model: ReducedField, key: str) -> None:
    """Write ``model`` (its arrays, bound, limits, info; the head model's geometry to check on
    loading) to ``path`` (.npz), atomically."""
    import io
    import json
    from pathlib import Path

    from ..bem.solver import conductor_geometry as _geometry
    from ..files import atomic_write

    arrays = {name: getattr(model, name) for name in _ARRAYS}
    meta = {"key": key, "rank": model.rank, "bound": model.bound, "residual_limit": model.residual_limit,
            "reach_m": model.reach_m, "info": {k: v for k, v in model.info.items() if k != "singular_values"}}

    def write(tmp):
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(meta)), geometry=_geometry(model.solver.conductor),
                 points=model.solver.points_m, **arrays)
        Path(tmp).write_bytes(buffer.getvalue())

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, True, write)


def load_reduced_field(path, solver, key: str) -> ReducedField | None:
    """The reduced field saved at ``path`` for ``solver`` (None when absent, for another key, or
    when the head model's geometry moved by more than the solver cache's tolerance)."""
    import json
    from pathlib import Path

    from ..bem.solver import CACHE_GEOMETRY_TOLERANCE_M
    from ..bem.solver import conductor_geometry as _geometry

    if not Path(path).is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("key") != key:
                return None
            geometry, points = data["geometry"], data["points"]
            current = _geometry(solver.conductor)
            if (geometry.shape != current.shape or points.shape != solver.points_m.shape
                    or np.abs(geometry - current).max() > CACHE_GEOMETRY_TOLERANCE_M
                    or np.abs(points - solver.points_m).max() > CACHE_GEOMETRY_TOLERANCE_M):
                return None
            arrays = {name: data[name] for name in _ARRAYS}
    except (OSError, ValueError, KeyError) as err:
        warnings.warn(f"the reduced field's cache {path} cannot be read ({err}); it is built again",
                      RuntimeWarning, stacklevel=2)
        return None
    info = dict(meta["info"], from_cache=True)
    return ReducedField(solver=solver, rank=int(meta["rank"]), bound=float(meta["bound"]),
                        residual_limit=float(meta["residual_limit"]), reach_m=float(meta["reach_m"]),
                        info=info, **arrays)
