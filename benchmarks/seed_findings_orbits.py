"""How the seed's findings on the synthetic rat depend on the holes behind its eyes.

Seed 003 saw E-field maxima at "the hole in the skull behind that eye" as outliers, when the coil's
windings passed over an eye. On the synthetic rat (orbital opening 3 mm wide, optic canal 1 mm)
such maxima dominate the study (86 % of the 3C maxima in the demo). This script runs the main job
(demo meshing, low-resolution coil, the 630 placements) on synthetic rats whose orbital openings
and optic canals are scaled by ``--scales`` (1 = the bundled rat; 0.01 = practically closed) and
prints each of the seed's findings per scale, so the effect of this one anatomical detail is
measured, not guessed. Nothing here is used by the package; results go to BENCHMARKS.md.

Run: python benchmarks/seed_findings_orbits.py [--scales 1 0.5 0.01] [--models 3C 2C 1C]
(about 2 minutes per scale and 3 models on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import warnings
from pathlib import Path

from napari_rat_tms.core.job import DEMO_MESHING, JobParameters, iter_main_job
from napari_rat_tms.core.progress import run_to_completion
from napari_rat_tms.core.synthetic import make_synthetic_rat


def _median_peak_ap_by_grid_row(study_csv: Path, model: str) -> list[tuple[float, float]]:
    """(grid row's AP, median AP of the model's field maximum over that row's placements), mm."""
    import csv
    from collections import defaultdict
    from statistics import median

    by_row = defaultdict(list)
    with open(study_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row["model"] == model:
                by_row[round(float(row["grid_ap_mm"]), 3)].append(float(row["peak_ap_mm"]))
    return [(ap, median(peaks)) for ap, peaks in sorted(by_row.items())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.5, 0.01])
    parser.add_argument("--models", nargs="+", default=["3C", "2C", "1C"])
    args = parser.parse_args()
    print(f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}; models "
          f"{', '.join(args.models)}; demo meshing {DEMO_MESHING}")
    rows = []
    for scale in args.scales:
        start = time.perf_counter()
        rat = make_synthetic_rat(0.34, orbit_opening_scale=scale)
        params = JobParameters(models=list(args.models), meshing=dict(DEMO_MESHING), keep_solver_cache=False)
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = run_to_completion(iter_main_job(params, Path(tmp) / "study", rat=rat))
            summary = json.loads(Path(result["written"]["summary"]).read_text())
            rows_by_ap = _median_peak_ap_by_grid_row(Path(result["written"]["table"]), args.models[0])
        seconds = time.perf_counter() - start
        print(f"\norbital openings x {scale:g} (orbital opening radius {1.5 * scale:.3g} mm, optic canal "
              f"{0.5 * scale:.3g} mm), {seconds:.0f} s")
        for finding in summary["findings"]:
            print(f"  {'holds' if finding['holds'] else 'NOT  '} {finding['finding']}: {finding['measured']}")
        s = summary["summary"]
        for name in args.models:
            print(f"  {name:>4}: median peak |E| {s[name]['peak_v_per_m_median']:.1f} V/m, RE "
                  f"{100 * s[name]['re_mean']:.1f} %, maxima apart (median) "
                  f"{s[name]['peak_distance_mm_median']:.1f} mm")
        print(f"  {args.models[0]}: median AP of the true maximum (mm) per grid row (the coil's AP): "
              + ", ".join(f"{ap:+.1f} -> {peak:+.1f}" for ap, peak in rows_by_ap))
        rows.append((scale, summary))
    print("\nscale | " + " | ".join(f["finding"][:40] for f in rows[0][1]["findings"]))
    for scale, summary in rows:
        print(f"{scale:g} | " + " | ".join("holds" if f["holds"] else "not" for f in summary["findings"]))


if __name__ == "__main__":
    main()
