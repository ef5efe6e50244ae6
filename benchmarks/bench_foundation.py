"""Timing of the foundation's hot paths, each beside a baseline measured in the same run.

* synthetic rat: time to build at 0.34 mm (the napari sample) and 0.17 mm (the seed's 512^3),
  against the time to fill and Gaussian-blur an array of the same size (the floor any
  rasteriser with a PSF pays);
* readers: read_volume (checks, axis order, metadata) against a bare nibabel / pydicom load of
  the same file.

Run: python benchmarks/bench_foundation.py [--repeat 3] [--seed-resolution]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from napari_rat_tms.core.io import read_volume, write_dicom_series, write_nifti
from napari_rat_tms.core.synthetic import make_synthetic_rat


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def baseline_fill_blur(n):
    a = np.full((n, n, n), -1000.0, dtype=np.float32)
    ndimage.gaussian_filter(a, 0.3, output=a)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed-resolution", action="store_true", help="also time 0.17 mm (512^3)")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    sizes = [0.34] + ([0.17] if args.seed_resolution else [])
    for h in sizes:
        n = round(87.04 / h)
        rat_s = median_time(lambda: make_synthetic_rat(voxel_size_mm=h), args.repeat)
        base_s = median_time(lambda: baseline_fill_blur(n), args.repeat)
        print(f"synthetic rat {h} mm ({n}^3): {rat_s:.2f} s; fill+blur baseline {base_s:.2f} s; "
              f"ratio {rat_s / base_s:.1f}")
    rat = make_synthetic_rat(voxel_size_mm=0.34)
    with tempfile.TemporaryDirectory() as tmp:
        nii = write_nifti(rat.volume, Path(tmp) / "rat.nii.gz")
        ours = median_time(lambda: read_volume(nii), args.repeat)
        import nibabel as nib

        bare = median_time(lambda: np.asanyarray(nib.load(str(nii)).dataobj), args.repeat)
        print(f"NIfTI 256^3 .nii.gz: read_volume {ours:.2f} s; bare nibabel {bare:.2f} s; "
              f"ratio {ours / bare:.2f}")
        folder = Path(tmp) / "dicom"
        write_dicom_series(rat.volume, folder)
        ours = median_time(lambda: read_volume(folder), args.repeat)
        import pydicom

        files = sorted(folder.iterdir())
        bare = median_time(lambda: np.stack([pydicom.dcmread(str(f)).pixel_array for f in files]),
                           args.repeat)
        print(f"DICOM 256 slices: read_volume {ours:.2f} s; bare pydicom stack {bare:.2f} s; "
              f"ratio {ours / bare:.2f}")


if __name__ == "__main__":
    main()
