"""The MC-B35 preset against the measured Cool-B35 model in a rat-sized sphere (issue 6's
calibration targets), and coil loading by name or file."""

import numpy as np
import pytest

from napari_rat_tms.core.bem.sphere_model import sphere_efield
from napari_rat_tms.core.coils import CoilModelError, load_coil, mc_b35, read_ccd
from napari_rat_tms.core.metrics import correlation_error
from tests.conftest import shared_data_or_skip


def _rat_sphere_points():
    # every point within 13 mm of a centre 15.4 mm under the casing (seed 003's fitted sphere)
    g = np.arange(-13.0, 13.01, 1.0) * 1e-3
    p = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    centre = np.array([0.0, 0.0, 15.4e-3])
    return p[np.linalg.norm(p, axis=1) <= 13e-3] + centre, centre


@pytest.fixture(scope="module")
def cool_b35_field():
    ref, _ = read_ccd(shared_data_or_skip("coils", "MagVenture_Cool-B35.ccd"))
    points, centre = _rat_sphere_points()
    return points, centre, sphere_efield(points, ref, 1e8, centre)


@pytest.mark.parametrize("resolution", ["high", "low"])
def test_mc_b35_matches_the_measured_cool_b35(cool_b35_field, resolution):
    points, centre, e_ref = cool_b35_field
    e = sphere_efield(points, mc_b35(resolution), 1e8, centre)
    assert 1 - correlation_error(e, e_ref) >= 0.99          # issue 6 target; measured 0.9975
    peak, peak_ref = (np.linalg.norm(x, axis=1).max() for x in (e, e_ref))
    assert abs(peak / peak_ref - 1) <= 0.10                 # issue 6 target; measured 1.000 / 0.973


def test_low_resolution_underestimates_by_about_three_percent():
    points, centre = _rat_sphere_points()
    hi = sphere_efield(points, mc_b35("high"), 1e8, centre)
    lo = sphere_efield(points, mc_b35("low"), 1e8, centre)
    ratio = np.linalg.norm(lo, axis=1).max() / np.linalg.norm(hi, axis=1).max()
    assert 0.97 < ratio < 0.98                               # seed 003: "underestimated ... by 3%"; ours 2.6 % (README)
    assert correlation_error(lo, hi) < 1e-4                  # "essentially indistinguishable distributions"


def test_load_by_name_or_file(tmp_path):
    coil, info = load_coil("MC-B35")
    assert coil.n_dipoles == 2580 and info["windings"] is not None
    with pytest.raises(CoilModelError, match="neither a coil preset"):
        load_coil("MC-B36")
    path = shared_data_or_skip("coils", "Magstim_70mm_Fig8.ccd")
    coil, info = load_coil(path)
    assert coil.n_dipoles == 2712 and info["windings"] is None


def test_parametric_coil_from_a_json_file(tmp_path):
    from napari_rat_tms.core.coils import round_coil, write_windings_json

    windings = round_coil(10.0, 30.0, 12, name="my round coil")
    path = write_windings_json(tmp_path / "round.json", windings, "low")
    coil, info = load_coil(path)
    assert info["windings"] == windings and info["resolution"] == "low"
    np.testing.assert_allclose(coil.moments_m2, windings.dipoles("low").moments_m2)
    with pytest.raises(FileExistsError):
        write_windings_json(path, windings)
    bad = tmp_path / "bad.json"
    bad.write_text('{"windings": {"name": "x", "wings": 3}}')
    with pytest.raises(CoilModelError, match="not a usable coil winding file"):
        load_coil(bad)
