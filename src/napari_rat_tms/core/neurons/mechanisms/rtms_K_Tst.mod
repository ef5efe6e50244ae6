TITLE rtms_K_Tst: transient (fast inactivating) potassium current

COMMENT
Fast inactivating A-type K+ current of layer 5 pyramidal neurons: Korngreen & Sakmann (2000) J
Physiol 525:621-639, in the formulation of Hay et al. (2011) PLoS Comput Biol 7:e1002107
(Supporting information, "K_Tst"; the recorded kinetics shifted by -10 mV), written for
napari-rat-tms from the published equations, with u = v + 10 (mV):

    i_K = gbar m^4 h (v - e_K)
    m_inf = 1 / (1 + exp(-u/19))
    tau_m = (0.34 + 0.92 exp(-((u + 71)/59)^2)) / q_T         (ms)
    h_inf = 1 / (1 + exp((u + 66)/10))
    tau_h = (8 + 49 exp(-((u + 73)/23)^2)) / q_T              (ms)

Temperature: reference 21 degC, q10 = 2.3: q_T = 2.3^((celsius - 21)/10) (the distributed Hay et
al. / Blue Brain files fix q_T at its 34 degC value; here it follows NEURON's celsius, as in
rtms_NaTa_t).
ENDCOMMENT

NEURON {
    SUFFIX rtms_K_Tst
    USEION k READ ek WRITE ik
    RANGE gbar, g, ik
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
    ek (mV)
    celsius (degC)
    ik (mA/cm2)
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
    g = gbar * m * m * m * m * h
    ik = g * (v - ek)
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
    LOCAL qt, u
    UNITSOFF
    qt = 2.3^((celsius - 21) / 10)
    u = v + 10
    minf = 1 / (1 + exp(-u / 19))
    mtau = (0.34 + 0.92 * exp(-((u + 71) / 59)^2)) / qt
    hinf = 1 / (1 + exp((u + 66) / 10))
    htau = (8 + 49 * exp(-((u + 73) / 23)^2)) / qt
    UNITSON
}
