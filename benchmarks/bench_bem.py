"""Benchmark of the TMS BEM solver on the synthetic rat's 2C model (seed 003's resolution).

Surfaces from the meshing pipeline, as the main job makes them: the 0.34 mm synthetic rat
(:func:`~napari_rat_tms.core.synthetic.make_synthetic_rat`), segmented
(:func:`~napari_rat_tms.core.segmentation.segment`, eyes from the rat's landmarks) and meshed
(:func:`~napari_rat_tms.core.meshes.from_segmentation.mesh_segmentation`, default
:class:`MeshingParameters`: body 1.4 mm, skull 0.67 mm edges, cortex about 2,000 points); the
2C model is :func:`~napari_rat_tms.core.fields.head_models.head_model` ``(surfaces, "2C")`` (body,
skull with the spine) and the field points are the cortex surface's vertices.

Prints, for this model (about 16,900 vertices: body 4,500 + skull 12,300, fewer than the seed's
21,000 at the same edge lengths; about 1,900 cortical points):
  * precompute time and peak memory (resident set, sampled every 20 ms, minus the baseline),
  * latency of one placement including the coil's primary field (median of repeated runs),
    against the baseline of solving the BEM again for that placement with the stored LU factors,
  * batched throughput (placements per second) for the seed's 630 placements (the main job's grid:
    :func:`~napari_rat_tms.core.placement.placement_grid` in the frame of the rat's bregma, lambda
    and midline landmarks),
and, in the same run, OpenMEEG on a coarse meshing of the same segmentation (body 3.0, skull
1.5 mm edges, about 300 cortical points; 2C without the spine; coarser skulls intersect themselves
in the meshing, 3.8 / 1.6 mm brings the cortex within 0.7 mm of the skull): time and agreement with
our solver on identical meshes and points, for three placements put on the coarse body.

Coil: the shared MagVenture Cool-B35 ``.ccd`` (``../shared/data/coils``) when it exists, else the
package's MC-B35 preset at high resolution (``--coil`` picks another ``.ccd``).

    python benchmarks/bench_bem.py [--quick] [--no-openmeeg] [--meshes-only] [--device cpu|cuda] [--coil FILE]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import PeakMemory, median_time  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from napari_rat_tms.core.bem import lc_bem  # noqa: E402
from napari_rat_tms.core.bem.solver import build_solver  # noqa: E402
from napari_rat_tms.core.coils import mc_b35, read_ccd  # noqa: E402
from napari_rat_tms.core.conventions import m_to_mm  # noqa: E402
from napari_rat_tms.core.fields.head_models import head_model  # noqa: E402
from napari_rat_tms.core.job import DEMO_MESHING  # noqa: E402
from napari_rat_tms.core.meshes.from_segmentation import MeshingParameters, mesh_segmentation  # noqa: E402
from napari_rat_tms.core.metrics import compare_fields  # noqa: E402
from napari_rat_tms.core.placement import frame_from_landmarks, placement_grid  # noqa: E402
from napari_rat_tms.core.placement.coil_on_scalp import place_coil_on_scalp  # noqa: E402
from napari_rat_tms.core.segmentation import segment  # noqa: E402
from napari_rat_tms.core.synthetic import make_synthetic_rat  # noqa: E402

SHARED_COIL = Path(__file__).resolve().parents[2] / "shared" / "data" / "coils" / "MagVenture_Cool-B35.ccd"
#: Coarse meshing for the OpenMEEG comparison (its cost, per placement, grows with the cube of the
#: vertex count: about 2 minutes per placement for these 2,460 vertices on 2 busy cores).
COARSE_MESHING = MeshingParameters(body_edge_mm=3.0, skull_edge_mm=1.5, eye_edge_mm=1.5, cortex_points=300)

DIDT = 50e6  # 50 A/us, seed 003's display value


def _coil(path=None):
    path = Path(path) if path else SHARED_COIL
    if path.exists():
        coil, _ = read_ccd(path)
        return coil
    if path != SHARED_COIL:
        raise SystemExit(f"no coil file {path}")
    return mc_b35("high")  # no shared data: the package's preset


def _mesh(seg, parameters=None):
    with warnings.catch_warnings():  # repairs and margins of the meshing (MeshWarning)
        warnings.simplefilter("ignore")
        return mesh_segmentation(seg, parameters)


def _describe(surfaces, names):
    return ", ".join(f"{n} {surfaces[n].n_vertices:,} ({1000 * surfaces[n].mean_edge_length_m:.2f} mm)"
                     for n in names)


def _frame(rat, surfaces):
    """The stereotaxic frame of the synthetic rat's landmarks, as in the main job."""
    lm = rat.landmarks_mm
    skull = surfaces["skull without spine"]
    return frame_from_landmarks(lm["bregma"], lm["lambda"], rat.stereotaxic_to_volume([0.0, 15.0, -3.0]),
                                m_to_mm(skull.vertices_m).mean(axis=0), skull=skull,
                                eyes_mm=[lm["left_eye"], lm["right_eye"]])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="the demo's coarser meshing (body 2.0, skull 1.0 mm; for a smoke run)")
    parser.add_argument("--no-openmeeg", action="store_true")
    parser.add_argument("--meshes-only", action="store_true",
                        help="stop after printing the meshes (their sizes and edge lengths)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--coil", help=".ccd coil model (default: ../shared/data/coils/"
                                       "MagVenture_Cool-B35.ccd, else the MC-B35 preset)")
    args = parser.parse_args(argv)

    print(f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 1e9:.0f} GB; numpy {np.__version__}")
    t = time.perf_counter()
    rat = make_synthetic_rat(0.34)
    print(f"synthetic rat (0.34 mm): {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    eyes = [rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]]
    seg = segment(rat.volume.data, 0.34, eye_points_mm=eyes)
    print(f"segmentation: {time.perf_counter() - t:.1f} s")

    parameters = MeshingParameters(**DEMO_MESHING) if args.quick else MeshingParameters()
    t = time.perf_counter()
    surfaces = _mesh(seg, parameters).surfaces
    mesh_s = time.perf_counter() - t
    model = head_model(surfaces, "2C")
    points = surfaces["cortex"].vertices_m
    print(f"meshing ({parameters.body_edge_mm:g} / {parameters.skull_edge_mm:g} mm): {mesh_s:.1f} s; "
          f"{_describe(surfaces, ('body', 'skull', 'skull without spine', 'eyes', 'cortex'))}")
    print(f"2C model: {model.n_vertices:,} vertices, {model.n_faces:,} triangles; "
          f"{len(points):,} cortical points")
    if args.meshes_only:
        return

    with PeakMemory() as mem:
        solver = build_solver(model, points, device=args.device)
    info = solver.precompute_info
    print(f"precompute: {solver.precompute_seconds:.1f} s, peak memory +{mem.peak_gb:.2f} GB "
          f"(solve in {info.get('solve_precision')}, "
          f"condition estimate {info.get('condition_estimate', 0):.3g})")

    coil = _coil(args.coil)
    body = surfaces["body"]
    frame = _frame(rat, surfaces)
    t = time.perf_counter()
    grid = placement_grid(body, frame)
    coils = [placement.place(coil)
             for _, _, placement in grid.placements(body, frame, coil, didt_a_per_us=DIDT / 1e6)]
    n_o = len(grid.orientations_deg)
    print(f"coil: {coil.name}, {coil.n_dipoles} dipoles; {len(coils)} placements "
          f"({grid.n_positions} positions x "
          f"{n_o} orientations, centre AP {grid.centre_ap_ml_mm[0]:+.1f} mm; placed in "
          f"{time.perf_counter() - t:.1f} s)")
    centre = grid.n_positions // 2

    # one placement, all included (primary field at the triangles' centroids and the points, product)
    solver.efield(coils[0], DIDT)
    one = coils[centre * n_o]
    latency = median_time(lambda: solver.efield(one, DIDT), 21)
    g = solver.surface_source(one, DIDT)
    primary = median_time(lambda: solver.surface_source(one, DIDT), 21)
    product = median_time(lambda: solver._apply(g[:, None]), 21)
    print(f"one placement: {latency * 1e3:.1f} ms (median of 21; primary field at the triangles "
          f"{primary * 1e3:.1f} ms, T g {product * 1e3:.1f} ms)")

    # baseline: solve the BEM again for this placement (stored LU, no transfer matrix)
    stack = lc_bem.StackedSurfaces(model)
    import scipy.linalg

    t = time.perf_counter()
    matrix = lc_bem.potential_matrix(stack)
    lu = scipy.linalg.lu_factor(matrix, overwrite_a=True)
    del matrix
    source = lc_bem.source_matrix_rows(stack, slice(0, stack.n_vertices))
    g_single, g_double = lc_bem.field_operators(stack, points)
    baseline_setup = time.perf_counter() - t

    def resolve():
        gg = solver.surface_source(one, DIDT)
        phi = scipy.linalg.lu_solve(lu, source @ gg)
        return (g_single @ gg + g_double @ phi) / -np.repeat(solver.sigma_at_points, 3)

    baseline = median_time(resolve, 5)
    primary_at_points = solver.efield(one, DIDT) - solver._apply(g[:, None])[:, 0].reshape(-1, 3)
    check = resolve().reshape(-1, 3) + primary_at_points
    agree = np.linalg.norm(check - solver.efield(one, DIDT)) / np.linalg.norm(check)
    print(f"baseline, re-solving per placement with stored LU: {baseline * 1e3:.0f} ms "
          f"(x{baseline / latency:.1f} slower; fields agree to {agree:.1e}; "
          f"its own setup {baseline_setup:.0f} s)")
    del lu, source, g_single, g_double

    for batch in (32, 128):
        def run_all():
            for k in range(0, len(coils), batch):
                solver.efield_batch(coils[k:k + batch], DIDT)

        seconds = median_time(run_all, 3)
        print(f"batched ({batch} per product): {len(coils) / seconds:.0f} placements/s "
              f"({seconds:.2f} s for {len(coils)}; one by one: {1 / latency:.0f}/s)")
    peak = np.linalg.norm(solver.efield(one, DIDT), axis=1).max()
    print(f"peak |E| at the central position, PA, 50 A/us: {peak:.1f} V/m")

    if not args.no_openmeeg:
        from napari_rat_tms.core.bem.openmeeg_reference import openmeeg_available, openmeeg_tms_efield

        if not openmeeg_available():
            print("OpenMEEG not installed: skipped")
            return
        t = time.perf_counter()
        coarse = _mesh(seg, COARSE_MESHING).surfaces
        coarse_mesh_s = time.perf_counter() - t
        coarse_model = head_model(coarse, "2C*")
        coarse_points = coarse["cortex"].vertices_m
        # the same three placements, put on the coarse body: central PA, central 90 deg, first position 30 deg
        tests = [(centre, 0), (centre, 9), (0, 3)]
        test_coils = [place_coil_on_scalp(coarse["body"], grid.scalp_points_mm[i], frame.anterior, coil,
                                          float(grid.orientations_deg[j])).place(coil) for i, j in tests]
        t = time.perf_counter()
        ours = build_solver(coarse_model, coarse_points, dtype=np.float64, solve_precision="float64")
        ours_s = time.perf_counter() - t
        t = time.perf_counter()
        reference = [openmeeg_tms_efield(coarse_model, coarse_points, c, DIDT) for c in test_coils]
        om_s = time.perf_counter() - t
        print(f"coarse 2C model without spine (meshing {coarse_mesh_s:.1f} s): "
              f"{_describe(coarse, ('body', 'skull without spine', 'cortex'))}; {coarse_model.n_vertices:,} "
              f"vertices, {len(coarse_points)} points; precompute ours {ours_s:.1f} s, OpenMEEG {om_s:.1f} s "
              f"for {len(test_coils)} placements")
        for (i, j), c, ref in zip(tests, test_coils, reference):
            m = compare_fields(coarse_points, ours.efield(c, DIDT), ref)
            print(f"  vs OpenMEEG, position {i} at {grid.orientations_deg[j]:.0f} deg: "
                  f"RE {100 * m['re']:.2f} %, "
                  f"CCE {100 * m['cce']:.2f} %, mean angle {m['mean_angle_deg']:.2f} deg, RE strong "
                  f"{100 * m['re_strong']:.2f} %, peak distance {1000 * m['peak_distance_m']:.2f} mm")


if __name__ == "__main__":
    main()
