"""Thresholds of a population of neurons placed in the cortex: serial vs a Dask LocalCluster, and the cache.

Head: the analytic spherical conductor (``core/bem/sphere_model.py``, Heller & van Hulsteyn 1992)
centred at the origin, its field taken as defined inside a 7.5 mm sphere (NaN outside: no field
there). Cortex: an ellipsoidal surface inside it (semi-axes 7, 5 and 4 mm, an icosphere with 642
vertices scaled), roughly a rat brain's proportions. The cortex is deliberately **not** a sphere
about the conductor's centre: a sphere's field has no radial component, so a radially placed
straight cell (the ball-and-stick) would feel no field along its axis at all; on the ellipsoid the
normals tilt away from the radial direction and the cells are polarised. Coil: the MC-B35 preset
(low resolution, 136 dipoles) centred above the top of the cortex with its casing 4 mm above it,
its z axis (into the head) along -z; field for dI/dt = 1 A/us, so the threshold amplitude is the
threshold dI/dt in A/us (and in % of the MagPro X100's 141.28 A/us with this coil).

Neurons: ``--n-ball`` ball-and-stick cells in L5 (soma 1.12 mm deep) at the vertices nearest the
top, random azimuths (seed 0); with ``../shared/data/neurons``, ``--n-l5`` L5 thick-tufted pyramidal
cells (``L5_TTPC2_cADpyr232_1``, adult-rat scaling, myelinated) at the top vertices. Monophasic
pulse, rel_tol 1 %.

For each set, in the same run: the serial run in this process (``processes=False``), a LocalCluster
of ``--workers`` processes started and closed by the call (its wall time includes starting the
cluster), whether both give identical thresholds, the speed-up, and a rerun that reads every
result from the cache.

Run: python benchmarks/bench_population.py [--n-ball 40] [--n-l5 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_rat_tms.core.bem.sphere_model import sphere_efield
from napari_rat_tms.core.coils import MC_B35_MAX_DIDT_A_PER_US, mc_b35
from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.meshes.surface import TriangleSurface
from napari_rat_tms.core.neurons.cortex import place_neurons
from napari_rat_tms.core.neurons.population import CellSpec, clear_cell_cache, run_thresholds, threshold_tasks

NEURONS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "neurons"
SEMI_AXES_M = np.array([7e-3, 5e-3, 4e-3])
HEAD_RADIUS_M = 7.5e-3
DIDT_A_PER_S = 1e6


def _cortex() -> TriangleSurface:
    unit = icosphere(1.0, 3)
    return TriangleSurface(unit.vertices_m * SEMI_AXES_M, unit.faces, "cortex")


def _field_fn(coil):
    def field(points):
        e = np.full((len(points), 3), np.nan)
        inside = np.linalg.norm(points, axis=1) < HEAD_RADIUS_M
        e[inside] = sphere_efield(points[inside], coil, DIDT_A_PER_S)
        return e
    return field


def _numbers(results):
    return [(r.status, r.threshold_amplitude, r.site_index) for r in results]


def _bench(title, spec, placements, field, workers):
    t = time.perf_counter()
    tasks = threshold_tasks(spec, placements, field, "monophasic", inside=None)
    prepare = time.perf_counter() - t
    n = len(tasks)
    print(f"\n{title}: {n} neurons; cell built and field sampled at "
          f"{sum(0 if t.efield_v_per_m is None else len(t.efield_v_per_m) for t in tasks)} compartments "
          f"in {prepare:.2f} s")
    t = time.perf_counter()
    serial = run_thresholds(tasks, processes=False)
    t_serial = time.perf_counter() - t
    clear_cell_cache()  # the parent keeps no cell while the workers run
    with tempfile.TemporaryDirectory() as cache:
        t = time.perf_counter()
        clustered = run_thresholds(tasks, n_workers=workers, cache_dir=cache)
        t_cluster = time.perf_counter() - t
        t = time.perf_counter()
        cached = run_thresholds(tasks, n_workers=workers, cache_dir=cache)
        t_cached = time.perf_counter() - t
    ok = [r for r in serial if r.ok]
    statuses = {s: sum(r.status == s for r in serial) for s in sorted({r.status for r in serial})}
    print(f"  statuses: {statuses}")
    if ok:
        amp = np.array([r.threshold_amplitude for r in ok])
        peak = np.array([r.threshold_peak_v_per_m for r in ok])
        sims = np.array([r.n_simulations for r in ok])
        mso = 100 * np.median(amp) / MC_B35_MAX_DIDT_A_PER_US
        print(f"  thresholds: dI/dt {amp.min():.0f}-{amp.max():.0f} A/us (median {np.median(amp):.0f}; "
              f"{mso:.0f} % of 141.28 A/us), peak |E| at threshold {peak.min():.0f}-{peak.max():.0f} V/m, "
              f"{np.median(sims):.0f} simulations per threshold")
        sections = sorted({r.site_section.split(".", 1)[-1] for r in ok})
        print(f"  sites of first activation: {', '.join(sections[:6])}{' ...' if len(sections) > 6 else ''}")
    same = _numbers(serial) == _numbers(clustered)
    worker_s = np.array([r.seconds for r in clustered if not r.from_cache])
    print(f"  serial (this process):        {t_serial:7.2f} s wall, {t_serial / n:6.3f} s per neuron")
    print(f"  LocalCluster, {workers} workers:      {t_cluster:7.2f} s wall, {t_cluster / n:6.3f} s per "
          f"neuron (incl. starting the cluster); worker time per neuron {worker_s.mean():.3f} s; speed-up "
          f"{t_serial / t_cluster:.2f}x")
    print(f"  identical thresholds and sites serial vs cluster: {same}")
    print(f"  rerun from the cache:         {t_cached:7.3f} s wall, {sum(r.from_cache for r in cached)}/{n} "
          "from cache, no cluster started")
    return t_serial, t_cluster


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-ball", type=int, default=40)
    parser.add_argument("--n-l5", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import dask
    import neuron

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}, NEURON {neuron.__version__}, dask {dask.__version__}")
    from distributed import LocalCluster

    t = time.perf_counter()
    LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None).close()
    print(f"starting and closing an empty LocalCluster of {args.workers} workers: "
          f"{time.perf_counter() - t:.2f} s")
    cortex = _cortex()
    flip = np.diag([1.0, -1.0, -1.0])  # coil z (into the head) -> head -z
    coil = mc_b35("low").transformed(flip, [0.0, 0.0, SEMI_AXES_M[2] + 4e-3])
    field = _field_fn(coil)
    top = np.argsort(-cortex.vertices_m[:, 2])
    rng = np.random.default_rng(0)
    print(f"cortex: ellipsoid {SEMI_AXES_M * 1e3} mm semi-axes, {cortex.n_vertices} vertices; coil "
          f"{coil.name} 4 mm above its top; field at 1 A/us; |E| at the top vertex "
          f"{np.linalg.norm(field(cortex.vertices_m[top[:1]])):.2f} V/m")
    balls = place_neurons(cortex, "L5", vertices=top[:args.n_ball],
                          azimuths_rad=rng.uniform(0, 2 * np.pi, args.n_ball), inside=cortex)
    tilt = np.degrees([np.arccos(np.clip(np.dot(p.axis, p.soma / np.linalg.norm(p.soma)), -1, 1))
                       for p in balls])
    print(f"normal vs radial direction at the somas: {tilt.min():.1f}-{tilt.max():.1f} deg")
    _bench("ball-and-stick, L5 depth", CellSpec("ball_and_stick"), balls, field, args.workers)
    path = NEURONS / "L5_TTPC2_cADpyr232_1.asc"
    if args.n_l5 > 0 and path.is_file():
        l5 = place_neurons(cortex, "L5", vertices=top[:args.n_l5],
                           azimuths_rad=rng.uniform(0, 2 * np.pi, args.n_l5), inside=cortex)
        _bench("L5 thick-tufted pyramidal (L5_TTPC2_cADpyr232_1)", CellSpec("morphology", path=str(path)),
               l5, field, args.workers)
    elif args.n_l5 > 0:
        print(f"\n{NEURONS} not found: the L5 cells are skipped")
    clear_cell_cache()


if __name__ == "__main__":
    main()
