"""Served-generator latency on the CPU: `python -m benchmarks.inference [--weights weights]`.

Prints, for 1, 16, 100 and 256 images: median and p95 latency of `generator.generate`
(seed -> latent -> image -> uint8) and of the bare forward pass, images/s, the generator's
FLOPs per image and the achieved GFLOP/s next to this machine's measured matmul GFLOP/s.
Then the 10x10 grid under each thread setting, alone and with a neighbour busy on one core.
Writes the same figures to benchmarks/results/inference.json.
"""
from __future__ import annotations

import argparse
import statistics

import torch
from torch.utils.flop_counter import FlopCounterMode

from gan import Generator, ModelConfig, load_generator
from gan.runtime import configure_cpu_threads

from .common import busy_core, machine_info, matmul_gflops, print_table, summarize, time_calls, write_results

BATCHES = (1, 16, 100, 256)


def flops_per_image(generator: Generator) -> float:
    z = torch.randn(8, generator.z_dim)
    labels = torch.arange(8) % generator.num_classes
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        generator(z, labels)
    return counter.get_total_flops() / 8


def request(n: int) -> tuple[list[int], list[int]]:
    return [i % 10 for i in range(n)], list(range(n))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="weights", help="weights folder (default: weights)")
    parser.add_argument("--random-init", action="store_true", help="benchmark an untrained generator instead")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)

    threads = configure_cpu_threads()
    generator = Generator(ModelConfig()).eval() if args.random_init else load_generator(args.weights)
    flops = flops_per_image(generator)
    peak = matmul_gflops()
    info = machine_info()
    print(f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}, {threads} threads; "
          f"matmul {peak:.1f} GFLOP/s; generator {flops / 1e6:.1f} MFLOP/image")

    rows, results = [], {"machine": info, "matmul_gflops": peak, "flops_per_image": flops, "batches": {}}
    for n in BATCHES:
        digits, seeds = request(n)
        z = torch.randn(n, generator.z_dim)
        labels = torch.tensor(digits)
        repeats = args.repeats if n <= 100 else max(10, args.repeats // 3)
        with torch.inference_mode():
            forward = summarize(time_calls(lambda: generator(z, labels), repeats=repeats))
        full = summarize(time_calls(lambda: generator.generate(digits, seeds), repeats=repeats))
        achieved = flops * n / (forward["median_ms"] / 1000) / 1e9
        results["batches"][n] = {"generate": full, "forward": forward,
                                 "images_per_s": n / (full["median_ms"] / 1000),
                                 "achieved_gflops": achieved, "roofline_ratio": achieved / peak}
        rows.append([n, full["median_ms"], full["p95_ms"], forward["median_ms"], forward["p95_ms"],
                     n / (full["median_ms"] / 1000), achieved, achieved / peak])
    print()
    print_table(["images", "generate p50 ms", "p95 ms", "forward p50 ms", "p95 ms", "images/s",
                 "GFLOP/s", "of matmul"], rows)

    # Thread settings: a 10x10 grid with 1..cores threads, alone and beside a busy core.
    digits, seeds = request(100)
    rows, results["threads"] = [], {}
    for busy in (False, True):
        for n_threads in sorted({1, threads}):
            torch.set_num_threads(n_threads)
            if busy:
                with busy_core():
                    times = time_calls(lambda: generator.generate(digits, seeds), repeats=args.repeats)
            else:
                times = time_calls(lambda: generator.generate(digits, seeds), repeats=args.repeats)
            stats = summarize(times)
            results["threads"][f"{n_threads}{'_busy' if busy else ''}"] = stats
            rows.append([n_threads, "yes" if busy else "no", stats["median_ms"], stats["p95_ms"],
                         statistics.mean(times)])
    torch.set_num_threads(threads)
    print("\n10x10 grid (generate) by thread count, with and without a busy neighbour core:")
    print_table(["threads", "neighbour busy", "p50 ms", "p95 ms", "mean ms"], rows)
    print(f"\nwrote {write_results('inference', results)}")


if __name__ == "__main__":
    main()
