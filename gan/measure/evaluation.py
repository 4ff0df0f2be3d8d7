"""A generator's quality on the full evaluation (what `python -m gan.evaluate` reports).

`evaluate_weights` writes metrics.json and nearest_neighbours.png next to the weights. All feature-space
figures use our own MNIST classifier (gan/model/assets); its accuracy on the real test set is
reported beside them, and the same Frechet distance between MNIST train and test is the
floor that the samples' distance should be read against.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from ..data import load_mnist
from ..files import atomic_write_json
from ..images import make_grid, save_png
from ..model.classifier import CLASSIFIER_PATH, DigitClassifier, classifier_outputs, load_classifier
from ..model.weights import METRICS_FILE, NEIGHBOURS_FILE, load_generator, weights_fingerprint
from .metrics import coverage, frechet_distance, nearest_neighbours, sample_quality

MEMORISATION_PER_DIGIT = 5

# What weights must score on this evaluation to ship in weights/ (docs/quality.md: quality of the
# shipped weights). Memorisation is judged against real test images: samples may not sit
# closer to the training set than they do.
SHIPPING_GOALS = {"frechet_ratio_to_floor": 3.5, "coverage": 0.85, "class_accuracy": 0.995,
                  "class_accuracy_min_digit": 0.985, "diversity_ratio": (0.95, 1.05)}


def memorisation_report(samples: torch.Tensor, sample_labels: torch.Tensor, train_images: torch.Tensor,
                        test_images: torch.Tensor, *, picture: Path | None) -> dict:
    """Nearest training image of a few samples per digit, against the same distance for real
    test images (which the model never saw): samples much closer than that are copies."""
    picks = torch.cat([torch.nonzero(sample_labels == d)[:MEMORISATION_PER_DIGIT, 0]
                       for d in sample_labels.unique()])
    queries = samples[picks]
    idx, dist = nearest_neighbours(queries, train_images)
    _, test_dist = nearest_neighbours(test_images[:1000], train_images)
    if picture is not None:
        pairs = torch.stack([queries, train_images[idx]], dim=1).flatten(0, 1)  # sample, neighbour
        rows = len(sample_labels.unique())
        save_png(picture, make_grid(pairs, rows=rows, cols=2 * MEMORISATION_PER_DIGIT),
                 metadata={"layout": "pairs of (generated, nearest training image), a row per digit"})
    return {"samples_checked": len(queries),
            "sample_to_train_rms_median": float(dist.median()),
            "sample_to_train_rms_min": float(dist.min()),
            "test_to_train_rms_median": float(test_dist.median()),
            "test_to_train_rms_min": float(test_dist.min()),
            "nearest_train_indices": idx.tolist()}


def evaluate_generator(generator, *, classifier: DigitClassifier, train: tuple[torch.Tensor, torch.Tensor],
                       test: tuple[torch.Tensor, torch.Tensor], samples_per_digit: int = 1000,
                       truncation_psi: float = 1.0, picture: Path | None = None,
                       log=print) -> dict:
    start = time.perf_counter()
    test_feats, test_pred = classifier_outputs(classifier, test[0])
    train_feats, _ = classifier_outputs(classifier, train[0])
    quality = sample_quality(generator, classifier, test_feats, test[1],
                             samples_per_digit=samples_per_digit, truncation_psi=truncation_psi)
    samples, sample_labels, fake_feats = quality["samples"], quality["labels"], quality["feats"]
    accuracy, per_digit, fd = (quality["class_accuracy"], quality["class_accuracy_per_digit"],
                               quality["frechet_distance"])
    floor = frechet_distance(train_feats, test_feats)
    n_cov = min(len(test_feats), len(fake_feats))
    result = {
        "samples": len(samples), "samples_per_digit": samples_per_digit, "seeds": f"0-{samples_per_digit - 1}",
        "truncation_psi": truncation_psi,
        "class_accuracy": accuracy,
        "class_accuracy_per_digit": {str(d): a for d, a in enumerate(per_digit)},
        "class_accuracy_min_digit": min(per_digit),
        "frechet_distance": fd,
        "frechet_distance_train_vs_test": floor,
        "frechet_ratio_to_floor": fd / floor if floor > 0 else math.inf,
        "coverage": coverage(test_feats[:n_cov], fake_feats[:n_cov]),
        "coverage_train_vs_test": coverage(test_feats[:n_cov], train_feats[:n_cov]),
        "diversity_ratio_per_digit": {str(d): r for d, r in enumerate(quality["diversity"])},
        "classifier_test_accuracy": float((test_pred == test[1]).double().mean()),
        "memorisation": memorisation_report(samples, sample_labels, train[0], test[0], picture=picture),
    }
    result["seconds"] = round(time.perf_counter() - start, 1)
    log(format_report(result))
    return result


def unmet_goals(m: dict) -> list[str]:
    """The shipping goals a full evaluation's metrics miss, one sentence each; [] = all met."""
    goals, unmet = SHIPPING_GOALS, []
    if not m["frechet_ratio_to_floor"] <= goals["frechet_ratio_to_floor"]:
        unmet.append(f"Frechet distance {m['frechet_ratio_to_floor']:.2f}x the floor "
                     f"(at most {goals['frechet_ratio_to_floor']}x)")
    if not m["coverage"] >= goals["coverage"]:
        unmet.append(f"coverage {m['coverage']:.4f} (at least {goals['coverage']})")
    if not m["class_accuracy"] >= goals["class_accuracy"]:
        unmet.append(f"class accuracy {m['class_accuracy']:.2%} (at least {goals['class_accuracy']:.1%})")
    if not m["class_accuracy_min_digit"] >= goals["class_accuracy_min_digit"]:
        unmet.append(f"worst digit {m['class_accuracy_min_digit']:.2%} "
                     f"(every digit at least {goals['class_accuracy_min_digit']:.1%})")
    low, high = goals["diversity_ratio"]
    outside = {d: r for d, r in m["diversity_ratio_per_digit"].items() if not low <= r <= high}
    if outside:
        unmet.append("diversity ratio " + ", ".join(f"{d}: {r:.3f}" for d, r in outside.items())
                     + f" (every digit {low}-{high})")
    memo = m["memorisation"]
    if not memo["sample_to_train_rms_median"] >= memo["test_to_train_rms_median"]:
        unmet.append(f"median distance to the nearest training image {memo['sample_to_train_rms_median']:.3f}, "
                     f"below real test images' {memo['test_to_train_rms_median']:.3f} (memorisation)")
    return unmet


def format_report(m: dict) -> str:
    lines = [f"class accuracy        {m['class_accuracy']:.2%} over {m['samples']} samples "
             f"(worst digit {m['class_accuracy_min_digit']:.2%}; classifier on real test: "
             f"{m['classifier_test_accuracy']:.2%})",
             "  per digit           " + " ".join(f"{d}:{a:.1%}" for d, a in m["class_accuracy_per_digit"].items()),
             f"Frechet distance      {m['frechet_distance']:.2f} (train vs test floor "
             f"{m['frechet_distance_train_vs_test']:.2f}, ratio {m['frechet_ratio_to_floor']:.1f}x)",
             f"coverage              {m['coverage']:.3f} (train vs test {m['coverage_train_vs_test']:.3f})",
             "  diversity ratio     " + " ".join(f"{d}:{r:.2f}" for d, r in m["diversity_ratio_per_digit"].items()),
             "memorisation          median RMS to nearest train image "
             f"{m['memorisation']['sample_to_train_rms_median']:.3f}"
             f" (real test images: {m['memorisation']['test_to_train_rms_median']:.3f})"]
    unmet = unmet_goals(m)
    lines.append("shipping goals        " + ("all met" if not unmet else "not met: " + "; ".join(unmet)))
    return "\n".join(lines)


def evaluate_weights(weights: str | Path, *, data_dir: str | None = None, samples_per_digit: int = 1000,
                     device: str = "cpu", log=print) -> dict:
    weights = Path(weights)
    generator = load_generator(weights, device=device)
    classifier = load_classifier(CLASSIFIER_PATH, device=device)
    train, test = load_mnist("train", data_dir=data_dir), load_mnist("test", data_dir=data_dir)
    result = evaluate_generator(generator, classifier=classifier, train=train, test=test,
                                samples_per_digit=samples_per_digit,
                                picture=weights / NEIGHBOURS_FILE, log=log)
    result["weights_sha256"] = weights_fingerprint(weights)
    atomic_write_json(weights / METRICS_FILE, result)
    log(f"wrote {weights / METRICS_FILE}")
    return result
