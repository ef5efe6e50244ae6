"""Exports of the E-field on the cortex (core.fields.export): read back, units, provenance, no overwrite."""

import json

import numpy as np
import pytest

from napari_rat_tms.core.fields.export import field_provenance, write_surface_field
from napari_rat_tms.core.meshes.io import read_surface_file
from napari_rat_tms.core.meshes.primitives import icosphere

SURFACE = icosphere(7e-3, 2, name="cortex")
FIELD = np.random.default_rng(3).normal(size=(SURFACE.n_vertices, 3)) * 40.0
PROVENANCE = field_provenance(model="3C", coil="MC-B35", didt_a_per_us=50.0,
                              placement={"centre_mm": np.array([1.0, 2.0, 3.0])})


def _components():
    n = SURFACE.vertex_normals
    normal = np.einsum("ij,ij->i", FIELD, n)
    return np.linalg.norm(FIELD, axis=1), normal, np.linalg.norm(FIELD - normal[:, None] * n, axis=1)


def test_csv_holds_positions_in_mm_the_field_its_components_and_the_provenance(tmp_path):
    path, = write_surface_field(tmp_path / "e.csv", SURFACE, FIELD, provenance=PROVENANCE)
    data = np.loadtxt(path, delimiter=",")
    magnitude, normal, tangential = _components()
    np.testing.assert_allclose(data[:, :3], SURFACE.vertices_m * 1e3, rtol=1e-8)
    np.testing.assert_allclose(data[:, 3], magnitude, rtol=1e-8)
    np.testing.assert_allclose(data[:, 4:7], FIELD, rtol=1e-8, atol=1e-7)
    np.testing.assert_allclose(data[:, 7], normal, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(data[:, 8], tangential, rtol=1e-7, atol=1e-6)
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    assert '# model: "3C"' in header and any("napari-rat-tms" in line for line in header)
    assert '# placement: {"centre_mm": [1.0, 2.0, 3.0]}' in header
    assert header[-1].startswith("# columns: x_mm,y_mm,z_mm,magnitude_V_per_m")


def test_vtk_and_ply_reopen_with_the_magnitude_and_keep_the_vectors(tmp_path):
    magnitude, _, _ = _components()
    vtk, sidecar = write_surface_field(tmp_path / "e.vtk", SURFACE, FIELD, provenance=PROVENANCE)
    found = read_surface_file(vtk)       # the plugin's reader: napari opens it as a Surface with |E|
    np.testing.assert_allclose(found.surface.vertices_m, SURFACE.vertices_m, rtol=1e-12)
    np.testing.assert_allclose(found.values, magnitude, rtol=1e-8)
    text = vtk.read_text()
    assert "VECTORS E_V_per_m double" in text and "SCALARS E_normal_V_per_m double 1" in text
    assert json.loads(sidecar.read_text())["coil"] == "MC-B35"
    ply, = write_surface_field(tmp_path / "e.ply", SURFACE, FIELD, provenance=PROVENANCE)
    found = read_surface_file(ply)
    np.testing.assert_allclose(found.values, magnitude, rtol=1e-12)
    import trimesh

    mesh = trimesh.load(ply, process=False)
    raw = mesh.metadata["_ply_raw"]["vertex"]["data"]
    np.testing.assert_allclose(np.column_stack([raw["ex"], raw["ey"], raw["ez"]]), FIELD, rtol=1e-12)
    assert b'comment didt_a_per_us: 50.0' in ply.read_bytes()[:2000]


def test_nothing_is_overwritten_and_bad_fields_are_refused(tmp_path):
    path = tmp_path / "e.vtk"
    write_surface_field(path, SURFACE, FIELD)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="nothing was written"):
        write_surface_field(path, SURFACE, 2 * FIELD)
    assert path.read_bytes() == before
    write_surface_field(path, SURFACE, 2 * FIELD, overwrite=True)
    assert path.read_bytes() != before
    with pytest.raises(ValueError, match="use one of .vtk, .ply, .csv"):
        write_surface_field(tmp_path / "e.stl", SURFACE, FIELD)
    with pytest.raises(ValueError, match="expected"):
        write_surface_field(tmp_path / "f.csv", SURFACE, FIELD[:-1])
    with pytest.raises(ValueError, match="NaN"):
        write_surface_field(tmp_path / "g.csv", SURFACE, FIELD * np.nan)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.vtk", "e.vtk.json"]
