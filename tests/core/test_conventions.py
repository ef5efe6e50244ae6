"""The one convention for head-surface names (core/conventions.py): every step uses it."""

from __future__ import annotations

from napari_rat_tms.core.conventions import HEAD_SURFACES, surface_file_stem, surface_from_file_stem
from napari_rat_tms.core.fields import MODEL_KINDS


def test_model_kinds_and_styles_use_the_head_surface_names():
    for kind in MODEL_KINDS.values():
        assert set(kind.surfaces_with_cortex) <= set(HEAD_SURFACES), kind.name
        assert kind.skull is None or kind.skull in HEAD_SURFACES
    from napari_rat_tms.viewer.layers import SURFACE_STYLE

    assert tuple(SURFACE_STYLE) == HEAD_SURFACES


def test_file_stems_round_trip():
    for name in HEAD_SURFACES:
        assert surface_from_file_stem(surface_file_stem(name)) == name and " " not in surface_file_stem(name)



def test_units_for_people():
    from napari_rat_tms.core.conventions import format_didt, format_mso

    assert format_didt(72.444) == "72.4 A/µs" and format_didt(float("nan")) == "-"
    assert format_mso(51.26) == "51.3 % MSO" and format_mso(5130.4) == "5,130 % MSO"
    assert format_mso(float("inf")) == "-"
