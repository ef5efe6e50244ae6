"""Project folders: written by the main job, reopened without recomputing, checked on opening;
a cancelled study keeps its partial results, labelled."""

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from napari_rat_tms import __version__
from napari_rat_tms.core.job import JobParameters, iter_main_job
from napari_rat_tms.core.progress import run_to_completion
from napari_rat_tms.core.project import (MANIFEST, PROJECT_FORMAT, ProjectError, ProjectWarning,
                                         open_project)


def _params(**kw):
    # the cheapest real job: 0.5 mm rat, the 1C BEM model, 2 x 2 positions x 2 orientations
    return JobParameters(voxel_size_mm=0.5, models=["1C"], grid_shape=[2, 2], orientations_deg=[0.0, 90.0],
                         conductivities={"body": 0.4, "eyes": 2.0}, **kw)   # no eyes in 1C: said in the notes


#: The conductivities each head model of the fixture's job was built with (recorded on the way).
BUILT_WITH: dict = {}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import napari_rat_tms.core.fields as fields

    out = tmp_path_factory.mktemp("project") / "study"
    messages = []
    original = fields.iter_field_model

    def recording(surfaces, kind, **kwargs):
        BUILT_WITH[kind] = kwargs.get("conductivities")
        return original(surfaces, kind, **kwargs)

    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as patch:
        warnings.simplefilter("ignore")
        patch.setattr(fields, "iter_field_model", recording)
        result = run_to_completion(iter_main_job(_params(), out), lambda f, m: messages.append(m))
    return out, result, messages


def test_the_job_builds_its_models_with_its_conductivities(project):
    """The job's models get the parameters' conductivities (issue 23: the job, the E-field dock and
    export-volume alike), and the project records them for the dock and export-volume to reuse."""
    from napari_rat_tms.core.project import project_conductivities

    out, _, _ = project
    assert BUILT_WITH == {"1C": {"body": 0.4, "eyes": 2.0}}
    assert project_conductivities(out) == {"body": 0.4, "eyes": 2.0}


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_job_writes_a_complete_project(project):
    out, result, messages = project
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["format"] == PROJECT_FORMAT and manifest["napari_rat_tms"] == __version__
    assert manifest["study_status"] == "complete" and result["status"] == "complete"
    for name in ("parameters.json", "labels.nii.gz", "meshes/cortex.vtk", "frame.json", "placement.json",
                 "study.csv", "report.md"):
        assert name in manifest["files"], name
    caches = list((out / "solver_cache").glob("tms-bem-*.npz"))
    assert len(caches) == 1 and f"solver_cache/{caches[0].name}" in manifest["files"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # a fresh project opens without any warning
        opened = open_project(out)
    assert opened.models == ["1C"] and opened.study_status == "complete"
    assert opened.study_settings == _params().study_settings()   # what the Study dock takes from it
    assert opened.frame() is not None and "Solver cache: 1 models" in opened.describe()
    placement = json.loads((out / "placement.json").read_text())
    assert placement["format"] == "napari-rat-tms coil placement"
    assert placement["coil"] == "MC-B35 (low resolution)"
    # the species-aware geometry checks: sizes of a rat, gaps and skull thickness in mm
    geometry = json.loads((out / "geometry.json").read_text())
    assert "geometry.json" in manifest["files"] and geometry["species"] == "rat"
    assert 10.0 < geometry["extents_mm"]["cortex"] < 35.0 and geometry["skull_thickness_mm"]["min"] > 0
    assert set(geometry["gaps_mm"]) >= {"cortex-skull", "skull-body"}
    assert all(f"Head geometry: {w}" in result["notes"] for w in geometry["warnings"])
    assert ("Conductivities: the conductivity set for eyes (2 S/m) is not used: none of the models 1C "
            "contains eyes." in result["notes"])
    assert "conductivity set for eyes" in (out / "report.md").read_text()
    # where each maximum lies, by name, per model and placement
    import csv

    rows = list(csv.DictReader((out / "study.csv").open()))
    assert rows and all(row["peak_region"].startswith(("cortex", "caudal cortex")) for row in rows)


def test_rerun_reuses_the_solver_cache(project, tmp_path):
    out, first, _ = project
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    messages = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = run_to_completion(iter_main_job(_params(), copy, overwrite=True),
                                  lambda f, m: messages.append(m))
    assert any("read the precomputed model" in m for m in messages)
    assert again["timings"]["model 1C"] < first["timings"]["model 1C"]
    # the same numbers (same meshes, same cached transfer matrix)
    assert again["summary"]["1C"]["peak_v_per_m_median"] == pytest.approx(
        first["summary"]["1C"]["peak_v_per_m_median"], rel=1e-6)


def test_refused_projects_say_why_and_are_left_untouched(project, tmp_path):
    from napari_rat_tms.viewer.job_folder import job_folder_layers

    out, _, _ = project
    missing = tmp_path / "missing"
    shutil.copytree(out, missing)
    (missing / "meshes" / "cortex.vtk").unlink()
    before = _snapshot(missing)
    with pytest.raises(ProjectError, match="lacks meshes/cortex.vtk"):
        open_project(missing)
    with pytest.raises(ProjectError, match="lacks meshes/cortex.vtk"):
        job_folder_layers(missing)
    assert _snapshot(missing) == before

    newer = tmp_path / "newer"
    shutil.copytree(out, newer)
    manifest = json.loads((newer / MANIFEST).read_text())
    manifest.update(format=PROJECT_FORMAT + 1, napari_rat_tms="99.0")
    (newer / MANIFEST).write_text(json.dumps(manifest))
    before = _snapshot(newer)
    with pytest.raises(ProjectError, match="Upgrade napari-rat-tms"):
        open_project(newer)
    assert _snapshot(newer) == before

    with pytest.raises(ProjectError, match="not a napari-rat-tms project"):
        open_project(tmp_path)


def test_other_versions_and_changed_files_open_with_a_warning(project, tmp_path):
    out, _, _ = project
    older = tmp_path / "older"
    shutil.copytree(out, older)
    manifest = json.loads((older / MANIFEST).read_text())
    manifest["napari_rat_tms"] = "0.5.1"
    (older / MANIFEST).write_text(json.dumps(manifest))
    (older / "study.csv").write_text("edited by hand\n")
    (older / "figure3_maxima.svg").unlink()
    with pytest.warns(ProjectWarning) as caught:
        opened = open_project(older)
    text = " ".join(str(w.message) for w in caught)
    assert "written by napari-rat-tms 0.5.1" in text
    assert "changed since the job wrote them: study.csv" in text
    assert "figure3_maxima.svg" in text and len(opened.warnings) == 3


def test_a_cancelled_study_keeps_partial_results_labelled(tmp_path):
    out = tmp_path / "cancelled"
    steps = iter_main_job(_params(), out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fraction, message in steps:
            if message.startswith("study: placement"):
                break          # the first grid position (2 orientations) is done: the user cancels
        steps.close()
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["study_status"] == "PARTIAL: cancelled after 2 of 8 placements"
    report = (out / "report.md").read_text()
    assert report.splitlines()[2].startswith("**PARTIAL: cancelled after 2 of 8 placements.**")
    assert len((out / "study.csv").read_text().splitlines()) == 1 + 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"].startswith("PARTIAL") and np.isfinite(summary["summary"]["1C"]["re_mean"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert open_project(out).study_status.startswith("PARTIAL")

    # issue 24: a rerun with --overwrite stopped harder (a second Ctrl-C while the first one's
    # partial results are written; a kill; a crash) leaves old and new files mixed: the folder then
    # says so and is refused, never opened as "complete"
    import napari_rat_tms.core.study.report as report_module

    def write_half_then_interrupt(out_dir, result, *args, **kwargs):
        (Path(out_dir) / "summary.json").write_text(json.dumps({"status": "complete", "summary": {}}))
        raise KeyboardInterrupt

    steps = iter_main_job(_params(), out, overwrite=True)
    original = report_module.write_outputs
    report_module.write_outputs = write_half_then_interrupt
    try:
        with warnings.catch_warnings(), pytest.raises(KeyboardInterrupt):
            warnings.simplefilter("ignore")
            for fraction, message in steps:
                if message.startswith("study: placement"):
                    steps.close()       # the first Ctrl-C: the partial results are being written...
    finally:
        report_module.write_outputs = original
    assert json.loads((out / MANIFEST).read_text())["study_status"].startswith("RUNNING")
    with pytest.raises(ProjectError, match="not a finished project.*Run the job again with --overwrite"):
        open_project(out)


def test_a_folder_that_lost_its_manifest_or_holds_a_damaged_summary_is_refused(project, tmp_path):
    out, _, _ = project
    lost = tmp_path / "lost"
    shutil.copytree(out, lost)
    (lost / MANIFEST).unlink()        # opened as "0.5.0 or older", unchecked, before issue 24
    with pytest.raises(ProjectError, match="has no project.json, but its summary.json was written by"):
        open_project(lost)
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    (damaged / "summary.json").write_text("[1, 2, 3]")
    with pytest.raises(ProjectError, match="summary .* is not a JSON object"):
        open_project(damaged, check_hashes=False)


def test_the_species_parameter_is_checked():
    from napari_rat_tms.core.job import JobError

    assert JobParameters.from_dict({"species": "mouse"}).species == "mouse"
    with pytest.raises(JobError, match="species must be 'rat', 'mouse' or 'any'"):
        JobParameters.from_dict({"species": "human"})


def test_export_volume_writes_the_field_on_the_scans_grid(project, tmp_path, capsys):
    import nibabel as nib

    from napari_rat_tms.cli import main
    from napari_rat_tms.core.io import read_volume

    out, _, _ = project
    before = _snapshot(out)
    assert main(["export-volume", str(out), "-o", str(tmp_path / "e.nii.gz"), "--model", "1C"]) == 0
    assert "voxels computed" in capsys.readouterr().out
    labels = read_volume(out / "labels.nii.gz")
    image = nib.load(str(tmp_path / "e.nii.gz"))
    assert image.shape == (*labels.shape[::-1], 3)
    np.testing.assert_allclose(image.affine, nib.load(str(out / "labels.nii.gz")).affine)
    brain = np.transpose(np.asarray(labels.data) == 4, (2, 1, 0))
    values = np.linalg.norm(image.get_fdata()[brain], axis=1)
    assert np.isfinite(values).mean() > 0.9 and 1.0 < np.nanmedian(values) < 200.0
    assert np.all(np.isnan(image.get_fdata()[~brain]))
    assert _snapshot(out) == before                     # the project is never written to
    assert main(["export-volume", str(out), "-o", str(tmp_path / "e.nii.gz"), "--model", "1C"]) == 2
    assert "exists" in capsys.readouterr().err


def test_export_volume_uses_the_projects_conductivities(project, tmp_path, capsys, monkeypatch):
    """Issue 23's bug: export-volume rebuilt the model with seed 003's conductivities whatever the project
    was run with. The conductor it solves is recorded: its compartments carry the project's
    conductivities (body 0.4 S/m, not seed 003's 0.33), and the NIfTI's provenance names them. (That
    a conductivity moves the field is the solver's business: tests/core/bem; two real 2C exports here
    cost 133 s of the suite.)"""
    import nibabel as nib

    import napari_rat_tms.core.fields.head_models as head_models
    from napari_rat_tms.cli import main

    out, _, _ = project
    built = []
    original = head_models.head_model

    def recording(surfaces, kind, conductivities=None):
        conductor = original(surfaces, kind, conductivities)
        built.append((kind, conductivities, conductor))
        return conductor

    monkeypatch.setattr(head_models, "head_model", recording)
    target = tmp_path / "e.nii.gz"
    # at the eyes' voxels (label 3): a few hundred points instead of the brain's 10,000
    assert main(["export-volume", str(out), "-o", str(target), "--model", "1C", "--label", "3"]) == 0
    capsys.readouterr()
    ((kind, conductivities, conductor),) = built
    assert kind == "1C" and conductivities == {"body": 0.4, "eyes": 2.0}
    assert [b.sigma_inside for b in conductor.boundaries] == [0.4]
    provenance = json.loads(nib.load(str(target)).header.extensions[0].get_content())   # the NIfTI's comment
    assert provenance["conductivities_s_per_m"] == {"body": 0.4, "eyes": 2.0}


def test_a_reopened_project_brings_back_its_autosaved_edits(project, tmp_path):
    from napari_rat_tms.core.autosave import AutosavedLayer, write_autosave
    from napari_rat_tms.viewer.job_folder import job_folder_layers

    out, _, _ = project
    copy = tmp_path / "study"
    shutil.copytree(out, copy)
    painted = np.zeros((8, 9, 10), np.uint8)
    painted[2:4, 3:5, 4:6] = 4
    write_autosave(copy, [AutosavedLayer("brain", "labels", painted, (0.5, 0.5, 0.5), (0.0, 0.0, 0.0), {})])
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # the autosave folder is not a changed project file
        open_project(copy)
    layers = job_folder_layers(copy)
    restored = [(data, kwargs) for data, kwargs, kind in layers
                if kwargs["name"].startswith("brain (autosaved")]
    assert len(restored) == 1
    np.testing.assert_array_equal(restored[0][0], painted)
    assert restored[0][1]["metadata"]["autosave"] and restored[0][1]["scale"] == (0.5, 0.5, 0.5)


def test_project_conductivities_are_read_from_its_parameters(tmp_path):
    """What export-volume and the E-field dock rebuild a reopened project's models with (issue 23)."""
    from napari_rat_tms.core.project import project_conductivities

    assert project_conductivities({"parameters": {"conductivities": {"skull": "0.05"}}}) == {"skull": 0.05}
    assert project_conductivities({"parameters": {}}) == {}
    (tmp_path / "parameters.json").write_text(json.dumps({"parameters": {"conductivities": {"body": 0.4}}}))
    assert project_conductivities(tmp_path) == {"body": 0.4}
    assert project_conductivities(tmp_path / "missing") == {}


def test_optimise_writes_the_best_placement_beside_its_baselines(project, tmp_path, capsys):
    """Issue 22 from the command line: ``rat-tms optimise`` on the project's 1C model (read from its
    solver cache) for a target at AP/ML; the optimum beats the project's grid and line navigation
    (scored the same way), its placement file is one the Coil placement dock loads, its error bound
    and baselines are written; wrong input is one line and exit code 2, nothing overwritten."""
    from napari_rat_tms.cli import EXIT_INPUT, main
    from napari_rat_tms.core.placement import CoilPlacement
    from napari_rat_tms.core.placement.coil_on_scalp import PLACEMENT_FILE_FORMAT

    out, _, _ = project
    results = tmp_path / "plan"
    args = ["optimise", str(out), "--target-ap-ml", "-3", "1.5", "--model", "1C", "--training", "150",
            "-o", str(results)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "optimum: AP" in printed and "grid placements" in printed and "reduced field: rank" in printed
    plan = json.loads((results / "optimisation.json").read_text())
    assert plan["objective"]["objective"] == "magnitude" and plan["settings"]["n_training"] == 150
    assert plan["score"] >= plan["grid_best"]["score"] and plan["gain_over_line_navigation"] >= 1.0
    assert abs(plan["score_reference"] - plan["score"]) <= plan["reduced_field"]["bound"] * plan["score"]
    record = json.loads((results / "optimised_placement.json").read_text())
    assert record["format"] == PLACEMENT_FILE_FORMAT and record["coil"] == "MC-B35 (low resolution)"
    assert CoilPlacement.from_dict(record["placement"]).to_dict() == plan["placement"]
    assert not plan["reduced_field"]["from_cache"] and "kept in the solver cache" in printed
    assert len(list((out / "solver_cache").glob("reduced-*.npz"))) == 1
    # a second search (another target) reads the model's reduced field back: the same rank and bound
    assert main(args[:3] + ["-2", "2.0"] + args[5:] + ["--overwrite"]) == 0
    assert "read from the solver cache" in capsys.readouterr().out
    again = json.loads((results / "optimisation.json").read_text())
    assert again["reduced_field"]["from_cache"] and again["reduced_field"]["rank"] == plan["reduced_field"]["rank"]
    before = (results / "optimisation.json").read_bytes()
    for wrong, says in ((args, "exist"),                                  # no overwrite without --overwrite
                        (args[:2] + ["--objective", "direction", "--target-ap-ml", "-3", "1.5"], "direction"),
                        (args[:2] + ["--target-mm", "0", "0", "0", "--target-ap-ml", "-3", "1"], "either"),
                        (args[:2] + ["--target-ap-ml", "-60", "0", "--model", "1C"], "no cortex under")):
        assert main(wrong) == EXIT_INPUT, wrong
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error:") and says in err[-1], err
    assert (results / "optimisation.json").read_bytes() == before
