"""Parallel kernels from several threads (core.parallel)."""

import threading

import numba
import numpy as np

from napari_rat_tms.core import parallel
from napari_rat_tms.core.coils import mc_b35, primary_efield


def test_threadsafe_kernels_agrees_with_numbas_threading_layer():
    primary_efield(np.zeros((4, 3)), mc_b35("low"))      # a parallel kernel has run: the layer is chosen
    assert parallel.threadsafe_kernels() == (numba.threading_layer() in ("tbb", "omp"))


def test_kernel_section_serialises_threads_only_without_a_threadsafe_layer(monkeypatch):
    monkeypatch.setattr(parallel, "threadsafe_kernels", lambda: False)    # as under 'workqueue'
    inside, release = threading.Event(), threading.Event()

    def holder():
        with parallel.kernel_section() as acquired:
            assert acquired
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(5)
    with parallel.kernel_section(blocking=False) as acquired:
        assert not acquired                  # held by the other thread: the caller tries later
    release.set()
    thread.join()
    with parallel.kernel_section(blocking=False) as acquired:
        assert acquired
    monkeypatch.setattr(parallel, "threadsafe_kernels", lambda: True)
    with parallel.kernel_section(blocking=False) as first, parallel.kernel_section(blocking=False) as second:
        assert first and second              # thread-safe layers: never waits
