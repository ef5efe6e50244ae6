"""How soon a Cancel takes effect in each long step the docks run (issue 25: cancelling the 0.17 mm
synthetic rat took 96 s).

A dock's worker stops between two reports of the core generator it runs, so the worst wait after
pressing Cancel is the longest interval between two reports. This script runs each generator to
the end in this process and prints, per step, the number of reports, the longest interval and
what the report before it said (the step that cannot be interrupted), beside the step's total
time: the synthetic rat at ``--voxel-mm`` (default the seed's 0.17 mm), its segmentation and its
meshing (the seed's edge lengths), and the BEM precomputation of ``--model`` (default 1C; 3C at
the seed's meshing takes minutes). Time on a quiet machine.

    python benchmarks/bench_cancel_latency.py [--voxel-mm 0.17] [--model 1C]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import psutil


def _intervals(steps):
    """Run a ``(fraction, message)`` generator (or one with a tag first) to its end; returns its
    value, the total time, the number of reports and the longest interval with the message
    reported before it."""
    start = last = time.perf_counter()
    longest, before, message, n = 0.0, "start", "start", 0
    while True:
        try:
            item = next(steps)
        except StopIteration as done:
            now = time.perf_counter()
            if now - last > longest:
                longest, before = now - last, message
            return done.value, now - start, n, longest, before
        now = time.perf_counter()
        if now - last > longest:
            longest, before = now - last, message
        message = str(item[-1]) if isinstance(item, tuple) else str(item)
        last, n = now, n + 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voxel-mm", type=float, default=0.17)
    parser.add_argument("--model", default="1C")
    args = parser.parse_args(argv)

    from napari_rat_tms.core.fields.head_models import iter_field_model
    from napari_rat_tms.core.meshes.from_segmentation import iter_mesh_segmentation
    from napari_rat_tms.core.segmentation.pipeline import iter_segment
    from napari_rat_tms.core.synthetic.rat import SyntheticRatParameters, iter_synthetic_rat

    print(f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M')}")
    rows = []
    rat, total, n, longest, before = _intervals(iter_synthetic_rat(SyntheticRatParameters(voxel_size_mm=args.voxel_mm)))
    rows.append((f"synthetic rat {args.voxel_mm:g} mm {rat.volume.data.shape}", total, n, longest, before))
    eyes = [rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]]
    seg, total, n, longest, before = _intervals(iter_segment(rat.volume.data, args.voxel_mm, eye_points_mm=eyes))
    rows.append(("segmentation", total, n, longest, before))
    meshes, total, n, longest, before = _intervals(iter_mesh_segmentation(seg))
    rows.append(("meshing (seed edge lengths)", total, n, longest, before))
    frame_up = np.array([0.0, 0.0, 1.0])
    _, total, n, longest, before = _intervals(iter_field_model(meshes.surfaces, args.model, up=frame_up))
    rows.append((f"BEM precomputation {args.model}", total, n, longest, before))
    print(f"\n{'step':44s} {'total s':>8s} {'reports':>8s} {'longest wait s':>15s}  report before it")
    for name, total, n, longest, before in rows:
        print(f"{name:44s} {total:8.1f} {n:8d} {longest:15.1f}  {before}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
