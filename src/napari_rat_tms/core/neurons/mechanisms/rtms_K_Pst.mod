TITLE rtms_K_Pst: persistent (slowly inactivating) potassium current

COMMENT
Slowly inactivating K+ current of layer 5 pyramidal neurons: Korngreen & Sakmann (2000) J Physiol
525:621-639, in the formulation of Hay et al. (2011) PLoS Comput Biol 7:e1002107 (Supporting
information, "K_Pst"; the recorded kinetics shifted by -10 mV), written for napari-rat-tms from
the published equations, with u = v + 10 (mV):

    i_K = gbar m^2 h (v - e_K)
    m_inf = 1 / (1 + exp(-(u + 1)/12))
    tau_m = (1.25 + 175.03 exp(0.026 u)) / q_T               (ms; u < -50 mV)
    tau_m = (1.25 + 13 exp(-0.026 u)) / q_T                  (ms; u >= -50 mV)
    h_inf = 1 / (1 + exp((u + 54)/11))
    tau_h = (360 + (1010 + 24 (u + 55)) exp(-((u + 75)/48)^2)) / q_T     (ms)

Temperature: reference 21 degC, q10 = 2.3: q_T = 2.3^((celsius - 21)/10) (the distributed Hay et
al. / Blue Brain files fix q_T at its 34 degC value; here it follows NEURON's celsius, as in
rtms_NaTa_t).
ENDCOMMENT

NEURON {
    SUFFIX rtms_K_Pst
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
    g = gbar * m * m * h
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
    minf = 1 / (1 + exp(-(u + 1) / 12))
    if (u < -50) {
        mtau = (1.25 + 175.03 * exp(0.026 * u)) / qt
    } else {
        mtau = (1.25 + 13 * exp(-0.026 * u)) / qt
    }
    hinf = 1 / (1 + exp((u + 54) / 11))
    htau = (360 + (1010 + 24 * (u + 55)) * exp(-((u + 75) / 48)^2)) / qt
    UNITSON
}
