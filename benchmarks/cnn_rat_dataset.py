"""Training data for the threshold CNNs on the synthetic rat (issue 9): NEURON thresholds + local grids.

Heads (built from the surfaces of a main-job project folder, ``--project``, the README's first
command), each with the ``--model`` BEM model (default 1C: sampling the field at every compartment
and grid point, ~160,000 points per placement, takes ~1 minute with it and ~5 with 3C on 2 cores;
the local field's shape in the cortex, what the CNN learns, is the job of any of them):

* ``rat``: the synthetic rat's surfaces as the demo meshes them (coarser than the seed: body 2 mm, skull 1 mm edges);
* ``rat-0.9``: the same surfaces scaled by 0.9 about the cortex's centroid (a smaller rat);
* ``rat-B``: a **differently shaped** head: in the project's stereotaxic axes (anterior ``a``,
  right ``r``, dorsal ``d``, about the cortex's centroid) stretched x1.10 along ``a``, narrowed
  x0.88 along ``r``, flattened x0.95 along ``d``, then bent, ``d -= 0.015 a^2`` (mm) within 12 mm
  of the centre and straight beyond (snout and neck tilted down by 20 degrees), which makes the vault
  more curved from front to back (a smooth one-to-one map: the surfaces stay closed, nested and
  free of intersections). The held-out head of ``train_cnn_rat.py``'s split.

With ``--model 2C`` or ``3C`` the head ids get the model, ``rat-B@3C``: another head of the dataset
(the same surfaces, the skull and eyes added to the BEM), for a test on a head model never trained on.

Coil placements (MC-B35 full, 2,580 dipoles; dI/dt = 1 A/us, so thresholds are in A/us;
``place_coil_on_scalp`` at scalp points around the project's placement, offsets along the head's own
axes, scaled with it):

* ``P0``-``P5`` (heads ``rat``; ``P0``, ``P2`` on ``rat-0.9``): the project's scalp point at 0, 45,
  90 and 135 degrees; 2.5 mm anterior/posterior of it at 0 degrees. **Shared sites**: the head's
  ``--sites`` neurons are chosen once, on ``P0``'s field, and reused by each of these placements,
  one azimuth per site (golden angle), each cell at its layer's depth (the first dataset);
* ``Q0``-``Q3`` (every head): four other positions (up to 3.5 mm anterior/posterior and 2 mm left/
  right) and orientations (30, 120, 75, 160 degrees). **Own sites**: each placement chooses its
  ``--own-sites`` neurons on its own field, with a random azimuth (uniform) and a random soma depth
  (the layer's +-0.1 mm; +-half the depth in L1) per neuron, from a generator seeded by the head and
  placement ids;
* ``Q4``, ``Q5`` (head ``rat``; issue 21): orientations past 180 degrees (200 and 290), i.e. the
  current reversed relative to the others, so that training sees both current directions; own sites;
* ``R0`` (head ``rat-B``, held out): ``Q0``'s position with the current reversed (210 degrees), own
  sites: the held-out test of a reversed current.

Issue 21's split (``train_cnn_rat.py``) holds out by neuron: ``P0``-``P5`` share their neurons, so
they all train; validation and test use own-site placements and the held-out head only.

Sites: cortex vertices spread over the region where |E| >= 30 % of its maximum (farthest-point
sampling). Cell types: the seed's three, L2/3 PC, L4 LBC, L5 TTPC (``../shared/data/neurons`` clone
1, adult-rat scaling, myelinated, the reduced channel set); ``--cells all`` adds the L1 NGC and the
L6 TPC (the population medians are then over all five).

Written to ``--out`` (default ``cnn-rat-data``) with :func:`~napari_rat_tms.core.neurons.cnn.
generate_dataset` (Dask LocalCluster of ``--workers``; resumable: rerun the same command after an
interruption; the first dataset's shards are reused as they are). Monophasic pulse, rel_tol 2 %.

    python benchmarks/cnn_rat_dataset.py --project rat-tms-demo/study [--workers 2]

On a cluster (more data, issue 21's learning curve): start a Dask scheduler and workers that can import
this package and NEURON and read ``../shared/data/neurons`` (``dask scheduler`` on one machine,
``dask worker tcp://<scheduler>:8786 --nworkers 16 --nthreads 1`` on each of the others), then
``--scheduler-address tcp://<scheduler>:8786`` here, with more neurons per placement (``--sites 96
--own-sites 64``): only the thresholds run on the workers, the fields and the index stay here, and a
rerun after an interruption resumes from the thresholds already cached in ``<out>/thresholds``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

from napari_rat_tms.core.bem.points_field import PlacementField
from napari_rat_tms.core.coils import mc_b35
from napari_rat_tms.core.fields.head_models import head_model
from napari_rat_tms.core.meshes.io import read_surface_file
from napari_rat_tms.core.meshes.surface import TriangleSurface
from napari_rat_tms.core.neurons.cnn import CoilField, generate_dataset
from napari_rat_tms.core.neurons.cortex import LAYER_DEPTHS_MM, layer_of_cell, normalise_layer, place_neurons
from napari_rat_tms.core.neurons.placement_thresholds import golden_angle_azimuths, neuron_vertices
from napari_rat_tms.core.neurons.population import CellSpec
from napari_rat_tms.core.placement import CoilPlacement, place_coil_on_scalp

SURFACES = {"body": "body", "skull": "skull", "eyes": "eyes", "cortex": "cortex"}
NEURONS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "neurons"
CELLS = ("L23_PC_cADpyr229_1", "L4_LBC_cACint209_1", "L5_TTPC2_cADpyr232_1")
#: ``--cells all``: the other two shared cells, after the seed's three (their random draws come after)
ALL_CELLS = (*CELLS, "L1_NGC-DA_bNAC219_1", "L6_TPC_L4_cADpyr231_1")
#: head id -> isotropic scale, or (stretch along anterior, right, dorsal; bend d -= k a^2, k in 1/mm).
HEADS = {"rat": 1.0, "rat-0.9": 0.9, "rat-B": ((1.10, 0.88, 0.95), 0.015)}
#: placement id -> (orientation deg, mm anterior, mm right); P*: the head's shared sites, Q*: own sites.
PLACEMENTS = {"P0": (0.0, 0.0, 0.0), "P1": (45.0, 0.0, 0.0), "P2": (90.0, 0.0, 0.0), "P3": (135.0, 0.0, 0.0),
              "P4": (0.0, 2.5, 0.0), "P5": (0.0, -2.5, 0.0),
              "Q0": (30.0, 1.5, 1.5), "Q1": (120.0, -1.0, -2.0), "Q2": (75.0, 3.5, -1.0),
              "Q3": (160.0, -3.0, 1.5),
              # issue 21: orientations past 180 degrees (the current reversed relative to P0-P3, Q0-Q3)
              "Q4": (200.0, 1.0, -1.5), "Q5": (290.0, -2.0, 1.0),
              # Q0's position with the current reversed (Q0 + 180 degrees): a held-out placement
              "R0": (210.0, 1.5, 1.5)}
OWN = ("Q0", "Q1", "Q2", "Q3", "Q4", "Q5", "R0")
HEAD_PLACEMENTS = {"rat": ("P0", "P1", "P2", "P3", "P4", "P5", *OWN[:6]),
                   "rat-0.9": ("P0", "P2", *OWN[:4]),
                   "rat-B": (*OWN[:4], "R0")}
DEPTH_JITTER_MM = 0.1
BEND_HALF_LENGTH_MM = 12.0
THRESHOLD_KWARGS = {"rel_tol": 0.02}


class Head:
    """One head of the dataset: the project's surfaces mapped by :data:`HEADS`' transform."""

    def __init__(self, head_id, surfaces, centre_m, frame, kind):
        self.head_id, self.centre_m, self.spec = head_id, centre_m, HEADS[head_id]
        self.anterior = np.asarray(frame["anterior"], float)
        self.right = np.asarray(frame["right"], float)
        self.dorsal = np.asarray(frame["dorsal"], float)
        self.surfaces = {name: TriangleSurface(self.map_m(s.vertices_m), s.faces, s.name)
                         for name, s in surfaces.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.conductor = head_model(self.surfaces, kind)

    @property
    def isotropic(self) -> bool:
        return not isinstance(self.spec, tuple)

    def map_m(self, points_m):
        points_m = np.asarray(points_m, float)
        if self.isotropic:        # the first dataset's arithmetic, kept as it was (its cache keys)
            return self.centre_m + self.spec * (points_m - self.centre_m)
        (sa, sr, sd), bend = self.spec
        rel = (points_m - self.centre_m) * 1e3
        a, r, d = rel @ self.anterior, rel @ self.right, rel @ self.dorsal
        a_mm = np.abs(sa * a)      # the bend k a^2 within BEND_HALF_LENGTH_MM, then straight (C1)
        half = BEND_HALF_LENGTH_MM
        d = sd * d - bend * np.where(a_mm <= half, a_mm ** 2, 2 * half * a_mm - half ** 2)
        out = np.outer(sa * a, self.anterior) + np.outer(sr * r, self.right) + np.outer(d, self.dorsal)
        return self.centre_m + 1e-3 * out.reshape(points_m.shape)

    def target_mm(self, scalp_point_mm, forward_mm, right_mm):
        """(point mm, anterior unit vector) of this head for the project's scalp point moved along its
        anterior/right axes (for the deformed head: the image of the point and of the anterior axis)."""
        if self.isotropic:        # the first dataset's arithmetic, kept as it was
            point = self.centre_m * 1e3 + self.spec * (scalp_point_mm - self.centre_m * 1e3)
            point = point + self.spec * forward_mm * self.anterior + self.spec * right_mm * self.right
            return point, self.anterior
        moved = (scalp_point_mm + forward_mm * self.anterior + right_mm * self.right) * 1e-3
        step = self.map_m(moved + 1e-4 * self.anterior) - self.map_m(moved)
        return self.map_m(moved) * 1e3, step / np.linalg.norm(step)


def heads(project: Path, kind: str = "1C", head_ids=None):
    """head id -> :class:`Head`, and the project's placement (scalp point)."""
    surfaces = {name: read_surface_file(project / "meshes" / f"{stem}.vtk").surface
                for name, stem in SURFACES.items()}
    record = json.loads((project / "placement.json").read_text())
    placement = CoilPlacement.from_dict(record["placement"])
    centre = surfaces["cortex"].vertices_m.mean(axis=0)
    out = {head_id: Head(head_id, surfaces, centre, record["frame"], kind)
           for head_id in (head_ids or HEADS)}
    return out, placement


def own_neurons(cortex, vertices, head_id, placement_id, inside, cells=CELLS):
    """Neurons of each cell type at ``vertices`` with random azimuths and depths (seeded by the ids)."""
    rng = np.random.default_rng(zlib.crc32(f"{head_id}/{placement_id}".encode()))
    out = {}
    for name in cells:
        layer = layer_of_cell(name)
        mid = LAYER_DEPTHS_MM[normalise_layer(layer)]
        jitter = min(DEPTH_JITTER_MM, 0.5 * mid)                   # L1 (0.08 mm deep): +-0.04 mm
        depth = mid + rng.uniform(-jitter, jitter, len(vertices))
        out[name] = place_neurons(cortex, layer, vertices=vertices, depth_mm=depth,
                                  azimuths_rad=rng.uniform(0.0, 2 * np.pi, len(vertices)), inside=inside)
    return out


def coil_field(head: Head, placement_id: str, coil, project_placement):
    """(field function at dI/dt = 1 A/us, inside predicate) of one placement of :data:`PLACEMENTS` on
    ``head`` (one BEM solve, on the first call of the field function)."""
    orientation, forward_mm, right_mm = PLACEMENTS[placement_id]
    target, anterior = head.target_mm(project_placement.scalp_point_mm, forward_mm, right_mm)
    placement = place_coil_on_scalp(head.surfaces["body"], target, anterior, coil,
                                    orientation_deg=orientation, didt_a_per_us=1.0, max_offset_mm=5.0)
    field = PlacementField(head.conductor, placement.place(coil), 1e6)
    conductor = head.conductor

    def field_fn(points):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return field.at(points)

    def inside(points):
        return conductor.conductivity_at(np.asarray(points, float).reshape(-1, 3)) > 0

    return field_fn, inside


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="rat-tms-demo/study", type=Path)
    parser.add_argument("--out", default="cnn-rat-data", type=Path)
    parser.add_argument("--sites", type=int, default=24, help="shared sites per head (P placements)")
    parser.add_argument("--own-sites", type=int, default=16, help="sites per Q placement")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler-address", default=None,
                        help="a running Dask scheduler (tcp://host:8786): the NEURON thresholds run on its "
                             "workers instead of a local cluster (the README's cluster recipe)")
    parser.add_argument("--heads", nargs="*", default=["rat-B", "rat", "rat-0.9"])
    parser.add_argument("--placements", nargs="*", default=list(PLACEMENTS))
    parser.add_argument("--model", default="1C", choices=["1C", "2C", "3C"])
    parser.add_argument("--cells", default="seed", choices=["seed", "all"],
                        help="seed: L2/3 PC, L4 LBC, L5 TTPC; all: also L1 NGC and L6 TPC (population "
                             "medians over every cell given)")
    args = parser.parse_args(argv)
    names = CELLS if args.cells == "seed" else ALL_CELLS
    start = time.perf_counter()
    coil = mc_b35("high")
    cells = {name: CellSpec("morphology", path=str(NEURONS / f"{name}.asc")) for name in names}
    fields, neurons = [], {}
    built, project_placement = heads(args.project, args.model, args.heads)
    for head_id in args.heads:
        head = built[head_id]
        cortex = head.surfaces["cortex"]
        # another BEM model is another head of the dataset: "rat-B@3C"
        data_id = head_id if args.model == "1C" else f"{head_id}@{args.model}"
        # in the order given (P0 before the other P placements: their shared neurons are chosen on its field)
        wanted = [pid for pid in args.placements if pid in HEAD_PLACEMENTS[head_id]]
        if any(p.startswith("P") for p in wanted) and "P0" not in wanted[:[p[0] for p in wanted].index("P") + 1]:
            raise SystemExit("--placements: P0 must come before the other P placements (their neurons are "
                             "chosen on P0's field)")
        for pid in wanted:
            field_fn, inside = coil_field(head, pid, coil, project_placement)
            own = pid in OWN
            if pid == "P0" or own:
                norm = np.linalg.norm(field_fn(cortex.vertices_m), axis=1)
                n_sites = args.own_sites if own else args.sites
                vertices = neuron_vertices(cortex, n_sites, efield_norm=norm, min_fraction_of_peak=0.3)
                if own:
                    neurons[f"{data_id}:{pid}"] = own_neurons(cortex, vertices, head_id, pid, inside, names)
                else:
                    azimuths = golden_angle_azimuths(len(vertices))
                    neurons[data_id] = {name: place_neurons(cortex, layer_of_cell(name), vertices=vertices,
                                                            azimuths_rad=azimuths, inside=inside)
                                        for name in names}
                print(f"{data_id}/{pid}: {len(vertices)} sites, |E| {norm[vertices].min():.2f}-"
                      f"{norm[vertices].max():.2f} V/m per A/us ({time.perf_counter() - start:.0f} s)",
                      flush=True)
            fields.append(CoilField(pid, data_id, field_fn, inside,
                                    neuron_set=f"{data_id}:{pid}" if own else None))
    last = [0.0]

    def progress(fraction, message):
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"{100 * fraction:5.1f} % {message} ({time.perf_counter() - start:.0f} s)", flush=True)

    summary = generate_dataset(args.out, cells, neurons, fields, threshold_kwargs=THRESHOLD_KWARGS,
                               n_workers=args.workers, scheduler_address=args.scheduler_address,
                               progress=progress)
    print(summary)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
