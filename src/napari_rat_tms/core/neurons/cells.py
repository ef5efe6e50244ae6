"""Neuron models on NEURON: a straight myelinated axon, a ball-and-stick cell, reconstructed cells.

A :class:`NeuronCell` holds NEURON sections and what the threshold engine needs: the segments in
tree order (each segment's parent precedes it), their centres in the **cell frame** (micrometres;
soma centre at the origin, somatodendritic axis along +z), the parent index of each segment, and
the segments where activation is detected (axon initial segment, nodes of Ranvier, unmyelinated
axon and terminals).

Biophysics (:class:`Biophysics`), two channel sets chosen by ``Biophysics.channels``. Shared by
both: Aberra et al. (2018)'s rules for the myelinated axon (myelin ``cm = 0.02 uF/cm2``, ``g =
1/1.125e6 S/cm2``, no channels), dendrites ``cm = 2 uF/cm2`` (spines), soma and axon ``cm = 1
uF/cm2``, ``Ra = 100 ohm cm``, leak ``g_pas = 3e-5 S/cm2``, ``E_Na = 50 mV``, ``E_K = -85 mV``.

* ``"reduced"`` (the default): not the full Hay et al. (2011) set used by Aberra et al. (2018), but
  the transient Na+ current ``rtms_NaTa_t`` and the Kv3.1 K+ current ``rtms_SKv3_1`` (package
  mechanisms, see ``mechanisms.py``) in the soma, axon initial segment, unmyelinated axon and nodes;
  passive (``pas``) dendrites. Missing: persistent Na+, the other K+ currents (K_Pst, K_Tst, SK, M),
  Ca2+ currents and dynamics, Ih. Densities follow the magnitudes of the full set below (axonal NaTa_t
  3.14 and SKv3_1 1.02 S/cm2; somatic transient Na+ 0.98 S/cm2 (NaTs2_t in the full set, here
  NaTa_t) and SKv3_1 0.30 S/cm2), nodal Na+ twice the axonal density (6.28 S/cm2).
* ``"hay2011"``: the full channel set of Hay et al. (2011) PLoS Comput Biol 7:e1002107, each
  mechanism written for this package from the published equations (``mechanisms.py``):
  NaTa_t, NaTs2_t, Nap_Et2, K_Pst, K_Tst, SKv3_1, SK_E2, Ca_HVA, Ca_LVAst, CaDynamics_E2, Ih, Im.
  Densities: the optimised layer 5 thick-tufted pyramidal cell (L5_TTPC, cADpyr) parameters of
  Markram et al. (2015) Cell 163:456-492 as released in BluePyOpt's ``examples/l5pc`` (Van Geit et
  al. 2016; ``generate_hoc.py`` release parameters, ``config/parameters.json`` and
  ``config/mechanisms.json`` for what goes where), the same values as TMS-Neuro-Sim's
  ``L5_TTPC2_cADpyr`` (Weise et al. 2023, reimplementing Aberra et al. 2018, whose cells use these
  Blue Brain models). Per region (S/cm2 unless stated):

  - soma: NaTs2_t 0.983955, SKv3_1 0.303472, SK_E2 0.008407, Ca_HVA 0.000994, Ca_LVAst 0.000333,
    Ih 8e-5; Ca2+ shell gamma 0.000609, decay 210.485284 ms;
  - axon initial segment (the first 50 um, "axonal" in BluePyOpt): NaTa_t 3.137968, Nap_Et2
    0.006827, K_Pst 0.973538, K_Tst 0.089259, SKv3_1 1.021945, SK_E2 0.007104, Ca_HVA 0.000990,
    Ca_LVAst 0.008752; Ca2+ shell gamma 0.002910, decay 287.198731 ms;
  - nodes of Ranvier and unmyelinated axon: the axonal NaTa_t, Nap_Et2, K_Pst, K_Tst and SKv3_1
    only (no Ca2+ currents, SK_E2 or Ca2+ dynamics) with nodal NaTa_t doubled (6.275936), Aberra et
    al. (2018)'s rule as implemented in TMS-Neuro-Sim (``neuron_cell.py``,
    ``_apply_myelin_biophysics``);
  - apical dendrites: NaTs2_t 0.026145, SKv3_1 0.004226, Im 0.000143, and Ih increasing
    exponentially with the path distance ``d`` (um) from the soma's centre (``soma(0.5)``, BluePyOpt's
    reference point): ``g_Ih = 8e-5 (-0.8696 + 2.087 exp(0.0031 d))``. No apical Ca2+ "hot zone":
    Hay et al. (2011)'s own parameter sets put Ca_LVAst and Ca_HVA 685-885 um from the soma, but the
    Markram et al. (2015) L5_TTPC parameters used here (and by Aberra et al. 2018) have no apical
    Ca2+ channels, and mixing the two parameter sets would be neither model;
  - basal dendrites: Ih 8e-5.

  Ca2+ shells: depth 0.1 um, floor minCai 1e-4 mM (the mechanism's published defaults); E_Ca from
  the Nernst equation with [Ca2+]_o = 2 mM (NEURON's default). Temperature: the kinetics with a q10
  (2.3, reference 21 degC: NaTa_t, NaTs2_t, Nap_Et2, K_Pst, K_Tst, Ca_LVAst, Im) follow NEURON's
  ``celsius`` (the threshold engine sets 37 degC); the distributed Hay/Blue Brain files fix their
  factor at 34 degC. The published leak reversal (-90 mV in Hay et al. 2011, -75 mV in the
  BluePyOpt/TMS-Neuro-Sim L5_TTPC) is not used: see the resting state below. Values were checked
  against BluePyOpt's repository (commit 146bb01, 2024-11-01) and TMS-Neuro-Sim's
  ``l5_ttpc2_cadpyr.py``. The same L5_TTPC densities are used for every morphology (Aberra et al.
  2018 give each cell type its own Blue Brain parameters; those are not reproduced here).

Resting state: the leak reversal ``e_pas`` is set in each compartment so that the cell rests exactly
at ``v_rest_mv`` (-70 mV) with its channels at their steady state (a standard NEURON initialisation:
``e_pas = v + (i_Na + i_K)/g_pas``; full set: ``e_pas = v + (i_Na + i_K + i_Ca + i_h)/g_pas``), so
every simulation starts from rest without a settling period. With the full set each Ca2+ shell first
gets its steady [Ca2+]_i at rest (``rtms_CaDynamics_E2.cai_start``, the fixed point of the shell
equation with the resting Ca2+ current and its Nernst E_Ca, computed at 37 degC,
:data:`REST_TEMPERATURE_C`), so that the SK current starts at its steady state too; ``finitialize``
then starts from an exact fixed point.

Discretisation: ``nseg = 1 + 2 floor(L / 40 um)`` per section (segments at most 40 um, about 20 um
on long sections; the rule of TMS-Neuro-Sim, Weise et al. 2023, which reimplements Aberra et al.
2018), nodes of Ranvier one segment.

Reconstructed cells (:func:`cell_from_morphology`), in this order:

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RatTmsError
from .mechanisms import load_mechanisms

__all__ = [
    "Biophysics",
    "MorphologyError",
    "NeuronCell",
    "AdultRatScaling",
    "ADULT_RAT_SCALING",
    "straight_myelinated_axon",
    "ball_and_stick_cell",
    "cell_from_morphology",
    "main_axon_terminal",
    "disable_main_axon_terminal",
    "SECTION_KINDS",
    "ACTIVE_KINDS",
    "CHANNEL_SETS",
]

#: Section kinds: soma, basal dendrite, apical dendrite, axon initial segment, unmyelinated axon,
#: node of Ranvier, myelinated internode.
SECTION_KINDS = ("soma", "dend", "apic", "ais", "axon", "node", "myelin")
#: Kinds whose segments are watched for activation (the axon's excitable membrane).
ACTIVE_KINDS = ("ais", "axon", "node")

NODE_LENGTH_UM = 1.0
AIS_LENGTH_UM = 50.0
MIN_MYELIN_DIAMETER_UM = 0.2
MIN_INTERNODE_LENGTH_UM = 20.0
INTERNODE_PER_DIAMETER = 100.0
TERMINAL_INTERNODE_PER_DIAMETER = 70.0
SEGMENT_CHUNK_UM = 40.0


class MorphologyError(RatTmsError, ValueError):
    """A morphology file could not be read or built into a cell (missing, garbage, no soma...)."""


#: Channel sets of :class:`Biophysics` (module docstring).
CHANNEL_SETS = ("reduced", "hay2011")
#: Apical Ih density: ``g(d) = (IH_APICAL_OFFSET + IH_APICAL_AMPLITUDE exp(IH_APICAL_RATE_PER_UM d))
#: x full_apic_g_ih_s_per_cm2``, ``d`` the path distance (um) from the soma's centre (module docstring).
IH_APICAL_OFFSET = -0.8696
IH_APICAL_AMPLITUDE = 2.087
IH_APICAL_RATE_PER_UM = 0.0031
#: Temperature (degC) at which the resting state is computed (the Nernst Ca2+ reversal potential of
#: the full channel set depends on it); the threshold engine's default temperature.
REST_TEMPERATURE_C = 37.0


@dataclass(frozen=True)
class Biophysics:
    """Membrane parameters: the channel set and its densities (module docstring for sources).

    ``channels``: ``"reduced"`` (NaTa_t + SKv3_1 in the soma and axon, passive dendrites; fields
    without prefix ``full_``) or ``"hay2011"`` (the full Hay et al. 2011 channel set with the L5
    pyramidal cell densities of Markram et al. 2015; fields ``full_*``). Shared by both: ``v_rest_mv``,
    reversal potentials, ``ra_ohm_cm``, ``g_pas_s_per_cm2``, capacitances and myelin.

    Conductances in S/cm2, capacitances in uF/cm2, potentials in mV, ``ra_ohm_cm`` in ohm cm,
    ``*_ca_gamma`` dimensionless (free fraction of the Ca2+ influx), ``*_ca_decay_ms`` in ms.
    """

    v_rest_mv: float = -70.0
    e_na_mv: float = 50.0
    e_k_mv: float = -85.0
    ra_ohm_cm: float = 100.0
    g_pas_s_per_cm2: float = 3e-5
    cm_uf_per_cm2: float = 1.0
    dendrite_cm_uf_per_cm2: float = 2.0
    myelin_cm_uf_per_cm2: float = 0.02
    myelin_g_pas_s_per_cm2: float = 1.0 / 1.125e6
    soma_g_na_s_per_cm2: float = 0.98
    soma_g_kv3_s_per_cm2: float = 0.30
    axon_g_na_s_per_cm2: float = 3.14
    axon_g_kv3_s_per_cm2: float = 1.02
    node_g_na_s_per_cm2: float = 6.28
    node_g_kv3_s_per_cm2: float = 1.02
    channels: str = "reduced"
    # full set ("hay2011"): soma
    full_soma_g_nats2_s_per_cm2: float = 0.983955
    full_soma_g_skv3_1_s_per_cm2: float = 0.303472
    full_soma_g_sk_e2_s_per_cm2: float = 0.008407
    full_soma_g_ca_hva_s_per_cm2: float = 0.000994
    full_soma_g_ca_lvast_s_per_cm2: float = 0.000333
    full_soma_g_ih_s_per_cm2: float = 8e-5
    full_soma_ca_gamma: float = 0.000609
    full_soma_ca_decay_ms: float = 210.485284
    # full set: axon initial segment (all axonal channels); unmyelinated axon and nodes (no Ca2+)
    full_axon_g_nata_s_per_cm2: float = 3.137968
    full_axon_g_nap_et2_s_per_cm2: float = 0.006827
    full_axon_g_k_pst_s_per_cm2: float = 0.973538
    full_axon_g_k_tst_s_per_cm2: float = 0.089259
    full_axon_g_skv3_1_s_per_cm2: float = 1.021945
    full_axon_g_sk_e2_s_per_cm2: float = 0.007104
    full_axon_g_ca_hva_s_per_cm2: float = 0.000990
    full_axon_g_ca_lvast_s_per_cm2: float = 0.008752
    full_axon_ca_gamma: float = 0.002910
    full_axon_ca_decay_ms: float = 287.198731
    full_node_g_nata_s_per_cm2: float = 2 * 3.137968
    # full set: apical and basal dendrites
    full_apic_g_nats2_s_per_cm2: float = 0.026145
    full_apic_g_skv3_1_s_per_cm2: float = 0.004226
    full_apic_g_im_s_per_cm2: float = 0.000143
    full_apic_g_ih_s_per_cm2: float = 8e-5
    full_basal_g_ih_s_per_cm2: float = 8e-5

    def __post_init__(self):
        if self.channels not in CHANNEL_SETS:
            raise ValueError(f"channels must be one of {CHANNEL_SETS}, got {self.channels!r}")

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AdultRatScaling:
    """Aberra et al. (2018) "Adult Rat" scaling of the juvenile Blue Brain Project morphologies."""

    axon_diameter: float = 1.322
    apical_diameter: float = 1.248
    basal_diameter: float = 1.133
    soma_area: float = 1.322
    basal_length: float = 1.17


ADULT_RAT_SCALING = AdultRatScaling()
#: Aberra et al. (2020, Brain Stimul 13:175)'s adult-human scaling (their ``setParamsAdultHuman``): for
#: comparing with their published human-scaled thresholds (benchmarks/bench_validation_aberra2020.py).
ADULT_HUMAN_SCALING = AdultRatScaling(axon_diameter=2.453, apical_diameter=1.876, basal_diameter=1.946,
                                      soma_area=2.453, basal_length=1.17)
NO_SCALING = AdultRatScaling(1.0, 1.0, 1.0, 1.0, 1.0)


class _SectionOwner:
    """Owner of a cell's sections: NEURON names them ``<name>.<section>``; Import3d fills the lists."""

    def __init__(self, name):
        self.name = name
        self.all, self.soma, self.dend, self.apic, self.axon = [], [], [], [], []
        self.myelin, self.node = [], []

    def __str__(self):
        return self.name

    __repr__ = __str__


def _h():
    from neuron import h

    load_mechanisms()
    h.load_file("stdrun.hoc")
    return h


def _points(sec):
    n = int(sec.n3d())
    xyz = np.array([[sec.x3d(i), sec.y3d(i), sec.z3d(i)] for i in range(n)], dtype=float).reshape(n, 3)
    diam = np.array([sec.diam3d(i) for i in range(n)], dtype=float)
    arc = np.array([sec.arc3d(i) for i in range(n)], dtype=float)
    return xyz, diam, arc


def _set_points(sec, xyz, diam):
    sec.pt3dclear()
    for (x, y, z), d in zip(xyz, diam):
        sec.pt3dadd(float(x), float(y), float(z), float(d))


def _nseg_for(length_um):
    return 1 + 2 * int(length_um / SEGMENT_CHUNK_UM)


class NeuronCell:
    """A neuron model in NEURON (module docstring). Build it with the module's builders.

    Attributes: ``name``; ``soma`` (the root section); ``sections`` (tree order); ``section_kinds``
    (one of :data:`SECTION_KINDS` per section); ``segments`` (tree order, parents first);
    ``biophysics``; ``source`` (how it was built: builder, parameters, file). Every section carries
    NEURON's ``extracellular`` mechanism for the field coupling.
    """

    def __init__(self, name, owner, kinds, *, biophysics=Biophysics(), source=None,
                 frame_rotation=None, frame_origin_um=None):
        self.name = str(name)
        self._owner = owner
        self.biophysics = biophysics
        self.source = dict(source or {})
        self._kinds_by_name = dict(kinds)
        self._rotation = np.eye(3) if frame_rotation is None else np.asarray(frame_rotation, float)
        self._origin_um = np.zeros(3) if frame_origin_um is None else np.asarray(frame_origin_um, float)
        h = _h()
        roots = [sec for sec in owner.all if sec.parentseg() is None]
        if len(roots) != 1:
            raise MorphologyError(f"{self.name}: expected one tree with one root section, found {len(roots)}")
        self.soma = roots[0]
        self.sections = []
        stack = [self.soma]
        while stack:
            sec = stack.pop()
            self.sections.append(sec)
            stack.extend(reversed(list(sec.children())))
        if len(self.sections) != len(owner.all):  # pragma: no cover - defensive
            raise MorphologyError(f"{self.name}: {len(owner.all) - len(self.sections)} sections are not "
                                  "connected to the soma")
        names = [sec.name() for sec in self.sections]
        if len(set(names)) != len(names):  # pragma: no cover - defensive: kinds are keyed by name
            raise MorphologyError(f"{self.name}: duplicate section names")
        self.section_kinds = [self._kinds_by_name[name] for name in names]
        for sec in self.sections:
            if h.section_orientation(sec=sec) != 0:
                raise MorphologyError(f"{self.name}: section {sec.name()} is connected by its 1 end; "
                                      "only 0-end connections are supported")
            sec.nseg = _nseg_for(sec.L) if self._kinds_by_name[sec.name()] != "node" else 1
        self._apply_biophysics()
        self._index_segments()
        self._balance_rest()
        self._positions_um = None

    # ------------------------------------------------------------------ structure
    def _index_segments(self):
        self.segments = []
        self._first_segment = {}
        section_of_segment = []
        parents = []
        for s_index, sec in enumerate(self.sections):
            first = len(self.segments)
            self._first_segment[sec.name()] = first
            segs = list(sec)
            for k, seg in enumerate(segs):
                if k > 0:
                    parents.append(first + k - 1)
                elif sec == self.soma:
                    parents.append(-1)
                else:
                    parent_sec = sec.parentseg().sec
                    x = sec.parentseg().x
                    nseg = parent_sec.nseg
                    parents.append(self._first_segment[parent_sec.name()] + min(int(x * nseg), nseg - 1))
                self.segments.append(seg)
                section_of_segment.append(s_index)
        self._parents = np.asarray(parents, dtype=np.int64)
        self._section_of_segment = np.asarray(section_of_segment, dtype=np.int64)
        kinds = np.array(self.section_kinds)[self._section_of_segment]
        self._segment_kinds = kinds
        self._active = np.flatnonzero(np.isin(kinds, ACTIVE_KINDS))

    def segment_parents(self) -> np.ndarray:
        """(N,) index of each segment's parent segment (-1 for the root, the soma's first segment)."""
        return self._parents.copy()

    def segment_kinds(self) -> np.ndarray:
        """(N,) section kind of each segment (:data:`SECTION_KINDS`)."""
        return self._segment_kinds.copy()

    def segment_section_names(self) -> list[str]:
        """Name of each segment's section, e.g. ``L5_TTPC2_cADpyr232_1.node[12]``."""
        names = [sec.name() for sec in self.sections]
        return [names[i] for i in self._section_of_segment]

    def segment_label(self, index) -> str:
        """``section(x)`` of one segment, e.g. ``cell.node[3](0.5)``."""
        seg = self.segments[int(index)]
        return f"{seg.sec.name()}({seg.x:.3g})"

    @property
    def detection_indices(self) -> np.ndarray:
        """Indices of the segments watched for activation: axon initial segment, unmyelinated axon,
        nodes of Ranvier (terminals included)."""
        return self._active.copy()

    @property
    def n_segments(self) -> int:
        return len(self.segments)

    def segment_positions_um(self) -> np.ndarray:
        """(N, 3) segment centres in the cell frame (um), interpolated along each section's 3D points."""
        if self._positions_um is None:
            positions = np.empty((len(self.segments), 3))
            for sec in self.sections:
                xyz, _, arc = _points(sec)
                first = self._first_segment[sec.name()]
                xs = np.array([seg.x for seg in sec]) * arc[-1]
                for axis in range(3):
                    positions[first:first + sec.nseg, axis] = np.interp(xs, arc, xyz[:, axis])
            self._positions_um = (positions - self._origin_um) @ self._rotation.T
            self._positions_um.setflags(write=False)
        return self._positions_um.copy()

    def total_length_um(self, kind=None) -> float:
        """Summed section length (um), of one kind or of all sections."""
        return float(sum(sec.L for sec, k in zip(self.sections, self.section_kinds) if kind in (None, k)))

    def count(self, kind) -> int:
        """Number of sections of one kind (e.g. ``"node"``)."""
        return sum(1 for k in self.section_kinds if k == kind)

    def summary(self) -> dict:
        """Counts and lengths per kind, segment count."""
        out = {"name": self.name, "n_segments": self.n_segments, "n_sections": len(self.sections)}
        for kind in SECTION_KINDS:
            out[f"n_{kind}"] = self.count(kind)
            out[f"length_{kind}_um"] = round(self.total_length_um(kind), 3)
        return out

    # ------------------------------------------------------------------ biophysics
    def _apply_biophysics(self):
        b = self.biophysics
        for sec, kind in zip(self.sections, self.section_kinds):
            sec.Ra = b.ra_ohm_cm
            sec.insert("pas")
            sec.insert("extracellular")
            if kind == "myelin":
                sec.cm = b.myelin_cm_uf_per_cm2
                sec.g_pas = b.myelin_g_pas_s_per_cm2
                continue
            sec.g_pas = b.g_pas_s_per_cm2
            sec.cm = b.dendrite_cm_uf_per_cm2 if kind in ("dend", "apic") else b.cm_uf_per_cm2
            if b.channels == "hay2011":
                self._insert_full_set(sec, kind)
                continue
            if kind in ("dend", "apic"):
                continue
            g_na, g_k = {"soma": (b.soma_g_na_s_per_cm2, b.soma_g_kv3_s_per_cm2),
                         "node": (b.node_g_na_s_per_cm2, b.node_g_kv3_s_per_cm2)}.get(
                kind, (b.axon_g_na_s_per_cm2, b.axon_g_kv3_s_per_cm2))
            sec.insert("rtms_NaTa_t")
            sec.insert("rtms_SKv3_1")
            for seg in sec:
                seg.rtms_NaTa_t.gbar = g_na
                seg.rtms_SKv3_1.gbar = g_k
            sec.ena = b.e_na_mv
            sec.ek = b.e_k_mv

    def _full_set_densities(self, kind) -> dict:
        """``{mechanism: gbar}`` of the full channel set in a section of ``kind`` (not myelin), and
        ``rtms_CaDynamics_E2``: ``(gamma, decay)`` where the section has Ca2+ dynamics."""
        b = self.biophysics
        if kind == "soma":
            return {"rtms_NaTs2_t": b.full_soma_g_nats2_s_per_cm2,
                    "rtms_SKv3_1": b.full_soma_g_skv3_1_s_per_cm2,
                    "rtms_SK_E2": b.full_soma_g_sk_e2_s_per_cm2,
                    "rtms_Ca_HVA": b.full_soma_g_ca_hva_s_per_cm2,
                    "rtms_Ca_LVAst": b.full_soma_g_ca_lvast_s_per_cm2,
                    "rtms_Ih": b.full_soma_g_ih_s_per_cm2,
                    "rtms_CaDynamics_E2": (b.full_soma_ca_gamma, b.full_soma_ca_decay_ms)}
        if kind in ("ais", "axon", "node"):
            g_na = b.full_node_g_nata_s_per_cm2 if kind == "node" else b.full_axon_g_nata_s_per_cm2
            out = {"rtms_NaTa_t": g_na,
                   "rtms_Nap_Et2": b.full_axon_g_nap_et2_s_per_cm2,
                   "rtms_K_Pst": b.full_axon_g_k_pst_s_per_cm2,
                   "rtms_K_Tst": b.full_axon_g_k_tst_s_per_cm2,
                   "rtms_SKv3_1": b.full_axon_g_skv3_1_s_per_cm2}
            if kind == "ais":
                out.update({"rtms_SK_E2": b.full_axon_g_sk_e2_s_per_cm2,
                            "rtms_Ca_HVA": b.full_axon_g_ca_hva_s_per_cm2,
                            "rtms_Ca_LVAst": b.full_axon_g_ca_lvast_s_per_cm2,
                            "rtms_CaDynamics_E2": (b.full_axon_ca_gamma, b.full_axon_ca_decay_ms)})
            return out
        if kind == "apic":
            return {"rtms_NaTs2_t": b.full_apic_g_nats2_s_per_cm2,
                    "rtms_SKv3_1": b.full_apic_g_skv3_1_s_per_cm2,
                    "rtms_Im": b.full_apic_g_im_s_per_cm2,
                    "rtms_Ih": b.full_apic_g_ih_s_per_cm2}
        if kind == "dend":
            return {"rtms_Ih": b.full_basal_g_ih_s_per_cm2}
        raise ValueError(f"no full-set channels for section kind {kind!r}")  # pragma: no cover

    def _insert_full_set(self, sec, kind):
        h = _h()
        b = self.biophysics
        densities = self._full_set_densities(kind)
        for mech in densities:
            sec.insert(mech)
        for seg in sec:
            for mech, value in densities.items():
                if mech == "rtms_CaDynamics_E2":
                    seg.rtms_CaDynamics_E2.gamma, seg.rtms_CaDynamics_E2.decay = value
                elif mech == "rtms_Ih" and kind == "apic":
                    d = h.distance(self.soma(0.5), seg)
                    seg.rtms_Ih.gbar = value * (IH_APICAL_OFFSET + IH_APICAL_AMPLITUDE
                                                * math.exp(IH_APICAL_RATE_PER_UM * d))
                else:
                    getattr(seg, mech).gbar = value
        if h.ismembrane("na_ion", sec=sec):
            sec.ena = b.e_na_mv
        if h.ismembrane("k_ion", sec=sec):
            sec.ek = b.e_k_mv

    def _balance_rest(self):
        """Set ``e_pas`` so that each compartment rests at ``v_rest_mv`` (channels at steady state).

        Full channel set: each Ca2+ shell's initial [Ca]_i is first set to its steady state at rest
        (``cai_start``: fixed point of [Ca]_i = minCai - 1e4 i_Ca gamma decay / (2 F depth), i_Ca
        taken with the Nernst E_Ca of that [Ca]_i), then ``e_pas`` balances i_Na + i_K + i_Ca + i_h,
        at :data:`REST_TEMPERATURE_C` (restored afterwards). Every state is then at its fixed point.
        """
        h = _h()
        b = self.biophysics
        v_rest = b.v_rest_mv
        for sec in self.sections:
            for seg in sec:
                seg.e_pas = v_rest
        if b.channels == "reduced":
            h.finitialize(v_rest)
            h.fcurrent()
            for sec, kind in zip(self.sections, self.section_kinds):
                if kind not in ("soma",) + ACTIVE_KINDS:
                    continue
                for seg in sec:
                    seg.e_pas = seg.v + (seg.ina + seg.ik) / seg.g_pas
            return
        active = [(sec, kind) for sec, kind in zip(self.sections, self.section_kinds) if kind != "myelin"]
        shells = [seg for sec, _ in active if h.ismembrane("rtms_CaDynamics_E2", sec=sec) for seg in sec]
        celsius = h.celsius
        h.celsius = REST_TEMPERATURE_C
        try:
            for seg in shells:
                seg.rtms_CaDynamics_E2.cai_start = seg.rtms_CaDynamics_E2.minCai
            for _ in range(20):
                h.finitialize(v_rest)
                h.fcurrent()
                change = 0.0
                for seg in shells:
                    mech = seg.rtms_CaDynamics_E2
                    cai = mech.minCai - 1e4 * seg.ica * mech.gamma * mech.decay / (2 * h.FARADAY * mech.depth)
                    change = max(change, abs(cai - mech.cai_start) / mech.minCai)
                    mech.cai_start = cai
                if change < 1e-12:
                    break
            h.finitialize(v_rest)
            h.fcurrent()
            for sec, kind in active:
                ions = [ion for ion in ("na", "k", "ca") if h.ismembrane(f"{ion}_ion", sec=sec)]
                has_ih = h.ismembrane("rtms_Ih", sec=sec)
                for seg in sec:
                    current = sum(getattr(seg, f"i{ion}") for ion in ions)
                    if has_ih:
                        current += seg.rtms_Ih.ihcn
                    seg.e_pas = seg.v + current / seg.g_pas
        finally:
            h.celsius = celsius

    def __repr__(self):
        return (f"NeuronCell({self.name!r}, {len(self.sections)} sections, {self.n_segments} segments, "
                f"{self.count('node')} nodes)")


# ---------------------------------------------------------------------- straight axon
def _new_section(h, owner, name, kinds, kind, xyz, diam):
    sec = h.Section(name=name, cell=owner)
    _set_points(sec, xyz, diam)
    owner.all.append(sec)
    kinds[sec.name()] = kind
    return sec


def straight_myelinated_axon(length_um: float = 2000.0, axon_diameter_um: float = 2.0, *,
                             internode_per_diameter: float = INTERNODE_PER_DIAMETER,
                             biophysics: Biophysics = Biophysics(),
                             name: str = "straight_axon") -> NeuronCell:
    """A straight myelinated axon along z, centred at the origin, with nodes of Ranvier at both ends.

    ``length_um``: total length (um); ``axon_diameter_um``: diameter of the axon's compartments
    (um; nodes, internodes). Internodes ``internode_per_diameter x axon_diameter_um`` long (Aberra et
    al. 2018's 100 d rule), nodes 1 um; the number of internodes is the nearest that fits, and the
    internode length is then adjusted so that the axon is exactly ``length_um`` long. Nodes carry NaTa_t +
    SKv3_1 + pas, internodes myelin (:class:`Biophysics`). Root section: the node at ``z = -L/2``.
    """
    if not (length_um > 0 and axon_diameter_um > 0 and internode_per_diameter > 0):
        raise ValueError("length_um, axon_diameter_um and internode_per_diameter must be positive")
    h = _h()
    internode = internode_per_diameter * axon_diameter_um
    n_internodes = int(round((length_um - NODE_LENGTH_UM) / (internode + NODE_LENGTH_UM)))
    if n_internodes < 1 or length_um < internode / 2 + 2 * NODE_LENGTH_UM:
        raise ValueError(f"length_um={length_um} is shorter than half an internode plus two nodes "
                         f"({internode / 2 + 2 * NODE_LENGTH_UM:.1f} um)")
    internode = (length_um - (n_internodes + 1) * NODE_LENGTH_UM) / n_internodes
    owner = _SectionOwner(name)
    kinds = {}
    z = -length_um / 2.0
    previous = None
    d = np.array([axon_diameter_um, axon_diameter_um])
    for k in range(n_internodes + 1):
        node = _new_section(h, owner, f"node[{k}]", kinds, "node",
                            [(0, 0, z), (0, 0, z + NODE_LENGTH_UM)], d)
        owner.node.append(node)
        z += NODE_LENGTH_UM
        if previous is not None:
            node.connect(previous(1), 0)
        previous = node
        if k == n_internodes:
            break
        myelin = _new_section(h, owner, f"myelin[{k}]", kinds, "myelin",
                              [(0, 0, z), (0, 0, z + internode)], d)
        owner.myelin.append(myelin)
        myelin.connect(previous(1), 0)
        z += internode
        previous = myelin
    source = {"builder": "straight_myelinated_axon", "length_um": length_um,
              "axon_diameter_um": axon_diameter_um, "internode_um": internode, "n_nodes": n_internodes + 1}
    return NeuronCell(name, owner, kinds, biophysics=biophysics, source=source)


# ---------------------------------------------------------------------- ball and stick
def ball_and_stick_cell(*, soma_diameter_um: float = 20.0, dendrite_length_um: float = 600.0,
                        dendrite_diameter_um: float = 2.0, axon_diameter_um: float = 1.0,
                        n_internodes: int = 10, biophysics: Biophysics = Biophysics(),
                        name: str = "ball_and_stick") -> NeuronCell:
    """A small simplified cell for fast tests and users without morphologies (cell frame).

    Soma: a cylinder ``soma_diameter_um`` long and wide centred at the origin along z; a passive
    dendrite along +z (the somatodendritic axis); along -z a myelinated axon: a 50 um axon initial
    segment, then ``n_internodes`` internodes of ``100 x axon_diameter_um`` each followed by a 1 um
    node (the last node is the terminal).
    """
    if n_internodes < 1:
        raise ValueError("n_internodes must be >= 1")
    h = _h()
    owner = _SectionOwner(name)
    kinds = {}
    r = soma_diameter_um / 2.0
    soma = _new_section(h, owner, "soma[0]", kinds, "soma", [(0, 0, -r), (0, 0, r)],
                        [soma_diameter_um, soma_diameter_um])
    owner.soma.append(soma)
    dend = _new_section(h, owner, "apic[0]", kinds, "apic", [(0, 0, r), (0, 0, r + dendrite_length_um)],
                        [dendrite_diameter_um, dendrite_diameter_um])
    owner.apic.append(dend)
    dend.connect(soma(1), 0)
    d = [axon_diameter_um, axon_diameter_um]
    z = -r
    ais = _new_section(h, owner, "axon[0]", kinds, "ais", [(0, 0, z), (0, 0, z - AIS_LENGTH_UM)], d)
    owner.axon.append(ais)
    ais.connect(soma(0), 0)
    z -= AIS_LENGTH_UM
    previous = ais
    internode = INTERNODE_PER_DIAMETER * axon_diameter_um
    for k in range(n_internodes):
        myelin = _new_section(h, owner, f"myelin[{k}]", kinds, "myelin",
                              [(0, 0, z), (0, 0, z - internode)], d)
        owner.myelin.append(myelin)
        myelin.connect(previous(1), 0)
        z -= internode
        node = _new_section(h, owner, f"node[{k}]", kinds, "node", [(0, 0, z), (0, 0, z - NODE_LENGTH_UM)], d)
        owner.node.append(node)
        node.connect(myelin(1), 0)
        z -= NODE_LENGTH_UM
        previous = node
    source = {"builder": "ball_and_stick_cell", "soma_diameter_um": soma_diameter_um,
              "dendrite_length_um": dendrite_length_um, "dendrite_diameter_um": dendrite_diameter_um,
              "axon_diameter_um": axon_diameter_um, "n_internodes": n_internodes}
    return NeuronCell(name, owner, kinds, biophysics=biophysics, source=source)


# ---------------------------------------------------------------------- reconstructed cells
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
        xyz, diam, _ = _points(sec)
        xyz = origin + factor * (xyz - origin)
        _set_points(sec, xyz, diam * factor if scale_diameter else diam)


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
        _set_points(sec, pts, ds)
        owner.all.append(sec)
        kinds[sec.name()] = kind
        (owner.node if kind == "node" else owner.myelin if kind == "myelin" else owner.axon).append(sec)
        return sec

    for sec in axon_order:
        xyz, diam, arc = _points(sec)
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
        xyz, _, _ = _points(sec)
        lengths = np.linalg.norm(np.diff(xyz, axis=0), axis=1)
        weighted += (0.5 * (xyz[1:] + xyz[:-1]) * lengths[:, None]).sum(axis=0)
        total += lengths.sum()
    if total > 0:
        return weighted / total
    return np.mean(np.concatenate([_points(s)[0] for s in sections]), axis=0)


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
    h = _h()
    name = name or path.stem
    owner = _SectionOwner(name)
    _read_morphology(h, path, owner)
    kinds = {}
    for kind in ("soma", "dend", "apic", "axon"):
        for sec in getattr(owner, kind):
            kinds[sec.name()] = kind
    if len(owner.soma) != 1:
        # Import3d makes one soma section from a contour; several somata are not a single cell
        raise MorphologyError(f"{path}: expected one soma section, Import3d made {len(owner.soma)}")
    soma = owner.soma[0]
    soma_xyz, _, _ = _points(soma)
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
