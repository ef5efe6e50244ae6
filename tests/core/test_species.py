"""Species defaults: one place, applied by the job, overridable."""

import pytest

from napari_rat_tms.core.job import DEMO_MESHING, JobError, JobParameters
from napari_rat_tms.core.segmentation import SegmentationParameters
from napari_rat_tms.core.species import species_defaults


def test_rat_defaults_are_seed_003s():
    rat = species_defaults("rat")
    seg = SegmentationParameters()
    # the segmentation's own defaults are the seed's (rat): the species adds only the check of the
    # eyes against the rat's eye sizes (none without a species)
    for key, value in rat.segmentation_defaults().items():
        if key == "eye_diameter_mm":
            assert seg.eye_diameter_mm is None and value == (5.0, 7.0)
            continue
        assert getattr(seg, key) == value, key
    assert rat.seed_meshing == {"body_edge_mm": 1.4, "skull_edge_mm": 0.67, "eye_edge_mm": 0.5,
                                "cortex_points": 2000}
    assert rat.grid_extent_mm == (15.0, 10.0) and rat.grid_shape == (7, 5)
    assert JobParameters().meshing == DEMO_MESHING == rat.meshing


def test_mouse_lengths_are_smaller():
    rat, mouse = species_defaults("rat"), species_defaults("mouse")
    for key in ("eye_cube_mm", "eye_median_mm", "eye_opening_radius_mm", "body_closing_radius_mm"):
        assert getattr(mouse, key) < getattr(rat, key), key
    for key in ("body_edge_mm", "skull_edge_mm", "eye_edge_mm"):
        assert mouse.meshing[key] < rat.meshing[key], key
    assert mouse.grid_extent_mm[0] < rat.grid_extent_mm[0] and mouse.eye_diameter_mm[1] < rat.eye_diameter_mm[0]


def test_job_takes_the_species_defaults_and_the_users_values():
    mouse = species_defaults("mouse")
    params = JobParameters.from_dict({"species": "mouse"})
    assert params.meshing == mouse.meshing and params.grid_extent_mm == tuple(mouse.grid_extent_mm)
    seg = params.segmentation_parameters()
    assert seg.eye_cube_mm == mouse.eye_cube_mm and seg.body_closing_radius_mm == mouse.body_closing_radius_mm
    # the user's value wins, the rest stays the species'
    params = JobParameters.from_dict({"species": "mouse", "meshing": {"skull_edge_mm": 0.4},
                                      "segmentation": {"eye_cube_mm": 5.0}, "grid_extent_mm": [8.0, 5.0]})
    assert params.meshing == {**mouse.meshing, "skull_edge_mm": 0.4}
    assert params.segmentation_parameters().eye_cube_mm == 5.0
    assert params.segmentation_parameters().eye_median_mm == mouse.eye_median_mm
    assert params.grid_extent_mm == (8.0, 5.0)


def test_unknown_species_is_refused():
    with pytest.raises(JobError, match="species must be"):
        JobParameters.from_dict({"species": "hamster"})
    with pytest.raises(ValueError, match="species must be"):
        species_defaults("hamster")
