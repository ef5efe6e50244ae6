"""TMS E-fields from OpenMEEG, an independent reference for our own BEM.

OpenMEEG (PyPI ``openmeeg``) solves the quasi-static forward problems of EEG and MEG with the
symmetric Galerkin boundary element method (Kybic et al. 2005, IEEE Trans Med Imaging 24:12;
Gramfort et al. 2010, BioMed Eng OnLine 9:45). It knows nothing about TMS, but TMS is MEG read
backwards (reciprocity; Heller & van Hulsteyn 1992, Biophys J 63:129; Geselowitz 1970, IEEE Trans
Magn 6:346): for a unit current dipole ``q`` (A m) at a point ``r`` inside the head, with ``B_q``
its total magnetic field (primary plus volume currents), the E-field that a coil of magnetic dipoles
``m_k`` at ``r_k`` induces at ``r`` satisfies

    E(r) . q = -dI/dt * sum_k  m_k . B_q(r_k)                                   (V/m)

(physics notes section 4, "Reciprocity alternative"). This is the TOTAL field, primary plus the
field of the charges on the boundaries. So three unit dipoles per field point, the coil's dipoles
as MEG "sensor" points with orientation ``m_k / |m_k|`` and weight ``|m_k|``, and OpenMEEG's MEG
gain matrix give E (physics notes section 5).

Conventions checked numerically (tests/core/bem/test_openmeeg_reference.py, and by hand against the
analytic Heller-van Hulsteyn sphere): OpenMEEG's MEG gain includes ``mu0 / 4 pi`` (its
``MagFactor = 1e-7``); each sensor row is the weighted projection ``w_k B . n_k``; the minus sign
above is right.

Units: OpenMEEG is unit-agnostic in principle, but its geometry code has absolute tolerances sized
for millimetres (``Triangle::solid_angle`` returns 0 when ``2 * area * height < 1e-10`` in the
model's length unit). In metres that zeroes the solid angles between neighbouring triangles of
sub-millimetre meshes: a 2.5 mm sphere of 162 vertices inside a body gave 3.4 % error in metres and
0.07 % in millimetres. So the geometry, dipoles and coil go to OpenMEEG in millimetres. The problem
is homogeneous in length (B of a unit current dipole scales as length^-2 at fixed conductivities),
so the gain computed in millimetres is multiplied by ``1000^2`` to give tesla per A m.

The solver is slow and memory hungry (a dense symmetric matrix over all vertices and, for every
surface but the outermost, all triangles, then its inverse): use it to validate, on coarse meshes.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..coils.dipoles import CoilDipoles

if TYPE_CHECKING:  # pragma: no cover
    from .conductor import VolumeConductor

__all__ = ["openmeeg_available", "openmeeg_tms_efield", "field_point_domains"]

_INSTALL_HINT = (
    "OpenMEEG (>= 2.5) could not be imported; it is an optional reference solver. Install it with "
    "`pip install openmeeg` (or `pip install napari-rat-tms[reference]`)."
)


def openmeeg_available() -> bool:
    """True when the ``openmeeg`` Python package can be imported."""
    try:
        import openmeeg  # noqa: F401
    except ImportError:
        return False
    return True


def _import_openmeeg():
    try:
        import openmeeg as om
        from openmeeg._openmeeg_wrapper import OrientedMesh, SimpleDomain
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(_INSTALL_HINT) from exc
    return om, OrientedMesh, SimpleDomain


_OPENMP_LIBRARIES = ("libgomp", "libomp", "libiomp5", "vcomp")
_OPENBLAS_FUNCTIONS = (  # (getter, setter), as the vendored OpenBLAS builds name them
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)


def _thread_pools(om) -> list[tuple[str, object, object]]:
    """(library, get, set) for the thread pools that the openmeeg wheel vendors: OpenMP (assembly)
    and OpenBLAS (the inverse). Empty when none is found (e.g. a build that links system libraries).

    Wheels keep their libraries beside the package (``openmeeg.libs/`` on Linux and Windows,
    ``openmeeg/.dylibs/`` on macOS); loading such a file again returns the library already loaded.
    """
    import ctypes

    package = Path(om.__file__).resolve().parent
    pools = []
    for folder in (package.parent / "openmeeg.libs", package / ".dylibs"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            name = path.name.lower()
            pairs = []
            if name.startswith(_OPENMP_LIBRARIES):
                pairs = [("omp_get_max_threads", "omp_set_num_threads")]
            elif "openblas" in name:
                pairs = list(_OPENBLAS_FUNCTIONS)
            if not pairs:
                continue
            try:
                lib = ctypes.CDLL(str(path))
            except OSError:
                continue
            for getter, setter in pairs:
                if hasattr(lib, getter) and hasattr(lib, setter):
                    pools.append((path.name, getattr(lib, getter), getattr(lib, setter)))
                    break
    return pools


@contextmanager
def _limit_threads(om, n_threads: int | None):
    """Run OpenMEEG with ``n_threads`` OpenMP and OpenBLAS threads (None: leave as is), then restore."""
    if n_threads is None:
        yield
        return
    pools = _thread_pools(om)
    if not pools:
        warnings.warn(
            "Could not find OpenMEEG's OpenMP/OpenBLAS libraries, so n_threads is ignored; set "
            "OMP_NUM_THREADS and OPENBLAS_NUM_THREADS before Python starts instead.",
            stacklevel=4,
        )
    previous = [get() for _, get, _ in pools]
    for _, _, set_threads in pools:
        set_threads(int(n_threads))
    try:
        yield
    finally:
        for (_, _, set_threads), n in zip(pools, previous):
            set_threads(n)


def field_point_domains(conductor: VolumeConductor, points_m) -> np.ndarray:
    """Index of the innermost boundary containing each point (the compartment it lies in), -1 outside all."""
    return conductor.innermost_boundary(points_m)


#: Lengths go to OpenMEEG in millimetres (see the module docstring).
_MM_PER_M = 1000.0


def _domain_name(i: int) -> str:
    return f"domain_{i}"


def _build_geometry(conductor: VolumeConductor, om, OrientedMesh, SimpleDomain):
    """One OpenMEEG mesh and interface per boundary; one domain per boundary's inside, plus the air.

    Domain ``i`` is inside boundary ``i`` and outside each boundary directly nested in it (its
    children, side by side or not); the air is outside every outermost boundary. The boundaries'
    normals point outwards (VolumeConductor checks that), hence ``OrientedMesh.Normal``.
    """
    boundaries = conductor.boundaries
    parents = conductor.parents
    meshes, interfaces, domains = {}, {}, {}
    for i, b in enumerate(boundaries):
        name = f"surface_{i}"
        meshes[name] = (
            np.array(b.surface.vertices_m * _MM_PER_M, dtype=np.float64, order="C"),
            np.array(b.surface.faces, dtype=np.int64, order="C"),
        )
        interfaces[name] = [(name, OrientedMesh.Normal)]
    for i, b in enumerate(boundaries):
        sides = [(f"surface_{i}", SimpleDomain.Inside)]
        sides += [(f"surface_{c}", SimpleDomain.Outside) for c, p in enumerate(parents) if p == i]
        domains[_domain_name(i)] = (sides, float(b.sigma_inside))
    roots = [i for i, p in enumerate(parents) if p is None]
    domains["air"] = ([(f"surface_{i}", SimpleDomain.Outside) for i in roots], 0.0)
    return om.make_geometry(meshes, interfaces, domains)


def openmeeg_tms_efield(
    conductor: VolumeConductor,
    points_m,
    coil: CoilDipoles,
    didt_a_per_s: float = 1.0,
    *,
    integrator_order: int = 3,
    adaptive_levels: int = 0,
    adaptive_tolerance: float = 0.005,
    n_threads: int | None = None,
) -> np.ndarray:
    """Total TMS E-field (V/m) at ``points_m`` computed with OpenMEEG by reciprocity.

    Parameters
    ----------
    conductor : VolumeConductor
        Closed, non-intersecting boundaries, nested or side by side, of any genus (a holed skull
        floating in the body is fine). Each becomes one OpenMEEG interface; the compartments are
        the OpenMEEG domains, air outside.
    points_m : (N, 3) array
        Field points in metres, each strictly inside some compartment (not in the air). Accuracy
        drops within about an edge length of a boundary (a warning names points closer than half
        an edge length).
    coil : CoilDipoles
        The coil's magnetic dipoles (positions in m, moments in m^2 per A), outside the conductor.
    didt_a_per_s : float
        Rate of change of the coil current (A/s).
    integrator_order : int
        Gauss order of OpenMEEG's triangle quadrature (1-3; 3 = 16 points).
    adaptive_levels : int
        Maximum depth of OpenMEEG's adaptive quadrature refinement; 0 (the default, as in OpenMEEG's
        own examples and MNE-Python) means none, and then ``adaptive_tolerance`` is unused.
    adaptive_tolerance : float
        Relative tolerance of the adaptive refinement (only with ``adaptive_levels > 0``).
    n_threads : int or None
        Threads of OpenMEEG's own OpenMP (assembly) and OpenBLAS (inverse) pools during this call,
        restored afterwards; None leaves them as they are (``OMP_NUM_THREADS`` and
        ``OPENBLAS_NUM_THREADS``, default all cores). 1 is the robust choice on a machine whose
        cores are busy with other work (see Cost).

    Returns
    -------
    (N, 3) array
        The total E-field (primary plus secondary) in V/m, in the order of ``points_m``.

    Notes
    -----
    Method: for each compartment that holds field points, three unit current dipoles per point
    (``DipSourceMat`` in that domain), the coil's dipoles as magnetometer points (``make_sensors``
    with orientations ``m_k/|m_k|`` and weights ``|m_k|``), and
    ``GainMEG(HeadMat^-1, DipSourceMat, Head2MEGMat, DipSource2MEGMat)``; then
    ``E . q = -dI/dt * sum_k |m_k| B_q(r_k) . m_k/|m_k|`` (Heller & van Hulsteyn 1992). Symmetric
    Galerkin BEM: Kybic et al. 2005 (IEEE TMI 24:12), Gramfort et al. 2010 (BioMed Eng OnLine 9:45).

    Cost: dominated by the dense head matrix, with one row per vertex of every surface plus one per
    triangle of every surface but the outermost; assembly grows with the square of that number,
    inversion with its cube. Measured on an idle 2-core machine (OpenMEEG 2.6): one 642-vertex
    sphere 0.7 s, three 162-vertex shells 0.7 s, two 642-vertex shells 6 s, three 642-vertex shells
    22-30 s (the physics notes report about 40 s for two 642-vertex surfaces). The coil and the
    number of field points add little. OpenMEEG parallelises the assembly with OpenMP and the
    inverse with its own OpenBLAS: on a machine whose cores are busy with other work these threads
    wait for each other, and a 642-vertex sphere took 5-15 s instead of 0.7 s here; ``n_threads=1``
    brought it back to 1.1-1.2 s (``OMP_NUM_THREADS=1`` and ``OPENBLAS_NUM_THREADS=1`` set before
    Python starts do the same). Not meant for interactive use.

    Accuracy against the analytic sphere (Heller-van Hulsteyn), pooled relative error at points
    2 mm or more inside the innermost surface (9.5 or 10 mm): 0.10 % for one 642-vertex sphere,
    0.07-0.08 % for two or three 642-vertex shells with a 1/50 skull, 0.9 % for three 162-vertex
    shells (2.8 mm edges). Within an edge length of a surface the error grows to several per cent.
    Every inner surface adds discretisation error, even at a vanishing conductivity contrast (its
    potential and current are unknowns of the symmetric formulation): a 1.5 mm thick holed shell
    meshed with 2.8 mm edges, at contrast 1e-4, gave 0.5-0.9 % in its cavity and 6 % inside its
    wall. Mesh thin compartments (a rat skull) with edges shorter than their thickness.

    Raises
    ------
    ImportError
        When OpenMEEG is not installed (with the pip command that installs it).
    ValueError
        When a field point lies outside every boundary (in the air), or arguments are malformed.
    """
    om, OrientedMesh, SimpleDomain = _import_openmeeg()
    points = np.ascontiguousarray(points_m, dtype=np.float64)
    if points.ndim == 1 and points.size == 3:
        points = points.reshape(1, 3)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points_m must have shape (N, 3), got {np.shape(points_m)}")
    if not np.all(np.isfinite(points)):
        raise ValueError("points_m contain NaN or infinite values")
    if not isinstance(coil, CoilDipoles):
        raise TypeError(f"coil must be a CoilDipoles, got {type(coil).__name__}")
    if int(integrator_order) not in (1, 2, 3):
        raise ValueError(f"integrator_order must be 1, 2 or 3, got {integrator_order}")
    if int(adaptive_levels) < 0:
        raise ValueError(f"adaptive_levels must be >= 0, got {adaptive_levels}")
    if n_threads is not None and int(n_threads) < 1:
        raise ValueError(f"n_threads must be >= 1 or None, got {n_threads}")
    out = np.zeros_like(points)
    if len(points) == 0:
        return out

    domains = field_point_domains(conductor, points)
    if np.any(domains < 0):
        bad = points[np.argmax(domains < 0)] * 1000.0
        raise ValueError(
            f"{int(np.sum(domains < 0))} field point(s) lie outside every surface of {conductor.name!r} "
            f"(e.g. ({bad[0]:.2f}, {bad[1]:.2f}, {bad[2]:.2f}) mm); the E-field is only computed inside "
            "the conductor."
        )
    _warn_near_boundaries(conductor, points)

    # The coil as MEG integration points. Zero moments carry no flux; drop them.
    moments = coil.moments_m2
    weights = np.linalg.norm(moments, axis=1)
    keep = weights > 0
    if not np.any(keep):
        return out
    positions = coil.positions_m[keep]
    orientations = moments[keep] / weights[keep, None]
    weights = weights[keep]
    if np.any(field_point_domains(conductor, positions) >= 0):
        raise ValueError(
            "Some of the coil's dipoles lie inside the conductor; a coil must be outside the head."
        )

    integrator = om.Integrator(int(integrator_order), int(adaptive_levels), float(adaptive_tolerance))
    with _limit_threads(om, n_threads):
        geometry = _build_geometry(conductor, om, OrientedMesh, SimpleDomain)
        head_inverse = om.HeadMat(geometry, integrator).inverse()
        sensors = om.make_sensors(positions * _MM_PER_M, orientations, weights=weights)
        head_to_meg = om.Head2MEGMat(geometry, sensors)
        for d in np.unique(domains):
            idx = np.flatnonzero(domains == d)
            dipoles = np.zeros((3 * len(idx), 6))
            dipoles[:, :3] = np.repeat(points[idx] * _MM_PER_M, 3, axis=0)
            dipoles[:, 3:] = np.tile(np.eye(3), (len(idx), 1))
            dip_matrix = om.Matrix(np.asfortranarray(dipoles))
            source = om.DipSourceMat(geometry, dip_matrix, integrator, _domain_name(int(d)))
            source_to_meg = om.DipSource2MEGMat(dip_matrix, sensors)
            gain = om.GainMEG(head_inverse, source, head_to_meg, source_to_meg).array()
            # One row per coil point (weighted B . n), one column per unit dipole: sum the coil's
            # points, and undo the millimetres (B of a unit dipole scales as length^-2).
            flux = np.asarray(gain, dtype=float).reshape(-1, 3 * len(idx)).sum(axis=0) * _MM_PER_M**2
            out[idx] = -float(didt_a_per_s) * flux.reshape(len(idx), 3)
    return out


def _warn_near_boundaries(conductor: VolumeConductor, points: np.ndarray) -> None:
    """Warn about points within half a mean edge length of a boundary, where BEM fields are least accurate."""
    from ..meshes import checks

    for b in conductor.boundaries:
        h = b.surface.mean_edge_length_m
        close = checks.distance_to_surface(b.surface, points) < 0.5 * h
        if np.any(close):
            warnings.warn(
                f"{int(close.sum())} field point(s) lie within half an edge length ({h * 500:.2f} mm) of "
                f"surface {b.name!r}; the BEM field there can be off by several per cent.",
                stacklevel=3,
            )
