TITLE rtms_Ih: hyperpolarisation-activated cation current

COMMENT
Hyperpolarisation-activated, non-specific cation current (HCN) of layer 5 pyramidal neurons: Kole
et al. (2006) J Neurosci 26:1677-1687, in the formulation of Hay et al. (2011) PLoS Comput Biol
7:e1002107 (Supporting information, "Ih"), written for napari-rat-tms from the published
equations:

    i_h = gbar m (v - e_h),  e_h = -45 mV (its own reversal potential: a non-specific current)
    alpha_m = 0.001 * 6.43 (v + 154.9) / (exp((v + 154.9)/11.9) - 1)     (1/ms, v in mV)
    beta_m  = 0.001 * 193 exp(v/33.1)
    m_inf = alpha_m / (alpha_m + beta_m),  tau_m = 1 / (alpha_m + beta_m)

No temperature dependence (q10 = 1), as in the published model. The removable singularity at
v = -154.9 mV is evaluated with its limit (function vtrap).
ENDCOMMENT

NEURON {
    SUFFIX rtms_Ih
    NONSPECIFIC_CURRENT ihcn
    RANGE gbar, g, ihcn, ehcn
    RANGE minf, mtau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gbar = 0.00001 (S/cm2)
    ehcn = -45 (mV)
}

ASSIGNED {
    v (mV)
    ihcn (mA/cm2)
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
    ihcn = g * (v - ehcn)
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
    LOCAL am, bm
    UNITSOFF
    am = 0.00643 * vtrap(-(v + 154.9), 11.9)
    bm = 0.193 * exp(v / 33.1)
    minf = am / (am + bm)
    mtau = 1 / (am + bm)
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
