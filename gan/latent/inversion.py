"""Find a drawing in the generator's latent space (GAN inversion), and write it as any digit.

The class input is fixed to the chosen digit and only the latent z is searched, so the
found z holds the *style* (slant, stroke, width) and the class input the *digit*: the same z
rendered for 0-9 writes every digit in the drawing's hand.

The search: score a fixed bank of seed latents against the target, start from the best few
(several restarts in one batch), then refine them with Adam on
    pixel MSE + feature_weight * classifier-feature MSE + prior_weight * outside(|z|)^2
where outside(|z|) is how far the norm lies beyond the shell that holds nearly every
N(0, I) latent (zero inside it: typical latents are not pulled anywhere), for a fixed number
of steps, and keep the restart with the lowest pixel + feature loss. Nothing is random, so
the same drawing gives the same latent.

Found latents travel as text (gan.latent.codec); writing one as every digit or morphing it
into another is plain generation from that latent (gan.model.sampling.generate_from_latents).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..images import from_uint8
from ..model.classifier import DigitClassifier, load_classifier, read_digits
from ..model.networks import Generator
from ..model.sampling import generate_from_latents, latents_from_seeds
from .codec import encode_latent, max_latent_norm

TOP_READINGS = 3
TYPICAL_NORM_SPREAD = 3.0  # the prior's shell: |z| within 3 standard deviations of sqrt(z_dim)


@dataclass(frozen=True)
class InversionSettings:
    """How hard to search. The defaults were tuned on MNIST test digits (see
    benchmarks/inversion.py) for quality within about a second on two CPU cores."""

    steps: int = 100             # Adam steps
    restarts: int = 4            # starting points refined together, in one batch
    candidates: int = 64         # seed latents 0..candidates-1 scored to pick the starts
    lr: float = 0.2              # Adam's step size, decayed to 0 along a cosine
    feature_weight: float = 0.02  # weight of the classifier-feature MSE beside the pixel MSE
    prior_weight: float = 1.0    # weight of the prior: squared distance of |z| outside the typical shell

    def __post_init__(self) -> None:
        for name in ("steps", "restarts", "candidates"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"InversionSettings.{name} must be a whole number >= 1, got {value!r}")
        if self.restarts > self.candidates:
            raise ValueError("InversionSettings.restarts must be at most candidates")


@dataclass(frozen=True, eq=False)  # tensors inside: compare fields, not whole results
class Inversion:
    """One search's result. Distances: RMS over pixels on the 0..1 scale, and the Euclidean
    distance between the classifier's 128-d features of the target and the reconstruction
    (both measured on the uint8 images)."""

    digit: int                           # the class the search used
    latent: torch.Tensor                 # float32 (z_dim,), CPU
    reconstruction: torch.Tensor         # uint8 (28, 28), CPU
    pixel_distance: float
    feature_distance: float
    reading: tuple[tuple[int, float], ...]  # the classifier's top 3 (digit, probability) of the target

    @property
    def latent_text(self) -> str:
        return encode_latent(self.latent)


def as_targets(targets: torch.Tensor | np.ndarray) -> torch.Tensor:
    targets = torch.as_tensor(np.asarray(targets))
    if targets.dim() == 2:
        targets = targets.unsqueeze(0)
    if targets.dtype != torch.uint8 or targets.dim() != 3 or tuple(targets.shape[1:]) != (28, 28):
        raise ValueError("targets must be uint8 images (N, 28, 28) or one (28, 28), got "
                         f"{targets.dtype} {tuple(targets.shape)}; see gan.latent.drawing.prepare_drawing")
    return targets.clone()  # a fresh tensor: autograd refuses inference-mode ones


def _top_readings(probabilities: torch.Tensor) -> tuple[tuple[int, float], ...]:
    values, digits = probabilities.topk(TOP_READINGS)
    return tuple((int(d), float(p)) for d, p in zip(digits, values))


def match_loss(images: torch.Tensor, classifier: DigitClassifier | None, target_images: torch.Tensor,
               target_features: torch.Tensor | None, feature_weight: float) -> torch.Tensor:
    """Per sample: pixel MSE ([-1, 1] scale) + feature_weight * classifier-feature MSE."""
    loss = (images - target_images).pow(2).mean(dim=(1, 2, 3))
    if feature_weight and classifier is not None:  # over half a step's cost: skipped when unused
        loss = loss + feature_weight * (classifier.features(images) - target_features).pow(2).mean(dim=1)
    return loss


@torch.no_grad()
def _pick_starts(generator: Generator, classifier: DigitClassifier, classes: torch.Tensor,
                 target_images: torch.Tensor, target_features: torch.Tensor,
                 settings: InversionSettings) -> torch.Tensor:
    """For each target, the `restarts` bank latents that match it best: (N, restarts, z_dim)."""
    device = generator.device
    bank = latents_from_seeds(range(settings.candidates), generator.z_dim).to(device)
    starts = torch.empty(len(classes), settings.restarts, generator.z_dim, device=device)
    digits = classes.argmax(dim=1)
    for digit in digits.unique().tolist():
        rows = (digits == digit).nonzero().flatten().tolist()
        images = generator.synthesize(bank, classes[rows[0]].expand(len(bank), -1))
        features = classifier.features(images)
        for row in rows:
            loss = (images - target_images[row]).pow(2).mean(dim=(1, 2, 3)) \
                + settings.feature_weight * (features - target_features[row]).pow(2).mean(dim=1)
            starts[row] = bank[loss.topk(settings.restarts, largest=False).indices]
    return starts


def atypical_norm(z: torch.Tensor) -> torch.Tensor:
    """How far each row's norm lies outside the shell that holds nearly all N(0, I) latents:
    sqrt(z_dim) +- TYPICAL_NORM_SPREAD * 0.71 (the norm's standard deviation). Zero inside,
    so the prior does not bias a latent the generator could have drawn."""
    centre, half_width = math.sqrt(z.shape[1]), TYPICAL_NORM_SPREAD * math.sqrt(0.5)
    return F.relu((z.norm(dim=1) - centre).abs() - half_width)


def _refine(generator: Generator, classifier: DigitClassifier, z: torch.Tensor, classes: torch.Tensor,
            target_images: torch.Tensor, target_features: torch.Tensor,
            settings: InversionSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam on the latents (one row per restart and target). Returns the latents and each
    one's final match loss (pixel + feature, without the prior)."""
    z = z.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=settings.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.steps)
    for _ in range(settings.steps):
        match = match_loss(generator.synthesize(z, classes), classifier, target_images,
                            target_features, settings.feature_weight)
        prior = atypical_norm(z).pow(2)
        # Summed over rows, each latent's gradient is its own (Adam is per element), so a
        # target is searched the same alone or in a batch, up to float rounding.
        loss = (match + settings.prior_weight * prior).sum()
        # Only z's gradient: the weights may or may not require grad; they are never touched.
        (grad,) = torch.autograd.grad(loss, [z])
        z.grad = grad
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        score = match_loss(generator.synthesize(z, classes), classifier, target_images,
                            target_features, settings.feature_weight)
    return z.detach(), score


def _bounded(z: torch.Tensor) -> torch.Tensor:
    """Scale rows whose norm exceeds the transport bound back onto it, so every found latent
    can travel through `decode_latent`. The norm prior keeps this from happening in practice."""
    bound = max_latent_norm(z.shape[1]) * (1 - 1e-6)
    return z * (bound / z.norm(dim=1, keepdim=True)).clamp(max=1.0)


def invert_batch(generator: Generator, targets: torch.Tensor | np.ndarray, digits: Sequence[int], *,
                 classifier: DigitClassifier | None = None,
                 settings: InversionSettings = InversionSettings(),
                 readings: torch.Tensor | None = None) -> list[Inversion]:
    """Search the latent of each uint8 (28, 28) target for its digit (0..num_classes-1, as
    checked by the caller), all in one batch. `readings`: the classifier's probabilities of
    the targets when the caller has them already."""
    targets = as_targets(targets)
    digits = [int(d) for d in digits]
    if len(digits) != len(targets):
        raise ValueError(f"need one digit per target, got {len(digits)} for {len(targets)}")
    classifier = classifier or load_classifier(device=generator.device)
    device, n, r = generator.device, len(targets), settings.restarts
    was_training = generator.training
    generator.eval()  # BatchNorm's running statistics: an image must not depend on its batch
    try:
        with torch.inference_mode(False), torch.enable_grad():
            target_images = from_uint8(targets).unsqueeze(1).to(device)
            with torch.no_grad():
                target_features = classifier.features(target_images)
            classes = F.one_hot(torch.tensor(digits, device=device), generator.num_classes).float()
            starts = _pick_starts(generator, classifier, classes, target_images, target_features, settings)
            z, score = _refine(generator, classifier, starts.reshape(n * r, -1),
                               classes.repeat_interleave(r, dim=0),
                               target_images.repeat_interleave(r, dim=0),
                               target_features.repeat_interleave(r, dim=0), settings)
            best = score.view(n, r).argmin(dim=1)
            latents = _bounded(z.view(n, r, -1)[torch.arange(n, device=device), best]).float()
    finally:
        if was_training:
            generator.train()
    if readings is None:
        readings = read_digits(classifier, targets)
    return describe_inversions(generator, classifier, targets, digits, latents, readings)


def describe_inversions(generator: Generator, classifier: DigitClassifier, targets: torch.Tensor,
                        digits: list[int], latents: torch.Tensor, readings: torch.Tensor) -> list[Inversion]:
    """The results of a search, from whichever search found the latents: reconstructions,
    distances to the targets, and the classifier's readings (N, 10) of the targets."""
    # One at a time: a batch's arithmetic can round a pixel differently, and a reconstruction
    # must be exactly what its latent and digit make when remade on their own.
    reconstructions = torch.cat([generate_from_latents(generator, z[None], [d])
                                 for z, d in zip(latents, digits)])
    with torch.no_grad():
        both = from_uint8(torch.cat([targets, reconstructions])).unsqueeze(1)
        features = classifier.features(both.to(next(classifier.parameters()).device)).cpu()
    n = len(targets)
    feature_distances = (features[:n] - features[n:]).norm(dim=1)
    pixel_distances = ((targets.float() - reconstructions.float()) / 255).pow(2).mean(dim=(1, 2)).sqrt()
    return [Inversion(digit=digits[i], latent=latents[i].cpu().clone(), reconstruction=reconstructions[i],
                      pixel_distance=float(pixel_distances[i]), feature_distance=float(feature_distances[i]),
                      reading=_top_readings(readings[i])) for i in range(n)]


def invert_drawing(generator: Generator, target: torch.Tensor | np.ndarray, *, digit: int | None = None,
                   classifier: DigitClassifier | None = None,
                   settings: InversionSettings = InversionSettings()) -> Inversion:
    """Search one uint8 (28, 28) digit (from `gan.latent.drawing.prepare_drawing`). `digit`:
    the class to search with; None = the classifier's reading of the target (read once: the
    same reading is the result's top 3)."""
    classifier = classifier or load_classifier(device=generator.device)
    target = as_targets(target)
    readings = read_digits(classifier, target)
    if digit is None:
        digit = int(readings[0].argmax())
    return invert_batch(generator, target, [digit], classifier=classifier, settings=settings,
                        readings=readings)[0]
