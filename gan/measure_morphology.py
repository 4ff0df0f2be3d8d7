"""Morpho-MNIST reference statistics: `python -m gan.measure_morphology --data-dir DIR`.

Measures the MNIST digits (see gan.measure.morphology) and writes the per-property mean and
std that latent directions report their effects in.
"""
from __future__ import annotations

import argparse
import sys
import time

from .data import load_mnist
from .files import atomic_write_json
from .measure.morphology import STATS_PATH, UNITS, make_reference_stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan.measure_morphology", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="MNIST IDX folder (or $DIGITGAN_DATA_DIR)")
    parser.add_argument("--split", default="train", choices=("train", "test"))
    parser.add_argument("--out", default=str(STATS_PATH), help=f"JSON to write (default: {STATS_PATH})")
    args = parser.parse_args(argv)

    images, labels = load_mnist(args.split, data_dir=args.data_dir, download=False)
    start = time.perf_counter()
    stats = make_reference_stats(images, labels=labels, source=f"MNIST {args.split}")
    seconds = time.perf_counter() - start
    atomic_write_json(args.out, stats)
    print(f"measured {len(images)} digits in {seconds:.1f} s ({1000 * seconds / len(images):.2f} ms each)")
    print("| property | unit | mean | std | p5 | median | p95 |\n| --- | --- | --- | --- | --- | --- | --- |")
    for name, s in stats["properties"].items():
        print(f"| {name} | {UNITS[name]} | {s['mean']:.2f} | {s['std']:.2f} | {s['p5']:.2f} | "
              f"{s['median']:.2f} | {s['p95']:.2f} |")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
