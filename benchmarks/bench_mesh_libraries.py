"""Our hand-written geometry and mesh writers beside the libraries that could replace them (issue 24:
"hand-written geometry and mesh I/O replaced by well-kept libraries where they are as fast: measure;
keep numba kernels where they win, and say so").

On a project folder's skull (the demo's: ~8,000 vertices) and points around it, each timed as the
median of ``--repeat`` runs after one warm-up (numba compiled or loaded from its cache, BVHs built
once outside the timing where the library also precomputes), with the largest difference between
the two results:

* distance to the surface: ``meshes.spatial.distance_to_surface`` (numba BVH) vs
  ``gpytoolbox.squared_distance`` (its C++ AABB tree);
* inside/outside: ``meshes.spatial.winding_numbers`` (numba, exact) vs
  ``gpytoolbox.fast_winding_number`` (Barill et al. 2018, approximate);
* ray casting: ``meshes.rays.ray_hits`` (numpy Möller-Trumbore over every triangle) vs ``gpytoolbox.ray_mesh_intersect`` (no embree);
* writing STL, PLY, OBJ, OFF: ``meshes.io.write_surface`` vs ``trimesh``'s exporters (read back by
  trimesh, compared).

gpytoolbox is not a dependency of the package (since v0.11.0): ``pip install -e ".[benchmarks]"``.

    python benchmarks/bench_mesh_libraries.py [--project rat-tms-demo/study] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from _measure import median_time  # benchmarks/ is on sys.path when run as a script


def _median_time(fn, repeat: int) -> float:
    """:func:`_measure.median_time` after one warm-up call (numba compiled or loaded, files cached)."""
    fn()
    return median_time(fn, repeat)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", default="rat-tms-demo/study")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--points", type=int, default=20_000)
    args = parser.parse_args(argv)

    import gpytoolbox
    import trimesh

    from napari_rat_tms.core.meshes.io import read_surface_file, write_surface
    from napari_rat_tms.core.meshes.rays import ray_hits
    from napari_rat_tms.core.meshes.spatial import distance_to_surface, surface_bvh, winding_numbers

    folder = Path(args.project)
    skull = read_surface_file(folder / "meshes" / "skull_without_spine.vtk").surface
    v, f = skull.vertices_m, skull.faces
    rng = np.random.default_rng(0)
    lo, hi = v.min(axis=0), v.max(axis=0)
    points = lo - 0.002 + rng.random((args.points, 3)) * (hi - lo + 0.004)
    print(f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}; skull of {folder}: {len(v):,} vertices, {len(f):,} triangles; "
          f"{len(points):,} points; medians of {args.repeat}")
    rows = []

    surface_bvh(skull)                      # our tree, built once (cached on the surface)
    ours = distance_to_surface(skull, points)
    theirs = np.sqrt(gpytoolbox.squared_distance(points, v, f, use_cpp=True)[0])
    rows.append(("distance to the surface", _median_time(lambda: distance_to_surface(skull, points), args.repeat),
                 _median_time(lambda: gpytoolbox.squared_distance(points, v, f, use_cpp=True), args.repeat),
                 f"max |difference| {np.max(np.abs(ours - theirs)) * 1e9:.3g} nm"))

    ours_w = winding_numbers(skull, points)
    theirs_w = gpytoolbox.fast_winding_number(points, v, f)
    agree = np.mean((np.abs(ours_w) > 0.5) == (np.abs(theirs_w) > 0.5))
    rows.append(("winding numbers (inside)", _median_time(lambda: winding_numbers(skull, points), args.repeat),
                 _median_time(lambda: gpytoolbox.fast_winding_number(points, v, f), args.repeat),
                 f"inside/outside agree at {100 * agree:.3f} % of the points; max |w difference| "
                 f"{np.max(np.abs(ours_w - theirs_w)):.2g}"))

    centre = v.mean(axis=0)
    n_rays = 2_000
    directions = rng.normal(size=(n_rays, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    origins = np.repeat(centre[None], n_rays, axis=0)

    def ours_rays():
        return [ray_hits(skull, o, d) for o, d in zip(origins, directions)]

    def theirs_rays():
        return gpytoolbox.ray_mesh_intersect(origins, directions, v, f, use_embree=False)

    first_ours = np.array([hits[0].distance if hits else np.inf for hits in ours_rays()])
    first_theirs = np.asarray(theirs_rays()[0], float)
    both = np.isfinite(first_ours) & np.isfinite(first_theirs)
    rows.append((f"first ray hit ({n_rays:,} rays)", _median_time(ours_rays, args.repeat),
                 _median_time(theirs_rays, args.repeat),
                 f"hit by both: {both.sum():,}, by ours only {int((np.isfinite(first_ours) & ~both).sum())}, by "
                 f"the library only {int((np.isfinite(first_theirs) & ~both).sum())}; max |difference| where both "
                 f"hit {np.max(np.abs(first_ours[both] - first_theirs[both])) * 1e9:.3g} nm"))

    mesh = trimesh.Trimesh(v * 1e3, f, process=False)
    with tempfile.TemporaryDirectory() as tmp:
        for ext in ("stl", "ply", "obj", "off"):
            a, b = Path(tmp) / f"ours.{ext}", Path(tmp) / f"trimesh.{ext}"
            t_ours = _median_time(lambda: write_surface(skull, a, overwrite=True), args.repeat)
            t_theirs = _median_time(lambda: mesh.export(b), args.repeat)
            ra = trimesh.load(a, process=False, force="mesh")
            rb = trimesh.load(b, process=False, force="mesh")
            same = (len(ra.faces) == len(rb.faces) and
                    np.allclose(np.sort(ra.vertices, axis=0), np.sort(rb.vertices, axis=0), atol=1e-6))
            rows.append((f"write {ext.upper()}", t_ours, t_theirs,
                         f"{a.stat().st_size / 1024:.0f} vs {b.stat().st_size / 1024:.0f} KiB; same mesh read "
                         f"back: {same}"))

    print(f"\n{'':28s} {'ours ms':>9s} {'library ms':>11s} {'ratio':>7s}  check")
    for name, t_ours, t_lib, note in rows:
        print(f"{name:28s} {1e3 * t_ours:9.1f} {1e3 * t_lib:11.1f} {t_lib / t_ours:7.2f}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
