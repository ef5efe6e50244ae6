"""Our isotropic remesher (``core.meshes.remesh.remesh_isotropic``) beside gpytoolbox's
``remesh_botsch`` (the same Botsch & Kobbelt 2004 algorithm in C++, which the package used before
v0.11), on the surfaces the meshing remeshes.

Input: the marching-cubes surfaces that ``mesh_from_mask`` hands to the remesher (mask smoothed by a
quarter of the edge, isosurface at 0.5) for the synthetic rat's body (1.4 mm edges) and skull with
spine (0.67 mm), at ``--voxel-size-mm`` (the seed's 0.17 mm by default). For each remesher, 10
rounds, projected onto the input: time (median of ``--repeat`` runs, the first run of ours after
numba's compilation), vertices, edge length (mean +- sd, share within Botsch & Kobbelt's
[4/5, 4/3] x target), smallest angle and the 1st percentile of angles, largest distance from a
vertex to the input surface (``core.meshes.spatial.distance_to_surface``), closed 2-manifold and
self-intersections (``core.meshes.intersections.find_self_intersections``).

Needs gpytoolbox for the peer (``pip install -e ".[benchmarks]"``); without it prints ours only.

    python benchmarks/bench_remesh.py [--voxel-size-mm 0.17] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
from scipy import ndimage

from napari_rat_tms.core.meshes.intersections import find_self_intersections
from napari_rat_tms.core.meshes.remesh import remesh_isotropic
from napari_rat_tms.core.meshes.spatial import distance_to_surface
from napari_rat_tms.core.meshes.surface import TriangleSurface
from napari_rat_tms.core.meshes.topology import check_closed
from napari_rat_tms.core.segmentation import segment
from napari_rat_tms.core.synthetic import make_synthetic_rat


def quality(v, f, edge, reference: TriangleSurface) -> str:
    surface = TriangleSurface.from_mm(v, np.asarray(f, np.int64), name="remeshed")
    e = surface.edges
    length = np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1)
    within = np.mean((length >= 0.8 * edge) & (length <= 4 / 3 * edge))
    angles = surface.corner_angles_deg
    distance = distance_to_surface(reference, surface.vertices_m) * 1e3
    try:
        check_closed(surface)
        closed = "closed manifold"
    except Exception as err:  # noqa: BLE001 - reported, not raised
        closed = f"NOT closed ({err})"
    crossing = len(find_self_intersections(surface, max_pairs=1000))
    return (f"{len(v):6d} vertices, edges {length.mean():.3f} +- {length.std():.3f} mm "
            f"({100 * within:.1f} % in [4/5, 4/3] x target), angles min {angles.min():.1f} deg, "
            f"1st pct {np.percentile(angles, 1):.1f} deg, distance to the input max "
            f"{distance.max() * 1e3:.2f} um, {closed}, {crossing} crossing pairs")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voxel-size-mm", type=float, default=0.17)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from skimage.measure import marching_cubes

    try:
        import gpytoolbox
    except ImportError:
        gpytoolbox = None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{time.strftime('%Y-%m-%d %H:%M')}; {platform.machine()}, {os.cpu_count()} cores, load "
          f"{load:.2f}; python {platform.python_version()}; voxel {args.voxel_size_mm} mm; "
          f"gpytoolbox {getattr(gpytoolbox, '__version__', 'not installed') if gpytoolbox else 'not installed'}")
    h = args.voxel_size_mm
    rat = make_synthetic_rat(h)
    seg = segment(rat.volume.data, h)
    remesh_isotropic(*_ball(), 0.5, 2)  # numba's compilation (cached on disk after the first run)
    for name, mask, edge in (("body", seg.body, 1.4), ("skull with spine", seg.skull_and_spine, 0.67)):
        field = np.pad(mask.astype(np.float32), 2)
        field = ndimage.gaussian_filter(field, max(0.5, 0.25 * edge / h))
        v, f, _, _ = marching_cubes(field, 0.5, spacing=(h, h, h))
        reference = TriangleSurface.from_mm(v, f.astype(np.int64), name="marching cubes")
        print(f"\n{name}: marching cubes {len(f):,} triangles -> {edge} mm edges, 10 rounds")
        peers = [("ours (numba)", lambda: remesh_isotropic(v, f, edge, 10, project=True))]
        if gpytoolbox is not None:
            peers.append(("gpytoolbox.remesh_botsch", lambda: gpytoolbox.remesh_botsch(
                v.astype(np.float64), f.astype(np.int32), i=10, h=edge, project=True)))
        medians = {}
        for label, run in peers:
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                vv, ff = run()
                times.append(time.perf_counter() - start)
            medians[label] = statistics.median(times)
            print(f"  {label:26s} {medians[label]:6.1f} s (median of {args.repeat}: "
                  f"{min(times):.1f}-{max(times):.1f}); {quality(np.asarray(vv), np.asarray(ff), edge, reference)}")
        if len(medians) == 2:
            ours, theirs = medians.values()
            print(f"  ours / gpytoolbox time: {ours / theirs:.2f}")
    return 0


def _ball():
    x = np.indices((24, 24, 24)) - 11.5
    field = ndimage.gaussian_filter((np.sqrt((x**2).sum(0)) < 8).astype(np.float32), 1.0)
    from skimage.measure import marching_cubes

    v, f, _, _ = marching_cubes(field, 0.5, spacing=(0.25, 0.25, 0.25))
    return v, f


if __name__ == "__main__":
    raise SystemExit(main())
