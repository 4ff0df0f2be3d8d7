"""Explore-tab latency on the CPU: `python -m benchmarks.explore [--weights weights]`.

One live slider update of one digit, as the app does it: seed -> latent (x psi) -> + the
strengths along the named directions -> generator -> uint8 -> 280x280 PNG with provenance
text. Then the ten-digit row (the same edited latent drawn as 0-9) and both together. Median
and p95 over --repeats runs with 1 and with 2 torch threads, each run with other strengths
(as a moving slider sends). Also: loading directions.json, and finding the directions again
with the quick setting (what loading does when the file is missing or stale).
Writes the same figures to benchmarks/results/explore.json.
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch

from gan.images import make_grid, png_bytes, upscale
from gan.inputs import format_edit_spec
from gan.latent.direction_search import QUICK_SEARCH, find_directions, load_directions
from gan.latent.directions import apply_directions
from gan.model.sampling import generate_from_latents, latents_from_seeds
from gan.model.weights import load_generator, weights_fingerprint

from .common import machine_info, print_table, summarize, time_calls, write_results

DIGIT_SCALE = 10          # 28 px -> 280 px, as the Generate tab
ROW_SCALE = 3             # the 0-9 row: 10 cells of 28 px + padding -> about 900 px wide
PNG_COMPRESS_LEVEL = 1    # the app's zlib level


def slider_positions(names: list[str], count: int = 64) -> list[dict[str, float]]:
    """Strength settings a dragged slider passes through: one direction moving -3..3 at a time."""
    values = np.linspace(-3.0, 3.0, count // len(names) or 1)
    return [{**{n: 0.0 for n in names}, name: float(v)} for name in names for v in values]


def make_update(generator, directions, fingerprint: str, *, digit: int, seed: int, psi: float):
    positions = itertools.cycle(slider_positions(directions.names))

    def one_digit() -> bytes:
        strengths = next(positions)
        z = latents_from_seeds([seed], generator.z_dim) * psi
        image = generate_from_latents(generator, apply_directions(z, directions, strengths),
                                 torch.eye(generator.num_classes)[[digit]])[0].numpy()
        meta = {"digit": digit, "seed": seed, "truncation_psi": psi,
                "strengths": format_edit_spec(strengths), "weights_sha256": fingerprint}
        return png_bytes(upscale(image, DIGIT_SCALE), metadata=meta, compress_level=PNG_COMPRESS_LEVEL)

    def ten_digits() -> bytes:
        strengths = next(positions)
        z = latents_from_seeds([seed], generator.z_dim)[0] * psi
        row = generate_from_latents(generator, apply_directions(z, directions, strengths), range(10))
        grid = make_grid(row.numpy(), rows=1, cols=10)
        meta = {"digits": "0-9", "seed": seed, "truncation_psi": psi,
                "strengths": format_edit_spec(strengths), "weights_sha256": fingerprint}
        return png_bytes(upscale(grid, ROW_SCALE), metadata=meta, compress_level=PNG_COMPRESS_LEVEL)

    def model_only() -> torch.Tensor:
        z = latents_from_seeds([seed], generator.z_dim) * psi
        return generate_from_latents(generator, apply_directions(z, directions, next(positions)),
                                torch.eye(generator.num_classes)[[digit]])

    return {"one digit (model + PNG)": one_digit, "one digit (model only)": model_only,
            "ten-digit row (model + PNG)": ten_digits,
            "digit + row (one slider update)": lambda: (one_digit(), ten_digits())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="weights", help="weights folder (default: weights)")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--skip-search", action="store_true", help="do not time the quick search")
    args = parser.parse_args(argv)

    generator = load_generator(args.weights)
    fingerprint = weights_fingerprint(args.weights)
    start = time.perf_counter()
    directions = load_directions(args.weights, generator)
    load_ms = (time.perf_counter() - start) * 1000
    info = machine_info()
    print(f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}; {len(directions)} "
          f"directions ({directions.method}) loaded in {load_ms:.1f} ms")
    updates = make_update(generator, directions, fingerprint, digit=3, seed=42, psi=1.0)
    results = {"machine": info, "load_directions_ms": load_ms, "timings": {}}
    rows, before = [], torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, fn in updates.items():
            stats = summarize(time_calls(fn, repeats=args.repeats, warmup=5))
            results["timings"][f"{name} [{threads} threads]"] = stats
            rows.append([name, threads, stats["median_ms"], stats["p95_ms"], stats["min_ms"]])
    torch.set_num_threads(before)
    print()
    print_table(["request", "threads", "p50 ms", "p95 ms", "min ms"], rows)
    if not args.skip_search:
        start = time.perf_counter()
        find_directions(generator, settings=QUICK_SEARCH)
        results["quick_search_s"] = time.perf_counter() - start
        print(f"\nfinding the directions again with the quick setting (no directions.json): "
              f"{results['quick_search_s']:.1f} s with {torch.get_num_threads()} threads")
    print(f"\nwrote {write_results('explore', results)}")


if __name__ == "__main__":
    main()
