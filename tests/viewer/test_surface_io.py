"""npe2 surface writer and reader: Surface layers saved in world millimetres and read back."""

from __future__ import annotations

import numpy as np
import pytest

from napari_rat_tms.core.meshes import icosphere
from napari_rat_tms.core.meshes.io import read_surface, read_surface_file, write_surface
from napari_rat_tms.viewer.surface_io import get_surface_reader, read_surface_layers, write_surface_layer

SCALE = (0.5, 0.25, 0.2)  # mm per data unit, like a voxel size
TRANSLATE = (1.0, -2.0, 3.0)  # mm


@pytest.fixture(scope="module")
def sphere():
    return icosphere(0.006, 2, center_m=(0.020, 0.018, 0.015), name="skull")


@pytest.fixture(scope="module")
def world_mm(sphere):
    return sphere.vertices_m * 1e3


@pytest.fixture(scope="module")
def data_coords(world_mm):
    """The layer's DATA coordinates that map to ``world_mm`` with SCALE and TRANSLATE."""
    return (world_mm - np.asarray(TRANSLATE)) / np.asarray(SCALE)


def _attributes(**extra):
    base = {"name": "skull", "scale": list(SCALE), "translate": list(TRANSLATE), "rotate": np.eye(3).tolist(),
            "shear": [0.0, 0.0, 0.0], "affine": np.eye(4), "metadata": {}}
    base.update(extra)
    return base


@pytest.mark.parametrize("suffix", [".vtk", ".stl", ".obj", ".ply", ".off", ".surf"])
def test_writer_maps_data_to_world_mm(tmp_path, sphere, world_mm, data_coords, suffix):
    path = str(tmp_path / f"skull{suffix}")
    assert write_surface_layer(path, (data_coords, sphere.faces), _attributes()) == [path]
    back = read_surface(path)
    tol = 1e-5 if suffix in (".stl", ".surf") else 1e-10  # float32 files: ~1e-6 mm at 30 mm
    np.testing.assert_allclose(np.sort(back.vertices_m * 1e3, axis=0), np.sort(world_mm, axis=0), atol=tol)


def test_writer_keeps_values_and_their_name(tmp_path, sphere, data_coords):
    values = np.linspace(-1.0, 2.0, sphere.n_vertices)
    path = str(tmp_path / "field.ply")
    attributes = _attributes(metadata={"values_name": "emag"})
    write_surface_layer(path, (data_coords, sphere.faces, values), attributes)
    found = read_surface_file(path)
    np.testing.assert_array_equal(found.values, values)
    assert found.values_name == "emag"
    # napari's default values (all ones) are not written
    write_surface_layer(path, (data_coords, sphere.faces, np.ones(sphere.n_vertices)), _attributes())
    assert read_surface_file(path).values is None
    # a format without values: the mesh is saved, with a warning
    with pytest.warns(UserWarning, match="cannot store the surface's per-vertex values"):
        write_surface_layer(str(tmp_path / "field.stl"), (data_coords, sphere.faces, values), _attributes())
    assert read_surface(tmp_path / "field.stl").n_faces == sphere.n_faces


def test_writer_replaces_existing_file(tmp_path, sphere, data_coords):
    """napari's save dialog asks before calling the writer: the writer itself overwrites."""
    path = tmp_path / "skull.vtk"
    path.write_text("old")
    write_surface_layer(str(path), (data_coords, sphere.faces), _attributes())
    assert read_surface(path).n_faces == sphere.n_faces


def test_writer_converts_length_units_to_mm(tmp_path, sphere, world_mm, data_coords):
    """A layer in micrometres: world = data x scale + translate, in um -> written /1000 in mm."""
    path = str(tmp_path / "um.obj")
    write_surface_layer(path, (data_coords, sphere.faces), _attributes(units=("micrometer",) * 3))
    np.testing.assert_allclose(read_surface(path).vertices_m * 1e3, world_mm / 1000, rtol=1e-12)


@pytest.mark.parametrize(
    "extra, match",
    [
        ({"rotate": [[0, -1, 0], [1, 0, 0], [0, 0, 1]]}, "rotate"),
        ({"shear": [0.1, 0.0, 0.0]}, "shear"),
        ({"affine": np.diag([2.0, 1.0, 1.0, 1.0])}, "affine"),
        ({"units": ("second",) * 3}, "not a length"),
    ],
)
def test_writer_refuses_transforms_it_cannot_apply(tmp_path, sphere, data_coords, extra, match):
    path = tmp_path / "s.vtk"
    with pytest.raises(ValueError, match=match):
        write_surface_layer(str(path), (data_coords, sphere.faces), _attributes(**extra))
    assert not path.exists()


def test_writer_refuses_non_3d(tmp_path, sphere):
    with pytest.raises(ValueError, match="only 3D surfaces"):
        write_surface_layer(str(tmp_path / "s.vtk"), (np.zeros((3, 2)), [[0, 1, 2]]), _attributes())


def test_reader_declines_what_is_not_a_surface(tmp_path, sphere):
    (tmp_path / "scan.nii").write_bytes(b"\x00" * 10)
    assert get_surface_reader(str(tmp_path / "scan.nii")) is None
    (tmp_path / "lh.thickness").write_bytes(b"\xff\xff\xff" + b"\x00" * 20)  # an overlay, not a surface
    assert get_surface_reader(str(tmp_path / "lh.thickness")) is None
    (tmp_path / "lh.sphere").write_bytes(b"\xff\xff\xff" + b"\x00" * 20)  # quad/curv magic: declined
    assert get_surface_reader(str(tmp_path / "lh.sphere")) is None
    assert get_surface_reader([str(tmp_path / "a.vtk"), str(tmp_path / "b.vtk")]) is None
    assert get_surface_reader(str(tmp_path)) is None
    write_surface(sphere, tmp_path / "lh.pial")
    assert get_surface_reader(str(tmp_path / "lh.pial")) is read_surface_layers
    assert get_surface_reader([str(tmp_path / "s.vtk")]) is read_surface_layers


def test_reader_gives_surface_layer_in_mm(tmp_path, sphere, world_mm):
    values = np.arange(sphere.n_vertices, dtype=float)
    path = write_surface(sphere, tmp_path / "skull.vtk", values=values, values_name="emag")
    [(data, kwargs, layer_type)] = get_surface_reader(str(path))(str(path))
    assert layer_type == "surface"
    vertices, faces, vals = data
    np.testing.assert_allclose(vertices, world_mm, rtol=1e-14)
    np.testing.assert_array_equal(faces, sphere.faces)
    np.testing.assert_array_equal(vals, values)
    assert kwargs["name"] == "skull"
    assert kwargs["metadata"]["coordinate_units"] == "mm"
    assert kwargs["metadata"]["format"] == "vtk"
    assert kwargs["metadata"]["values_name"] == "emag"
    assert kwargs["metadata"]["source_path"] == str(path)
    assert "millimetres" in kwargs["metadata"]["file_header"]
    [(data, _, _)] = read_surface_layers(str(write_surface(sphere, tmp_path / "skull.stl")))
    assert len(data) == 2  # no values in STL


def test_manifest_declares_writer_and_surface_reader():
    import npe2

    manifest = npe2.PluginManifest.from_distribution("napari-rat-tms")
    [writer] = [w for w in manifest.contributions.writers if w.command == "napari-rat-tms.write_surface"]
    assert writer.layer_types == ["surface"]
    assert set(writer.filename_extensions) == {".vtk", ".stl", ".obj", ".ply", ".off", ".surf"}
    assert writer.display_name == "Surface mesh (mm)"
    readers = {r.command: r for r in manifest.contributions.readers}
    assert "*.nii.gz" in readers["napari-rat-tms.get_reader"].filename_patterns  # µCT reader kept
    surface_patterns = set(readers["napari-rat-tms.get_surface_reader"].filename_patterns)
    assert {"*.vtk", "*.stl", "*.ply", "lh.*"} <= surface_patterns
    assert not {"*.vtk", "*.stl"} & set(readers["napari-rat-tms.get_reader"].filename_patterns)
    manifest.validate_imports()


@pytest.mark.parametrize("suffix", [".vtk", ".ply", ".stl"])
def test_save_and_reopen_through_the_viewer(viewer_or_skip, tmp_path, sphere, world_mm, data_coords, suffix):
    viewer = viewer_or_skip()
    values = np.linspace(0.0, 5.0, sphere.n_vertices)
    layer = viewer.add_surface((data_coords, sphere.faces, values), scale=SCALE, translate=TRANSLATE,
                               name="skull")
    np.testing.assert_allclose(layer.data_to_world(data_coords[0]), world_mm[0], rtol=1e-12)
    path = tmp_path / f"skull{suffix}"
    if suffix == ".stl":
        with pytest.warns(UserWarning, match="per-vertex values"):
            written = viewer.layers.save(str(path), plugin="napari-rat-tms")
    else:
        written = viewer.layers.save(str(path), plugin="napari-rat-tms")
    assert written == [str(path)] and path.is_file()

    [reopened] = viewer.open(str(path), plugin="napari-rat-tms")
    assert reopened._type_string == "surface"
    assert reopened.name.startswith("skull")  # napari adds " [1]" to a repeated name
    reopened_world = np.array([reopened.data_to_world(v) for v in reopened.data[0]])
    tol = 1e-5 if suffix == ".stl" else 1e-10
    if suffix == ".stl":  # vertices renumbered by the merge: compare as sets of points
        np.testing.assert_allclose(np.sort(reopened_world, axis=0), np.sort(world_mm, axis=0), atol=tol)
    else:
        np.testing.assert_allclose(reopened_world, world_mm, atol=tol)
        np.testing.assert_array_equal(reopened.data[1], sphere.faces)
        np.testing.assert_array_equal(reopened.data[2], values)
    # saving the reopened layer again reproduces the world coordinates (world = data, units mm)
    again = tmp_path / f"again{suffix}"
    viewer.layers.selection = {reopened}
    viewer.layers.save(str(again), selected=True, plugin="napari-rat-tms")
    np.testing.assert_allclose(np.sort(read_surface(again).vertices_m * 1e3, axis=0),
                               np.sort(world_mm, axis=0), atol=tol)
