"""Does the app stay responsive while the Train tab trains? `python -m benchmarks.train_tab
--weights weights [--data-dir DIR] [--requests 100]`.

Times a 10x10 /grid request in-process (the generator draws digits 0-9 x seeds 0-9, then the
grid is upscaled and PNG-encoded, as the app serves it), back to back:

1. with no training run going;
2. while a real training run (the Train tab's quick preset, started through
   gan.runs.manager.RunManager, so as a separate process) trains on the same machine, once for each
   --niceness of the trainer (the manager's default is 10: the web server keeps the upper
   hand). The run is stopped (SIGTERM) after each phase.

Prints p50/p95 latency per phase and the trainer's images/s meanwhile; writes
benchmarks/results/train_tab.json. Without --data-dir (or DIGITGAN_DATA_DIR) the run trains
on --synthetic-size synthetic digits (the speed per step is the same as on MNIST).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from .common import machine_info, print_table, summarize, time_calls, write_results


def grid_request(generator) -> bytes:
    """One /grid: 100 digits (a row per digit, seeds 0-9) -> an upscaled PNG."""
    from gan.images import make_grid, png_bytes, upscale

    digits = [d for d in range(10) for _ in range(10)]
    seeds = list(range(10)) * 10
    images = generator.generate(digits, seeds)
    return png_bytes(upscale(make_grid(images, rows=10, cols=10), 4), compress_level=1)


def wait_for_training(manager, name: str, timeout_s: float = 300.0) -> None:
    """Until the run has logged steps (past start-up and data loading)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = manager.status(name)
        if status.state != "running":
            raise RuntimeError(f"the run stopped: {status.message}\n" + "\n".join(status.console_tail))
        if status.step and status.images_per_s:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the run logged no step within {timeout_s} s")


def measure_during_run(generator, args, niceness: int, runs_root: Path) -> dict:
    from gan.runs.manager import RunManager

    extra = ["--synthetic-size", str(args.synthetic_size)] if not args.data_dir else []
    manager = RunManager(runs_root, data_dir=args.data_dir, allow_download=False,
                         niceness=niceness, extra_args=extra)
    info = manager.start("quick")
    try:
        wait_for_training(manager, info.name)
        step_before = manager.status(info.name).step
        times = time_calls(lambda: grid_request(generator), repeats=args.requests, warmup=3)
        status = manager.status(info.name)
        # the trainer's own speed over the log windows that ended while requests ran
        during = [h["images_per_s"] for h in status.history if h["step"] > step_before]
        rate = statistics.mean(during) if during else status.images_per_s
    finally:
        final = manager.stop(info.name)
    return {**summarize(times), "trainer_niceness": niceness, "trainer_images_per_s": rate,
            "run_state_after_stop": final.state}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="weights")
    parser.add_argument("--data-dir", default=os.environ.get("DIGITGAN_DATA_DIR"))
    parser.add_argument("--synthetic-size", type=int, default=2048)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0, help="the app's torch threads (0 = one per core)")
    parser.add_argument("--niceness", default="10,0", help="trainer niceness values to try, comma-separated")
    args = parser.parse_args(argv)

    from gan.model.weights import load_generator
    from gan.runtime import configure_cpu_threads

    threads = configure_cpu_threads(args.threads)
    generator = load_generator(args.weights)
    load_before = os.getloadavg()  # a shared machine: other jobs' load is part of the numbers
    phases = {"no run": {**summarize(time_calls(lambda: grid_request(generator), repeats=args.requests)),
                         "trainer_niceness": None, "trainer_images_per_s": None}}
    with tempfile.TemporaryDirectory(prefix="digitgan-bench-runs-") as runs_root:
        for niceness in (int(n) for n in args.niceness.split(",")):
            phases[f"run going (nice {niceness})"] = measure_during_run(generator, args, niceness,
                                                                        Path(runs_root))
    rows = [[name, p["median_ms"], p["p95_ms"], p["min_ms"],
             "-" if p["trainer_images_per_s"] is None else f"{p['trainer_images_per_s']:.0f}"]
            for name, p in phases.items()]
    load_after = os.getloadavg()
    print(f"10x10 /grid in-process, {args.requests} requests back to back, app threads {threads}; "
          f"trainer: quick preset on {'MNIST' if args.data_dir else f'{args.synthetic_size} synthetic digits'}; "
          f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print_table(["phase", "p50 ms", "p95 ms", "min ms", "trainer img/s"], rows)
    slowdown = statistics.median([p["median_ms"] for n, p in phases.items() if n != "no run"]) \
        / phases["no run"]["median_ms"]
    print(f"p50 with a run going / without: {slowdown:.2f}x")
    path = write_results("train_tab", {"machine": machine_info(), "requests": args.requests,
                                       "app_threads": threads, "data": "mnist" if args.data_dir else
                                       f"synthetic {args.synthetic_size}", "phases": phases,
                                       "load_average_before": load_before, "load_average_after": load_after})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
