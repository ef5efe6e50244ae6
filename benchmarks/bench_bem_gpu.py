"""GPU path of the BEM solver against the CPU path, same run, same model (nested spheres).

Model: two concentric icospheres of 10,242 vertices each (20,484 in all, the size of seed 003's 2C
rat model), skull-like inner ball at 1/50, 2,000 evaluation points. Prints precompute time on
each device, agreement, latency of one placement (median of 51) and batched throughput.

    python benchmarks/bench_bem_gpu.py [--subdivisions 5] [--skip-cpu-precompute]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from napari_rat_tms.core.bem.conductor import SIGMA_BODY, SIGMA_SKULL, nested_spheres
from napari_rat_tms.core.bem.solver import TmsBemSolver, build_solver
from napari_rat_tms.core.coils import CoilDipoles
from napari_rat_tms.core.metrics import relative_error


def figure_of_eight(n_per_wing=136):
    """A 2-wing coil of ``2 n_per_wing`` dipoles, 46 mm across, bottom 16 mm above the centre."""
    rng = np.random.default_rng(0)
    r = 0.011 * np.sqrt(rng.uniform(size=n_per_wing))
    a = rng.uniform(0, 2 * np.pi, n_per_wing)
    disc = np.c_[r * np.cos(a), r * np.sin(a)]
    pos = np.concatenate([np.c_[disc[:, 0] - 0.012, disc[:, 1], np.full(n_per_wing, 0.018)],
                          np.c_[disc[:, 0] + 0.012, disc[:, 1], np.full(n_per_wing, 0.018)]])
    mom = np.zeros_like(pos)
    mom[:n_per_wing, 2], mom[n_per_wing:, 2] = 1e-5, -1e-5
    return CoilDipoles(pos, mom, f"figure-of-eight ({2 * n_per_wing} dipoles)")


def rotations(n):
    out = []
    for k in range(n):
        t = 2 * np.pi * k / n
        out.append(np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1.0]]))
    return out


def median_time(fn, repeats, sync=None):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--subdivisions", type=int, default=5)
    parser.add_argument("--skip-cpu-precompute", action="store_true")
    args = parser.parse_args()
    import torch

    print(f"torch {torch.__version__}, CUDA device: {torch.cuda.get_device_name(0)}")
    model = nested_spheres([0.0095, 0.012], [SIGMA_SKULL, SIGMA_BODY], subdivisions=args.subdivisions)
    rng = np.random.default_rng(1)
    d = rng.normal(size=(2000, 3))
    points = d / np.linalg.norm(d, axis=1, keepdims=True) * 0.0108
    print(f"model: {model.n_vertices} vertices, {len(points)} points")
    gpu = build_solver(model, points, device="cuda")
    print(f"precompute on cuda: {gpu.precompute_seconds:.1f} s")
    if not args.skip_cpu_precompute:
        cpu = build_solver(model, points, device="cpu")
        print(f"precompute on cpu:  {cpu.precompute_seconds:.1f} s ({cpu.precompute_info})")
    else:
        cpu = TmsBemSolver(model, points, gpu.sigma_at_points, gpu.transfer, device="cpu")
    coils = [figure_of_eight().transformed(r, [0, 0, 0]) for r in rotations(64)]
    print(f"agreement cuda vs cpu: {max(relative_error(gpu.efield(c), cpu.efield(c)) for c in coils[:4]):.2e}")
    for name, solver, sync in (("cpu", cpu, None), ("cuda", gpu, torch.cuda.synchronize)):
        solver.efield(coils[0])
        one = median_time(lambda: solver.efield(coils[1]), 51, sync)
        batch = median_time(lambda: solver.efield_batch(coils), 5, sync)
        print(f"{name}: one placement {one * 1e3:.2f} ms; batch of {len(coils)}: {len(coils) / batch:.0f} placements/s")


if __name__ == "__main__":
    main()
