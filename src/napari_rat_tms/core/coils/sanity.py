"""Sanity numbers of a coil model, and several coils driven together (superposition).

Labs compare coil models by a few numbers before trusting them: how many dipoles, how large, and
the field per unit dI/dt at a reference depth in a standard sphere. :func:`describe_coil` gives
them for any coil (preset, built from windings, or read from a ``.ccd`` file):

* the primary field 10 mm under the centre of the casing (coil frame: z into the head);
* the total field in seed 003's rat-sized sphere (homogeneous, centre 15.4 mm under the casing;
  the closed form of Heller & van Hulsteyn 1992, :mod:`..bem.sphere_model`): at the reference
  depth ``depth_mm`` under the sphere's top point (the point of the sphere nearest the coil) and
  its peak over the sphere's points within 13 mm of the centre.

Fields are linear in the coil currents, so several coils driven at once (a coil array, two coils
in a double-coil protocol) are one :class:`.dipoles.CoilDipoles` whose dipoles are those of each
coil, moved to its place and scaled by its current relative to the common dI/dt
(:func:`superposed_coils`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dipoles import CoilDipoles, primary_efield

__all__ = ["CoilSummary", "describe_coil", "superposed_coils", "SPHERE_CENTRE_DEPTH_MM", "SPHERE_RADIUS_MM"]

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
    from ..bem.sphere_model import sphere_efield

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


def superposed_coils(coils, name: str | None = None) -> CoilDipoles:
    """One :class:`CoilDipoles` for several coils driven together.

    ``coils``: items ``coil`` or ``(coil, relative_current)``, each already in the common frame
    (use :meth:`CoilDipoles.transformed` to put a coil in its place); ``relative_current`` scales
    its moments (its dI/dt relative to the common one; -1 reverses it). The field of the result is
    the sum of the coils' fields, exactly (the fields are linear in the moments).
    """
    positions, moments, names = [], [], []
    for item in coils:
        coil, weight = item if isinstance(item, tuple) else (item, 1.0)
        if not isinstance(coil, CoilDipoles):
            raise TypeError("expected CoilDipoles or (CoilDipoles, relative current), got "
                            f"{type(coil).__name__}")
        weight = float(weight)
        if not np.isfinite(weight):
            raise ValueError(f"the relative current of {coil.name} must be finite, got {weight}")
        positions.append(coil.positions_m)
        moments.append(coil.moments_m2 * weight)
        names.append(coil.name if weight == 1.0 else f"{weight:g} x {coil.name}")
    if not positions:
        raise ValueError("superposed_coils needs at least one coil")
    return CoilDipoles(np.concatenate(positions), np.concatenate(moments), name or " + ".join(names))
