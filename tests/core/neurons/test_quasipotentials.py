"""Quasipotentials along a tree (quasipotentials.py): uniform and linear fields."""

from __future__ import annotations

import numpy as np
import pytest

from napari_rat_tms.core.neurons.quasipotentials import quasipotentials, tree_depths


def _random_tree(rng, n):
    parents = np.array([-1] + [int(rng.integers(0, i)) for i in range(1, n)])
    # shuffle the order so that parents do not always precede children
    perm = rng.permutation(n)
    new_index = np.argsort(perm)
    shuffled = np.where(parents[perm] >= 0, new_index[np.maximum(parents[perm], 0)], -1)
    positions = rng.normal(scale=300e-6, size=(n, 3))
    return shuffled, positions


def test_uniform_field_gives_minus_e_dot_r_on_a_random_tree():
    rng = np.random.default_rng(1)
    parents, positions = _random_tree(rng, 3000)
    efield = np.array([120.0, -45.0, 310.0])
    psi = quasipotentials(positions, parents, efield)
    assert np.max(np.abs(psi + positions @ efield)) < 1e-14 * np.max(np.abs(positions @ efield)) * 100
    # same with the field given per compartment
    psi2 = quasipotentials(positions, parents, np.tile(efield, (3000, 1)))
    assert np.array_equal(psi, psi2)


def test_linear_field_matches_the_exact_line_integral_along_a_straight_path():
    # E(r) = E0 + G r: along the straight segment from a to b the line integral of E is exactly
    # (E(a) + E(b))/2 . (b - a), so on a straight chain psi(end) - psi(start) is exact.
    rng = np.random.default_rng(2)
    e0 = np.array([50.0, -20.0, 80.0])
    gradient = rng.normal(scale=1e5, size=(3, 3))  # V/m per m
    start, end = np.array([1e-4, -2e-4, 0.5e-4]), np.array([-3e-4, 4e-4, 6e-4])
    s = np.sort(rng.uniform(0, 1, 40))
    s[0], s[-1] = 0.0, 1.0
    positions = start + s[:, None] * (end - start)
    parents = np.arange(-1, 39)
    efield = e0 + positions @ gradient.T
    psi = quasipotentials(positions, parents, efield)
    # exact: -int_0^1 E(start + t d) . d dt = -(E0 + G start + G d / 2) . d
    d = end - start
    exact = -(e0 + gradient @ start + 0.5 * gradient @ d) @ d
    assert psi[-1] - psi[0] == pytest.approx(exact, rel=1e-12)
    assert psi[0] == pytest.approx(-efield[0] @ positions[0])


def test_forest_and_depths():
    parents = np.array([-1, 0, 1, -1, 3, 3])
    assert list(tree_depths(parents)) == [0, 1, 2, 0, 1, 1]
    positions = np.arange(18, dtype=float).reshape(6, 3) * 1e-6
    psi = quasipotentials(positions, parents, [0.0, 0.0, 10.0])
    assert np.allclose(psi, -positions[:, 2] * 10.0)


@pytest.mark.parametrize("parents, message", [
    ([1, 2, 0], "no root"),
    ([-1, 2, 1], "cycle"),
    ([-1, 5, 0], r"index in \[0, 3\)"),
    ([-1, 1, 0], "own parent"),
])
def test_bad_trees_are_refused(parents, message):
    with pytest.raises(ValueError, match=message):
        quasipotentials(np.zeros((3, 3)), np.array(parents), [1.0, 0.0, 0.0])


def test_non_finite_field_names_the_compartment():
    efield = np.ones((4, 3))
    efield[2, 1] = np.nan
    with pytest.raises(ValueError, match="first index 2"):
        quasipotentials(np.zeros((4, 3)), np.array([-1, 0, 1, 2]), efield)
