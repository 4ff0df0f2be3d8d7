"""An image -> latent encoder for the generator: one forward pass in place of a search.

Given an MNIST-style image and its digit, the encoder predicts the latent z from which the
frozen generator redraws that image (amortised GAN inversion). It starts the fast Draw search
(gan.latent.encoder_search), whose polish needs only forward passes; exported to ONNX
(gan.space.onnx_export) both run in a browser, where there are no gradients.

Training, on the CPU in about five minutes: each step draws z ~ N(0, I) and digits from a
private torch.Generator, renders them with the generator (eval mode, frozen), and fits the
encoder with
    image_weight * (MSE(G(z_hat), image) + feature_weight * classifier-feature MSE)
  + latent_weight * MSE(z_hat, z)          (rendered images only: their z is known)
  + prior_weight * outside(|z_hat|)^2      (the search's norm prior)
on the rendered images and, when given, on MNIST training digits (a `real_share` of each
batch), so that it also fits real handwriting, which the generator draws only approximately.
Measured on MNIST test digits 0-999 (mean RMS pixel distance of the encoder alone, 1500
steps of 64): latent MSE alone 0.156 (|z_hat| shrinks to 3.2: z is not identifiable from
the image, G reads ~10 of its 64 directions strongly); image loss on rendered digits 0.121;
rendered + real 0.117; real only 0.115; + latent MSE (0.05) 0.117; + features (0.02) 0.115
at 1.6x the time per step. Restyling stayed at 99.8-99.9 % in all.

On disk: `encoder.safetensors` beside the generator's `model.safetensors`; its header holds
the encoder's config and the full sha256 of the generator's weights file it was trained
for. Loading is strict and refuses another generator's encoder.

    python -m gan.train_encoder --weights weights --data-dir DIR
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes

from ..config import dataclass_from_dict
from ..files import atomic_write_bytes
from ..images import from_uint8
from ..model.classifier import DigitClassifier, load_classifier
from ..model.networks import Generator
from ..model.weights import ENCODER_FILE, WeightsError, weights_fingerprint
from .inversion import atypical_norm, match_loss

ENCODER_FORMAT = "DigitGAN-Encoder"
ENCODER_FORMAT_VERSION = 1
FINGERPRINT_LENGTH = 64        # the full sha256 hex digest of the generator's model.safetensors


@dataclass(frozen=True)
class EncoderConfig:
    """The encoder's shape and how it is trained. The shape fields rebuild the network when
    it is loaded; the rest record how the stored encoder was made."""

    # shape
    z_dim: int = 64               # the generator's latent size
    num_classes: int = 10         # the generator's classes (digits 0-9)
    width: int = 32               # channels of the first conv (14x14); twice that at 7x7
    hidden: int = 256             # the fully connected layer between image features and z
    features: int = 32            # channels of the last (4x4) feature map
    # training (defaults measured on MNIST test digits 0-999, see benchmarks/inversion_encoder.py)
    steps: int = 5000             # Adam steps: about 5 minutes on one core
    batch_size: int = 64          # images per step, rendered plus real (32 for twice the steps: the same)
    real_share: float = 0.5       # share of each batch taken from real digits (when given)
    lr: float = 5e-3              # Adam's step size, warmed up then decayed along a cosine
    warmup_steps: int = 100       # linear warm-up of the step size
    clip_norm: float = 1.0        # gradients clipped to this norm: one odd batch must not throw z far out
    latent_weight: float = 0.0    # latent MSE on rendered images: no better images, and it pulls
                                  # |z_hat| toward 0 (G reads only ~10 of z's 64 directions strongly)
    image_weight: float = 1.0     # weight of the image loss through G: pixel MSE ([-1, 1] scale) ...
    feature_weight: float = 0.0   # ... + this x classifier-feature MSE: 0.02 helped a little per step
                                  # but costs 60% more per step, which more steps repay better
    prior_weight: float = 1.0     # squared distance of |z_hat| outside the typical shell
    seed: int = 0                 # the private random stream: latents, digits, real batches, init
    threads: int = 0              # torch CPU threads while training; 0 = leave as set

    def __post_init__(self) -> None:
        for name in ("z_dim", "num_classes", "width", "features", "hidden", "steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"EncoderConfig.{name} must be a positive int, got {value!r}")
        for name in ("warmup_steps", "seed", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"EncoderConfig.{name} must be an int >= 0, got {value!r}")
        for name in ("lr", "latent_weight", "image_weight", "feature_weight", "prior_weight", "real_share"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"EncoderConfig.{name} must be a finite number >= 0, got {value!r}")
        if not isinstance(self.clip_norm, (int, float)) or isinstance(self.clip_norm, bool) \
                or not math.isfinite(self.clip_norm) or self.clip_norm <= 0:
            raise ValueError(f"EncoderConfig.clip_norm must be a finite number > 0, got {self.clip_norm!r}")
        if self.real_share > 1:
            raise ValueError(f"EncoderConfig.real_share must be at most 1, got {self.real_share!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "EncoderConfig":
        return dataclass_from_dict(cls, data, "encoder config")


class Encoder(nn.Module):
    """(N, 1, 28, 28) images in [-1, 1] and (N, num_classes) class weights -> z (N, z_dim).

    Three strided convs (28 -> 14 -> 7 -> 4) read the style; the class enters beside the
    image features and then scales and shifts the hidden layer (FiLM), because the same pen
    strokes mean a different z for another digit: on MNIST test digits this read style
    better than the class beside the features alone, and as well as one output layer per
    class with half the weights. No normalisation layers: a latent depends on its image
    alone, never on its batch.
    """

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        w = config.width
        with torch.random.fork_rng(devices=[]):  # construction draws from the global RNG; keep it untouched
            self.conv1 = nn.Conv2d(1, w, 4, stride=2, padding=1)
            self.conv2 = nn.Conv2d(w, 2 * w, 4, stride=2, padding=1)
            self.conv3 = nn.Conv2d(2 * w, config.features, 3, stride=2, padding=1)
            self.fc = nn.Linear(config.features * 4 * 4 + config.num_classes, config.hidden)
            self.film = nn.Linear(config.num_classes, 2 * config.hidden, bias=False)
            self.out = nn.Linear(config.hidden, config.z_dim)

    def reset_parameters(self, rng: torch.Generator) -> None:
        """PyTorch's default (Kaiming-uniform) initialisation, drawn from `rng`."""
        with torch.no_grad():
            for layer in (self.conv1, self.conv2, self.conv3, self.fc, self.out):
                fan_in = layer.weight[0].numel()
                bound = 1 / math.sqrt(fan_in)
                layer.weight.uniform_(-bound, bound, generator=rng)
                layer.bias.uniform_(-bound, bound, generator=rng)
            self.film.weight.normal_(0.0, 0.1, generator=rng)  # near 1 and 0: every class starts alike

    def forward(self, images: torch.Tensor, class_weights: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv1(images), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2)
        h = F.leaky_relu(self.conv3(h), 0.2)
        h = F.leaky_relu(self.fc(torch.cat([h.flatten(1), class_weights], dim=1)), 0.2)
        scale, shift = self.film(class_weights).chunk(2, dim=1)
        return self.out(h * (1 + scale) + shift)


# ----------------------------------------------------------------------------- training

def _learning_rate(config: EncoderConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * 0.5 * (1 + math.cos(math.pi * progress))


def _check_real(real_images: torch.Tensor | None, real_labels: torch.Tensor | None,
                num_classes: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if real_images is None and real_labels is None:
        return None, None
    if real_images is None or real_labels is None or len(real_images) != len(real_labels) \
            or len(real_images) == 0:
        raise ValueError("real digits need images and labels of the same, non-zero length")
    if real_images.dtype != torch.uint8 or real_images.dim() != 3 or tuple(real_images.shape[1:]) != (28, 28):
        raise ValueError(f"real images must be uint8 (N, 28, 28), got {real_images.dtype} "
                         f"{tuple(real_images.shape)}")
    if int(real_labels.min()) < 0 or int(real_labels.max()) >= num_classes:
        raise ValueError(f"real labels must be 0..{num_classes - 1}")
    return real_images, real_labels.long()


def train_encoder(generator: Generator, config: EncoderConfig = EncoderConfig(), *,
                  real_images: torch.Tensor | None = None, real_labels: torch.Tensor | None = None,
                  classifier: DigitClassifier | None = None, log_every: int = 0) -> tuple[Encoder, dict]:
    """Train an encoder for `generator` (left in eval mode, its weights untouched).

    real_images/real_labels: uint8 (N, 28, 28) MNIST training digits and their labels, mixed
    into each batch at `config.real_share` (image loss and prior only: their z is unknown).
    Returns the encoder (eval mode, no gradients) and a summary of the run.
    """
    if (config.z_dim, config.num_classes) != (generator.z_dim, generator.num_classes):
        raise ValueError(f"encoder config is for z_dim {config.z_dim}, {config.num_classes} classes; "
                         f"the generator has {generator.z_dim}, {generator.num_classes}")
    real_images, real_labels = _check_real(real_images, real_labels, generator.num_classes)
    threads_before = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.feature_weight and classifier is None:
        classifier = load_classifier()
    rng = torch.Generator().manual_seed(config.seed)
    encoder = Encoder(config)
    encoder.reset_parameters(rng)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr)
    n_real = round(config.batch_size * config.real_share) if real_images is not None else 0
    n_fake = config.batch_size - n_real
    was_training = generator.training
    generator.eval()  # BatchNorm's running statistics: an image never depends on its batch
    # Gradients flow through G (and the classifier) to z_hat only: none may gather on their weights.
    frozen = [*generator.parameters(), *(classifier.parameters() if classifier is not None else [])]
    grad_flags = [parameter.requires_grad for parameter in frozen]
    for parameter in frozen:
        parameter.requires_grad_(False)
    start, history = time.perf_counter(), []
    try:
        with torch.inference_mode(False), torch.enable_grad():
            _scale_output(generator, encoder, rng)
            for step in range(config.steps):
                for group in optimizer.param_groups:
                    group["lr"] = _learning_rate(config, step)
                losses = _training_step(generator, encoder, classifier, config, rng, n_fake, n_real,
                                        real_images, real_labels)
                optimizer.zero_grad(set_to_none=True)
                losses["total"].backward()
                torch.nn.utils.clip_grad_norm_(encoder.parameters(), config.clip_norm)
                optimizer.step()
                history.append({k: float(v.detach()) for k, v in losses.items()})
                if log_every and (step + 1) % log_every == 0:
                    recent = {k: sum(h[k] for h in history[-log_every:]) / log_every for k in history[-1]}
                    print(f"step {step + 1}/{config.steps} " + " ".join(f"{k} {v:.4f}" for k, v in recent.items())
                          + f" ({time.perf_counter() - start:.0f} s)", flush=True)
    finally:
        for parameter, flag in zip(frozen, grad_flags):
            parameter.requires_grad_(flag)
        if was_training:
            generator.train()
        torch.set_num_threads(threads_before)
    window = min(100, max(1, len(history) // 4))
    summary = {"seconds": round(time.perf_counter() - start, 1),
               "real_digits": 0 if real_images is None else len(real_images),
               "first_losses": _mean_losses(history[:window]), "final_losses": _mean_losses(history[-window:])}
    return encoder.eval().requires_grad_(False), summary


def _mean_losses(rows: list[dict]) -> dict:
    return {k: round(sum(row[k] for row in rows) / len(rows), 5) for k in rows[0]}


@torch.no_grad()
def _scale_output(generator: Generator, encoder: Encoder, rng: torch.Generator, samples: int = 256) -> None:
    """Scale the freshly initialised output layer so that the latents it gives rendered images
    have unit spread per element, as N(0, I) latents do: otherwise the first few hundred steps
    only grow |z_hat| from about 0 to the typical shell."""
    z = torch.randn(samples, generator.z_dim, generator=rng)
    classes = F.one_hot(torch.randint(0, generator.num_classes, (samples,), generator=rng),
                        generator.num_classes).float()
    z_hat = encoder(generator.synthesize(z, classes), classes)
    scale = 1.0 / float(z_hat.std().clamp(min=1e-6))
    encoder.out.weight.mul_(scale)
    encoder.out.bias.mul_(scale)


def _training_step(generator: Generator, encoder: Encoder, classifier: DigitClassifier | None,
                   config: EncoderConfig, rng: torch.Generator, n_fake: int, n_real: int,
                   real_images: torch.Tensor | None, real_labels: torch.Tensor | None) -> dict:
    z = torch.randn(n_fake, generator.z_dim, generator=rng)
    digits = torch.randint(0, generator.num_classes, (n_fake,), generator=rng)
    with torch.no_grad():
        images = generator.synthesize(z, F.one_hot(digits, generator.num_classes).float())
    if n_real:
        rows = torch.randint(0, len(real_images), (n_real,), generator=rng)
        images = torch.cat([images, from_uint8(real_images[rows]).unsqueeze(1)])
        digits = torch.cat([digits, real_labels[rows]])
    classes = F.one_hot(digits, generator.num_classes).float()
    z_hat = encoder(images, classes)
    latent = (z_hat[:n_fake] - z).pow(2).mean() if n_fake else z_hat.new_zeros(())
    use_features = bool(config.feature_weight) and classifier is not None
    target_features = classifier.features(images) if use_features else None
    image = match_loss(generator.synthesize(z_hat, classes), classifier, images, target_features,
                       config.feature_weight if use_features else 0.0)
    prior = atypical_norm(z_hat).pow(2)
    total = config.latent_weight * latent + config.image_weight * image.mean() + config.prior_weight * prior.mean()
    losses = {"total": total}
    if n_fake:
        losses.update(latent=latent.detach(), image_fake=image[:n_fake].mean().detach())
    if n_real:
        losses["image_real"] = image[n_fake:].mean().detach()
    return losses


@torch.no_grad()
def encode(encoder: Encoder, images: torch.Tensor, digits: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) images and their digits (N,) -> latents (N, z_dim), float32 CPU."""
    device = next(encoder.parameters()).device
    classes = F.one_hot(torch.as_tensor(digits).long(), encoder.config.num_classes).float()
    return encoder(from_uint8(images).unsqueeze(1).to(device), classes.to(device)).float().cpu()


# ----------------------------------------------------------------------------- storage

class EncoderWeightsError(WeightsError):
    """encoder.safetensors is missing, corrupt, malformed or made for other generator weights."""


def train_encoder_command(folder: str | os.PathLike) -> str:
    """The command that trains an encoder for the generator in `folder`."""
    return f"python -m gan.train_encoder --weights {folder} --data-dir DIR"


def generator_fingerprint(folder: str | os.PathLike) -> str:
    """The full sha256 (64 hex digits) of the folder's model.safetensors: what an encoder is tied to."""
    return weights_fingerprint(folder, length=FINGERPRINT_LENGTH)


def save_encoder(encoder: Encoder, folder: str | os.PathLike, *, generator_fingerprint: str,
                 training: dict | None = None) -> Path:
    """Write `folder`/encoder.safetensors atomically (temp file + rename): the weights, and in
    the header the config, the generator fingerprint and an optional training summary."""
    if not isinstance(generator_fingerprint, str) or len(generator_fingerprint) != FINGERPRINT_LENGTH \
            or any(ch not in "0123456789abcdef" for ch in generator_fingerprint):
        raise ValueError("generator_fingerprint must be the full sha256 hex digest (64 lower-case hex "
                         "digits) of the generator's model.safetensors; see generator_fingerprint()")
    tensors = {k: v.detach().to("cpu", torch.float32, copy=True).contiguous()
               for k, v in encoder.state_dict().items()}
    metadata = {"format": ENCODER_FORMAT, "format_version": str(ENCODER_FORMAT_VERSION),
                "config": json.dumps(encoder.config.to_dict(), sort_keys=True),
                "generator_sha256": generator_fingerprint,
                "training": json.dumps(training or {}, sort_keys=True)}
    path = Path(folder) / ENCODER_FILE
    atomic_write_bytes(path, save_bytes(tensors, metadata=metadata))
    return path


def load_encoder(folder: str | os.PathLike = "weights", *, generator: Generator | None = None,
                 device: torch.device | str = "cpu") -> Encoder:
    """Load `folder`/encoder.safetensors strictly: the names, shapes and dtype (float32) of
    every tensor, finite values, and the generator fingerprint in its header equal to the
    sha256 of `folder`/model.safetensors. With `generator`, its z_dim and classes must match
    too. Returns the encoder in eval mode without gradients; raises EncoderWeightsError (a
    WeightsError) naming the problem, with the command that makes a new encoder as its hint."""
    folder = Path(folder)
    try:
        return _load_checked(folder, generator, device)
    except EncoderWeightsError as exc:
        exc.hint = exc.hint or train_encoder_command(folder)
        raise


def _read_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not path.is_file():
        raise EncoderWeightsError(f"{path} not found: the fast Draw search needs an encoder trained "
                                  "for these generator weights.")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise EncoderWeightsError(f"{path}: not a valid safetensors file ({exc})") from exc
    return tensors, metadata


def _read_config(path: Path, metadata: dict[str, str]) -> EncoderConfig:
    kind, version = metadata.get("format"), metadata.get("format_version")
    if kind != ENCODER_FORMAT or version != str(ENCODER_FORMAT_VERSION):
        raise EncoderWeightsError(f"{path}: expected format {ENCODER_FORMAT!r} version "
                                  f"{ENCODER_FORMAT_VERSION} in the header, got {kind!r} {version!r}")
    try:
        return EncoderConfig.from_dict(json.loads(metadata.get("config", "")))
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise EncoderWeightsError(f"{path}: the config in the header is invalid ({exc})") from exc


def _load_checked(folder: Path, generator: Generator | None, device: torch.device | str) -> Encoder:
    path = folder / ENCODER_FILE
    tensors, metadata = _read_file(path)
    config = _read_config(path, metadata)
    try:
        expected_fingerprint = generator_fingerprint(folder)
    except OSError as exc:
        raise EncoderWeightsError(f"{folder}: cannot read the generator's weights to check the "
                                  f"encoder against them ({exc})") from exc
    stored = metadata.get("generator_sha256")
    if stored != expected_fingerprint:
        raise EncoderWeightsError(
            f"{path} was trained for generator weights with sha256 {str(stored)[:12]}..., but "
            f"{folder / 'model.safetensors'} has {expected_fingerprint[:12]}...: train an encoder for "
            "these weights", hint=train_encoder_command(folder))
    if generator is not None and (config.z_dim, config.num_classes) != (generator.z_dim, generator.num_classes):
        raise EncoderWeightsError(f"{path} is for z_dim {config.z_dim} with {config.num_classes} classes; "
                                  f"the generator has {generator.z_dim} and {generator.num_classes}")
    encoder = Encoder(config)
    wanted = encoder.state_dict()
    missing, unexpected = sorted(set(wanted) - set(tensors)), sorted(set(tensors) - set(wanted))
    if missing or unexpected:
        raise EncoderWeightsError(f"{path} does not match its config: missing {missing}, unexpected {unexpected}")
    for name, tensor in tensors.items():
        if tensor.shape != wanted[name].shape or tensor.dtype != torch.float32:
            raise EncoderWeightsError(f"{path}: {name} has shape {tuple(tensor.shape)} {tensor.dtype}, its "
                                      f"config needs {tuple(wanted[name].shape)} torch.float32")
        if not torch.isfinite(tensor).all():
            raise EncoderWeightsError(f"{path}: {name} contains NaN or inf")
    encoder.load_state_dict(tensors, strict=True)
    return encoder.eval().requires_grad_(False).to(device)


def read_encoder_header(folder: str | os.PathLike = "weights") -> dict[str, Any]:
    """The stored encoder's header, decoded: config, generator sha256, training summary."""
    path = Path(folder) / ENCODER_FILE
    _, metadata = _read_file(path)
    config = _read_config(path, metadata)
    try:
        training = json.loads(metadata.get("training", "{}"))
    except json.JSONDecodeError:
        training = {}
    return {"config": config.to_dict(), "generator_sha256": metadata.get("generator_sha256"),
            "training": training}


# ----------------------------------------------------------------------------- command line
