"""Durations by kind ("grid.model", "grid.encode", ...): what the benchmarks read."""
from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import defaultdict, deque
from typing import Iterator

import numpy as np


class ServingStats:
    """Thread-safe durations by kind, with counts, totals and recent percentiles."""

    def __init__(self, max_samples: int = 100_000):
        self._lock = threading.Lock()
        self._samples: dict[str, deque] = defaultdict(lambda: deque(maxlen=max_samples))
        self._totals: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def record(self, kind: str, seconds: float) -> None:
        with self._lock:
            self._samples[kind].append(seconds)
            self._totals[kind] += seconds
            self._counts[kind] += 1

    @contextlib.contextmanager
    def timed(self, kind: str) -> Iterator[None]:
        """Record how long the block took, if it succeeded (refused inputs are not timed)."""
        start = time.perf_counter()
        yield
        self.record(kind, time.perf_counter() - start)

    def reset(self) -> None:
        with self._lock:
            self._samples.clear()
            self._totals.clear()
            self._counts.clear()

    def snapshot(self) -> dict[str, dict[str, float]]:
        """{kind: {count, total_s, p50_ms, p95_ms}}."""
        with self._lock:
            items = {k: (list(v), self._totals[k], self._counts[k]) for k, v in self._samples.items()}
        out = {}
        for kind, (samples, total, count) in sorted(items.items()):
            array = np.asarray(samples) * 1000.0
            out[kind] = {"count": count, "total_s": total,
                         "p50_ms": float(np.percentile(array, 50)) if len(array) else math.nan,
                         "p95_ms": float(np.percentile(array, 95)) if len(array) else math.nan}
        return out


class NoStats(ServingStats):
    """Times nothing: for callers that do not measure."""

    def record(self, kind: str, seconds: float) -> None:
        pass


NO_STATS = NoStats()
