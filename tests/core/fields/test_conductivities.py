"""User conductivities of the head models: used where the tissue exists, refused when unknown or not
positive, and a warning (not silence) when no chosen model contains the tissue."""

import numpy as np
import pytest

from napari_rat_tms.core.fields.head_models import (
    SEED_CONDUCTIVITIES,
    FieldModelError,
    check_conductivities,
    head_model,
)
from napari_rat_tms.core.job import JobError, JobParameters
from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.meshes.surface import TriangleSurface


def _surfaces():
    outer, inner = icosphere(9e-3, 2), icosphere(8.5e-3, 2).flipped()
    skull = TriangleSurface(np.vstack([outer.vertices_m, inner.vertices_m]),
                            np.vstack([outer.faces, inner.faces + outer.n_vertices]), "skull")
    return {"body": icosphere(12e-3, 2, name="body"), "skull": skull,
            "cortex": icosphere(7e-3, 2, name="cortex")}


def test_conductivities_reach_the_model_and_default_to_the_seed():
    default = head_model(_surfaces(), "2C")
    assert [(b.sigma_inside, b.sigma_outside) for b in default.boundaries] == [
        (SEED_CONDUCTIVITIES["body"], 0.0), (SEED_CONDUCTIVITIES["skull"], SEED_CONDUCTIVITIES["body"])]
    custom = head_model(_surfaces(), "2C", {"body": 0.4, "skull": 0.01})
    assert [(b.sigma_inside, b.sigma_outside) for b in custom.boundaries] == [(0.4, 0.0), (0.01, 0.4)]


def test_unknown_or_bad_values_are_refused_and_unused_tissues_are_warned_about():
    with pytest.raises(FieldModelError, match=r"unknown tissue\(s\) \['brain'\]"):
        check_conductivities({"brain": 0.3}, ["3C"])
    with pytest.raises(FieldModelError, match="positive number in S/m"):
        check_conductivities({"skull": -0.01}, ["3C"])
    assert check_conductivities({"eyes": 2.0, "skull": 0.01}, ["3C"]) == []
    warnings = check_conductivities({"eyes": 2.0, "skull": 0.01}, ["1C", "sphere"])
    assert warnings == ["the conductivity set for eyes (2 S/m) is not used: none of the models 1C, sphere "
                        "contains eyes",
                        "the conductivity set for skull (0.01 S/m) is not used: none of the models 1C, "
                        "sphere contains skull"]
    with pytest.raises(JobError, match="unknown tissue"):
        JobParameters.from_dict({"conductivities": {"scalp": 0.4}})
