"""The core's parallel kernels called from several threads at once (the viewer's workers).

The numerical kernels (BEM integrals, the coil's primary field, the transfer-matrix product) are
numba functions with ``parallel=True`` and ``nogil=True``: they release the GIL, so a viewer keeps
drawing while a worker thread computes. Two threads may then enter parallel kernels at the same
time (the E-field dock updating the field while a model is being built). Numba's ``tbb`` and
``omp`` threading layers allow this; its fallback ``workqueue`` layer (used when neither TBB nor
an OpenMP runtime is installed, or when ``NUMBA_THREADING_LAYER=workqueue``) aborts the whole
process instead (numba documentation, "The Threading Layers"). :func:`kernel_section` serialises
the callers in that case only, so nothing is lost but concurrency.
"""

from __future__ import annotations

import importlib
import threading
from contextlib import contextmanager
from functools import lru_cache

__all__ = ["threadsafe_kernels", "kernel_section"]

_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def threadsafe_kernels() -> bool:
    """Whether numba's threading layer lets several threads run parallel kernels at once."""
    import numba

    chosen = str(numba.config.THREADING_LAYER).lower()
    if chosen == "workqueue":
        return False
    layers = {"tbb": ("tbbpool",), "omp": ("omppool",)}.get(chosen, ("tbbpool", "omppool"))
    for module in layers:
        try:
            importlib.import_module(f"numba.np.ufunc.{module}")
            return True
        except ImportError:
            continue
    return False


@contextmanager
def kernel_section(blocking: bool = True):
    """Context for a thread's run of parallel kernels; yields whether it may run now.

    With a thread-safe threading layer this is free and always yields True. With ``workqueue`` it
    takes one process-wide lock: ``blocking=False`` does not wait for it and yields False when
    another thread holds it (the caller then tries again later)."""
    if threadsafe_kernels():
        yield True
        return
    acquired = _LOCK.acquire(blocking=blocking)
    try:
        yield acquired
    finally:
        if acquired:
            _LOCK.release()
