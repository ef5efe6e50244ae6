"""Neuron models on NEURON: the cell (:class:`NeuronCell`), its biophysics and discretisation.

The builders: :mod:`.simple_cells` (a straight myelinated axon, a ball-and-stick cell) and
:mod:`.reconstructed_cells` (cells from morphology files).

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import RatTmsError
from .mechanisms import load_mechanisms

__all__ = [
    "Biophysics",
    "MorphologyError",
    "NeuronCell",
    "AdultRatScaling",
    "ADULT_RAT_SCALING",
    "SectionOwner",
    "neuron_h",
    "new_section",
    "section_points",
    "set_section_points",
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


class SectionOwner:
    """Owner of a cell's sections: NEURON names them ``<name>.<section>``; Import3d fills the lists."""

    def __init__(self, name):
        self.name = name
        self.all, self.soma, self.dend, self.apic, self.axon = [], [], [], [], []
        self.myelin, self.node = [], []

    def __str__(self):
        return self.name

    __repr__ = __str__


def neuron_h():
    from neuron import h

    load_mechanisms()
    h.load_file("stdrun.hoc")
    return h


def section_points(sec):
    n = int(sec.n3d())
    xyz = np.array([[sec.x3d(i), sec.y3d(i), sec.z3d(i)] for i in range(n)], dtype=float).reshape(n, 3)
    diam = np.array([sec.diam3d(i) for i in range(n)], dtype=float)
    arc = np.array([sec.arc3d(i) for i in range(n)], dtype=float)
    return xyz, diam, arc


def set_section_points(sec, xyz, diam):
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
        h = neuron_h()
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
                xyz, _, arc = section_points(sec)
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
        h = neuron_h()
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
        h = neuron_h()
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


def new_section(h, owner, name, kinds, kind, xyz, diam):
    """A NEURON section ``name`` of ``owner`` (a :class:`SectionOwner`) through the 3D points ``xyz``
    (um) with diameters ``diam`` (um), recorded as ``kind`` in ``kinds``."""
    sec = h.Section(name=name, cell=owner)
    set_section_points(sec, xyz, diam)
    owner.all.append(sec)
    kinds[sec.name()] = kind
    return sec
