"""TMS coils as sets of magnetic dipoles, and the primary E-field they induce.

A coil is K magnetic dipoles at positions ``r_k`` (m) with moments ``m_k`` per ampere of coil
current (A m^2 / A = m^2): the area-weighted normals of a flux quadrature over the winding
surfaces, times the number of turns (the SimNIBS ``.ccd`` convention; seed 003, "Coil model").
In an infinite homogeneous medium a coil current changing at ``dI/dt`` (A/s) induces

    E_p(r) = -(mu0 / 4 pi) dI/dt  sum_k  m_k x (r - r_k) / |r - r_k|^3          (V/m)

(physics notes section 2; Jackson, Classical Electrodynamics, eq. 5.55 for the vector potential
of a magnetic dipole, E_p = -dA/dt).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["MU0", "CoilDipoles", "primary_efield", "primary_efield_normal"]

#: Vacuum permeability (T m / A), CODATA 2018.
MU0 = 1.25663706212e-6


@dataclass(frozen=True, eq=False)
class CoilDipoles:
    """Magnetic dipoles of a coil in one placement.

    Parameters
    ----------
    positions_m : (K, 3) array
        Dipole positions in metres, in the frame of the head model.
    moments_m2 : (K, 3) array
        Dipole moments per ampere of coil current (A m^2 / A).
    name : str
        What the coil is, for messages and figures.
    """

    positions_m: np.ndarray
    moments_m2: np.ndarray
    name: str = "coil"

    def __post_init__(self):
        pos = np.ascontiguousarray(self.positions_m, dtype=np.float64).reshape(-1, 3)
        mom = np.ascontiguousarray(self.moments_m2, dtype=np.float64).reshape(-1, 3)
        if pos.shape != mom.shape:
            raise ValueError(f"positions_m {pos.shape} and moments_m2 {mom.shape} must match")
        if len(pos) == 0:
            raise ValueError("a coil needs at least one dipole")
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(mom))):
            raise ValueError("coil dipole positions and moments must be finite")
        object.__setattr__(self, "positions_m", pos)
        object.__setattr__(self, "moments_m2", mom)

    @property
    def n_dipoles(self) -> int:
        return len(self.positions_m)

    def transformed(self, rotation, translation_m) -> CoilDipoles:
        """The coil moved rigidly: ``r -> R r + t`` and ``m -> R m``."""
        rot = np.asarray(rotation, dtype=float)
        return CoilDipoles(
            self.positions_m @ rot.T + np.asarray(translation_m, float), self.moments_m2 @ rot.T, self.name
        )


@numba.njit(parallel=True, fastmath=False, cache=True)
def _primary_kernel(points, positions, moments, scale, out):
    n = points.shape[0]
    k = positions.shape[0]
    for i in numba.prange(n):
        ex = 0.0
        ey = 0.0
        ez = 0.0
        px = points[i, 0]
        py = points[i, 1]
        pz = points[i, 2]
        for j in range(k):
            dx = px - positions[j, 0]
            dy = py - positions[j, 1]
            dz = pz - positions[j, 2]
            r2 = dx * dx + dy * dy + dz * dz
            inv3 = 1.0 / (r2 * np.sqrt(r2))
            mx = moments[j, 0]
            my = moments[j, 1]
            mz = moments[j, 2]
            ex += (my * dz - mz * dy) * inv3
            ey += (mz * dx - mx * dz) * inv3
            ez += (mx * dy - my * dx) * inv3
        out[i, 0] = scale * ex
        out[i, 1] = scale * ey
        out[i, 2] = scale * ez


def primary_efield(points_m, coil: CoilDipoles, didt_a_per_s: float = 1.0) -> np.ndarray:
    """Primary E-field (V/m) of ``coil`` at ``points_m`` (N, 3) for a current changing at ``didt_a_per_s``.

    Equation: physics notes section 2. The field is that of an infinite homogeneous medium, i.e.
    without the charges that the head's boundaries accumulate (see :mod:`..bem`).
    """
    points = np.ascontiguousarray(points_m, dtype=np.float64).reshape(-1, 3)
    pos, mom = coil.positions_m, coil.moments_m2
    out = np.empty_like(points)
    if len(points):
        _primary_kernel(points, pos, mom, -MU0 / (4.0 * np.pi) * float(didt_a_per_s), out)
    return out


def primary_efield_normal(points_m, normals, coil: CoilDipoles, didt_a_per_s: float = 1.0) -> np.ndarray:
    """Normal component ``E_p . n`` (V/m) at points with unit normals ``normals`` (N, 3)."""
    e = primary_efield(points_m, coil, didt_a_per_s)
    return np.einsum("ij,ij->i", e, np.asarray(normals, dtype=float).reshape(-1, 3))
