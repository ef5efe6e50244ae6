"""Sanity numbers of a coil model: its field per A/us in seed 003's rat-sized sphere.

Labs compare coil models by a few numbers before trusting them: how many dipoles, how large, and
the field per unit dI/dt at a reference depth in a standard sphere. :func:`describe_coil` gives
them for any coil (preset, built from windings, or read from a ``.ccd`` file):

* the primary field 10 mm under the centre of the casing (coil frame: z into the head);
* the total field in seed 003's rat-sized sphere (homogeneous, centre 15.4 mm under the casing;
  the closed form of Heller & van Hulsteyn 1992, :mod:`..bem.sphere_model`): at the reference
  depth ``depth_mm`` under the sphere's top point (the point of the sphere nearest the coil) and
  its peak over the sphere's points within 13 mm of the centre.

Several coils driven together are one coil (:func:`..coils.superposed_coils`). This module sits
with the fields, above the coils and the BEM, because it uses the sphere's closed form
(:mod:`..bem.sphere_model`); the coils themselves import nothing from the solver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bem.sphere_model import sphere_efield
from ..coils.dipoles import CoilDipoles, primary_efield

__all__ = ["CoilSummary", "describe_coil", "SPHERE_CENTRE_DEPTH_MM", "SPHERE_RADIUS_MM"]

#: Seed 003's rat-sized sphere: its centre this far (mm) under the casing's bottom ...
SPHERE_CENTRE_DEPTH_MM = 15.4
#: ... and the field evaluated within this radius (mm) of the centre.
SPHERE_RADIUS_MM = 13.0


@dataclass(frozen=True)
class CoilSummary:
    """Sanity numbers of one coil; fields in V/m per A/µs of dI/dt."""

    name: str
    n_dipoles: int
    extent_mm: tuple[float, float, float]
    current_direction: tuple[float, float, float]
    primary_10mm_v_per_m_per_a_per_us: float
    sphere_depth_mm: float
    sphere_at_depth_v_per_m_per_a_per_us: float
    sphere_peak_v_per_m_per_a_per_us: float

    def describe(self, didt_a_per_us: float = 1.0) -> str:
        k = float(didt_a_per_us)
        e = self.extent_mm
        primary = k * self.primary_10mm_v_per_m_per_a_per_us
        at_depth = k * self.sphere_at_depth_v_per_m_per_a_per_us
        return (f"{self.name}: {self.n_dipoles} dipoles, {e[0]:.1f} x {e[1]:.1f} x {e[2]:.1f} mm; at dI/dt "
                f"{k:g} A/us: primary |E| 10 mm under the centre {primary:.1f} V/m; in the rat-sized sphere "
                f"(centre {SPHERE_CENTRE_DEPTH_MM} mm under the casing) |E| {at_depth:.1f} V/m at "
                f"{self.sphere_depth_mm:g} mm depth, "
                f"peak {k * self.sphere_peak_v_per_m_per_a_per_us:.1f} V/m")


    def per_a_per_us(self) -> str:
        """The fields per A/µs, three significant digits."""
        return (f"per A/us: primary {self.primary_10mm_v_per_m_per_a_per_us:.3g} V/m 10 mm under the centre; "
                f"sphere {self.sphere_at_depth_v_per_m_per_a_per_us:.3g} V/m at {self.sphere_depth_mm:g} mm "
                f"depth, peak {self.sphere_peak_v_per_m_per_a_per_us:.3g} V/m")


def describe_coil(coil: CoilDipoles, depth_mm: float = 2.0) -> CoilSummary:
    """Sanity numbers of ``coil`` (its own frame: the casing's bottom at z = 0, z into the head)."""
    if not 0.0 <= depth_mm < 2 * SPHERE_RADIUS_MM:
        raise ValueError(f"depth_mm must lie in the sphere (0 to {2 * SPHERE_RADIUS_MM} mm), got {depth_mm}")
    didt = 1e6    # 1 A/us
    centre = np.array([0.0, 0.0, SPHERE_CENTRE_DEPTH_MM * 1e-3])
    top = SPHERE_CENTRE_DEPTH_MM - SPHERE_RADIUS_MM
    at_depth = np.array([[0.0, 0.0, (top + depth_mm) * 1e-3]])
    g = np.arange(-SPHERE_RADIUS_MM, SPHERE_RADIUS_MM + 0.01, 1.0) * 1e-3
    grid = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    grid = grid[np.linalg.norm(grid, axis=1) <= SPHERE_RADIUS_MM * 1e-3] + centre
    e_depth = np.linalg.norm(sphere_efield(at_depth, coil, didt, centre), axis=1)[0]
    peak = np.linalg.norm(sphere_efield(grid, coil, didt, centre), axis=1).max()
    extent = coil.positions_m.max(axis=0) - coil.positions_m.min(axis=0)
    return CoilSummary(coil.name, coil.n_dipoles, tuple(float(v) for v in extent * 1e3),
                       tuple(float(v) for v in coil.current_direction),
                       float(np.linalg.norm(primary_efield([[0.0, 0.0, 0.01]], coil, didt)[0])),
                       float(depth_mm), float(e_depth), float(peak))
