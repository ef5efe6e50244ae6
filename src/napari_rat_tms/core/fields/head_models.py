"""The head models seed 003 compares, built from the surfaces of the meshing step.

================  =============================================================================
kind              model (seed 003, "Head models"; conductivities: body 0.33, skull 0.0066, eyes 1.5 S/m)
================  =============================================================================
``"3C"``          reference: body, skull with the spine, eyes
``"2C"``          body and skull with the spine
``"2C*"``         body and skull without the spine
``"1C"``          body only
``"sphere"``      spherically symmetric model fitted to the inner skull above the head's centre
                  (analytic field; Heller & van Hulsteyn 1992, see :mod:`..bem.sphere_model`)
================  =============================================================================

Line navigation (no field at all) is :mod:`..placement.line_navigation`. The field is evaluated
at the vertices of the cortical surface ("cortex"), as in the seed (N = 1,833 there). Each model
is built once (the BEM precomputation, :func:`..bem.solver.iter_build_solver`: minutes for the
reference on 2 cores, cached on disk with ``cache_dir``); a coil placement then costs one matrix
product (:meth:`FieldModel.efield_for`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ..bem.conductor import SIGMA_BODY, SIGMA_EYE, SIGMA_SKULL, VolumeConductor, rat_head_model
from ..bem.sphere_model import SphericalHeadModel
from ..coils.dipoles import CoilDipoles
from ..errors import RatTmsError
from ..meshes.surface import TriangleSurface

__all__ = ["MODEL_KINDS", "ModelKind", "BEM_MODEL_KINDS", "FieldModel", "FieldModelError", "head_model", "iter_field_model",
           "build_field_model", "surfaces_needed", "build_shares", "SEED_CONDUCTIVITIES", "check_conductivities"]

@dataclass(frozen=True)
class ModelKind:
    """One head model of seed 003: what it is built from and which conductivities it uses.

    name : "3C", "2C", "2C*", "1C" or "sphere".
    description : what it contains, in words.
    surfaces : the meshing step's surfaces it is built from (the cortex, where the field is
        evaluated, is needed by every model besides these).
    tissues : the tissues whose conductivity it uses (keys of :data:`SEED_CONDUCTIVITIES`).
    skull : the surface used as its skull (None: no skull).
    eyes : whether the eyes are compartments of their own.
    analytic : a closed-form field (the sphere), not a BEM volume conductor.
    """

    name: str
    description: str
    surfaces: tuple[str, ...]
    tissues: tuple[str, ...]
    skull: str | None = None
    eyes: bool = False
    analytic: bool = False

    @property
    def surfaces_with_cortex(self) -> tuple[str, ...]:
        return (*self.surfaces, "cortex")


#: The models of seed 003, reference first: the one registry every step (job, CLI, docks, study)
#: reads. The sphere's field does not depend on its conductivity.
MODEL_KINDS: Mapping[str, ModelKind] = MappingProxyType({kind.name: kind for kind in (
    ModelKind("3C", "reference: body, skull with spine, eyes", ("body", "skull", "eyes"),
              ("body", "skull", "eyes"), skull="skull", eyes=True),
    ModelKind("2C", "body, skull with spine", ("body", "skull"), ("body", "skull"), skull="skull"),
    ModelKind("2C*", "body, skull without spine", ("body", "skull without spine"), ("body", "skull"),
              skull="skull without spine"),
    ModelKind("1C", "body only", ("body",), ("body",)),
    ModelKind("sphere", "sphere fitted to the inner skull", ("skull without spine",), (), analytic=True),
)})
#: The models that are BEM volume conductors (what ``export-volume`` and the solver cache hold).
BEM_MODEL_KINDS: tuple[str, ...] = tuple(k for k, m in MODEL_KINDS.items() if not m.analytic)


class FieldModelError(RatTmsError, ValueError):
    """A head model cannot be built from the surfaces at hand."""


#: Seed 003's conductivities (S/m) of the tissues the models contain.
SEED_CONDUCTIVITIES = {"body": SIGMA_BODY, "skull": SIGMA_SKULL, "eyes": SIGMA_EYE}


def check_conductivities(conductivities: Mapping[str, float] | None, kinds=MODEL_KINDS) -> list[str]:
    """Check user conductivities (S/m) against the models ``kinds``; return warnings.

    An unknown tissue or a value that is not a positive finite number raises
    :class:`FieldModelError`. A tissue set but in none of the models (eyes without 3C, the skull
    with only 1C or the sphere) is not an error, but it would be silently ignored by every model:
    a warning says so (a trap of other tools, issue 10).
    """
    conductivities = dict(conductivities or {})
    unknown = sorted(set(conductivities) - set(SEED_CONDUCTIVITIES))
    if unknown:
        raise FieldModelError(f"unknown tissue(s) {unknown} in the conductivities; the models have "
                              f"{', '.join(SEED_CONDUCTIVITIES)} (S/m)")
    for tissue, value in conductivities.items():
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
            raise FieldModelError(f"the conductivity of {tissue} must be a positive number in S/m, "
                                  f"got {value!r}")
    used = {tissue for kind in kinds if kind in MODEL_KINDS for tissue in MODEL_KINDS[kind].tissues}
    return [f"the conductivity set for {tissue} ({value:g} S/m) is not used: none of the models "
            f"{', '.join(kinds)} contains {tissue}"
            for tissue, value in conductivities.items() if tissue not in used]


def surfaces_needed(kind: str) -> tuple[str, ...]:
    """The surfaces (names of the meshing step) the model ``kind`` is built from, the cortex last."""
    if kind not in MODEL_KINDS:
        raise FieldModelError(f"unknown model {kind!r}; choose one of {', '.join(MODEL_KINDS)}.")
    return MODEL_KINDS[kind].surfaces_with_cortex


def build_shares(surfaces: Mapping[str, TriangleSurface], kinds) -> list[float]:
    """Each model's share of building ``kinds`` one after the other (summing to 1), in proportion to
    its estimated precomputation time (:func:`..bem.estimate.estimate_transfer_cost`; the analytic
    sphere at least 1 % of the whole), so that a progress bar over several models moves with the
    time, not with the count of models (issue 25: with the cheapest first, equal shares reached
    80 % with half the time still to come). A model read from a solver cache takes less than its
    share."""
    from ..bem.estimate import estimate_transfer_cost

    n_points = surfaces["cortex"].n_vertices if "cortex" in surfaces else 0
    costs = []
    for kind in kinds:
        model = MODEL_KINDS[kind]
        parts = [surfaces[name] for name in model.surfaces if name in surfaces]
        costs.append(0.0 if model.analytic or not parts else estimate_transfer_cost(
            sum(p.n_vertices for p in parts), sum(p.n_faces for p in parts), n_points).seconds)
    total = sum(costs)
    if total <= 0:
        return [1.0 / len(costs)] * len(costs) if costs else []
    costs = [max(c, 0.01 * total) for c in costs]
    return [c / sum(costs) for c in costs]


def _need(surfaces: Mapping[str, TriangleSurface], kind: str) -> None:
    if kind not in MODEL_KINDS:
        raise FieldModelError(f"unknown model {kind!r}; choose one of {', '.join(MODEL_KINDS)}.")
    missing = [name for name in MODEL_KINDS[kind].surfaces_with_cortex if name not in surfaces]
    if missing:
        raise FieldModelError(
            f"the {kind} model needs the {', '.join(missing)} surface(s), which are missing. Run the "
            "meshing step (with eyes segmented for 3C).")


def _split_eyes(eyes: TriangleSurface) -> list[TriangleSurface]:
    """The eyes surface (both eyes in one mesh) as one closed surface per connected component."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    f = eyes.faces
    n = eyes.n_vertices
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    count, label = connected_components(coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)),
                                        directed=False)
    out = []
    for k in range(count):
        keep = label == k
        faces = f[keep[f[:, 0]]]
        index = -np.ones(n, dtype=np.int64)
        index[keep] = np.arange(keep.sum())
        out.append(TriangleSurface(eyes.vertices_m[keep], index[faces], f"{eyes.name} {k + 1}"))
    return out


def head_model(surfaces: Mapping[str, TriangleSurface], kind: str,
               conductivities: Mapping[str, float] | None = None) -> VolumeConductor:
    """The BEM volume conductor of ``kind`` ("3C", "2C", "2C*", "1C") from named surfaces (SI);
    ``conductivities`` (S/m) replace the seed's for the tissues given (:func:`check_conductivities`)."""
    _need(surfaces, kind)
    check_conductivities(conductivities, [kind])
    sigma = {**SEED_CONDUCTIVITIES, **dict(conductivities or {})}
    model = MODEL_KINDS[kind]
    if model.analytic:
        raise FieldModelError(f"the {kind} model is analytic, not a BEM volume conductor; "
                              "use iter_field_model.")
    body = surfaces["body"]
    skull = None if model.skull is None else surfaces[model.skull]
    eyes = _split_eyes(surfaces["eyes"]) if model.eyes else ()
    return rat_head_model(body, skull, eyes, sigma_body=sigma["body"], sigma_skull=sigma["skull"],
                          sigma_eye=sigma["eyes"], name=kind)


@dataclass(eq=False)
class FieldModel:
    """A built head model: the E-field at the cortical points for any coil placement."""

    kind: str
    solver: object              # TmsBemSolver or SphericalHeadModel (efield, efield_batch)
    points_m: np.ndarray        # (P, 3) the cortical surface's vertices
    build_seconds: float

    def efield(self, coil: CoilDipoles, didt_a_per_s: float) -> np.ndarray:
        """E (V/m) at the cortical points, (P, 3), for a coil already placed (model frame, m)."""
        return self.solver.efield(coil, didt_a_per_s)

    def efield_for(self, placement, coil: CoilDipoles) -> np.ndarray:
        """E (V/m) for ``coil`` (its own frame) at a :class:`..placement.CoilPlacement`."""
        return self.solver.efield(placement.place(coil), placement.didt_a_per_s)


def iter_field_model(surfaces: Mapping[str, TriangleSurface], kind: str, *, up=None, cache_dir=None,
                     dtype=np.float32, device: str = "cpu",
                     conductivities: Mapping[str, float] | None = None, keep_factorisation: bool = False):
    """Build the :class:`FieldModel` of ``kind``, yielding ``(fraction, message)``.

    ``up`` (unit vector, model frame; e.g. the stereotaxic dorsal axis) is needed for the sphere:
    it is fitted to the inner skull above the cortex's centroid along ``up``. ``cache_dir``: where
    the BEM precomputation is kept between sessions (None: not kept). ``device``: "cpu", "cuda" or
    "auto" (the GPU when PyTorch sees one) for the BEM's dense algebra and every placement
    (:func:`..bem.solver.iter_build_solver`). ``conductivities``: S/m per tissue ("body", "skull",
    "eyes") replacing seed 003's (:func:`check_conductivities`). ``keep_factorisation``: keep the BEM
    matrix's factors for the fields of placements at other points (the E-field dock does, for the
    neuron dock and the voxel export: :func:`..bem.solver.iter_build_solver`).
    """
    from ..bem.solver import iter_build_solver

    _need(surfaces, kind)
    cortex = surfaces["cortex"]
    points = cortex.vertices_m
    start = time.perf_counter()
    if MODEL_KINDS[kind].analytic:             # the sphere: fitted, no BEM
        if up is None:
            raise FieldModelError("the sphere model needs the 'up' (dorsal) direction: set the "
                                  "stereotaxic frame.")
        skull = surfaces["skull without spine"]
        yield 0.0, "fitting the sphere to the inner skull"
        try:
            solver = SphericalHeadModel.from_inner_skull(skull.vertices_m, skull.vertex_normals,
                                                         points.mean(axis=0), up, points)
        except ValueError as err:
            raise FieldModelError(f"cannot fit the sphere: {err}") from err
        yield 1.0, "sphere fitted"
        return FieldModel(kind, solver, points, time.perf_counter() - start)
    yield 0.0, f"checking the {kind} model's surfaces"
    conductor = head_model(surfaces, kind, conductivities)
    solver = yield from iter_build_solver(conductor, points, cache_dir=cache_dir, dtype=dtype, device=device,
                                          keep_factorisation=keep_factorisation)
    return FieldModel(kind, solver, points, time.perf_counter() - start)


def build_field_model(surfaces: Mapping[str, TriangleSurface], kind: str, progress=None,
                      **kwargs) -> FieldModel:
    """Blocking form of :func:`iter_field_model`."""
    from ..progress import run_to_completion

    return run_to_completion(iter_field_model(surfaces, kind, **kwargs), progress)
