"""Boundary element models of the TMS-induced E-field.

* :mod:`.conductor` - volume conductor models (closed surfaces and conductivities), checked.
* :mod:`.integrals` - triangle integrals of the linear-collocation BEM (numba kernels).
* :mod:`.lc_bem` - the LC BEM equations and the coil-independent transfer matrix.
* :mod:`.solver` - precompute once per model (cached), then milliseconds per coil placement.
* :mod:`.sphere_model` - closed-form field in a spherically symmetric head, and the sphere fit.
* :mod:`.openmeeg_reference` - the same field by OpenMEEG (optional), for validation.
"""

from .conductor import SIGMA_BODY, SIGMA_EYE, SIGMA_SKULL, Boundary, VolumeConductor, nested_spheres, rat_head_model
from .solver import NearSurfaceWarning, TmsBemSolver, build_solver, iter_build_solver
from .sphere_model import fit_sphere_to_inner_skull, sphere_efield

__all__ = [
    "SIGMA_BODY",
    "SIGMA_EYE",
    "SIGMA_SKULL",
    "Boundary",
    "VolumeConductor",
    "nested_spheres",
    "rat_head_model",
    "TmsBemSolver",
    "build_solver",
    "NearSurfaceWarning",
    "iter_build_solver",
    "sphere_efield",
    "fit_sphere_to_inner_skull",
]
