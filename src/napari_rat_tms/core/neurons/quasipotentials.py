"""Quasipotentials: the E-field along a neuron's morphology as an extracellular potential.

The TMS-induced E-field is not curl-free (its primary part is ``-dA/dt``), so it has no potential
in general; but along a cable only the component along the neurite acts on the membrane (the
activating function), and the integral of E along the branching morphology from the root defines a
"quasipotential" that reproduces it exactly on the discretised tree (Wang et al. 2018 J Neural Eng
15:026031; Aberra et al. 2018 J Neural Eng 15:066023; seed 000 and physics notes section 8)::

    psi_root  = -E_root . r_root
    psi_child = psi_parent - 0.5 (E_parent + E_child) . (r_child - r_parent)     (trapezoidal rule)

``psi`` (V) is applied as the extracellular potential of each compartment (NEURON's
``extracellular`` mechanism). For a uniform field the result is exactly ``psi = -E . r`` (the
root's constant is chosen for that), whatever the tree; for a field linear in position the
trapezoidal rule is exact on each straight parent-child step.
"""

from __future__ import annotations

import numpy as np

__all__ = ["quasipotentials", "tree_depths"]


def tree_depths(parents) -> np.ndarray:
    """Depth of each node of a forest given its parent indices (root: -1): the number of steps to
    its root. Raises ``ValueError`` for indices out of range, a node that is its own parent, or a
    cycle. Level by level from the roots: O(N log N) numpy work."""
    parents = np.asarray(parents)
    return _depths_by_levels(_checked_parents(parents, parents.size if parents.ndim == 1 else -1))


def _depths_by_levels(parents):
    """Exact depths by walking level by level from the roots (also detects cycles)."""
    n = parents.size
    depth = np.full(n, -1, dtype=np.int64)
    frontier = np.flatnonzero(parents == -1)
    depth[frontier] = 0
    # children lists via sorting by parent
    order = np.argsort(parents, kind="stable")
    sorted_parents = parents[order]
    level = 0
    while frontier.size:
        level += 1
        lo = np.searchsorted(sorted_parents, frontier, side="left")
        hi = np.searchsorted(sorted_parents, frontier, side="right")
        counts = hi - lo
        if counts.sum() == 0:
            break
        starts = np.repeat(lo, counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        children = order[starts + offsets]
        depth[children] = level
        frontier = children
    if np.any(depth < 0):
        raise ValueError("parents contains a cycle (some nodes are not reachable from a root)")
    return depth


def quasipotentials(positions_m, parents, efield_v_per_m) -> np.ndarray:
    """Quasipotential (V) of each compartment (module docstring: the trapezoidal integral of E).

    ``positions_m``: (N, 3) compartment (segment-centre) positions, metres. ``parents``: (N,)
    index of each compartment's parent, -1 for a root (a forest is allowed; each root gets
    ``-E_root . r_root``). ``efield_v_per_m``: (N, 3) E at each compartment (V/m), or (3,) for a
    uniform field. Any order of the compartments is accepted. A non-finite position or field raises
    ``ValueError`` naming the first bad compartment.
    """
    positions = np.asarray(positions_m, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions_m must have shape (N, 3), got {positions.shape}")
    n = positions.shape[0]
    parents = np.asarray(parents)
    if parents.shape != (n,):
        raise ValueError(f"parents must have shape ({n},), got {parents.shape}")
    efield = np.asarray(efield_v_per_m, dtype=float)
    if efield.shape == (3,):
        efield = np.broadcast_to(efield, (n, 3))
    if efield.shape != (n, 3):
        raise ValueError(f"efield_v_per_m must have shape (3,) or ({n}, 3), got {efield.shape}")
    for name, array in (("positions_m", positions), ("efield_v_per_m", efield)):
        bad = ~np.all(np.isfinite(array), axis=1)
        if np.any(bad):
            raise ValueError(f"{name} is not finite at {int(bad.sum())} compartment(s), first index "
                             f"{int(np.flatnonzero(bad)[0])}")
    depth = _depths_by_levels(_checked_parents(parents, n))
    psi = np.empty(n)
    roots = parents == -1
    psi[roots] = -np.einsum("ij,ij->i", efield[roots], positions[roots])
    children = ~roots
    p = parents[children]
    increment = np.zeros(n)
    increment[children] = -0.5 * np.einsum("ij,ij->i", efield[p] + efield[children],
                                           positions[children] - positions[p])
    # accumulate level by level (each level depends only on the previous one)
    order = np.argsort(depth, kind="stable")
    level_bounds = np.searchsorted(depth[order], np.arange(1, depth.max() + 2))
    for start, stop in zip(level_bounds[:-1], level_bounds[1:]):
        idx = order[start:stop]
        psi[idx] = psi[parents[idx]] + increment[idx]
    return psi


def _checked_parents(parents, n):
    if parents.ndim != 1 or not np.issubdtype(parents.dtype, np.integer):
        raise ValueError("parents must be a 1D integer array (root: -1)")
    if np.any((parents < -1) | (parents >= n)):
        raise ValueError(f"parents must be -1 or an index in [0, {n})")
    if np.any(parents == np.arange(n)):
        raise ValueError("a compartment cannot be its own parent")
    if n and not np.any(parents == -1):
        raise ValueError("parents has no root (-1): the tree has a cycle")
    return parents.astype(np.int64)
