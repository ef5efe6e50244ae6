TITLE rtms_NaTs2_t: fast inactivating (transient) sodium current, somatodendritic variant

COMMENT
Transient Na+ current of the soma and apical dendrite of neocortical layer 5 pyramidal neurons:
the Colbert & Pan (2002) Nat Neurosci 5:533-538 kinetics of rtms_NaTa_t with both gates shifted
6 mV positive, in the formulation of Hay et al. (2011) PLoS Comput Biol 7:e1002107 (Supporting
information, "NaTs2_t"), written for napari-rat-tms from the published equations:

    i_Na = gbar m^3 h (v - e_Na)
    alpha_m = 0.182 (v + 32) / (1 - exp(-(v + 32)/6))        (1/ms, v in mV)
    beta_m  = 0.124 (-v - 32) / (1 - exp(-(-v - 32)/6))
    alpha_h = -0.015 (v + 60) / (1 - exp((v + 60)/6))
    beta_h  = -0.015 (-v - 60) / (1 - exp((-v - 60)/6))
    x_inf = alpha_x / (alpha_x + beta_x),  tau_x = 1 / ((alpha_x + beta_x) q_T)

Temperature: reference 21 degC, q10 = 2.3: q_T = 2.3^((celsius - 21)/10) (the distributed Hay et
al. / Blue Brain files fix q_T at its 34 degC value; here it follows NEURON's celsius, as in
rtms_NaTa_t). The removable singularities at v = -32 and -60 mV are evaluated with their limit
(function vtrap).
ENDCOMMENT

NEURON {
    SUFFIX rtms_NaTs2_t
    USEION na READ ena WRITE ina
    RANGE gbar, g, ina
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
    ena (mV)
    celsius (degC)
    ina (mA/cm2)
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
    g = gbar * m * m * m * h
    ina = g * (v - ena)
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
    LOCAL qt, am, bm, ah, bh
    UNITSOFF
    qt = 2.3^((celsius - 21) / 10)
    am = 0.182 * vtrap(v + 32, 6)
    bm = 0.124 * vtrap(-(v + 32), 6)
    ah = 0.015 * vtrap(-(v + 60), 6)
    bh = 0.015 * vtrap(v + 60, 6)
    minf = am / (am + bm)
    mtau = 1 / ((am + bm) * qt)
    hinf = ah / (ah + bh)
    htau = 1 / ((ah + bh) * qt)
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
