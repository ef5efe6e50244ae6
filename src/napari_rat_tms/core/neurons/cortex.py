"""Neurons placed in the cortex of a head model: soma depth by layer, orientation, field at the compartments.

A cell model (:class:`.cells.NeuronCell`) lives in its **cell frame**: micrometres, soma centre at
the origin, somatodendritic axis along +z (from the soma towards the apical tuft, i.e. towards the
pia). A :class:`CorticalNeuronPlacement` puts it in the **head frame** (the head model's frame,
metres) at one vertex of the cortical surface (seed 000; Aberra et al. 2020 Brain Stimul 13:175, who
placed their cells similarly in a head model's grey matter)::

    p_head = soma_m + R @ (p_cell_um * 1e-6)        R = [e_x | e_y | e_z]   (columns, head frame)

* ``e_z``: the surface's **outward** unit normal at the vertex (the cortical surface is the pial
  side: the somatodendritic axis points from the soma towards it);
* ``e_x = cos(azimuth) t + sin(azimuth) (e_z x t)``: the reference tangent ``t`` rotated by the
  azimuth about ``e_z`` (right-handed); ``e_y = e_z x e_x``, so ``R`` is a proper rotation;
* reference tangent ``t`` (deterministic, documented so that a placement can be rebuilt): the
  head frame's +x axis projected onto the tangent plane and normalised; where +x lies within 30
  degrees of the normal (projection shorter than 0.5) the head-frame axis least aligned with the
  normal (smallest ``|n_i|``, the first on ties: +y for a normal along x) projected instead.
  Another reference direction can be passed (``reference_direction``);
* the soma lies ``depth_mm`` below the vertex along the **inward** normal: ``soma_m = vertex -
  depth * e_z``.

The cortical surface here is whatever surface the field is evaluated on and the somas hang from:
with the meshed head models of this package it is the evaluation ("cortex") surface, about 1 mm
inside the inner skull (``core/meshes/from_segmentation.py``), not a segmented pial surface; the
depths are then measured from it.

The head-frame field at the compartments is rotated back into the cell frame,
``E_cell = R^T E_head``, which is what :func:`.threshold.activation_threshold` expects.

Layer depths (:data:`LAYER_DEPTHS_MM`): the mid-depth of each layer in the Blue Brain Project's rat
somatosensory cortex (Markram et al. 2015 Cell 163:456-492), whose layer thicknesses are L1 165, L2
149, L3 353, L4 190, L5 525, L6 700 um (2,082 um in all; the thicknesses of the slices the BBP's
morphologies were reconstructed from, as the BBP's own tools use them: ``THICKNESSES["rat"]`` in
BlueBrain/region-grower). The five shared cells are such BBP morphologies (as adapted by Aberra,
Peterchev & Grill 2018 J Neural Eng 15:066023; ``../shared/data/neurons/README.md``), so each
cell's layer and depth match where it was reconstructed. The BBP thicknesses were measured in
juvenile (P14) rats; they are used unscaled as an **estimate** for the adult rat. A check against
older rats: Meyer et al. 2011 (PNAS 108:16807; P23-36 rat barrel cortex) put the layer bottoms at
117 (L1), 530 (L2/3), 866 (L4) and 2,270 um (L6), with L5 ending at about 1,300 um, i.e. mid-depths
59, 324, 698, about 1,083 and about 1,785 um: within 0.1 mm of ours in every layer. Motor cortex
and other areas differ (no L4 in M1); pass ``depth_mm`` for another area or a measured thickness.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConductorModelError
from ..meshes.surface import TriangleSurface
from .threshold import FieldOutsideDomainError

__all__ = [
    "LAYER_THICKNESSES_UM",
    "LAYER_DEPTHS_MM",
    "LAYERS",
    "normalise_layer",
    "layer_of_cell",
    "CorticalNeuronPlacement",
    "placement_rotation",
    "place_neurons",
    "cell_points_in_head",
    "field_at_cell",
]

#: Layer thicknesses (um) of the Blue Brain Project's rat somatosensory cortex (Markram et al. 2015),
#: pial side first; L2 and L3 are merged into L2/3 below.
LAYER_THICKNESSES_UM = {"L1": 165.0, "L2": 149.0, "L3": 353.0, "L4": 190.0, "L5": 525.0, "L6": 700.0}


def _layer_mid_depths_mm() -> dict[str, float]:
    t = LAYER_THICKNESSES_UM
    bottoms = np.cumsum([t["L1"], t["L2"] + t["L3"], t["L4"], t["L5"], t["L6"]])
    tops = np.concatenate([[0.0], bottoms[:-1]])
    names = ("L1", "L2/3", "L4", "L5", "L6")
    return {name: float(0.5 * (top + bottom) / 1000.0) for name, top, bottom in zip(names, tops, bottoms)}


#: Soma depth (mm) below the pial surface per layer: the layer's mid-depth (module docstring; an
#: estimate for the adult rat): L1 0.0825, L2/3 0.416, L4 0.762, L5 1.1195, L6 1.732 mm.
LAYER_DEPTHS_MM: dict[str, float] = _layer_mid_depths_mm()
LAYERS = tuple(LAYER_DEPTHS_MM)

_LAYER_ALIASES = {"l1": "L1", "1": "L1", "l23": "L2/3", "l2/3": "L2/3", "l2_3": "L2/3", "l2-3": "L2/3",
                  "2/3": "L2/3", "23": "L2/3", "l4": "L4", "4": "L4", "l5": "L5", "5": "L5", "l6": "L6",
                  "6": "L6"}


def normalise_layer(layer) -> str:
    """The layer's canonical name (``"L1"``, ``"L2/3"``, ``"L4"``, ``"L5"``, ``"L6"``); accepts
    ``"L23"``, ``"l2/3"``, ``5``... Raises ``ValueError`` for an unknown layer."""
    key = str(layer).strip().lower().replace(" ", "")
    if key not in _LAYER_ALIASES:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)} (or L23), got {layer!r}")
    return _LAYER_ALIASES[key]


def layer_of_cell(name: str) -> str:
    """The layer of a Blue Brain Project cell name, e.g. ``"L23_PC_cADpyr229_1"`` -> ``"L2/3"``."""
    return normalise_layer(str(name).split("_", 1)[0])


@dataclass(frozen=True)
class CorticalNeuronPlacement:
    """One neuron in the cortex (module docstring for the frame conventions). Head frame, SI.

    ``vertex``: index of the cortical-surface vertex it hangs from; ``soma_m``: soma centre (m);
    ``axis``: unit somatodendritic axis = the surface's outward normal (cell +z); ``azimuth_rad``:
    rotation about the axis from the reference tangent; ``rotation``: the 3 x 3 matrix ``R``
    (row-major tuples) taking cell-frame vectors to the head frame; ``layer``; ``depth_mm``: soma
    depth below the vertex (mm).
    """

    vertex: int
    soma_m: tuple
    axis: tuple
    azimuth_rad: float
    rotation: tuple
    layer: str
    depth_mm: float

    @property
    def rotation_matrix(self) -> np.ndarray:
        """``R`` (3, 3): cell-frame vector -> head-frame vector."""
        return np.array(self.rotation, dtype=float)

    @property
    def soma(self) -> np.ndarray:
        """Soma centre (3,), metres."""
        return np.array(self.soma_m, dtype=float)

    def label(self) -> str:
        """A short name for messages: ``vertex 12 (L5, azimuth 90 deg)``."""
        return f"vertex {self.vertex} ({self.layer}, azimuth {math.degrees(self.azimuth_rad):.0f} deg)"

    def as_dict(self) -> dict:
        """JSON-serialisable description (lists of floats)."""
        return {"vertex": int(self.vertex), "soma_m": [float(v) for v in self.soma_m],
                "axis": [float(v) for v in self.axis], "azimuth_rad": float(self.azimuth_rad),
                "rotation": [[float(v) for v in row] for row in self.rotation], "layer": self.layer,
                "depth_mm": float(self.depth_mm)}

    @classmethod
    def from_dict(cls, data: dict) -> CorticalNeuronPlacement:
        return cls(int(data["vertex"]), tuple(float(v) for v in data["soma_m"]),
                   tuple(float(v) for v in data["axis"]), float(data["azimuth_rad"]),
                   tuple(tuple(float(v) for v in row) for row in data["rotation"]), str(data["layer"]),
                   float(data["depth_mm"]))


def _unit(v, what) -> np.ndarray:
    v = np.asarray(v, dtype=float).reshape(-1)
    norm = float(np.linalg.norm(v)) if v.shape == (3,) else 0.0
    if v.shape != (3,) or not np.isfinite(norm) or norm == 0.0:
        raise ValueError(f"{what} must be a finite non-zero 3-vector, got {v!r}")
    return v / norm


def placement_rotation(normal, azimuth_rad: float = 0.0, reference_direction=(1.0, 0.0, 0.0)) -> np.ndarray:
    """``R`` (3, 3) taking the cell frame to the head frame: cell +z -> ``normal`` (outward, unit after
    normalisation), cell +x -> the reference tangent rotated by ``azimuth_rad`` about the normal.

    Reference tangent: ``reference_direction`` projected onto the tangent plane; where that projection
    is shorter than 0.5 (the direction within 30 degrees of the normal) the head-frame axis least
    aligned with the normal is projected instead (its projection is at least sqrt(2/3) long).
    Module docstring.
    """
    n = _unit(normal, "normal")
    ref = _unit(reference_direction, "reference_direction")
    t = ref - np.dot(ref, n) * n
    if np.linalg.norm(t) < 0.5:
        axis = np.eye(3)[int(np.argmin(np.abs(n)))]  # the head axis least aligned with the normal
        t = axis - np.dot(axis, n) * n
    t /= np.linalg.norm(t)
    c, s = math.cos(float(azimuth_rad)), math.sin(float(azimuth_rad))
    e_x = c * t + s * np.cross(n, t)
    e_y = np.cross(n, e_x)
    return np.stack([e_x, e_y, n], axis=1)


def inside_predicate(inside) -> Callable | None:
    """``inside`` (None, a closed :class:`TriangleSurface` or a callable) as a callable
    ``points (N, 3) m -> (N,) bool``, or None."""
    if inside is None:
        return None
    if isinstance(inside, TriangleSurface):
        from ..meshes.checks import points_inside

        surface = inside
        return lambda points: points_inside(surface, points)
    if callable(inside):
        return inside
    raise TypeError(f"inside must be None, a TriangleSurface or a callable points -> bool, got {inside!r}")


def _per_vertex(values, n, name) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim > 1 or (values.ndim == 1 and values.size != n):
        raise ValueError(f"{name} must be a scalar or one value per chosen vertex ({n}), got shape "
                         f"{values.shape}")
    return np.broadcast_to(values, (n,)).copy()


def place_neurons(cortex: TriangleSurface, layer, *, vertices=None, depth_mm=None, azimuths_rad=None,
                  n_azimuths: int | None = None, inside=None, on_outside: str = "drop",
                  reference_direction=(1.0, 0.0, 0.0)) -> list[CorticalNeuronPlacement]:
    """Neurons of one layer hanging from vertices of the cortical surface (module docstring).

    ``cortex``: the pial/evaluation surface, outward-wound (metres). ``layer``: ``"L1"``...``"L6"``
    (:func:`normalise_layer`). ``vertices``: vertex indices (default: all). ``depth_mm``: soma depth
    below the surface (mm; scalar or one per vertex; default :data:`LAYER_DEPTHS_MM` of the layer).
    Azimuths about the axis: ``azimuths_rad`` (scalar or one per vertex, radians), or ``n_azimuths``
    evenly spaced ones ``2 pi k / n`` per vertex (``len(vertices) * n`` placements, vertex-major), or
    neither (azimuth 0).

    ``inside``: optional check that each soma lies in the tissue (a closed ``TriangleSurface``, e.g.
    the brain or the evaluation surface itself, or a callable ``points_m (P, 3) -> bool (P,)``; for
    a :class:`.bem.conductor.VolumeConductor` ``lambda p: conductor.conductivity_at(p) > 0``). A
    soma deeper than the tissue is thick there would otherwise come out on the other side. Somas
    outside are dropped with a warning (``on_outside="drop"``), dropped silently (``"ignore"``: for
    a caller that counts them, e.g. ``len(vertices) - len(placements)``) or refused (``"raise"``,
    ``ValueError``). Without ``inside`` nothing is checked here; the field's domain is checked when
    the field is sampled (:func:`field_at_cell`).
    """
    if not isinstance(cortex, TriangleSurface):
        raise TypeError(f"cortex must be a TriangleSurface, got {type(cortex).__name__}")
    layer = normalise_layer(layer)
    if on_outside not in ("drop", "ignore", "raise"):
        raise ValueError(f"on_outside must be 'drop', 'ignore' or 'raise', got {on_outside!r}")
    if vertices is None:
        index = np.arange(cortex.n_vertices)
    else:
        index = np.asarray(vertices, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= cortex.n_vertices):
            raise ValueError(f"vertices must be indices in [0, {cortex.n_vertices}) of {cortex.name!r}")
    n = index.size
    depth = _per_vertex(LAYER_DEPTHS_MM[layer] if depth_mm is None else depth_mm, n, "depth_mm")
    if np.any(~np.isfinite(depth)) or np.any(depth < 0):
        raise ValueError(f"depth_mm must be finite and >= 0, got {depth_mm!r}")
    if azimuths_rad is not None and n_azimuths is not None:
        raise ValueError("give azimuths_rad or n_azimuths, not both")
    if n_azimuths is not None:
        if int(n_azimuths) < 1:
            raise ValueError(f"n_azimuths must be >= 1, got {n_azimuths!r}")
        k = int(n_azimuths)
        azimuths = np.tile(2.0 * np.pi * np.arange(k) / k, n)
        index, depth = np.repeat(index, k), np.repeat(depth, k)
    else:
        azimuths = _per_vertex(0.0 if azimuths_rad is None else azimuths_rad, n, "azimuths_rad")
        if not np.all(np.isfinite(azimuths)):
            raise ValueError("azimuths_rad must be finite")
    normals = cortex.vertex_normals[index]
    if np.any(np.linalg.norm(normals, axis=1) < 0.5):
        raise ValueError(f"{cortex.name!r} has vertices without a normal (isolated or degenerate) among "
                         "the chosen ones")
    somas = cortex.vertices_m[index] - (depth * 1e-3)[:, None] * normals
    keep = np.ones(index.size, dtype=bool)
    check = inside_predicate(inside)
    if check is not None and index.size:
        keep = np.asarray(check(somas), dtype=bool).reshape(-1)
        if keep.shape != (index.size,):
            raise ValueError(f"inside(points) must return one bool per point, got shape {keep.shape}")
        if not keep.all():
            bad = np.unique(index[~keep])
            message = (f"{int((~keep).sum())} of {index.size} {layer} somas ({depth.max():.3g} mm deep) lie "
                       f"outside the tissue, at vertices {bad[:8].tolist()}{' ...' if bad.size > 8 else ''}: "
                       "the cortex is thinner than the depth there")
            if on_outside == "raise":
                raise ValueError(message)
            if on_outside == "drop":
                warnings.warn(message + "; they are left out.", stacklevel=2)
    out = []
    for k in np.flatnonzero(keep):
        rotation = placement_rotation(normals[k], azimuths[k], reference_direction)
        out.append(CorticalNeuronPlacement(
            vertex=int(index[k]), soma_m=tuple(float(v) for v in somas[k]),
            axis=tuple(float(v) for v in rotation[:, 2]), azimuth_rad=float(azimuths[k]),
            rotation=tuple(tuple(float(v) for v in row) for row in rotation), layer=layer,
            depth_mm=float(depth[k])))
    return out


def _positions_m(cell) -> np.ndarray:
    """(N, 3) cell-frame segment positions in metres, from a NeuronCell or an (N, 3) um array."""
    if hasattr(cell, "segment_positions_um"):
        return np.asarray(cell.segment_positions_um(), dtype=float) * 1e-6
    positions = np.asarray(cell, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"cell must be a NeuronCell or (N, 3) positions in um, got shape {positions.shape}")
    return positions * 1e-6


def cell_points_in_head(cell, placement: CorticalNeuronPlacement) -> np.ndarray:
    """(N, 3) head-frame positions (m) of the cell's segment centres: ``soma_m + R p_cell``.

    ``cell``: a :class:`.cells.NeuronCell` or its (N, 3) cell-frame positions in micrometres.
    """
    return _positions_m(cell) @ placement.rotation_matrix.T + placement.soma


def _neuron_name(cell, placement, name) -> str:
    if name:
        return str(name)
    return f"{getattr(cell, 'name', 'neuron')} at {placement.label()}"


def field_at_cell(cell, placement: CorticalNeuronPlacement, field_fn, *, name: str | None = None
                  ) -> np.ndarray:
    """E-field (V/m, (N, 3)) at the cell's segments, in the **cell frame**: ``E_cell = R^T E_head``.

    This is what :func:`.threshold.activation_threshold` expects. ``field_fn(points_m (P, 3)) ->
    (P, 3) V/m`` gives the head-frame field (e.g. ``lambda p: sphere_efield(p, coil, didt)`` or
    ``lambda p: efield_at_points(conductor, coil, didt, p)``); its scale (dI/dt) sets the meaning
    of the threshold amplitude. ``cell``: a :class:`.cells.NeuronCell` or its (N, 3) positions (um).

    Raises :class:`.threshold.FieldOutsideDomainError` naming the neuron and how many of its
    compartments lie outside the field's domain when ``field_fn`` returns non-finite values there
    or raises :class:`~napari_rat_tms.core.errors.ConductorModelError` (the BEM refuses points in air).
    """
    points = cell_points_in_head(cell, placement)
    who = _neuron_name(cell, placement, name)
    try:
        efield = np.asarray(field_fn(points), dtype=float)
    except ConductorModelError as exc:
        raise FieldOutsideDomainError(
            f"{who}: some of its {len(points)} compartments lie outside the field's domain ({exc}). "
            "Place it deeper or choose another vertex.") from exc
    if efield.shape != points.shape:
        raise ValueError(f"field_fn must return ({len(points)}, 3) V/m, got shape {efield.shape}")
    return to_cell_frame(efield, placement, who)


def to_cell_frame(efield_head, placement, who) -> np.ndarray:
    """E (V/m) at the compartments, head frame (N, 3), rotated into the cell's frame of
    ``placement``; compartments with no finite field (outside the domain) raise
    :class:`FieldOutsideDomainError` naming ``who`` and the soma."""
    bad = ~np.all(np.isfinite(efield_head), axis=1)
    if np.any(bad):
        raise FieldOutsideDomainError(
            f"{who}: {int(bad.sum())} of {len(bad)} compartments lie outside the field's domain (no finite "
            f"E-field there; soma {np.round(np.array(placement.soma_m) * 1e3, 3).tolist()} mm). Place it "
            "deeper or choose another vertex.")
    return efield_head @ placement.rotation_matrix
