"""The CNN's input: the local E-field grid in the neuron's frame (local_field.py).

Oracles: a linear field E(p) = E0 + G p, whose value at every grid point is known in closed form, in
the head frame and, rotated by the placement's R, in the cell frame; scaling the field (the grid is
normalised, the soma field scales); a half-space "brain" for the outside-points policy."""

import numpy as np
import pytest

from napari_rat_tms.core.neurons.cnn.local_field import (LocalFieldGrid, MissingFieldError,
                                                         sample_local_fields, samples_from_arrays)
from napari_rat_tms.core.neurons.cortex import CorticalNeuronPlacement, placement_rotation

E0 = np.array([30.0, -20.0, 80.0])                                   # V/m at the origin
G = np.array([[10.0, 2.0, 0.0], [0.0, -5.0, 3.0], [4.0, 0.0, 20.0]]) * 1e3   # V/m per m (10 V/m per mm)


def _placement(normal=(0.3, -0.4, 1.0), azimuth=0.7, soma=(1e-3, 2e-3, -0.5e-3), depth=1.0):
    r = placement_rotation(normal, azimuth)
    return CorticalNeuronPlacement(3, tuple(soma), tuple(r[:, 2]), azimuth, tuple(map(tuple, r)), "L5", depth)


def _linear(points):
    return E0 + np.asarray(points) @ G.T


def test_grid_geometry():
    grid = LocalFieldGrid(9, 1.5)
    offsets = grid.offsets_m()
    assert offsets.shape == (729, 3) and grid.spacing_mm == pytest.approx(0.1875)
    np.testing.assert_allclose(offsets[364], 0.0)                     # the centre is the soma
    np.testing.assert_allclose(offsets.min(axis=0), -0.75e-3)
    # C order over [i, j, k] = (x, y, z): the last index runs along z
    np.testing.assert_allclose(offsets[1] - offsets[0], [0.0, 0.0, 0.1875e-3])
    np.testing.assert_allclose(offsets[81] - offsets[0], [0.1875e-3, 0.0, 0.0])
    with pytest.raises(ValueError, match="odd"):
        LocalFieldGrid(8)


def test_rotated_neuron_in_a_linear_field_gives_the_cell_frame_channels():
    p = _placement()
    grid = LocalFieldGrid(9, 2.0)
    samples = sample_local_fields([p], _linear, grid)
    r = p.rotation_matrix
    e_soma = r.T @ _linear(p.soma[None])[0]
    np.testing.assert_allclose(samples.e_soma_v_per_m[0], e_soma)
    offsets = grid.offsets_m()
    expected = (_linear(p.soma + offsets @ r.T) @ r) / np.linalg.norm(e_soma)      # R^T E at each point
    got = samples.channels[0].reshape(3, -1).T
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # the cell-frame gradient along the grid's k axis is R^T G R e_z (the somatodendritic axis)
    step = grid.spacing_mm * 1e-3
    dk = (samples.channels[0][:, 4, 4, 5] - samples.channels[0][:, 4, 4, 4]) * np.linalg.norm(e_soma) / step
    np.testing.assert_allclose(dk, r.T @ G @ r[:, 2], rtol=1e-4)
    assert samples.mask.all() and samples.network_input().shape == (1, 4, 9, 9, 9)
    np.testing.assert_allclose(np.linalg.norm(samples.channels[0][:, 4, 4, 4]), 1.0, rtol=1e-6)


def test_normalisation_removes_the_field_scale():
    ps = [_placement(), _placement(normal=(0, 1, 0.2), azimuth=2.0)]
    a = sample_local_fields(ps, _linear)
    b = sample_local_fields(ps, lambda q: 7.0 * _linear(q))
    np.testing.assert_allclose(a.channels, b.channels, rtol=1e-6)
    np.testing.assert_allclose(b.e_soma_norm_v_per_m, 7.0 * a.e_soma_norm_v_per_m)


def test_points_outside_the_brain_get_zero_and_mask_zero():
    p = _placement(normal=(0, 0, 1), azimuth=0.0, soma=(0.0, 0.0, -0.5e-3))
    grid = LocalFieldGrid(9, 1.5)
    z = grid.axis_mm() * 1e-3 - 0.5e-3                                  # head z of the k layers
    n_out = int((z >= 0).sum())                                         # above the pia (z = 0)
    for kwargs, fn in (({"inside": lambda q: q[:, 2] < 0}, _linear),
                       ({}, lambda q: np.where(q[:, 2:3] < 0, _linear(q), np.nan))):  # NaN: outside
        s = sample_local_fields([p], fn, grid, **kwargs)
        assert n_out == 2 and (~s.mask[0]).sum() == n_out * 81
        assert np.all(s.mask[0][:, :, :-n_out]) and not np.any(s.mask[0][:, :, -n_out:])
        assert np.all(s.channels[0][:, :, :, -n_out:] == 0)
        assert np.all(s.network_input()[0, 3] == s.mask[0])
    # too much of the grid outside, or the soma outside
    with pytest.raises(MissingFieldError, match="% of its 9\\^3 grid lies outside"):
        sample_local_fields([p], _linear, grid, inside=lambda q: q[:, 2] < -0.4e-3,
                            max_outside_fraction=0.2)
    with pytest.raises(MissingFieldError, match="soma lies outside"):
        sample_local_fields([p], _linear, grid, inside=lambda q: q[:, 2] < -0.6e-3)


def test_missing_values_inside_the_tissue_raise():
    p = _placement()

    def holes(q):
        e = _linear(q)
        e[::50] = np.nan                                               # missing, though inside
        return e

    with pytest.raises(MissingFieldError, match="inside the tissue"):
        sample_local_fields([p], holes, inside=lambda q: np.ones(len(q), bool))
    grid = LocalFieldGrid(5, 1.0)
    raw = np.ones((2, 3, 5, 5, 5))
    raw[1, 0, 0, 0, 0] = np.nan
    with pytest.raises(MissingFieldError, match="missing values"):
        samples_from_arrays(grid, raw)
    mask = np.ones((2, 5, 5, 5), bool)
    mask[1, 0, 0, 0] = False                                           # marked outside: allowed, set to 0
    s = samples_from_arrays(grid, raw, mask)
    assert s.channels[1, 0, 0, 0, 0] == 0 and not s.mask[1, 0, 0, 0]
