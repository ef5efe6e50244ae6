"""The neuron dock's first field after the E-field dock built its model: with and without the
factorisation kept (issue 25: 750 s of a 767 s neuron run were a second factorisation).

Reads a main-job project folder's meshes (the README's first command writes ``rat-tms-demo/study``)
and builds the chosen BEM model twice in this process, without the solver cache, as the E-field
dock does: once as before (``keep_factorisation=False``), once as the dock does now
(``keep_factorisation=True``). After each build, the field of the project's placement at points
inside the brain (the cortex vertices moved 1 mm inwards: where the neuron dock samples the field
at compartments) with :class:`~napari_rat_tms.core.bem.points_field.PlacementField`, timed; and its
difference between the two (the kept factorisation may be float32, the model's own precision).

    python benchmarks/bench_factorisation_reuse.py [--project rat-tms-demo/study] [--model 3C]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import psutil

from napari_rat_tms.core.bem import points_field
from napari_rat_tms.core.coils import load_coil
from napari_rat_tms.core.conventions import HEAD_SURFACES, surface_file_stem
from napari_rat_tms.core.fields.head_models import iter_field_model
from napari_rat_tms.core.meshes.io import read_surface_file
from napari_rat_tms.core.placement import CoilPlacement
from napari_rat_tms.core.progress import run_to_completion


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", default="rat-tms-demo/study")
    parser.add_argument("--model", default="3C")
    args = parser.parse_args(argv)
    folder = Path(args.project)
    if not (folder / "project.json").is_file():
        raise SystemExit(f"{folder} is not a project folder: run the README's main command first.")
    surfaces = {name: read_surface_file(folder / "meshes" / f"{surface_file_stem(name)}.vtk").surface
                for name in HEAD_SURFACES if (folder / "meshes" / f"{surface_file_stem(name)}.vtk").is_file()}
    frame = json.loads((folder / "frame.json").read_text())
    record = json.loads((folder / "placement.json").read_text())
    placement = CoilPlacement.from_dict(record["placement"])
    coil = placement.place(load_coil(record["coil"])[0])
    cortex = surfaces["cortex"]
    points = cortex.vertices_m - 1e-3 * cortex.vertex_normals
    print(f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}; project {folder}, model {args.model}, {len(points)} points")
    fields, rows = {}, []
    for keep in (False, True):
        points_field.clear_factorisation_cache()
        start = time.perf_counter()
        model = run_to_completion(iter_field_model(surfaces, args.model, up=np.asarray(frame["dorsal"]),
                                                   keep_factorisation=keep))
        build = time.perf_counter() - start
        conductor = model.solver.conductor
        kept = points_field.factorisation_of(conductor) if keep else None
        start = time.perf_counter()
        fields[keep] = points_field.PlacementField(conductor, coil, placement.didt_a_per_s).at(
            points, on_near_surface="ignore")
        first = time.perf_counter() - start
        info = model.solver.precompute_info or {}
        rows.append((keep, build, first, None if kept is None else kept[0].nbytes, info.get("solve_precision")))
        del model, conductor, kept
    points_field.clear_factorisation_cache()
    for keep, build, first, kept_bytes, precision in rows:
        print(f"keep_factorisation={keep!s:5}: model built in {build:.1f} s (solve {precision}); the first field "
              f"at the {len(points)} points {first:.1f} s" + (f"; {kept_bytes / 2**30:.2f} GiB kept" if kept_bytes
                                                              else ""))
    a, b = fields[False], fields[True]
    print(f"the two fields differ by {np.linalg.norm(b - a) / np.linalg.norm(a):.1e} (relative, whole set); "
          f"first field {rows[0][2] / rows[1][2]:.1f}x faster with the factorisation kept")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
