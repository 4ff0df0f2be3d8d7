"""Measure a generator's quality: `python -m gan.evaluate --weights weights [--data-dir DIR]`.

Writes metrics.json and nearest_neighbours.png next to the weights (see gan.measure.evaluation).
"""
from __future__ import annotations

import argparse
import sys

from .data import MnistNotFound
from .measure.evaluation import evaluate_weights
from .model.hub import is_hub_ref
from .model.weights import WeightsError
from .runtime import select_device


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="weights", help="weights folder (default: weights)")
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files (else $DIGITGAN_DATA_DIR or download)")
    parser.add_argument("--samples-per-digit", type=int, default=1000,
                        help="seeds 0..N-1 for each digit (default: 1000)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if is_hub_ref(args.weights):
        parser.error(f"--weights {args.weights}: this command writes metrics.json next to the weights, so it needs a "
                     "local folder (python -m gan.generate and app.py read Hub repos)")
    if args.samples_per_digit < 2:
        parser.error("--samples-per-digit must be >= 2")
    try:
        evaluate_weights(args.weights, data_dir=args.data_dir, samples_per_digit=args.samples_per_digit,
                         device=select_device(args.device))
    except (WeightsError, MnistNotFound, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
