"""Reduced-order field and placement optimisation beside the full transfer, in one run (issue 22).

Model: the synthetic rat's 2C model at seed 003's meshing (as ``bench_bem.py``: the 0.34 mm rat,
segmented, ``mesh_segmentation`` defaults: body 1.4, skull 0.67 mm edges, about 1,900 cortical
points), the BEM precomputed once into ``--cache-dir`` (reused by later runs; the precompute time is
printed when it runs). ``--quick``: the demo's meshing (body 2.0, skull 1.0 mm).

For each coil (the 136-dipole MC-B35 preset; the 2,580-dipole one merged to <= 256 dipoles):
  * the reduced field as ``rat-tms optimise`` and the E-field dock build it, once per model and coil
    (``core.planning.iter_model_reduced_field``): 1,000 random placements over the scalp above the
    dorsal cortex (``reduced_region``: its AP x ML box plus 2 mm; any orientation, gaps 0-2 mm), its
    rank chosen on 200 validation placements;
  * its relative error against the full transfer on 200 further random placements (median, max) and
    how many took the fallback;
  * one placement, coil field included (median of those 200; the full path beside it, the same
    placements, same process);
  * batched throughput: the seed's 630 grid placements, reduced (one call) and full (``efield_batch``).
Then ``core.planning.iter_plan_placement`` with that reduced field (built before: its time is the
search's) for targets on the dorsal cortex (three objectives; the region 17 x 12 mm above the target),
its optimum confirmed with the full model, against the best of the 630 grid placements and line
navigation scored the same way.

    python benchmarks/bench_reduced_field.py [--quick] [--cache-dir DIR] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import PeakMemory  # noqa: E402
from bench_bem import _frame  # noqa: E402  (the synthetic rat's frame, as the main job sets it)

from napari_rat_tms.core.coils import mc_b35, merged_dipoles  # noqa: E402
from napari_rat_tms.core.conventions import m_to_mm  # noqa: E402
from napari_rat_tms.core.fields.head_models import build_field_model  # noqa: E402
from napari_rat_tms.core.planning import (PlanSettings, iter_model_reduced_field, iter_plan_placement,  # noqa: E402
                                          reduced_region)
from napari_rat_tms.core.progress import run_to_completion  # noqa: E402
from napari_rat_tms.core.job import DEMO_MESHING  # noqa: E402
from napari_rat_tms.core.meshes.from_segmentation import MeshingParameters, mesh_segmentation  # noqa: E402
from napari_rat_tms.core.metrics import relative_error  # noqa: E402
from napari_rat_tms.core.placement import placement_grid  # noqa: E402
from napari_rat_tms.core.segmentation import segment  # noqa: E402
from napari_rat_tms.core.synthetic import make_synthetic_rat  # noqa: E402

DIDT = 50e6          # A/s (50 A/us)


def _times(fn, items, repeats=1):
    out = []
    for item in items:
        best = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn(item)
            best.append(time.perf_counter() - t)
        out.append(min(best))
    return np.array(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the demo's meshing")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "rat-tms-bench-cache")
    parser.add_argument("--training", type=int, default=PlanSettings.n_training)
    parser.add_argument("--repeats", type=int, default=3, help="batched timings: median of this many")
    args = parser.parse_args(argv)
    print(f"{time.strftime('%Y-%m-%d %H:%M')} {platform.machine()} {psutil.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.2f}, python {platform.python_version()}, numpy {np.__version__}")

    rat = make_synthetic_rat(0.34)
    seg = segment(rat.volume.data, 0.34, eye_points_mm=[rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]])
    parameters = MeshingParameters(**DEMO_MESHING) if args.quick else MeshingParameters()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        surfaces = mesh_segmentation(seg, parameters).surfaces
        with PeakMemory() as mem:
            t = time.perf_counter()
            model = build_field_model(surfaces, "2C", cache_dir=args.cache_dir)
            build_s = time.perf_counter() - t
    solver = model.solver
    print(f"2C model ({parameters.body_edge_mm:g} / {parameters.skull_edge_mm:g} mm): "
          f"{solver.conductor.n_vertices:,} vertices, {solver.transfer.shape[1]:,} triangles, "
          f"{solver.n_points:,} cortical points; "
          + ("read from the cache" if solver.from_cache else
             f"precomputed in {solver.precompute_seconds:.1f} s (+{mem.peak_gb:.1f} GB)")
          + f" ({build_s:.1f} s)")
    frame = _frame(rat, surfaces)
    body, cortex = surfaces["body"], surfaces["cortex"]
    grid = placement_grid(body, frame)
    region = reduced_region(surfaces, frame)
    low, high = region.bounds_ap_ml_mm
    print(f"reduced fields over AP {low[0]:+.1f}..{high[0]:+.1f}, ML {low[1]:+.1f}..{high[1]:+.1f} mm (the dorsal "
          f"cortex's box + 2 mm)")
    settings = PlanSettings(n_training=args.training)
    coils = {"MC-B35, 136 dipoles": mc_b35("low"),
             "MC-B35, 2,580 dipoles merged to 256": merged_dipoles(mc_b35("high"), 256)}
    reduced_models = {}
    for name, coil in coils.items():
        print(f"\n## {name} ({len(coil.positions_m)} dipoles)")
        t = time.perf_counter()
        reduced = run_to_completion(iter_model_reduced_field(solver, surfaces, frame, coil, settings))
        print(f"reduced field: {time.perf_counter() - t:.1f} s to build ({settings.n_training} + {settings.n_validation} "
              f"placements included); rank {reduced.rank}, "
              f"{reduced.n_measure_points} measurement points, stated bound {reduced.bound:.2%} "
              f"(validation: median {reduced.info['validation_median_re']:.3%}, max "
              f"{reduced.info['validation_max_re']:.3%}); response {reduced.response.nbytes / 2**20:.1f} MiB "
              f"vs T {solver.transfer.nbytes / 2**20:.0f} MiB")
        test = region.random_placements(coil, 200, np.random.default_rng(12345), (0.0, 2.0))
        placed = [p.place(coil) for p in test]
        full = solver.efield_batch(placed, DIDT)
        fields, fell_back, _ = reduced.evaluate(placed, DIDT)
        errors = np.array([relative_error(a, b) for a, b in zip(fields, full)])
        print(f"test placements vs the full transfer: RE median {np.median(errors):.3%}, max {errors.max():.3%}; "
              f"fallbacks {int(fell_back.sum())} of {len(placed)}")
        for c in placed[:5]:                       # warm-up (numba, caches)
            reduced.efield(c, DIDT)
            solver.efield(c, DIDT)
        t_red = _times(lambda c: reduced.efield(c, DIDT), placed)
        t_full = _times(lambda c: solver.efield(c, DIDT), placed[:50])
        print(f"one placement (coil field included): reduced {1e3 * np.median(t_red):.3f} ms (median of "
              f"{len(t_red)}; 90th pct {1e3 * np.percentile(t_red, 90):.3f}), full {1e3 * np.median(t_full):.1f} ms "
              f"(median of {len(t_full)}): x{np.median(t_full) / np.median(t_red):.0f}")
        grid_coils = [p.place(coil) for _, _, p in grid.placements(body, frame, coil)]
        reps_red, reps_full = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            reduced.efield_batch(grid_coils, DIDT)
            reps_red.append(time.perf_counter() - t)
        for _ in range(max(1, args.repeats - 2)):
            t = time.perf_counter()
            for s in range(0, len(grid_coils), 32):
                solver.efield_batch(grid_coils[s:s + 32], DIDT)
            reps_full.append(time.perf_counter() - t)
        print(f"batched, the seed's {len(grid_coils)} grid placements: reduced {len(grid_coils) / np.median(reps_red):,.0f}"
              f" /s (median of {len(reps_red)}), full {len(grid_coils) / np.median(reps_full):.1f} /s (32 per product, "
              f"median of {len(reps_full)})")
        reduced_models[name] = (reduced, coil)

    print("\n## Optimisation (the 136-dipole coil's reduced field, built above; the optimum checked with the full model)")
    reduced, coil = reduced_models["MC-B35, 136 dipoles"]
    st = frame.to_stereotaxic(m_to_mm(cortex.vertices_m))
    c_ap = grid.centre_ap_ml_mm[0]
    for ap, ml in ((c_ap, 1.5), (c_ap - 3.0, 3.0), (c_ap + 4.0, 2.0)):
        near = np.flatnonzero(np.hypot(st[:, 0] - ml, st[:, 1] - ap) < 1.0)
        target = int(near[np.argmax(st[near, 2])])
        target_mm = m_to_mm(cortex.vertices_m[target])
        print(f"target: vertex {target}, {frame.describe(target_mm)}")
        for kind in ("magnitude", "direction", "focality"):
            plan_settings = PlanSettings(objective=kind, direction_deg=0.0 if kind == "direction" else None)
            before = reduced.n_fallbacks
            t = time.perf_counter()
            plan = run_to_completion(iter_plan_placement(solver, surfaces, frame, coil, target_mm, plan_settings,
                                                         grid=grid, reduced=reduced))
            seconds = time.perf_counter() - t
            result = plan.result
            print(f"  {kind:>9}: {seconds:.1f} s ({result.evaluations} evaluations, {reduced.n_fallbacks - before} "
                  f"fallbacks); optimum {result.score:.4g} (full model {result.score_reference:.4g}); "
                  f"best grid placement {result.grid_best[1]:.4g} (x{result.gain_over_grid:.3f}); line navigation "
                  f"{result.line_navigation[1]:.4g} (x{result.gain_over_line_navigation:.3f}); at "
                  f"{frame.describe(result.placement.scalp_point_mm)}, {result.placement.orientation_deg % 360:.0f} deg")


if __name__ == "__main__":
    main()
