"""The seed's model family from named surfaces, on spheres where the field is known analytically."""

import numpy as np
import pytest

from napari_rat_tms.core.bem.sphere_model import sphere_efield
from napari_rat_tms.core.coils import figure_eight_coil
from napari_rat_tms.core.fields import FieldModelError, build_field_model, head_model
from napari_rat_tms.core.fields.head_models import _split_eyes
from napari_rat_tms.core.meshes.primitives import holed_spherical_shell, icosphere
from napari_rat_tms.core.meshes.surface import TriangleSurface
from napari_rat_tms.core.metrics import correlation_error, relative_error


@pytest.fixture(scope="module")
def surfaces():
    skull = holed_spherical_shell(0.009, 0.010, 0.003, subdivisions=3, axis=(0, 0, -1), name="skull")
    left = icosphere(0.0012, 2, name="l").translated([-0.0035, 0.0, -0.011])
    right = icosphere(0.0012, 2, name="r").translated([0.0035, 0.0, -0.011])
    eyes = TriangleSurface(np.vstack([left.vertices_m, right.vertices_m]),
                           np.vstack([left.faces, right.faces + left.n_vertices]), "eyes")
    return {"body": icosphere(0.014, 3, name="body"), "skull": skull,
            "skull without spine": TriangleSurface(skull.vertices_m, skull.faces, "skull without spine"),
            "eyes": eyes, "cortex": icosphere(0.007, 2, name="cortex")}


@pytest.fixture(scope="module")
def coil_on_top():
    coil = figure_eight_coil(20.0, 40.0, 10, casing_to_winding_mm=1.0).dipoles("low")
    return coil.transformed(np.diag([1.0, -1.0, -1.0]), [0.0, 0.0, 0.015])  # z into the head = -z here


def test_model_family(surfaces):
    assert [b.name for b in head_model(surfaces, "1C").boundaries] == ["body"]
    assert [b.name for b in head_model(surfaces, "2C").boundaries] == ["body", "skull"]
    assert [b.name for b in head_model(surfaces, "2C*").boundaries] == ["body", "skull without spine"]
    three = head_model(surfaces, "3C")
    assert three.name == "3C" and len(three.boundaries) == 4          # body, skull, two eyes
    assert [b.sigma_inside for b in three.boundaries] == [0.33, 0.0066, 1.5, 1.5]
    assert len(_split_eyes(surfaces["eyes"])) == 2


def test_the_registry_says_what_each_bem_model_is_built_from(surfaces):
    """Every BEM kind of MODEL_KINDS builds a conductor from exactly its registered surfaces (eyes
    split into one compartment each) with the conductivity of each registered tissue; the sphere is
    the one analytic kind."""
    from napari_rat_tms.core.fields import BEM_MODEL_KINDS, MODEL_KINDS
    from napari_rat_tms.core.fields.head_models import SEED_CONDUCTIVITIES

    assert list(MODEL_KINDS) == ["3C", "2C", "2C*", "1C", "sphere"]
    assert BEM_MODEL_KINDS == ("3C", "2C", "2C*", "1C") and MODEL_KINDS["sphere"].analytic
    for kind in BEM_MODEL_KINDS:
        model = MODEL_KINDS[kind]
        conductor = head_model(surfaces, kind)
        names = [b.name for b in conductor.boundaries]
        expected = [s for s in model.surfaces if s != "eyes"] + (["eyes 1", "eyes 2"] if model.eyes else [])
        assert names == expected, kind
        sigmas = {SEED_CONDUCTIVITIES[t] for t in model.tissues}
        assert {b.sigma_inside for b in conductor.boundaries} == sigmas, kind


def test_1c_sphere_equals_the_analytic_field(surfaces, coil_on_top):
    # a homogeneous sphere: the BEM must give Heller & van Hulsteyn's closed form (physics notes 3)
    model = build_field_model(surfaces, "1C", dtype=np.float64)
    e = model.efield(coil_on_top, 1e8)
    exact = sphere_efield(model.points_m, coil_on_top, 1e8)
    assert relative_error(e, exact) < 0.03     # 642-vertex body; the BEM tests show the convergence


def test_sphere_model_is_fitted_to_the_inner_skull(surfaces, coil_on_top):
    model = build_field_model(surfaces, "sphere", up=[0.0, 0.0, 1.0])
    fit = model.solver.fit
    assert np.linalg.norm(fit.center_m) < 2e-4 and abs(fit.radius_m - 0.009) < 2e-4
    e = model.efield(coil_on_top, 1e8)
    exact = sphere_efield(model.points_m, coil_on_top, 1e8)
    assert relative_error(e, exact) < 0.02
    with pytest.raises(FieldModelError, match="up"):
        build_field_model(surfaces, "sphere")


def test_skull_and_eyes_change_the_field_but_not_its_pattern_much(surfaces, coil_on_top):
    one = build_field_model(surfaces, "1C").efield(coil_on_top, 1e8)
    three = build_field_model(surfaces, "3C").efield(coil_on_top, 1e8)
    # a closed-ish skull shell in a sphere changes little (the spherical field does not depend on the
    # radial profile); the bottom hole and the eyes perturb it a bit
    assert relative_error(three, one) < 0.2 and correlation_error(three, one) < 0.05


def test_missing_surfaces_and_unknown_kinds(surfaces):
    partial = {k: v for k, v in surfaces.items() if k != "eyes"}
    with pytest.raises(FieldModelError, match="needs the eyes"):
        head_model(partial, "3C")
    with pytest.raises(FieldModelError, match="unknown model"):
        head_model(surfaces, "4C")
    with pytest.raises(FieldModelError, match="analytic"):
        head_model(surfaces, "sphere")


def test_build_shares_follow_the_estimated_time():
    """Issue 25: the E-field dock's progress over several models moves with their estimated time:
    the analytic sphere gets the floor (1 %), a model with more unknowns a larger share."""
    from napari_rat_tms.core.fields.head_models import build_shares
    from napari_rat_tms.core.meshes.primitives import icosphere

    surfaces = {"body": icosphere(0.012, 3, name="body"), "skull": icosphere(0.010, 3, name="skull"),
                "skull without spine": icosphere(0.010, 3, name="skull without spine"),
                "cortex": icosphere(0.008, 2, name="cortex")}
    shares = build_shares(surfaces, ["sphere", "1C", "2C"])
    assert sum(shares) == pytest.approx(1.0)
    assert shares[0] < shares[1] < shares[2]          # 2C: twice 1C's unknowns, ~8x its LU
    assert 0.005 < shares[0] < 0.011                  # the floor: 1 % of the estimated total
    assert build_shares(surfaces, ["sphere"]) == [1.0]
