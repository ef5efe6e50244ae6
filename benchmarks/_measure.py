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
    """``MAPE x %, R(log) y [, R(A/us) z], n k`` of a threshold_metrics dict ("n/a" without one): R on the
    log threshold (what the networks predict) first; R on the amplitude only when the dict has it."""
    if not m or m.get("mape_percent") is None:
        return "n/a"

    def f(v):
        return "n/a" if v is None else f"{v:.3f}"

    if "pearson_r_log" in m:
        text = f"MAPE {m['mape_percent']:5.1f} %, R(log) {f(m['pearson_r_log'])}"
    else:
        text = f"MAPE {m['mape_percent']:5.1f} %, R {f(m.get('pearson_r'))}"
    if "pearson_r_amplitude" in m:
        text += f", R(A/us) {f(m['pearson_r_amplitude'])}"
    return text + f", n {m['n']}"
