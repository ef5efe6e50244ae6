"""Measuring helpers shared by the benchmark scripts."""

from __future__ import annotations

import threading
import time

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
