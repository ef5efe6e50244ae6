"""Parametric TMS coils: flat spiral windings turned into magnetic dipoles by a flux quadrature.

Seed 003 ("Coil model") modelled the MagVenture MC-B35 figure-of-eight "with a set of magnetic
dipoles whose locations and weights are those of the integration quadrature points for computing
the magnetic flux integral" (the MEG pick-up coil quadrature read backwards through
reciprocity), in two resolutions: three identical layers at 1.5, 4.5 and 7.5 mm above the
lowermost wire surface of the 9-mm-tall windings (2,568 dipoles) and one layer at 4.5 mm
(136 dipoles).

Model of one wing
    ``N`` turns of a flat conductor wound from the inner radius ``r_i`` to the outer radius
    ``r_o`` (uniform pitch), ``h`` tall. A point at distance ``rho`` from the wing's centre is
    enclosed by ``n(rho) = N`` turns for ``rho <= r_i`` and ``N (r_o - rho) / (r_o - r_i)``
    between the radii (the current of each turn spread over its width); the current is spread
    evenly over the height. The flux of a field ``B`` through the winding is then
    ``sum_layers (1 / L) int_disk n(rho) B . n dA``, and its quadrature gives the dipoles: at
    quadrature node ``k`` of layer ``l`` the moment ``m_k = w_k n(rho_k) / L  n_wing`` (A m^2
    per A of coil current; ``w_k`` the quadrature weight, an area), the convention of the
    SimNIBS ``.ccd`` files. Quadrature: Gauss-Legendre in ``rho`` on ``[0, r_i]`` and on
    ``[r_i, r_o]`` separately (``n(rho)`` has a kink at ``r_i``), with weight ``rho``; the
    trapezoidal rule in angle (exact for trigonometric polynomials); the midpoint rule in height.

Coil frame (that of SimNIBS ``.ccd`` files): millimetres in the parameters, metres in the
dipoles; ``z`` points into the head, the casing's bottom surface is the plane ``z = 0`` and the
windings lie at ``z < 0``; the wings sit on the x axis (wing 0 at ``-x``, its moment along
``+z``; wing 1 at ``+x`` along ``-z``), so the currents of both wings run together along the
y axis under the coil's centre. Which way the induced current there points is read from the
model itself (:func:`coil_current_direction`).

The same description gives the wire path (:meth:`CoilWindings.wire_path`): concentric loops
(several filaments across each turn's width and height), whose field by the exact filament
formula of :mod:`.wires` is the independent check of the quadrature.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from ..conventions import mm_to_m
from .dipoles import CoilDipoles

__all__ = [
    "CoilWindings",
    "QuadratureResolution",
    "RESOLUTIONS",
    "figure_eight_coil",
    "round_coil",
    "coil_current_direction",
]


@dataclass(frozen=True)
class QuadratureResolution:
    """Quadrature of one wing: layers in height, Gauss nodes inside and across the turns, angles."""

    layers: int
    radial_inner: int
    radial_turns: int
    angular: int

    def dipoles_per_wing(self) -> int:
        return self.layers * (self.radial_inner + self.radial_turns) * self.angular


#: The seed's two resolutions for its figure-of-eight: "high" three layers (2 x 3 x 430 = 2,580
#: dipoles; the seed had 2,568) and "low" one layer (2 x 68 = 136, as the seed), plus a finer
#: "reference" for convergence checks.
RESOLUTIONS = {
    "low": QuadratureResolution(layers=1, radial_inner=2, radial_turns=2, angular=17),
    "high": QuadratureResolution(layers=3, radial_inner=4, radial_turns=6, angular=43),
    "reference": QuadratureResolution(layers=9, radial_inner=8, radial_turns=16, angular=96),
}


def _check_positive(**values):
    for name, value in values.items():
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class CoilWindings:
    """Geometry of a flat spiral-wound TMS coil: a round coil (one wing) or a figure-of-eight.

    Parameters (millimetres, degrees)
    ----------
    name : str
    wings : int
        1 (round coil) or 2 (figure-of-eight, currents opposite in the two wings).
    inner_diameter_mm, outer_diameter_mm : float
        Diameters of the innermost and outermost turn of each wing.
    turns_per_wing : float
        Number of turns of each wing.
    winding_height_mm : float
        Height of the winding (the conductor's extent along the coil axis).
    casing_to_winding_mm : float
        Distance from the casing's bottom surface (the face that touches the head) to the
        lowermost wire surface.
    wing_spacing_mm : float or None
        Distance between the wings' centres; None = the outer diameter (wings touching).
    wing_angle_deg : float
        Tilt of each wing about the coil's y axis, outer edges away from the head (0 = flat;
        e.g. angled "butterfly" coils).
    """

    name: str
    wings: int
    inner_diameter_mm: float
    outer_diameter_mm: float
    turns_per_wing: float
    winding_height_mm: float
    casing_to_winding_mm: float
    wing_spacing_mm: float | None = None
    wing_angle_deg: float = 0.0

    def __post_init__(self):
        if self.wings not in (1, 2):
            raise ValueError(f"wings must be 1 (round coil) or 2 (figure-of-eight), got {self.wings!r}")
        _check_positive(outer_diameter_mm=self.outer_diameter_mm, turns_per_wing=self.turns_per_wing,
                        winding_height_mm=self.winding_height_mm)
        if not (0 <= self.inner_diameter_mm < self.outer_diameter_mm):
            raise ValueError(
                f"inner_diameter_mm ({self.inner_diameter_mm}) must be >= 0 and smaller than "
                f"outer_diameter_mm ({self.outer_diameter_mm})")
        if not (np.isfinite(self.casing_to_winding_mm) and self.casing_to_winding_mm >= 0):
            raise ValueError(f"casing_to_winding_mm must be >= 0, got {self.casing_to_winding_mm!r}")
        if self.wings == 2 and self.spacing_mm < self.outer_diameter_mm - 1e-9:
            raise ValueError(
                f"wing_spacing_mm ({self.spacing_mm}) is smaller than the outer diameter "
                f"({self.outer_diameter_mm}): the wings would overlap")
        if not (-60.0 <= self.wing_angle_deg <= 60.0):
            raise ValueError(f"wing_angle_deg must lie within +-60 deg, got {self.wing_angle_deg!r}")

    @property
    def spacing_mm(self) -> float:
        if self.wings == 1:
            return 0.0
        return float(self.outer_diameter_mm if self.wing_spacing_mm is None else self.wing_spacing_mm)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> CoilWindings:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown coil winding parameters {unknown}; expected some of {sorted(known)}")
        return cls(**values)

    def with_(self, **changes) -> CoilWindings:
        return replace(self, **changes)

    # --- geometry -------------------------------------------------------------------------
    def _wing_frames(self):
        """(centre (3,), rotation (3, 3), sign) of each wing in the coil frame, mm; ``rotation``
        turns the wing's local frame (flat, z into the head) into the coil frame."""
        frames = []
        z_bottom = -self.casing_to_winding_mm  # lowermost wire surface
        for k in range(self.wings):
            side = -1.0 if (self.wings == 2 and k == 0) else 1.0
            x = 0.5 * self.spacing_mm * side if self.wings == 2 else 0.0
            sign = 1.0 if k == 0 else -1.0
            # tilt about the y axis through (0, 0, z_bottom): outer edge moves to -z (away)
            angle = np.deg2rad(self.wing_angle_deg) * (side if self.wings == 2 else 0.0)
            c, s = np.cos(angle), np.sin(angle)
            rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
            centre = rot @ np.array([x, 0.0, 0.0]) + np.array([0.0, 0.0, z_bottom])
            frames.append((centre, rot, sign))
        return frames

    def turns_enclosing(self, rho_mm) -> np.ndarray:
        """Turns of one wing enclosing a point at distance ``rho_mm`` from its centre."""
        rho = np.asarray(rho_mm, dtype=float)
        ri, ro = 0.5 * self.inner_diameter_mm, 0.5 * self.outer_diameter_mm
        frac = np.clip((ro - rho) / (ro - ri), 0.0, 1.0)
        return self.turns_per_wing * frac

    def dipoles(self, resolution: str | QuadratureResolution = "high") -> CoilDipoles:
        """Magnetic dipoles (coil frame, metres; A m^2 per A) by the flux quadrature above."""
        q = RESOLUTIONS[resolution] if isinstance(resolution, str) else resolution
        if isinstance(resolution, str) and resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {sorted(RESOLUTIONS)}, got {resolution!r}")
        ri, ro = 0.5 * self.inner_diameter_mm, 0.5 * self.outer_diameter_mm
        nodes, weights = [], []
        for (a, b, n) in ((0.0, ri, q.radial_inner), (ri, ro, q.radial_turns)):
            if n == 0 or b <= a:
                continue
            x, w = np.polynomial.legendre.leggauss(n)
            nodes.append(a + (x + 1) * (b - a) / 2)
            weights.append(w * (b - a) / 2)
        rho = np.concatenate(nodes)
        w_rho = np.concatenate(weights) * rho * self.turns_enclosing(rho)
        theta = 2 * np.pi * (np.arange(q.angular) + 0.5) / q.angular
        rr, tt = np.meshgrid(rho, theta, indexing="ij")
        ww = np.repeat(w_rho[:, None], q.angular, axis=1) * (2 * np.pi / q.angular)
        local_xy = np.stack([rr * np.cos(tt), rr * np.sin(tt)], axis=-1).reshape(-1, 2)
        area_turns = ww.reshape(-1)  # mm^2 x turns
        heights = -(np.arange(q.layers) + 0.5) * self.winding_height_mm / q.layers  # below bottom wire
        positions, moments = [], []
        for k, (centre, rot, sign) in enumerate(self._wing_frames()):
            # wing 1 takes the mirror image of wing 0's nodes, so that the coil's dipoles keep
            # the figure-of-eight's mirror symmetry about the yz plane exactly
            xy = local_xy * np.array([-1.0, 1.0]) if k == 1 else local_xy
            for z in heights:
                local = np.column_stack([xy, np.full(len(xy), z)])
                positions.append(local @ rot.T + centre)
                normal = rot @ np.array([0.0, 0.0, sign])
                moments.append(np.outer(area_turns / q.layers, normal))
        pos = mm_to_m(np.concatenate(positions))
        mom = np.concatenate(moments) * 1e-6  # mm^2 -> m^2
        return CoilDipoles(pos, mom, self.name)

    def wire_path(self, filaments_per_turn: int = 4, layers: int = 9, segments: int = 256):
        """The winding as concentric circular loops (metres), for the wire reference field.

        Each turn is split into ``filaments_per_turn`` loops across its width and ``layers``
        across the height, each carrying its share of the current (turns must be a whole number).
        """
        from .wires import WirePath

        n_turns = int(round(self.turns_per_wing))
        if abs(n_turns - self.turns_per_wing) > 1e-9 or n_turns < 1:
            raise ValueError(f"a wire path needs a whole number of turns, got {self.turns_per_wing}")
        ri, ro = 0.5 * self.inner_diameter_mm, 0.5 * self.outer_diameter_mm
        n_fil = n_turns * filaments_per_turn
        radii = ri + (np.arange(n_fil) + 0.5) * (ro - ri) / n_fil
        heights = -(np.arange(layers) + 0.5) * self.winding_height_mm / layers
        t = 2 * np.pi * np.arange(segments) / segments
        loops, fractions = [], []
        for centre, rot, sign in self._wing_frames():
            for z in heights:
                for r in radii:
                    # counter-clockwise about the wing's normal sign * z
                    local = np.column_stack([r * np.cos(t), sign * r * np.sin(t), np.full(segments, z)])
                    loops.append(mm_to_m(local @ rot.T + centre))
                    fractions.append(1.0 / (filaments_per_turn * layers))
        return WirePath(tuple(loops), np.array(fractions))

    def outline_mm(self, segments: int = 64) -> list[np.ndarray]:
        """Outer and inner edge of each wing at mid-height (coil frame, mm), for drawing."""
        t = 2 * np.pi * np.arange(segments + 1) / segments
        out = []
        z = -0.5 * self.winding_height_mm
        for centre, rot, _sign in self._wing_frames():
            for r in (0.5 * self.outer_diameter_mm, 0.5 * self.inner_diameter_mm):
                if r <= 0:
                    continue
                local = np.column_stack([r * np.cos(t), r * np.sin(t), np.full(len(t), z)])
                out.append(local @ rot.T + centre)
        return out


def figure_eight_coil(inner_diameter_mm: float, outer_diameter_mm: float, turns_per_wing: float,
                      winding_height_mm: float = 9.0, casing_to_winding_mm: float = 1.0,
                      wing_spacing_mm: float | None = None, wing_angle_deg: float = 0.0,
                      name: str = "figure-of-eight") -> CoilWindings:
    """A figure-of-eight coil (two wings, opposite currents); see :class:`CoilWindings`."""
    return CoilWindings(name, 2, inner_diameter_mm, outer_diameter_mm, turns_per_wing,
                        winding_height_mm, casing_to_winding_mm, wing_spacing_mm, wing_angle_deg)


def round_coil(inner_diameter_mm: float, outer_diameter_mm: float, turns: float,
               winding_height_mm: float = 9.0, casing_to_winding_mm: float = 1.0,
               name: str = "round") -> CoilWindings:
    """A round (circular) coil; see :class:`CoilWindings`."""
    return CoilWindings(name, 1, inner_diameter_mm, outer_diameter_mm, turns, winding_height_mm,
                        casing_to_winding_mm)


def coil_current_direction(coil: CoilDipoles) -> np.ndarray:
    """Direction (unit, coil frame) of the current ``coil`` induces under its centre; see
    :attr:`.dipoles.CoilDipoles.current_direction`."""
    return coil.current_direction.copy()
