"""Training data for the threshold CNNs on the synthetic rat (issue 9): NEURON thresholds + local grids.

Heads (the surfaces of a main-job project folder, ``--project``, the README's first command):

* ``rat``: the synthetic rat's surfaces as meshed (seed resolutions), the ``--model`` BEM model
  (default 1C: sampling the field at every compartment and grid point, ~160,000 points per
  placement, takes ~1 minute with it and ~5 with 3C on 2 cores; the local field's shape in the
  cortex, what the CNN learns, is the job of any of them);
* ``rat-0.9``: the same surfaces scaled by 0.9 about the cortex's centroid (a smaller rat; the
  held-out head of the split).

Coil placements per head (MC-B35 full, 2,580 dipoles; dI/dt = 1 A/us, so thresholds are in A/us;
``place_coil_on_scalp`` at scalp points around the project's placement): ``P0``-``P3`` the
project's scalp point at 0, 45, 90 and 135 degrees; ``P4``/``P5`` 2.5 mm anterior/posterior of it
at 0 degrees (on the smaller head, points scaled with it). Each placement: one BEM solve
(:class:`~napari_rat_tms.core.bem.points_field.PlacementField`).

Neurons per head: ``--sites`` cortex vertices spread over the region where |E| >= 30 % of its
maximum for ``P0`` (farthest-point sampling), one neuron per site and cell type, azimuths from the
golden angle; cell types the seed's three: L2/3 PC, L4 LBC, L5 TTPC (``../shared/data/neurons``
clone 1, adult-rat scaling, myelinated, the reduced channel set), each at its layer's depth.

Written to ``--out`` (default ``cnn-rat-data``) with :func:`~napari_rat_tms.core.neurons.cnn.
generate_dataset` (Dask LocalCluster of ``--workers``; resumable: rerun the same command after an
interruption). Monophasic pulse, rel_tol 2 %.

    python benchmarks/cnn_rat_dataset.py --project rat-tms-demo/study [--sites 24] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np

from napari_rat_tms.core.bem.points_field import PlacementField
from napari_rat_tms.core.coils import mc_b35
from napari_rat_tms.core.fields.head_models import head_model
from napari_rat_tms.core.meshes.io import read_surface_file
from napari_rat_tms.core.meshes.surface import TriangleSurface
from napari_rat_tms.core.neurons.cnn import CoilField, generate_dataset
from napari_rat_tms.core.neurons.cortex import layer_of_cell, place_neurons
from napari_rat_tms.core.neurons.placement_thresholds import neuron_vertices
from napari_rat_tms.core.neurons.population import CellSpec
from napari_rat_tms.core.placement import CoilPlacement, place_coil_on_scalp

SURFACES = {"body": "body", "skull": "skull", "eyes": "eyes", "cortex": "cortex"}
NEURONS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "neurons"
CELLS = ("L23_PC_cADpyr229_1", "L4_LBC_cACint209_1", "L5_TTPC2_cADpyr232_1")
HEADS = {"rat": 1.0, "rat-0.9": 0.9}
PLACEMENTS = {"P0": (0.0, 0.0), "P1": (45.0, 0.0), "P2": (90.0, 0.0), "P3": (135.0, 0.0),
              "P4": (0.0, 2.5), "P5": (0.0, -2.5)}
GOLDEN_ANGLE_RAD = math.pi * (3.0 - math.sqrt(5.0))
THRESHOLD_KWARGS = {"rel_tol": 0.02}


def _scaled(surface: TriangleSurface, centre_m, scale) -> TriangleSurface:
    return TriangleSurface(centre_m + scale * (surface.vertices_m - centre_m), surface.faces, surface.name)


def heads(project: Path, kind: str = "1C"):
    """head id -> (surfaces, conductor, scalp point mm, anterior, current direction)."""
    surfaces = {name: read_surface_file(project / "meshes" / f"{stem}.vtk").surface
                for name, stem in SURFACES.items()}
    record = json.loads((project / "placement.json").read_text())
    placement = CoilPlacement.from_dict(record["placement"])
    anterior = np.asarray(record["frame"]["anterior"], float)
    centre = surfaces["cortex"].vertices_m.mean(axis=0)
    out = {}
    for head_id, scale in HEADS.items():
        scaled = {name: _scaled(s, centre, scale) for name, s in surfaces.items()}
        point = centre * 1e3 + scale * (placement.scalp_point_mm - centre * 1e3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            conductor = head_model(scaled, kind)
        out[head_id] = (scaled, conductor, point, anterior)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="rat-tms-demo/study", type=Path)
    parser.add_argument("--out", default="cnn-rat-data", type=Path)
    parser.add_argument("--sites", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--heads", nargs="*", default=list(HEADS))
    parser.add_argument("--placements", nargs="*", default=list(PLACEMENTS))
    parser.add_argument("--model", default="1C", choices=["1C", "2C", "3C"])
    args = parser.parse_args(argv)
    start = time.perf_counter()
    coil = mc_b35("high")
    cells = {name: CellSpec("morphology", path=str(NEURONS / f"{name}.asc")) for name in CELLS}
    fields, neurons = [], {}
    for head_id, (surfaces, conductor, point, anterior) in heads(args.project, args.model).items():
        if head_id not in args.heads:
            continue
        cortex, scalp = surfaces["cortex"], surfaces["body"]

        def inside(points, conductor=conductor):
            return conductor.conductivity_at(np.asarray(points, float).reshape(-1, 3)) > 0

        for pid in args.placements:
            orientation, shift_mm = PLACEMENTS[pid]
            scale = HEADS[head_id]
            placement = place_coil_on_scalp(scalp, point + scale * shift_mm * anterior, anterior, coil,
                                            orientation_deg=orientation, didt_a_per_us=1.0)
            field = PlacementField(conductor, placement.place(coil), 1e6)

            def field_fn(points, field=field):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return field.at(points)

            fields.append(CoilField(pid, head_id, field_fn, inside))
            if pid == "P0":
                norm = np.linalg.norm(field_fn(cortex.vertices_m), axis=1)
                vertices = neuron_vertices(cortex, args.sites, efield_norm=norm, min_fraction_of_peak=0.3)
                azimuths = np.mod(GOLDEN_ANGLE_RAD * np.arange(len(vertices)), 2 * np.pi)
                neurons[head_id] = {name: place_neurons(cortex, layer_of_cell(name), vertices=vertices,
                                                        azimuths_rad=azimuths, inside=inside)
                                    for name in CELLS}
                print(f"{head_id}: {len(vertices)} sites, |E| {norm[vertices].min():.2f}-"
                      f"{norm[vertices].max():.2f} V/m per A/us ({time.perf_counter() - start:.0f} s)",
                      flush=True)
    last = [0.0]

    def progress(fraction, message):
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"{100 * fraction:5.1f} % {message} ({time.perf_counter() - start:.0f} s)", flush=True)

    summary = generate_dataset(args.out, cells, neurons, fields, threshold_kwargs=THRESHOLD_KWARGS,
                               n_workers=args.workers, progress=progress)
    print(summary)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
