"""Shared fixtures. Viewer tests need a display: CI runs them under Xvfb (pytest-xvfb starts it);
without one they skip, unless RAT_TMS_REQUIRE_DISPLAY=1 (set by .ci/run) turns the skip into a
failure so that CI can never pass without running them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shared_data_or_skip(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"{path} not found: tests on real data need the project's shared/ folder beside the "
            "repository (CI has it; a user's clone does not)."
        )
    return path


def _display_available() -> bool:
    return bool(os.environ.get("DISPLAY")) or shutil.which("Xvfb") is not None


@pytest.fixture
def viewer_or_skip(request):
    """``make_napari_viewer`` when a display (or Xvfb) is available."""
    if not _display_available():
        if os.environ.get("RAT_TMS_REQUIRE_DISPLAY") == "1":
            pytest.fail("RAT_TMS_REQUIRE_DISPLAY=1 but there is no display and no Xvfb")
        pytest.skip("no display and no Xvfb: install xvfb (apt-get install xvfb) to run viewer tests")
    return request.getfixturevalue("make_napari_viewer")


@pytest.fixture(scope="session")
def rat_head():
    """The 0.34 mm synthetic rat, segmented and meshed with the defaults (built once per run,
    ~25 s): ``(rat, segmentation, head_meshes)``. Tests must not modify them."""
    import warnings

    from napari_rat_tms.core.meshes.from_segmentation import mesh_segmentation
    from napari_rat_tms.core.segmentation import segment
    from napari_rat_tms.core.synthetic import make_synthetic_rat

    rat = make_synthetic_rat(0.34)
    seg = segment(rat.volume.data, 0.34, eye_points_mm=[rat.landmarks_mm["left_eye"],
                                                        rat.landmarks_mm["right_eye"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meshes = mesh_segmentation(seg)
    return rat, seg, meshes
