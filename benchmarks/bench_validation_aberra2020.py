"""Our threshold engine against Aberra et al. (2020)'s published uniform-field thresholds.

Independent reference: Aberra, Wang, Grill & Peterchev (2020) Brain Stimul 13:175-189, the data
behind their Fig. 1c-e as released by the authors (github Aman-A/TMSsim_Aberra2019,
``mat/nrn_sim_data/utms_maxH_w1_1-25.mat`` and, main axon intact, ``utms_maxH_w1_rax0_16-25.mat``):
the minimum over 398 field directions of the uniform-field threshold (V/m, peak of the MagPro X100
monophasic waveform), 37 C, activation when more than 2 compartments cross 0 mV, for the
**adult-human** scaling of the same Blue Brain clones as ``../shared/data/neurons`` (clone 1 of each
type). The minima below were read from those files (our summary of their raw numbers, not a value
printed in the paper's text); for L5 and L6 the intact-axon values (we do not disable the cut main
axon's terminal, which the paper's Fig. 1 does: 188.4 and 217.6 V/m then).

What we run: the same five morphologies with Aberra et al.'s adult-human scaling (axon and soma
x2.453, apical x1.876, basal x1.946 diameters, basal length x1.17), myelinated by their rules
(``cells.py``), our monophasic RLC pulse (first phase 75.7 us, reverse phase -0.28; theirs is a
recorded waveform: 75.6 us, -0.30), 37 C, 3 compartments, rel_tol 1 %, on a direction grid
(``--n-polar`` x ``--n-azimuth``, default 30 x 60 degree steps: 32 directions; the minimum of a
coarser grid can only be higher than the minimum over theirs). ``--channels`` chooses our channel
set where cells.py offers several (``reduced``: NaTa_t + SKv3_1; ``hay2011``: the full set).

Known differences that move thresholds: their per-cell e-type channel densities (Blue Brain
cADpyr/cAC/bNAC optimisations) against our one density set; their myelin diameter widened by a
g-ratio (ours keeps the axon's); their waveform is recorded, ours is a circuit model.

    python benchmarks/bench_validation_aberra2020.py [--channels reduced] [--n-polar 7 --n-azimuth 6]
"""

from __future__ import annotations

import argparse
import gc
import inspect
import platform
import time
from pathlib import Path

import numpy as np

from napari_rat_tms.core.neurons.cells import ADULT_HUMAN_SCALING, Biophysics, cell_from_morphology
from napari_rat_tms.core.neurons.direction_map import compute_direction_map
from napari_rat_tms.core.neurons.mechanisms import load_mechanisms
from napari_rat_tms.core.neurons.waveforms import monophasic_pulse

NEURONS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "neurons"
#: Clone 1 of each type: minimum over 398 directions (V/m), human-scaled, main axon intact.
PUBLISHED_MIN_V_PER_M = {"L1_NGC-DA_bNAC219_1": 352.9, "L23_PC_cADpyr229_1": 176.3,
                         "L4_LBC_cACint209_1": 220.2, "L5_TTPC2_cADpyr232_1": 125.8,
                         "L6_TPC_L4_cADpyr231_1": 214.6}


def _biophysics(channels: str) -> Biophysics:
    if "channels" in inspect.signature(Biophysics).parameters:
        return Biophysics(channels=channels)
    if channels != "reduced":
        raise SystemExit(f"this version's Biophysics has only the reduced channel set, not {channels!r}")
    return Biophysics()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="*", default=list(PUBLISHED_MIN_V_PER_M))
    parser.add_argument("--channels", default="reduced")
    parser.add_argument("--n-polar", type=int, default=7)
    parser.add_argument("--n-azimuth", type=int, default=6)
    args = parser.parse_args(argv)
    if not NEURONS.is_dir():
        print(f"skipped: {NEURONS} is absent (the shared morphologies)")
        return
    print(f"machine: {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}; channels "
          f"{args.channels}; grid {args.n_polar} polar x {args.n_azimuth} azimuth")
    load_mechanisms()
    pulse = monophasic_pulse()
    biophysics = _biophysics(args.channels)
    ratios = []
    print(f"{'cell (human-scaled)':24s} {'ours min':>9s} {'at theta,phi':>13s} {'published':>9s} "
          f"{'ratio':>6s} {'ours median':>11s} {'max/min':>7s} {'s':>6s}")
    for name in args.cells:
        start = time.perf_counter()
        cell = cell_from_morphology(NEURONS / f"{name}.asc", adult_rat_scaling=ADULT_HUMAN_SCALING,
                                    biophysics=biophysics)
        dmap = compute_direction_map(cell, pulse, n_polar=args.n_polar, n_azimuth=args.n_azimuth,
                                     rel_tol=0.01)
        t = np.asarray(dmap.threshold_v_per_m)
        finite = np.isfinite(t)
        i, j = np.unravel_index(np.argmin(np.where(finite, t, np.inf)), t.shape)
        low = float(t[i, j])
        published = PUBLISHED_MIN_V_PER_M.get(name)
        ratio = low / published if published else float("nan")
        ratios.append(ratio)
        theta, phi = np.degrees(dmap.polar_rad[i]), np.degrees(dmap.azimuth_rad[j])
        print(f"{name:24s} {low:9.1f} {theta:6.0f},{phi:5.0f} {published:9.1f} {ratio:6.2f} "
              f"{np.median(t[finite]):11.1f} {t[finite].max() / low:7.2f} "
              f"{time.perf_counter() - start:6.0f}")
        del cell
        gc.collect()
    ratios = np.array(ratios)
    print(f"ours / published: median {np.nanmedian(ratios):.2f}, range {np.nanmin(ratios):.2f}-"
          f"{np.nanmax(ratios):.2f}")


if __name__ == "__main__":
    main()
