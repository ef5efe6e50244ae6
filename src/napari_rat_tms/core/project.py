"""A project folder: everything one main job made, reopened without recomputing.

``rat-tms demo`` / ``rat-tms run`` (:mod:`.job`) write one folder per animal:

=========================  ========================================================================
``project.json``           this manifest: format, napari-rat-tms version, date, status of the study,
                           every file below with its size and SHA-256
``parameters.json``        every setting used, versions, date, input hash (provenance)
``labels.nii.gz``          the segmentation (0 air, 1 body, 2 skull, 3 eye, 4 brain, 5 spine)
``meshes/*.vtk``           the surfaces (mm, volume frame) and |E| of the example placement
``solver_cache/*.npz``     the BEM precomputation per model (reused by ``rat-tms run`` and by the
                           E-field dock on a reopened project: models in seconds, not minutes)
``frame.json``             the stereotaxic frame (bregma, axes)
``placement.json``         the example placement, in the Coil placement dock's file format
``study.csv``              one row per model and placement; ``summary.json``: the numbers
``report.md``, figures     the report, Figures 2-4 as PNG and SVG
``fields/*.npz``           E (V/m) at the cortical points for the example placement
=========================  ========================================================================

:func:`open_project` checks a folder before anything reads it: a folder that is not a project,
one written by a newer format, or one with missing or changed files gets a clear message
(:class:`ProjectError`, or a :class:`ProjectWarning` where the content is still usable); opening
never writes into the folder.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from .errors import RatTmsError
from .files import file_sha256

__all__ = ["PROJECT_FORMAT", "MANIFEST", "Project", "ProjectError", "ProjectWarning", "open_project",
           "write_manifest", "SOLVER_CACHE", "project_conductivities"]

#: Bumped when the folder's layout or a file's meaning changes; older formats are read, newer refused.
PROJECT_FORMAT = 1
MANIFEST = "project.json"
SOLVER_CACHE = "solver_cache"
#: Files a project cannot be reopened without (the rest is optional: figures, fields, cache).
REQUIRED = ("parameters.json", "summary.json", "labels.nii.gz", "meshes/body.vtk", "meshes/cortex.vtk")


class ProjectError(RatTmsError, ValueError):
    """A project folder cannot be opened."""


class ProjectWarning(UserWarning):
    """A project folder opens, but something about it deserves attention (version, changed file)."""


def write_manifest(folder, status: str, overwrite: bool = False) -> Path:
    """Write ``project.json`` listing every file now in ``folder`` (size, SHA-256)."""
    from .files import atomic_write

    folder = Path(folder)
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        rel = path.relative_to(folder).as_posix()
        if rel.endswith(".tmp") or rel.startswith("autosave/"):   # the autosave changes: not listed
            continue
        files[rel] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    manifest = {"format": PROJECT_FORMAT, "napari_rat_tms": __version__,
                "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "study_status": status, "files": files}
    target = folder / MANIFEST
    atomic_write(target, overwrite, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=2)))
    return target


@dataclass
class Project:
    """An opened project folder (read-only)."""

    folder: Path
    manifest: dict
    parameters: dict
    summary: dict
    warnings: list = field(default_factory=list)

    @property
    def version(self) -> str:
        return str(self.manifest.get("napari_rat_tms", "?"))

    @property
    def study_status(self) -> str:
        return str(self.manifest.get("study_status", "unknown"))

    @property
    def conductivities(self) -> dict:
        """The conductivities (S/m per tissue) the job ran with; {} for seed 003's (issue 23: everything
        that rebuilds a model from the project, the CLI's export-volume and the E-field dock, uses these)."""
        return project_conductivities(self.parameters)

    @property
    def study_settings(self):
        """The study's :class:`~.study.settings.StudySettings` as the job ran it (None when unknown)."""
        return project_study_settings(self.parameters)

    @property
    def solver_cache(self) -> Path | None:
        path = self.folder / SOLVER_CACHE
        return path if path.is_dir() else None

    @property
    def models(self) -> list[str]:
        from .study import LINE_NAVIGATION

        return [k for k in self.summary.get("summary", {}) if k != LINE_NAVIGATION]

    def path(self, relative: str) -> Path:
        return self.folder / relative

    def surfaces(self) -> dict:
        """The head surfaces the job wrote (``meshes/<name>.vtk``), by name (metres); the missing ones
        are left out."""
        from .conventions import HEAD_SURFACES, surface_file_stem
        from .meshes.io import read_surface_file

        found = {}
        for name in HEAD_SURFACES:
            path = self.folder / "meshes" / f"{surface_file_stem(name)}.vtk"
            if path.is_file():
                found[name] = read_surface_file(path).surface
        return found

    def frame(self):
        """The stereotaxic frame saved with the project (None for projects without one)."""
        from .placement import StereotaxicFrame

        path = self.folder / "frame.json"
        return StereotaxicFrame.from_dict(json.loads(path.read_text())) if path.exists() else None

    def describe(self) -> str:
        """A few lines for a terminal: what the project holds and its main numbers."""
        lines = [f"Project {self.folder} (napari-rat-tms {self.version}, written "
                 f"{self.manifest.get('written', '?')}); study: {self.study_status}.",
                 f"Scan: {self.parameters.get('parameters', {}).get('scan', '?')}; models: "
                 f"{', '.join(self.models) or 'none'}."]
        rows = self.summary.get("summary", {})
        for name in self.models[1:]:
            r = rows[name]
            lines.append(f"  {name:>6}: RE {100 * r.get('re_mean', float('nan')):.1f} % vs "
                         f"{self.models[0]}, maxima {r.get('peak_distance_mm_median', float('nan')):.1f} mm "
                         "apart (median)")
        if self.solver_cache is not None:
            size = sum(p.stat().st_size for p in self.solver_cache.glob("*.npz"))
            lines.append(f"Solver cache: {len(list(self.solver_cache.glob('tms-bem-*.npz')))} models, "
                         f"{size / 2**20:.0f} MiB (reused when the models are rebuilt).")
        lines += [f"Note: {w}" for w in self.warnings]
        return "\n".join(lines)


def project_conductivities(parameters) -> dict:
    """Conductivities (S/m per tissue) from a project's ``parameters.json`` (its dict, or the folder);
    {} when it names none (seed 003's) or the folder has no readable parameters."""
    if not isinstance(parameters, dict):
        try:
            parameters = json.loads((Path(parameters) / "parameters.json").read_text())
        except (OSError, ValueError):
            return {}
    values = (parameters.get("parameters") or {}).get("conductivities") or {}
    return {str(k): float(v) for k, v in values.items()}


def project_study_settings(parameters):
    """The :class:`~.study.settings.StudySettings` the project's job ran its study with, from its
    ``parameters.json`` (its dict, or the folder); None when the folder has no readable parameters or
    they hold no valid study (the Study dock then keeps its own)."""
    from .study.settings import StudySettings, StudySettingsError

    if not isinstance(parameters, dict):
        try:
            parameters = json.loads((Path(parameters) / "parameters.json").read_text())
        except (OSError, ValueError):
            return None
    values = parameters.get("parameters") or {}
    names = ("models", "coil", "didt_a_per_us", "grid_centre_ap_ml_mm", "grid_extent_mm", "grid_shape",
             "orientations_deg")
    try:
        return StudySettings.from_dict({k: values[k] for k in names if values.get(k) is not None})
    except StudySettingsError:
        return None


def _read_json(path: Path, what: str) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ProjectError(f"cannot read {what} {path}: {err}. The project folder is damaged; run the job "
                           "again into a new folder (nothing was changed).") from err
    if not isinstance(value, dict):
        raise ProjectError(f"{what} {path} is not a JSON object (it holds a {type(value).__name__}): the file "
                           "was replaced or edited. Run the job again into a new folder (nothing was changed).")
    return value


#: The status ``project.json`` holds while a job writes into its folder (issue 24): a run stopped
#: before it finished (a second Ctrl-C, a killed process, a crash) leaves it, and
#: :func:`open_project` refuses the folder, whose files may then mix two runs.
RUNNING_STATUS = "RUNNING"


def mark_running(folder) -> Path:
    """Replace the folder's ``project.json`` by one that says a job is writing into it (atomic)."""
    return write_manifest(folder, f"{RUNNING_STATUS}: a job started writing here on "
                                  f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')} and has not finished", overwrite=True)


def _written_after_0_5(summary_path: Path) -> str | None:
    """The napari-rat-tms version in a summary.json's provenance when it is later than 0.5 (those
    versions write project.json), else None."""
    try:
        version = str(json.loads(summary_path.read_text())["provenance"]["napari_rat_tms"])
        major, minor = (int(v) for v in version.split(".")[:2])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return version if (major, minor) > (0, 5) else None


def open_project(folder, check_hashes: bool = True) -> Project:
    """Open and check a project folder (see the module docstring); never writes into it.

    Raises :class:`ProjectError` when the folder is not a project, comes from a newer format, or
    lacks a required file. Emits :class:`ProjectWarning` (and lists it in ``Project.warnings``)
    for a project from another napari-rat-tms version, missing optional files, or files changed
    since they were written (``check_hashes``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ProjectError(f"{folder} is not a folder.")
    manifest_path = folder / MANIFEST
    notes: list[str] = []
    if manifest_path.exists():
        manifest = _read_json(manifest_path, "the project manifest")
    elif (folder / "summary.json").exists():
        # written before project.json existed (napari-rat-tms 0.5.0): usable, unchecked; a later
        # version's folder without it has lost it (deleted, or a run stopped before writing it)
        later = _written_after_0_5(folder / "summary.json")
        if later:
            raise ProjectError(
                f"{folder} has no {MANIFEST}, but its summary.json was written by napari-rat-tms {later}, "
                f"which always writes one: the manifest was deleted or the run stopped before it finished, so "
                "the files cannot be checked. Run the job again (with --overwrite into this folder) "
                "(nothing was changed).")
        manifest = {"format": 0, "napari_rat_tms": "0.5.0 or older", "files": {}}
        notes.append("this folder has no project.json (written by napari-rat-tms 0.5.0 or older): its "
                     "files cannot be checked.")
    else:
        raise ProjectError(f"{folder} is not a napari-rat-tms project: it has no {MANIFEST}. Open a folder "
                           "written by `rat-tms demo` or `rat-tms run`.")
    status = str(manifest.get("study_status", ""))
    if status.startswith(RUNNING_STATUS):
        raise ProjectError(
            f"{folder} is not a finished project: {status[len(RUNNING_STATUS) + 2:] or 'a job was writing here'}"
            " (stopped by a second Ctrl-C, a killed process or a crash), so its files may mix an earlier run's "
            "and this one's. Run the job again with --overwrite (nothing was changed).")
    fmt = manifest.get("format")
    if not isinstance(fmt, int) or fmt > PROJECT_FORMAT:
        raise ProjectError(
            f"{folder} was written by napari-rat-tms {manifest.get('napari_rat_tms', '?')} in project format "
            f"{fmt!r}; this napari-rat-tms {__version__} reads formats up to {PROJECT_FORMAT}. Upgrade "
            "napari-rat-tms to open it (nothing was changed).")
    written_by = str(manifest.get("napari_rat_tms", "?"))
    if fmt and written_by != __version__:
        notes.append(f"written by napari-rat-tms {written_by}, opened with {__version__}: the numbers are "
                     "those of the version that wrote them; run the job again to recompute.")
    listed = manifest.get("files", {})
    missing_required = [rel for rel in REQUIRED if not (folder / rel).is_file()]
    if missing_required:
        raise ProjectError(
            f"{folder} lacks {', '.join(missing_required)}: the project cannot be reopened. Restore the "
            "file(s) from a backup, or run the job again into a new folder (nothing was changed).")
    missing = [rel for rel in listed if not (folder / rel).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        notes.append(f"{len(missing)} file(s) listed in {MANIFEST} are missing: {shown}.")
    if check_hashes:
        changed = [rel for rel, info in listed.items()
                   if (folder / rel).is_file() and not rel.startswith(SOLVER_CACHE + "/")
                   and file_sha256(folder / rel) != info.get("sha256")]
        if changed:
            notes.append(f"{len(changed)} file(s) changed since the job wrote them: "
                         f"{', '.join(changed[:5])}.")
    parameters = _read_json(folder / "parameters.json", "the parameters")
    summary = _read_json(folder / "summary.json", "the summary")
    for note in notes:
        warnings.warn(f"Project {folder}: {note}", ProjectWarning, stacklevel=2)
    return Project(folder, manifest, parameters, summary, notes)
