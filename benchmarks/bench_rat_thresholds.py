"""Threshold maps on the synthetic rat with the realistic cells: thresholds under the coil, per model.

Reads a main-job project folder (the README's first command writes ``rat-tms-demo/study``): its
surfaces (``meshes/*.vtk``; the demo's coarse meshing unless it ran with --seed-resolution) and its coil placement (``placement.json``, the
grid centre, the current along the anterior axis). For each head model (``--models``, default 2C
and 3C):

* one BEM solve of the placement (:class:`~napari_rat_tms.core.bem.points_field.PlacementField`,
  full MC-B35 of 2,580 dipoles, dI/dt = 1 A/us) and |E| on the cortex;
* ``--n`` neurons per cell type under the coil (cortex vertices where |E| >= 50 % of its maximum,
  spread by farthest-point sampling, the first at the maximum; golden-angle azimuths), for the
  ball-and-stick cell and every morphology of ``--neurons`` (default ``../shared/data/neurons``),
  each at its layer's depth (:func:`~napari_rat_tms.core.neurons.placement_thresholds.
  iter_placement_thresholds`, the dock's computation);
* per cell type: the thresholds in A/us and % MSO (MC-B35: 141.28 A/us at 100 %), the fraction
  activated at 100 % MSO, the statuses, the seconds per neuron and where the first site is
  (axon terminal, node, AIS...), and the peak |E| at the compartments at threshold (V/m) beside
  the cell type's uniform-field threshold range.

Monophasic pulse; thresholds in this process (``--workers N`` for a Dask LocalCluster).

    python benchmarks/bench_rat_thresholds.py [--project rat-tms-demo/study] [--n 10] [--models 2C 3C]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import psutil

from napari_rat_tms.core.coils import MC_B35_MAX_DIDT_A_PER_US, mc_b35
from napari_rat_tms.core.fields.head_models import head_model
from napari_rat_tms.core.meshes.io import read_surface_file
from napari_rat_tms.core.neurons.placement_thresholds import (
    UNIT_DIDT_A_PER_S,
    cell_types,
    golden_angle_azimuths,
    iter_placement_thresholds,
    neuron_vertices,
)
from napari_rat_tms.core.placement import CoilPlacement

SURFACES = {"body": "body", "skull": "skull", "skull without spine": "skull_without_spine", "eyes": "eyes",
            "cortex": "cortex"}
HERE = Path(__file__).resolve().parent


def _load(project: Path):
    if not (project / "project.json").is_file():
        raise SystemExit(f"{project} is not a project folder: run the README's main command first "
                         "(rat-tms demo --output rat-tms-demo) or pass --project.")
    surfaces = {name: read_surface_file(project / "meshes" / f"{stem}.vtk").surface
                for name, stem in SURFACES.items() if (project / "meshes" / f"{stem}.vtk").is_file()}
    placement = CoilPlacement.from_dict(json.loads((project / "placement.json").read_text())["placement"])
    return surfaces, placement


def _site_kind(section: str | None) -> str:
    if not section:
        return "-"
    name = section.split("(")[0].split(".")[-1].split("[")[0]
    return {"ais": "AIS", "node": "node", "unmyelin": "unmyelinated axon", "axon": "axon"}.get(name, name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="rat-tms-demo/study", type=Path)
    parser.add_argument("--models", nargs="+", default=["2C", "3C"])
    parser.add_argument("--n", type=int, default=10, help="neurons per cell type")
    parser.add_argument("--neurons", type=Path, default=HERE.parent.parent / "shared" / "data" / "neurons")
    parser.add_argument("--workers", type=int, default=0, help="Dask workers (0: in this process)")
    parser.add_argument("--cache", type=Path, default=None, help="threshold cache folder (default none)")
    args = parser.parse_args(argv)
    print(f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} logical CPUs, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; {time.strftime('%Y-%m-%d')}")
    surfaces, placement = _load(args.project)
    coil = placement.place(mc_b35("high"))
    morphologies = [args.neurons] if args.neurons.is_dir() else []
    if not morphologies:
        print(f"no morphology folder at {args.neurons}: ball-and-stick cells only")
    cells = cell_types(morphologies)
    cortex = surfaces["cortex"]
    print(f"cortex: {cortex.n_vertices} vertices; coil MC-B35 (2,580 dipoles) at the project's placement; "
          f"{args.n} neurons per cell type under the coil; monophasic pulse")
    client = None
    if args.workers:
        from distributed import Client, LocalCluster

        client = Client(LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None))
    try:
        for kind in args.models:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                conductor = head_model(surfaces, kind)
            from napari_rat_tms.core.bem.points_field import PlacementField

            start = time.perf_counter()
            field = PlacementField(conductor, coil, UNIT_DIDT_A_PER_S)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                e_cortex = field.at(cortex.vertices_m)
            norm = np.linalg.norm(e_cortex, axis=1)
            solve_s = time.perf_counter() - start
            vertices = neuron_vertices(cortex, args.n, efield_norm=norm, min_fraction_of_peak=0.5)
            azimuths = golden_angle_azimuths(len(vertices))
            print(f"\n== {kind}: BEM solve + cortex field {solve_s:.0f} s; max |E| on the cortex "
                  f"{norm.max():.2f} V/m per A/us "
                  f"({norm.max() * MC_B35_MAX_DIDT_A_PER_US:.0f} V/m at 100 % MSO); "
                  f"neurons at |E| "
                  f"{norm[vertices].min():.1f}-{norm[vertices].max():.1f} V/m per A/us")
            print(f"{'cell type':28s} {'layer':5s} {'ok':>5s} {'min A/us':>9s} {'median':>9s} "
                  f"{'min %MSO':>9s} {'act@100%':>8s} {'peak|E| V/m':>12s} {'s/neuron':>8s}  first sites")
            steps = iter_placement_thresholds(conductor, coil, cortex, cells, vertices, azimuths_rad=azimuths,
                                              processes=bool(args.workers), client=client,
                                              cache_dir=args.cache, model=kind)
            # the BEM is solved again inside (its own PlacementField); timed separately above
            for item in steps:
                if item[0] == "failed":
                    print(f"{item[1]:28s} FAILED: {item[2]}")
                if item[0] != "cell":
                    continue
                result = item[1]
                t = result.thresholds_a_per_us
                ok = np.isfinite(t)
                seconds = [r.seconds for r in result.results if r.ok]
                peaks = [r.threshold_peak_v_per_m for r in result.results if r.ok]
                sites = {}
                for r in result.results:
                    if r.ok:
                        kind_ = _site_kind(r.site_section)
                        sites[kind_] = sites.get(kind_, 0) + 1
                statuses = [r.status for r in result.results if not r.ok]
                fraction = result.activated_fraction(MC_B35_MAX_DIDT_A_PER_US)
                if ok.any():
                    print(f"{result.name:28s} {result.layer:5s} {ok.sum():>2d}/{len(t):<2d} "
                          f"{np.nanmin(t):9.1f} {np.nanmedian(t):9.1f} "
                          f"{100 * np.nanmin(t) / MC_B35_MAX_DIDT_A_PER_US:9.1f} "
                          f"{'-' if fraction is None else f'{100 * fraction:.0f} %':>8s} "
                          f"{np.median(peaks):12.0f} {np.median(seconds):8.1f}  {sites}"
                          + (f"; {statuses}" if statuses else ""))
                else:
                    print(f"{result.name:28s} {result.layer:5s} 0/{len(t)}: {statuses[:3]}")
    finally:
        if client is not None:
            client.close()


if __name__ == "__main__":
    main()
