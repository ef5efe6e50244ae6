"""The E-field of ONE coil placement at any points of the head (e.g. every brain voxel).

:class:`.solver.TmsBemSolver` precomputes the transfer matrix for a fixed set of points (the
cortex) so that each placement costs one product. For many points and one placement (the field
on the scan's voxel grid, for export) that matrix would be far too large (3 P x F: 10 GB for
50,000 voxels); instead the BEM is solved for this placement (equation numbers of :mod:`.lc_bem`):

1. the source ``g = E_p . n`` on every triangle (the coil's primary field at the centroids);
2. the boundary potential ``phi = M^-1 (S g)``: M assembled and factorised, ``S g`` accumulated
   block by block (S is never held);
3. at the points, in chunks, ``E = E_p - diag(1/sigma) (G_S g + G_D phi)`` (equation 3 applied
   to one source instead of precomputed as a matrix).

It is the same discretisation as the transfer matrix, so at the cortex points the two agree to
the float32 rounding of the stored matrix (a test checks it), and in nested spheres the field
matches the analytic solution anywhere inside (another test). Cost: the assembly and
factorisation of a model's precomputation, plus one single-layer pass (N x F) and the field
operators at the points (P x F per chunk); memory ``8 N^2`` plus ``24 * chunk * (N + F)``.

The factorised matrix depends on the conductor only, not on the coil: factorisations are kept per
conductor (:func:`keep_factorisation`; released with the conductor, by
:func:`clear_factorisation_cache`, or, oldest first, when together they would hold more than
:data:`FACTORISATION_MEMORY_FRACTION` of the machine's memory), so the next placement on the same
conductor object skips the assembly and the factorisation. A head model built with
``keep_factorisation=True`` (:func:`.solver.iter_build_solver`; the E-field dock builds so) leaves its
precomputation's factorisation here: the neuron dock's fields at compartments and the voxel export
then start with the source. That factorisation may be float32 (``solve_precision="auto"`` chooses
it when the condition number allows: a relative error of the solve below 1e-3, see
:func:`.lc_bem.iter_transfer_matrix`), the same accuracy as the model's own transfer matrix.
Measured on the demo's 3C model (N = 7,990, 2 cores): assembly 4 s and factorisation 4 s of a 12 s
solve; the rest is the single-layer source, which depends on the coil.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
import scipy.linalg

from ..coils.dipoles import CoilDipoles, primary_efield
from ..progress import forward
from . import lc_bem
from .conductor import VolumeConductor

__all__ = ["PlacementField", "iter_efield_at_points", "efield_at_points", "keep_factorisation",
           "kept_factorisations", "factorisation_of", "clear_factorisation_cache", "FACTORISATION_MEMORY_FRACTION"]

#: The factorisations kept together hold at most this share of the machine's physical memory (the
#: most recent one is always kept).
FACTORISATION_MEMORY_FRACTION = 0.25

_factorisation_lock = threading.Lock()
_factorisation: list = []     # [(weakref to the conductor, (lu, piv))], least recently used first


def _memory_budget_bytes() -> float:
    try:
        import psutil

        total = psutil.virtual_memory().total
    except Exception:          # psutil is a dependency; without it, assume a laptop's 8 GB
        total = 8 * 2**30
    return FACTORISATION_MEMORY_FRACTION * total


def factorisation_of(conductor):
    """The kept LU factors ``(lu, piv)`` of ``conductor``'s BEM matrix, or None."""
    with _factorisation_lock:
        for k, (ref, lu_piv) in enumerate(_factorisation):
            if ref() is conductor:
                _factorisation.append(_factorisation.pop(k))    # most recently used last
                return lu_piv
    return None


def keep_factorisation(conductor, lu_piv) -> None:
    """Keep the LU factors ``(lu, piv)`` (:func:`scipy.linalg.lu_factor` of the conductor's BEM
    matrix, :func:`.lc_bem.potential_matrix`; float64 or float32) for the next placements on
    ``conductor``; the least recently used others are released while all together exceed the budget."""
    with _factorisation_lock:
        _factorisation[:] = [(ref, lp) for ref, lp in _factorisation if ref() is not None and ref() is not conductor]
        _factorisation.append((weakref.ref(conductor), lu_piv))
        budget = _memory_budget_bytes()
        while len(_factorisation) > 1 and sum(lp[0].nbytes for _, lp in _factorisation) > budget:
            _factorisation.pop(0)


def kept_factorisations() -> int:
    """How many factorisations are kept now (of conductors still alive)."""
    with _factorisation_lock:
        return sum(ref() is not None for ref, _ in _factorisation)


def clear_factorisation_cache() -> None:
    """Release every kept factorisation (``8 N^2`` or ``4 N^2`` bytes each)."""
    with _factorisation_lock:
        _factorisation.clear()


class PlacementField:
    """The solved BEM of one placement: the field at any points, many calls, one solve.

    :meth:`iter_solve` does steps 1-2 (the expensive part: assembly, factorisation, the source);
    :meth:`iter_at` then evaluates step 3 at any points (cost proportional to their number), so the
    compartments of several cell types share one solve.
    """

    def __init__(self, conductor: VolumeConductor, coil: CoilDipoles, didt_a_per_s: float):
        self.conductor, self.coil, self.didt_a_per_s = conductor, coil, float(didt_a_per_s)
        self._stack = lc_bem.StackedSurfaces(conductor)
        self._g = None
        self._potential = None

    @property
    def solved(self) -> bool:
        return self._potential is not None

    def iter_solve(self, *, block_rows: int = 1024):
        """Yield ``(fraction, message)`` while solving for the boundary potential of this placement."""
        stack = self._stack
        n = stack.n_vertices
        lu_piv = factorisation_of(self.conductor)
        if lu_piv is None:
            yield 0.0, f"assembling the {n} x {n} BEM matrix"
            matrix = yield from forward(lc_bem.iter_potential_matrix(stack), 0.0, 0.3)
            yield 0.3, "factorising the BEM matrix"
            lu_piv = scipy.linalg.lu_factor(matrix, overwrite_a=True, check_finite=False)
            del matrix
            keep_factorisation(self.conductor, lu_piv)
        else:
            yield 0.6, f"the {n} x {n} BEM matrix of this conductor is factorised already"
        conductor = self.conductor
        centroids = np.concatenate([b.surface.face_centroids_m for b in conductor.boundaries])
        normals = np.concatenate([b.surface.face_normals for b in conductor.boundaries])
        g = np.einsum("ij,ij->i", primary_efield(centroids, self.coil, self.didt_a_per_s), normals)
        rhs = np.zeros(n)
        starts = list(range(0, n, block_rows))
        for k, start in enumerate(starts):
            yield 0.6 + 0.4 * k / len(starts), "single-layer source"
            rows = slice(start, min(start + block_rows, n))
            rhs[rows] = lc_bem.source_matrix_rows(stack, rows) @ g
        lu = lu_piv[0]
        potential = scipy.linalg.lu_solve(lu_piv, rhs.astype(lu.dtype, copy=False), check_finite=False)
        self._potential = np.asarray(potential, dtype=np.float64)
        self._g = g
        yield 1.0, "solved"

    def iter_at(self, points_m, *, chunk: int = 512, block_rows: int = 1024, on_near_surface: str = "warn"):
        """Yield ``(fraction, message)``; return E (V/m, (P, 3)) at ``points_m`` (solved first if
        needed). Points outside the head are refused (:func:`.solver.check_evaluation_points`)
        before the solve; points near a surface handled by ``on_near_surface`` ("warn", "ignore",
        "raise")."""
        from .solver import check_evaluation_points

        points = np.ascontiguousarray(points_m, dtype=np.float64).reshape(-1, 3)
        yield 0.0, f"checking {len(points)} points"
        sigma = check_evaluation_points(self.conductor, points, on_near_surface=on_near_surface)
        base = 0.0 if self.solved else 0.6    # the share of the progress the solve takes
        if not self.solved:
            yield from forward(self.iter_solve(block_rows=block_rows), 0.0, base)
        out = primary_efield(points, self.coil, self.didt_a_per_s)
        chunks = list(range(0, len(points), chunk))
        for k, start in enumerate(chunks):
            yield base + (1 - base) * k / len(chunks), (f"field at points {start + 1}-"
                                                        f"{min(start + chunk, len(points))}")
            part = slice(start, min(start + chunk, len(points)))
            g_single, g_double = lc_bem.field_operators(self._stack, points[part])
            secondary = (g_single @ self._g + g_double @ self._potential).reshape(-1, 3)
            out[part] -= secondary / sigma[part, None]
        yield 1.0, "done"
        return out

    def at(self, points_m, *, on_near_surface: str = "warn") -> np.ndarray:
        """Blocking form of :meth:`iter_at`: E (V/m, (P, 3)) at ``points_m``."""
        from ..progress import run_to_completion

        return run_to_completion(self.iter_at(points_m, on_near_surface=on_near_surface))


def iter_efield_at_points(conductor: VolumeConductor, coil: CoilDipoles, didt_a_per_s: float, points_m, *,
                          chunk: int = 512, block_rows: int = 1024):
    """Yield ``(fraction, message)``; return E (V/m, (P, 3)) at ``points_m`` for ``coil`` (placed, the
    model's frame, metres). Points outside the head are refused (:func:`.solver.check_evaluation_points`)
    before the solve."""
    field = PlacementField(conductor, coil, didt_a_per_s)
    return (yield from field.iter_at(points_m, chunk=chunk, block_rows=block_rows))


def efield_at_points(conductor: VolumeConductor, coil: CoilDipoles, didt_a_per_s: float, points_m,
                     **kwargs) -> np.ndarray:
    """Blocking form of :func:`iter_efield_at_points`."""
    from ..progress import run_to_completion

    return run_to_completion(iter_efield_at_points(conductor, coil, didt_a_per_s, points_m, **kwargs))
