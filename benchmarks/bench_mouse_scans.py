"""Real scans, hands-free: the shared mouse µCT scans (Maga et al. 2017) through the pipeline with
nothing but the scan, ``species = "mouse"`` and the landmark file.

Part 1 (always): the automatic segmentation (no typed value) of every scan: the histogram rule and
how sure it is, the thresholds, body and skull components, the brain suggestion's volume against
the population atlas's endocranium (label 15 of ``low_res_template_UCHAR-label``, 459 mm^3;
criterion +-15 %), the notes (faint vault...), time. Baseline in the same run: v0.9's rule (two
peaks of prominence >= 0.7, else stop), i.e. which scans it could segment at all. Beside the
atlas, each scan's own expectation: the atlas's volume scaled by the cube of the skull's size (the
centroid size of its 45 landmarks, placed by others, over the 8 scans' mean), since strains differ
in head size (MOLG/DnJ is a small wild-derived mouse).

Part 2 (``--run``): ``rat-tms run`` equivalent (:func:`napari_rat_tms.core.job.iter_main_job`) on
each scan with the parameters ``scan``, ``species = "mouse"``, ``landmarks_file`` (none for MOLG/DnJ,
whose file was made on another copy of the scan: landmarks suggested from the skull): wall time per
stage, peak resident memory, mesh sizes, the repairs made, RE of 2C/2C*/1C/sphere against 3C
(mean over the placements, as the seed reports) and how many line-navigation axes hit the cortex.

Part 3 (``--template``): the brain suggestion on the population template itself, whose
endocranium is labelled (label 15): the skull = template >= 18, 22 or 26 (the template is an average,
so no histogram rule finds its bone; these bracket the label-1 skull's intensities, median 25), closed
by 1 mm, largest piece; the suggestion with the corner recovery 0.5 (the default) and 0.6 of the
sealing radius without the enclosed recovery, and 0.5 with it (the default); its volume against
the label's and the Dice coefficient.

Needs ../shared (skips with a message otherwise). Run on a quiet machine:

    python benchmarks/bench_mouse_scans.py [--run] [--template] [--scans A_J_ ...] [--output DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from napari_rat_tms.core.io import read_volume
from napari_rat_tms.core.segmentation import segment
from napari_rat_tms.core.segmentation.brain import suggest_brain
from napari_rat_tms.core.segmentation.histogram import CLEAR_PEAK_PROMINENCE, suggest_thresholds
from napari_rat_tms.core.segmentation.morphology import components
from napari_rat_tms.core.species import species_defaults

from _measure import PeakMemory  # benchmarks/ is on sys.path when run as a script

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mouse-ct"
SCANS = ("A_J_", "BALB_CJ_", "C3H_HEJ_", "C57BL6_J_", "CAF1_J_", "DBA_2J_", "MOLG.DnJ_", "NZW_LACJ_")
#: Landmark files made on another copy of their scan: all 45 points of MOLG.DnJ_'s lie outside the
#: volume (up to 12 mm; they fit the bone after an oblique rigid motion, tests/core/io/test_markups.py),
#: so the job refuses them. These scans run with no landmark file: bregma and lambda are suggested.
LANDMARKS_NOT_OF_THIS_SCAN = ("MOLG.DnJ_",)


def atlas_endocranium_mm3() -> float:
    labels = read_volume(SHARED / "low_res_template_UCHAR-label.nii.gz")
    return float(np.count_nonzero(labels.data == 15) * np.prod(labels.voxel_size_mm))


def landmark_centroid_sizes() -> dict[str, float]:
    """Centroid size (mm: the root mean square distance of the 45 landmarks from their centroid) of
    each scan's landmark file. Invariant under rigid motion, so MOLG/DnJ's file (made on another copy
    of its scan) measures its skull too. The landmarks were placed by others (registration from the
    template, Maga et al. 2017): a measure of head size independent of the brain suggestion."""
    from napari_rat_tms.core.io.markups import read_markups

    return {name: read_markups(SHARED / "landmarks" / f"{name}.mrk.json").centroid_size_mm() for name in SCANS}


def segmentation_table(scans) -> None:
    atlas = atlas_endocranium_mm3()
    sizes = landmark_centroid_sizes()
    # the reference size: the mean of the 8 scans (the template's own 45 landmarks, in the source
    # repository but not in ../shared, have a centroid size within 0.6 % of it: BENCHMARKS.md)
    reference = float(np.mean(list(sizes.values())))
    mouse = species_defaults("mouse")
    from napari_rat_tms.core.segmentation import SegmentationParameters

    params = SegmentationParameters(**mouse.segmentation_defaults())
    print(f"\n== automatic segmentation (species mouse defaults; atlas endocranium {atlas:.0f} mm^3)")
    print("| scan | histogram rule | v0.9 rule | air/soft | bone | body, skull components | brain mm^3 "
          "| vs atlas | within 15 % | without enclosed recovery: mm^3, vs atlas | landmark size, scaled atlas mm^3 "
          "| vs scaled atlas | s | notes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    within = within_before = within_scaled = 0
    measured, expected = [], []
    for name in scans:
        volume = read_volume(SHARED / f"{name}.nii.gz")
        _, hist = suggest_thresholds(volume.data)
        old_rule = "ok" if (hist.soft_prominence or 0.0) >= CLEAR_PEAK_PROMINENCE else "stops"
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seg = segment(volume.data, volume.voxel_size_mm, params)
        seconds = time.perf_counter() - t
        brain = seg.volumes_mm3()["brain"]
        ratio = brain / atlas - 1.0
        ok = abs(ratio) <= 0.15
        within += ok
        # baseline in the same run: the same skull, body and air without the enclosed recovery
        before = suggest_brain(seg.skull, volume.voxel_size_mm, body=seg.body,
                               air=volume.data < seg.thresholds.air_soft,
                               corner_recovery=params.brain_corner_recovery, recover_enclosed=False).volume_mm3
        within_before += abs(before / atlas - 1.0) <= 0.15
        # isometric scaling: a skull 2 % smaller in every direction holds 6 % less
        scaled = atlas * (sizes[name] / reference) ** 3
        within_scaled += abs(brain / scaled - 1.0) <= 0.15
        measured.append(brain)
        expected.append(scaled)
        notes = " ".join(n for n in seg.notes[1:]) or "-"
        prom = "" if hist.soft_prominence is None else f" {hist.soft_prominence:.2f}"
        print(f"| {name} | {hist.confidence}{prom} | {old_rule} | {seg.thresholds.air_soft:.3g} | "
              f"{seg.thresholds.bone:.3g} | {components(seg.body)[1].size}, {components(seg.skull)[1].size} | "
              f"{brain:.0f} | {100 * ratio:+.1f} % | {'yes' if ok else 'no'} | {before:.0f}, "
              f"{100 * (before / atlas - 1):+.1f} % | {sizes[name]:.3f} mm, {scaled:.0f} | "
              f"{100 * (brain / scaled - 1):+.1f} % | {seconds:.1f} | {notes} |", flush=True)
    print(f"brain within 15 % of the atlas: {within} of {len(scans)} ({within_before} without the enclosed "
          "recovery)")
    ratios = np.asarray(measured) / np.asarray(expected)
    r = np.corrcoef(measured, expected)[0, 1] if len(scans) > 2 else float("nan")
    print(f"brain within 15 % of the atlas scaled by the landmarks' centroid size (reference {reference:.3f} mm, "
          f"the mean of the 8 files): {within_scaled} of {len(scans)}; brain / scaled atlas median "
          f"{np.median(ratios):.3f} ({ratios.min():.3f}-{ratios.max():.3f}); correlation of the brain with "
          f"the scaled atlas r = {r:.2f}")


def run_table(scans, output: Path | None) -> None:
    from napari_rat_tms.core.job import JobParameters, iter_main_job
    from napari_rat_tms.core.progress import run_to_completion

    print("\n== hands-free main job (scan, species = mouse, landmarks_file)")
    print("| scan | total s | segmentation s | meshing s | models s | study s | peak GiB | body/skull/eyes/cortex "
          "vertices | repairs | RE 2C / 2C* / 1C / sphere vs 3C (mean over placements, %) | axis hits |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in scans:
        values = {"scan": str(SHARED / f"{name}.nii.gz"), "species": "mouse"}
        if name not in LANDMARKS_NOT_OF_THIS_SCAN:
            values["landmarks_file"] = str(SHARED / "landmarks" / f"{name}.mrk.json")
        params = JobParameters.from_dict(values)
        folder = Path(tempfile.mkdtemp(prefix=f"mouse-{name}-")) if output is None else output / name
        t = time.perf_counter()
        try:
            with PeakMemory() as mem, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                done = run_to_completion(iter_main_job(params, folder, overwrite=True))
        except Exception as err:  # a benchmark reports every scan, failed or not
            print(f"| {name} | FAILED after {time.perf_counter() - t:.0f} s: {type(err).__name__}: {err} |",
                  flush=True)
            continue
        total = time.perf_counter() - t
        tm = done["timings"]
        models_s = sum(v for k, v in tm.items() if k.startswith("model "))
        summary, vertices = done["summary"], done["vertices"]
        sizes = "/".join(str(vertices.get(k, "-")) for k in ("body", "skull", "eyes", "cortex"))
        re = " / ".join(f"{100 * summary[m]['re_mean']:.1f}" if m in summary else "-"
                        for m in ("2C", "2C*", "1C", "sphere"))
        misses = summary["line navigation"]["misses"]
        repairs = ", ".join(f"{r['surface']} {r['kind']} {r['voxels']} vox" for r in done["repairs"]) or "none"
        print(f"| {name} | {total:.0f} | {tm.get('segmentation', 0):.0f} | {tm.get('meshing', 0):.0f} | "
              f"{models_s:.0f} | {tm.get('study', 0):.0f} | {mem.peak_gib:.2f} | {sizes} | {repairs} | {re} | "
              f"{done['placements'] - misses} of {done['placements']} |", flush=True)
        for note in done["notes"]:
            if note.startswith(("Eyes:", "Landmarks:", "Faint", "Thresholds")):
                print(f"    {name}: {note}")


def template_table() -> None:
    from napari_rat_tms.core.segmentation.morphology import close_mm, largest_component

    template = read_volume(SHARED / "low_res_template_UCHAR.nii.gz")
    truth = read_volume(SHARED / "low_res_template_UCHAR-label.nii.gz").data == 15
    h = np.asarray(template.voxel_size_mm, float)
    voxel = float(np.prod(h))
    print(f"\n== brain suggestion on the atlas template (endocranium label 15: {truth.sum() * voxel:.0f} mm^3)")
    print("| bone >= | corner recovery | enclosed recovery | sealing radius mm | brain mm^3 | vs label | Dice "
          "| missed mm^3 | extra mm^3 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for bone in (18, 22, 26):
        skull = largest_component(close_mm(template.data >= bone, 1.0, h))
        for recovery, enclosed in ((0.5, False), (0.6, False), (0.5, True)):
            brain = suggest_brain(skull, h, corner_recovery=recovery, recover_enclosed=enclosed)
            b = brain.mask
            dice = 2 * np.count_nonzero(b & truth) / (b.sum() + truth.sum())
            print(f"| {bone} | {recovery} | {'on' if enclosed else 'off'} | {brain.seal_radius_mm:g} | {b.sum() * voxel:.0f} | "
                  f"{100 * (b.sum() / truth.sum() - 1):+.1f} % | {dice:.3f} | {np.count_nonzero(truth & ~b) * voxel:.0f} "
                  f"| {np.count_nonzero(b & ~truth) * voxel:.0f} |", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", action="store_true", help="also run the main job on each scan")
    parser.add_argument("--scans", nargs="*", default=list(SCANS))
    parser.add_argument("--output", type=Path, default=None, help="keep the projects here")
    parser.add_argument("--template", action="store_true", help="also the brain suggestion on the atlas template")
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} is absent (the shared mouse scans are not in the repository)")
        return 0
    print(f"{time.strftime('%Y-%m-%d %H:%M')} {platform.machine()} {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}, python {platform.python_version()}")
    segmentation_table(args.scans)
    if args.template:
        template_table()
    if args.run:
        run_table(args.scans, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
