"""SimNIBS .ccd coil files: measured coil models from ../shared (skipped without it), bad files."""

import numpy as np
import pytest

from napari_rat_tms.core.coils import CoilModelError, read_ccd
from tests.conftest import shared_data_or_skip


@pytest.mark.parametrize("name,count", [("MagVenture_Cool-B35.ccd", 1001), ("Magstim_70mm_Fig8.ccd", 2712)])
def test_shared_coil_models(name, count):
    coil, meta = read_ccd(shared_data_or_skip("coils", name))
    assert coil.n_dipoles == count
    # figure-of-eight: two wings of opposite net moment, the coil's footprint a few cm
    extent = coil.positions_m.max(0) - coil.positions_m.min(0)
    assert 0.05 < extent[0] < 0.2
    assert abs(coil.moments_m2[:, 2].sum()) < 0.05 * np.abs(coil.moments_m2[:, 2]).sum()
    if name.startswith("MagVenture"):
        assert meta["coilname"] == "Cool-B35" and float(meta["dIdtmax"]) == pytest.approx(141.28)


def test_round_trip_of_a_written_file(tmp_path):
    rows = np.array([[0.01, 0, -0.005, 0, 0, 1e-5], [-0.01, 0, -0.005, 0, 0, -1e-5]])
    path = tmp_path / "two.ccd"
    path.write_text("# test;coilname=two dipoles;dIdtmax=100;\n2\n# centers and weighted directions\n"
                    + "\n".join(" ".join(f"{v:.6e}" for v in row) for row in rows) + "\n")
    coil, meta = read_ccd(path)
    assert coil.name == "two dipoles"
    np.testing.assert_allclose(coil.positions_m, rows[:, :3])
    np.testing.assert_allclose(coil.moments_m2, rows[:, 3:])


@pytest.mark.parametrize("text", ["", "# header\nnot a number\n#\n", "# h\n3\n# c\n0 0 0 0 0 1\n", "# h\n1\n# c\n0 0 0 1\n"])
def test_bad_files_raise_a_clear_error(tmp_path, text):
    path = tmp_path / "bad.ccd"
    path.write_text(text)
    with pytest.raises(CoilModelError, match="bad.ccd"):
        read_ccd(path)


def test_write_read_round_trip_keeps_dipoles_and_every_header_key(tmp_path):
    from napari_rat_tms.core.coils import mc_b35, write_ccd

    coil = mc_b35("low")
    meta = {"dIdtmax": "141.28", "stimulator": "MagPro X100", "lab_note": "calibrated"}
    path = write_ccd(tmp_path / "b35.ccd", coil, meta)
    with pytest.warns(UserWarning, match="lab_note"):   # unknown key: kept, with a warning
        back, back_meta = read_ccd(path)
    np.testing.assert_allclose(back.positions_m, coil.positions_m, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(back.moments_m2, coil.moments_m2, rtol=1e-9, atol=1e-18)
    assert back_meta == {"coilname": coil.name, **meta}
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_ccd(path, coil)
    assert path.read_bytes() == before  # the refusal leaves the file as it was
    write_ccd(path, coil, back_meta, overwrite=True)


def test_shared_files_round_trip(tmp_path):
    from napari_rat_tms.core.coils import write_ccd

    coil, meta = read_ccd(shared_data_or_skip("coils", "MagVenture_MC-B70.ccd"))
    back, back_meta = read_ccd(write_ccd(tmp_path / "x.ccd", coil, meta))
    np.testing.assert_allclose(back.positions_m, coil.positions_m, rtol=1e-9)
    assert back_meta == meta


def test_positions_in_millimetres_are_refused(tmp_path):
    path = tmp_path / "mm.ccd"
    path.write_text("# h;coilname=x;\n1\n# c\n10.0 0 -5 0 0 1e-5\n")
    with pytest.raises(CoilModelError, match="millimetres"):
        read_ccd(path)


@pytest.mark.parametrize("name", ["MagVenture_Cool-B35.ccd", "MagVenture_MC-B70.ccd", "Magstim_70mm_Fig8.ccd"])
def test_shared_coils_give_sensible_fields(name):
    from napari_rat_tms.core.coils import primary_efield

    coil, _ = read_ccd(shared_data_or_skip("coils", name))
    # figure-of-eights: the induced current under the centre runs along the wings' common axis (y)
    assert abs(coil.current_direction[1]) > np.cos(np.radians(2.0))
    # 10 mm in front of the casing, per A/us: 1.8 (Cool-B35), 2.7 (MC-B70), 3.0 V/m (Magstim 70 mm);
    # human figure-of-eights give ~100-200 V/m at 1 cm at 50-100 A/us
    e10, e20 = np.linalg.norm(primary_efield([[0, 0, 0.01], [0, 0, 0.02]], coil, 1e6), axis=1)
    assert 1.0 < e10 < 5.0 and e20 < e10
