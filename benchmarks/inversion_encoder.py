"""The encoder-started Draw search against today's: `python -m benchmarks.inversion_encoder --data-dir DIR`.

On the first `--count` MNIST **test** digits (never seen in training; the encoder trains on
the train split), each method finds a latent for each digit with the class fixed to its label:
- search (today): gan.latent.inversion with its default settings;
- encoder alone: one forward pass of weights/encoder.safetensors (what a browser runs);
- encoder + polish: forward-only Levenberg-Marquardt steps (finite-difference Jacobian);
- encoder + k Adam steps, and combinations (--methods: the polish, Adam, seed restarts).
For each: mean RMS pixel distance (0..1 scale) and classifier-feature distance of the
reconstruction to the target, the share of restyled digits (the latent rendered as 0-9,
psi 1.0) that the classifier reads as the digit asked for, and the time of one whole search
(one drawing, digit read by the classifier first, as the app does), median over
--timing-runs, with 1 and 2 torch threads; the load average is recorded beside the times,
because on a shared machine other processes' work shows up in them.
Prints a table and writes benchmarks/results/inversion_encoder.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import torch

from gan.data import load_mnist
from gan.latent.encoder import load_encoder, read_encoder_header
from gan.latent.encoder_search import EncoderSearchSettings, invert_with_encoder
from gan.latent.inversion import InversionSettings, invert_batch, invert_drawing
from gan.model.classifier import classifier_outputs, load_classifier, read_digits
from gan.model.sampling import generate_from_latents
from gan.model.weights import load_generator

from .common import machine_info, percentile, print_table, write_results
from .inversion import measure_restyle


def measure(generator, classifier, targets, labels, target_features, latents) -> dict:
    reconstructions = generate_from_latents(generator, latents, labels.tolist())
    pixel = ((targets.float() - reconstructions.float()) / 255).pow(2).mean(dim=(1, 2)).sqrt()
    features, _ = classifier_outputs(classifier, reconstructions)
    restyle_accuracy, per_digit = measure_restyle(generator, classifier, latents)
    return {"mean_pixel_rms": float(pixel.mean()), "median_pixel_rms": float(pixel.median()),
            "mean_feature_distance": float((features - target_features).norm(dim=1).mean()),
            "restyle_accuracy": restyle_accuracy, "restyle_per_digit": per_digit,
            "mean_latent_norm": float(latents.norm(dim=1).mean())}


def time_method(search_one, targets, runs: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    search_one(targets[0])  # warm-up
    load_before = os.getloadavg()[0]
    times = []
    for i in range(runs):
        start = time.perf_counter()
        search_one(targets[i % len(targets)])
        times.append((time.perf_counter() - start) * 1000)
    return {"threads": threads, "median_ms": statistics.median(times), "p95_ms": percentile(times, 95),
            "runs": runs, "load_average_before": load_before, "load_average_after": os.getloadavg()[0]}


def parse_method(spec: str) -> tuple[str, EncoderSearchSettings]:
    """"e" = encoder alone; else "+"-joined parts: pN = N polish steps, aN = N Adam steps,
    sN = N seed restarts of the best of seeds 0-63; e.g. "p3", "a20", "p3+a10", "s2+a20"."""
    values = {"p": 0, "a": 0, "s": 0}
    for part in ([] if spec == "e" else spec.split("+")):
        if len(part) < 2 or part[0] not in values or not part[1:].isdigit():
            raise SystemExit(f"--methods: {spec!r} is not 'e' or parts like p3, a20, s2 joined by '+'")
        values[part[0]] = int(part[1:])
    settings = EncoderSearchSettings(polish_steps=values["p"], adam_steps=values["a"],
                                     seed_candidates=64 if values["s"] else 0, seed_restarts=values["s"])
    words = [f"polish {values['p']}" if values["p"] else "", f"{values['s']} seeds" if values["s"] else "",
             f"{values['a']} Adam" if values["a"] else ""]
    return " + ".join(["encoder", *filter(None, words)]) + (" alone" if spec == "e" else ""), settings


def methods(args) -> list[tuple[str, EncoderSearchSettings | None]]:
    """(name, settings) per row; None = today's search."""
    rows = [("search (today)", None)] if args.search_count else []
    return rows + [parse_method(spec) for spec in args.methods.split(",") if spec]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="weights", help="weights folder with encoder.safetensors")
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files (else $DIGITGAN_DATA_DIR)")
    parser.add_argument("--count", type=int, default=1000, help="test digits (default 1000)")
    parser.add_argument("--search-count", type=int, default=1000,
                        help="of those, how many today's search runs on (slow; 0 = leave it out)")
    parser.add_argument("--methods", default="e,p1,p2,p3,p4,a10,a20,a40,p3+a10,s2+a40",
                        help="encoder methods: e = alone, pN polish steps, aN Adam steps, sN seed restarts, "
                             "joined by '+' (default e,p1,p2,p3,p4,a10,a20,a40,p3+a10,s2+a40)")
    parser.add_argument("--batch", type=int, default=50, help="targets searched together (default 50)")
    parser.add_argument("--timing-runs", type=int, default=20, help="single searches timed per thread count")
    parser.add_argument("--threads", default="1,2", help="thread counts to time (default 1,2)")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    generator, classifier = load_generator(args.weights), load_classifier()
    encoder = load_encoder(args.weights, generator=generator)
    images, labels = load_mnist("test", data_dir=args.data_dir, download=False)
    targets, labels = images[: args.count], labels[: args.count]
    target_features, _ = classifier_outputs(classifier, targets)
    info = machine_info()
    print(f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}; {len(targets)} MNIST test digits; "
          f"encoder {read_encoder_header(args.weights)['config']}")

    rows, results = [], []
    for name, settings in methods(args):
        count = args.search_count if settings is None else len(targets)
        start, found = time.perf_counter(), []
        for at in range(0, count, args.batch):
            batch, digits = targets[at: min(count, at + args.batch)], labels[at: min(count, at + args.batch)]
            if settings is None:
                found.append(torch.stack([r.latent for r in invert_batch(
                    generator, batch, digits.tolist(), classifier=classifier, settings=InversionSettings())]))
            else:
                found.append(invert_with_encoder(generator, encoder, batch, digits.tolist(),
                                                 classifier=classifier, settings=settings))
        batch_s = time.perf_counter() - start
        quality = measure(generator, classifier, targets[:count], labels[:count], target_features[:count],
                          torch.cat(found))

        def search_one(target, settings=settings):
            digit = int(read_digits(classifier, target[None])[0].argmax())
            if settings is None:
                return invert_drawing(generator, target, digit=digit, classifier=classifier)
            return invert_with_encoder(generator, encoder, target, [digit], classifier=classifier, settings=settings)

        timings = [time_method(search_one, targets, args.timing_runs, int(t)) for t in args.threads.split(",")]
        torch.set_num_threads(1)
        results.append({"method": name, "settings": None if settings is None else dataclasses.asdict(settings),
                        "count": count, "batch_s": batch_s, **quality, "timing": timings})
        rows.append([name, count, f"{quality['mean_pixel_rms']:.4f}", f"{quality['mean_feature_distance']:.3f}",
                     f"{quality['restyle_accuracy']:.2%}", *[f"{t['median_ms']:.0f}" for t in timings],
                     f"{timings[0]['load_average_before']:.1f}"])
        print(f"  {name}: done in {batch_s:.0f} s", flush=True)

    print()
    print_table(["method", "digits", "mean RMS", "mean feature dist", "restyle read as asked",
                 *[f"ms/search {t} thr" for t in args.threads.split(",")], "load avg"], rows)
    print(f"\nwrote {write_results('inversion_encoder', {'machine': info, 'split': 'test', 'methods': results})}")


if __name__ == "__main__":
    main()
