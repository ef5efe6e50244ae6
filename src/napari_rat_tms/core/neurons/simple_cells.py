"""Simple neuron models on NEURON: a straight myelinated axon and a ball-and-stick cell.

Both are :class:`~.cells.NeuronCell` objects with the biophysics of :mod:`.cells`; the axon follows
Aberra et al. (2018)'s myelination rules (internodes 100 axon diameters long, 1 um nodes of Ranvier).
"""

from __future__ import annotations

import numpy as np

from .cells import (
    AIS_LENGTH_UM,
    INTERNODE_PER_DIAMETER,
    NODE_LENGTH_UM,
    Biophysics,
    NeuronCell,
    SectionOwner,
    neuron_h,
    new_section,
)

__all__ = ["straight_myelinated_axon", "ball_and_stick_cell"]




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
    h = neuron_h()
    internode = internode_per_diameter * axon_diameter_um
    n_internodes = int(round((length_um - NODE_LENGTH_UM) / (internode + NODE_LENGTH_UM)))
    if n_internodes < 1 or length_um < internode / 2 + 2 * NODE_LENGTH_UM:
        raise ValueError(f"length_um={length_um} is shorter than half an internode plus two nodes "
                         f"({internode / 2 + 2 * NODE_LENGTH_UM:.1f} um)")
    internode = (length_um - (n_internodes + 1) * NODE_LENGTH_UM) / n_internodes
    owner = SectionOwner(name)
    kinds = {}
    z = -length_um / 2.0
    previous = None
    d = np.array([axon_diameter_um, axon_diameter_um])
    for k in range(n_internodes + 1):
        node = new_section(h, owner, f"node[{k}]", kinds, "node",
                            [(0, 0, z), (0, 0, z + NODE_LENGTH_UM)], d)
        owner.node.append(node)
        z += NODE_LENGTH_UM
        if previous is not None:
            node.connect(previous(1), 0)
        previous = node
        if k == n_internodes:
            break
        myelin = new_section(h, owner, f"myelin[{k}]", kinds, "myelin",
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
    h = neuron_h()
    owner = SectionOwner(name)
    kinds = {}
    r = soma_diameter_um / 2.0
    soma = new_section(h, owner, "soma[0]", kinds, "soma", [(0, 0, -r), (0, 0, r)],
                        [soma_diameter_um, soma_diameter_um])
    owner.soma.append(soma)
    dend = new_section(h, owner, "apic[0]", kinds, "apic", [(0, 0, r), (0, 0, r + dendrite_length_um)],
                        [dendrite_diameter_um, dendrite_diameter_um])
    owner.apic.append(dend)
    dend.connect(soma(1), 0)
    d = [axon_diameter_um, axon_diameter_um]
    z = -r
    ais = new_section(h, owner, "axon[0]", kinds, "ais", [(0, 0, z), (0, 0, z - AIS_LENGTH_UM)], d)
    owner.axon.append(ais)
    ais.connect(soma(0), 0)
    z -= AIS_LENGTH_UM
    previous = ais
    internode = INTERNODE_PER_DIAMETER * axon_diameter_um
    for k in range(n_internodes):
        myelin = new_section(h, owner, f"myelin[{k}]", kinds, "myelin",
                              [(0, 0, z), (0, 0, z - internode)], d)
        owner.myelin.append(myelin)
        myelin.connect(previous(1), 0)
        z -= internode
        node = new_section(h, owner, f"node[{k}]", kinds, "node", [(0, 0, z), (0, 0, z - NODE_LENGTH_UM)], d)
        owner.node.append(node)
        node.connect(myelin(1), 0)
        z -= NODE_LENGTH_UM
        previous = node
    source = {"builder": "ball_and_stick_cell", "soma_diameter_um": soma_diameter_um,
              "dendrite_length_um": dendrite_length_um, "dendrite_diameter_um": dendrite_diameter_um,
              "axon_diameter_um": axon_diameter_um, "n_internodes": n_internodes}
    return NeuronCell(name, owner, kinds, biophysics=biophysics, source=source)
