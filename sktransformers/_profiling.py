"""Measuring a block of work: wall time, peak resident memory, peak CUDA memory."""

from __future__ import annotations

import threading
import time

import psutil
import torch


class Measure:
    """Context manager recording seconds, peak RSS growth and peak CUDA memory.

    RSS is sampled every ``interval`` seconds in a background thread (the
    process-wide high-water mark cannot be reset, so growth over the level at
    entry is reported). CUDA memory is torch's max allocated since entry.

    Examples
    --------
    >>> with Measure() as m:
    ...     _ = sum(range(1000))
    >>> m.seconds >= 0 and m.peak_rss_mb >= 0
    True
    """

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.seconds = 0.0
        self.peak_rss_mb = 0.0
        self.peak_cuda_mb = 0.0

    def __enter__(self):
        self._process = psutil.Process()
        self._start_rss = self._peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self._t0 = time.perf_counter()
        return self

    def _sample(self):
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __exit__(self, *exc):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
            self.peak_cuda_mb = torch.cuda.max_memory_allocated() / 2**20
        self.seconds = time.perf_counter() - self._t0
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)
        self.peak_rss_mb = (self._peak - self._start_rss) / 2**20
        return False
