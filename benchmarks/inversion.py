"""The Draw search on real handwriting: `python -m benchmarks.inversion --data-dir DIR [--count 1000]`.

On the first `--count` MNIST **test** digits (never seen in training), for each digit:
- the search's reconstruction (gan.latent.inversion, default settings, class fixed to the label):
  RMS pixel distance (0..1 scale) and classifier-feature distance to the target;
- the baseline: the best of the generator's first 1000 seeds for the same digit, chosen per
  target and per metric (the seed closest in pixels for the pixel column, the seed closest in
  features for the feature column: the most favourable choice for the baseline);
- restyling: every found latent rendered as 0-9 (truncation psi 1.0), and the share the
  project's classifier reads as the digit asked for;
- the time of one whole search (one drawing, digit from the classifier's reading), median
  and p95, with 1 and 2 torch threads; the load average is recorded beside it, because on a
  shared machine other processes' work shows up in these times.
Prints a table and writes benchmarks/results/inversion.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import torch

from gan.data import load_mnist
from gan.latent.inversion import InversionSettings, invert_batch, invert_drawing
from gan.model.classifier import classifier_outputs, load_classifier
from gan.model.sampling import generate_from_latents
from gan.model.weights import load_generator

from .common import machine_info, percentile, print_table, write_results

BASELINE_SEEDS = 1000


def measure_baseline(generator, classifier, targets: torch.Tensor, labels: torch.Tensor,
                     target_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per target: distance to the nearest of seeds 0..999 of its digit, in pixels and in features."""
    pixel = torch.empty(len(targets))
    feature = torch.empty(len(targets))
    for digit in labels.unique().tolist():
        rows = (labels == digit).nonzero().flatten()
        samples = generator.generate([digit] * BASELINE_SEEDS, list(range(BASELINE_SEEDS)))
        sample_features, _ = classifier_outputs(classifier, samples)
        flat = lambda images: images.flatten(1).double() / 255  # noqa: E731
        pixel[rows] = (torch.cdist(flat(targets[rows]), flat(samples)) / 28).min(dim=1).values.float()
        feature[rows] = torch.cdist(target_features[rows], sample_features).min(dim=1).values.float()
    return pixel, feature


def run_searches(generator, classifier, targets, labels, settings, batch: int):
    results = []
    for start in range(0, len(targets), batch):
        results += invert_batch(generator, targets[start: start + batch], labels[start: start + batch].tolist(),
                                classifier=classifier, settings=settings)
        print(f"  searched {len(results)}/{len(targets)}", flush=True)
    return results


def measure_restyle(generator, classifier, latents: torch.Tensor) -> tuple[float, list[float]]:
    images = torch.cat([generate_from_latents(generator, z, range(10)) for z in latents])
    _, predicted = classifier_outputs(classifier, images)
    asked = torch.arange(10).repeat(len(latents))
    correct = (predicted == asked).double()
    return float(correct.mean()), [float(correct[asked == d].mean()) for d in range(10)]


def time_searches(generator, classifier, targets, runs: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    invert_drawing(generator, targets[0], classifier=classifier)  # warm-up
    load_before = os.getloadavg()[0]
    times = []
    for i in range(runs):
        start = time.perf_counter()
        invert_drawing(generator, targets[i % len(targets)], classifier=classifier)
        times.append((time.perf_counter() - start) * 1000)
    return {"threads": threads, "median_ms": statistics.median(times), "p95_ms": percentile(times, 95),
            "min_ms": min(times), "runs": runs, "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="weights", help="weights folder (default: weights)")
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files (else $DIGITGAN_DATA_DIR)")
    parser.add_argument("--count", type=int, default=1000, help="test digits to search (default 1000)")
    parser.add_argument("--batch", type=int, default=50, help="targets searched together (default 50)")
    parser.add_argument("--timing-runs", type=int, default=20, help="single searches timed per thread count")
    parser.add_argument("--threads", default="1,2", help="thread counts to time (default 1,2)")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    generator, classifier = load_generator(args.weights), load_classifier()
    settings = InversionSettings()
    images, labels = load_mnist("test", data_dir=args.data_dir, download=False)
    targets, labels = images[: args.count], labels[: args.count]
    info = machine_info()
    print(f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}; {len(targets)} MNIST test "
          f"digits; settings {dataclasses.asdict(settings)}")

    target_features, _ = classifier_outputs(classifier, targets)
    base_pixel, base_feature = measure_baseline(generator, classifier, targets, labels, target_features)
    start = time.perf_counter()
    found = run_searches(generator, classifier, targets, labels, settings, args.batch)
    search_s = time.perf_counter() - start
    pixel = torch.tensor([r.pixel_distance for r in found])
    feature = torch.tensor([r.feature_distance for r in found])
    latents = torch.stack([r.latent for r in found])
    restyle_accuracy, restyle_per_digit = measure_restyle(generator, classifier, latents)
    timings = [time_searches(generator, classifier, targets, args.timing_runs, int(t))
               for t in args.threads.split(",")]
    torch.set_num_threads(1)

    print()
    print_table(["method", "mean RMS pixel distance", "mean feature distance"], [
        ["search (gan.latent.inversion)", f"{pixel.mean():.4f}", f"{feature.mean():.3f}"],
        [f"best of seeds 0-{BASELINE_SEEDS - 1}", f"{base_pixel.mean():.4f}", f"{base_feature.mean():.3f}"]])
    print(f"\nsearch closer than the best seed: {float((pixel < base_pixel).double().mean()):.1%} of "
          f"targets in pixels, {float((feature < base_feature).double().mean()):.1%} in features")
    print(f"restyled digits read as asked: {restyle_accuracy:.2%} (per digit "
          + ", ".join(f"{a:.1%}" for a in restyle_per_digit) + ")")
    print(f"latent norms: mean {latents.norm(dim=1).mean():.2f}, max {latents.norm(dim=1).max():.2f}; "
          f"{len(targets)} searches in batches of {args.batch}: {search_s:.0f} s")
    print("\none search (a drawing, digit read by the classifier):")
    print_table(["threads", "median ms", "p95 ms", "min ms", "load avg before", "after"],
                [[t["threads"], t["median_ms"], t["p95_ms"], t["min_ms"], t["load_average_before"],
                  t["load_average_after"]] for t in timings])
    results = {
        "machine": info, "settings": dataclasses.asdict(settings), "count": len(targets), "split": "test",
        "search": {"mean_pixel_rms": float(pixel.mean()), "mean_feature_distance": float(feature.mean()),
                   "median_pixel_rms": float(pixel.median()), "median_feature_distance": float(feature.median())},
        "best_of_seeds": {"seeds": BASELINE_SEEDS, "mean_pixel_rms": float(base_pixel.mean()),
                          "mean_feature_distance": float(base_feature.mean())},
        "share_closer_than_best_seed": {"pixel": float((pixel < base_pixel).double().mean()),
                                        "feature": float((feature < base_feature).double().mean())},
        "restyle": {"truncation_psi": 1.0, "accuracy": restyle_accuracy, "per_digit": restyle_per_digit},
        "latent_norm": {"mean": float(latents.norm(dim=1).mean()), "max": float(latents.norm(dim=1).max())},
        "batch_search_s": search_s, "timing": timings}
    print(f"\nwrote {write_results('inversion', results)}")


if __name__ == "__main__":
    main()
