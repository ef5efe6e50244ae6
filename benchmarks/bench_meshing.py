"""Meshing of the synthetic rat's segmentation: time per surface beside marching cubes alone.

* ``mesh_from_mask`` (smoothing, marching cubes, isotropic remeshing to the seed's edge lengths,
  checks) for the body (1.4 mm) and the skull with spine (0.67 mm), median of ``--repeat`` runs;
* baseline in the same run: ``skimage.measure.marching_cubes`` of the same mask (the floor any
  surface extraction pays; its surface has 0.1-0.2 mm triangles, unusable for a BEM);
* statistics like the seed's, and the mean distance from the mesh's vertices to the mask's own
  voxel boundary (marching cubes of the unsmoothed mask).

Run: python benchmarks/bench_meshing.py [--voxel-size-mm 0.17] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np

from napari_rat_tms.core.meshes.checks import distance_to_surface
from napari_rat_tms.core.meshes.from_mask import mesh_from_mask
from napari_rat_tms.core.meshes.surface import TriangleSurface
from napari_rat_tms.core.segmentation import segment
from napari_rat_tms.core.synthetic import make_synthetic_rat


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--voxel-size-mm", type=float, default=0.17)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from skimage.measure import marching_cubes

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    h = args.voxel_size_mm
    rat = make_synthetic_rat(h)
    seg = segment(rat.volume.data, h)
    total = 0.0
    for name, mask, edge in (("body", seg.body, 1.4), ("skull with spine", seg.skull_and_spine, 0.67)):
        times, base = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                surface, stats = mesh_from_mask(mask, h, edge, name=name)
            times.append(time.perf_counter() - t)
            t = time.perf_counter()
            v, f, _, _ = marching_cubes(np.pad(mask, 1).astype(np.float32), 0.5, spacing=(h, h, h))
            base.append(time.perf_counter() - t)
        reference = TriangleSurface.from_mm(v - h, f, name="voxel boundary")
        distance = distance_to_surface(reference, surface.vertices_m) * 1e3
        total += statistics.median(times)
        print(f"{stats.describe()}\n  mesh_from_mask {statistics.median(times):.1f} s (median of "
              f"{args.repeat}; {min(times):.1f}-{max(times):.1f}); marching cubes alone "
              f"{statistics.median(base):.1f} s ({len(v)} vertices); vertices to the voxel "
              f"boundary: mean {distance.mean():.3f} mm, max {distance.max():.3f} mm")
    print(f"body + skull: {total:.1f} s")


if __name__ == "__main__":
    main()
