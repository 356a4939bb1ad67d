"""Measuring a block of work: wall time, peak resident memory, peak CUDA memory."""

from __future__ import annotations

import threading
import time

import psutil
import torch


class Measure:
    """Context manager recording seconds, peak RSS growth and peak CUDA memory.

    On Linux the kernel's high-water mark of resident memory is reset on entry
    (``/proc/self/clear_refs``) and read on exit, so nothing runs beside the
    measured work. Elsewhere RSS is sampled every ``interval`` seconds in a
    background thread. Growth over the level at entry is reported. CUDA memory
    is torch's max allocated since entry.

    Examples
    --------
    Fresh anonymous pages are counted as soon as they are written (an
    allocator may instead reuse memory the process already holds):

    >>> import mmap
    >>> with Measure() as m:
    ...     block = mmap.mmap(-1, 50 * 2**20)  # 50 MiB, not yet resident
    ...     _ = block.write(b"x" * 2**20 * 50)
    >>> bool(m.peak_rss_mb > 40), bool(m.seconds > 0)
    (True, True)
    """

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.seconds = 0.0
        self.peak_rss_mb = 0.0
        self.peak_cuda_mb = 0.0

    def __enter__(self):
        self._process = psutil.Process()
        self._start_rss = self._peak = self._process.memory_info().rss
        self._thread = None
        if not _reset_high_water_mark():
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
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        else:
            self._peak = max(self._peak, _high_water_mark())
        self._peak = max(self._peak, self._process.memory_info().rss)
        self.peak_rss_mb = (self._peak - self._start_rss) / 2**20
        return False


def _reset_high_water_mark() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _high_water_mark() > 0
    except OSError:
        return False


def _high_water_mark() -> int:
    """Peak resident memory in bytes since the last reset (``VmHWM``), 0 if unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
