"""The BEM precompute of the seed-resolution 2C model in float64 and in float32, in one run (issue 22's
"precompute within 3 minutes at the same accuracy").

``solve_precision="auto"`` (``core/bem/lc_bem.py``) factorises in float32 first, estimates the
condition number, and when the estimate times float32's roundoff exceeds ``FLOAT32_SOLVE_TOLERANCE``
factorises again in float64. This script builds the model both ways (``solve_precision="float64"``,
then ``"float32"``; no cache), prints each precompute's time, the condition estimate and the bound,
and the relative difference of the two models' fields for 200 random placements over the seed
grid's region (136-dipole MC-B35, gaps 0-2 mm): how much the float32 solve changes what a user sees,
beside the BEM's own discretisation error (0.3-0.8 % against the analytic sphere, README).

    python benchmarks/bench_precompute_precision.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import PeakMemory  # noqa: E402
from bench_bem import _frame  # noqa: E402  (the synthetic rat's frame, as the main job sets it)

from napari_rat_tms.core.bem import lc_bem  # noqa: E402
from napari_rat_tms.core.bem.solver import build_solver  # noqa: E402
from napari_rat_tms.core.coils import mc_b35  # noqa: E402
from napari_rat_tms.core.fields.head_models import head_model  # noqa: E402
from napari_rat_tms.core.job import DEMO_MESHING  # noqa: E402
from napari_rat_tms.core.meshes.from_segmentation import MeshingParameters, mesh_segmentation  # noqa: E402
from napari_rat_tms.core.metrics import relative_error  # noqa: E402
from napari_rat_tms.core.placement import placement_grid  # noqa: E402
from napari_rat_tms.core.placement.region import ScalpRegion  # noqa: E402
from napari_rat_tms.core.segmentation import segment  # noqa: E402
from napari_rat_tms.core.synthetic import make_synthetic_rat  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the demo's meshing")
    args = parser.parse_args(argv)
    print(f"{time.strftime('%Y-%m-%d %H:%M')} {platform.machine()} {psutil.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.2f}; FLOAT32_SOLVE_TOLERANCE = {lc_bem.FLOAT32_SOLVE_TOLERANCE:g}")
    rat = make_synthetic_rat(0.34)
    seg = segment(rat.volume.data, 0.34, eye_points_mm=[rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]])
    parameters = MeshingParameters(**DEMO_MESHING) if args.quick else MeshingParameters()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # the meshing's repair notes
        surfaces = mesh_segmentation(seg, parameters).surfaces
    conductor = head_model(surfaces, "2C")
    points = surfaces["cortex"].vertices_m
    print(f"2C ({parameters.body_edge_mm:g} / {parameters.skull_edge_mm:g} mm): {conductor.n_vertices:,} vertices, "
          f"{len(points):,} cortical points")
    solvers = {}
    for precision in ("float64", "float32"):
        with PeakMemory() as mem:
            t = time.perf_counter()
            solver = build_solver(conductor, points, solve_precision=precision)
            seconds = time.perf_counter() - t
        info = solver.precompute_info
        print(f"{precision}: precompute {seconds:.1f} s (+{mem.peak_gb:.1f} GB); condition estimate "
              f"{info.get('condition_estimate', float('nan')):.3g}, solve error bound {info.get('solve_error_bound', float('nan')):.2e}")
        solvers[precision] = solver
    frame = _frame(rat, surfaces)
    grid = placement_grid(surfaces["body"], frame)
    region = ScalpRegion(surfaces["body"], frame, grid.centre_ap_ml_mm, (17.0, 12.0))
    coil = mc_b35("low")
    placed = [p.place(coil) for p in region.random_placements(coil, 200, np.random.default_rng(2), (0.0, 2.0))]
    e64 = solvers["float64"].efield_batch(placed, 50e6)
    e32 = solvers["float32"].efield_batch(placed, 50e6)
    diff = np.array([relative_error(a, b) for a, b in zip(e32, e64)])
    peak = np.abs(np.linalg.norm(e32, axis=2).max(axis=1) / np.linalg.norm(e64, axis=2).max(axis=1) - 1)
    print(f"float32 vs float64 over 200 placements: RE median {np.median(diff):.2e}, max {diff.max():.2e}; "
          f"peak |E| differs by at most {peak.max():.2e} (relative)")


if __name__ == "__main__":
    main()
