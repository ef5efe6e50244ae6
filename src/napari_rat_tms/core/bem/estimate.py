"""What a BEM precomputation will cost, said before it starts: peak memory and time on this machine.

The precomputation of :func:`.lc_bem.iter_transfer_matrix` for N surface vertices, F triangles
and P evaluation points holds, phase by phase (bytes; float64 = 8, float32 = 4):

=====================  ==============================================================================
assembly                the N x N matrix M, float64: ``8 N^2``
factorisation           M, its float32 copy and LAPACK's Fortran-ordered working copy: ``16 N^2``
field operators         the LU factors (``8 N^2`` at most) + G_S (3P x F) + G_D (3P x N), float64:
                        ``8 N^2 + 24 P F + 24 P N``
solve                   the above + the right-hand side and the result in float32 and the result's
                        contiguous copy: ``8 N^2 + 24 P F + 24 P N + 36 P N``
products                T (3P x F, float64) + Y (3P x N, float32) + a block of S (B x F, float64 and
                        float32, B = 2,048 rows) + the block product (3P x F, float32):
                        ``24 P F + 12 P N + 12 B F + 12 P F``
result                  T in float64 and its float32 copy, then the checksum's copy on saving:
                        ``24 P F + 12 P F + 12 P F``
=====================  ==============================================================================

The peak is the largest phase; the estimate adds nothing for the meshes and Python (tens of MB).
The time is the sum of the phases' operation counts divided by rates measured once per process on
this machine (:func:`machine_rates`: the package's own integral kernels on a 642-vertex sphere,
LAPACK's LU and BLAS's product on 1,000 x 1,000 matrices), so it follows the machine's cores and
libraries; expect it within a factor of about 2 (the rates of small problems differ from those of
large ones). Tests check the memory model against measured peaks (``tests/core/bem/test_estimate.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import RatTmsError
from ..progress import format_duration

__all__ = ["SolveEstimate", "NotEnoughMemoryError", "MachineRates", "machine_rates", "estimate_transfer_cost",
           "check_memory", "available_memory_bytes"]

#: Rows of S computed at once in the product phase (:func:`.lc_bem.iter_transfer_matrix`).
BLOCK_ROWS = 2048


class NotEnoughMemoryError(RatTmsError, MemoryError):
    """A computation would need more memory than the machine has available."""


@dataclass(frozen=True)
class MachineRates:
    """Measured rates of this machine (per second)."""

    double_layer_pairs: float     # vertex x triangle pairs of the double-layer kernel
    single_layer_pairs: float     # vertex x triangle pairs of the single-layer source kernel
    gradient_pairs: float         # point x triangle pairs of the field-gradient kernel
    lu_flops: float               # LAPACK LU, float32
    gemm_flops: float             # BLAS matrix product, float32


@dataclass(frozen=True)
class SolveEstimate:
    """Estimated cost of one model's precomputation."""

    n_vertices: int
    n_faces: int
    n_points: int
    peak_bytes: float
    seconds: float
    phases_bytes: dict = field(default_factory=dict)
    phases_seconds: dict = field(default_factory=dict)

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / 2**30

    def describe(self) -> str:
        when = format_duration(self.seconds)
        return (f"{self.n_vertices} vertices, {self.n_faces} triangles, {self.n_points} points: about {when} "
                f"and {self.peak_gib:.1f} GiB of memory at the peak")


def _time(fn, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return max(best, 1e-9)


@lru_cache(maxsize=1)
def machine_rates() -> MachineRates:
    """Rates of this machine, measured once per process (about 0.3 s)."""
    import scipy.linalg

    from ..meshes.primitives import icosphere
    from .conductor import Boundary, VolumeConductor
    from .lc_bem import StackedSurfaces, field_operators, potential_matrix, source_matrix_rows

    sphere = icosphere(0.01, 3)
    stack = StackedSurfaces(VolumeConductor([Boundary(sphere, 0.33, 0.0)]))
    n, f = stack.n_vertices, stack.n_faces
    points = sphere.vertices_m[:200] * 0.5
    potential_matrix(stack)     # compiled or loaded from numba's cache before timing
    t_dl = _time(lambda: potential_matrix(stack))
    t_sl = _time(lambda: source_matrix_rows(stack, slice(0, n)))
    t_gr = _time(lambda: field_operators(stack, points))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1000, 1000)).astype(np.float32) + 1000 * np.eye(1000, dtype=np.float32)
    t_lu = _time(lambda: scipy.linalg.lu_factor(a, check_finite=False))
    t_mm = _time(lambda: a @ a)
    return MachineRates(n * f / t_dl, n * f / t_sl, len(points) * f / t_gr, (2.0 / 3.0) * 1000**3 / t_lu,
                        2.0 * 1000**3 / t_mm)


def estimate_transfer_cost(n_vertices: int, n_faces: int, n_points: int, rates: MachineRates | None = None,
                           *, keep_factorisation: bool = False) -> SolveEstimate:
    """Peak memory (bytes) and time (s) of :func:`.lc_bem.iter_transfer_matrix` on the CPU.

    See the module docstring for the memory of each phase. ``rates``: :func:`machine_rates` by
    default (measured on the first call). ``keep_factorisation``: the LU factors (``8 N^2`` at most)
    stay for the products and the result, and after.
    """
    n, f, p = float(n_vertices), float(n_faces), float(n_points)
    b = min(float(BLOCK_ROWS), n)
    phases_bytes = {
        "assembly": 8 * n * n,
        "factorisation": 16 * n * n,
        "field operators": 8 * n * n + 24 * p * f + 24 * p * n,
        "solve": 8 * n * n + 24 * p * f + 24 * p * n + 36 * p * n,
        "products": 24 * p * f + 12 * p * n + 12 * b * f + 12 * p * f,
        "result": 24 * p * f + 12 * p * f + 12 * p * f,
    }
    if keep_factorisation:
        phases_bytes["products"] += 8 * n * n
        phases_bytes["result"] += 8 * n * n
    rates = rates or machine_rates()
    phases_seconds = {
        "assembly": n * f / rates.double_layer_pairs,
        "factorisation": (2.0 / 3.0) * n**3 / rates.lu_flops,
        "field operators": p * f / rates.gradient_pairs,
        "solve": 2.0 * n * n * 3 * p / rates.gemm_flops,
        "products": n * f / rates.single_layer_pairs + 2.0 * 3 * p * n * f / rates.gemm_flops,
    }
    return SolveEstimate(int(n_vertices), int(n_faces), int(n_points), max(phases_bytes.values()),
                         float(sum(phases_seconds.values())), phases_bytes, phases_seconds)


def available_memory_bytes() -> float:
    """Memory the operating system can give this process now (bytes)."""
    import psutil

    return float(psutil.virtual_memory().available)


def check_memory(estimate: SolveEstimate, limit_bytes: float | None = None, what: str = "this model") -> None:
    """Raise :class:`NotEnoughMemoryError` (saying what to change) when ``estimate`` does not fit in
    ``limit_bytes`` (default: the memory available now)."""
    limit = available_memory_bytes() if limit_bytes is None else float(limit_bytes)
    if estimate.peak_bytes <= limit:
        return
    # the peak grows with N^2 (the matrix) or P F (the operators): say which dominates
    matrix_part = 16 * float(estimate.n_vertices) ** 2
    advice = ("use coarser surfaces (a larger edge length for the body and skull: the memory grows with "
              "the square of the number of vertices)" if matrix_part >= 0.5 * estimate.peak_bytes else
              "use fewer evaluation points (cortex points) or coarser surfaces")
    raise NotEnoughMemoryError(
        f"Computing {what} needs about {estimate.peak_gib:.1f} GiB of memory ({estimate.describe()}), but "
        f"only {limit / 2**30:.1f} GiB is available: {advice}, or run it on a machine with more memory. "
        "Nothing was computed.")
