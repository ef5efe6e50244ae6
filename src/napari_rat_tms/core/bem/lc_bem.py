"""Linear-collocation BEM for the TMS-induced E-field in a piecewise-homogeneous head.

Formulation (physics notes section 4; Mosher, Leahy & Lewis 1999, IEEE TBME 46:245; Stenroos &
Koponen 2019, NeuroImage 203:116159). The total field is ``E = E_p - grad phi``: ``E_p`` is the
coil's primary field (:mod:`..coils.dipoles`) and ``phi`` the potential of the charges that
collect on the conductivity boundaries. With ``sigma_j^-``/``sigma_j^+`` the conductivities inside/
outside surface ``S_j``, ``w_j = (sigma_j^- - sigma_j^+) / 4 pi`` and outward normals ``n'``, for a
point r on surface ``S_i``

    (sigma_i^- + sigma_i^+)/2 phi(r) - sum_j w_j int_Sj phi(r') n'.(r' - r)/|r' - r|^3 dS'
        = sum_j w_j int_Sj (E_p . n')(r') / |r - r'| dS'                                    (1)

and at a point r off the surfaces, in a compartment of conductivity sigma(r),

    sigma(r) phi(r) = sum_j w_j [ int_Sj (E_p . n') / |r - r'| dS' + int_Sj phi n'.(r' - r)/|r' - r|^3 dS' ].  (2)

Discretisation: ``phi`` piecewise linear on each triangle, with values at the vertices; the source
``g = E_p . n`` constant on each triangle: E_p at its centroid dotted with the triangle's own normal
(exact for a uniform E_p). Vertex values of g with averaged vertex normals are wrong by O(1) at
sharp edges such as the rim of a skull opening: measured, 10-40 % errors on a holed shell.; (1) is enforced at every vertex (collocation). The double-layer weights are de Munck's closed form; the "auto" solid angle of
each vertex on its own surface is set so that the surface subtends 2 pi (the row sum), which
also makes the constant potential the system's null vector; it is deflated by adding
``sigma_ref / N`` to every matrix element (Lynn & Timlake 1968), which leaves grad phi unchanged.

Solving (1) and differentiating (2) gives the transfer matrix ``T`` (3 N_points x N_vertices):

    E(points) = E_p(points) + T g,   T = -diag(1/sigma) [G_S + G_D M^-1 S]   (3 P x F)      (3)

where ``M`` is the matrix of (1), ``S`` its right-hand-side operator and ``G_S``, ``G_D`` the
gradients of the single and double layers of (2). ``T`` does not depend on the coil: a placement
costs the primary field at the vertices and points plus one matrix-vector product.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ..parallel import kernel_section
from ..progress import forward
from . import integrals

__all__ = ["StackedSurfaces", "potential_matrix", "iter_potential_matrix", "source_matrix_rows",
           "field_operators", "iter_transfer_matrix"]


class StackedSurfaces:
    """All boundaries' vertices and triangles in one numbering, with their BEM weights."""

    def __init__(self, conductor):
        self.conductor = conductor
        offsets = conductor.vertex_offsets
        self.offsets = offsets
        self.vertices = np.concatenate([b.surface.vertices_m for b in conductor.boundaries])
        self.vertex_normals = np.concatenate([b.surface.vertex_normals for b in conductor.boundaries])
        self.tris = np.concatenate(
            [b.surface.faces + offsets[i] for i, b in enumerate(conductor.boundaries)]
        ).astype(np.int64)
        self.tri_normals = np.concatenate([b.surface.face_normals for b in conductor.boundaries])
        self.tri_areas = np.concatenate([b.surface.face_areas_m2 for b in conductor.boundaries])
        self.surface_weight = np.array([b.sigma_jump / (4.0 * np.pi) for b in conductor.boundaries])
        self.tri_surface = np.concatenate(
            [np.full(b.surface.n_faces, i) for i, b in enumerate(conductor.boundaries)]
        )
        self.vertex_surface = np.concatenate(
            [np.full(b.surface.n_vertices, i) for i, b in enumerate(conductor.boundaries)]
        )
        self.tri_weight = self.surface_weight[self.tri_surface]

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    @property
    def n_faces(self) -> int:
        return len(self.tris)

    @property
    def tri_centroids(self) -> np.ndarray:
        return self.vertices[self.tris].mean(axis=1)


def potential_matrix(stack: StackedSurfaces) -> np.ndarray:
    """The deflated matrix ``M`` of equation (1), N x N, float64 (S/m)."""
    from ..progress import run_to_completion

    return run_to_completion(iter_potential_matrix(stack))


#: Rows of M assembled per kernel call: progress (and a cancel) between blocks.
ASSEMBLY_BLOCK_ROWS = 1024


def iter_potential_matrix(stack: StackedSurfaces, block_rows: int = ASSEMBLY_BLOCK_ROWS):
    """:func:`potential_matrix`, yielding ``(fraction, message)`` between blocks of rows (so that a
    worker can report progress and be cancelled during the assembly); returns ``M``."""
    n = stack.n_vertices
    matrix = np.zeros((n, n))
    index = np.arange(n, dtype=np.int64)
    for start in range(0, n, block_rows):
        rows = slice(start, min(start + block_rows, n))
        with kernel_section():     # rows of a C-ordered array: a contiguous block the kernel fills
            integrals.double_layer_rows(stack.vertices[rows], index[rows], stack.vertices, stack.tris,
                                        stack.tri_normals, stack.tri_areas, -stack.tri_weight, matrix[rows])
        yield rows.stop / n, f"assembling the {n} x {n} BEM matrix: row {rows.stop} of {n}"
    conductor = stack.conductor
    for s, b in enumerate(conductor.boundaries):
        lo, hi = stack.offsets[s], stack.offsets[s + 1]
        block_sum = matrix[lo:hi, lo:hi].sum(axis=1)
        rows = np.arange(lo, hi)
        # auto solid angle: the surface seen from its own vertex subtends 2 pi
        matrix[rows, rows] += -stack.surface_weight[s] * 2.0 * np.pi - block_sum
        matrix[rows, rows] += 0.5 * (b.sigma_inside + b.sigma_outside)
    sigma_ref = max(b.sigma_inside for b in conductor.boundaries)
    matrix += sigma_ref / n
    return matrix


def source_matrix_rows(stack: StackedSurfaces, rows: slice) -> np.ndarray:
    """Rows ``rows`` of ``S`` (N x F): ``S[i, t] = w_j int_t 1/|r_i - r'| dS'`` (m; times g in V/m -> RHS)."""
    idx = np.arange(stack.n_vertices, dtype=np.int64)[rows]
    out = np.zeros((len(idx), stack.n_faces))
    with kernel_section():
        integrals.single_layer_face_rows(stack.vertices[idx], idx, stack.vertices, stack.tris,
                                         stack.tri_areas, stack.tri_weight, integrals._RULE_STARTS,
                                         integrals._RULE_BARY, integrals._RULE_WEIGHTS, out)
    return out


def field_operators(stack: StackedSurfaces, points_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``G_S`` and ``G_D`` of equation (3): gradients at the points, (3 P x N) each."""
    points = np.ascontiguousarray(points_m, dtype=np.float64)
    g_single = np.zeros((3 * len(points), stack.n_faces))
    g_double = np.zeros((3 * len(points), stack.n_vertices))
    with kernel_section():
        integrals.field_gradient_rows(points, stack.vertices, stack.tris, stack.tri_normals, stack.tri_areas,
                                      stack.tri_weight, integrals._RULE_STARTS, integrals._RULE_BARY,
                                      integrals._RULE_WEIGHTS, g_single, g_double)
    return g_single, g_double


#: Largest relative error of the float32 solve accepted by ``solve_precision="auto"``: the
#: condition number estimate times float32's unit roundoff must stay below it. 1e-3 (0.1 %): three
#: to eight times below the BEM's own discretisation error (0.3-0.8 % against the analytic sphere)
#: and five times below the reduced field's bound. The bound is a worst case: on the synthetic rat's
#: 2C model at seed 003's meshing (condition estimate 6.2e3, bound 7.4e-4) the float32 solve changed
#: the fields of 200 placements by 1.8e-6 (median) to 3.1e-6 (max) relative, and cut the precompute
#: from 190 s (float64) to 147 s on 2 cores (``benchmarks/bench_precompute_precision.py``; with the
#: former 1e-4, "auto" factorised twice there, in float32 then float64: 202 s).
FLOAT32_SOLVE_TOLERANCE = 1e-3


def _factorise(matrix: np.ndarray, solve_precision: str, info: dict):
    """LU factors of ``matrix`` in float32 when its condition allows (see FLOAT32_SOLVE_TOLERANCE)."""
    if solve_precision not in ("auto", "float32", "float64"):
        raise ValueError(f"solve_precision must be 'auto', 'float32' or 'float64', got {solve_precision!r}")
    if solve_precision != "float64":
        m32 = matrix.astype(np.float32)
        anorm = float(np.abs(m32).sum(axis=0).max())
        lu, piv = scipy.linalg.lu_factor(m32, overwrite_a=True, check_finite=False)
        rcond, _ = scipy.linalg.lapack.sgecon(lu, anorm, norm="1")
        condition = 1.0 / max(float(rcond), 1e-300)
        info["condition_estimate"] = condition
        bound = condition * np.finfo(np.float32).eps
        if solve_precision == "float32" or bound <= FLOAT32_SOLVE_TOLERANCE:
            info["solve_precision"] = "float32"
            info["solve_error_bound"] = bound
            return lu, piv
        del lu, piv
    lu, piv = scipy.linalg.lu_factor(matrix, overwrite_a=True, check_finite=False)
    if "condition_estimate" not in info:
        rcond, _ = scipy.linalg.lapack.dgecon(lu, float(np.abs(matrix).sum(axis=0).max()), norm="1")
        info["condition_estimate"] = 1.0 / max(float(rcond), 1e-300)
    info["solve_precision"] = "float64"
    info["solve_error_bound"] = info["condition_estimate"] * np.finfo(np.float64).eps
    return lu, piv


#: Where each phase of :func:`iter_transfer_matrix` lies in its progress fractions (start, end):
#: the phases of :func:`.estimate.estimate_transfer_cost`, for the time left (:func:`..progress.with_time_left`).
TRANSFER_PHASES = {"assembly": (0.0, 0.25), "factorisation": (0.25, 0.45), "field operators": (0.45, 0.6),
                   "solve": (0.6, 0.7), "products": (0.7, 1.0)}


def iter_transfer_matrix(stack: StackedSurfaces, points_m: np.ndarray, sigma_at_points: np.ndarray,
                         *, block_rows: int = 2048, device: str = "cpu",
                         product_dtype=np.float32, solve_precision: str = "auto", info: dict | None = None,
                         keep_factorisation: bool = False):
    """Compute ``T`` of equation (3), yielding ``(fraction_done, message)`` on the way.

    The generator's return value (``StopIteration.value``) is ``T`` (3 P x N, float64, NumPy).
    The integrals are numba kernels on the CPU; the dense algebra (LU factorisation, solves,
    products) runs on ``device`` ("cpu": SciPy/LAPACK; "cuda": PyTorch, float64). Peak memory is
    about ``8 N^2`` bytes (the matrix) plus ``3 * 8 * 3P N``.

    The matrix, its factorisation and the solves are float64. The last product ``(G_D M^-1) S``
    runs in ``product_dtype`` (float32 by default: twice as fast; its rounding, about 1e-6
    relative, is four orders below the discretisation error; a test compares it with float64).
    ``solve_precision="auto"`` factorises in float32 (twice as fast) when LAPACK's condition
    estimate times float32's roundoff is below ``FLOAT32_SOLVE_TOLERANCE`` (1e-3, a bound on the
    solve's relative error, Golub & Van Loan 2013 section 3.5), else in float64. ``info``, if
    given, receives the condition estimate and the precision used, and with ``keep_factorisation``
    (CPU only) the LU factors under ``"factorisation"`` (for :func:`.points_field.keep_factorisation`:
    the field of one placement at any points then needs no second factorisation).
    """
    info = {} if info is None else info
    n = stack.n_vertices
    yield 0.0, f"assembling the {n} x {n} BEM matrix"
    matrix = yield from forward(iter_potential_matrix(stack), 0.0, 0.25)
    yield 0.25, "factorising the BEM matrix"
    if device == "cuda":
        import torch

        lu, piv = torch.linalg.lu_factor(torch.as_tensor(matrix, device="cuda"))
        info["solve_precision"] = "float64"
    else:
        lu_piv = _factorise(matrix, solve_precision, info)
    del matrix
    yield 0.45, f"field operators at {len(points_m)} points"
    g_single, g_double = field_operators(stack, points_m)
    yield 0.6, "solving for the field operators"
    # Y = G_D M^-1  <=>  M^T Y^T = G_D^T
    if device == "cuda":
        y = torch.linalg.lu_solve(lu, piv, torch.as_tensor(g_double.T, device="cuda"), adjoint=True).T
        y = y.to(getattr(torch, np.dtype(product_dtype).name))
        del lu, piv, g_double
        transfer = torch.as_tensor(g_single, device="cuda")
        del g_single
    else:
        rhs = g_double.T.astype(lu_piv[0].dtype, copy=False)
        y = scipy.linalg.lu_solve(lu_piv, rhs, trans=1, check_finite=False).T
        y = np.ascontiguousarray(y, dtype=product_dtype)
        if keep_factorisation:
            info["factorisation"] = lu_piv
        del g_double, lu_piv
        transfer = g_single
    starts = list(range(0, n, block_rows))
    for k, start in enumerate(starts):
        rows = slice(start, min(start + block_rows, n))
        yield 0.7 + 0.3 * k / len(starts), "single-layer source operator"
        source_rows = source_matrix_rows(stack, rows).astype(product_dtype, copy=False)
        if device == "cuda":
            transfer += y[:, rows] @ torch.as_tensor(source_rows, device="cuda")
        else:
            transfer += y[:, rows] @ source_rows
    del y
    if device == "cuda":
        transfer = transfer.cpu().numpy()
    scale = -1.0 / np.repeat(np.asarray(sigma_at_points, dtype=float), 3)
    transfer *= scale[:, None]
    yield 1.0, "done"
    return transfer
