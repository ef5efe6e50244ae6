TITLE rtms_Ca_LVAst: low-voltage-activated (T-type) calcium current

COMMENT
Low-voltage-activated Ca2+ current: Avery & Johnston (1996) J Neurosci 16:5567-5582 and Randall &
Tsien (1997) Neuropharmacology 36:879-893, in the formulation of Hay et al. (2011) PLoS Comput
Biol 7:e1002107 (Supporting information, "Ca_LVAst"; the kinetics shifted by -10 mV), written
for napari-rat-tms from the published equations, with u = v + 10 (mV):

    i_Ca = gbar m^2 h (v - e_Ca)
    m_inf = 1 / (1 + exp(-(u + 30)/6))
    tau_m = (5 + 20 / (1 + exp((u + 25)/5))) / q_T          (ms)
    h_inf = 1 / (1 + exp((u + 80)/6.4))
    tau_h = (20 + 50 / (1 + exp((u + 40)/7))) / q_T         (ms)

Temperature: reference 21 degC, q10 = 2.3: q_T = 2.3^((celsius - 21)/10) (the distributed Hay et
al. / Blue Brain files fix q_T at its 34 degC value; here it follows NEURON's celsius, as in
rtms_NaTa_t). e_Ca: NEURON's ca ion reversal potential (Nernst, see rtms_Ca_HVA).
ENDCOMMENT

NEURON {
    SUFFIX rtms_Ca_LVAst
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
    celsius (degC)
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
    LOCAL qt, u
    UNITSOFF
    qt = 2.3^((celsius - 21) / 10)
    u = v + 10
    minf = 1 / (1 + exp(-(u + 30) / 6))
    mtau = (5 + 20 / (1 + exp((u + 25) / 5))) / qt
    hinf = 1 / (1 + exp((u + 80) / 6.4))
    htau = (20 + 50 / (1 + exp((u + 40) / 7))) / qt
    UNITSON
}
