"""The whole segmentation of the synthetic rat, time and peak memory, beside scipy's closings.

* ``segment`` (thresholds, body, skull and spine, two eyes, brain suggestion, labels) on the
  synthetic rat at 0.34 mm (256^3) and, with ``--seed-resolution``, at the seed's 0.17 mm
  (512^3); median of ``--repeat`` runs; peak memory = the process's resident memory sampled every
  20 ms during the run, minus the resident memory before it (the scan itself is already loaded);
* Dice against the ground truth at that resolution (body, skull+spine, each eye, brain);
* peers measured in the same run on the same body mask and the same 2 mm ball:
  - ``scipy.ndimage.binary_closing`` with the ball as structuring element (brute force) on a
    crop of ``--crop`` voxels per side (the full 512^3 would take hours), with our closing on the
    same crop for the ratio;
  - a closing built from ``scipy.ndimage.distance_transform_edt`` (the O(N) library route) on
    the full volume.

Run: python benchmarks/bench_segmentation.py [--repeat 3] [--seed-resolution] [--crop 96]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import psutil
from scipy import ndimage

from napari_rat_tms.core.segmentation import segment
from napari_rat_tms.core.segmentation.morphology import ball_voxels, close_mm
from napari_rat_tms.core.synthetic import RatLabel, make_synthetic_rat

from _measure import PeakMemory  # benchmarks/ is on sys.path when run as a script


def dice(a, b):
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def scipy_edt_closing(mask, radius_mm, h):
    pad = int(np.ceil(radius_mm / h)) + 1
    m = np.pad(mask, pad)
    dilated = ndimage.distance_transform_edt(~m, sampling=h) <= radius_mm
    closed = ndimage.distance_transform_edt(dilated, sampling=h) > radius_mm
    return closed[pad:-pad, pad:-pad, pad:-pad] | mask


def run(h, repeat, crop):
    t0 = time.perf_counter()
    rat = make_synthetic_rat(h)
    print(f"\n== synthetic rat {h} mm, {rat.volume.shape[0]}^3 (built in {time.perf_counter() - t0:.0f} s)")
    eyes = [rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]]
    times, peaks = [], []
    for _ in range(repeat):
        with PeakMemory() as mem:
            t = time.perf_counter()
            seg = segment(rat.volume.data, rat.volume.voxel_size_mm, eye_points_mm=eyes)
            times.append(time.perf_counter() - t)
        peaks.append(mem.peak_gib)
    print(f"segment(): median {statistics.median(times):.1f} s over {repeat} runs "
          f"(min {min(times):.1f}, max {max(times):.1f}); peak memory above the loaded scan "
          f"{max(peaks):.2f} GiB")
    print(f"  {seg.summary()}; brain sealing radius {seg.brain_seal_radius_mm:g} mm")
    truth = rat.labels
    eye_labels, _ = ndimage.label(truth == RatLabel.EYE)
    scores = {"body": dice(seg.body, truth != RatLabel.AIR),
              "skull+spine": dice(seg.skull_and_spine, truth == RatLabel.BONE),
              "brain (suggestion)": dice(seg.brain, truth == RatLabel.BRAIN)}
    for name, point in zip(("left eye", "right eye"), eyes):
        true_eye = eye_labels == eye_labels[tuple(np.round(point / h).astype(int))]
        scores[name] = dice(seg.eyes & ndimage.binary_dilation(true_eye, iterations=3), true_eye)
    print("  Dice: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))

    body = seg.body
    t = time.perf_counter()
    close_mm(body, 2.0, h)
    ours_full = time.perf_counter() - t
    t = time.perf_counter()
    ref = scipy_edt_closing(body, 2.0, h)
    edt_full = time.perf_counter() - t
    same = np.array_equal(ref, close_mm(body, 2.0, h))
    print(f"2 mm closing of the body, full volume: ours {ours_full:.1f} s; scipy distance_transform_edt "
          f"closing {edt_full:.1f} s (ratio {edt_full / ours_full:.1f}; identical result: {same})")
    centre = np.array(body.shape) // 2
    box = tuple(slice(c - crop // 2, c + crop // 2) for c in centre)
    sub = body[box]
    ball = ball_voxels(2.0, h)
    t = time.perf_counter()
    pad = ball.shape[0]
    brute = ndimage.binary_closing(np.pad(sub, pad), structure=ball)[pad:-pad, pad:-pad, pad:-pad]
    brute_s = time.perf_counter() - t
    t = time.perf_counter()
    ours_crop = close_mm(sub, 2.0, h)
    ours_crop_s = time.perf_counter() - t
    print(f"2 mm closing on a {crop}^3 crop: scipy binary_closing with the {ball.shape[0]}^3 ball "
          f"{brute_s:.1f} s; ours {ours_crop_s:.3f} s (ratio {brute_s / ours_crop_s:.0f}; identical: "
          f"{np.array_equal(brute, ours_crop)}); scipy extrapolated to the full volume "
          f"(x{body.size / sub.size:.0f} voxels) ~{brute_s * body.size / sub.size / 60:.0f} min")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed-resolution", action="store_true", help="also 0.17 mm (512^3)")
    parser.add_argument("--crop", type=int, default=96)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, python {platform.python_version()}")
    for h in [0.34] + ([0.17] if args.seed_resolution else []):
        run(h, args.repeat, args.crop)


if __name__ == "__main__":
    main()
