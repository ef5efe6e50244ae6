"""The surfaces of a head model from a segmentation, with checks between them (WORK IN PROGRESS
for the meshing issue; see from_mask.py).

Seed 003's meshes: body 1.4 mm edges (5,924 vertices), skull with spine 0.67 mm (15,238), skull
without spine at the same resolution (12,426), eyes about 0.5 mm (479 vertices), the cortical
evaluation surface with about 2,000 points (1,833). The guarantees checked here between meshes:
skull, spine and eyes inside the body; eyes clear of the bone; the evaluation surface inside the
body and at least ``evaluation_gap_mm`` (minus half an edge) from the bone. Each gap is reported in
mm; a failure raises :class:`~napari_rat_tms.core.errors.MeshError` naming both meshes and the
place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import MeshError
from .checks import distance_to_surface, find_surface_intersections, points_inside
from ..progress import forward
from .from_mask import MeshStatistics, iter_mesh_from_mask, mesh_from_mask
from .surface import TriangleSurface

__all__ = ["MeshingParameters", "HeadMeshes", "iter_mesh_segmentation", "mesh_segmentation",
           "iter_mesh_labels", "edge_for_vertex_count"]


@dataclass(frozen=True)
class MeshingParameters:
    """Target mean edge lengths (mm; seed 003's) and the evaluation surface's point count."""

    body_edge_mm: float = 1.4
    skull_edge_mm: float = 0.67
    eye_edge_mm: float = 0.5
    cortex_points: int = 2000
    smoothing_voxels: float | None = None  # None: a quarter of each edge length (from_mask)
    # Bone and eyes are kept this far inside the body (mm; None: half the body edge length), so
    # that their surfaces cannot cross the coarser body surface (incisors and the nasal tip reach
    # the skin in a µCT).
    inner_margin_mm: float | None = None
    # How: "drop" leaves out the bone and eye voxels closer than the margin to the skin (seed-sized
    # rat scalps are thick enough over the vault); "move skin" keeps them and moves the body's
    # surface out to the margin over them instead. A mouse's scalp over the vault is 0.1-0.4 mm
    # thick on the shared scans, so "drop" would cut holes into the vault under the coil (MOLG/DnJ:
    # 1.75 mm from bregma to the nearest bone kept); the mouse's species default is "move skin".
    bone_near_skin: str = "drop"

    def __post_init__(self):
        if self.bone_near_skin not in ("drop", "move skin"):
            raise ValueError(f"bone_near_skin must be 'drop' or 'move skin', got {self.bone_near_skin!r}")
        for name in ("body_edge_mm", "skull_edge_mm", "eye_edge_mm"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive length in mm, got {value!r}")
        if isinstance(self.cortex_points, bool) or not isinstance(self.cortex_points, (int, np.integer)) \
                or self.cortex_points < 1:
            raise ValueError(f"cortex_points must be a positive whole number, got {self.cortex_points!r}")
        for name in ("smoothing_voxels", "inner_margin_mm"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
                                      or not (np.isfinite(value) and value >= 0)):
                raise ValueError(f"{name} must be a number >= 0 or none, got {value!r}")


@dataclass(frozen=True, eq=False)
class HeadMeshes:
    """Surfaces (SI) of one segmentation, their statistics and the gaps between them (mm)."""

    surfaces: dict[str, TriangleSurface]
    statistics: dict[str, MeshStatistics]
    gaps_mm: dict[str, float] = field(default_factory=dict)
    #: repairs made while meshing (dicts: ``surface``, ``kind``, ``voxels``, ``places_mm``)
    repairs: list = field(default_factory=list)

    def describe(self) -> str:
        lines = [s.describe() for s in self.statistics.values()]
        lines += [f"gap {k}: {v:.2f} mm" for k, v in self.gaps_mm.items()]
        lines += [f"repair of the {r['surface']}: {r['kind']}, {r['voxels']} voxels" for r in self.repairs]
        return "\n".join(lines)


def edge_for_vertex_count(area_mm2: float, n_vertices: int) -> float:
    """Edge length (mm) of an equilateral closed mesh of ``area_mm2`` with ``n_vertices``
    (2 triangles per vertex, each sqrt(3)/4 e^2)."""
    return float(np.sqrt(4.0 * area_mm2 / (2.0 * n_vertices * np.sqrt(3.0))))


class CrossingError(MeshError):
    """Two surfaces cross; ``places_mm``: centroids of the inner surface's crossing triangles."""

    def __init__(self, message: str, places_mm):
        super().__init__(message)
        self.places_mm = np.asarray(places_mm, float)


def _check_inside(inner: TriangleSurface, outer: TriangleSurface) -> float:
    """Raise unless ``inner`` lies inside ``outer`` without crossing it; return the gap (mm)."""
    crossing = find_surface_intersections(inner, outer)
    if len(crossing):
        p = inner.face_centroids_m[crossing[0, 0]] * 1e3
        raise CrossingError(f"The {inner.name} surface crosses the {outer.name} surface ({len(crossing)} "
                            f"triangle pairs, e.g. near ({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}) mm).",
                            inner.face_centroids_m[np.unique(crossing[:, 0])] * 1e3)
    inside = points_inside(outer, inner.vertices_m)
    if not inside.all():
        p = inner.vertices_m[np.flatnonzero(~inside)[0]] * 1e3
        raise MeshError(f"The {inner.name} surface is not inside the {outer.name} surface (e.g. "
                        f"({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}) mm).")
    return float(distance_to_surface(outer, inner.vertices_m).min() * 1e3)


def _check_apart(a: TriangleSurface, b: TriangleSurface) -> float:
    """Raise unless ``a`` and ``b`` are disjoint (neither crossing nor nested); return the gap."""
    crossing = find_surface_intersections(a, b)
    inside = points_inside(b, a.vertices_m)
    if len(crossing) or inside.any():
        p = (a.face_centroids_m[crossing[0, 0]] if len(crossing)
             else a.vertices_m[np.flatnonzero(inside)[0]]) * 1e3
        raise MeshError(f"The {a.name} and {b.name} surfaces touch or overlap (e.g. near "
                        f"({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}) mm): they must be apart. Use smaller "
                        "edge lengths, or check the segmentation there.")
    return float(distance_to_surface(b, a.vertices_m).min() * 1e3)


def iter_mesh_segmentation(seg, parameters: MeshingParameters | None = None):
    """Generator (progress ``(fraction, message)``) returning :class:`HeadMeshes` for a
    :class:`~napari_rat_tms.core.segmentation.Segmentation`: body, skull (with the spine, as one
    surface of possibly several components), skull without spine, eyes (if any) and the
    evaluation ("cortex") surface."""
    return (yield from iter_mesh_labels(seg.labels, seg.voxel_size_mm, parameters,
                                        evaluation_gap_mm=seg.parameters.evaluation_gap_mm))


def mesh_segmentation(seg, parameters: MeshingParameters | None = None, progress=None) -> HeadMeshes:
    """Blocking form of :func:`iter_mesh_segmentation`; ``progress(fraction, message)`` is called
    between steps. Warnings (repairs) are issued as :class:`.from_mask.MeshWarning`."""
    from ..progress import run_to_completion

    return run_to_completion(iter_mesh_segmentation(seg, parameters), progress)


def iter_mesh_labels(labels, voxel_size_mm, parameters: MeshingParameters | None = None, *,
                     evaluation_gap_mm: float = 1.0):
    """:func:`iter_mesh_segmentation` for a label volume of
    :class:`~napari_rat_tms.core.segmentation.TissueLabel` values (e.g. a napari Labels layer)."""
    import warnings

    from ..segmentation import Segmentation, SegmentationParameters, Thresholds, Topology

    seg = Segmentation(  # only the masks are used below
        labels=np.asarray(labels), voxel_size_mm=tuple(np.broadcast_to(
            np.asarray(voxel_size_mm, dtype=float), (3,))),
        parameters=SegmentationParameters(evaluation_gap_mm=evaluation_gap_mm),
        thresholds=Thresholds(0.0, 1.0), eye_points_mm=np.empty((0, 3)), eye_isolevels=(),
        eye_auto_isolevels=(), brain_seal_radius_mm=None, brain_source="labels",
        skull_topology=Topology(0, 0, 0), skull_and_spine_topology=Topology(0, 0, 0))
    if not seg.brain.any():
        raise MeshError("The segmentation has no brain: the evaluation surface needs one.")

    from ..segmentation.morphology import dilate_mm, erode_mm
    from .from_mask import MeshWarning

    p = parameters or MeshingParameters()
    h = seg.voxel_size_mm
    margin = 0.5 * p.body_edge_mm if p.inner_margin_mm is None else p.inner_margin_mm
    inner = erode_mm(seg.body, margin, h)  # also off the volume border, where the body is cut
    body_mask = seg.body
    if p.bone_near_skin == "move skin":
        # off the volume border only (the body cannot grow out of the array); the skin moves out
        inner_border = np.ones(seg.body.shape, bool)
        for axis, (n, step) in enumerate(zip(seg.body.shape, h)):
            k = min(int(np.ceil(margin / step)), n)
            index = [slice(None)] * 3
            index[axis] = np.r_[0:k, n - k:n]
            inner_border[tuple(index)] = False
        near_skin = (seg.skull_and_spine | seg.eyes) & ~inner & inner_border
        if near_skin.any():
            grown = dilate_mm(near_skin, margin, h) & ~seg.body
            body_mask = seg.body | grown
            where = np.argwhere(near_skin).mean(axis=0) * np.asarray(h)
            warnings.warn(f"{int(near_skin.sum())} voxel(s) of bone or eyes lie within {margin:g} mm of the skin "
                          f"(around ({where[0]:.1f}, {where[1]:.1f}, {where[2]:.1f}) mm: a thin scalp); they are "
                          f"kept and the body surface is moved out over them ({int(grown.sum())} voxel(s) added "
                          "to the body).", MeshWarning, stacklevel=2)
        inner = inner_border
    masks = {}
    for name, mask in (("skull", seg.skull_and_spine), ("skull without spine", seg.skull),
                       ("eyes", seg.eyes)):
        dropped = mask & ~inner
        if dropped.any():
            where = np.argwhere(dropped).mean(axis=0) * np.asarray(h)
            warnings.warn(
                f"{int(dropped.sum())} voxel(s) of the {name} lie within {margin:g} mm of the body "
                f"surface or the volume's border (around ({where[0]:.1f}, {where[1]:.1f}, {where[2]:.1f}) mm); "
                "they are left out of its mesh so that it stays inside the body.",
                MeshWarning, stacklevel=2)
        masks[name] = mask & inner
    # Eyes kept half an edge (the larger of eye and skull edges) off the bone, for the same reason.
    eye_margin = 0.5 * max(p.eye_edge_mm, p.skull_edge_mm)
    near_bone = masks["eyes"] & dilate_mm(masks["skull"], eye_margin, h)
    if near_bone.any():
        warnings.warn(f"{int(near_bone.sum())} eye voxel(s) within {eye_margin:g} mm of the bone are "
                      "left out of the eyes' mesh so that it stays clear of the skull's.",
                      MeshWarning, stacklevel=2)
        masks["eyes"] = masks["eyes"] & ~near_bone
    parts = [("body", body_mask, p.body_edge_mm), ("skull", masks["skull"], p.skull_edge_mm),
             ("skull without spine", masks["skull without spine"], p.skull_edge_mm)]
    if masks["eyes"].any():
        parts.append(("eyes", masks["eyes"], p.eye_edge_mm))
    surfaces, stats, repairs = {}, {}, []
    for k, (name, mask, edge) in enumerate(parts):
        yield k / (len(parts) + 2), f"meshing the {name} ({edge:g} mm edges)"
        if name == "skull without spine" and np.array_equal(mask, masks["skull"]):
            # no spine in the scan (or none apart from the cranium): the same surface, renamed
            surfaces[name] = TriangleSurface(surfaces["skull"].vertices_m, surfaces["skull"].faces, name=name)
            stats[name] = replace(stats["skull"], name=name)
            continue
        surfaces[name], stats[name] = yield from forward(
            iter_mesh_from_mask(mask, h, edge, name=name, smoothing_voxels=p.smoothing_voxels, repairs=repairs),
            k / (len(parts) + 2), 0.0, f"meshing the {name} ({edge:g} mm edges): ")
        if name == "body":
            surfaces[name], stats[name] = _largest_piece(surfaces[name], stats[name], repairs)
        else:
            surfaces[name], stats[name] = _repair_crossing(surfaces[name], stats[name], mask, edge, surfaces,
                                                           h, p, repairs)
    yield len(parts) / (len(parts) + 2), f"meshing the evaluation surface (~{p.cortex_points} points)"
    # The region's voxel centres are evaluation_gap_mm from the bone's; their surfaces lie half a
    # voxel outside each, so one more voxel keeps the surfaces themselves that far apart.
    gap = seg.parameters.evaluation_gap_mm
    region = seg.evaluation_region(gap + float(max(h)))
    rough, _ = mesh_from_mask(region, h, 2.0 * max(h), name="cortex",
                              smoothing_voxels=p.smoothing_voxels)
    area_mm2 = float(rough.face_areas_m2.sum() * 1e6)
    surfaces["cortex"], stats["cortex"] = mesh_from_mask(
        region, h, edge_for_vertex_count(area_mm2, p.cortex_points), name="cortex",
        smoothing_voxels=p.smoothing_voxels)
    yield (len(parts) + 1) / (len(parts) + 2), "checking the gaps between the surfaces"
    body = surfaces["body"]
    gaps = {"skull to body": _check_inside(surfaces["skull"], body),
            "cortex to body": _check_inside(surfaces["cortex"], body),
            "cortex to skull": _check_apart(surfaces["cortex"], surfaces["skull"])}
    if gaps["cortex to skull"] < gap - 0.05:
        warnings.warn(f"The evaluation surface comes within {gaps['cortex to skull']:.2f} mm of the "
                      f"skull surface (asked: {gap:g} mm).", MeshWarning, stacklevel=2)
    if "eyes" in surfaces:
        gaps["eyes to body"] = _check_inside(surfaces["eyes"], body)
        gaps["eyes to skull"] = _check_apart(surfaces["eyes"], surfaces["skull"])
    yield 1.0, "done"
    return HeadMeshes(surfaces, stats, gaps, repairs)


def _largest_piece(surface, stats, repairs):
    """The body surface as one closed piece: a body mask in one component can still mesh into
    several (smoothing cuts a thin bridge, e.g. a paw or a fold at the field of view's border; on
    BALB/cJ a second piece made every BEM model's field wrong by orders of magnitude). The largest
    piece (by enclosed volume) is kept; the others are left out and reported."""
    import warnings

    from .checks import face_components
    from .from_mask import MeshWarning, surface_statistics

    faces = surface.faces
    n = surface.n_vertices
    count, face_label = face_components(surface)
    if count <= 1:
        return surface, stats
    v = surface.vertices_m
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    signed = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    volumes = np.bincount(face_label, weights=signed, minlength=count)
    keep = int(np.argmax(np.abs(volumes)))
    kept_faces = faces[face_label == keep]
    used = np.unique(kept_faces)
    renumber = np.full(n, -1, np.int64)
    renumber[used] = np.arange(len(used))
    piece = TriangleSurface(v[used], renumber[kept_faces], name=surface.name)
    dropped = [abs(float(x)) * 1e9 for k, x in enumerate(volumes) if k != keep]
    repairs.append({"surface": surface.name, "kind": "largest piece kept", "voxels": 0, "attempt": 1,
                    "places_mm": [], "dropped_mm3": [round(x, 2) for x in dropped]})
    warnings.warn(f"The {surface.name} surface came out in {count} pieces: the largest "
                  f"({abs(float(volumes[keep])) * 1e9:.0f} mm^3) is kept, {count - 1} piece(s) of "
                  f"{', '.join(f'{x:.2f}' for x in dropped)} mm^3 are left out.", MeshWarning, stacklevel=3)
    return piece, surface_statistics(piece, stats.mask_volume_mm3)


#: Local repairs tried when an inner surface crosses the body surface.
CROSSING_REPAIRS = 3


def _repair_crossing(surface, stats, mask, edge, surfaces, h, p, repairs):
    """An inner surface (bone, eyes) that crosses the body surface where the two come within an
    edge of each other (thin skin over the nasal bone or the occiput, a field of view that cuts
    the head): the inner mask's voxels within one body edge of the crossing triangles and within
    a body edge of the body's boundary are left out, and the surface meshed again (up to
    :data:`CROSSING_REPAIRS` times, each reported)."""
    import warnings

    from ..segmentation.morphology import erode_mm
    from .from_mask import MeshWarning, near_points

    body = surfaces["body"]
    margin = 0.5 * p.body_edge_mm if p.inner_margin_mm is None else p.inner_margin_mm
    for attempt in range(CROSSING_REPAIRS + 1):
        crossing = find_surface_intersections(surface, body)
        if not len(crossing):
            return surface, stats
        places = surface.face_centroids_m[np.unique(crossing[:, 0])] * 1e3
        if attempt == CROSSING_REPAIRS:
            break
        if attempt == 0:
            deep = erode_mm(_body_mask_of(mask, surfaces, h), margin + p.body_edge_mm, h)
        near = near_points(mask.shape, h, places, p.body_edge_mm)
        drop = mask & near & ~deep
        if not drop.any():
            break
        mask = mask & ~drop
        repairs.append({"surface": surface.name, "kind": "kept inside the body", "voxels": int(drop.sum()),
                        "attempt": attempt + 1, "places_mm": np.round(places[:5], 2).tolist()})
        warnings.warn(f"The {surface.name} surface crossed the body surface near ({places[0][0]:.1f}, "
                      f"{places[0][1]:.1f}, {places[0][2]:.1f}) mm: {int(drop.sum())} voxel(s) of it within "
                      f"{margin + p.body_edge_mm:g} mm of the skin there are left out and it is meshed again.",
                      MeshWarning, stacklevel=3)
        surface, stats = mesh_from_mask(mask, h, edge, name=surface.name, smoothing_voxels=p.smoothing_voxels,
                                        repairs=repairs)
    raise CrossingError(f"The {surface.name} surface crosses the body surface ({len(places)} triangles, e.g. "
                        f"near ({places[0][0]:.1f}, {places[0][1]:.1f}, {places[0][2]:.1f}) mm) and the local "
                        "repair did not separate them. Use a smaller body edge length, or check the "
                        "segmentation there.", places)


def _body_mask_of(mask, surfaces, h):
    """The body as a voxel mask on ``mask``'s grid (the body surface's inside)."""
    from .checks import points_inside

    grid = np.indices(mask.shape).reshape(3, -1).T * np.asarray(h)
    return points_inside(surfaces["body"], grid * 1e-3).reshape(mask.shape)
