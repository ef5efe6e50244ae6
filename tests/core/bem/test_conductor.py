"""Volume conductor models: every kind of bad input is refused (or fixed) with a clear message."""

import warnings

import numpy as np
import pytest

from napari_rat_tms.core.bem.conductor import (
    SIGMA_BODY,
    SIGMA_EYE,
    SIGMA_SKULL,
    Boundary,
    VolumeConductor,
    nested_spheres,
    rat_head_model,
)
from napari_rat_tms.core.errors import ConductorModelError, MeshError
from napari_rat_tms.core.meshes.primitives import holed_spherical_shell, icosphere
from napari_rat_tms.core.meshes.surface import TriangleSurface


@pytest.fixture(scope="module")
def body():
    return icosphere(0.012, 3, name="body")


@pytest.fixture(scope="module")
def skull():
    return holed_spherical_shell(0.0095, 0.0105, 0.0018, 3, name="skull")


def test_two_compartment_model_with_a_holed_skull(body, skull):
    model = rat_head_model(body, skull)
    assert model.name == "2C"
    assert model.parents == (None, 0)
    assert model.n_vertices == body.n_vertices + skull.n_vertices
    # the cavity (brain) is body tissue, the shell bone, the hole (on +z) body again
    sigma = model.conductivity_at([[0, 0, 0], [0, 0, -0.0100], [0, 0, 0.0100], [0, 0, -0.0113], [0, 0, 0.013]])
    np.testing.assert_allclose(sigma, [SIGMA_BODY, SIGMA_SKULL, SIGMA_BODY, SIGMA_BODY, 0.0])  # +z: the hole


def test_three_compartment_model_with_eyes(body):
    eyes = [icosphere(0.002, 2, (x, 0.007, -0.002), name=f"eye {x}") for x in (-0.005, 0.005)]
    model = rat_head_model(body, None, eyes, name="body+eyes")
    assert model.parents == (None, 0, 0)
    assert model.conductivity_at([[-0.005, 0.007, -0.002]])[0] == SIGMA_EYE


def test_nested_spheres_report_their_structure():
    model = nested_spheres([0.0095, 0.0105, 0.012], [SIGMA_BODY, SIGMA_SKULL, SIGMA_BODY], subdivisions=2)
    assert model.parents == (1, 2, None)
    assert "3-shell" in repr(model)
    assert len(model.fingerprint()) == 64


@pytest.mark.parametrize("inside,outside,match", [
    (0.0, 0.0, "must be positive"),
    (-0.33, 0.0, "must be positive"),
    (0.33, -1.0, "positive or 0"),
    (float("nan"), 0.0, "not a finite number"),
    (0.33, 0.33, "same conductivity"),
])
def test_bad_conductivities_are_refused(body, inside, outside, match):
    with pytest.raises(ConductorModelError, match=match):
        VolumeConductor([Boundary(body, inside, outside)])


def test_inconsistent_nesting_conductivities_are_refused(body, skull):
    with pytest.raises(ConductorModelError, match="conductivity outside it must be 0.33"):
        VolumeConductor([Boundary(body, SIGMA_BODY, 0.0), Boundary(skull, SIGMA_SKULL, 1.0)])
    with pytest.raises(ConductorModelError, match="air"):
        VolumeConductor([Boundary(body, SIGMA_BODY, 0.2)])


def test_open_mesh_is_refused(body):
    open_body = TriangleSurface(body.vertices_m, body.faces[:-3], "open body")
    with pytest.raises(MeshError, match="open body"):
        VolumeConductor([Boundary(open_body, SIGMA_BODY, 0.0)])


def test_inward_normals_are_flipped_with_a_warning_or_refused(body):
    inward = body.flipped()
    with pytest.warns(UserWarning, match="pointed inwards"):
        model = VolumeConductor([Boundary(inward, SIGMA_BODY, 0.0)])
    assert model.boundaries[0].surface.enclosed_volume_m3 > 0
    with pytest.raises(MeshError, match="point inwards"):
        VolumeConductor([Boundary(inward, SIGMA_BODY, 0.0)], fix_orientation=False)


def test_self_intersecting_mesh_is_refused(body):
    # push one vertex through the opposite side of the sphere
    vertices = body.vertices_m.copy()
    vertices[0] = -1.3 * vertices[0]
    dented = TriangleSurface(vertices, body.faces, "dented body")
    with pytest.raises(MeshError, match="intersects itself"):
        VolumeConductor([Boundary(dented, SIGMA_BODY, 0.0)])


def test_intersecting_surfaces_are_refused(body):
    other = icosphere(0.006, 2, (0.009, 0, 0), name="bulging eye")
    with pytest.raises(ConductorModelError, match="intersect"):
        VolumeConductor([Boundary(body, SIGMA_BODY, 0.0), Boundary(other, SIGMA_EYE, SIGMA_BODY)])


def test_valid_models_raise_no_warning(body, skull):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rat_head_model(body, skull)
