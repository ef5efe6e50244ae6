"""The main job on a real mouse scan with nothing but the scan, the species and the landmark file
(issue 20), reduced to the 1C model and a 2 x 2 grid so that it runs in about a minute; the full
job on all eight scans is benchmarks/bench_mouse_scans.py --run. Skipped without ../shared."""

import json

import pytest

from napari_rat_tms.core.job import JobError, JobParameters, iter_main_job
from napari_rat_tms.core.progress import run_to_completion

from ..conftest import shared_data_or_skip


def test_mouse_scan_hands_free(tmp_path):
    scan = shared_data_or_skip("mouse-ct", "C3H_HEJ_.nii.gz")
    landmarks = shared_data_or_skip("mouse-ct", "landmarks", "C3H_HEJ_.mrk.json")
    params = JobParameters.from_dict({"scan": str(scan), "species": "mouse", "landmarks_file": str(landmarks),
                                      "models": ["1C"], "grid_shape": [2, 2], "orientations_deg": [0.0, 90.0]})
    done = run_to_completion(iter_main_job(params, tmp_path / "project"))
    assert done["status"] == "complete"
    notes = "\n".join(done["notes"])
    assert "Maga et al. (2017): bregma = point 13" in notes
    assert "Eyes: centres suggested automatically" in notes
    assert "Thresholds from the histogram (clear)" in notes
    # the mouse's defaults were used: mesh edges and grid
    assert done["vertices"]["skull"] > 3000 and "eyes" in done["vertices"]
    report = (tmp_path / "project" / "report.md").read_text()
    assert "Input: a real scan; species mouse" in report
    assert "this is a mouse scan; the seed modelled a Wistar rat" in report
    assert "synthetic rat is not the seed's Wistar rat" not in report
    saved = json.loads((tmp_path / "project" / "parameters.json").read_text())
    assert saved["parameters"]["species"] == "mouse" and saved["parameters"]["meshing"]["skull_edge_mm"] == 0.5
    # the mouse's grid (7 x 4.5 mm) lies over the cortex: at most a quarter of the line-navigation axes
    # miss it (measured: 2 of 8 here, at the grid's corners; 18 of 630 on the full grid; v0.9's
    # rat-sized grid missed about half)
    assert done["summary"]["line navigation"]["misses"] <= 0.25 * done["placements"]


def test_landmark_file_of_another_scan_is_refused_before_any_work(tmp_path):
    """MOLG/DnJ's shared landmark file was made on another copy of the scan (all points outside it):
    refused in seconds, naming the file and the point, before the segmentation."""
    scan = shared_data_or_skip("mouse-ct", "MOLG.DnJ_.nii.gz")
    landmarks = shared_data_or_skip("mouse-ct", "landmarks", "MOLG.DnJ_.mrk.json")
    params = JobParameters.from_dict({"scan": str(scan), "species": "mouse", "landmarks_file": str(landmarks)})
    with pytest.raises(JobError, match="landmark file .* outside the scan"):
        run_to_completion(iter_main_job(params, tmp_path / "project"))
    assert not (tmp_path / "project" / "report.md").exists()
