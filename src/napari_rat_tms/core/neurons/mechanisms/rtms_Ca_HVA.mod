TITLE rtms_Ca_HVA: high-voltage-activated calcium current

COMMENT
High-voltage-activated (L-type-like) Ca2+ current: Reuveni et al. (1993) J Neurosci 13:4609-4621,
in the formulation of Hay et al. (2011) PLoS Comput Biol 7:e1002107 (Supporting information,
"Ca_HVA"), written for napari-rat-tms from the published equations:

    i_Ca = gbar m^2 h (v - e_Ca)
    alpha_m = 0.055 (-27 - v) / (exp((-27 - v)/3.8) - 1)     (1/ms, v in mV)
    beta_m  = 0.94 exp((-75 - v)/17)
    alpha_h = 0.000457 exp((-13 - v)/50)
    beta_h  = 0.0065 / (exp((-v - 15)/28) + 1)
    x_inf = alpha_x / (alpha_x + beta_x),  tau_x = 1 / (alpha_x + beta_x)

No temperature dependence (q10 = 1), as in the published model. e_Ca is NEURON's ca ion reversal
potential: with rtms_CaDynamics_E2 writing [Ca]_i, NEURON computes it from the Nernst equation
with [Ca]_i, [Ca]_o (2 mM) and celsius at every step. The removable singularity at v = -27 mV is
evaluated with its limit (function vtrap).
ENDCOMMENT

NEURON {
    SUFFIX rtms_Ca_HVA
    USEION ca READ eca WRITE ica
    RANGE gbar, g, ica
    RANGE minf, hinf, mtau, htau
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
    eca (mV)
    ica (mA/cm2)
    g (S/cm2)
    minf
    hinf
    mtau (ms)
    htau (ms)
}

STATE {
    m
    h
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar * m * m * h
    ica = g * (v - eca)
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m) / mtau
    h' = (hinf - h) / htau
}

INITIAL {
    rates(v)
    m = minf
    h = hinf
}

PROCEDURE rates(v (mV)) {
    LOCAL am, bm, ah, bh
    UNITSOFF
    am = 0.055 * vtrap(v + 27, 3.8)
    bm = 0.94 * exp((-75 - v) / 17)
    ah = 0.000457 * exp((-13 - v) / 50)
    bh = 0.0065 / (exp((-v - 15) / 28) + 1)
    minf = am / (am + bm)
    mtau = 1 / (am + bm)
    hinf = ah / (ah + bh)
    htau = 1 / (ah + bh)
    UNITSON
}

FUNCTION vtrap(x, k) {
    : x / (1 - exp(-x/k)), with its limit k (1 + x/(2k)) near x = 0
    UNITSOFF
    if (fabs(x / k) < 1e-6) {
        vtrap = k * (1 + x / (2 * k))
    } else {
        vtrap = x / (1 - exp(-x / k))
    }
    UNITSON
}
