"""The TMS E-field solver: precompute once per model, then milliseconds per coil placement.

:class:`TmsBemSolver` holds the transfer matrix ``T`` of :mod:`.lc_bem` (equation 3) for one
volume conductor and one set of evaluation points (e.g. the cortex surface's vertices). ``T``
depends on the meshes, conductivities and points only; it is computed once (minutes for the rat's
2C model), optionally cached on disk, and each placement then costs

* the coil's primary field at the surface vertices (its normal component ``g``) and at the points,
* one product ``T g`` (or ``T G`` for a batch of placements: a matrix product).

The cache file is named by a SHA-256 of the topology, conductivities, number of points and solver
version; it stores the coordinates it was made for (compared within 1 nm, so surfaces read back
from a project folder's mm text files still match) and a checksum of ``T``; a file that does not
match or does not read is recomputed (with a warning), never trusted.

Optional GPU path: with ``device="cuda"`` (or ``"auto"`` when PyTorch sees a CUDA device) ``T``
lives on the GPU and placements run there; results match the CPU path to the precision of the
chosen dtype. CI never needs a GPU.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numba
import numpy as np

from ..coils.dipoles import MU0, CoilDipoles, primary_efield
from ..errors import ConductorModelError
from ..meshes import checks
from ..parallel import kernel_section
from ..progress import with_time_left
from . import lc_bem
from .conductor import VolumeConductor
from .estimate import check_memory, estimate_transfer_cost
from .points_field import keep_factorisation as keep_factorisation_of

__all__ = ["SOLVER_VERSION", "TmsBemSolver", "iter_build_solver", "build_solver", "check_evaluation_points", "model_cache_key", "conductor_geometry", "parallel_matvec",
           "NearSurfaceWarning", "NEAR_SURFACE_POLICIES"]

#: Changes whenever the numbers ``T`` holds could change (formulation, quadrature): old caches are ignored.
SOLVER_VERSION = "lc-bem-2"


class NearSurfaceWarning(UserWarning):
    """Evaluation points closer to a surface than half its mean edge length: the field there is
    less accurate (not wrong)."""


#: What to do with evaluation points near a surface: warn (:class:`NearSurfaceWarning`), go on
#: silently (a caller that knows and says so, e.g. neuron compartments next to the bone), or refuse.
NEAR_SURFACE_POLICIES = ("warn", "ignore", "raise")


def check_evaluation_points(conductor: VolumeConductor, points_m, *, on_near_surface: str = "warn") -> np.ndarray:
    """Conductivity (S/m) at each point; errors for points outside the head; points near a surface
    handled by ``on_near_surface`` (:data:`NEAR_SURFACE_POLICIES`).

    A point outside every surface (in air) is an error: the field there is not modelled. A point
    closer to a surface than half that surface's mean edge length is less accurate: the quadrature
    refines, but the piecewise-linear potential is least accurate there (seed 003 kept its
    cortical points at least 1 mm from the skull for this reason). ``"warn"`` issues a
    :class:`NearSurfaceWarning`, ``"raise"`` a :class:`ConductorModelError`, ``"ignore"`` nothing.
    """
    if on_near_surface not in NEAR_SURFACE_POLICIES:
        raise ValueError(f"on_near_surface must be one of {NEAR_SURFACE_POLICIES}, got {on_near_surface!r}")
    points = np.asarray(points_m, dtype=float).reshape(-1, 3)
    if len(points) == 0:
        raise ValueError("no evaluation points were given")
    if not np.all(np.isfinite(points)):
        raise ValueError("evaluation points contain NaN or infinite values")
    sigma = conductor.conductivity_at(points)
    outside = np.flatnonzero(sigma == 0)
    if len(outside):
        p = points[outside[0]] * 1000.0
        raise ConductorModelError(
            f"{len(outside)} of {len(points)} evaluation points lie outside the head model (in air), e.g. "
            f"({p[0]:.2f}, {p[1]:.2f}, {p[2]:.2f}) mm. Are they in metres, in the model's frame?"
        )
    if on_near_surface == "ignore":
        return sigma
    for b in conductor.boundaries:
        half_edge = 0.5 * b.surface.mean_edge_length_m
        dist = checks.distance_to_surface(b.surface, points)
        close = np.flatnonzero(dist < half_edge)
        if len(close):
            message = (f"{len(close)} evaluation points lie closer to surface {b.name!r} than half its mean edge "
                       f"length ({half_edge * 1000:.2f} mm; the closest {dist.min() * 1000:.3f} mm). The field "
                       "there is less accurate; move the points inwards or refine that surface.")
            if on_near_surface == "raise":
                raise ConductorModelError(message)
            warnings.warn(message, NearSurfaceWarning, stacklevel=3)
    return sigma


#: Vertices and points may differ by this much (m) from those a cache was made for and still use it:
#: surfaces written to a text file in mm and read back (a reopened project) are not bit-identical.
#: 1 nm is 1e-5 of the finest edge we mesh (0.1 mm); T changes by ~1e-7 relative for such a move,
#: below float32 storage precision.
CACHE_GEOMETRY_TOLERANCE_M = 1e-9
_CACHE_FORMAT = "cache-2"


def _geometry(conductor: VolumeConductor) -> np.ndarray:
    return np.concatenate([np.asarray(b.surface.vertices_m, dtype=np.float64).ravel()
                           for b in conductor.boundaries])


def _cache_key(conductor: VolumeConductor, points: np.ndarray, dtype, solve_precision: str) -> str:
    """Key of everything exact (topology, conductivities, sizes, solver); the coordinates are
    stored in the file and compared with :data:`CACHE_GEOMETRY_TOLERANCE_M` on loading."""
    h = hashlib.sha256()
    for text in (_CACHE_FORMAT, SOLVER_VERSION, np.dtype(dtype).name, solve_precision):
        h.update(text.encode())
    for b in conductor.boundaries:
        h.update(np.ascontiguousarray(b.surface.faces, dtype=np.int64).tobytes())
        sizes = np.array([b.surface.n_vertices, b.sigma_inside, b.sigma_outside], dtype=np.float64)
        h.update(sizes.tobytes())
    h.update(np.array([len(points)], dtype=np.int64).tobytes())
    return h.hexdigest()


def model_cache_key(conductor: VolumeConductor, points_m, dtype=np.float32, solve_precision: str = "auto") -> str:
    """The solver cache's key of a model and its points (what must be exact; the coordinates are
    compared with :data:`CACHE_GEOMETRY_TOLERANCE_M`, see :func:`conductor_geometry`): for caches of
    what is derived from a model (the reduced field, :mod:`..fields.reduced`)."""
    return _cache_key(conductor, np.asarray(points_m).reshape(-1, 3), dtype, solve_precision)


def conductor_geometry(conductor: VolumeConductor) -> np.ndarray:
    """All the model's vertex coordinates (m), flat, as the cache files store them."""
    return _geometry(conductor)


def _checksum(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _load_cache(path: Path, key: str, shape: tuple[int, int], geometry: np.ndarray, points: np.ndarray):
    """The cached T, or None (with a warning saying why) when the file is absent, corrupt or stale."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            stored_key = str(data["key"])
            transfer = data["transfer"]
            checksum = str(data["checksum"])
            stored_geometry, stored_points = data["geometry"], data["points"]
        if stored_key != key:
            raise ValueError("it was made for another model or other points")
        if transfer.shape != shape:
            raise ValueError(f"its matrix has shape {transfer.shape}, expected {shape}")
        tol = CACHE_GEOMETRY_TOLERANCE_M
        for what, stored, now in (("surfaces", stored_geometry, geometry), ("points", stored_points, points)):
            if stored.shape != now.shape or not np.allclose(stored, now, rtol=0.0, atol=tol):
                raise ValueError(f"its {what} differ from this model's by more than {tol * 1e9:g} nm")
        if _checksum(transfer) != checksum:
            raise ValueError("its checksum does not match (the file is damaged)")
        return transfer
    except Exception as err:  # any unreadable file: recompute, never crash
        warnings.warn(f"Ignoring the BEM cache {path}: {err}. Recomputing.", stacklevel=4)
        return None


def _save_cache(path: Path, key: str, transfer: np.ndarray, geometry: np.ndarray, points: np.ndarray):
    from ..files import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp):
        with open(tmp, "wb") as f:    # a file object: np.savez would add ".npz" to a name
            np.savez(f, key=np.array(key), transfer=transfer, checksum=np.array(_checksum(transfer)),
                     version=np.array(SOLVER_VERSION), geometry=geometry, points=points)

    atomic_write(path, True, write)   # a crash never leaves a half-written cache under the real name


def _resolve_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cpu":
        return "cpu"
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if device == "cuda" and not has_cuda:
        raise RuntimeError("device='cuda' needs PyTorch with a CUDA device; none was found. Use device='cpu'.")
    return "cuda" if has_cuda else "cpu"


class TmsBemSolver:
    """E-field of any coil placement at fixed evaluation points in a fixed head model.

    Build with :func:`build_solver` (or :func:`iter_build_solver` for progress). Results in V/m.

    Attributes
    ----------
    conductor : VolumeConductor
    points_m : (P, 3) array
    sigma_at_points : (P,) array, S/m
    transfer : (3P, F) array (``dtype``), the matrix T of :mod:`.lc_bem` (F triangles)
    source_points_m, surface_normals : (F, 3) arrays, the triangles' centroids and normals, where the
        source g = E_p . n is sampled
    precompute_seconds : float (0 when read from the cache)
    from_cache : bool
    device : "cpu" or "cuda"
    """

    def __init__(self, conductor, points_m, sigma_at_points, transfer, *, device="cpu",
                 precompute_seconds=0.0, from_cache=False):
        self.conductor = conductor
        self.points_m = np.ascontiguousarray(points_m, dtype=np.float64)
        self.sigma_at_points = sigma_at_points
        self.transfer = transfer
        self.dtype = transfer.dtype
        self.precompute_seconds = precompute_seconds
        self.from_cache = from_cache
        self.precompute_info: dict = {}
        # the source g = E_p . n on each triangle: E_p at its centroid with the triangle's own normal.
        # (The mean of E_p at the corners would halve the primary-field cost but is O(h^2/d^2) off:
        # 3.7 % instead of 2.3 % against OpenMEEG on the coarse holed-skull test.)
        self.source_points_m = np.concatenate([b.surface.face_centroids_m for b in conductor.boundaries])
        self.surface_normals = np.concatenate([b.surface.face_normals for b in conductor.boundaries])
        self._n_sources = len(self.source_points_m)
        self._field_points = np.concatenate([self.source_points_m, self.points_m])
        self.device = _resolve_device(device)
        self._torch_transfer = None
        if self.device == "cuda":
            import torch

            self._torch_transfer = torch.as_tensor(transfer, device="cuda")
            self._torch_field_points = torch.as_tensor(self._field_points, device="cuda")
            self._torch_normals = torch.as_tensor(self.surface_normals, device="cuda")

    @property
    def n_points(self) -> int:
        return len(self.points_m)

    def _primary(self, coil: CoilDipoles, didt_a_per_s: float):
        """Primary field at the triangles' centroids and at the points (one kernel call)."""
        e = primary_efield(self._field_points, coil, didt_a_per_s, self.dtype)
        return e[: self._n_sources], e[self._n_sources:]

    def _triangle_source(self, e_centroids: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", e_centroids, self.surface_normals)

    def surface_source(self, coil: CoilDipoles, didt_a_per_s: float = 1.0) -> np.ndarray:
        """``g = E_p . n`` on each triangle (V/m): the only coil-dependent input of the BEM."""
        return self._triangle_source(self._primary(coil, didt_a_per_s)[0])

    def efield(self, coil: CoilDipoles, didt_a_per_s: float = 1.0) -> np.ndarray:
        """Total E-field (V/m) at the evaluation points, (P, 3), for one coil placement."""
        if self._torch_transfer is not None:
            return self._efield_torch([coil], didt_a_per_s)[0]
        e_vertices, e_points = self._primary(coil, didt_a_per_s)
        secondary = self._apply(self._triangle_source(e_vertices)[:, None])[:, 0]
        return e_points + secondary.reshape(-1, 3)

    def efield_batch(self, coils, didt_a_per_s: float = 1.0) -> np.ndarray:
        """E-fields (V/m) of several placements, (B, P, 3): one matrix product for all of them."""
        coils = list(coils)
        if not coils:
            return np.zeros((0, self.n_points, 3))
        if self._torch_transfer is not None:
            return self._efield_torch(coils, didt_a_per_s)
        primaries = [self._primary(c, didt_a_per_s) for c in coils]
        sources = np.stack([self._triangle_source(e_vertices) for e_vertices, _ in primaries], axis=1)
        secondary = self._apply(sources).T.reshape(len(coils), self.n_points, 3)
        return np.stack([e_points for _, e_points in primaries]) + secondary

    def _efield_torch(self, coils, didt_a_per_s: float) -> np.ndarray:
        """GPU path: primary fields and the product on the device, float64 primary fields."""
        import torch

        sources, primaries = [], []
        for coil in coils:
            pos = torch.as_tensor(coil.positions_m, device="cuda")
            mom = torch.as_tensor(coil.moments_m2, device="cuda")
            e = _torch_primary(self._torch_field_points, pos, mom, didt_a_per_s)
            sources.append((e[: self._n_sources] * self._torch_normals).sum(dim=1))
            primaries.append(e[self._n_sources:])
        g = torch.stack(sources, dim=1).to(self._torch_transfer.dtype)
        secondary = (self._torch_transfer @ g).double().T.reshape(len(coils), self.n_points, 3)
        return (torch.stack(primaries) + secondary).cpu().numpy()

    def _apply(self, sources: np.ndarray) -> np.ndarray:
        if self._torch_transfer is not None:
            import torch

            g = torch.as_tensor(sources.astype(self.dtype, copy=False), device="cuda")
            return (self._torch_transfer @ g).double().cpu().numpy()
        if sources.shape[1] == 1:
            # one placement: a numba product, not BLAS. OpenBLAS's threads keep spinning after a
            # product and slow the next numba primary-field kernel down 2x (measured: 28 ms apart,
            # 54 ms interleaved); numba's own loop shares numba's threads.
            out = np.empty(self.transfer.shape[0])
            with kernel_section():
                _matvec(self.transfer, np.ascontiguousarray(sources[:, 0], dtype=self.dtype), out)
            return out[:, None]
        return (self.transfer @ sources.astype(self.dtype, copy=False)).astype(np.float64, copy=False)


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _matvec(matrix, vector, out):
    """``out = matrix @ vector``, rows in parallel, accumulated in the matrix's precision (SIMD lanes)."""
    for i in numba.prange(matrix.shape[0]):
        acc = matrix[i, 0] * 0
        for j in range(matrix.shape[1]):
            acc += matrix[i, j] * vector[j]
        out[i] = acc


#: ``out = matrix @ vector`` with numba's threads (rows in parallel): for single products next to numba
#: kernels, where BLAS's spinning threads would slow the next kernel down (see ``TmsBemSolver._apply``).
parallel_matvec = _matvec


def _torch_primary(points, positions, moments, didt_a_per_s, chunk=128):
    """:func:`..coils.dipoles.primary_efield` in PyTorch (same equation), dipoles in chunks."""
    import torch

    out = torch.zeros_like(points)
    for start in range(0, len(positions), chunk):
        d = points[:, None, :] - positions[None, start:start + chunk, :]
        inv3 = d.norm(dim=2).pow(-3)
        out += (torch.cross(moments[None, start:start + chunk, :].expand_as(d), d, dim=2) * inv3[..., None]).sum(1)
    return out * (-MU0 / (4.0 * np.pi) * float(didt_a_per_s))


def iter_build_solver(conductor: VolumeConductor, points_m, *, cache_dir=None, dtype=np.float32,
                      device: str = "cpu", solve_precision: str = "auto", memory_limit_bytes=None,
                      keep_factorisation: bool = False):
    """Build a :class:`TmsBemSolver`, yielding ``(fraction_done, message)``; returns the solver.

    ``cache_dir``: folder for the precomputed matrix (None: no cache). ``dtype``: precision of
    the last precompute product and of T's storage and products (float32 halves memory and time
    per placement; its rounding, ~1e-6 relative, is far below the BEM's discretisation error;
    float64 for reference computations). ``device``: "cpu", "cuda" or "auto" for the dense
    algebra of the precompute and of every placement. ``solve_precision``: see
    :func:`.lc_bem.iter_transfer_matrix` ("auto" uses float32 where the condition number allows).

    Before computing, the peak memory and the time are estimated (:mod:`.estimate`) and said in
    the first progress message; a model that would need more than ``memory_limit_bytes`` (default:
    the memory available now) is refused with :class:`.estimate.NotEnoughMemoryError`, which says
    what to change, before anything is allocated.

    ``keep_factorisation``: keep the precomputation's LU factors for this conductor
    (:func:`.points_field.keep_factorisation`), so that the field of a placement at other points
    (neuron compartments, voxels) needs no second factorisation (``8 N^2`` or ``4 N^2`` bytes kept;
    a model read from the cache has none to keep).
    """
    points = np.ascontiguousarray(points_m, dtype=np.float64).reshape(-1, 3)
    yield 0.0, "checking the evaluation points"
    sigma = check_evaluation_points(conductor, points)
    stack = lc_bem.StackedSurfaces(conductor)
    key = _cache_key(conductor, points, dtype, solve_precision)
    shape = (3 * len(points), stack.n_faces)
    path = Path(cache_dir) / f"tms-bem-{key[:24]}.npz" if cache_dir is not None else None
    if path is not None:
        cached = _load_cache(path, key, shape, _geometry(conductor), points)
        if cached is not None:
            yield 1.0, f"read the precomputed model from {path}"
            return TmsBemSolver(conductor, points, sigma, cached.astype(dtype, copy=False), device=device,
                                from_cache=True)
    resolved = _resolve_device(device)
    cost = estimate_transfer_cost(stack.n_vertices, stack.n_faces, len(points),
                                  keep_factorisation=keep_factorisation and resolved == "cpu")
    if resolved == "cuda":   # the dense algebra is on the GPU: the host holds M and the operators
        host = cost.phases_bytes["field operators"]
        cost = replace(cost, peak_bytes=host, phases_bytes={"host arrays before the GPU": host})
    check_memory(cost, memory_limit_bytes, f"the {conductor.name} model")
    yield 0.0, f"estimated {cost.describe()}"
    start = time.perf_counter()
    info: dict = {"estimate": cost}
    steps = lc_bem.iter_transfer_matrix(stack, points, sigma, device=resolved, product_dtype=dtype,
                                        solve_precision=solve_precision, info=info,
                                        keep_factorisation=keep_factorisation)
    if resolved == "cpu":      # the time left, from the estimate corrected by the speed measured so far
        phases = [(a, b, cost.phases_seconds.get(name, 0.0)) for name, (a, b) in lc_bem.TRANSFER_PHASES.items()]
        steps = with_time_left(steps, phases)
    transfer = yield from steps
    transfer = transfer.astype(dtype, copy=False)
    if "factorisation" in info:
        keep_factorisation_of(conductor, info.pop("factorisation"))
        info["factorisation_kept"] = True
    seconds = time.perf_counter() - start
    if path is not None:
        yield 1.0, f"saving the precomputed model to {path}"
        _save_cache(path, key, transfer, _geometry(conductor), points)
    solver = TmsBemSolver(conductor, points, sigma, transfer, device=device, precompute_seconds=seconds)
    solver.precompute_info = info
    return solver


def build_solver(conductor: VolumeConductor, points_m, **kwargs) -> TmsBemSolver:
    """:func:`iter_build_solver` run to the end (no progress reports)."""
    from ..progress import run_to_completion

    return run_to_completion(iter_build_solver(conductor, points_m, **kwargs))
