"""The main job's outputs: report (Markdown), table, figures, meshes and fields in open formats.

The report checks seed 003's findings on this anatomy with the measured numbers; each finding says
what was measured, the seed's value, and whether it holds here (thresholds below, stated in the
report so that a reader can judge them):

1. skull-less models are off by tens of percent: RE of 1C and of the sphere >= 20 %
   (:func:`skullless_models_off`);
2. 2C is close to the reference: RE of 2C (and 2C*) < 15 % and less than half the 1C's
   (:func:`two_compartment_close`);
3. the peak |E| depends on the coil orientation: the median peak over positions varies by >= 10 %
   over the orientations, lowest within 60-120 deg (near +-90 deg from PA) (:func:`orientation_dependent`);
4. hot spots at skull openings are **outliers**: at least one placement, and at most a quarter of
   them, has its reference maximum at a cortical point that looks out through a hole in the skull (the
   ray along the cortex's outward normal there leaves without crossing the skull surface); when most
   placements do, the openings are not outliers but the rule, which is not the seed's finding
   (:func:`opening_outliers`);
5. the true target is shifted from the line-navigation target, **posterior and medial**: median
   distance > 2 mm (seed: 7.3 mm), mean shift along AP < 0 (posterior) **and** in |ML| < 0 (medial)
   (:func:`shift_posterior_medial`).

Each criterion is a small function of the measured numbers, tested where it holds and where it fails
(``tests/core/study/test_findings.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .figures import figure_fields, figure_maxima_distances, figure_orientation, save_figure
from .run import LINE_NAVIGATION, StudyResult

__all__ = ["write_outputs", "seed_findings", "skullless_models_off", "two_compartment_close",
           "orientation_dependent", "opening_outliers", "shift_posterior_medial"]

#: finding 4: hot spots at openings are outliers, at most this share of the placements (seed 003:
#: "several coil-placement-dependent outliers")
OPENING_OUTLIER_MAX_SHARE = 0.25
#: finding 5: a shift smaller than this (mm) is not a shift (the cortex mesh's spacing is ~0.5-1 mm)
MIN_SHIFT_MM = 2.0


def skullless_models_off(re_by_model: dict) -> bool:
    """Finding 1: every skull-less model's mean RE (fraction) is >= 0.20."""
    return bool(re_by_model) and all(v >= 0.2 for v in re_by_model.values())


def two_compartment_close(re_by_model: dict, re_1c: float) -> bool:
    """Finding 2: every 2C model's mean RE is < 0.15 and less than half the 1C model's."""
    return bool(re_by_model) and all(v < 0.15 and v < 0.5 * re_1c for v in re_by_model.values())


def orientation_dependent(spread: float, lowest_deg: float) -> bool:
    """Finding 3: the median peak varies by >= 10 % (``spread``, fraction of the highest) over the
    orientations, and is lowest within 60-120 deg."""
    return bool(spread >= 0.1 and 60 <= lowest_deg <= 120)


def opening_outliers(n_at_openings: int, n_placements: int) -> bool:
    """Finding 4: at least one placement, and at most :data:`OPENING_OUTLIER_MAX_SHARE` of them, has its
    maximum at a skull opening."""
    return bool(n_placements > 0 and n_at_openings >= 1
                and n_at_openings <= OPENING_OUTLIER_MAX_SHARE * n_placements)


def shift_posterior_medial(median_mm: float, mean_ap_mm: float, mean_abs_ml_mm: float) -> bool:
    """Finding 5: the true target lies > :data:`MIN_SHIFT_MM` from the line-navigation target (median),
    on average posterior (AP shift < 0) **and** medial (|ML| shift < 0)."""
    return bool(np.isfinite(median_mm) and median_mm > MIN_SHIFT_MM and mean_ap_mm < 0 and mean_abs_ml_mm < 0)

def _maxima_under_openings(result: StudyResult, surfaces) -> tuple[np.ndarray, str]:
    """Which reference maxima look out of the skull through a hole: the ray from the maximum along
    the cortex's outward normal leaves the head without crossing the skull surface."""
    from scipy.spatial import cKDTree

    from ..conventions import mm_to_m
    from ..meshes.rays import first_ray_hit

    cortex, skull = surfaces["cortex"], surfaces["skull"]
    peaks = result.peak_point_mm[0][result.completed]     # (completed placements, 3)
    _, idx = cKDTree(result.points_mm).query(peaks)
    unique, inverse = np.unique(idx, return_inverse=True)
    open_unique = np.array([
        first_ray_hit(skull, mm_to_m(result.points_mm[i]), cortex.vertex_normals[i]) is None
        for i in unique])
    under = open_unique[inverse.reshape(-1)]
    where = ""
    if result.frame is not None and under.any():
        lam = result.frame.landmarks_mm.get("lambda")
        lam_ap = result.frame.to_stereotaxic(lam)[1] if lam is not None else -8.0
        st = result.frame.to_stereotaxic(peaks[under])
        posterior = int(np.count_nonzero(st[:, 1] < lam_ap))
        where = (f"; of these, {posterior} behind lambda (brainstem, foramen magnum side) and "
                 f"{int(under.sum()) - posterior} in front of it (orbits, optic canals and other foramina)")
    measured = (f"{100 * under.mean():.0f} % of the placements have the {result.reference} maximum at a "
                f"cortical point that looks out of the skull through an opening (its outward normal crosses no bone)"
                f"{where}")
    return under, measured


def seed_findings(result: StudyResult, surfaces=None) -> list[dict]:
    """The five findings (see the module docstring) with the numbers measured here."""
    s = result.summary()
    ref = result.reference
    out = []
    skullless = [m for m in ("1C", "sphere") if m in s and m != ref]
    if skullless:
        res = {m: s[m]["re_mean"] for m in skullless}
        holds = skullless_models_off(res)
        out.append({"finding": "models without the skull are off by tens of percent",
                    "measured": ", ".join(f"RE {m} {100 * v:.1f} %" for m, v in res.items()),
                    "seed": "RE 1C 63.8 %, sphere 45.0 %", "holds": holds})
    twoc = [m for m in ("2C", "2C*") if m in s and m != ref]
    if twoc and "1C" in s and ref != "1C":
        res = {m: s[m]["re_mean"] for m in twoc}
        holds = two_compartment_close(res, s["1C"]["re_mean"])
        out.append({"finding": "2C models are close to the reference",
                    "measured": ", ".join(f"RE {m} {100 * v:.1f} % (strongest region "
                                          f"{100 * s[m]['re_strong_mean']:.1f} %)" for m, v in res.items()),
                    "seed": "RE 2C 7.6 % (4.7 %), 2C* 9.6 % (5.1 %)", "holds": holds})
    with np.errstate(all="ignore"):
        median_peak = np.nanmedian(result.peak_v_per_m[0], axis=0)
    angles = result.grid.orientations_deg
    lo, hi = int(np.nanargmin(median_peak)), int(np.nanargmax(median_peak))
    spread = (median_peak[hi] - median_peak[lo]) / median_peak[hi]
    out.append({"finding": "the peak |E| depends on the coil orientation (lowest near +-90 deg from PA)",
                "measured": f"{ref}: median peak {median_peak[hi]:.1f} V/m at {angles[hi]:g} deg, "
                            f"{median_peak[lo]:.1f} V/m at {angles[lo]:g} deg ({100 * spread:.0f} % lower)",
                "seed": "drops sharply close to +-90 deg",
                "holds": orientation_dependent(spread, angles[lo])})
    peaks = result.peak_point_mm[0][result.completed]     # a cancelled study: what was computed
    if surfaces is not None and "skull" in surfaces and "cortex" in surfaces:
        near, measured = _maxima_under_openings(result, surfaces)
    else:
        near, measured = np.zeros(0, bool), "not measured (no skull or cortex surface)"
    holds = opening_outliers(int(near.sum()), len(near))
    if near.any() and near.mean() > OPENING_OUTLIER_MAX_SHARE:
        measured += (f"; more than {100 * OPENING_OUTLIER_MAX_SHARE:.0f} % of the placements: the rule here, not "
                     "the seed's outliers")
    out.append({"finding": "hot spots at skull openings (brainstem, behind the eyes) as outliers",
                "measured": measured, "seed": "outliers (a few placements): maxima at the foramen magnum or "
                                              "behind an eye",
                "holds": holds})
    ln = result.line_navigation_mm[result.completed]
    ok = np.all(np.isfinite(ln), axis=1)
    d = np.linalg.norm(peaks[ok] - ln[ok], axis=1)
    if result.frame is not None and ok.any():
        st_peak = result.frame.to_stereotaxic(peaks[ok])
        st_ln = result.frame.to_stereotaxic(ln[ok])
        d_ap = float(np.mean(st_peak[:, 1] - st_ln[:, 1]))
        d_ml = float(np.mean(np.abs(st_peak[:, 0]) - np.abs(st_ln[:, 0])))
        shift = f"; mean shift AP {d_ap:+.1f} mm, |ML| {d_ml:+.1f} mm"
    else:
        d_ap = d_ml = float("nan")
        shift = ""
    if ok.any():
        measured = (f"median {np.median(d):.1f} mm (95 %: {np.percentile(d, 95):.1f} mm) over {ok.sum()} "
                    f"placements{shift}; the axis missed the cortex in {(~ok).sum()}")
    else:
        measured = f"not measured: the coil's axis missed the cortex in all {len(ok)} placements"
    out.append({"finding": "the true target is shifted from the line-navigation target (posterior, medial)",
                "measured": measured, "seed": "median 7.3 mm (95 %: 12.7 mm), more posterior and medial",
                "holds": bool(ok.any()) and shift_posterior_medial(float(np.median(d)), d_ap, d_ml)})
    return out


def _fmt(v, pct=False):
    if v is None or not np.isfinite(v):
        return "-"
    return f"{100 * v:.1f}" if pct else f"{v:.1f}"


def write_outputs(out: Path, result: StudyResult, seg, meshes, models: dict, frame, coil, coil_info,
                  volume, provenance: dict, timings: dict, notes: list, rat=None,
                  overwrite: bool = False) -> dict:
    """Write everything of the main job into ``out``; returns ``{what: path}``."""
    from ..conventions import surface_file_stem
    from ..io import write_nifti
    from ..files import atomic_write
    from ..meshes.io import write_surface
    from ..volume import Volume

    out.mkdir(parents=True, exist_ok=True)
    (out / "meshes").mkdir(exist_ok=True)
    (out / "fields").mkdir(exist_ok=True)
    written: dict[str, Path] = {}
    labels = out / "labels.nii.gz"
    if labels.exists() and overwrite:
        labels.unlink()
    written["labels"] = write_nifti(Volume(seg.labels, volume.voxel_size_mm, intensity_units="label",
                                           scanner_affine_mm=volume.scanner_affine_mm), labels)
    for name, surface in meshes.surfaces.items():
        written[f"mesh {name}"] = write_surface(surface, out / "meshes" / f"{surface_file_stem(name)}.vtk",
                                                overwrite=overwrite)
    ex = result.example
    cortex = meshes.surfaces["cortex"]
    for name, e in ex.get("fields", {}).items():
        safe = name.replace("*", "_nospine")
        written[f"field {name}"] = write_surface(cortex, out / "meshes" / f"cortex_efield_{safe}.vtk",
                                                 overwrite=overwrite, values=np.linalg.norm(e, axis=1),
                                                 values_name="E_magnitude_V_per_m")
    if ex:
        def save_npz(tmp):
            with open(tmp, "wb") as f:
                np.savez_compressed(f, points_mm=result.points_mm,
                                    **{f"E_{k.replace('*', '_nospine')}_V_per_m": v
                                       for k, v in ex["fields"].items()},
                                    placement_json=json.dumps(ex["placement"]))
        atomic_write(out / "fields" / "example_fields.npz", overwrite, save_npz)
        written["fields"] = out / "fields" / "example_fields.npz"
    written["table"] = result.write_csv(out / "study.csv", overwrite=overwrite,
                                        cortex=meshes.surfaces.get("cortex"),
                                        skull=meshes.surfaces.get("skull"))
    findings = seed_findings(result, meshes.surfaces)
    summary = {"status": result.status, "summary": result.summary(), "findings": findings,
               "timings_s": timings, "provenance": provenance, "notes": notes}
    atomic_write(out / "summary.json", overwrite,
                 lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2, default=float)))
    written["summary"] = out / "summary.json"
    atomic_write(out / "parameters.json", overwrite,
                 lambda tmp: Path(tmp).write_text(json.dumps(provenance, indent=2, default=str)))
    written["parameters"] = out / "parameters.json"
    if frame is not None:
        atomic_write(out / "frame.json", overwrite,
                     lambda tmp: Path(tmp).write_text(json.dumps(frame.to_dict(), indent=2)))
        written["frame"] = out / "frame.json"
        if ex:
            from ..placement import CoilPlacement, placement_record

            record = placement_record(CoilPlacement.from_dict(ex["placement"]), frame,
                                      provenance.get("parameters", {}).get("coil"), coil.name)
            atomic_write(out / "placement.json", overwrite,
                         lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2)))
            written["placement"] = out / "placement.json"
    figures = {"figure2_orientation": figure_orientation(result),
               "figure3_maxima": figure_maxima_distances(result)}
    if ex:
        figures["figure4_fields"] = figure_fields(result)
    for name, fig in figures.items():
        written[name] = save_figure(fig, out / name, overwrite=overwrite)[0]
    report = _report_text(result, findings, meshes, models, frame, coil, coil_info, provenance, timings,
                          notes, figures)
    atomic_write(out / "report.md", overwrite, lambda tmp: Path(tmp).write_text(report))
    written["report"] = out / "report.md"
    return written


def _anatomy_words(provenance) -> str:
    """How this anatomy differs from the seed's, in words that fit the input."""
    source = provenance.get("input", {})
    species = source.get("species", provenance["parameters"].get("species", "rat"))
    if source.get("kind") == "synthetic":
        return "a synthetic rat is not the seed's Wistar rat"
    if species == "mouse":
        return "this is a mouse scan; the seed modelled a Wistar rat, a head about twice as large"
    return f"this {species} scan is not the seed's Wistar rat"


def _input_lines(provenance) -> list[str]:
    """The input: real scan or synthetic, species, and what was automatic vs set by the user."""
    source = provenance.get("input")
    if not source:
        return []
    kind = "the bundled synthetic rat (ground truth known)" if source["kind"] == "synthetic" else "a real scan"
    lines = [f"- Input: {kind}; species {source['species']} (defaults: {source['defaults']})."]
    if source.get("automatic"):
        lines.append("- Automatic (check them): " + "; ".join(source["automatic"]) + ".")
    if source.get("user"):
        lines.append("- Set by the user: " + "; ".join(source["user"]) + ".")
    return lines + [""]


def _report_text(result, findings, meshes, models, frame, coil, coil_info, provenance, timings, notes,
                 figures) -> str:
    s = result.summary()
    lines = ["# napari-rat-tms: E-field model comparison (seed 003's study)", ""]
    if not result.is_complete:
        lines += [f"**{result.status}.** The numbers below cover only the placements computed before the "
                  "study was cancelled; run the job again (with --overwrite; the models come from the solver "
                  "cache) for the full study.", ""]
    lines += [f"napari-rat-tms {provenance['napari_rat_tms']}, {provenance['date']}, input sha256 "
              f"`{provenance['input_sha256'][:16]}…`; every parameter in `parameters.json`.", "",
              "## What was done", ""]
    lines += _input_lines(provenance)
    lines += [f"- Scan: {provenance['parameters']['scan']}; segmentation and meshes:", ""]
    for name, st in meshes.statistics.items():
        lines.append(f"  - {st.describe()}")
    lines += ["", f"- Coil: {coil.name} ({coil.n_dipoles} dipoles), dI/dt {result.didt_a_per_us:g} A/µs.",
              f"- Grid: {result.grid.n_positions} positions x {len(result.grid.orientations_deg)} "
              "orientations = "
              f"{result.grid.n_placements} placements around AP {result.grid.centre_ap_ml_mm[0]:+.1f}, "
              f"ML {result.grid.centre_ap_ml_mm[1]:+.1f} mm from bregma.",
              f"- Evaluation points: {len(result.points_mm)} vertices of the cortical surface.",
              "- Models (reference first): " + ", ".join(
                  f"{k} ({m.build_seconds:.0f} s to build)" for k, m in models.items()), "",
              "Times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()), "",
              "## Summary against the reference", "",
              f"Reference: {result.reference}. RE, CCE in %; angles in degrees; mean ± SD over the "
              "placements; "
              "'strong' = where the reference's energy density exceeds half its maximum.", "",
              "| model | RE | RE strong | CCE | CCE strong | angle | angle strong "
              "| max distance median (95 %) mm |"
              " peak |E| median V/m |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name in result.models:
        r = s[name]
        lines.append(
            f"| {name} | {_fmt(r['re_mean'], 1)} ± {_fmt(r['re_sd'], 1)} | {_fmt(r['re_strong_mean'], 1)} | "
            f"{_fmt(r['cce_mean'], 1)} | {_fmt(r['cce_strong_mean'], 1)} | "
            f"{_fmt(r['mean_angle_deg_mean'])} | "
            f"{_fmt(r['mean_angle_deg_strong_mean'])} | {_fmt(r['peak_distance_mm_median'])} "
            f"({_fmt(r['peak_distance_mm_p95'])}) | {_fmt(r['peak_v_per_m_median'])} |")
    ln = s[LINE_NAVIGATION]
    lines += [f"| {LINE_NAVIGATION} | | | | | | | {_fmt(ln['peak_distance_mm_median'])} "
              f"({_fmt(ln['peak_distance_mm_p95'])}) | |", "",
              "## Seed 003's findings on this anatomy", ""]
    for f in findings:
        verdict = "holds" if f["holds"] else "does NOT hold here"
        lines.append(f"- **{f['finding']}**: {verdict}. Measured: {f['measured']}. Seed: {f['seed']}.")
    lines += ["", "Thresholds for 'holds' are stated in `napari_rat_tms.core.study.report`; differences from "
              f"the seed come from the anatomy ({_anatomy_words(provenance)}), the mesh "
              "resolution and the coil model (see the notes below).", "", "## Figures", ""]
    for name in figures:
        lines += [f"![{name}]({name}.png)", ""]
    lines += ["## Files", "",
              "- `study.csv`: one row per model and placement; `summary.json`: the numbers above;",
              "- `meshes/*.vtk`: surfaces in mm (ParaView); `cortex_efield_<model>.vtk`: |E| of the example "
              "placement (figure 4) on the cortex;",
              "- `fields/example_fields.npz`: E (V/m) at the cortical points for that placement;",
              "- `labels.nii.gz`: the segmentation (0 air, 1 body, 2 skull, 3 eye, 4 brain, 5 spine);",
              "- `frame.json`, `placement.json`: the stereotaxic frame and the example placement (load it in "
              "the Coil placement dock);",
              "- `solver_cache/`: the models' BEM precomputation (reused when the job or the E-field dock "
              "rebuilds them); `project.json`: every file with its SHA-256 (checked on reopening).", ""]
    if notes:
        lines += ["## Notes from the pipeline", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)
