"""Command line: ``rat-tms``.

``rat-tms demo`` runs the main job on the bundled synthetic rat: build the scan (NIfTI, ground truth,
slices PNG), then segmentation, meshes, the head models, seed 003's 630-placement study and a
report (:mod:`napari_rat_tms.core.job`). ``rat-tms run params.toml`` does the same on a scan.
``rat-tms info PATH`` reads a user's scan and says what the plugin sees in it.
``rat-tms coil NAME|FILE.ccd [...]`` describes coil models (dipoles, size, field per A/us in a
rat-sized sphere; several: also all together) and can write one as a SimNIBS ``.ccd`` file.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from . import __version__

__all__ = ["main"]

log = logging.getLogger("napari_rat_tms")


#: Exit codes (also in ``rat-tms --help``): 0 done; 1 a check that ran found a failure (``validate-bem``
#: outside its tolerance); 2 the input is wrong (an argument, the job file, a scan, a folder; an
#: output that exists without ``--overwrite``): the message says what and how to fix it; 130
#: interrupted (Ctrl-C; a study keeps what it computed, labelled PARTIAL).
EXIT_OK, EXIT_CHECK_FAILED, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES_HELP = ("exit codes: 0 done; 1 a check found a failure (validate-bem); 2 the input is wrong "
                   "(the message says what and how to fix it); 130 interrupted (Ctrl-C).")
_OPEN_BARS: set = set()


def _error(message) -> int:
    """Print ``error: message`` on a line of its own (after any progress bar) and return
    :data:`EXIT_INPUT`."""
    for bar in list(_OPEN_BARS):
        bar.close()
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INPUT


class _TqdmProgress:
    """progress(fraction, message) callback drawing a tqdm bar on stderr."""

    def __init__(self, description: str):
        from tqdm import tqdm

        self.bar = tqdm(total=100, desc=description, unit="%", file=sys.stderr,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")
        _OPEN_BARS.add(self)

    def __call__(self, fraction: float, message: str) -> None:
        self.bar.n = round(100 * fraction)
        self.bar.set_postfix_str(message)
        self.bar.refresh()

    def close(self):
        _OPEN_BARS.discard(self)
        self.bar.close()


def _cmd_demo(args) -> int:
    from .core.figures import save_orthogonal_slices
    from .core.io import write_nifti
    from .core.synthetic import RatLabel, SyntheticRatParameters, make_synthetic_rat
    from .core.volume import Volume

    out = Path(args.output)
    products = {
        "scan": out / "synthetic_rat.nii.gz",
        "labels": out / "synthetic_rat_labels.nii.gz",
        "landmarks": out / "synthetic_rat_ground_truth.json",
        "figure": out / "synthetic_rat_slices.png",
    }
    existing = [p for p in products.values() if p.exists()]
    if existing and not args.overwrite:
        return _error(f"{', '.join(str(p) for p in existing)} already exist; choose another "
                      "--output folder or pass --overwrite.")
    try:
        params = SyntheticRatParameters(
            voxel_size_mm=args.voxel_size_mm, seed=args.seed, noise_hu=args.noise_hu
        )
    except ValueError as err:
        return _error(err)
    start = time.perf_counter()
    bar = _TqdmProgress("synthetic rat")
    try:
        rat = make_synthetic_rat(parameters=params, progress=bar)
    finally:
        bar.close()
    build_s = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    write_nifti(rat.volume, products["scan"])
    labels_volume = Volume(rat.labels, rat.volume.voxel_size_mm, intensity_units="label")
    write_nifti(labels_volume, products["labels"])
    truth = {
        "coordinates": "volume frame, mm (array axis order; see napari_rat_tms.core.conventions)",
        "labels": {int(v): v.name.lower() for v in RatLabel},
        "landmarks_mm": {k: np.round(v, 4).tolist() for k, v in rat.landmarks_mm.items()},
        "axes": {k: np.round(v, 6).tolist() for k, v in rat.axes.items()},
        "stereotaxic_to_volume_mm": np.round(rat.stereotaxic_to_volume_mm, 6).tolist(),
        "openings": [
            {"name": o.name, "start_mm": np.round(o.start, 4).tolist(),
             "end_mm": np.round(o.end, 4).tolist(), "radius_mm": o.radius_mm}
            for o in rat.openings
        ],
        "spine_cut": {"point_mm": np.round(rat.spine_cut_point_mm, 4).tolist(),
                      "normal": np.round(rat.spine_cut_normal, 6).tolist()},
        "parameters": {k: (list(v) if isinstance(v, tuple) else v)
                       for k, v in vars(params).items()},
        "version": __version__,
    }
    products["landmarks"].write_text(json.dumps(truth, indent=2))
    save_orthogonal_slices(
        rat.volume, products["figure"], centre_mm=rat.landmarks_mm["right_eye"],
        labels=rat.labels, points_mm=rat.landmarks_mm,
        title="Synthetic rat µCT (HU) through the right eye; contours: ground-truth labels",
    )
    counts = np.bincount(rat.labels.ravel(), minlength=len(RatLabel))
    voxel_ml = np.prod(rat.volume.voxel_size_mm) / 1000.0
    print(f"Built the synthetic rat in {build_s:.1f} s: {rat.volume.describe()}")
    print("Tissue volumes: " + ", ".join(
        f"{v.name.lower()} {counts[v] * voxel_ml:.2f} ml" for v in RatLabel if v != RatLabel.AIR))
    b = rat.landmarks_mm["bregma"]
    print(f"Bregma at ({b[0]:.2f}, {b[1]:.2f}, {b[2]:.2f}) mm in the volume frame.")
    print("Wrote:")
    for key, path in products.items():
        print(f"  {path}  ({key})")
    if args.scan_only:
        print("Open them in napari: napari " + str(products["scan"]))
        return 0
    from .core.job import JobError, JobParameters
    from .core.species import species_defaults

    rat_defaults = species_defaults("rat")
    try:
        params = JobParameters(
            voxel_size_mm=args.voxel_size_mm, synthetic_seed=args.seed,
            **({"models": tuple(args.models)} if args.models else {}),
            # seed 003's meshing and its 2,580-dipole coil, or the demo's
            meshing=dict(rat_defaults.seed_meshing if args.seed_resolution else rat_defaults.meshing),
            coil="MC-B35" if args.seed_resolution else None)
    except JobError as err:
        return _error(err)
    return _run_job(params, out / "study", args.overwrite, args.gui, rat=rat)


def _run_job(params, output, overwrite: bool, gui: bool, rat=None) -> int:
    from .core.errors import RatTmsError
    from .core.job import iter_main_job
    from .core.progress import run_to_completion

    print(f"Main job: segmentation, meshes, models {', '.join(params.models)}, the placement study "
          f"-> {output}", file=sys.stderr)
    bar = _TqdmProgress("main job")
    try:
        result = run_to_completion(iter_main_job(params, output, overwrite=overwrite, rat=rat), bar)
    except (RatTmsError, FileExistsError) as err:
        return _error(err)
    finally:
        bar.close()
    t = result["timings"]
    print(f"Main job done in {t['total']:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()
                                                            if k != "total") + ")")
    for f in json.loads(Path(result["written"]["summary"]).read_text())["findings"]:
        print(f"  {'holds' if f['holds'] else 'does not hold'}: {f['finding']} ({f['measured']})")
    print(f"Report: {result['written']['report']}")
    print(f"Reopen without recomputing: rat-tms open {output} [--gui], or open the folder in napari.")
    if gui:
        from .viewer.job_folder import open_job_in_napari

        open_job_in_napari(output, block=True)
    return 0


def _cmd_open(args) -> int:
    import warnings

    from .core.project import ProjectError, ProjectWarning, open_project

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ProjectWarning)   # listed by describe() instead
            project = open_project(args.folder)
    except ProjectError as err:
        return _error(err)
    print(project.describe())
    if args.gui:
        from .viewer.job_folder import open_job_in_napari

        open_job_in_napari(project.folder, block=True)
    return 0


def _cmd_export_volume(args) -> int:
    from .core.coils import load_coil
    from .core.errors import RatTmsError
    from .core.fields.export import field_provenance, write_volume_field
    from .core.fields.head_models import head_model
    from .core.fields.voxel_field import iter_efield_on_voxels
    from .core.io import read_volume
    from .core.placement import CoilPlacement
    from .core.progress import run_to_completion
    from .core.project import ProjectError, ProjectWarning, open_project

    bar = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ProjectWarning)
            project = open_project(args.folder)
        folder = project.folder
        record = json.loads(Path(args.placement or folder / "placement.json").read_text())
        placement = CoilPlacement.from_dict(record["placement"])
        coil, _ = load_coil(record["coil"])
        labels = read_volume(folder / "labels.nii.gz")
        surfaces = project.surfaces()
        # the project's own conductivities (parameters.json), not seed 003's defaults (issue 23)
        conductivities = project.conductivities
        conductor = head_model(surfaces, args.model, conductivities)
        mask = np.asarray(labels.data) == args.label
        print(f"{args.model} field of the placement in {record.get('coil_name', record['coil'])} at "
              f"{int(mask.sum())} voxels of label {args.label} -> {args.output}", file=sys.stderr)
        bar = _TqdmProgress("volume field")
        # voxels within half an edge of a surface are left out (and counted in the output's
        # provenance), so the solver has no near-surface point to warn about
        grid, info = run_to_completion(iter_efield_on_voxels(conductor, placement, coil, mask,
                                                             labels.voxel_size_mm), bar)
        provenance = field_provenance(model=args.model, coil=record["coil"], placement=record["placement"],
                                      conductivities_s_per_m=conductivities or "seed 003's",
                                      didt_a_per_us=placement.didt_a_per_us, project=str(folder),
                                      region=f"label {args.label} of labels.nii.gz", voxels=info)
        written = write_volume_field(args.output, grid, labels, provenance=provenance,
                                     overwrite=args.overwrite)
    except (ProjectError, RatTmsError, ValueError, KeyError, OSError) as err:
        return _error(err)
    finally:
        if bar is not None:
            bar.close()
    values = np.linalg.norm(grid[mask], axis=1)
    values = values[np.isfinite(values)]
    print(f"{info['computed_voxels']} of {info['region_voxels']} voxels computed; "
          f"{info['left_out_near_surfaces']} left out (NaN), {info['near_surface_rule']}, where the BEM "
          f"field is unreliable. |E|: median {np.median(values):.1f} V/m, max {values.max():.1f} V/m; wrote "
          + ", ".join(str(p) for p in written))
    return 0


def _cmd_run(args) -> int:
    from .core.errors import RatTmsError
    from .core.job import JobParameters

    try:
        params = JobParameters.from_toml(args.parameters)
    except RatTmsError as err:
        return _error(err)
    if args.check:
        from .core.job import check_job

        for line in check_job(params, Path(args.output), args.overwrite):
            print(line)
        print("OK: the job can start (nothing was computed or written).")
        return EXIT_OK
    return _run_job(params, Path(args.output), args.overwrite, args.gui)


def _cmd_optimise(args) -> int:
    from .core.coils import load_coil
    from .core.errors import RatTmsError
    from .core.fields.head_models import BEM_MODEL_KINDS, iter_field_model
    from .core.placement import placement_grid
    from .core.planning import (PlanSettings, cortex_point_at, existing_plan_files, iter_plan_placement,
                                write_plan)
    from .core.progress import run_to_completion
    from .core.project import ProjectError, ProjectWarning, open_project

    bar = None
    try:
        if (args.target_mm is None) == (args.target_ap_ml is None):
            raise ValueError("give the target either as --target-ap-ml AP ML [--target-dv DV] (mm from bregma) "
                             "or as --target-mm X Y Z (the scan's frame)")
        settings = PlanSettings(objective=args.objective, direction_deg=args.direction_deg,
                                target_radius_mm=args.target_radius_mm, extent_mm=tuple(args.extent_mm),
                                gap_mm=args.gap_mm, avoid_openings=args.avoid_openings,
                                keep_out_eyes=args.keep_out_eyes, n_training=args.training)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ProjectWarning)
            project = open_project(args.folder)
        folder = project.folder
        existing = existing_plan_files(args.output or folder)
        if existing and not args.overwrite:
            raise FileExistsError(f"{', '.join(map(str, existing))} exist(s): pass --overwrite to replace, or "
                                  "--output another folder (nothing was computed)")
        frame = project.frame()
        if frame is None:
            raise ValueError(f"{folder} has no stereotaxic frame (frame.json): the optimiser searches over "
                             "AP/ML; run the job with landmarks")
        kind = args.model or next((m for m in project.models if m in BEM_MODEL_KINDS), None)
        if kind not in BEM_MODEL_KINDS:
            raise ValueError(f"no BEM model to optimise with (the project has {', '.join(project.models) or 'none'}"
                             f"): pass --model, one of {', '.join(BEM_MODEL_KINDS)}")
        record = json.loads((folder / "placement.json").read_text())
        coil_source = args.coil or record["coil"]
        coil, _ = load_coil(coil_source)
        surfaces = project.surfaces()
        cortex = surfaces["cortex"]
        if args.target_mm is not None:
            target = np.asarray(args.target_mm, float)
        else:
            target = cortex_point_at(cortex, frame, args.target_ap_ml[0], args.target_ap_ml[1], args.target_dv)
        print(f"target {frame.describe(target)}; {settings.objective} with the {kind} model, coil "
              f"{record.get('coil_name', coil_source) if args.coil is None else coil_source}", file=sys.stderr)
        bar = _TqdmProgress(f"{kind} model")
        model = run_to_completion(iter_field_model(surfaces, kind, cache_dir=project.solver_cache or
                                                   folder / "solver_cache",
                                                   conductivities=project.conductivities), bar)
        bar.close()
        grid = None
        study = project.study_settings
        if study is not None:
            grid = study.grid(surfaces["body"], frame)
        else:
            grid = placement_grid(surfaces["body"], frame)
        bar = _TqdmProgress("optimising")
        plan = run_to_completion(iter_plan_placement(model.solver, surfaces, frame, coil, target, settings,
                                                     grid=grid, cache_dir=project.solver_cache or
                                                     folder / "solver_cache"), bar)
        bar.close()
        written = write_plan(args.output or folder, plan, frame, coil_source,
                             record.get("coil_name", coil_source) if args.coil is None else coil_source,
                             overwrite=args.overwrite)
    except (ProjectError, RatTmsError, ValueError, KeyError, OSError) as err:
        return _error(err)
    finally:
        if bar is not None:
            bar.close()
    r = plan.result
    p = r.placement
    print(f"optimum: {frame.describe(p.scalp_point_mm)}, orientation {p.orientation_deg % 360:.1f} deg from anterior; "
          f"{settings.objective} {r.score:.4g} (full model {r.score_reference if r.score_reference is not None else r.score:.4g})")
    if r.grid_best is not None:
        print(f"best of the {grid.n_placements} grid placements: {r.grid_best[1]:.4g} (optimum x{r.gain_over_grid:.3f})")
    print(f"line navigation (axis through the target, best orientation): {r.line_navigation[1]:.4g} "
          f"(optimum x{r.gain_over_line_navigation:.3f})")
    if plan.reduced is not None:
        made = ("read from the solver cache" if plan.reduced.info.get("from_cache") else
                f"built in {plan.seconds.get('reduced_field', 0):.1f} s and kept in the solver cache")
        print(f"reduced field: rank {plan.reduced.rank}, bound {plan.reduced.bound:.2%} (validation max "
              f"{plan.reduced.info['validation_max_re']:.3%}; {made}); {r.evaluations} placements evaluated in "
              f"{plan.seconds.get('optimisation', 0):.1f} s")
    print("wrote " + ", ".join(str(p) for p in written) + " (load the placement in the Coil placement dock)")
    return 0


def _cmd_info(args) -> int:
    from .core.errors import RatTmsError
    from .core.io import read_volume

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            volume = read_volume(
                args.path, voxel_size_mm=args.voxel_size_mm, series_uid=args.series_uid
            )
        except RatTmsError as err:
            return _error(err)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    print(volume.describe())
    data = volume.data
    pct = np.percentile(data[::2, ::2, ::2], [0.1, 50, 99.9])
    print(f"intensities: min {data.min()}, median {pct[1]:g}, max {data.max()} "
          f"(0.1-99.9 %: {pct[0]:g} to {pct[2]:g})")
    print(f"format: {volume.metadata.get('format', '?')}, scanner frame: {volume.scanner_frame}")
    return 0


def _cmd_coil(args) -> int:
    from .core.coils import load_coil, write_ccd
    from .core.coils import superposed_coils
    from .core.fields.coil_summary import describe_coil
    from .core.errors import RatTmsError

    coils = []
    for source in args.coil:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                coil, info = load_coil(source)
            except RatTmsError as err:
                return _error(err)
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        coils.append((coil, info))
    if args.output and len(coils) > 1:
        return _error("-o writes one coil; give one coil (or write each separately)")
    for coil, info in coils:
        print(f"coil: {coil.name} ({info['source']}), {coil.n_dipoles} dipoles")
        windings = info.get("windings")
        if windings is not None:
            print("windings: " + ", ".join(f"{k}={v}" for k, v in windings.to_dict().items()))
        summary = describe_coil(coil, args.depth_mm)
        direction = np.round(summary.current_direction, 3).tolist()
        print(f"current under the centre along {direction} (coil frame)")
        print(summary.describe(args.didt_a_per_us))
        print(summary.per_a_per_us())
    if len(coils) > 1:
        together = superposed_coils([coil for coil, _ in coils])
        print("all together (each as given, in one frame, the same dI/dt; the fields add):")
        print(describe_coil(together, args.depth_mm).describe(args.didt_a_per_us))
    if args.output:
        coil, info = coils[0]
        try:
            path = write_ccd(args.output, coil, info.get("metadata") or {}, overwrite=args.overwrite)
        except (FileExistsError, ValueError) as err:
            return _error(err)
        print(f"wrote {path}")
    return 0


def _cmd_segment(args) -> int:
    """Segment a scan (or the synthetic rat) into air, body, skull, spine, eyes and brain."""
    from dataclasses import replace

    from .core.errors import RatTmsError
    from .core.io import read_volume, write_volume
    from .core.segmentation import SegmentationParameters, iter_segment
    from .core.volume import Volume

    output = Path(args.output)
    sidecar = output.with_name(output.name.split(".")[0] + ".segmentation.json")
    for path in (output, sidecar):
        if path.exists() and not args.overwrite:
            return _error(f"{path} exists; use --overwrite to replace it")
    try:
        from .core.species import species_defaults

        params = SegmentationParameters(**species_defaults(args.species).segmentation_defaults())
        if args.parameters:
            values = json.loads(Path(args.parameters).read_text())
            # a previous run's record: reproduce it with the values it used
            values = values.get("parameters_used", values)
            params = SegmentationParameters.from_dict(values)
            params = replace(params, eye_isolevels=()) if args.eye else params
        if args.scan == "synthetic-rat":
            from .core.synthetic import make_synthetic_rat

            rat = make_synthetic_rat()   # its default voxel size (SyntheticRatParameters)
            volume = rat.volume
            eyes = args.eye or [list(rat.landmarks_mm["left_eye"]), list(rat.landmarks_mm["right_eye"])]
        else:
            volume = read_volume(args.scan)
            eyes = args.eye or []
        progress = _TqdmProgress("segmenting")
        steps = iter_segment(volume.data, volume.voxel_size_mm, params, eye_points_mm=eyes)
        try:
            while True:
                progress(*next(steps))
        except StopIteration as stop:
            seg = stop.value
        finally:
            progress.close()
    except (RatTmsError, ValueError, TypeError, OSError) as err:
        return _error(err)
    labels = Volume(seg.labels, volume.voxel_size_mm, scanner_affine_mm=volume.scanner_affine_mm,
                    scanner_frame=volume.scanner_frame, source=str(output))
    write_volume(labels, output, overwrite=args.overwrite)
    record = seg.metadata()["napari_rat_tms_segmentation"]
    record["scan"] = str(args.scan)
    sidecar.write_text(json.dumps(record, indent=2))
    print(seg.summary())
    for note in seg.notes:
        print(f"note: {note}")
    print(f"Wrote {output} (labels: " + ", ".join(f"{k} {v}" for k, v in record["label_names"].items())
          + f") and {sidecar} (parameters used, to re-run with --parameters)")
    return 0


def _build_with_progress(model, points, description, **kwargs):
    from .core.bem.solver import iter_build_solver

    progress = _TqdmProgress(description)
    gen = iter_build_solver(model, points, **kwargs)
    try:
        while True:
            progress(*next(gen))
    except StopIteration as stop:
        return stop.value
    finally:
        progress.close()


def _cmd_validate_bem(args) -> int:
    """Our BEM against the analytic sphere (and OpenMEEG on a holed skull, if asked)."""
    from .core.bem.conductor import SIGMA_BODY, SIGMA_SKULL, nested_spheres, rat_head_model
    from .core.bem.sphere_model import sphere_efield
    from .core.coils import CoilDipoles
    from .core.meshes.primitives import holed_spherical_shell, icosphere
    from .core.metrics import compare_fields

    rng = np.random.default_rng(0)
    directions = rng.normal(size=(300, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    points = directions * rng.uniform(0.001, 0.0085, size=(300, 1))  # >= 1 mm inside the 9.5 mm shell
    coils = [
        CoilDipoles([[0.0, 0.0, 0.016]], [[1e-4, 0.0, 0.0]], "tangential dipole above"),
        CoilDipoles([[0.005, 0.003, 0.016]], [[0.0, 1e-4, 3e-5]], "oblique dipole"),
        CoilDipoles([[0.0, 0.017, 0.004]], [[0.0, 2e-5, 1e-4]], "lateral dipole"),
    ]
    radii = {"1 sphere": ([0.0095], [SIGMA_BODY]),
             "3 shells, skull 1/50": ([0.0095, 0.0105, 0.012], [SIGMA_BODY, SIGMA_SKULL, SIGMA_BODY])}
    worst = 0.0
    print(f"Relative error of the BEM against the analytic sphere (Heller & van Hulsteyn 1992), "
          f"{len(points)} points >= 1 mm inside the innermost surface, tolerance {100 * args.tolerance:g} %:")
    for name, (r, sigma) in radii.items():
        model = nested_spheres(r, sigma, subdivisions=args.subdivisions)
        solver = _build_with_progress(model, points, f"{name}: {model.n_vertices} vertices")
        for coil in coils:
            m = compare_fields(points, solver.efield(coil), sphere_efield(points, coil))
            worst = max(worst, m["re"])
            print(f"  {name:22s} {coil.name:24s} RE {100 * m['re']:5.2f} %  CCE {100 * m['cce']:5.2f} %  "
                  f"angle {m['mean_angle_deg']:5.2f} deg")
    if args.openmeeg:
        from .core.bem.openmeeg_reference import openmeeg_available, openmeeg_tms_efield

        if not openmeeg_available():
            return _error("OpenMEEG is not installed (pip install napari-rat-tms[reference])")
        model = rat_head_model(icosphere(0.012, 3, name="body"),
                               holed_spherical_shell(0.0095, 0.0105, 0.002, 3, name="skull"))
        upper = points[points[:, 2] > 0.002][:100]
        solver = _build_with_progress(model, upper, "2C holed skull")
        print("2C model with a holed skull (4 mm opening), against OpenMEEG (slow: ~25 s per coil):")
        for coil in coils[:2]:
            m = compare_fields(upper, solver.efield(coil), openmeeg_tms_efield(model, upper, coil))
            worst = max(worst, m["re"])
            print(f"  {coil.name:24s} RE {100 * m['re']:5.2f} %  CCE {100 * m['cce']:5.2f} %")
    ok = worst <= args.tolerance
    print(f"{'PASS' if ok else 'FAIL'}: largest relative error {100 * worst:.2f} %")
    return EXIT_OK if ok else EXIT_CHECK_FAILED


def build_parser() -> argparse.ArgumentParser:
    from .core.conventions import SEED_DIDT_A_PER_US
    from .core.synthetic.rat import SyntheticRatParameters
    from .core.fields.head_models import BEM_MODEL_KINDS
    from .core.planning import PlanSettings

    parser = argparse.ArgumentParser(
        prog="rat-tms",
        description="napari-rat-tms: rodent µCT -> head model -> TMS-induced E-field.",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("--version", action="version", version=f"napari-rat-tms {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run the main job on the bundled synthetic rat",
        description="Build the synthetic rat head µCT (no data needed), write it as NIfTI with its "
        "ground truth (labels, landmarks) and a PNG of three orthogonal slices, then run the main job on "
        "it: segmentation, meshes, head models, seed 003's 630-placement study, report in OUTPUT/study.",
    )
    demo.add_argument("-o", "--output", default="rat-tms-demo", help="output folder (default: %(default)s)")
    demo.add_argument("--voxel-size-mm", type=float, default=SyntheticRatParameters.voxel_size_mm,
                      help="voxel size in mm (default: %(default)s; the seed's scan is 0.17)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.add_argument("--noise-hu", type=float, default=SyntheticRatParameters.noise_hu, help="noise SD in HU (default: %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="replace existing output files")
    demo.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                      help="head models, the reference first (default: 3C 2C 2C* 1C sphere)")
    demo.add_argument("--seed-resolution", action="store_true",
                      help="mesh at the seed's edge lengths and use the high-resolution coil (slower)")
    demo.add_argument("--scan-only", action="store_true", help="only build and write the synthetic scan")
    demo.add_argument("--gui", action="store_true", help="open napari with every layer when done")
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser(
        "run", help="run the main job on a scan with a parameter file (TOML)",
        description="Segmentation, meshes, head models, the 630-placement study and the report for a "
        "scan; every setting in a TOML file (see README: scan, voxel_size_mm, eye_points_mm, "
        "landmarks_mm = {bregma, lambda, midline}, segmentation, meshing, models, coil, didt_a_per_us, "
        "grid_centre_ap_ml_mm, ...).")
    run.add_argument("parameters", help="TOML parameter file")
    run.add_argument("-o", "--output", default="rat-tms-study", help="output folder (default: %(default)s)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing report")
    run.add_argument("--gui", action="store_true", help="open napari with every layer when done")
    run.add_argument("--check", action="store_true",
                     help="only check the parameters, the scan, the landmarks, the coil and the output folder "
                          "(seconds; nothing is computed or written)")
    run.set_defaults(func=_cmd_run)

    open_ = sub.add_parser(
        "open", help="check a project folder and show what it holds (without recomputing)",
        description="Check a folder written by `rat-tms demo` or `rat-tms run` (format, version, every "
        "file against project.json) and print its study's main numbers; --gui opens it in napari. "
        "Never writes into the folder.")
    open_.add_argument("folder", help="project folder (e.g. rat-tms-demo/study)")
    open_.add_argument("--gui", action="store_true", help="open napari with every layer")
    open_.set_defaults(func=_cmd_open)

    volume = sub.add_parser(
        "export-volume",
        help="the E-field of a project's placement on the scan's voxel grid (NIfTI or NPY)",
        description="Solve the chosen BEM model for the project's coil placement (or another placement "
        "file) at every voxel of a label of the project's segmentation (default 4, the brain) and write "
        "E (V/m; NaN elsewhere) as NIfTI (4D, the scan's affine) or NPY with a JSON beside it. Never "
        "overwrites without --overwrite.")
    volume.add_argument("folder", help="project folder (e.g. rat-tms-demo/study)")
    volume.add_argument("-o", "--output", required=True, help="output file: .nii.gz, .nii or .npy")
    volume.add_argument("--model", default="3C", choices=list(BEM_MODEL_KINDS),
                        help="head model (default: %(default)s)")
    volume.add_argument("--placement", default=None, help="placement JSON (default: the project's)")
    volume.add_argument("--label", type=int, default=4, help="segmentation label (default: 4, brain)")
    volume.add_argument("--overwrite", action="store_true", help="replace existing output files")
    volume.set_defaults(func=_cmd_export_volume)

    optimise = sub.add_parser(
        "optimise",
        help="find the coil placement that best stimulates a cortical target",
        description="Search the placements over the scalp above a target (AP, ML and orientation, the coil "
        "touching the scalp) for the best objective: |E| at the target (magnitude), E along a wanted "
        "current direction (direction) or the target's |E| over the largest elsewhere (focality). Uses a "
        "reduced-order field of the project's BEM model (built in seconds; its error bound is printed), "
        "checks the optimum with the full model, and compares it with the best grid placement and with "
        "line navigation. Writes optimisation.json and optimised_placement.json (the Coil placement "
        "dock loads it) into the project folder or --output.")
    optimise.add_argument("folder", help="project folder (e.g. rat-tms-demo/study)")
    optimise.add_argument("--target-ap-ml", type=float, nargs=2, metavar=("AP", "ML"), default=None,
                          help="target in mm from bregma (the cortex's surface there unless --target-dv)")
    optimise.add_argument("--target-dv", type=float, default=None, help="target depth DV in mm from bregma")
    optimise.add_argument("--target-mm", type=float, nargs=3, metavar=("X", "Y", "Z"), default=None,
                          help="target in the scan's frame (mm), instead of --target-ap-ml")
    optimise.add_argument("--target-radius-mm", type=float, default=0.0,
                          help="the target is the cortex within this radius (default 0: the nearest vertex)")
    optimise.add_argument("--objective", choices=["magnitude", "direction", "focality"], default="magnitude",
                          help="what to maximise (default: %(default)s)")
    optimise.add_argument("--direction-deg", type=float, default=None,
                          help="for 'direction': the wanted current direction at the target, degrees from "
                          "anterior, counter-clockwise seen from above")
    optimise.add_argument("--model", default=None, choices=list(BEM_MODEL_KINDS),
                          help="head model (default: the project's reference)")
    optimise.add_argument("--coil", default=None, help="coil preset or file (default: the project's)")
    optimise.add_argument("--extent-mm", type=float, nargs=2, metavar=("AP", "ML"),
                          default=list(PlanSettings.extent_mm),
                          help="size of the region searched, centred above the target (default: %(default)s)")
    optimise.add_argument("--gap-mm", type=float, default=0.0, help="gap between scalp and coil (default 0)")
    optimise.add_argument("--avoid-openings", action="store_true",
                          help="penalise |E| on the cortex under the skull's openings (seed 003's hot spots)")
    optimise.add_argument("--keep-out-eyes", action="store_true",
                          help="keep the coil's centre 3 mm or more from the eyes")
    optimise.add_argument("--training", type=int, default=PlanSettings.n_training,
                          help="placements the reduced field is built from (default: %(default)s)")
    optimise.add_argument("-o", "--output", default=None, help="output folder (default: the project folder)")
    optimise.add_argument("--overwrite", action="store_true", help="replace an earlier optimisation's files")
    optimise.set_defaults(func=_cmd_optimise)

    info = sub.add_parser("info", help="read a scan and report what the plugin sees",
                          description="Read a µCT volume (NIfTI, DICOM folder or file, NRRD, "
                          "MetaImage, TIFF) and print its size, voxel size and intensities.")
    info.add_argument("path", help="file or folder")
    info.add_argument("--voxel-size-mm", type=float, nargs="+", default=None,
                      help="override the voxel size (one value, or three in array axis order)")
    info.add_argument("--series-uid", default=None, help="DICOM series to load from a mixed folder")
    info.set_defaults(func=_cmd_info)

    seg = sub.add_parser(
        "segment", help="segment a scan into air, body, skull, spine, eyes and brain",
        description="Seed 003's segmentation with histogram thresholds; writes a label volume "
                    "and a JSON file with every parameter used.")
    seg.add_argument("scan", help="scan file or folder, or 'synthetic-rat'")
    seg.add_argument("-o", "--output", default="segmentation.nii.gz",
                     help="label volume to write (default: %(default)s)")
    seg.add_argument("--eye", type=float, nargs=3, action="append", metavar=("I0_MM", "I1_MM", "I2_MM"),
                     help="an eye centre in the volume frame (mm along the array axes); repeat per eye")
    seg.add_argument("--parameters", default=None,
                     help="JSON parameters, or a previous run's .segmentation.json (its parameters_used)")
    seg.add_argument("--species", choices=["rat", "mouse"], default="rat",
                     help="closings and eye extraction for the species (default: %(default)s; "
                          "--parameters overrides)")
    seg.add_argument("--overwrite", action="store_true", help="replace existing output files")
    seg.set_defaults(func=_cmd_segment)

    coil = sub.add_parser(
        "coil", help="describe a coil model; write it as a SimNIBS .ccd file",
        description="A preset (MC-B35, 'MC-B35 (low resolution)') or a .ccd file: dipoles, extent, "
        "current direction and the field it induces in a rat-sized sphere.")
    coil.add_argument("coil", nargs="+",
                      help="preset name, SimNIBS .ccd file, or parametric windings .json file; "
                           "several: each, then all together (superposition, as given in one frame)")
    coil.add_argument("--depth-mm", type=float, default=2.0,
                      help="reference depth in the rat-sized sphere (default: %(default)s mm)")
    coil.add_argument("--didt-a-per-us", type=float, default=SEED_DIDT_A_PER_US, help="dI/dt in A/µs (default: %(default)s)")
    coil.add_argument("-o", "--output", default=None, help="write the coil as a .ccd file")
    coil.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    coil.set_defaults(func=_cmd_coil)

    validate = sub.add_parser(
        "validate-bem", help="check the E-field solver against independent references on this machine",
        description="Solve spheres (1 shell, and 3 shells with a 1/50 skull) with the BEM and compare "
        "with the analytic solution; with --openmeeg also a holed skull against OpenMEEG. Exit status 1 "
        "when an error exceeds the tolerance.")
    validate.add_argument("--subdivisions", type=int, default=4,
                          help="icosphere level: 3 = 642, 4 = 2,562 vertices per shell (default: %(default)s)")
    validate.add_argument("--tolerance", type=float, default=0.02,
                          help="largest relative error accepted (default: %(default)s)")
    validate.add_argument("--openmeeg", action="store_true", help="also compare with OpenMEEG (slow)")
    validate.set_defaults(func=_cmd_validate_bem)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    if getattr(args, "voxel_size_mm", None) is not None and isinstance(args.voxel_size_mm, list):
        if len(args.voxel_size_mm) not in (1, 3):
            parser.error("--voxel-size-mm takes one value or three")
        args.voxel_size_mm = args.voxel_size_mm[0] if len(args.voxel_size_mm) == 1 else args.voxel_size_mm
    from .core.errors import RatTmsError

    try:
        return int(args.func(args) or 0)
    except (RatTmsError, ValueError, OSError) as err:      # the input: said on its own line, no traceback
        return _error(err)
    except KeyboardInterrupt:
        for bar in list(_OPEN_BARS):
            bar.close()
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
