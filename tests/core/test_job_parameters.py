"""The main job's parameters: one frozen, validated specification from the TOML file or the CLI to
the pipeline and the project folder (issue 23), checked before any work (issue 24)."""

import dataclasses
import json

import pytest

from napari_rat_tms.core.job import JobError, JobParameters


def test_frozen_and_changed_only_through_replace_which_validates_again():
    params = JobParameters(models=["1C"], grid_shape=[2, 2])
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.models = ("3C",)
    changed = dataclasses.replace(params, models=("2C", "1C"))
    assert changed.models == ("2C", "1C") and params.models == ("1C",)
    with pytest.raises(JobError, match="models"):
        dataclasses.replace(params, models=("4C",))


def test_a_project_restores_its_parameters_exactly():
    """to_dict -> JSON (as parameters.json) -> from_dict gives an equal object, with the species'
    defaults filled in, the user's segmentation settings kept as given and the meshing completed."""
    params = JobParameters.from_dict({
        "species": "mouse", "models": ["2C", "1C"], "segmentation": {"bone_threshold": 22, "spine_cut_normal": None},
        "meshing": {"skull_edge_mm": 0.4}, "grid_shape": [3, 2], "orientations_deg": [0, 90],
        "eye_points_mm": [[1, 2, 3], [4, 5, 6]], "landmarks_mm": {"bregma": [1, 2, 3]},
        "conductivities": {"skull": 0.01}})
    again = JobParameters.from_dict(json.loads(json.dumps(params.to_dict())))
    assert again == params
    assert params.segmentation == {"bone_threshold": 22.0, "spine_cut_normal": None}
    assert params.meshing["skull_edge_mm"] == 0.4 and params.meshing["body_edge_mm"] == params.defaults.meshing["body_edge_mm"]
    assert params.grid_shape == (3, 2) and params.orientations_deg == (0.0, 90.0)
    assert params.segmentation_parameters().bone_threshold == 22.0


@pytest.mark.parametrize("values, match", [
    ({"models": "3C"}, "list of model names"),
    ({"models": ["3C", "3C"]}, "distinct"),
    ({"segmentation": {"bone_treshold": 20}}, "segmentation: unknown segmentation parameter"),
    ({"segmentation": {"body_closing_radius_mm": -1}}, "segmentation: body_closing_radius_mm"),
    ({"segmentation": 3}, "segmentation must be a table"),
    ({"meshing": {"skull_edge": 0.4}}, "meshing: .*known settings"),
    ({"meshing": {"skull_edge_mm": 0}}, "skull_edge_mm must be a positive length"),
    ({"meshing": {"cortex_points": 2.5}}, "cortex_points"),
    ({"grid_shape": [7]}, "grid_shape must have 2"),
    ({"grid_shape": [7, 0]}, "grid_shape"),
    ({"grid_extent_mm": [15, "ten"]}, "grid_extent_mm must be a number"),
    ({"orientations_deg": []}, "orientations_deg"),
    ({"didt_a_per_us": 0}, "didt_a_per_us"),
    ({"voxel_size_mm": float("nan")}, "voxel_size_mm"),
    ({"eye_points_mm": [[1, 2]]}, "eye_points_mm must have 3"),
    ({"landmarks_mm": {"bregma": [1, 2, "x"]}}, "landmarks_mm.bregma"),
    ({"auto_eyes": "yes"}, "auto_eyes must be true or false"),
    ({"conductivities": {"scalp": 0.4}}, "unknown tissue"),
    ({"conductivities": {"skull": -1}}, "positive"),
    ({"species": "hamster"}, "species"),
    ({"scna": "x.nii"}, "unknown job parameters"),
    # issue 24: refused in milliseconds, no longer after minutes of segmentation and meshing
    ({"voxel_size_mm": 0.000141}, r"metres read as millimetres.*\(0\.141, 0\.141, 0\.141\)"),
    ({"voxel_size_mm": 141.0}, "micrometres read as millimetres"),
    ({"coil": "MC-B36"}, "neither a coil preset"),
    ({"coil": "no/such/coil.ccd"}, "does not exist"),
    ({"landmarks_mm": {"bregma": [0, 0, 0], "lambda": [0.2, 0, 0], "midline": [5, 5, 0]}},
     "landmarks_mm: bregma and lambda are 0.20 mm apart"),
    ({"landmarks_mm": {"bregma": [0, 0, 0], "lambda": [-8, 0, 0], "midline": [8, 0, 0]}},
     "landmarks_mm: the midline point is only 0.00 mm"),
    ({"landmarks_mm": {"bregma": [0, 0, 0], "lambda": [8, 0, 0], "midline": [12, 0, 3]},
      "eye_points_mm": [[10, 5, -2], [10, -5, -2]]}, "landmarks_mm: .*look swapped"),
])
def test_every_mistake_is_refused_when_the_parameters_are_made(values, match):
    with pytest.raises(JobError, match=match):
        JobParameters.from_dict(values)
