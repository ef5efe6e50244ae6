"""Uniform-field estimator (direction_map.py): symmetric maps, interpolation, save/load."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_rat_tms.core.neurons.simple_cells import straight_myelinated_axon
from napari_rat_tms.core.neurons.direction_map import (DirectionMap, compute_direction_map, estimate,
                                                       load_direction_map)
from napari_rat_tms.core.neurons.threshold import activation_threshold
from napari_rat_tms.core.neurons.waveforms import monophasic_pulse


@pytest.fixture(scope="module")
def axon_map():
    axon = straight_myelinated_axon(1500.0, 1.5)
    reports = []
    result = compute_direction_map(axon, monophasic_pulse(), n_polar=5, n_azimuth=4,
                                   search_range_v_per_m=(5.0, 5e3), progress=lambda f, m: reports.append(f))
    return axon, result, reports


def test_straight_axon_map_is_symmetric(axon_map):
    _, dmap, reports = axon_map
    t = dmap.threshold_v_per_m
    assert t.shape == (5, 4) and reports[-1] == 1.0
    # theta and pi - theta: the axon's two ends are alike
    assert np.allclose(t[1], t[3], rtol=0.02) and t[0, 0] == pytest.approx(t[4, 0], rel=0.02)
    # rotation about the axon's axis changes nothing
    assert np.allclose(t[1], t[1, 0], rtol=0.02)
    # transverse field: no threshold; oblique: the axial component |E| cos(theta) acts
    assert np.all(np.isinf(t[2])) and len(dmap.metadata["not_found"]) == 4
    assert t[1, 0] == pytest.approx(t[0, 0] / math.cos(math.pi / 4), rel=0.03)


def test_estimate_interpolates_the_map(axon_map):
    axon, dmap, _ = axon_map
    # on a grid direction the estimate is the map's threshold / |E|
    e = 40.0 * np.array([math.sin(math.pi / 4), 0.0, math.cos(math.pi / 4)])
    assert estimate(dmap, e) == pytest.approx(dmap.threshold_v_per_m[1, 0] / 40.0, rel=1e-12)
    # between grid directions: bilinear interpolation of 1/T in (theta, phi), by hand
    theta, phi = math.radians(20.0), 0.3
    e = 50.0 * np.array([math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta)])
    t = dmap.threshold_v_per_m
    u, v = theta / (math.pi / 4), phi / (math.pi / 2)
    by_hand = 1.0 / ((1 - u) * (1 - v) / t[0, 0] + (1 - u) * v / t[0, 1]
                     + u * (1 - v) / t[1, 0] + u * v / t[1, 1])
    assert estimate(dmap, e) == pytest.approx(by_hand / 50.0, rel=1e-12)
    # the simulation follows the cable-theory law T(theta) = T(0) / cos(theta) for a straight axon;
    # the 45 degree grid interpolates it within 10 %
    simulated = activation_threshold(axon, e, monophasic_pulse()).threshold_amplitude
    assert simulated == pytest.approx(t[0, 0] / (50.0 * math.cos(theta)), rel=0.02)
    assert estimate(dmap, e) == pytest.approx(simulated, rel=0.10)
    # periodic in azimuth, several fields at once, transverse = inf
    many = estimate(dmap, np.array([[1.0, -1e-9, 1.0], [1.0, 1e-9, 1.0], [1.0, 0.0, 0.0]]))
    assert many[0] == pytest.approx(many[1], rel=1e-6) and np.isinf(many[2])


def test_save_and_load_round_trip(axon_map, tmp_path):
    _, dmap, _ = axon_map
    path = dmap.save(tmp_path / "axon_map.npz")
    loaded = load_direction_map(path)
    assert np.array_equal(loaded.threshold_v_per_m, dmap.threshold_v_per_m)
    assert loaded.cell_name == "straight_axon" and loaded.pulse["name"] == "monophasic"
    assert loaded.metadata["threshold_arguments"]["search_range_v_per_m"] == [5.0, 5e3]
    bad = tmp_path / "bad.npz"
    np.savez(bad, something=np.zeros(3))
    with pytest.raises(ValueError, match="not a readable direction map"):
        load_direction_map(bad)


def test_map_validation():
    with pytest.raises(ValueError, match="polar_rad"):
        DirectionMap(np.array([0.0, 1.0]), np.array([0.0]), np.ones((2, 1)), "c", {})
    with pytest.raises(ValueError, match="positive"):
        DirectionMap(np.array([0.0, math.pi]), np.array([0.0]), np.zeros((2, 1)), "c", {})
