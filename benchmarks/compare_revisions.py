"""Two revisions of the package side by side in one run: the same small main job and the E-field
dock's field update, their numbers compared and their times interleaved.

For refactors that must not change behaviour or speed (issue 23: one specification, thin widgets).
The other revision is checked out with ``git worktree`` into a temporary folder; each run is a
fresh Python process with ``PYTHONPATH`` on that revision's ``src`` (same interpreter, same
installed dependencies). Per revision, one warm-up run (numba compiles its kernels into each
tree's own cache), then ``--repeats`` timed runs, the revisions alternating (A B A B ...), so that
a change of the machine's load affects both. Each run:

* the main job on the synthetic rat (0.5 mm, models 3C and 1C, a 2 x 2 grid x 2 orientations, no
  solver cache): its wall time, and its study's numbers (RE, CCE, angle, distance between maxima,
  peak |E| per model: ``result.summary()``);
* then the E-field dock's update (``FieldModel.efield_for``, the coil's primary field and one
  product with the 3C transfer matrix), 21 placements 1 degree apart, the MC-B35 (2,580 dipoles):
  median latency, and |E| of the last one.

Printed: per revision the median times; the largest relative difference of every study number
and of |E| between the revisions (0 means the same arithmetic).

    python benchmarks/compare_revisions.py --before 7e7d8ed [--after HEAD] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np
warnings.simplefilter("ignore")
from napari_rat_tms.core.job import JobParameters, iter_main_job
from napari_rat_tms.core.progress import run_to_completion
from napari_rat_tms.core.coils import mc_b35
from napari_rat_tms.core.fields.head_models import build_field_model
from napari_rat_tms.core.meshes.io import read_surface_file
from napari_rat_tms.core.placement import CoilPlacement

out = Path(tempfile.mkdtemp()) / "study"
params = JobParameters(voxel_size_mm=0.5, models=["3C", "1C"], grid_shape=[2, 2], orientations_deg=[0.0, 90.0],
                       keep_solver_cache=True)
start = time.perf_counter()
result = run_to_completion(iter_main_job(params, out))
job_s = time.perf_counter() - start
summary = json.loads((out / "summary.json").read_text())["summary"]
stems = {"body": "body", "skull": "skull", "skull without spine": "skull_without_spine", "eyes": "eyes",
         "cortex": "cortex"}
surfaces = {k: read_surface_file(out / "meshes" / f"{v}.vtk").surface for k, v in stems.items()
            if (out / "meshes" / f"{v}.vtk").is_file()}
frame = json.loads((out / "frame.json").read_text())
model = build_field_model(surfaces, "3C", up=np.asarray(frame["dorsal"]), cache_dir=out / "solver_cache")
placement = CoilPlacement.from_dict(json.loads((out / "placement.json").read_text())["placement"])
coil = mc_b35("high")
times = []
for k in range(21):
    p = placement.with_orientation(placement.orientation_deg + k)
    t = time.perf_counter()
    e = np.asarray(model.efield_for(p, coil))
    times.append(time.perf_counter() - t)
print("RESULT " + json.dumps({"job_s": job_s, "update_ms": 1e3 * float(np.median(times)),
                              "summary": summary, "efield": np.linalg.norm(e, axis=1).tolist()}))
"""


def _worktree(rev: str) -> Path:
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", rev], check=True, capture_output=True,
                         text=True).stdout.strip()
    if sha == subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], check=True, capture_output=True,
                             text=True).stdout.strip():
        return REPO
    path = Path(tempfile.gettempdir()) / f"rat-tms-rev-{sha[:10]}"
    if not path.is_dir():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), sha], check=True,
                       capture_output=True)
    return path


def _run(tree: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, cwd=tree)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"the probe failed in {tree}:\n{done.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def _numbers(summary: dict) -> dict:
    return {(model, key): value for model, row in summary.items() for key, value in row.items()
            if isinstance(value, (int, float)) and value is not None and np.isfinite(value)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="git revision A (e.g. 7e7d8ed)")
    parser.add_argument("--after", default="HEAD", help="git revision B (default: the checkout)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    trees = {"before": _worktree(args.before), "after": _worktree(args.after)}
    print(f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.2f} at start; {time.strftime('%Y-%m-%d %H:%M')}")
    for name, tree in trees.items():
        print(f"{name}: {args.before if name == 'before' else args.after} in {tree}; warm-up run...", flush=True)
        _run(tree)
    runs = {name: [] for name in trees}
    for k in range(args.repeats):
        for name, tree in trees.items():
            runs[name].append(_run(tree))
            r = runs[name][-1]
            print(f"  {name} #{k + 1}: job {r['job_s']:.1f} s, update {r['update_ms']:.1f} ms", flush=True)
    print(f"load {os.getloadavg()[0]:.2f} at the end")
    for name in trees:
        print(f"{name:>6}: main job {np.median([r['job_s'] for r in runs[name]]):.1f} s (median of {args.repeats}), "
              f"field update {np.median([r['update_ms'] for r in runs[name]]):.1f} ms (median of {args.repeats} "
              "medians of 21)")
    a, b = runs["before"][-1], runs["after"][-1]
    na, nb = _numbers(a["summary"]), _numbers(b["summary"])
    common = sorted(set(na) & set(nb))
    worst = max(((abs(nb[k] - na[k]) / max(abs(na[k]), 1e-30), k) for k in common), default=(0.0, None))
    ea, eb = np.asarray(a["efield"]), np.asarray(b["efield"])
    print(f"study numbers compared: {len(common)} (missing in one: {sorted(set(na) ^ set(nb)) or 'none'}); "
          f"largest relative difference {worst[0]:.2e} ({worst[1]})")
    print(f"|E| of the last update: {len(ea)} vertices, largest relative difference "
          f"{np.max(np.abs(eb - ea)) / np.max(np.abs(ea)):.2e} (of the maximum)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
