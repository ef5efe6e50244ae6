"""The threshold map's settings (core/neurons/map_settings.py): checked when made, stored exactly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.neurons.map_settings import ThresholdMapSettings


def test_round_trip_and_frozen():
    settings = ThresholdMapSettings(model="1C", morphologies=["a/L23_PC.swc"], n_neurons=5.0, sites="hotspot",
                                    hotspot_fraction=0.25, pulse="biphasic", channels="hay2011", method="cnn")
    assert settings.morphologies == ("a/L23_PC.swc",) and settings.n_neurons == 5
    assert ThresholdMapSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.n_neurons = 3


@pytest.mark.parametrize("change, message", [
    ({"model": "sphere"}, "BEM head model"),
    ({"sites": "everywhere"}, "sites must be one of"),
    ({"n_neurons": 0}, "n_neurons"),
    ({"n_neurons": 2.5}, "whole number"),
    ({"hotspot_fraction": 1.5}, "hotspot_fraction"),
    ({"method": "guess"}, "method must be one of"),
    ({"ball_and_stick": False}, "no cell type"),
    ({"processes": "yes"}, "true or false"),
])
def test_bad_settings_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        ThresholdMapSettings(**change)
    with pytest.raises(ValueError, match="unknown"):
        ThresholdMapSettings.from_dict({"neurons": 3})


def test_neuron_sites_spread_or_under_the_hotspot():
    cortex = icosphere(0.005, subdivisions=2)
    vertices, azimuths = ThresholdMapSettings(n_neurons=6).neuron_sites(cortex)
    assert len(set(vertices.tolist())) == 6 and azimuths.shape == (6,)
    norm = cortex.vertices_m[:, 2] - cortex.vertices_m[:, 2].min()      # |E| growing to the top
    efield = norm[:, None] * np.array([0.6, 0.0, -0.8])
    hot = ThresholdMapSettings(n_neurons=4, sites="hotspot").neuron_sites(cortex, efield)[0]
    assert np.all(norm[hot] >= 0.5 * norm.max())
    with pytest.raises(ValueError, match="need"):
        ThresholdMapSettings(sites="hotspot").neuron_sites(cortex)
