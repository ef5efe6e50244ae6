TITLE rtms_Nap_Et2: persistent sodium current

COMMENT
Persistent (slowly inactivating) Na+ current of neocortical pyramidal neurons: Magistretti &
Alonso (1999) J Gen Physiol 114:491-509, in the formulation of Hay et al. (2011) PLoS Comput Biol
7:e1002107 (Supporting information, "Nap_Et2"), written for napari-rat-tms from the published
equations:

    i_NaP = gbar m^3 h (v - e_Na)
    m_inf = 1 / (1 + exp(-(v + 52.6)/4.6))                   (v in mV)
    tau_m = 6 / ((alpha_m + beta_m) q_T)                      (ms)
        alpha_m = 0.182 (v + 38) / (1 - exp(-(v + 38)/6))
        beta_m  = 0.124 (-v - 38) / (1 - exp(-(-v - 38)/6))
    h_inf = 1 / (1 + exp((v + 48.8)/10))
    tau_h = 1 / ((alpha_h + beta_h) q_T)                      (ms)
        alpha_h = -2.88e-6 (v + 17) / (1 - exp((v + 17)/4.63))
        beta_h  =  6.94e-6 (v + 64.4) / (1 - exp(-(v + 64.4)/2.63))

Temperature: reference 21 degC, q10 = 2.3: q_T = 2.3^((celsius - 21)/10) (the distributed Hay et
al. / Blue Brain files fix q_T at its 34 degC value; here it follows NEURON's celsius, as in
rtms_NaTa_t). Removable singularities (v = -38, -17, -64.4 mV) are evaluated with their limit
(function vtrap).
ENDCOMMENT

NEURON {
    SUFFIX rtms_Nap_Et2
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
    am = 0.182 * vtrap(v + 38, 6)
    bm = 0.124 * vtrap(-(v + 38), 6)
    minf = 1 / (1 + exp(-(v + 52.6) / 4.6))
    mtau = 6 / ((am + bm) * qt)
    ah = 2.88e-6 * vtrap(-(v + 17), 4.63)
    bh = 6.94e-6 * vtrap(v + 64.4, 2.63)
    hinf = 1 / (1 + exp((v + 48.8) / 10))
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
