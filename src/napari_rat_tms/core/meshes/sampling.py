"""Points spread evenly over a set: farthest-point sampling (Eldar et al. 1997, IEEE Trans Image
Process 6:1305), used to choose the E-field dock's arrows and the neurons of the threshold maps."""

from __future__ import annotations

import numpy as np

__all__ = ["spread_indices"]


def spread_indices(points, n: int) -> np.ndarray:
    """``n`` indices of ``points`` (P, 3) spread evenly (farthest-point sampling from the first
    point), sorted; all of them when there are at most ``n``."""
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    if len(points) <= n:
        return np.arange(len(points))
    chosen = np.empty(n, dtype=np.int64)
    chosen[0] = 0
    distance = np.linalg.norm(points - points[0], axis=1)
    for k in range(1, n):
        chosen[k] = int(np.argmax(distance))
        distance = np.minimum(distance, np.linalg.norm(points - points[chosen[k]], axis=1))
    return np.sort(chosen)
