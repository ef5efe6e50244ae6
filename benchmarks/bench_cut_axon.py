"""What disabling the main axon's cut terminal changes (issue 21), adult-rat and adult-human scaling.

The L5 and L6 Blue Brain reconstructions end their main axon where the slice was cut; Aberra et al.
(2020, Brain Stimul 13:175, Fig. 1) disable that terminal (``reconstructed_cells.disable_main_axon_terminal``:
the diameter at its end set to 1,000 um), the package keeps it intact by default. This prints the
uniform-field threshold (V/m, monophasic pulse, reduced channel set, rel_tol 1 %) of each cell with
the terminal intact and disabled, at the field directions given (default -z: from the dendrites
towards the axon, the L5 cell's minimum; +z; and x), the ratio, and where the first spike starts.
Published reference for the human-scaled L5 minimum: 125.8 V/m intact, 188.4 disabled (x1.50).

    python benchmarks/bench_cut_axon.py [--cells L5_TTPC2_cADpyr232_1 L6_TPC_L4_cADpyr231_1]
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

import numpy as np

from napari_rat_tms.core.neurons.cells import ADULT_HUMAN_SCALING, ADULT_RAT_SCALING
from napari_rat_tms.core.neurons.reconstructed_cells import cell_from_morphology
from napari_rat_tms.core.neurons.mechanisms import load_mechanisms
from napari_rat_tms.core.neurons.threshold import ThresholdNotFound, activation_threshold
from napari_rat_tms.core.neurons.waveforms import monophasic_pulse

NEURONS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "neurons"
DIRECTIONS = {"-z": (0.0, 0.0, -1.0), "+z": (0.0, 0.0, 1.0), "+x": (1.0, 0.0, 0.0)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="*", default=["L5_TTPC2_cADpyr232_1", "L6_TPC_L4_cADpyr231_1"])
    parser.add_argument("--directions", nargs="*", default=list(DIRECTIONS), choices=list(DIRECTIONS))
    args = parser.parse_args(argv)
    if not NEURONS.is_dir():
        print(f"skipped: {NEURONS} is absent (the shared morphologies)")
        return
    load_mechanisms()
    pulse = monophasic_pulse()
    print(f"{time.strftime('%Y-%m-%d')}; reduced channel set, monophasic pulse, rel_tol 1 %")
    print(f"{'cell':24s} {'scaling':7s} {'E':3s} {'intact':>7s} {'disabled':>8s} {'ratio':>6s}  first spike "
          "(intact -> disabled)")
    for name in args.cells:
        for scaling_name, scaling in (("rat", ADULT_RAT_SCALING), ("human", ADULT_HUMAN_SCALING)):
            results = {}
            for disable in (False, True):
                cell = cell_from_morphology(NEURONS / f"{name}.asc", adult_rat_scaling=scaling,
                                            disable_cut_axon=disable)
                for label in args.directions:
                    try:
                        r = activation_threshold(cell, np.array(DIRECTIONS[label]), pulse, rel_tol=0.01)
                        results[label, disable] = (r.threshold_v_per_m, r.first_site_section.split(".", 1)[-1])
                    except ThresholdNotFound:
                        results[label, disable] = (np.inf, "-")
                del cell
                gc.collect()
            for label in args.directions:
                (t0, s0), (t1, s1) = results[label, False], results[label, True]
                print(f"{name:24s} {scaling_name:7s} {label:3s} {t0:7.1f} {t1:8.1f} {t1 / t0:6.2f}  {s0} -> {s1}")


if __name__ == "__main__":
    main()
