TITLE rtms_CaDynamics_E2: intracellular calcium in a submembrane shell with first-order removal

COMMENT
Intracellular Ca2+ concentration of a submembrane shell: influx from the Ca2+ currents, a free
(unbuffered) fraction gamma, first-order removal towards a floor minCai (after the simple decay
model of Destexhe et al. 1994, J Comput Neurosci 1:195-230), in the formulation of
Hay et al. (2011) PLoS Comput Biol 7:e1002107 (Supporting information, "CaDynamics_E2"), written
for napari-rat-tms from the published equation:

    d[Ca]_i/dt = -10000 i_Ca gamma / (2 F depth) - ([Ca]_i - minCai) / decay

    ([Ca]_i in mM, i_Ca in mA/cm2, F Faraday's constant in C/mol, depth in um, decay in ms;
    the factor 10000 converts the units)

No temperature dependence. [Ca]_i is written to NEURON's ca ion, so the Ca2+ reversal potential
of the Ca2+ currents follows from the Nernst equation.

Initial value (our addition; the published mechanism has none and starts from NEURON's cai0_ca_ion):
[Ca]_i = cai_start when cai_start > 0, else minCai. The cell models set cai_start to the steady
state of each compartment at rest, minCai - 10000 i_Ca gamma decay / (2 F depth), so that
finitialize starts from rest.
ENDCOMMENT

NEURON {
    SUFFIX rtms_CaDynamics_E2
    USEION ca READ ica WRITE cai
    RANGE gamma, decay, depth, minCai, cai_start
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    FARADAY = (faraday) (coulombs)
    (molar) = (1/liter)
    (mM) = (millimolar)
    (um) = (micron)
}

PARAMETER {
    gamma = 0.05
    decay = 80 (ms)
    depth = 0.1 (um)
    minCai = 1e-4 (mM)
    cai_start = 0 (mM)
}

ASSIGNED {
    ica (mA/cm2)
}

STATE {
    cai (mM)
}

INITIAL {
    if (cai_start > 0) {
        cai = cai_start
    } else {
        cai = minCai
    }
}

BREAKPOINT {
    SOLVE states METHOD cnexp
}

DERIVATIVE states {
    UNITSOFF
    cai' = -10000 * ica * gamma / (2 * FARADAY * depth) - (cai - minCai) / decay
    UNITSON
}
