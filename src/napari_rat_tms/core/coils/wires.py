"""Primary E-field of thin wires: the independent reference for the dipole coil models.

A coil's winding is a set of closed polylines carrying currents. A straight filament from ``a``
to ``b`` (length ``L``, unit direction ``u``) carrying current ``I`` has the vector potential
(Hanson & Hirshman 2002, Physics of Plasmas 9:4410, eq. 11; exact for a straight segment)::

    A(r) = (mu0 I / 4 pi) u ln[(R_a + R_b + L) / (R_a + R_b - L)],   R_a = |r - a|,  R_b = |r - b|

and the primary field of a current changing at ``dI/dt`` is ``E_p = -dA/dt`` (physics notes
section 2). Summing over many short segments of a closed wire gives the field of the wire path
itself, with no flux quadrature: comparing it with :func:`.dipoles.primary_efield` of the
dipoles built from the same winding checks the quadrature (the two agree far from the wires and
part where the dipole grid is too coarse for the distance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ..parallel import kernel_section
from .dipoles import MU0

__all__ = ["WirePath", "wire_primary_efield"]


@dataclass(frozen=True, eq=False)
class WirePath:
    """Closed wire loops in metres, each carrying a fraction of the coil current.

    Parameters
    ----------
    loops_m : list of (K_i, 3) arrays
        Vertices of each closed loop (the last vertex joins the first), metres.
    current_fractions : (L,) array
        Current in each loop per ampere of coil current (e.g. 1/3 when a turn's current is
        spread over three layers of the winding's height).
    """

    loops_m: tuple
    current_fractions: np.ndarray

    def __post_init__(self):
        loops = tuple(np.asarray(loop, dtype=float).reshape(-1, 3) for loop in self.loops_m)
        frac = np.asarray(self.current_fractions, dtype=float).reshape(-1)
        if len(loops) != len(frac):
            raise ValueError(f"{len(loops)} loops but {len(frac)} current fractions")
        object.__setattr__(self, "loops_m", loops)
        object.__setattr__(self, "current_fractions", frac)

    def segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start points, end points (m) and currents (A per A) of every straight segment."""
        starts, ends, currents = [], [], []
        for loop, frac in zip(self.loops_m, self.current_fractions):
            starts.append(loop)
            ends.append(np.roll(loop, -1, axis=0))
            currents.append(np.full(len(loop), frac))
        return np.concatenate(starts), np.concatenate(ends), np.concatenate(currents)

    def transformed(self, rotation, translation_m) -> WirePath:
        rot = np.asarray(rotation, dtype=float)
        t = np.asarray(translation_m, dtype=float)
        return WirePath(tuple(loop @ rot.T + t for loop in self.loops_m), self.current_fractions)

    def magnetic_moment_m2(self) -> np.ndarray:
        """Total magnetic moment per ampere, ``(1/2) sum I_i  oint r x dl`` (m^2)."""
        total = np.zeros(3)
        for loop, frac in zip(self.loops_m, self.current_fractions):
            total += 0.5 * frac * np.cross(loop, np.roll(loop, -1, axis=0)).sum(axis=0)
        return total


@numba.njit(parallel=True, cache=True, nogil=True)
def _segment_potential(points, a, b, currents, out):
    n = points.shape[0]
    for i in numba.prange(n):
        ax = 0.0
        ay = 0.0
        az = 0.0
        for j in range(a.shape[0]):
            dx = b[j, 0] - a[j, 0]
            dy = b[j, 1] - a[j, 1]
            dz = b[j, 2] - a[j, 2]
            length = np.sqrt(dx * dx + dy * dy + dz * dz)
            if length == 0.0:
                continue
            ra = np.sqrt((points[i, 0] - a[j, 0]) ** 2 + (points[i, 1] - a[j, 1]) ** 2
                         + (points[i, 2] - a[j, 2]) ** 2)
            rb = np.sqrt((points[i, 0] - b[j, 0]) ** 2 + (points[i, 1] - b[j, 1]) ** 2
                         + (points[i, 2] - b[j, 2]) ** 2)
            s = ra + rb
            w = currents[j] * np.log((s + length) / (s - length)) / length
            ax += w * dx
            ay += w * dy
            az += w * dz
        out[i, 0] = ax
        out[i, 1] = ay
        out[i, 2] = az


def wire_primary_efield(points_m, wires: WirePath, didt_a_per_s: float = 1.0) -> np.ndarray:
    """Primary E-field (V/m) of ``wires`` at ``points_m`` (N, 3) for a coil current changing at
    ``didt_a_per_s``; points must not lie on a wire."""
    points = np.ascontiguousarray(np.asarray(points_m, dtype=float).reshape(-1, 3))
    a, b, currents = wires.segments()
    out = np.empty_like(points)
    if len(points):
        with kernel_section():
            _segment_potential(points, np.ascontiguousarray(a), np.ascontiguousarray(b), currents, out)
    return out * (-MU0 / (4.0 * np.pi) * float(didt_a_per_s))
