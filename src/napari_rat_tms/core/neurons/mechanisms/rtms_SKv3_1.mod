TITLE rtms_SKv3_1: fast non-inactivating Kv3.1 potassium current

COMMENT
Shaw-related Kv3.1 K+ current (Rettig et al. 1992, EMBO J 11:2473-2486) in the formulation of
Hay et al. (2011) PLoS Comput Biol 7:e1002107 (Supporting information, "SKv3_1"), written for
napari-rat-tms from the published equations:

    i_K = gbar m (v - e_K)
    m_inf = 1 / (1 + exp((v - 18.7) / -9.7))                  (v in mV)
    tau_m = 0.2 * 20 / (1 + exp((v + 46.56) / -44.14))         (ms; no temperature factor)

SUFFIX rtms_SKv3_1 (not SKv3_1) so that it never clashes with other models' mechanisms loaded
into the same NEURON process.
ENDCOMMENT

NEURON {
    SUFFIX rtms_SKv3_1
    USEION k READ ek WRITE ik
    RANGE gbar, g, ik
    RANGE minf, mtau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    g (S/cm2)
    minf
    mtau (ms)
}

STATE {
    m
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * m
    ik = g * (v - ek)
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m) / mtau
}

INITIAL {
    rates(v)
    m = minf
}

PROCEDURE rates(v (mV)) {
    UNITSOFF
    minf = 1 / (1 + exp((v - 18.7) / -9.7))
    mtau = 0.2 * 20 / (1 + exp((v + 46.56) / -44.14))
    UNITSON
}
