"""Closed-form TMS E-field in a spherically symmetric head, and the sphere fit that places it.

The spherical head model of seed 003 ("Spherical model"): a sphere fitted to the local inner-skull
surface above the head centre, used as a global approximation of the head, with the E-field from
the closed-form solution of Heller & van Hulsteyn (1992) and Eaton (1992).

For a magnetic dipole ``m`` (A m^2 per A of coil current) at ``r0`` outside a spherically
symmetric conductor centred at the origin, and a field point ``r`` inside it (physics notes
section 3)::

    a_vec = r0 - r,   a = |a_vec|,   rho = |r0|
    F      = a (rho a + rho^2 - r0 . r)
    grad F = (a^2 / rho + (a_vec . r0) / a + 2 a + 2 rho) r0 - (a + 2 rho + (a_vec . r0) / a) r
    E(r)   = -(mu0 / 4 pi) dI/dt / F^2 [ F (r x m) - (m . grad F) (r x r0) ]

summed over the coil's dipoles. This is the Sarvas (1987) MEG field of a current dipole read
backwards through reciprocity, ``E(r) . q = -dI/dt m . B_q(r0)``.

References
----------
* Heller L, van Hulsteyn DB (1992). Brain stimulation using electromagnetic sources: theoretical
  aspects. Biophys J 63:129-138.
* Eaton H (1992). Electric field induced in a spherical volume conductor from arbitrary coils:
  application to magnetic stimulation and MEG. Med Biol Eng Comput 30:433-440.
* Sarvas J (1987). Basic mathematical and electromagnetic concepts of the biomagnetic inverse
  problem. Phys Med Biol 32:11-22.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ..coils.dipoles import MU0, CoilDipoles
from ..parallel import kernel_section

__all__ = [
    "SphereFit",
    "MIN_FIT_POINTS",
    "sphere_efield",
    "sphere_validity_radius_m",
    "fit_sphere",
    "fit_sphere_to_inner_skull",
    "SphericalHeadModel",
]

#: Fewest inner-skull vertices :func:`fit_sphere_to_inner_skull` accepts for a fit.
MIN_FIT_POINTS = 10


@numba.njit(parallel=True, fastmath=False, cache=True, nogil=True)
def _sphere_kernel(points, positions, moments, rhos, scale, out):
    """Heller & van Hulsteyn field, points and dipoles already relative to the sphere's centre."""
    n = points.shape[0]
    k = positions.shape[0]
    for i in numba.prange(n):
        rx = points[i, 0]
        ry = points[i, 1]
        rz = points[i, 2]
        ex = 0.0
        ey = 0.0
        ez = 0.0
        for j in range(k):
            px = positions[j, 0]
            py = positions[j, 1]
            pz = positions[j, 2]
            mx = moments[j, 0]
            my = moments[j, 1]
            mz = moments[j, 2]
            rho = rhos[j]
            ax = px - rx
            ay = py - ry
            az = pz - rz
            a = np.sqrt(ax * ax + ay * ay + az * az)
            r_dot_r0 = rx * px + ry * py + rz * pz
            a_dot_r0 = rho * rho - r_dot_r0
            f = a * (rho * a + rho * rho - r_dot_r0)  # > 0 whenever |r| < rho
            c_r0 = a * a / rho + a_dot_r0 / a + 2.0 * a + 2.0 * rho
            c_r = a + 2.0 * rho + a_dot_r0 / a
            m_grad_f = c_r0 * (mx * px + my * py + mz * pz) - c_r * (mx * rx + my * ry + mz * rz)
            inv_f = 1.0 / f
            g = m_grad_f * inv_f * inv_f
            # (r x m) / F - (m . grad F) (r x r0) / F^2
            ex += (ry * mz - rz * my) * inv_f - g * (ry * pz - rz * py)
            ey += (rz * mx - rx * mz) * inv_f - g * (rz * px - rx * pz)
            ez += (rx * my - ry * mx) * inv_f - g * (rx * py - ry * px)
        out[i, 0] = scale * ex
        out[i, 1] = scale * ey
        out[i, 2] = scale * ez


def _as_center(center_m) -> np.ndarray:
    c = np.asarray(center_m, dtype=np.float64).reshape(-1)
    if c.shape != (3,) or not np.all(np.isfinite(c)):
        raise ValueError(f"center_m must be a finite 3-vector in metres, got {center_m!r}")
    return c


def sphere_validity_radius_m(coil: CoilDipoles, center_m=(0.0, 0.0, 0.0)) -> float:
    """Distance (m) from ``center_m`` to the coil's nearest dipole: field points must lie closer.

    The closed-form field holds for ``|r - c| < |r0 - c|`` for every dipole ``r0`` (the sources
    must be outside the conducting sphere, the field points inside it).
    """
    c = _as_center(center_m)
    return float(np.min(np.linalg.norm(coil.positions_m - c, axis=1)))


def sphere_efield(
    points_m, coil: CoilDipoles, didt_a_per_s: float = 1.0, center_m=(0.0, 0.0, 0.0)
) -> np.ndarray:
    """Total E-field (V/m) at ``points_m`` in a spherically symmetric conductor centred at ``center_m``.

    Closed form of Heller & van Hulsteyn (1992) and Eaton (1992), with ``r`` and ``r0`` measured
    from the sphere's centre ``c``, summed over the coil's dipoles (``m_k`` in A m^2 per A)::

        a_vec = r0 - r,   a = |a_vec|,   rho = |r0|
        F      = a (rho a + rho^2 - r0 . r)
        grad F = (a^2/rho + (a_vec . r0)/a + 2a + 2rho) r0 - (a + 2rho + (a_vec . r0)/a) r
        E(r)   = -(mu0 / 4 pi) dI/dt  sum_k  [ F (r x m_k) - (m_k . grad F) (r x r0) ] / F^2

    The field is the primary field plus that of the charges on the conductor's boundaries, and
    it does **not** depend on the radial conductivity profile (one homogeneous sphere or nested
    shells with a 1/50 skull give the same field), nor on the sphere's radius as long as every
    field point is inside the conductor and every dipole outside it. It has no radial component
    (``(r - c) . E = 0``); for a dipole whose moment is parallel to ``r0 - c`` it equals the
    primary field. At the centre it is 0 (``r x m = r x r0 = 0`` while ``F = 2 rho^3``).

    Parameters
    ----------
    points_m : (N, 3) array
        Field points in metres.
    coil : CoilDipoles
        The coil's dipoles in the same frame.
    didt_a_per_s : float
        Rate of change of the coil current (A/s).
    center_m : 3-vector
        Centre of the sphere in metres.

    Raises
    ------
    ValueError
        If a field point is as far or farther from the centre than the nearest coil dipole (the
        formula is valid only for ``|r| < |r0|``), if a dipole sits at the centre, or if the
        points are not finite.

    References: Heller & van Hulsteyn 1992 (Biophys J 63:129); Eaton 1992 (Med Biol Eng Comput
    30:433); Sarvas 1987 (Phys Med Biol 32:11); physics notes section 3.
    """
    c = _as_center(center_m)
    points = np.asarray(points_m, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        points = points.reshape(-1, 3)
    if not np.all(np.isfinite(points)):
        raise ValueError("points_m must be finite")
    out = np.empty(points.shape, dtype=np.float64)
    if len(points) == 0:
        return out
    rel_points = np.ascontiguousarray(points - c)
    rel_pos = np.ascontiguousarray(coil.positions_m - c)
    rhos = np.linalg.norm(rel_pos, axis=1)
    rho_min = float(rhos.min())
    if rho_min <= 0.0:
        raise ValueError(
            "a coil dipole sits at the sphere's centre; the spherical model needs every dipole "
            "outside the conducting sphere"
        )
    radii = np.linalg.norm(rel_points, axis=1)
    worst = int(np.argmax(radii))
    if radii[worst] >= rho_min:
        n_bad = int(np.count_nonzero(radii >= rho_min))
        raise ValueError(
            f"{n_bad} field point(s) are not closer to the sphere's centre than the nearest coil dipole "
            f"(farthest point {radii[worst] * 1e3:.3f} mm from the centre, nearest dipole "
            f"{rho_min * 1e3:.3f} mm): the spherical model is valid only for |r| < |r0|. Move the "
            "centre, or keep the points inside the sphere and the coil outside it."
        )
    with kernel_section():
        _sphere_kernel(
            rel_points, rel_pos, coil.moments_m2, rhos, -MU0 / (4.0 * np.pi) * float(didt_a_per_s), out
        )
    return out


@dataclass(frozen=True, eq=False)
class SphereFit:
    """A sphere fitted to surface points.

    Attributes
    ----------
    center_m : (3,) array
        Centre in metres.
    radius_m : float
        Radius in metres.
    rms_residual_m : float
        Root-mean-square of the points' distances to the sphere, ``| |p - c| - R |``.
    n_points : int
        How many points were fitted.
    """

    center_m: np.ndarray
    radius_m: float
    rms_residual_m: float
    n_points: int


def fit_sphere(points_m, n_iterations: int = 10) -> tuple[np.ndarray, float, float]:
    """Least-squares sphere through ``points_m`` (N >= 4, not coplanar): ``(center_m, radius_m, rms_m)``.

    First the algebraic (linear) fit ``|p|^2 = 2 c . p + (R^2 - |c|^2)``, then Gauss-Newton steps
    on the geometric residuals ``d_i = |p_i - c| - R`` (Jacobian ``[-(p_i - c)/|p_i - c|, -1]``)
    until the step is below 1e-12 of the radius or ``n_iterations`` is reached. The returned RMS
    residual is ``sqrt(mean(d_i^2))``.
    """
    p = np.asarray(points_m, dtype=np.float64).reshape(-1, 3)
    if len(p) < 4:
        raise ValueError(f"fit_sphere needs at least 4 points, got {len(p)}")
    if not np.all(np.isfinite(p)):
        raise ValueError("fit_sphere: points_m must be finite")
    # Work relative to the centroid and in units of the cloud's size, for conditioning.
    origin = p.mean(axis=0)
    q = p - origin
    scale = float(np.sqrt(np.mean(np.sum(q * q, axis=1))))
    if scale == 0.0:
        raise ValueError("fit_sphere: all points coincide")
    q = q / scale
    a = np.column_stack([2.0 * q, np.ones(len(q))])
    b = np.sum(q * q, axis=1)
    sol, _, rank, sv = np.linalg.lstsq(a, b, rcond=None)
    if rank < 4 or sv[-1] < 1e-10 * sv[0]:
        raise ValueError("fit_sphere: the points are (nearly) coplanar or collinear; no unique sphere")
    c = sol[:3]
    r = float(np.sqrt(max(sol[3] + c @ c, 0.0)))
    for _ in range(n_iterations):
        diff = q - c
        dist = np.linalg.norm(diff, axis=1)
        if np.any(dist == 0.0):
            break
        res = dist - r
        jac = np.column_stack([-diff / dist[:, None], -np.ones(len(q))])
        step, *_ = np.linalg.lstsq(jac, -res, rcond=None)
        c = c + step[:3]
        r = r + float(step[3])
        if np.linalg.norm(step) < 1e-12 * max(abs(r), 1.0):
            break
    r = abs(r)
    res = np.linalg.norm(q - c, axis=1) - r
    rms = float(np.sqrt(np.mean(res * res)))
    return c * scale + origin, r * scale, rms * scale


def fit_sphere_to_inner_skull(
    skull_vertices_m, skull_vertex_normals, head_centre_m, up, radius_m: float = 0.004
) -> SphereFit:
    """Sphere fitted to the local inner-skull surface above the head centre (seed 003, "Spherical model").

    Selects the skull-mesh vertices ``v`` that

    * lie above the centre: ``(v - c) . u > 0`` with ``u = up / |up|``;
    * lie within ``radius_m`` of the line through ``c`` along ``u`` (lateral distance
      ``|(v - c) - ((v - c) . u) u| <= radius_m``);
    * belong to the inner skull surface: the skull's outward normal there points back toward
      the centre's side, ``n . (v - c) < 0``,

    and fits a sphere to them with :func:`fit_sphere`. In seed 003 the fitted centre was 14.4 mm
    below the local inner skull and covered the whole brain.

    Raises
    ------
    ValueError
        If fewer than :data:`MIN_FIT_POINTS` vertices qualify, or on malformed input.
    """
    v = np.asarray(skull_vertices_m, dtype=np.float64).reshape(-1, 3)
    n = np.asarray(skull_vertex_normals, dtype=np.float64).reshape(-1, 3)
    if v.shape != n.shape:
        raise ValueError(f"skull_vertices_m {v.shape} and skull_vertex_normals {n.shape} must match")
    c = _as_center(head_centre_m)
    u = np.asarray(up, dtype=np.float64).reshape(-1)
    if u.shape != (3,) or not np.all(np.isfinite(u)) or np.linalg.norm(u) == 0.0:
        raise ValueError(f"up must be a finite non-zero 3-vector, got {up!r}")
    u = u / np.linalg.norm(u)
    if not (np.isfinite(radius_m) and radius_m > 0):
        raise ValueError(f"radius_m must be positive, got {radius_m!r}")
    d = v - c
    along = d @ u
    lateral = np.linalg.norm(d - along[:, None] * u, axis=1)
    inward = np.einsum("ij,ij->i", n, d) < 0.0
    sel = (along > 0.0) & (lateral <= radius_m) & inward
    count = int(np.count_nonzero(sel))
    if count < MIN_FIT_POINTS:
        raise ValueError(
            f"only {count} inner-skull vertices lie within {radius_m * 1e3:.2f} mm of the line from the head "
            f"centre along 'up' (at least {MIN_FIT_POINTS} are needed to fit a sphere). Check that the head "
            "centre is inside the skull, that 'up' points toward the skull vault, that the skull normals "
            "point outward, or increase radius_m or the mesh density."
        )
    center, radius, rms = fit_sphere(v[sel])
    return SphereFit(center_m=center, radius_m=radius, rms_residual_m=rms, n_points=count)


class SphericalHeadModel:
    """The spherical head model with the interface of :class:`..solver.TmsBemSolver`.

    ``efield(coil, didt)`` and ``efield_batch(coils, didt)`` at fixed points (V/m), so that a study
    can compare the sphere with the BEM models placement by placement (seed 003's "sphere" row).
    Build it from a known centre, or with :meth:`from_inner_skull` as in the seed.
    """

    def __init__(self, center_m, points_m, fit: SphereFit | None = None):
        self.center_m = _as_center(center_m)
        self.points_m = np.ascontiguousarray(points_m, dtype=np.float64).reshape(-1, 3)
        self.fit = fit

    @classmethod
    def from_inner_skull(cls, skull_vertices_m, skull_vertex_normals, head_centre_m, up, points_m,
                         radius_m: float = 0.004) -> SphericalHeadModel:
        fit = fit_sphere_to_inner_skull(skull_vertices_m, skull_vertex_normals, head_centre_m, up, radius_m)
        return cls(fit.center_m, points_m, fit)

    @property
    def n_points(self) -> int:
        return len(self.points_m)

    def efield(self, coil: CoilDipoles, didt_a_per_s: float = 1.0) -> np.ndarray:
        return sphere_efield(self.points_m, coil, didt_a_per_s, self.center_m)

    def efield_batch(self, coils, didt_a_per_s: float = 1.0) -> np.ndarray:
        coils = list(coils)
        if not coils:
            return np.zeros((0, self.n_points, 3))
        return np.stack([self.efield(c, didt_a_per_s) for c in coils])
