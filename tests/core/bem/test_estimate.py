"""Estimates before a BEM precomputation (core.bem.estimate) against measured peaks, and the refusal."""

import sys
from pathlib import Path

import numpy as np
import pytest

from napari_rat_tms.core.bem.conductor import nested_spheres
from napari_rat_tms.core.bem.estimate import NotEnoughMemoryError, estimate_transfer_cost
from napari_rat_tms.core.bem.lc_bem import StackedSurfaces
from napari_rat_tms.core.bem.solver import build_solver, iter_build_solver

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from _measure import PeakMemory  # noqa: E402


def _points(n, radius=0.006):
    d = np.random.default_rng(0).normal(size=(n, 3))
    return d / np.linalg.norm(d, axis=1)[:, None] * radius


@pytest.mark.parametrize("radii, sigmas, n_points", [
    ((0.01,), (0.33,), 800),                  # N = 2,562 (solve phase ~0.27 GB)
    ((0.009, 0.01), (0.33, 0.0066), 600),     # N = 5,124 (solve phase ~0.6 GB)
])
def test_memory_estimate_is_within_a_factor_2_of_the_measured_peak(radii, sigmas, n_points):
    conductor = nested_spheres(radii, sigmas, subdivisions=4)
    stack = StackedSurfaces(conductor)
    estimate = estimate_transfer_cost(stack.n_vertices, stack.n_faces, n_points)
    build_solver(conductor, _points(5))            # kernels loaded, rates measured: not in the peak
    with PeakMemory(interval_s=0.005) as peak:
        build_solver(conductor, _points(n_points))
    measured = peak.peak - peak.baseline
    assert 0.5 <= measured / estimate.peak_bytes <= 2.0, (measured / 1e6, estimate.phases_bytes)


def test_a_model_too_large_for_the_memory_is_refused_before_anything_is_computed(tmp_path):
    conductor = nested_spheres((0.01,), (0.33,), subdivisions=3)
    steps = iter_build_solver(conductor, _points(50), cache_dir=tmp_path, memory_limit_bytes=1e6)
    refusal = r"GiB of memory.*only 0\.0 GiB is available.*coarser surfaces"
    with pytest.raises(NotEnoughMemoryError, match=refusal):
        for _ in steps:
            pass
    assert list(tmp_path.iterdir()) == []          # nothing computed, nothing written
    # with enough memory the first progress message says the estimate
    first = [message for _, message in iter_build_solver(conductor, _points(50))][1]
    assert first.startswith("estimated 642 vertices, 1280 triangles, 50 points: about") and "GiB" in first
