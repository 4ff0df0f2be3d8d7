"""The fast Draw search: the encoder's latent, then a short refinement of the search's loss.

gan.latent.inversion scores 64 seed latents and refines the best 4 with 100 Adam steps (about
0.8 s a drawing on one core). Here the encoder (gan.latent.encoder) gives a starting latent
in one forward pass, close enough that a few steps finish the job; optionally a few seed
latents run beside it, and the start with the lowest final loss wins. Two refinements,
each optional, in this order:

- polish, forward passes only (what a browser without gradients can run): Levenberg-
  Marquardt steps on the same loss, with its Jacobian taken by finite differences (one batch
  of z_dim + 1 images per step) and a few damping values tried per step, keeping the best;
- Adam on the latent through the generator's gradients, as gan.latent.inversion does, with the
  step size decayed along a cosine.

The loss is gan.latent.inversion's: pixel MSE + feature_weight * classifier-feature MSE +
prior_weight * outside(|z|)^2. Nothing is random: the same drawing gives the same latent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..images import from_uint8
from ..inputs import as_digit, as_float, as_int
from ..model.classifier import DigitClassifier, load_classifier
from ..model.networks import Generator
from ..model.sampling import latents_from_seeds
from .codec import max_latent_norm
from .encoder import Encoder
from .inversion import Inversion, as_targets, atypical_norm, describe_inversions, match_loss

DAMPING_FACTORS = (0.1, 1.0, 10.0)  # tried at every polish step, relative to the current damping


@dataclass(frozen=True)
class EncoderSearchSettings:
    """How much to do after the encoder. The defaults were tuned on MNIST test digits 0-999
    (benchmarks/inversion_encoder.py): the forward-only polish did more per millisecond than
    Adam (4 steps: mean RMS 0.063 in 0.15 s on one core, against gan.latent.inversion's 0.069
    in 0.55 s; 40 Adam steps: 0.079), so the default is the polish alone, which a browser can
    run as it is. Adam after the polish wants a smaller step size than from the encoder's
    latent (0.1 undid part of the polish: 0.074 after 10 steps)."""

    polish_steps: int = 4          # forward-only Levenberg-Marquardt steps (0 = none)
    adam_steps: int = 0            # Adam steps on the latent after the polish (0 = none)
    lr: float = 0.1                # Adam's step size, decayed to 0 along a cosine (best of 0.05-0.4 for 20 steps)
    fd_step: float = 0.01          # finite-difference step of the polish's Jacobian
    damping: float = 0.01          # the polish's first damping, relative to the Jacobian's diagonal
    seed_candidates: int = 0       # seed latents 0..seed_candidates-1 scored as extra starts (0 = none)
    seed_restarts: int = 0         # how many of the best-scoring seed latents run beside the encoder's
    feature_weight: float = 0.02   # weight of the classifier-feature MSE beside the pixel MSE
    prior_weight: float = 1.0      # weight of the prior: squared distance of |z| outside the typical shell

    def checked(self) -> "EncoderSearchSettings":
        for name in ("adam_steps", "polish_steps", "seed_candidates", "seed_restarts"):
            as_int(getattr(self, name), f"settings.{name}", 0, 10_000)
        if self.seed_restarts > self.seed_candidates:
            raise ValueError("settings.seed_restarts must be at most settings.seed_candidates")
        for name in ("lr", "fd_step", "damping"):
            as_float(getattr(self, name), f"settings.{name}", 1e-9, 100.0)
        for name in ("feature_weight", "prior_weight"):
            as_float(getattr(self, name), f"settings.{name}", 0.0, 100.0)
        return self


class _Objective:
    """The search's loss for R rows (latent, class, target), forward passes batched."""

    def __init__(self, generator: Generator, classifier: DigitClassifier, classes: torch.Tensor,
                 target_images: torch.Tensor, settings: EncoderSearchSettings):
        self.generator, self.classifier, self.settings = generator, classifier, settings
        self.classes, self.target_images = classes, target_images
        with torch.no_grad():
            self.target_features = classifier.features(target_images) if settings.feature_weight else None

    def match(self, z: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Per row of z: pixel + feature loss against target `rows[i]` (default: row i)."""
        rows = torch.arange(len(z)) if rows is None else rows
        features = None if self.target_features is None else self.target_features[rows]
        return match_loss(self.generator.synthesize(z, self.classes[rows]), self.classifier,
                          self.target_images[rows], features, self.settings.feature_weight)

    def total(self, z: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        return self.match(z, rows) + self.settings.prior_weight * atypical_norm(z).pow(2)

    def residuals(self, z: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Per row, the vector whose squared length is the match loss: pixel differences
        / sqrt(pixels), then feature differences * sqrt(feature_weight / features)."""
        images = self.generator.synthesize(z, self.classes[rows])
        pixels = (images - self.target_images[rows]).flatten(1) / math.sqrt(images[0].numel())
        if self.target_features is None:
            return pixels
        features = self.classifier.features(images) - self.target_features[rows]
        return torch.cat([pixels, features * math.sqrt(self.settings.feature_weight / features.shape[1])], dim=1)


@torch.no_grad()
def polish(objective: _Objective, z: torch.Tensor, steps: int) -> torch.Tensor:
    """Levenberg-Marquardt on the search's loss with forward passes only (no autograd):
    the Jacobian by forward differences, the prior's by its formula. Each step tries a few
    damping values and keeps the best (or the current latent, raising the damping)."""
    settings = objective.settings
    rows, (n, d) = torch.arange(len(z)), z.shape
    damping = torch.full((n,), settings.damping)
    loss = objective.total(z)
    eye = torch.eye(d)
    for _ in range(steps):
        shifted = torch.cat([z.unsqueeze(1), z.unsqueeze(1) + settings.fd_step * eye], dim=1)  # (n, d+1, d)
        r = objective.residuals(shifted.reshape(-1, d), rows.repeat_interleave(d + 1)).view(n, d + 1, -1)
        r0, jacobian = r[:, 0], (r[:, 1:] - r[:, :1]).transpose(1, 2) / settings.fd_step  # (n, m, d)
        norm = z.norm(dim=1, keepdim=True)
        outside = atypical_norm(z)
        prior_r = math.sqrt(settings.prior_weight) * outside
        prior_j = math.sqrt(settings.prior_weight) * torch.sign(norm - math.sqrt(d)) * z / norm \
            * (outside > 0).unsqueeze(1)
        normal = jacobian.transpose(1, 2) @ jacobian + prior_j.unsqueeze(2) * prior_j.unsqueeze(1)
        gradient = (jacobian.transpose(1, 2) @ r0.unsqueeze(2)).squeeze(2) + prior_j * prior_r.unsqueeze(1)
        diagonal = torch.diagonal(normal, dim1=1, dim2=2)
        # Marquardt's scaling, floored so that directions G ignores still get a finite (zero) step
        scale = (diagonal + 1e-6 * diagonal.mean(dim=1, keepdim=True)).clamp(min=1e-12)
        tries = []
        for factor in DAMPING_FACTORS:
            lam = (damping * factor).view(n, 1)
            system = normal + torch.diag_embed(lam * scale)
            tries.append(z - torch.linalg.solve(system, gradient))
        tried = torch.stack(tries, dim=1)  # (n, k, d)
        k = len(DAMPING_FACTORS)
        losses = objective.total(tried.reshape(-1, d), rows.repeat_interleave(k)).view(n, k)
        best_loss, best = losses.min(dim=1)
        better = best_loss < loss
        z = torch.where(better.unsqueeze(1), tried[rows, best], z)
        loss = torch.where(better, best_loss, loss)
        chosen = torch.tensor(DAMPING_FACTORS)[best]
        damping = torch.where(better, damping * chosen, damping * 10.0).clamp(1e-6, 1e6)
    return z


def refine(objective: _Objective, z: torch.Tensor, steps: int) -> torch.Tensor:
    """Adam on the latents, gan.latent.inversion's refinement with this search's settings."""
    settings = objective.settings
    z = z.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=settings.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    for _ in range(steps):
        # Summed over rows, each latent's gradient is its own: a batch searches each target
        # as it would be searched alone, up to float rounding.
        (grad,) = torch.autograd.grad(objective.total(z).sum(), [z])
        z.grad = grad
        optimizer.step()
        schedule.step()
    return z.detach()


@torch.no_grad()
def _seed_starts(objective: _Objective, digits: list[int], settings: EncoderSearchSettings) -> torch.Tensor:
    """For each target, the `seed_restarts` seed latents (of 0..seed_candidates-1) that match
    it best: (N, seed_restarts, z_dim)."""
    generator = objective.generator
    bank = latents_from_seeds(range(settings.seed_candidates), generator.z_dim).to(generator.device)
    starts = torch.empty(len(digits), settings.seed_restarts, generator.z_dim, device=generator.device)
    for row in range(len(digits)):
        loss = objective.match(bank, torch.full((len(bank),), row))
        starts[row] = bank[loss.topk(settings.seed_restarts, largest=False).indices]
    return starts


def _bounded(z: torch.Tensor) -> torch.Tensor:
    """Rows whose norm exceeds the transport bound scaled back onto it, so every latent passes
    `gan.inputs.as_latent` (the prior keeps this from happening in practice)."""
    bound = max_latent_norm(z.shape[1]) * (1 - 1e-6)
    return z * (bound / z.norm(dim=1, keepdim=True)).clamp(max=1.0)


def invert_with_encoder(generator: Generator, encoder: Encoder, targets: torch.Tensor | np.ndarray,
                        digits: Sequence[int], *, classifier: DigitClassifier | None = None,
                        settings: EncoderSearchSettings = EncoderSearchSettings()) -> torch.Tensor:
    """The latents (N, z_dim) float32 CPU of uint8 (28, 28) targets (N, 28, 28), each written
    as its digit: the encoder's latent, polished and refined as `settings` say."""
    settings = settings.checked()
    targets = as_targets(targets)
    digits = [as_digit(d, num_classes=generator.num_classes) for d in digits]
    if len(digits) != len(targets):
        raise ValueError(f"need one digit per target, got {len(digits)} for {len(targets)}")
    if (encoder.config.z_dim, encoder.config.num_classes) != (generator.z_dim, generator.num_classes):
        raise ValueError("the encoder was made for another generator shape (z_dim or classes differ)")
    classifier = classifier or load_classifier(device=generator.device)
    was_training = generator.training
    generator.eval()  # BatchNorm's running statistics: an image must not depend on its batch
    try:
        with torch.inference_mode(False), torch.enable_grad():
            return _search(generator, encoder, classifier, targets, digits, settings)
    finally:
        if was_training:
            generator.train()


def _search(generator: Generator, encoder: Encoder, classifier: DigitClassifier, targets: torch.Tensor,
            digits: list[int], settings: EncoderSearchSettings) -> torch.Tensor:
    device, n = generator.device, len(targets)
    target_images = from_uint8(targets).unsqueeze(1).to(device)
    classes = F.one_hot(torch.tensor(digits, device=device), generator.num_classes).float()
    with torch.no_grad():
        z = encoder(target_images, classes).unsqueeze(1)  # (N, 1, z_dim)
    if settings.seed_restarts:
        objective = _Objective(generator, classifier, classes, target_images, settings)
        z = torch.cat([z, _seed_starts(objective, digits, settings)], dim=1)
    starts = z.shape[1]
    objective = _Objective(generator, classifier, classes.repeat_interleave(starts, dim=0),
                           target_images.repeat_interleave(starts, dim=0), settings)
    z = z.reshape(n * starts, -1)
    if settings.polish_steps:
        z = polish(objective, z, settings.polish_steps)
    if settings.adam_steps:
        z = refine(objective, z, settings.adam_steps)
    if starts > 1:
        with torch.no_grad():
            best = objective.match(z).view(n, starts).argmin(dim=1)
        z = z.view(n, starts, -1)[torch.arange(n, device=device), best]
    return _bounded(z).float().cpu()


def invert_drawing_with_encoder(generator: Generator, encoder: Encoder, target: torch.Tensor | np.ndarray, *,
                                digit: int | None = None, classifier: DigitClassifier | None = None,
                                settings: EncoderSearchSettings = EncoderSearchSettings()) -> Inversion:
    """`gan.latent.inversion.invert_drawing`, started from the encoder: one uint8 (28, 28)
    digit searched as `digit` (None: the classifier's reading, read once)."""
    from ..model.classifier import read_digits

    classifier = classifier or load_classifier(device=generator.device)
    target = as_targets(target)
    readings = read_digits(classifier, target)
    digit = int(readings[0].argmax()) if digit is None else digit
    latents = invert_with_encoder(generator, encoder, target, [digit], classifier=classifier, settings=settings)
    return describe_inversions(generator, classifier, target, [digit], latents, readings)[0]


# Without the generator's Jacobian (an export whose site.json lists no models/jacobian.onnx; the
# page then has only the uint8 generator), the encoder's latent is refined by sampling: each
# round scores `count` moves of `size` standard deviations along fixed directions (the latents
# of seeds 0, 1, 2, ...) and keeps the best if it draws the target closer. Measured on MNIST
# test digits 0-999 (mean RMS pixel distance): the encoder alone 0.1046, after these rounds
# 0.0985; 3 x 32 moves: 0.1004; sequential acceptance is better per move (64 x 4 rounds:
# 0.0901) but cannot be batched.
SAMPLING_ROUNDS = ((0.4, 48), (0.2, 48), (0.1, 48))


def pixel_rms(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """RMS distance on the 0..1 scale of uint8 images (N, 28, 28) to one uint8 target (28, 28)."""
    return ((images.float() - target.float()) / 255).pow(2).mean(dim=(1, 2)).sqrt()


def refine_by_sampling(generator: Generator, z: torch.Tensor, digit: int, target: torch.Tensor,
                       rounds: Sequence[tuple[float, int]] = SAMPLING_ROUNDS) -> torch.Tensor:
    """The static page's polish (gan/space/web/engine.js runs the same): `z` (z_dim,) moved by
    the best of each round's fixed moves that draws `target` (uint8 28x28) closer as `digit`.
    Forward passes of the uint8 generator only; deterministic."""
    from ..model.sampling import generate_from_latents

    moves = latents_from_seeds(range(sum(count for _, count in rounds)), generator.z_dim)
    bound = max_latent_norm(generator.z_dim)
    best = float(pixel_rms(generate_from_latents(generator, z[None], [digit]), target)[0])
    start = 0
    for size, count in rounds:
        candidates = z[None] + size * moves[start: start + count]
        start += count
        candidates = candidates[candidates.norm(dim=1) <= bound]
        if not len(candidates):
            continue
        distances = pixel_rms(generate_from_latents(generator, candidates, [digit] * len(candidates)), target)
        i = int(distances.argmin())
        if float(distances[i]) < best:
            best, z = float(distances[i]), candidates[i]
    return z


# The static page's search when the export has the generator's Jacobian (models/jacobian.onnx,
# gan.latent.jacobian): from the encoder's latent, PAGE_POLISH_STEPS Levenberg-Marquardt steps on
# pixel MSE + PAGE_PRIOR_WEIGHT * outside(|z|)^2 (no classifier features: the page measures pixels),
# with the exact Jacobian instead of finite differences; each step tries the damping values
# DAMPING_FACTORS (relative to the current damping, first PAGE_POLISH_DAMPING) and keeps the best
# by the loss of the generator's uint8 image, which the page has. Measured on MNIST test digits
# 0-299 with finite differences: 1 step mean RMS 0.068, 2 steps 0.056, 3 steps 0.050, 4 steps 0.047;
# in the page on digits 0-999 (benchmarks.browser): 3 steps 0.0521 and Draw 161 ms, 4 steps 0.0489 and 209 ms.
PAGE_POLISH_STEPS = 4
PAGE_POLISH_DAMPING = 0.01
PAGE_PRIOR_WEIGHT = 1.0


def _page_loss(generator: Generator, z: torch.Tensor, classes: torch.Tensor, target: torch.Tensor,
               prior_weight: float) -> torch.Tensor:
    """Per row: MSE ([-1, 1] scale) of the generator's uint8 image to `target` (H*W floats
    in [-1, 1]), + prior_weight * outside(|z|)^2; float64."""
    from ..images import to_uint8

    images = to_uint8(generator.synthesize(z, classes)).flatten(1).double() / 127.5 - 1
    return (images - target.double()).pow(2).mean(dim=1) + prior_weight * atypical_norm(z.double()).pow(2)


@torch.no_grad()
def polish_with_jacobian(generator: Generator, z: torch.Tensor, digit: int, target: torch.Tensor, *,
                         steps: int = PAGE_POLISH_STEPS, damping: float = PAGE_POLISH_DAMPING,
                         prior_weight: float = PAGE_PRIOR_WEIGHT) -> torch.Tensor:
    """The static page's refinement (gan/space/web/engine.js runs the same): `z` (z_dim,)
    float32 moved by Levenberg-Marquardt steps towards drawing `target` (uint8 28x28) as
    `digit`, with the generator's exact Jacobian (gan.latent.jacobian.GeneratorJacobian, the
    graph the page runs as models/jacobian.onnx); the linear algebra in float64, as the page
    does it. Deterministic; returns float32 (z_dim,)."""
    from .jacobian import GeneratorJacobian

    was_training = generator.training
    generator.eval()
    try:
        module = GeneratorJacobian(generator)
        d = z.shape[0]
        classes = F.one_hot(torch.tensor([digit]), generator.num_classes).float()
        goal = from_uint8(torch.as_tensor(target)).flatten().double()
        z = z.float().clone()
        loss = float(_page_loss(generator, z[None], classes, goal, prior_weight)[0])
        lam = damping
        centre = math.sqrt(d)
        for _ in range(steps):
            images, jacobian = module(z[None], classes)
            jt = jacobian[0].double()                                  # (d, pixels)
            residual = images[0].double() - goal
            pixels = residual.numel()
            z64 = z.double()
            norm = float(z64.norm())
            outside = float(atypical_norm(z64[None])[0])
            prior_r = math.sqrt(prior_weight) * outside
            prior_j = (math.sqrt(prior_weight) * math.copysign(1.0, norm - centre) / norm * z64
                       if outside > 0 else torch.zeros(d, dtype=torch.float64))
            normal = jt @ jt.t() / pixels + torch.outer(prior_j, prior_j)
            gradient = jt @ residual / pixels + prior_j * prior_r
            diagonal = torch.diagonal(normal)
            scale = (diagonal + 1e-6 * diagonal.mean()).clamp(min=1e-12)
            tries = torch.stack([(z64 - torch.linalg.solve(normal + torch.diag(lam * factor * scale), gradient)).float()
                                 for factor in DAMPING_FACTORS])
            losses = _page_loss(generator, tries, classes.expand(len(tries), -1), goal, prior_weight)
            best = int(losses.argmin())
            if float(losses[best]) < loss:
                z, loss = tries[best], float(losses[best])
                lam = min(max(lam * DAMPING_FACTORS[best], 1e-6), 1e6)
            else:
                lam = min(max(lam * 10.0, 1e-6), 1e6)
        return _bounded(z[None])[0]
    finally:
        if was_training:
            generator.train()
