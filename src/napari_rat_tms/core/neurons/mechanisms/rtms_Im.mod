TITLE rtms_Im: muscarinic (M-type) potassium current

COMMENT
Slow non-inactivating M-type K+ current: Adams et al. (1982) J Physiol 330:537-572, in the
formulation of Hay et al. (2011) PLoS Comput Biol 7:e1002107 (Supporting information, "Im"),
written for napari-rat-tms from the published equations:

    i_K = gbar m (v - e_K)
    alpha_m = 3.3e-3 exp( 2.5 * 0.04 (v + 35))               (1/ms, v in mV)
    beta_m  = 3.3e-3 exp(-2.5 * 0.04 (v + 35))
    m_inf = alpha_m / (alpha_m + beta_m),  tau_m = 1 / ((alpha_m + beta_m) q_T)

Temperature: reference 21 degC, q10 = 2.3: q_T = 2.3^((celsius - 21)/10) (the distributed Hay et
al. / Blue Brain files fix q_T at its 34 degC value; here it follows NEURON's celsius, as in
rtms_NaTa_t).
ENDCOMMENT

NEURON {
    SUFFIX rtms_Im
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
    celsius (degC)
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
    LOCAL qt, am, bm
    UNITSOFF
    qt = 2.3^((celsius - 21) / 10)
    am = 3.3e-3 * exp(0.1 * (v + 35))
    bm = 3.3e-3 * exp(-0.1 * (v + 35))
    minf = am / (am + bm)
    mtau = 1 / ((am + bm) * qt)
    UNITSON
}
