"""Measuring helpers shared by the benchmark scripts."""

from __future__ import annotations

import threading
import time

import numpy as np
import psutil


class PeakMemory:
    """Peak resident memory of this process above its level at start (sampled in a thread)."""

    def __init__(self, interval_s=0.02):
        self.interval_s = interval_s
        self.process = psutil.Process()

    def __enter__(self):
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval_s)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def peak_gb(self) -> float:
        """Peak above the start, 10^9 bytes."""
        return (self.peak - self.baseline) / 1e9

    @property
    def peak_gib(self) -> float:
        """Peak above the start, 2^30 bytes."""
        return (self.peak - self.baseline) / 2**30


def median_time(fn, repeats) -> float:
    """Median wall time (s) of ``repeats`` calls of ``fn()``."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def format_metrics(m) -> str:
    """``MAPE x %, R y, n z`` of a threshold_metrics dict ("n/a" without one)."""
    if not m or m.get("mape_percent") is None:
        return "n/a"
    r = "n/a" if m.get("pearson_r") is None else f"{m['pearson_r']:.3f}"
    return f"MAPE {m['mape_percent']:5.1f} %, R {r}, n {m['n']}"
