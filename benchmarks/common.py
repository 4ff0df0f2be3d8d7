"""Shared bits of the benchmarks: timing statistics, machine info, JSON output, a busy core."""
from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch

from gan.runtime import usable_cores

RESULTS_DIR = Path(__file__).parent / "results"


def time_calls(fn: Callable[[], object], *, repeats: int, warmup: int = 3) -> list[float]:
    """Wall time in milliseconds of each of `repeats` calls, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarize(times_ms: list[float]) -> dict:
    return {"median_ms": statistics.median(times_ms), "p95_ms": percentile(times_ms, 95),
            "min_ms": min(times_ms), "runs": len(times_ms)}


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu,
            "cores": usable_cores(),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def matmul_gflops(*, size: int = 1024, repeats: int = 20) -> float:
    """This machine's fp32 matmul throughput: the 'peak' a roofline ratio is measured against."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    times = time_calls(lambda: a @ b, repeats=repeats)
    return 2 * size**3 / (statistics.median(times) / 1000) / 1e9


def write_results(name: str, results: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


@contextlib.contextmanager
def busy_core():
    """Keep one core busy with a pure-Python loop in another process, as a neighbour on a
    shared 2-vCPU box (a free Space) would."""
    stop = mp.Event()
    proc = mp.Process(target=_spin, args=(stop,), daemon=True)
    proc.start()
    try:
        time.sleep(0.2)
        yield
    finally:
        stop.set()
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()


def print_table(headers: list[str], rows: list[list[object]]) -> None:
    cells = [[f"{c:.2f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
