"""A model study's results written to a folder, as the Model study dock saves them: the table, a
summary record, a README and seed 003's figures (PNG and SVG).

The main job writes its own, fuller folder (:func:`.report.write_outputs`: the report with the
segmentation, the meshes and the findings); this is the study alone, from any placement grid.
Existing files are never replaced unless ``overwrite=True``; a study's files that the new result
does not write (Fig. 4 of a cancelled study) are then removed, so a folder never mixes two studies.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..fields import MODEL_KINDS
from ..files import atomic_write, write_json
from .run import LINE_NAVIGATION, StudyResult
from .settings import StudySettings

__all__ = ["SUMMARY_COLUMNS", "summary_table_rows", "STUDY_FIGURES", "study_output_files", "existing_study_outputs",
           "study_summary_record", "study_readme", "write_study_results"]

#: Seed 003's figures of a study: file name -> what it shows.
STUDY_FIGURES = {
    "figure2_orientation": "direction error at the maximum and peak |E| against the coil orientation "
                           "(seed Fig. 2)",
    "figure3_maxima": "mean distance between the maxima of the models and line navigation (seed Fig. 3)",
    "figure4_fields": "|E| and |E - E_ref| for the grid centre at 0 deg (seed Fig. 4)",
}


def study_output_files() -> tuple[str, ...]:
    """Names of every file a study folder can hold (figures as PNG and SVG)."""
    return ("study.csv", "summary.json", "README.txt",
            *(f"{name}{suffix}" for name in STUDY_FIGURES for suffix in (".png", ".svg")))


def study_summary_record(result: StudyResult, *, settings: StudySettings | None = None,
                         findings: list | None = None) -> dict:
    """The ``summary.json`` record: status, models, dI/dt, coil, grid, the per-model summary
    against the reference and seed 003's findings. ``settings``: the :class:`StudySettings` the
    study ran with (stored whole under ``"settings"``; :meth:`StudySettings.from_dict` restores it)."""
    grid = result.grid
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # means of empty columns (cancelled studies)
        summary = result.summary()
    return {
        "status": result.status,
        "complete": result.is_complete,
        "placements_computed": result.n_completed,
        "placements": int(result.completed.size),
        "reference": result.reference,
        "models": {name: MODEL_KINDS[name].description if name in MODEL_KINDS else "" for name in result.models},
        "didt_a_per_us": result.didt_a_per_us,
        "coil": None if settings is None else settings.coil,
        "settings": None if settings is None else settings.to_dict(),
        "grid": {"centre_ap_ml_mm": list(grid.centre_ap_ml_mm),
                 "centre_default": None if settings is None else settings.grid_centre_ap_ml_mm is None,
                 "extent_mm": None if settings is None else list(settings.grid_extent_mm),
                 "shape": None if settings is None else list(settings.grid_shape),
                 "positions_ap_ml_mm": grid.grid_ap_ml_mm,
                 "orientations_deg": grid.orientations_deg},
        "evaluation_points": len(result.points_mm),
        "seconds": result.seconds,
        "summary": summary,
        "findings": list(findings or []),
        "reference_paper": "seed 003 (Koponen et al.): rat µCT -> BEM -> TMS E-field, model comparison "
                           "over 630 coil placements",
    }


def study_readme(result: StudyResult, figure_names) -> str:
    """``README.txt``: what the folder holds; a cancelled study is said to be PARTIAL first."""
    lines = [f"Model study (seed 003's comparison of head models): {result.status}.", ""]
    if not result.is_complete:
        lines += [f"PARTIAL RESULT: the study was cancelled; {result.n_completed} of "
                  f"{result.completed.size} placements were computed and every number, table and figure "
                  "here covers only these.", ""]
    lines += [f"Models: {', '.join(result.models)} (reference {result.reference}); dI/dt "
              f"{result.didt_a_per_us:g} A/µs; {result.grid.n_positions} positions x "
              f"{len(result.grid.orientations_deg)} orientations.", "",
              "study.csv     one row per model and computed placement (mm, deg, V/m; RE and CCE as fractions)",
              "summary.json  status, models, grid, per-model summary against the reference, seed findings"]
    names = list(figure_names)
    for name in names:
        lines.append(f"{name}.png/.svg  {STUDY_FIGURES.get(name, '')}")
    if "figure4_fields" not in names:
        lines.append("figure4_fields: not drawn (its placement was not computed before cancelling)")
    return "\n".join(lines) + "\n"


def existing_study_outputs(folder) -> list[Path]:
    """The files of a study (also those this result would not write) that exist in ``folder``."""
    return [Path(folder) / name for name in study_output_files() if (Path(folder) / name).exists()]


def write_study_results(folder, result: StudyResult, figures: dict, *, settings: StudySettings | None = None,
                        findings: list | None = None, cortex=None, skull=None,
                        overwrite: bool = False) -> list[Path]:
    """Write ``study.csv`` (:meth:`StudyResult.write_csv`, with ``cortex``/``skull`` for the
    anatomy columns), ``summary.json``, ``README.txt`` and ``figures`` (name -> Matplotlib figure,
    PNG and SVG) into ``folder``; returns the written paths.

    Raises :class:`FileExistsError` naming the files when any study file exists and not
    ``overwrite`` (nothing is written then). With ``overwrite``, study files the result does not
    write are removed after the others are written."""
    from .figures import save_figure

    folder = Path(folder)
    existing = existing_study_outputs(folder)
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(p.name for p in existing)} already exist(s) in {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    written = [result.write_csv(folder / "study.csv", overwrite=overwrite, cortex=cortex, skull=skull)]
    written.append(write_json(folder / "summary.json",
                              study_summary_record(result, settings=settings, findings=findings),
                              overwrite=overwrite))
    readme = study_readme(result, figures)
    atomic_write(folder / "README.txt", overwrite, lambda tmp: Path(tmp).write_text(readme, encoding="utf-8"))
    written.append(folder / "README.txt")
    for name, fig in figures.items():
        written.extend(save_figure(fig, folder / name, overwrite=overwrite))
    for stale in set(existing_study_outputs(folder)) - set(written):    # confirmed: replaced by nothing
        stale.unlink()
    return written


#: Columns of the summary table: (title, tooltip).
SUMMARY_COLUMNS = (
    ("RE (%)", "relative error against the reference, mean ± SD over the placements"),
    ("CCE (%)", "correlation error against the reference, mean ± SD over the placements"),
    ("mean angle (°)", "mean angle between the field and the reference's, mean ± SD over the placements"),
    ("distance between maxima (mm)", "distance between the model's maximum and the reference's, mean ± SD "
                                     "(line navigation: its target to the reference's maximum)"),
    ("peak |E| (V/m)", "peak |E| at the study's dI/dt, median over the placements"),
)


def _pm(mean, sd, scale=1.0) -> str:
    if mean is None or not np.isfinite(mean):
        return "-"
    if sd is None or not np.isfinite(sd):
        return f"{scale * mean:.1f}"
    return f"{scale * mean:.1f} ± {scale * sd:.1f}"


def summary_table_rows(result: StudyResult) -> list[tuple[str, list[str]]]:
    """The rows of the Study dock's summary table (:data:`SUMMARY_COLUMNS`): ``(name, cells)`` per
    model, then line navigation (its distance between maxima: mean ± SD over the placements done)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        s = result.summary()
        _, d = result.distance_between_maxima_mm()
        ln = result.line_navigation_error_mm()[0][result.completed]
    rows = []
    for name in result.models:
        r = s[name]
        rows.append((name, [_pm(r["re_mean"], r["re_sd"], 100.0), _pm(r["cce_mean"], r["cce_sd"], 100.0),
                            _pm(r["mean_angle_deg_mean"], r["mean_angle_deg_sd"]),
                            _pm(r["peak_distance_mm_mean"], r["peak_distance_mm_sd"]),
                            _pm(r["peak_v_per_m_median"], None)]))
    ln = ln[np.isfinite(ln)]
    rows.append((LINE_NAVIGATION, ["", "", "", _pm(d[0, -1], float(np.std(ln)) if len(ln) else None), ""]))
    return rows
