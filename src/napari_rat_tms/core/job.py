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
from .fields.head_models import MODEL_KINDS, FieldModelError, check_conductivities
from .project import MANIFEST, SOLVER_CACHE, mark_running, write_manifest
from .species import species_defaults
from .study.settings import StudySettings, StudySettingsError
from .files import path_sha256
from .values import known_fields, number, numbers, table
from .conventions import SEED_DIDT_A_PER_US
from .volume import refuse_unit_mistakes

__all__ = ["JobParameters", "JobError", "iter_main_job", "DEMO_MESHING"]

#: Meshing for the demo: coarser than the seed's (body 1.4, skull 0.67 mm) so that the four BEM
#: models and the 630-placement study fit in ~10 minutes on 2 cores. ``--seed-resolution`` (CLI)
#: or ``meshing = {...}`` (TOML) restores the seed's sizes. The rat's species default
#: (:mod:`.species`); a mouse gets its own.
DEMO_MESHING = dict(species_defaults("rat").meshing)


class JobError(RatTmsError, ValueError):
    """The main job's parameters or inputs cannot be used."""


def _number(value, what: str, **kwargs) -> float | int:
    return number(value, what, error=JobError, **kwargs)


def _numbers(value, what: str, n: int | None = None, **kwargs) -> tuple:
    return numbers(value, what, n, error=JobError, **kwargs)


def _table(value, what: str) -> dict:
    return dict(table(value, what, error=JobError))


@dataclass(frozen=True)
class JobParameters:
    """Everything the main job needs, validated when made and frozen (change one with
    ``dataclasses.replace``, which validates again); distances in mm in the scan's volume frame.
    ``None`` means the species' default (:mod:`.species`): ``species = "mouse"`` alone sets the eye
    extraction, closings, mesh edges, placement grid and coil for a mouse; every value can still be
    given. The same object goes from the TOML file or the CLI to the pipeline and into the project's
    ``parameters.json`` (:meth:`to_dict`), from which :meth:`from_dict` restores it exactly.

    ``segmentation`` holds the settings the user gave (the rest are the species'; the resolved
    ones: :meth:`segmentation_parameters`); ``meshing`` the species' completed by the user's."""

    scan: str = "synthetic-rat"
    voxel_size_mm: float | None = None           # synthetic rat: its voxel size (default 0.34)
    synthetic_seed: int = 0
    eye_points_mm: tuple = ()                    # scans: eye centres; () -> suggested (auto_eyes)
    auto_eyes: bool = True                       # scans without eye_points_mm: suggest both eye centres
    landmarks_mm: dict = field(default_factory=dict)        # bregma, lambda, midline (scans)
    landmarks_file: str | None = None            # 3D Slicer markups (.mrk.json, .fcsv) with the landmarks
    landmark_labels: dict = field(default_factory=dict)     # {bregma = "12", ...}: the file's labels
    segmentation: dict = field(default_factory=dict)        # SegmentationParameters fields given
    meshing: dict | None = None                  # MeshingParameters fields (None: the species')
    models: tuple = tuple(MODEL_KINDS)           # every model, reference first
    coil: str | None = None                      # None: the species' (MC-B35, 136 dipoles)
    didt_a_per_us: float = SEED_DIDT_A_PER_US
    grid_centre_ap_ml_mm: tuple | None = None    # None: the default centre (placement.grid)
    grid_extent_mm: tuple | None = None          # None: the species' (rat 15 x 10 mm, mouse 7 x 4.5)
    grid_shape: tuple | None = None              # None: 7 x 5
    orientations_deg: tuple = tuple(float(a) for a in range(0, 180, 10))
    cache_dir: str | None = None                 # None: <output>/solver_cache (kept with the project)
    keep_solver_cache: bool = True               # False: no BEM cache at all (when cache_dir is None)
    species: str = "rat"                         # "rat", "mouse" or "any" (rat defaults, either's sizes)
    conductivities: dict = field(default_factory=dict)   # S/m per tissue (body, skull, eyes); {}: seed 003's

    def __post_init__(self):
        from .meshes.from_segmentation import MeshingParameters
        from .segmentation import SegmentationParameters

        def put(name, value):
            object.__setattr__(self, name, value)

        if self.species not in ("rat", "mouse", "any"):
            raise JobError(f"species must be 'rat', 'mouse' or 'any', got {self.species!r}")
        defaults = species_defaults(self.species)
        for name in ("scan", "coil", "landmarks_file", "cache_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, (str, Path)):
                raise JobError(f"{name} must be a text (a path or a name), got {value!r}")
            if value is not None:
                put(name, str(value))
        for name in ("auto_eyes", "keep_solver_cache"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise JobError(f"{name} must be true or false, got {getattr(self, name)!r}")
            put(name, bool(getattr(self, name)))
        if self.voxel_size_mm is not None:
            put("voxel_size_mm", _number(self.voxel_size_mm, "voxel_size_mm", positive=True))
            try:
                refuse_unit_mistakes(np.empty(0), self.voxel_size_mm, what="this job (voxel_size_mm)")
            except ValueError as err:
                raise JobError(str(err)) from err
        put("synthetic_seed", _number(self.synthetic_seed, "synthetic_seed", integer=True))
        # the study's settings (models, coil, dI/dt, grid, orientations): checked by StudySettings,
        # the same object the Study dock and the study's summary.json use
        try:
            study = StudySettings(
                models=self.models, coil=defaults.coil if self.coil is None else self.coil,
                didt_a_per_us=self.didt_a_per_us, grid_centre_ap_ml_mm=self.grid_centre_ap_ml_mm,
                grid_extent_mm=defaults.grid_extent_mm if self.grid_extent_mm is None else self.grid_extent_mm,
                grid_shape=defaults.grid_shape if self.grid_shape is None else self.grid_shape,
                orientations_deg=self.orientations_deg)
        except StudySettingsError as err:
            raise JobError(str(err)) from err
        for name in ("models", "coil", "didt_a_per_us", "grid_centre_ap_ml_mm", "grid_extent_mm", "grid_shape",
                     "orientations_deg"):
            put(name, getattr(study, name))
        _check_coil_source(self.coil)       # a typo refused now, not after the segmentation (issue 24)
        points = self.eye_points_mm
        if isinstance(points, (str, dict)) or not hasattr(points, "__iter__"):
            raise JobError(f"eye_points_mm must be a list of [i0, i1, i2] points (mm), got {points!r}")
        put("eye_points_mm", tuple(_numbers(p, "each of eye_points_mm", 3) for p in points))
        landmarks = _table(self.landmarks_mm, "landmarks_mm")
        put("landmarks_mm", {str(k): _numbers(v, f"landmarks_mm.{k}", 3) for k, v in landmarks.items()})
        _check_landmarks(self.landmarks_mm, self.eye_points_mm)
        put("landmark_labels", {str(k): str(v) for k, v in _table(self.landmark_labels, "landmark_labels").items()})
        # each step's settings checked now, not after minutes of work
        given = _table(self.segmentation, "segmentation")
        try:
            resolved = SegmentationParameters.from_dict({**defaults.segmentation_defaults(), **given})
        except (TypeError, ValueError) as err:
            raise JobError(f"segmentation: {err}") from err
        normalised = resolved.to_dict()
        put("segmentation", {k: normalised[k] for k in given})
        meshing = {**defaults.meshing, **_table(self.meshing if self.meshing is not None else {}, "meshing")}
        try:
            MeshingParameters(**meshing)
        except TypeError as err:
            known = [f.name for f in dataclasses.fields(MeshingParameters)]
            raise JobError(f"meshing: {err}; known settings: {known}") from err
        except ValueError as err:
            raise JobError(f"meshing: {err}") from err
        put("meshing", meshing)
        conductivities = _table(self.conductivities, "conductivities")
        try:
            check_conductivities(conductivities, self.models)
        except FieldModelError as err:
            raise JobError(str(err)) from err
        put("conductivities", {str(k): float(v) for k, v in conductivities.items()})

    @property
    def defaults(self):
        """The species' :class:`~.species.SpeciesDefaults`."""
        return species_defaults(self.species)

    def study_settings(self):
        """:class:`~.study.settings.StudySettings` of the job (models, coil, dI/dt, grid)."""
        return StudySettings(models=self.models, coil=self.coil, didt_a_per_us=self.didt_a_per_us,
                             grid_centre_ap_ml_mm=self.grid_centre_ap_ml_mm, grid_extent_mm=self.grid_extent_mm,
                             grid_shape=self.grid_shape, orientations_deg=self.orientations_deg)

    def segmentation_parameters(self):
        """:class:`~.segmentation.SegmentationParameters`: the species' defaults, then the user's."""
        from .segmentation import SegmentationParameters

        return SegmentationParameters.from_dict({**self.defaults.segmentation_defaults(), **self.segmentation})

    def meshing_parameters(self):
        """:class:`~.meshes.from_segmentation.MeshingParameters` of :attr:`meshing`."""
        from .meshes.from_segmentation import MeshingParameters

        return MeshingParameters(**self.meshing)

    @classmethod
    def from_dict(cls, values: dict) -> JobParameters:
        """From a TOML table or a project's ``parameters.json``: unknown names refused, every value
        checked (:class:`JobError`)."""
        return cls(**known_fields(cls, values, "job parameters", error=JobError))

    @classmethod
    def from_toml(cls, path) -> JobParameters:
        import tomllib

        try:
            values = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise JobError(f"cannot read the parameter file {path}: {err}") from err
        return cls.from_dict(values)

    def to_dict(self) -> dict:
        """JSON-compatible (tuples as lists); :meth:`from_dict` of it gives an equal object."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def _check_coil_source(coil: str) -> None:
    """The coil is a preset, or an existing ``.ccd`` / winding ``.json`` file (:func:`~.coils.load_coil`
    reads it later)."""
    from .coils import COIL_PRESETS

    if coil in COIL_PRESETS:
        return
    path = Path(coil)
    if path.suffix.lower() not in (".ccd", ".json"):
        raise JobError(f"coil {coil!r} is neither a coil preset ({', '.join(COIL_PRESETS)}), a SimNIBS .ccd file "
                       "nor a coil winding .json file: give a preset name or the path of such a file.")
    if not path.is_file():
        raise JobError(f"the coil file {coil} does not exist (paths are relative to the folder the job runs in).")


def _check_landmarks(landmarks_mm: dict, eye_points_mm) -> None:
    """The given bregma, lambda and midline point fix a frame (their distances, not collinear) and,
    with the eye centres, are not swapped (the eyes lie anterior of bregma): the checks of
    :func:`~.placement.stereotaxic.frame_from_landmarks` that need no skull, made before any work.
    Those that need the skull (landmarks on it) come after the segmentation."""
    from .placement.stereotaxic import LandmarkError, frame_from_landmarks

    if not {"bregma", "lambda", "midline"} <= set(landmarks_mm):
        return
    bregma, lam, midline = (np.asarray(landmarks_mm[k], float) for k in ("bregma", "lambda", "midline"))
    try:      # the head centre only orients dorsal, which no check here needs
        frame_from_landmarks(bregma, lam, midline, midline, eyes_mm=np.asarray(eye_points_mm, float).reshape(-1, 3) if len(eye_points_mm)
                             else None)
    except LandmarkError as err:
        raise JobError(f"landmarks_mm: {err}") from err


def _load_input(params: JobParameters, rat=None):
    """(volume, eye points, landmarks, synthetic rat or None, input hash). A scan's landmarks come
    from ``landmarks_mm``, else from ``landmarks_file``, else are left empty (suggested from the
    skull after the segmentation, :func:`_resolve_landmarks`)."""
    if params.scan == "synthetic-rat":
        from .synthetic import make_synthetic_rat

        if rat is None:
            rat = make_synthetic_rat(params.voxel_size_mm, seed=params.synthetic_seed)   # None: its default
        lm = rat.landmarks_mm
        eyes = [lm["left_eye"], lm["right_eye"]]
        landmarks = {"bregma": lm["bregma"], "lambda": lm["lambda"],
                     "midline": rat.stereotaxic_to_volume([0.0, 15.0, -3.0])}
        digest = hashlib.sha256(rat.volume.data.tobytes()).hexdigest()
        return rat.volume, eyes, landmarks, rat, digest
    from .io import read_volume

    path = Path(params.scan)
    volume = read_volume(path, voxel_size_mm=params.voxel_size_mm)
    landmarks = {k: np.asarray(v, float) for k, v in params.landmarks_mm.items()}
    return volume, [np.asarray(e, float) for e in params.eye_points_mm], landmarks, None, path_sha256(path)


def _landmarks_from_file(params: JobParameters, volume, notes: list[str]) -> dict:
    """bregma, lambda, midline (volume frame, mm) from ``params.landmarks_file``
    (:func:`~.io.markups.read_landmarks`)."""
    from .io.markups import read_landmarks

    try:
        landmarks, more = read_landmarks(params.landmarks_file, volume, dict(params.landmark_labels) or None)
    except (OSError, ValueError) as err:
        raise JobError(f"the landmark file {params.landmarks_file}: {err}") from err
    notes += [f"Landmarks: {n}" for n in more]
    return {k: np.asarray(v, float) for k, v in landmarks.items()}


def _suggested_eyes(volume, seg, params: JobParameters, notes: list[str], source: dict):
    """Both eye centres suggested from the scan (:func:`~.segmentation.eye_suggestion.suggest_eye_centres`)
    and the eyes extracted there (seed 003's method), checked against the species' eye sizes. An eye
    whose extraction is implausible (a mouse eye has no contrast to the tissue around it at 0.14 mm:
    Otsu's isolevel then splits lens from vitreous) is modelled as a ball of the largest soft-tissue
    ball's diameter found there, within the species' range, inside the body and off the bone; the
    notes say so. Returns ``(seg, eyes)``; no eyes (said in the notes) when none is found."""
    from dataclasses import replace

    from .segmentation import SegmentationError
    from .segmentation.eye_suggestion import suggest_eye_centres

    h = np.asarray(seg.voxel_size_mm, float)
    d_lo, d_hi = params.defaults.eye_diameter_mm
    try:
        suggestion = suggest_eye_centres(volume.data, h, body=seg.body, bone=seg.skull_and_spine,
                                         eye_diameter_mm=params.defaults.eye_diameter_mm,
                                         tissue_range=seg.thresholds)
        centres = np.asarray(suggestion.centres_mm, float)
    except SegmentationError as err:
        notes.append(f"Eyes: no eye centres could be suggested ({err}); the model has no eyes.")
        return seg, []
    where = "; ".join(f"({c[0]:.1f}, {c[1]:.1f}, {c[2]:.1f}) mm" for c in centres)
    notes.append(f"Eyes: centres suggested automatically at {where} (scores "
                 f"{', '.join(f'{v:.2f}' for v in suggestion.scores)}; check them).")
    source["automatic"].append("eye centres (suggested from the scan)")
    seg, eye_notes, balls = seg.with_plausible_eyes(volume.data, centres, (d_lo, d_hi),
                                                    ball_radii_mm=suggestion.radii_mm, species=params.defaults.name)
    notes += eye_notes
    source["automatic"] += [f"eye {k + 1} modelled as a {d:.2f} mm ball" for k, d in sorted(balls.items())]
    seg = replace(seg, eye_isolevels=(), eye_auto_isolevels=())
    return seg, [c for c in centres]


def _suggested_landmarks(seg, eyes, notes: list[str], source: dict) -> dict:
    """bregma, lambda, midline suggested from the skull when the user gave none."""
    from .placement.landmark_suggestion import suggest_landmarks

    suggestion = suggest_landmarks(seg.skull, seg.voxel_size_mm, eye_points_mm=eyes if len(eyes) else None)
    landmarks = {k: np.asarray(v, float) for k, v in suggestion.landmarks_mm.items()}
    notes.append(f"Landmarks: none given; bregma, lambda and a midline point suggested from the skull "
                 f"({suggestion.note}). Check them: the stereotaxic frame, the grid and line navigation follow them.")
    source["automatic"].append("bregma, lambda, midline (suggested from the skull)")
    return landmarks


def check_job(params: JobParameters, output_dir, overwrite: bool = False) -> list[str]:
    """Everything the main job can check before its heavy work, in seconds (``rat-tms run --check``;
    issue 24): the parameters (checked when made), the output folder, the scan (read: its voxel
    size's units, NaN voxels), the landmark file with the frame checks that need no skull, the coil
    (read). Returns what was checked, one line each; raises :class:`JobError` (or the reader's
    error) on the first problem."""
    from .coils import load_coil
    from .io import read_volume

    out = Path(output_dir)
    lines = [f"parameters: species {params.species}, models {', '.join(params.models)}, "
             f"{params.study_settings().n_placements} placements"]
    if ((out / "report.md").exists() or (out / MANIFEST).exists()) and not overwrite:
        raise JobError(f"{out} already holds a project; choose another output folder or allow overwriting "
                       "(--overwrite; its solver cache is then reused).")
    lines.append(f"output: {out} ({'replaced' if (out / MANIFEST).exists() else 'new'})")
    if params.scan == "synthetic-rat":
        from .synthetic.rat import SyntheticRatParameters

        voxel = params.voxel_size_mm or SyntheticRatParameters.voxel_size_mm
        lines.append(f"scan: the synthetic rat ({voxel:g} mm voxels; built by the job)")
    else:
        volume = read_volume(Path(params.scan), voxel_size_mm=params.voxel_size_mm)
        refuse_unit_mistakes(volume.data, volume.voxel_size_mm, what=f"the scan {params.scan}")
        lines.append(f"scan: {volume.describe()}")
        extent = np.asarray(volume.data.shape, float) * np.asarray(volume.voxel_size_mm, float)
        for k, point in enumerate(params.eye_points_mm):
            if np.any(np.asarray(point) < 0) or np.any(np.asarray(point) > extent):
                raise JobError(f"eye_points_mm[{k}] = {list(point)} mm lies outside the scan (0 to "
                               f"{', '.join(f'{e:.1f}' for e in extent)} mm per array axis): give the eye "
                               "centres in mm in the volume frame (array index x voxel size).")
        if params.eye_points_mm:
            lines.append(f"eye centres: {len(params.eye_points_mm)}, inside the scan")
        if not params.landmarks_mm and params.landmarks_file:
            landmarks = _landmarks_from_file(params, volume, [])
            _check_landmarks(landmarks, params.eye_points_mm)
            lines.append(f"landmarks: {', '.join(sorted(landmarks))} from {params.landmarks_file}")
        elif params.landmarks_mm:
            lines.append(f"landmarks: {', '.join(sorted(params.landmarks_mm))} (landmarks_mm)")
        else:
            lines.append("landmarks: none given: suggested from the skull after the segmentation")
    coil, _ = load_coil(params.coil)
    lines.append(f"coil: {coil.name} ({coil.n_dipoles} dipoles)")
    return lines


def iter_main_job(params: JobParameters, output_dir, overwrite: bool = False, rat=None):
    """Run the pipeline, yielding ``(fraction, message)``; returns a dict of what was written and
    measured (see the module docstring). ``rat``: an already built synthetic rat (when
    ``params.scan == "synthetic-rat"``)."""
    from .coils import load_coil
    from .conventions import m_to_mm
    from .fields import iter_field_model
    from .meshes.from_segmentation import iter_mesh_segmentation
    from .meshes.head_checks import check_head_geometry
    from .placement import frame_from_landmarks
    from .segmentation import SegmentationParameters, iter_segment
    from .study import StudyRun
    from .study.report import write_outputs

    out = Path(output_dir)
    if ((out / "report.md").exists() or (out / MANIFEST).exists()) and not overwrite:
        raise JobError(f"{out} already holds a project; choose another output folder or allow overwriting "
                       "(its solver cache is then reused).")
    timings: dict[str, float] = {}
    notes: list[str] = []
    # checked when the parameters were made; the warnings (a tissue no model contains) go in the report
    notes += [f"Conductivities: {w}." for w in check_conductivities(params.conductivities, params.models)]
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
    # the units and NaN voxels: refused by the segmentation's first step, before any heavy work
    coil, coil_info = load_coil(params.coil)      # a damaged coil file refused now, not after the meshing
    source = {"kind": "synthetic" if rat is not None else "scan", "species": params.species,
              "defaults": f"{params.defaults.name} (napari_rat_tms.core.species)", "automatic": [], "user": []}
    if rat is None and not landmarks and params.landmarks_file:
        landmarks = _landmarks_from_file(params, volume, notes)
        source["user"].append(f"landmarks from {Path(params.landmarks_file).name}")
    elif rat is None and landmarks:
        source["user"].append("landmarks (landmarks_mm)")
    if rat is None and len(eyes):
        source["user"].append("eye centres (eye_points_mm)")
    for key in sorted(params.segmentation):
        source["user"].append(f"segmentation {key} = {params.segmentation[key]}")
    seg_params = params.segmentation_parameters()
    models_asked = list(params.models)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seg = yield from stage("segmentation", iter_segment(volume.data, volume.voxel_size_mm, seg_params,
                                                            eye_points_mm=eyes), 0.02, 0.07)
        notes += list(seg.notes)
        if params.segmentation.get("air_soft_threshold") is None or params.segmentation.get("bone_threshold") is None:
            source["automatic"].append("intensity thresholds (" + seg.notes[0].split(":")[0].lower() + ")")
        source["automatic"].append(f"brain = the cranial cavity suggestion ({seg.volumes_mm3()['brain']:.0f} mm^3)")
        if rat is None and not len(eyes) and params.auto_eyes:
            yield 0.07, "segmentation: suggesting the eye centres"
            seg, eyes = _suggested_eyes(volume, seg, params, notes, source)
        meshes = yield from stage("meshing", iter_mesh_segmentation(seg, params.meshing_parameters()),
                                  0.08, 0.15)
    notes += [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    if meshes.repairs:
        source["automatic"].append(f"{len(meshes.repairs)} mesh repair(s) ({', '.join(sorted({r['surface'] for r in meshes.repairs}))})")
    if "eyes" not in meshes.surfaces and "3C" in params.models:
        models_asked = [m for m in params.models if m != "3C"]
        notes.append("No eyes in the segmentation: the 3C model (with eyes) is left out; the first remaining "
                     "model is the reference. Give eye_points_mm to build it.")
        if not models_asked:
            raise JobError("No eyes were found and the 3C model was the only one asked for: give eye_points_mm.")
    if rat is None and not landmarks:
        landmarks = _suggested_landmarks(seg, eyes, notes, source)
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
    models = {}
    n = len(models_asked)
    cache = (Path(params.cache_dir) if params.cache_dir
             else out / SOLVER_CACHE if params.keep_solver_cache else None)
    for k, kind in enumerate(models_asked):
        lo = 0.15 + 0.6 * k / n
        steps = iter_field_model(surfaces, kind, up=frame.dorsal, cache_dir=cache,
                                 conductivities=params.conductivities)
        models[kind] = yield from stage(f"model {kind}", steps, lo, lo + 0.6 / n)
    study = params.study_settings()
    run = StudyRun(models, study.grid(surfaces["body"], frame), surfaces["body"], surfaces["cortex"], frame, coil,
                   didt_a_per_us=study.didt_a_per_us)

    def write(result):
        if (out / MANIFEST).exists():
            # overwriting: while the new files replace the old ones the folder says a job is writing
            # into it, until the final (or PARTIAL) manifest below; a run stopped in between (a
            # second Ctrl-C, a kill, a crash) leaves that, and the folder is refused when opened (issue 24)
            mark_running(out)
        provenance = {"napari_rat_tms": __version__, "python": platform.python_version(),
                      "numpy": np.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                      "machine": f"{platform.machine()}, {platform.system()}", "input_sha256": digest,
                      "parameters": params.to_dict(), "study_status": result.status, "input": source}
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
            "status": result.status, "vertices": {k: v.n_vertices for k, v in meshes.statistics.items()},
            "repairs": list(meshes.repairs), "placements": int(result.grid.n_placements),
            "input": source}
