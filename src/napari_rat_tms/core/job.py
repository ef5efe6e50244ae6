"""The main job: µCT -> segmentation -> meshes -> head models -> the placement study -> report.

One generator, :func:`iter_main_job`, runs the whole pipeline headless with progress reports
(``rat-tms demo`` on the bundled synthetic rat, ``rat-tms run params.toml`` on a user's scan) and
writes everything into an output folder:

* ``report.md``: what was done, the models and their sizes, the study's summary table, the seed's
  findings checked on this anatomy with the measured numbers, the figures;
* ``study.csv`` (one row per model and placement), ``summary.json``;
* ``figure2_orientation``, ``figure3_maxima``, ``figure4_fields`` as PNG and SVG;
* ``meshes/*.vtk`` (mm; the cortex with |E| of the example placement per model) and
  ``fields/example_fields.npz`` (E at the cortical points, V/m);
* ``labels.nii.gz`` and ``parameters.json`` (every setting used, versions, date, input hash).

Parameters come from :class:`JobParameters` (a TOML file for ``rat-tms run``; every field
optional). For the synthetic rat the landmarks and eye centres come from its ground truth; for a
scan they must be given (volume frame, mm, as shown in napari).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from .errors import RatTmsError
from .progress import forward
from .fields.head_models import FieldModelError, check_conductivities
from .project import MANIFEST, SOLVER_CACHE, write_manifest

__all__ = ["JobParameters", "JobError", "iter_main_job", "DEMO_MESHING"]

#: Meshing for the demo: coarser than the seed's (body 1.4, skull 0.67 mm) so that the four BEM
#: models and the 630-placement study fit in ~10 minutes on 2 cores. ``--seed-resolution`` (CLI)
#: or ``meshing = {...}`` (TOML) restores the seed's sizes.
DEMO_MESHING = {"body_edge_mm": 2.0, "skull_edge_mm": 1.0, "eye_edge_mm": 0.8, "cortex_points": 2000}


class JobError(RatTmsError, ValueError):
    """The main job's parameters or inputs cannot be used."""


@dataclass
class JobParameters:
    """Everything the main job needs; distances in mm in the scan's volume frame."""

    scan: str = "synthetic-rat"
    voxel_size_mm: float | None = None           # synthetic rat: its voxel size (default 0.34)
    synthetic_seed: int = 0
    eye_points_mm: list = field(default_factory=list)       # scans: clicked eye centres
    landmarks_mm: dict = field(default_factory=dict)        # bregma, lambda, midline (scans)
    segmentation: dict = field(default_factory=dict)        # SegmentationParameters fields
    meshing: dict = field(default_factory=lambda: dict(DEMO_MESHING))
    models: list = field(default_factory=lambda: ["3C", "2C", "2C*", "1C", "sphere"])
    coil: str = "MC-B35 (low resolution)"
    didt_a_per_us: float = 50.0
    grid_centre_ap_ml_mm: list | None = None
    grid_extent_mm: list = field(default_factory=lambda: [15.0, 10.0])
    grid_shape: list = field(default_factory=lambda: [7, 5])
    orientations_deg: list = field(default_factory=lambda: [float(a) for a in range(0, 180, 10)])
    cache_dir: str | None = None                 # None: <output>/solver_cache (kept with the project)
    keep_solver_cache: bool = True               # False: no BEM cache at all (when cache_dir is None)
    species: str = "rat"                         # "rat", "mouse" or "any": the sizes the checks expect
    conductivities: dict = field(default_factory=dict)   # S/m per tissue (body, skull, eyes); {}: seed 003's

    @classmethod
    def from_dict(cls, values: dict) -> JobParameters:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise JobError(f"unknown job parameters {unknown}; known: {sorted(known)}")
        params = cls(**{k: v for k, v in values.items()})
        if params.species not in ("rat", "mouse", "any"):
            raise JobError(f"species must be 'rat', 'mouse' or 'any', got {params.species!r}")
        try:
            check_conductivities(params.conductivities, params.models)
        except FieldModelError as err:
            raise JobError(str(err)) from err
        if "meshing" in values:  # given meshing settings complete the demo's, not the other way
            params.meshing = {**DEMO_MESHING, **values["meshing"]}
        return params

    @classmethod
    def from_toml(cls, path) -> JobParameters:
        import tomllib

        try:
            values = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise JobError(f"cannot read the parameter file {path}: {err}") from err
        return cls.from_dict(values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _load_input(params: JobParameters, rat=None):
    """(volume, eye points, landmarks, synthetic rat or None, input hash)."""
    if params.scan == "synthetic-rat":
        from .synthetic import make_synthetic_rat

        if rat is None:
            rat = make_synthetic_rat(params.voxel_size_mm or 0.34, seed=params.synthetic_seed)
        lm = rat.landmarks_mm
        eyes = [lm["left_eye"], lm["right_eye"]]
        landmarks = {"bregma": lm["bregma"], "lambda": lm["lambda"],
                     "midline": rat.stereotaxic_to_volume([0.0, 15.0, -3.0])}
        digest = hashlib.sha256(rat.volume.data.tobytes()).hexdigest()
        return rat.volume, eyes, landmarks, rat, digest
    from .io import read_volume

    path = Path(params.scan)
    volume = read_volume(path, voxel_size_mm=params.voxel_size_mm)
    missing = [k for k in ("bregma", "lambda", "midline") if k not in params.landmarks_mm]
    if missing:
        raise JobError(f"the landmarks {missing} are missing: give landmarks_mm = {{bregma = [..], "
                       "lambda = [..], midline = [..]}} in the parameter file (volume frame, mm, as "
                       "napari shows them).")
    landmarks = {k: np.asarray(v, float) for k, v in params.landmarks_mm.items()}
    return volume, [np.asarray(e, float) for e in params.eye_points_mm], landmarks, None, _sha256(path)


def iter_main_job(params: JobParameters, output_dir, overwrite: bool = False, rat=None):
    """Run the pipeline, yielding ``(fraction, message)``; returns a dict of what was written and
    measured (see the module docstring). ``rat``: an already built synthetic rat (when
    ``params.scan == "synthetic-rat"``)."""
    from .coils import load_coil
    from .conventions import m_to_mm
    from .fields import iter_field_model
    from .meshes.from_segmentation import MeshingParameters, iter_mesh_segmentation
    from .meshes.head_checks import check_head_geometry
    from .placement import frame_from_landmarks, placement_grid
    from .segmentation import SegmentationParameters, iter_segment
    from .study import StudyRun
    from .study.report import write_outputs

    out = Path(output_dir)
    if ((out / "report.md").exists() or (out / MANIFEST).exists()) and not overwrite:
        raise JobError(f"{out} already holds a project; choose another output folder or allow overwriting "
                       "(its solver cache is then reused).")
    timings: dict[str, float] = {}
    notes: list[str] = []
    try:   # before any work: a tissue no model contains would be silently ignored
        notes += [f"Conductivities: {w}." for w in check_conductivities(params.conductivities, params.models)]
    except FieldModelError as err:
        raise JobError(str(err)) from err
    started = time.perf_counter()

    def stage(name, gen, lo, hi):
        t = time.perf_counter()
        value = yield from forward(gen, lo, hi - lo, f"{name}: ")
        timings[name] = time.perf_counter() - t
        return value

    yield 0.0, "reading the scan"
    t = time.perf_counter()
    volume, eyes, landmarks, rat, digest = _load_input(params, rat)
    timings["scan"] = time.perf_counter() - t
    seg_params = SegmentationParameters.from_dict(params.segmentation) if params.segmentation else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seg = yield from stage("segmentation", iter_segment(volume.data, volume.voxel_size_mm, seg_params,
                                                            eye_points_mm=eyes), 0.02, 0.08)
        meshes = yield from stage("meshing", iter_mesh_segmentation(seg, MeshingParameters(**params.meshing)),
                                  0.08, 0.15)
    notes += [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    if rat is not None:
        scale = rat.parameters.orbit_opening_scale
        notes.append(
            f"Synthetic rat: its orbital openings are {3.0 * scale:.2g} mm and its optic canals "
            f"{1.0 * scale:.2g} mm "
            "wide. The maxima behind the eyes, and with them the orientation finding, depend on these "
            "holes: benchmarks/seed_findings_orbits.py reruns this study with narrower ones (BENCHMARKS.md, "
            "'Seed findings and the synthetic orbits').")
    surfaces = meshes.surfaces
    yield 0.15, "checking the surfaces' sizes, gaps and skull thickness"
    geometry = check_head_geometry(surfaces, None if params.species == "any" else params.species)
    notes += [f"Head geometry: {w}" for w in geometry.warnings]
    skull = surfaces["skull without spine"]
    frame = frame_from_landmarks(landmarks["bregma"], landmarks["lambda"], landmarks["midline"],
                                 m_to_mm(skull.vertices_m).mean(axis=0), skull=skull,
                                 eyes_mm=eyes if len(eyes) else None)
    coil, coil_info = load_coil(params.coil)
    models = {}
    n = len(params.models)
    cache = (Path(params.cache_dir) if params.cache_dir
             else out / SOLVER_CACHE if params.keep_solver_cache else None)
    for k, kind in enumerate(params.models):
        lo = 0.15 + 0.6 * k / n
        steps = iter_field_model(surfaces, kind, up=frame.dorsal, cache_dir=cache,
                                 conductivities=params.conductivities)
        models[kind] = yield from stage(f"model {kind}", steps, lo, lo + 0.6 / n)
    grid = placement_grid(surfaces["body"], frame, params.grid_centre_ap_ml_mm, tuple(params.grid_extent_mm),
                          tuple(params.grid_shape), params.orientations_deg)
    run = StudyRun(models, grid, surfaces["body"], surfaces["cortex"], frame, coil,
                   didt_a_per_us=params.didt_a_per_us)

    def write(result):
        provenance = {"napari_rat_tms": __version__, "python": platform.python_version(),
                      "numpy": np.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                      "machine": f"{platform.machine()}, {platform.system()}", "input_sha256": digest,
                      "parameters": params.to_dict(), "study_status": result.status}
        timings["total"] = time.perf_counter() - started
        written = write_outputs(out, result, seg, meshes, models, frame, coil, coil_info, volume, provenance,
                                timings, notes, rat=rat, overwrite=overwrite)
        geometry_file = out / "geometry.json"
        geometry_file.write_text(json.dumps(geometry.to_dict(), indent=2))
        written["geometry"] = geometry_file
        written["manifest"] = write_manifest(out, result.status, overwrite=True)
        return written

    try:
        yield from stage("study", run.iter_run(), 0.75, 0.95)
    except (KeyboardInterrupt, GeneratorExit):
        # cancelled: what was computed is written, labelled partial everywhere, then the cancel goes on
        if run.completed.any():
            write(run.result())
        raise
    result = run.result()
    yield 0.95, "writing the report"
    written = write(result)
    yield 1.0, "done"
    return {"written": written, "timings": timings, "summary": result.summary(), "notes": notes,
            "status": result.status}
