"""Helpers shared by the benchmark scripts: a timer with peak-memory sampling, and the machine header.

Not part of the package and never imported by it. Peak memory is the
process's resident set size (RSS) sampled every 10 ms by a background thread
while a phase runs (numpy, scipy and torch release the GIL in their heavy
calls, so the sampler keeps running); the figure is the highest sample, which
can miss a spike shorter than the interval. ``ru_maxrss`` (the kernel's exact
high-water mark of the whole process) is printed at the end of each script.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_PAGE = os.sysconf("SC_PAGE_SIZE")
GiB = 2**30


def rss_bytes() -> int:
    """The current resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def max_rss_bytes() -> int:
    """The kernel's high-water mark of this process's RSS (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def available_bytes() -> int:
    """``MemAvailable`` of /proc/meminfo: what can be allocated without swapping or the OOM killer."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakRSS:
    """Context manager: the highest RSS sampled while the block runs (``.peak``, bytes), and the RSS before it (``.start``)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = rss_bytes()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


@dataclass
class Timing:
    """Seconds of each repeat of one phase and the peak RSS seen over all of them."""

    name: str
    seconds: list[float] = field(default_factory=list)
    peak: int = 0  # bytes
    growth: int = 0  # bytes: the largest (peak - RSS before the phase) over the repeats

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def row(self) -> str:
        reps = len(self.seconds)
        return f"{self.name:<44} {self.min:>9.3f} {self.median:>9.3f} {reps:>4}   {self.peak / GiB:>7.2f} {self.growth / GiB:>+8.2f}"


TABLE_HEAD = f"{'phase':<44} {'min s':>9} {'median s':>9} {'reps':>4}   {'peak GiB':>7} {'Δ GiB':>8}"


def measure(name: str, fn: Callable[[], object], repeat: int = 1, sync: Callable[[], None] | None = None) -> tuple[Timing, object]:
    """Run ``fn`` ``repeat`` times; return the timing and the last result.

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called before the clock
    stops, so that asynchronous device work is counted.
    """
    t = Timing(name)
    result = None
    for _ in range(repeat):
        result = None  # let the previous result go before the next run
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            result = fn()
            if sync is not None:
                sync()
            t.seconds.append(time.perf_counter() - t0)
        t.peak = max(t.peak, mem.peak)
        t.growth = max(t.growth, mem.peak - mem.start)
    return t, result


def machine_header(title: str) -> str:
    """Python, CPU count, load average and free memory: the context every figure needs."""
    load = os.getloadavg()
    lines = [
        f"== {title}",
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"MemAvailable {available_bytes() / GiB:.1f} GiB",
        f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}",
    ]
    return "\n".join(lines)


def footer() -> str:
    load = os.getloadavg()
    return f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; process peak RSS (ru_maxrss) {max_rss_bytes() / GiB:.2f} GiB"


def say(msg: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
