"""STAND-IN rat head surfaces for the BEM benchmarks, built from the synthetic rat's ground truth.

The real meshing pipeline (µCT -> masks -> remeshed surfaces) is a later issue. Until it exists, the
BEM benchmark needs surfaces with the size and topology of seed 003's 2C model (body about 5,900
vertices with 1.4 mm edges, skull with spine about 15,000 vertices with 0.67 mm edges, about
21,000 in all). This module makes them from the *ground-truth labels* of
:func:`napari_rat_tms.core.synthetic.make_synthetic_rat` -- no segmentation, no remeshing:

1. masks on the label grid (cropped to the body and padded with air so every surface closes):

   * body: everything that is not outside air. Internal air (nasal cavity, airway, ear canals) is
     body: the faces where the animal leaves the field of view are sealed slice by slice, and air
     is "outside" only if it is reachable from the border through openings wider than
     ``2 * _AIR_TUNNEL_RADIUS_MM`` (the nostrils are narrower). A morphological opening of radius
     ``max(0.75 mm, 0.6 * body_edge)`` then removes what an edge that long cannot mesh (the thin
     pinnae). The body ends where the scan does (its posterior cut face, behind the shoulders, is
     capped), like the seed's front-half scan.
   * skull: BONE, with the spine (``with_spine=True``: the vertebrae and the atlas are joined to
     each other and to the occiput by a morphological closing with a line segment of half-length
     ``_SPINE_CLOSING_MM`` along the spine, applied only behind a plane ``_SPINE_JOINT_MM`` in
     front of the skull/spine cut, so that the skull is ONE closed, holed surface as in the seed;
     the vertebral canal and the foramen magnum stay open) or without it (everything on the
     spine's side of the cut plane of :meth:`SyntheticRat.is_spine` removed). The skull is
     0.65 mm thick dorsally, two voxels: it is dilated by one voxel all round, and further
     *inwards only* (towards deeper body tissue, into the cranial cavity) until it is at least
     ``_SHEET_FACTOR`` meshing cells thick, so that sampling it on the meshing grid cannot punch
     spurious holes into it; the ground truth's openings (:attr:`SyntheticRat.openings`:
     foramen magnum, orbital openings, optic canals, foramina ovalia and jugularia) are then cut
     out again at their true radius, so that the thickening cannot close them (an opening
     narrower than a meshing cell may still close in the surface). Bone closer than ``margin``
     to the body surface that will be meshed (the smoothed body field's level set) is removed
     -- the chin and incisors, the ends of the spine and forelimb bones at the posterior cut --
     so that the skull cannot touch the body surface. Only the largest connected part is kept
     (the forelimb bones go).
   * eyes (3C): EYE, minus ``margin`` from the body surface and from the skull mask; an eye of
     which less than half is left (coarse models, whose thickened skull reaches into the orbit)
     is dropped.

2. each mask is smoothed with a Gaussian (sigma = half the target edge), resampled trilinearly
   to a grid whose spacing gives the target mean edge length (marching-cubes edges are about
   0.97 x the cell size; one correction pass follows the first try), and triangulated with
   :func:`skimage.measure.marching_cubes` at level 0.5. A level set of one field cannot intersect
   itself, and the padding closes it. Grid values within ``_LEVEL_GAP`` of the level are pushed
   away from it, on their own side, and all values get a tiny deterministic jitter (the signs,
   hence the topology, unchanged): the vertices then keep away from the grid nodes, so there are
   no sliver or zero-area triangles, and no exactly coplanar neighbouring triangles (the
   degenerate case of floating-point intersection tests). The largest connected component is
   kept (the others are listed in ``info``) and the winding made outward. If the genus differs
   from that of the same field meshed on a grid 0.6 times as fine (a thin part undersampled),
   the grid is shifted by fractions of a cell (or its spacing changed by a few per cent) until
   they agree.

The triangles are marching-cubes triangles (many right-angled), not the remeshed near-equilateral
triangles of the seed; the skull is thicker than the real one (about 1.3 mm instead of 0.65 mm in
the fine model; 3-4 mm in the coarse one, grown into the brain, whose small foramina close: only
the foramen magnum and the orbital openings stay open); the body is about 13 % smaller than the
seed's (5,100 vertices at 1.4 mm), so the fine model has about 19,200 vertices instead of 21,000
(plus 640 in the eyes). In the fine model every opening stays open, and the skull's
genus (11 with the spine, 10 without) is the same as that of the same field meshed on the label
grid, i.e. no holes come from undersampling. That is good enough to time the solver and to compare
it with OpenMEEG on the *same* surfaces; it is not an anatomical model.

:func:`cortex_points` gives the seed's evaluation points: the boundary of the brain mask minus a
1-mm dilated skull, about 2,000 of them.

Run ``python benchmarks/rat_models.py`` to build the fine and the coarse model and print their
vertex counts, edge lengths, genus, timings and the result of the conductor checks.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage, sparse
from skimage import measure

from napari_rat_tms.core.meshes.surface import TriangleSurface
from napari_rat_tms.core.synthetic import RatLabel

__all__ = ["stand_in_rat_surfaces", "cortex_points", "openings_open", "surface_genus", "FINE", "COARSE"]

#: Edge lengths (mm) of the seed's 2C model (here 5,100 + 14,100 vertices; the seed's has about
#: 21,000) and of a coarse model small enough for OpenMEEG (here 620 + 800 vertices; no spine, no
#: eyes).
FINE = dict(body_edge_mm=1.4, skull_edge_mm=0.67, with_spine=True)
COARSE = dict(body_edge_mm=3.8, skull_edge_mm=2.0, with_spine=False, with_eyes=False)

_MC_EDGE_PER_CELL = 0.97  # mean marching-cubes edge length / grid spacing (measured, level 0.5)
_AIR_TUNNEL_RADIUS_MM = 0.75  # air channels narrower than twice this count as body
# Half-length of the line segment that closes the 0.7 mm intervertebral and 1.7 mm atlanto-occipital
# gaps; 1.5 mm gives a spine whose genus does not depend on the meshing grid (1.2 mm left thin
# bridges that added two spurious handles at 0.67 mm edges).
_SPINE_CLOSING_MM = 1.5
_SPINE_JOINT_MM = 2.5  # the closing acts behind this distance in front of the skull/spine cut
_SHEET_FACTOR = 1.8  # minimum skull thickness, in meshing-grid cells
_DORSAL_SKULL_MM = 0.65  # the synthetic skull's thinnest bone
_LEVEL_GAP = 0.05  # minimum |field - 0.5| on the meshing grid (see _separate_from_level)
_JITTER = 1e-3  # jitter of the meshing grid's values (see _separate_from_level)


# --------------------------------------------------------------------------- helpers
def _edt(mask, h):
    """Distance (mm) from each True voxel to the nearest False voxel (0 on False voxels)."""
    return ndimage.distance_transform_edt(mask, sampling=h).astype(np.float32)


def _largest_component(mask):
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def _keep_largest_mesh_component(vertices, faces):
    """The connected part with the most triangles, and the (vertex count, signed volume mm^3) of
    each part left out (a negative volume is a void inside the kept part)."""
    n = len(vertices)
    rows = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    cols = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    graph = sparse.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    n_comp, comp = sparse.csgraph.connected_components(graph, directed=False)
    dropped = []
    if n_comp > 1:
        face_comp = comp[faces[:, 0]]
        used = np.bincount(face_comp, minlength=n_comp)
        keep = int(np.argmax(used))
        v = vertices[faces]
        signed = np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])) / 6.0
        volumes = np.bincount(face_comp, weights=signed, minlength=n_comp)
        sign = 1.0 if volumes[keep] >= 0 else -1.0  # orient as the kept part will be
        dropped = [(int(np.count_nonzero(comp == k)), round(float(sign * volumes[k]), 2))
                   for k in range(n_comp) if k != keep and used[k] > 0]
        faces = faces[face_comp == keep]
    used = np.zeros(n, dtype=bool)
    used[faces.ravel()] = True
    new_index = np.cumsum(used) - 1
    return vertices[used], new_index[faces], dropped


def _mean_edge(vertices, faces):
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    return float(np.linalg.norm(vertices[e[:, 0]] - vertices[e[:, 1]], axis=1).mean())


def surface_genus(surface: TriangleSurface) -> int:
    """Genus of a closed surface (summed over its components): :func:`checks.genus`."""
    from napari_rat_tms.core.meshes import checks

    return int(checks.genus(surface))


def _separate_from_level(grid):
    """Keep every sample between ``_LEVEL_GAP`` and ``2 * _LEVEL_GAP`` (or more) from the level 0.5,
    on its own side, and jitter all samples by up to ``_JITTER`` (deterministically), the sign of
    ``grid - 0.5`` unchanged -- so is the marching-cubes topology. The vertices then keep at least
    ``_LEVEL_GAP`` of a cell away from the grid nodes (no sliver or zero-area triangles), and no
    two triangles are exactly coplanar, not even on flat faces (the posterior cut) or where many
    samples would otherwise be clamped to the same value: exactly coplanar neighbours are the
    degenerate case of floating-point triangle-intersection tests."""
    rng = np.random.default_rng(20240)
    below = grid < 0.5
    jitter = rng.uniform(-_JITTER, _JITTER, grid.shape).astype(np.float32)
    gap = (_LEVEL_GAP * (1.0 + rng.random(grid.shape))).astype(np.float32)
    return np.where(below, np.minimum(grid + jitter, 0.5 - gap), np.maximum(grid + jitter, 0.5 + gap))


def _marching_cubes(field, h, spacing, shift=(0.0, 0.0, 0.0)):
    """Largest part of the 0.5 level set of ``field`` (grid step ``h``) resampled to ``spacing``,
    the grid shifted by ``shift`` cells: vertices (mm, relative to the field's first sample),
    faces, the parts left out."""
    shift = np.asarray(shift, float)
    n = np.floor(((np.asarray(field.shape) - 1) * h / spacing) - shift).astype(int) + 1
    coords = np.meshgrid(*[(np.arange(k) + shift[i]) * (spacing / h) for i, k in enumerate(n)],
                         indexing="ij")
    grid = ndimage.map_coordinates(field, coords, order=1, mode="constant", cval=0.0)
    del coords
    grid = _separate_from_level(grid)
    verts, faces, _, _ = measure.marching_cubes(grid, 0.5, spacing=(spacing,) * 3, allow_degenerate=False)
    verts, faces, dropped = _keep_largest_mesh_component(verts, faces)
    return verts + shift * spacing, faces, dropped


def _genus(vertices, faces):
    """Genus of one closed connected triangle mesh (Euler characteristic)."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    return (2 - (len(vertices) - len(e) + len(faces))) // 2


def _mesh_field(field, h, origin_mm, edge_mm, name, info):
    """Marching cubes of ``field`` (on a grid of spacing ``h`` starting at ``origin_mm``) at 0.5 on
    a trilinearly resampled grid sized for mean edges of ``edge_mm``; largest part, outward.

    The genus is compared with that of the same field meshed on a grid 0.6 times as fine: if
    they differ (a thin part undersampled: a spurious hole or handle), the grid is shifted by
    fractions of a cell, then its spacing changed by up to 6 %, until they agree. Parts left out
    go to ``info["dropped_parts"][name]``, disagreements that remain to
    ``info["genus_mismatch"][name]``.
    """
    spacing = edge_mm / _MC_EDGE_PER_CELL
    # A meshing cell (at the largest spacing tried) of zeros all round: the level set closes.
    extra = int(np.ceil(1.2 * spacing / h)) + 1
    field = np.pad(field, extra)
    origin_mm = np.asarray(origin_mm, float) - extra * h
    for _ in range(2):  # first try, then one correction of the spacing
        verts, faces, dropped = _marching_cubes(field, h, spacing)
        mean = _mean_edge(verts, faces)
        if abs(mean / edge_mm - 1.0) < 0.03:
            break
        spacing *= edge_mm / mean
    ref_verts, ref_faces, _ = _marching_cubes(field, h, max(h, 0.6 * spacing))
    reference = _genus(ref_verts, ref_faces)
    genus = _genus(verts, faces)
    tries = [(1.0, (0.5, 0.5, 0.5)), (1.0, (0.25, 0.5, 0.75)), (1.0, (0.75, 0.25, 0.5)),
             (1.0, (0.5, 0.0, 0.25)), (1.02, (0.0, 0.0, 0.0)), (0.98, (0.0, 0.0, 0.0)),
             (1.04, (0.5, 0.5, 0.5)), (0.96, (0.5, 0.5, 0.5)), (1.06, (0.0, 0.0, 0.0)),
             (0.94, (0.0, 0.0, 0.0))]
    for factor, shift in tries:
        if genus == reference:
            break
        v, f, d = _marching_cubes(field, h, spacing * factor, shift)
        if _genus(v, f) == reference:
            verts, faces, dropped, genus = v, f, d, reference
    if genus != reference:
        info["genus_mismatch"][name] = (genus, reference)
    if dropped:
        info["dropped_parts"][name] = dropped
    surface = TriangleSurface.from_mm(verts + origin_mm, faces, name)
    if surface.enclosed_volume_m3 < 0:
        surface = surface.flipped()
    return surface


def _smooth(mask, h, edge_mm):
    return ndimage.gaussian_filter(mask.astype(np.float32), sigma=0.5 * edge_mm / h, mode="constant")


# --------------------------------------------------------------------------- masks
def _crop_and_pad(labels, pad):
    """Labels cropped to the non-air voxels and padded with ``pad`` voxels of air; returns the
    array, the index of its voxel [0, 0, 0] in the original grid, and which faces of the original
    volume the body touches (axis, side) -> slice index in the padded array."""
    idx = np.nonzero(labels.any(axis=(1, 2)))[0], np.nonzero(labels.any(axis=(0, 2)))[0], \
        np.nonzero(labels.any(axis=(0, 1)))[0]
    lo = np.array([i[0] for i in idx])
    hi = np.array([i[-1] + 1 for i in idx])
    crop = labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    out = np.pad(crop, pad, mode="constant", constant_values=RatLabel.AIR)
    touching = {}
    for axis in range(3):
        if lo[axis] == 0:
            touching[(axis, 0)] = pad
        if hi[axis] == labels.shape[axis]:
            touching[(axis, 1)] = pad + crop.shape[axis] - 1
    return out, lo - pad, touching


def _body_mask(lab, h, touching, opening_mm):
    notair = lab != RatLabel.AIR
    # Seal the faces where the animal leaves the field of view (trachea, oesophagus).
    for (axis, _), k in touching.items():
        sl = [slice(None)] * 3
        sl[axis] = k
        notair[tuple(sl)] = ndimage.binary_fill_holes(notair[tuple(sl)])
    air = ~notair
    del notair
    core = _edt(air, h) > _AIR_TUNNEL_RADIUS_MM
    lab_core, _ = ndimage.label(core)
    outer = lab_core == lab_core[0, 0, 0]  # the padding is outside air
    del lab_core, core
    outside = air & (_edt(~outer, h) <= _AIR_TUNNEL_RADIUS_MM + 0.5 * h)
    body = ~outside
    # Opening: remove parts thinner than 2 * opening_mm (pinnae).
    eroded = _edt(body, h) > opening_mm
    body = _edt(~eroded, h) <= opening_mm
    return _largest_component(body)


def _inward_thickening_mm(h, skull_edge_mm):
    """How far the skull grows inwards: with one voxel outwards, the thinnest bone becomes
    ``_SHEET_FACTOR`` meshing cells thick (and at least one voxel)."""
    return max(h, _SHEET_FACTOR * skull_edge_mm / _MC_EDGE_PER_CELL - _DORSAL_SKULL_MM - h)


def _skull_mask(rat, lab, h, origin_mm, depth, with_spine, skull_edge_mm, margin_mm):
    bone = lab == RatLabel.BONE
    # Signed distance (mm) of each voxel to the skull/spine cut plane, positive on the spine's side.
    n = np.asarray(rat.spine_cut_normal, float)
    c = np.asarray(rat.spine_cut_point_mm, float)
    plane = sum(
        ((origin_mm[k] + np.arange(lab.shape[k]) * h - c[k]) * n[k]).reshape(
            [-1 if j == k else 1 for j in range(3)])
        for k in range(3)
    ).astype(np.float32)
    if with_spine:
        # Close the gaps along the spine (between the vertebrae, and between the atlas and the
        # occiput) with a line segment along the array axis closest to the spine's direction:
        # that bridges them without filling the vertebral canal or the foramen magnum.
        axis = int(np.argmax(np.abs(n)))
        half = int(np.ceil(_SPINE_CLOSING_MM / h))
        shape = [1, 1, 1]
        shape[axis] = 2 * half + 1
        region = plane > -_SPINE_JOINT_MM
        closed = ndimage.binary_closing(bone, structure=np.ones(shape, bool))
        bone |= closed & region
        del closed, region
    else:
        bone &= plane <= 0
    # Thicken: one voxel all round, then inwards (towards deeper tissue) up to the sheet thickness.
    inward_mm = _inward_thickening_mm(h, skull_edge_mm)
    dist, nearest = ndimage.distance_transform_edt(~bone, sampling=h, return_indices=True)
    deeper = depth >= depth[tuple(nearest)]
    del nearest
    skull = (dist <= h * 1.01) | ((dist <= inward_mm) & deeper)
    del dist, deeper
    _carve_openings(skull, rat.openings, h, origin_mm, extend_mm=inward_mm + h)
    skull &= depth >= margin_mm
    return _largest_component(skull)


def _carve_openings(mask, openings, h, origin_mm, extend_mm):
    """Re-open the skull's openings (foramen magnum, orbital openings, optic canals, foramina
    ovalia and jugularia) that the thickening narrowed or closed: remove the mask's voxels inside
    each opening's cylinder, lengthened by ``extend_mm`` at both ends."""
    idx = np.argwhere(mask)
    pts = idx * h + origin_mm
    cut = np.zeros(len(idx), dtype=bool)
    for o in openings:
        a, b = np.asarray(o.start, float), np.asarray(o.end, float)
        axis = (b - a) / np.linalg.norm(b - a)
        a, b = a - extend_mm * axis, b + extend_mm * axis
        t = np.clip((pts - a) @ axis, 0.0, np.linalg.norm(b - a))
        radial = np.linalg.norm(pts - (a + t[:, None] * axis), axis=1)
        cut |= radial <= o.radius_mm
    mask[tuple(idx[cut].T)] = False


def _eye_masks(rat, lab, h, origin_mm, depth, skull, margin_mm):
    eyes = (lab == RatLabel.EYE) & (depth >= margin_mm)
    eyes &= _edt(~skull, h) >= margin_mm
    comp, n = ndimage.label(eyes)
    if n == 0:
        return []
    sizes = np.bincount(comp.ravel())
    sizes[0] = 0
    out = []
    for k in np.argsort(sizes)[::-1][:2]:
        if sizes[k] == 0:
            continue
        centre = np.argwhere(comp == k).mean(axis=0) * h + origin_mm
        side = min(("left", "right"), key=lambda s: np.linalg.norm(rat.landmarks_mm[f"{s}_eye"] - centre))
        out.append((f"eye_{side}", comp == k))
    return sorted(out)


# --------------------------------------------------------------------------- public
def stand_in_rat_surfaces(rat, *, body_edge_mm: float = 1.4, skull_edge_mm: float = 0.67,
                          with_spine: bool = True, with_eyes: bool = True,
                          eye_edge_mm: float | None = None, margin_mm: float | None = None) -> dict:
    """Body, skull and eye surfaces of a synthetic rat, made from its ground-truth labels.

    A STAND-IN for the meshing pipeline (see the module docstring): marching cubes of smoothed
    label masks, with mean edge lengths near the targets.

    Parameters
    ----------
    rat : SyntheticRat
    body_edge_mm, skull_edge_mm : float
        Target mean edge lengths (mm). 1.4 / 0.67 with the spine give about 21,000 vertices
        (seed 003's 2C model); see :data:`FINE` and :data:`COARSE`.
    with_spine : bool
        Include the cervical spine in the skull surface (joined to the occiput).
    with_eyes : bool
        Also mesh the eyes (for the 3C model).
    eye_edge_mm : float, optional
        Edge length of the eyes; the skull's by default.
    margin_mm : float, optional
        Minimum distance between the masks of different surfaces (skull and eyes from the body's
        outside, eyes from the skull); default ``max(0.7, 0.35 * (body_edge + skull_edge))``: it
        must cover the chords of both meshes (up to ``edge**2 / (8 * radius)``).

    Returns
    -------
    dict
        ``"body"``, ``"skull"`` (:class:`TriangleSurface`, metres, outward normals), ``"eyes"``
        (list of TriangleSurface, ``eye_left``, ``eye_right``; empty without ``with_eyes``), and
        ``"info"`` (a dict: margins, skull thickening, the parts that marching cubes made besides
        the kept one as (vertex count, volume in mm^3; negative = a void inside the kept part),
        the eyes left out, genus disagreements with a finer grid that could not be removed, and
        the seconds each step took).
    """
    h_all = np.asarray(rat.volume.voxel_size_mm, float)
    if not np.allclose(h_all, h_all[0]):
        raise ValueError("stand_in_rat_surfaces needs isotropic voxels")
    h = float(h_all[0])
    eye_edge_mm = skull_edge_mm if eye_edge_mm is None else eye_edge_mm
    edges = {"body_edge_mm": body_edge_mm, "skull_edge_mm": skull_edge_mm, "eye_edge_mm": eye_edge_mm}
    for name, v in edges.items():
        if not (np.isfinite(v) and v >= h):
            raise ValueError(f"{name} must be at least the voxel size ({h} mm), got {v!r}")
    if margin_mm is None:
        margin_mm = max(0.7, 0.35 * (body_edge_mm + skull_edge_mm))
    opening_mm = max(0.75, 0.6 * body_edge_mm)
    info = {"margin_mm": margin_mm, "body_opening_mm": opening_mm, "dropped_parts": {}, "genus_mismatch": {},
            "seconds": {}}
    timer = time.perf_counter()

    def lap(step):
        nonlocal timer
        now = time.perf_counter()
        info["seconds"][step] = round(now - timer, 2)
        timer = now

    # Padding: the Gaussian filters treat the outside as 0 anyway (mode="constant"), so a sigma
    # (the 0.5 level set stays within about a sigma of the mask) and the air-tunnel radius (the
    # outside air must surround the body) are enough; _mesh_field adds a meshing cell.
    largest = max(body_edge_mm, skull_edge_mm, eye_edge_mm)
    pad = int(np.ceil((0.5 * largest + _AIR_TUNNEL_RADIUS_MM) / h)) + 3
    lab, origin_index, touching = _crop_and_pad(rat.labels, pad)
    origin_mm = origin_index * h

    body = _body_mask(lab, h, touching, opening_mm)
    body_field = _smooth(body, h, body_edge_mm)
    del body
    # Depth below the body surface that will be meshed (the smoothed field's level set: thin
    # convex parts such as the snout shrink under the Gaussian), mm.
    depth = _edt(body_field > 0.5, h)
    lap("body mask")
    skull = _skull_mask(rat, lab, h, origin_mm, depth, with_spine, skull_edge_mm, margin_mm)
    info["skull_inward_thickening_mm"] = round(_inward_thickening_mm(h, skull_edge_mm), 3)
    lap("skull mask")
    eye_masks = _eye_masks(rat, lab, h, origin_mm, depth, skull, margin_mm) if with_eyes else []
    lap("eye masks")

    out = {"body": _mesh_field(body_field, h, origin_mm, body_edge_mm, "body", info)}
    lap("body surface")
    out["skull"] = _mesh_field(_smooth(skull, h, skull_edge_mm), h, origin_mm, skull_edge_mm, "skull", info)
    lap("skull surface")
    eyes = []
    eye_label_voxels = np.count_nonzero(lab == RatLabel.EYE) / 2.0
    info["dropped_eyes"] = []
    for name, mask in eye_masks:
        if np.count_nonzero(mask) < 0.5 * eye_label_voxels:
            # The margins (or a skull thickened for a coarse grid) left less than half the eye.
            info["dropped_eyes"].append(name)
            continue
        sl = ndimage.find_objects(mask.astype(np.uint8))[0]
        p = int(np.ceil(0.5 * eye_edge_mm / h)) + 3
        sl = tuple(slice(max(s.start - p, 0), min(s.stop + p, n)) for s, n in zip(sl, mask.shape))
        sub_origin = origin_mm + np.array([s.start for s in sl]) * h
        eyes.append(_mesh_field(_smooth(mask[sl], h, eye_edge_mm), h, sub_origin, eye_edge_mm, name, info))
    out["eyes"] = eyes
    lap("eye surfaces")
    out["info"] = info
    return out


def _farthest_point_subsample(points, n, start=0):
    n = min(n, len(points))
    chosen = np.empty(n, dtype=np.int64)
    chosen[0] = start
    d = np.linalg.norm(points - points[start], axis=1)
    for k in range(1, n):
        chosen[k] = int(np.argmax(d))
        np.minimum(d, np.linalg.norm(points - points[chosen[k]], axis=1), out=d)
    return chosen


def cortex_points(rat, skull_surface_or_mask, *, n_points: int = 2000, depth_mm: float = 1.0) -> np.ndarray:
    """Evaluation points on the brain's outer surface, at least ``depth_mm`` from the skull.

    As in seed 003: the boundary of (BRAIN mask minus the skull dilated by ``depth_mm``), here
    the vertices of its marching-cubes surface (on the label grid), thinned to ``n_points`` by
    farthest-point sampling (evenly spread, deterministic).

    Parameters
    ----------
    rat : SyntheticRat
    skull_surface_or_mask : TriangleSurface or bool array
        The skull as a surface (metres; distances are then measured to it, and points inside it
        are refused) or as a mask on the rat's label grid (e.g. ``rat.labels == RatLabel.BONE``).
    n_points : int
    depth_mm : float

    Returns
    -------
    (P, 3) float array, metres (volume frame).
    """
    h = float(rat.volume.voxel_size_mm[0])
    brain = rat.labels == RatLabel.BRAIN
    sl = ndimage.find_objects(brain.astype(np.uint8))[0]
    pad = int(np.ceil(depth_mm / h)) + 3
    sl = tuple(slice(max(s.start - pad, 0), min(s.stop + pad, n)) for s, n in zip(sl, brain.shape))
    origin_mm = np.array([s.start for s in sl]) * h
    sub = brain[sl]
    surface = None
    if isinstance(skull_surface_or_mask, TriangleSurface):
        surface = skull_surface_or_mask
        idx = np.argwhere(sub)
        pts_m = (idx * h + origin_mm) / 1000.0
        far = _distance_to_surface_m(surface, pts_m) >= depth_mm / 1000.0
        far &= ~_points_inside(surface, pts_m)
        keep = np.zeros_like(sub)
        keep[tuple(idx[far].T)] = True
    else:
        skull = np.asarray(skull_surface_or_mask, dtype=bool)
        if skull.shape != rat.labels.shape:
            raise ValueError(
                f"the skull mask must have the label grid's shape {rat.labels.shape}, got {skull.shape}")
        # + h: the marching-cubes vertices lie up to a voxel from the kept voxels' centres.
        keep = sub & (ndimage.distance_transform_edt(~skull[sl], sampling=h) >= depth_mm + h)
    keep = _largest_component(keep)
    field = np.pad(keep.astype(np.float32), 1)
    verts, faces, _, _ = measure.marching_cubes(field, 0.5, spacing=(h,) * 3)
    verts = verts - h + origin_mm  # the padding moved the origin by one voxel
    pts_m = verts / 1000.0
    if surface is not None:  # marching-cubes vertices lie up to half a voxel outside the mask
        pts_m = pts_m[_distance_to_surface_m(surface, pts_m) >= depth_mm / 1000.0]
    top = int(np.argmax(pts_m @ np.asarray(rat.axes["dorsal"], float)))  # start at the most dorsal point
    chosen = _farthest_point_subsample(pts_m, n_points, start=top)
    return pts_m[chosen]


def _distance_to_surface_m(surface, points_m):
    from napari_rat_tms.core.meshes import checks

    return np.asarray(checks.distance_to_surface(surface, points_m), float)


def _points_inside(surface, points_m):
    from napari_rat_tms.core.meshes import checks

    return np.asarray(checks.points_inside(surface, points_m), bool)


# --------------------------------------------------------------------------- report
def openings_open(rat, skull: TriangleSurface, n_samples: int = 200) -> dict:
    """For each of the synthetic rat's skull openings: True when no point of its axis (start to
    end, in the volume frame) lies inside the skull surface, i.e. the hole goes through."""
    from napari_rat_tms.core.meshes import checks

    out = {}
    for o in rat.openings:
        t = np.linspace(0.0, 1.0, n_samples)[:, None]
        axis_mm = np.asarray(o.start) + t * (np.asarray(o.end) - np.asarray(o.start))
        out[o.name] = not bool(np.any(checks.points_inside(skull, axis_mm / 1000.0)))
    return out


def _report(name, surfaces, cortex=None, rat=None):
    from napari_rat_tms.core.bem.conductor import rat_head_model

    body, skull, eyes = surfaces["body"], surfaces["skull"], surfaces["eyes"]
    total = body.n_vertices + skull.n_vertices
    print(f"== {name}: {total} vertices in body + skull "
          f"(+{sum(e.n_vertices for e in eyes)} in {len(eyes)} eyes)")
    for s in (body, skull, *eyes):
        print(f"   {s.name:10s} {s.n_vertices:6d} vertices {s.n_faces:6d} faces, mean edge "
              f"{s.mean_edge_length_m * 1000:.3f} mm, genus {surface_genus(s)}, "
              f"volume {s.enclosed_volume_m3 * 1e9:.0f} mm^3")
    info = surfaces["info"]
    print(f"   margin {info['margin_mm']:.2f} mm, skull thickened inwards by "
          f"{info['skull_inward_thickening_mm']:.2f} mm, body opening {info['body_opening_mm']:.2f} mm")
    if info["genus_mismatch"]:
        print(f"   GENUS differs from the finer grid's (got, reference): {info['genus_mismatch']}")
    if info["dropped_parts"] or info["dropped_eyes"]:
        print(f"   left out: parts (vertices, volume mm^3) {info['dropped_parts']}, "
              f"eyes {info['dropped_eyes']}")
    print("   seconds: " + ", ".join(f"{k} {v}" for k, v in info["seconds"].items())
          + f"; total {sum(info['seconds'].values()):.1f}")
    for label, args in (("2C", (body, skull)), ("3C", (body, skull, eyes))):
        if label == "3C" and not eyes:
            continue
        t = time.perf_counter()
        try:
            model = rat_head_model(*args, name=label)
            print(f"   rat_head_model {label}: accepted ({time.perf_counter() - t:.1f} s): {model!r}")
        except Exception as exc:  # noqa: BLE001 - a report, not a test
            print(f"   rat_head_model {label}: REFUSED ({type(exc).__name__}: {exc})")
    try:
        from napari_rat_tms.core.meshes import checks

        d = np.asarray(checks.distance_to_surface(body, skull.vertices_m)) * 1000.0
        print(f"   closest skull vertex to the body surface: {d.min():.2f} mm")
    except (ImportError, AttributeError):
        pass
    if rat is not None:
        print("   openings through the skull (axis clear of bone): " + ", ".join(
            f"{name} {'open' if ok else 'CLOSED'}" for name, ok in openings_open(rat, skull).items()))
    if cortex is not None:
        from napari_rat_tms.core.meshes import checks

        d = np.asarray(checks.distance_to_surface(skull, cortex)) * 1000.0
        inside_body = checks.points_inside(body, cortex)
        inside_skull = checks.points_inside(skull, cortex)
        print(f"   cortex points: {len(cortex)}, distance to the skull {d.min():.2f}-{d.max():.2f} mm, "
              f"all inside the body: {bool(np.all(inside_body))}, none inside the skull: "
              f"{not np.any(inside_skull)}")


def main():
    from napari_rat_tms.core.synthetic import make_synthetic_rat

    t = time.perf_counter()
    rat = make_synthetic_rat(voxel_size_mm=0.34)
    print(f"synthetic rat 0.34 mm: {time.perf_counter() - t:.1f} s")
    for name, kwargs in (("fine (seed 003 2C sizes)", FINE), ("coarse (OpenMEEG)", COARSE)):
        t = time.perf_counter()
        surfaces = stand_in_rat_surfaces(rat, **kwargs)
        build = time.perf_counter() - t
        t = time.perf_counter()
        cortex = cortex_points(rat, surfaces["skull"])
        print(f"[{name}: {kwargs}; surfaces {build:.1f} s, cortex points {time.perf_counter() - t:.1f} s]")
        _report(name, surfaces, cortex, rat)


if __name__ == "__main__":
    main()
