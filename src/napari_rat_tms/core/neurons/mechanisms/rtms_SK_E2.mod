TITLE rtms_SK_E2: small-conductance calcium-activated potassium current

COMMENT
SK (KCa2) K+ current gated by intracellular Ca2+: the steady-state Ca2+ dependence of Kohler et
al. (1996) Science 273:1709-1714, in the formulation of Hay et al. (2011) PLoS Comput Biol
7:e1002107 (Supporting information, "SK_E2"), written for napari-rat-tms from the published
equations:

    i_K = gbar z (v - e_K)
    z_inf = 1 / (1 + (0.00043 / [Ca]_i)^4.8)                 ([Ca]_i in mM)
    tau_z = 1 ms

[Ca]_i below 1e-7 mM is raised by 1e-7 mM before use (keeps z_inf defined at zero calcium), as in
the published model. No temperature dependence (q10 = 1). [Ca]_i is read from NEURON's ca ion
(written by rtms_CaDynamics_E2 where that mechanism is inserted).
ENDCOMMENT

NEURON {
    SUFFIX rtms_SK_E2
    USEION k READ ek WRITE ik
    USEION ca READ cai
    RANGE gbar, g, ik
    RANGE zinf, ztau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
    (mM) = (milli/liter)
}

PARAMETER {
    gbar = 0.000001 (S/cm2)
    ztau = 1 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    cai (mM)
    ik (mA/cm2)
    g (S/cm2)
    zinf
}

STATE {
    z
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * z
    ik = g * (v - ek)
}

DERIVATIVE states {
    rates(cai)
    z' = (zinf - z) / ztau
}

INITIAL {
    rates(cai)
    z = zinf
}

PROCEDURE rates(ca (mM)) {
    LOCAL c
    UNITSOFF
    c = ca
    if (c < 1e-7) {
        c = c + 1e-7
    }
    zinf = 1 / (1 + (0.00043 / c)^4.8)
    UNITSON
}
