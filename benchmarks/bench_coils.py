"""Coil placement and primary field on the synthetic rat: what moving the coil costs.

Per new placement (median of --repeat runs, after one warm-up):
* ``place_coil_on_scalp`` (nearest scalp point, normal, orientation, lift onto the scalp),
* turning the coil (``with_orientation`` + ``lift_onto_scalp``),
* line navigation (ray against the cortical surface),
* the primary E-field on the cortical surface (~1,900 points) for the MC-B35 at low (136) and
  high (2,580) resolution, float64 and float32;
* peer in the same run: the exact wire-path field of the same winding (what the dipoles stand
  for), and the RE of each dipole model against it on the cortex.

Run: python benchmarks/bench_coils.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np

from napari_rat_tms.core.coils import MC_B35, mc_b35, primary_efield, wire_primary_efield
from napari_rat_tms.core.conventions import m_to_mm
from napari_rat_tms.core.meshes.from_segmentation import mesh_segmentation
from napari_rat_tms.core.metrics import relative_error
from napari_rat_tms.core.placement import (frame_from_landmarks, lift_onto_scalp, line_navigation_target,
                                           place_coil_on_scalp, placement_grid)
from napari_rat_tms.core.segmentation import segment
from napari_rat_tms.core.synthetic import make_synthetic_rat


def _median_ms(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    rat = make_synthetic_rat(0.34)
    seg = segment(rat.volume.data, 0.34, eye_points_mm=[rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meshes = mesh_segmentation(seg)
    s = meshes.surfaces
    lm = rat.landmarks_mm
    skull = s["skull without spine"]
    frame = frame_from_landmarks(lm["bregma"], lm["lambda"], rat.stereotaxic_to_volume([0, 15, -3]),
                                 m_to_mm(skull.vertices_m).mean(0), skull=skull)
    body, cortex = s["body"], s["cortex"]
    low, high = mc_b35("low"), mc_b35("high")
    point = rat.stereotaxic_to_volume([2.0, -3.0, 3.0])
    placement = place_coil_on_scalp(body, point, frame.anterior, high)
    print(f"scalp {body.n_vertices} vertices, cortex {cortex.n_vertices} points")
    rows = [
        ("place_coil_on_scalp", lambda: place_coil_on_scalp(body, point, frame.anterior, high, 30.0)),
        ("turn (with_orientation + lift_onto_scalp)", lambda: lift_onto_scalp(placement.with_orientation(40.0), high, body)),
        ("line navigation target", lambda: line_navigation_target(placement, cortex)),
        ("placement grid (35 points dropped on the scalp)", lambda: placement_grid(body, frame)),
    ]
    grid = placement_grid(body, frame)
    rows.append((f"all {grid.n_placements} grid placements (lifted onto the scalp at each orientation)",
                 lambda: list(grid.placements(body, frame, high))))
    pts = cortex.vertices_m
    placed = {name: placement.place(c) for name, c in (("low", low), ("high", high))}
    wires = MC_B35.wire_path().transformed(placement.rotation_for(high), placement.centre_mm * 1e-3)
    for name in ("low", "high"):
        for dtype in (np.float64, np.float32):
            rows.append((f"primary E on the cortex, {name} ({placed[name].n_dipoles} dipoles), {np.dtype(dtype).name}",
                         lambda n=name, d=dtype: primary_efield(pts, placed[n], 50e6, d)))
    rows.append((f"peer: exact wire-path field ({sum(len(loop) for loop in wires.loops_m)} segments)",
                 lambda: wire_primary_efield(pts, wires, 50e6)))
    for label, fn in rows:
        print(f"{label:70s} {_median_ms(fn, args.repeat if 'wire' not in label else 3):9.2f} ms")
    e_wire = wire_primary_efield(pts, wires, 50e6)
    for name in ("low", "high"):
        re = relative_error(primary_efield(pts, placed[name], 50e6), e_wire)
        print(f"RE of the {name} dipole model against the wire path on the cortex: {100 * re:.2f} %")
    print(f"peak primary |E| on the cortex at 50 A/us: {np.linalg.norm(e_wire, axis=1).max():.1f} V/m "
          "(no head: the BEM adds the charges' field)")


if __name__ == "__main__":
    main()
