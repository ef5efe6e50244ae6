"""Benchmark of the TMS BEM solver on the synthetic rat's 2C model (seed 003's resolution).

Prints, for the fine model (about 21,000 vertices, about 2,000 cortical points):
  * precompute time and peak memory (resident set, sampled every 20 ms, minus the baseline),
  * latency of one placement including the coil's primary field (median of repeated runs),
    against the baseline of solving the BEM again for that placement with the stored LU factors,
  * batched throughput (placements per second) for the seed's 630 placements,
and, in the same run, OpenMEEG on a coarse version of the same model: time and agreement with our
solver on identical meshes and points.

Surfaces are the STAND-IN of ``benchmarks/rat_models.py`` (marching cubes of the synthetic rat's
ground-truth labels) until the meshing pipeline lands.

    python benchmarks/bench_bem.py [--quick] [--no-openmeeg] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rat_models import cortex_points, stand_in_rat_surfaces  # noqa: E402

from napari_rat_tms.core.bem import lc_bem  # noqa: E402
from napari_rat_tms.core.bem.conductor import rat_head_model  # noqa: E402
from napari_rat_tms.core.bem.solver import build_solver  # noqa: E402
from napari_rat_tms.core.coils import CoilDipoles, read_ccd  # noqa: E402
from napari_rat_tms.core.metrics import compare_fields  # noqa: E402
from napari_rat_tms.core.synthetic import make_synthetic_rat  # noqa: E402

SHARED_COIL = Path(__file__).resolve().parents[2] / "shared" / "data" / "coils" / "MagVenture_Cool-B35.ccd"
from _measure import PeakMemory  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

DIDT = 50e6  # 50 A/us, seed 003's display value


def _coil(path=None):
    path = Path(path) if path else SHARED_COIL
    if path.exists():
        coil, _ = read_ccd(path)
        return coil
    # fallback: a 2-layer figure-of-eight of 272 dipoles, 46 mm across (no shared data)
    xs = np.linspace(-0.02, 0.02, 9)
    grid = np.array([(x, y) for x in xs for y in xs if x * x + y * y <= 0.02**2])
    pos = np.concatenate([np.c_[grid[:, 0] + s * 0.023, grid[:, 1], np.full(len(grid), z)]
                          for s in (-1, 1) for z in (-0.008, -0.012)])
    mom = np.zeros_like(pos)
    mom[:, 2] = np.repeat([1e-5, 1e-5, -1e-5, -1e-5], len(grid))
    return CoilDipoles(pos, mom, "fallback figure-of-eight")


def placements(rat, body, coil, n_positions=35, n_orientations=18):
    """Seed 003's grid: positions over a 15 x 10 mm scalp region, 18 orientations (0-170 deg)."""
    bregma = rat.landmarks_mm["bregma"] / 1000.0
    anterior = np.asarray(rat.axes["anterior"], float)
    dorsal = np.asarray(rat.axes["dorsal"], float)
    left = np.cross(dorsal, anterior)
    verts = body.vertices_m
    out = []
    for i in range(n_positions):
        a = (i % 7 - 3) / 3 * 0.0075
        lat = (i // 7 - 2) / 2 * 0.005
        line = bregma + a * anterior + lat * left
        # scalp point: the body vertex closest to the dorsal ray through the grid point
        rel = verts - line
        along = rel @ dorsal
        perp = np.linalg.norm(rel - along[:, None] * dorsal, axis=1)
        k = np.argmin(np.where(along > 0, perp, np.inf))
        top = verts[k] + 0.001 * dorsal  # coil bottom 1 mm above the scalp
        for j in range(n_orientations):
            angle = np.deg2rad(10 * j)
            x_axis = np.cos(angle) * anterior + np.sin(angle) * left  # coil x: induced-current direction
            z_axis = -dorsal  # coil z points into the head
            y_axis = np.cross(z_axis, x_axis)
            rotation = np.column_stack([x_axis, y_axis, z_axis])
            out.append(coil.transformed(rotation, top))
    return out


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="coarser fine model (for a smoke run)")
    parser.add_argument("--no-openmeeg", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--coil", help=".ccd coil model (default: ../shared/data/coils/MagVenture_Cool-B35.ccd)")
    args = parser.parse_args(argv)

    print(f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 1e9:.0f} GB; numpy {np.__version__}")
    t = time.perf_counter()
    rat = make_synthetic_rat()
    print(f"synthetic rat (0.34 mm): {time.perf_counter() - t:.1f} s")

    edges = (2.0, 1.0) if args.quick else (1.4, 0.67)
    t = time.perf_counter()
    surfaces = stand_in_rat_surfaces(rat, body_edge_mm=edges[0], skull_edge_mm=edges[1])
    model = rat_head_model(surfaces["body"], surfaces["skull"])
    points = cortex_points(rat, surfaces["skull"], n_points=2000)
    print(f"2C stand-in model: body {surfaces['body'].n_vertices} + skull {surfaces['skull'].n_vertices} = "
          f"{model.n_vertices} vertices, {len(points)} cortical points ({time.perf_counter() - t:.1f} s)")

    with PeakMemory() as mem:
        solver = build_solver(model, points, device=args.device)
    info = solver.precompute_info
    print(f"precompute: {solver.precompute_seconds:.1f} s, peak memory +{mem.peak_gb:.2f} GB "
          f"(solve in {info.get('solve_precision')}, condition estimate {info.get('condition_estimate', 0):.3g})")

    coil = _coil(args.coil)
    body = model.boundaries[0].surface
    coils = placements(rat, body, coil)
    print(f"coil: {coil.name}, {coil.n_dipoles} dipoles; {len(coils)} placements")

    # one placement, all included (primary field at N vertices and P points, product)
    solver.efield(coils[0], DIDT)
    latency = median_time(lambda: solver.efield(coils[1], DIDT), 21)
    g = solver.surface_source(coils[1], DIDT)
    primary = median_time(lambda: solver.surface_source(coils[1], DIDT), 21)
    product = median_time(lambda: solver._apply(g[:, None]), 21)
    print(f"one placement: {latency * 1e3:.1f} ms (median of 21; primary field at vertices "
          f"{primary * 1e3:.1f} ms, T g {product * 1e3:.1f} ms)")

    # baseline: solve the BEM again for this placement (stored LU, no transfer matrix)
    stack = lc_bem.StackedSurfaces(model)
    import scipy.linalg

    matrix = lc_bem.potential_matrix(stack)
    lu = scipy.linalg.lu_factor(matrix, overwrite_a=True)
    del matrix
    source = lc_bem.source_matrix_rows(stack, slice(0, stack.n_vertices))
    g_single, g_double = lc_bem.field_operators(stack, points)

    def resolve():
        gg = solver.surface_source(coils[1], DIDT)
        phi = scipy.linalg.lu_solve(lu, source @ gg)
        return (g_single @ gg + g_double @ phi) / -np.repeat(solver.sigma_at_points, 3)

    baseline = median_time(resolve, 5)
    check = resolve().reshape(-1, 3) + (solver.efield(coils[1], DIDT) - solver._apply(g[:, None])[:, 0].reshape(-1, 3))
    agree = np.linalg.norm(check - solver.efield(coils[1], DIDT)) / np.linalg.norm(check)
    print(f"baseline, re-solving per placement with stored LU: {baseline * 1e3:.0f} ms "
          f"(x{baseline / latency:.0f} slower; fields agree to {agree:.1e})")
    del lu, source, g_single, g_double

    for batch in (32, 128):
        def run_all():
            for k in range(0, len(coils), batch):
                solver.efield_batch(coils[k:k + batch], DIDT)

        seconds = median_time(run_all, 3)
        print(f"batched ({batch} per product): {len(coils) / seconds:.0f} placements/s "
              f"({seconds:.2f} s for {len(coils)}; one by one: {1 / latency:.0f}/s)")
    peak = np.linalg.norm(solver.efield(coils[len(coils) // 2], DIDT), axis=1).max()
    print(f"peak |E| at the central position, PA, 50 A/us: {peak:.1f} V/m")

    if not args.no_openmeeg:
        from napari_rat_tms.core.bem.openmeeg_reference import openmeeg_available, openmeeg_tms_efield

        if not openmeeg_available():
            print("OpenMEEG not installed: skipped")
            return
        coarse = stand_in_rat_surfaces(rat, body_edge_mm=3.8, skull_edge_mm=2.0, with_spine=False)
        coarse_model = rat_head_model(coarse["body"], coarse["skull"])
        coarse_points = cortex_points(rat, coarse["skull"], n_points=300)
        t = time.perf_counter()
        ours = build_solver(coarse_model, coarse_points, dtype=np.float64, solve_precision="float64")
        ours_s = time.perf_counter() - t
        test_coils = [coils[len(coils) // 2], coils[len(coils) // 2 + 9], coils[3]]
        t = time.perf_counter()
        reference = [openmeeg_tms_efield(coarse_model, coarse_points, c, DIDT) for c in test_coils]
        om_s = time.perf_counter() - t
        print(f"coarse 2C model: {coarse_model.n_vertices} vertices, {len(coarse_points)} points; precompute "
              f"ours {ours_s:.1f} s, OpenMEEG {om_s:.1f} s for {len(test_coils)} placements")
        for c, ref in zip(test_coils, reference):
            m = compare_fields(coarse_points, ours.efield(c, DIDT), ref)
            print(f"  vs OpenMEEG: RE {100 * m['re']:.2f} %, CCE {100 * m['cce']:.2f} %, mean angle "
                  f"{m['mean_angle_deg']:.2f} deg, RE strong {100 * m['re_strong']:.2f} %, peak distance "
                  f"{1000 * m['peak_distance_m']:.2f} mm")


if __name__ == "__main__":
    main()
