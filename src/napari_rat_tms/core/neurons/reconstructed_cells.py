"""Reconstructed neuron models on NEURON: cells from morphology files (:func:`cell_from_morphology`).

In this order:

1. read with NEURON's Import3d (Neurolucida ``.asc``, ``.swc``);
2. adult-rat scaling (Aberra et al. 2018's "Adult Rat" preset, ``../shared/data/neurons/README``):
   axon diameters x1.322, apical dendrite diameters x1.248, basal dendrite diameters x1.133, soma
   area x1.322 (the soma's 3D points scaled isotropically by sqrt(1.322) about its centre, so the
   area scales exactly), basal dendrite lengths x1.17 (each basal tree scaled about the point where it
   leaves the soma);
3. myelination (Aberra et al. 2018, as reimplemented in TMS-Neuro-Sim): the first axon section
   keeps its first 50 um unmyelinated (axon initial segment; the whole section when it is shorter
   than 50 + 20 + 1 um); every other axon section of diameter >= 0.2 um is divided into ``n``
   internodes each followed by a 1 um node of Ranvier, ``n = floor(L / (L_int + 1 um))`` with
   ``L_int = 100 d`` (``70 d`` on terminal sections; ``d``: the section's diameter at its start), or
   ``n = floor(L / (20 um + 1 um))`` when that is zero (minimum internode 20 um); sections thinner
   than 0.2 um or shorter than 21 um stay unmyelinated (active). Branch points are therefore nodes.
   The myelin keeps the axon's diameter (the sheath is represented by its membrane properties;
   TMS-Neuro-Sim also widens the myelin's diameter by a g-ratio, which we do not);
4. the cell frame: the soma centre (mean of the soma's 3D points) moves to the origin and the
   morphology is rotated so that the somatodendritic axis is +z. Axis: from the soma centre to the
   length-weighted centroid of the apical dendrites when the cell has apical dendrites; otherwise the
   file's +y axis (the Blue Brain Project files, and most NeuroMorpho files, put the pia along +y).
   The rotation first maps the file's +y to +z (a 90 degree rotation about x: x stays x) and then
   rotates by the smallest angle that takes the (rotated) apical axis to +z. NEURON's 3D points stay
   in the file's coordinates; the cell-frame positions come from :meth:`NeuronCell.segment_positions_um`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .cells import (
    ADULT_RAT_SCALING,
    AIS_LENGTH_UM,
    INTERNODE_PER_DIAMETER,
    MIN_INTERNODE_LENGTH_UM,
    MIN_MYELIN_DIAMETER_UM,
    NODE_LENGTH_UM,
    NO_SCALING,
    TERMINAL_INTERNODE_PER_DIAMETER,
    AdultRatScaling,
    Biophysics,
    MorphologyError,
    NeuronCell,
    SectionOwner,
    neuron_h,
    section_points,
    set_section_points,
)

__all__ = ["cell_from_morphology", "main_axon_terminal", "disable_main_axon_terminal"]


def _read_morphology(h, path, owner):
    h.load_file("import3d.hoc")
    suffix = path.suffix.lower()
    if suffix == ".asc":
        reader = h.Import3d_Neurolucida3()
    elif suffix == ".swc":
        reader = h.Import3d_SWC_read()
    else:
        raise MorphologyError(f"{path}: unsupported morphology format {suffix!r} (use .asc or .swc)")
    try:
        reader.quiet = 1
    except (AttributeError, LookupError, RuntimeError):  # pragma: no cover - SWC reader has no quiet
        pass
    try:
        reader.input(str(path))
        importer = h.Import3d_GUI(reader, 0)
        importer.instantiate(owner)
    except (RuntimeError, ValueError) as exc:
        raise MorphologyError(f"{path}: NEURON's Import3d could not read it ({exc})") from exc
    if not owner.soma:
        raise MorphologyError(f"{path}: no soma found (Import3d read {len(owner.all)} sections); is it a "
                              "neuron morphology in Neurolucida ASCII or SWC format?")
    if not owner.axon:
        raise MorphologyError(f"{path}: the morphology has no axon; activation thresholds need one")


def _scale_diameters(sections, factor):
    if factor == 1.0:
        return
    for sec in sections:
        for i in range(int(sec.n3d())):
            sec.pt3dchange(i, sec.diam3d(i) * factor)


def _scale_about(sections, origin, factor, scale_diameter=False):
    for sec in sections:
        xyz, diam, _ = section_points(sec)
        xyz = origin + factor * (xyz - origin)
        set_section_points(sec, xyz, diam * factor if scale_diameter else diam)


def _subtree(sec):
    out = [sec]
    for child in sec.children():
        out.extend(_subtree(child))
    return out


def _polyline_piece(xyz, diam, arc, start, stop):
    """Points of the polyline between arc lengths ``start`` and ``stop`` (interpolated ends)."""
    inside = (arc > start) & (arc < stop)
    ts = np.concatenate([[start], arc[inside], [stop]])
    pts = np.stack([np.interp(ts, arc, xyz[:, a]) for a in range(3)], axis=1)
    ds = np.interp(ts, arc, diam)
    return pts, ds


def _myelinate(h, owner, kinds):
    """Replace the axon by AIS + myelin/node pieces (module docstring, step 3). Returns counts."""
    axon_order = []
    stack = [sec for sec in owner.soma[0].children() if kinds[sec.name()] == "axon"]
    while stack:
        sec = stack.pop()
        axon_order.append(sec)
        stack.extend(sec.children())
    first_axon = [sec for sec in axon_order if sec.parentseg().sec == owner.soma[0]]
    counter = {"node": 0, "myelin": 0, "ais": 0, "axon": 0}
    # new names never collide with Import3d's axon[k] still to be replaced
    prefix = {"node": "node", "myelin": "myelin", "ais": "ais", "axon": "unmyelin"}

    def new(kind, pts, ds):
        sec = h.Section(name=f"{prefix[kind]}[{counter[kind]}]", cell=owner)
        counter[kind] += 1
        set_section_points(sec, pts, ds)
        owner.all.append(sec)
        kinds[sec.name()] = kind
        (owner.node if kind == "node" else owner.myelin if kind == "myelin" else owner.axon).append(sec)
        return sec

    for sec in axon_order:
        xyz, diam, arc = section_points(sec)
        length = float(arc[-1])
        if length <= 0:
            continue
        parent = sec.parentseg()
        parent_sec, parent_x = parent.sec, parent.x
        children = [(child, h.parent_connection(sec=child)) for child in sec.children()]
        pieces = []  # (kind, start, stop)
        is_first = sec in first_axon
        start = 0.0
        if is_first:
            if length >= AIS_LENGTH_UM + MIN_INTERNODE_LENGTH_UM + NODE_LENGTH_UM:
                pieces.append(("ais", 0.0, AIS_LENGTH_UM))
                start = AIS_LENGTH_UM
            else:
                pieces.append(("ais", 0.0, length))
                start = length
        remaining = length - start
        if remaining > 0:
            d0 = float(np.interp(start, arc, diam))
            terminal = len(children) == 0
            per_d = TERMINAL_INTERNODE_PER_DIAMETER if terminal else INTERNODE_PER_DIAMETER
            n = 0
            if d0 >= MIN_MYELIN_DIAMETER_UM:
                n = int(remaining // (per_d * d0 + NODE_LENGTH_UM))
                if n == 0:
                    n = int(remaining // (MIN_INTERNODE_LENGTH_UM + NODE_LENGTH_UM))
            if n == 0:
                pieces.append(("axon", start, length))
            else:
                internode = (remaining - n * NODE_LENGTH_UM) / n
                position = start
                for k in range(n):
                    pieces.append(("myelin", position, position + internode))
                    position += internode
                    stop = length if k == n - 1 else position + NODE_LENGTH_UM
                    pieces.append(("node", position, stop))
                    position = stop
        new_sections = []
        for kind, a, b in pieces:
            pts, ds = _polyline_piece(xyz, diam, arc, a, b)
            piece = new(kind, pts, ds)
            if new_sections:
                piece.connect(new_sections[-1][0](1), 0)
            else:
                piece.connect(parent_sec(parent_x), 0)
            new_sections.append((piece, a, b))
        for child, x in children:
            h.disconnect(sec=child)
            where = x * length
            # a child attached inside the section goes to the end of the piece that contains the point
            target = next((p for p, a, b in new_sections if a <= where <= b + 1e-9), new_sections[-1][0])
            child.connect(target(1), 0)
        owner.all.remove(sec)
        owner.axon.remove(sec)
        del kinds[sec.name()]
        h.delete_section(sec=sec)
    return {k: v for k, v in counter.items()}


def _length_weighted_centroid(sections):
    """Centroid of the sections' 3D polylines, weighted by length (um)."""
    total, weighted = 0.0, np.zeros(3)
    for sec in sections:
        xyz, _, _ = section_points(sec)
        lengths = np.linalg.norm(np.diff(xyz, axis=0), axis=1)
        weighted += (0.5 * (xyz[1:] + xyz[:-1]) * lengths[:, None]).sum(axis=0)
        total += lengths.sum()
    if total > 0:
        return weighted / total
    return np.mean(np.concatenate([section_points(s)[0] for s in sections]), axis=0)


def _rotation_between(a, b):
    """Smallest rotation matrix taking unit vector ``a`` to unit vector ``b`` (Rodrigues)."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if np.linalg.norm(v) < 1e-12:
        if c > 0:
            return np.eye(3)
        axis = np.cross(a, [1.0, 0, 0])
        if np.linalg.norm(axis) < 1e-6:
            axis = np.cross(a, [0, 1.0, 0])
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


#: File frame -> cell frame before the apical correction: y -> z, z -> -y, x stays (90 deg about x).
_Y_TO_Z = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])


def main_axon_terminal(cell: NeuronCell):
    """The terminal section of the main axon: from the first axon section, at each branch point the
    child that is thickest at its start, to the end (the rule of TMS-Neuro-Sim's
    ``disable_main_axon_terminal_thickest``, Weise et al. 2023, reimplementing Aberra et al. 2018/2020).
    ``None`` when the cell has no axon."""
    axon_kinds = ("ais", "axon", "node", "myelin")
    kind_of = dict(zip((sec.name() for sec in cell.sections), cell.section_kinds))
    first = [sec for sec in cell.soma.children() if kind_of[sec.name()] in axon_kinds]
    if not first:
        return None
    sec = max(first, key=lambda s: s(0).diam)
    while True:
        children = [c for c in sec.children() if kind_of[c.name()] in axon_kinds]
        if not children:
            return sec
        sec = max(children, key=lambda c: c(0).diam)


def disable_main_axon_terminal(cell: NeuronCell) -> str | None:
    """Disable the cut end of the main axon as Aberra et al. (2020, Brain Stimul 13:175, Fig. 1) do.

    Blue Brain reconstructions come from slices: the main axon of an L5 or L6 pyramidal cell stops
    where the slice was cut, and a sealed end at that point is where an intracortical field most
    easily starts a spike (a field along the axon depolarises its end), although in the animal the
    axon goes on into the white matter. Aberra et al. disable that terminal by setting the diameter at
    its end to 1,000 um (as in TMS-Neuro-Sim, ``neuron_cell.py``, ``disable_main_axon_terminal_thickest``):
    the end then carries a membrane area (and capacitance) so large that the axial current a field
    drives into it cannot depolarise it, which removes the artificial sealed end. Done here the same
    way: ``sec(1).diam = 1000`` on :func:`main_axon_terminal`'s section (NEURON then sets the 3D
    points near that end to 1,000 um). Returns the section's name (``None`` without an axon); the
    cell's ``source`` records it."""
    terminal = main_axon_terminal(cell)
    if terminal is None:
        return None
    terminal(1).diam = 1000.0
    cell.source["main_axon_terminal_disabled"] = terminal.name()
    return terminal.name()


def cell_from_morphology(path, *, adult_rat_scaling: bool | AdultRatScaling = True, myelinate: bool = True,
                         biophysics: str | Biophysics = "default", name: str | None = None,
                         disable_cut_axon: bool = False) -> NeuronCell:
    """A reconstructed cell from a Neurolucida ``.asc`` or ``.swc`` file (module docstring: steps 1-4).

    ``adult_rat_scaling``: True for :data:`ADULT_RAT_SCALING`, False for none, or an
    :class:`AdultRatScaling`. ``myelinate``: replace the axon by AIS + myelinated internodes + nodes
    (otherwise the whole axon is unmyelinated and active). ``biophysics``: ``"default"`` or a
    :class:`Biophysics`. ``disable_cut_axon``: disable the main axon's terminal, the slice's cut end
    (:func:`disable_main_axon_terminal`; Aberra et al. 2020 do it for the L5 and L6 pyramidal cells;
    off by default: the package's thresholds, direction maps and CNN data keep the end intact, see
    BENCHMARKS.md for what it changes). Raises :class:`MorphologyError` naming the file and the
    reason when it cannot be read or has no soma or axon.
    """
    path = Path(path)
    if not path.is_file():
        raise MorphologyError(f"morphology file {path} does not exist")
    if biophysics == "default":
        biophysics = Biophysics()
    if not isinstance(biophysics, Biophysics):
        raise ValueError(f"biophysics must be 'default' or a Biophysics, got {biophysics!r}")
    scaling = ADULT_RAT_SCALING if adult_rat_scaling is True else (
        NO_SCALING if adult_rat_scaling is False else adult_rat_scaling)
    if not isinstance(scaling, AdultRatScaling):
        raise ValueError("adult_rat_scaling must be True, False or an AdultRatScaling")
    h = neuron_h()
    name = name or path.stem
    owner = SectionOwner(name)
    _read_morphology(h, path, owner)
    kinds = {}
    for kind in ("soma", "dend", "apic", "axon"):
        for sec in getattr(owner, kind):
            kinds[sec.name()] = kind
    if len(owner.soma) != 1:
        # Import3d makes one soma section from a contour; several somata are not a single cell
        raise MorphologyError(f"{path}: expected one soma section, Import3d made {len(owner.soma)}")
    soma = owner.soma[0]
    soma_xyz, _, _ = section_points(soma)
    soma_centre = soma_xyz.mean(axis=0)
    # adult-rat scaling (step 2)
    _scale_diameters(owner.axon, scaling.axon_diameter)
    _scale_diameters(owner.apic, scaling.apical_diameter)
    _scale_diameters(owner.dend, scaling.basal_diameter)
    if scaling.soma_area != 1.0:
        _scale_about([soma], soma_centre, math.sqrt(scaling.soma_area), scale_diameter=True)
    if scaling.basal_length != 1.0:
        for stem in [sec for sec in soma.children() if kinds[sec.name()] == "dend"]:
            origin = np.array([stem.x3d(0), stem.y3d(0), stem.z3d(0)])
            _scale_about(_subtree(stem), origin, scaling.basal_length)
    counts = _myelinate(h, owner, kinds) if myelinate else {}
    if not myelinate:
        first = [sec for sec in owner.axon if sec.parentseg().sec == soma]
        for sec in owner.axon:
            kinds[sec.name()] = "ais" if sec in first else "axon"
    # cell frame (step 4)
    rotation = _Y_TO_Z
    axis_source = "file +y"
    if owner.apic:
        axis = (_length_weighted_centroid(owner.apic) - soma_centre) @ _Y_TO_Z.T
        if np.linalg.norm(axis) > 1e-9:
            rotation = _rotation_between(axis, np.array([0.0, 0.0, 1.0])) @ _Y_TO_Z
            axis_source = "soma -> apical centroid"
    source = {"builder": "cell_from_morphology", "path": str(path), "adult_rat_scaling": scaling.__dict__,
              "myelinate": bool(myelinate), "myelination_counts": counts, "axis": axis_source}
    cell = NeuronCell(name, owner, kinds, biophysics=biophysics, source=source,
                      frame_rotation=rotation, frame_origin_um=soma_centre)
    if disable_cut_axon:
        disable_main_axon_terminal(cell)
    return cell
