"""Quality metrics as small named functions, all in the feature space of our own classifier.

- class accuracy: does the classifier see the digit that was asked for?
- Frechet distance: Gaussian fit of classifier features, samples vs real (the FID recipe,
  with an MNIST classifier in place of Inception, so numbers are not comparable to FID).
- coverage (Naeem et al. 2020): share of real images whose k-NN ball holds a sample.
- diversity ratio: mean pairwise feature distance within a class, samples / real.
- nearest neighbours in pixel space: memorisation check against the training set.
"""
from __future__ import annotations

import numpy as np
import torch

from ..model.classifier import DigitClassifier, classifier_outputs
from ..model.sampling import digit_major


def class_accuracy(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> tuple[float, list[float]]:
    """Overall accuracy and accuracy per class (NaN for a class with no samples)."""
    correct = (predicted == labels).double()
    per_class = [float(correct[labels == c].mean()) if (labels == c).any() else float("nan")
                 for c in range(num_classes)]
    return float(correct.mean()), per_class


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), in float64."""
    a, b = feats_a.double().numpy(), feats_b.double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    vals, vecs = np.linalg.eigh(cov_a)
    sqrt_a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def _kth_neighbour_radius(feats: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    radii = []
    for start in range(0, len(feats), chunk):
        d = torch.cdist(feats[start: start + chunk], feats)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at 0
    return torch.cat(radii)


def coverage(real_feats: torch.Tensor, fake_feats: torch.Tensor, *, k: int = 5, chunk: int = 2048) -> float:
    """Share of real points with at least one fake inside their k-NN ball (1.0 = all modes hit)."""
    real, fake = real_feats.float(), fake_feats.float()
    radii = _kth_neighbour_radius(real, k, chunk)
    covered = []
    for start in range(0, len(real), chunk):
        nearest_fake = torch.cdist(real[start: start + chunk], fake).min(dim=1).values
        covered.append(nearest_fake < radii[start: start + chunk])
    return float(torch.cat(covered).float().mean())


def mean_pairwise_distance(feats: torch.Tensor, max_points: int = 1000) -> float:
    feats = feats[:max_points].float()
    n = len(feats)
    if n < 2:
        return float("nan")
    return float(torch.cdist(feats, feats).sum() / (n * (n - 1)))


def diversity_ratios(real_feats: torch.Tensor, real_labels: torch.Tensor, fake_feats: torch.Tensor,
                     fake_labels: torch.Tensor, num_classes: int = 10) -> list[float]:
    """Per class: mean pairwise distance of samples / that of real images. ~1 is healthy;
    near 0 means that class collapsed to a few images. NaN where the real images of a class
    have no spread to compare with (fewer than two, or all identical)."""
    ratios = []
    for c in range(num_classes):
        real = mean_pairwise_distance(real_feats[real_labels == c])
        fake = mean_pairwise_distance(fake_feats[fake_labels == c])
        ratios.append(fake / real if real > 0 else float("nan"))
    return ratios


@torch.inference_mode()
def nearest_neighbours(queries: torch.Tensor, references: torch.Tensor, *,
                       chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """For uint8 query images, the index of and RMS pixel distance (0-1 scale) to the nearest
    reference image."""
    refs = references.flatten(1).float() / 255
    indices, distances = [], []
    for batch in queries.split(chunk):
        d = torch.cdist(batch.flatten(1).float() / 255, refs)
        best = d.min(dim=1)
        indices.append(best.indices)
        distances.append(best.values / refs.shape[1] ** 0.5)
    return torch.cat(indices), torch.cat(distances)


def conditional_failure_warnings(accuracy: float, per_class: list[float],
                                 diversity: list[float] | None = None) -> list[str]:
    """The classic conditional-GAN failures, in words: label ignored, a class collapsed."""
    warnings = []
    if accuracy < 0.3:
        warnings.append(f"class accuracy {accuracy:.1%} is near chance (10%): the generator "
                        "seems to ignore the class label")
    weak = [c for c, acc in enumerate(per_class) if acc < 0.5]
    if weak and accuracy >= 0.3:
        warnings.append(f"digits {weak} are recognised in under 50% of samples: those classes "
                        "may have collapsed into others")
    if diversity is not None:
        collapsed = [c for c, ratio in enumerate(diversity) if ratio < 0.3]
        if collapsed:
            warnings.append(f"digits {collapsed} have under 30% of the real feature diversity: "
                            "mode collapse within those classes")
    return warnings


def conditional_samples(generator, samples_per_digit: int, *, truncation_psi: float = 1.0,
                        batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Digits 0-9 x seeds 0..samples_per_digit-1 (digit-major), as uint8 images and labels."""
    digits, seeds = digit_major(range(generator.num_classes), range(samples_per_digit))
    chunks = [generator.generate(digits[i: i + batch], seeds[i: i + batch], truncation_psi=truncation_psi)
              for i in range(0, len(digits), batch)]
    return torch.cat(chunks), torch.tensor(digits)


def sample_quality(generator, classifier: DigitClassifier, real_feats: torch.Tensor,
                   real_labels: torch.Tensor, *, samples_per_digit: int,
                   truncation_psi: float = 1.0) -> dict:
    """The headline numbers of conditional samples against real images' features: what
    `python -m gan.evaluate` reports and what training measures as it goes."""
    samples, labels = conditional_samples(generator, samples_per_digit, truncation_psi=truncation_psi)
    feats, predicted = classifier_outputs(classifier, samples)
    accuracy, per_class = class_accuracy(predicted, labels, generator.num_classes)
    return {"samples": samples, "labels": labels, "feats": feats,
            "class_accuracy": accuracy, "class_accuracy_per_digit": per_class,
            "frechet_distance": frechet_distance(feats, real_feats),
            "diversity": diversity_ratios(real_feats, real_labels, feats, labels,
                                          generator.num_classes)}
