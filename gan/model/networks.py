"""Class-conditional generator and discriminator for 28x28 digits.

G: [z, embed(class)] -> Linear -> 7x7 -> ConvT -> 14x14 -> ConvT -> 28x28, tanh.
D: conv 14x14 -> conv 7x7 (+ minibatch-stddev channel) -> flat features h, two heads on h:
   adversarial logit  adv(h) + <embed(y), h>   (projection discriminator, Miyato & Koyama 2018)
   class logits       aux(h)                     (auxiliary classifier, AC-GAN)
Spectral norm on D is optional (off by default: with only three layers it leaves D too weak).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from ..config import ModelConfig
from ..inputs import as_digits, as_truncation
from .sampling import generate_from_latents, latents_from_seeds

MBSTD_GROUP = 4  # samples per minibatch-stddev group; training batches are multiples of it


class Generator(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c, w = config, config.g_width
        # A bias-free linear map of a (soft) one-hot vector is an embedding table that can
        # also be fed mixtures of classes: that is what the digit-to-digit morph uses.
        self.embed = nn.Linear(c.num_classes, c.embed_dim, bias=False)
        self.fc = nn.Linear(c.z_dim + c.embed_dim, 2 * w * 7 * 7, bias=False)
        self.bn0 = nn.BatchNorm2d(2 * w)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.up2 = nn.ConvTranspose2d(w, c.img_channels, 4, stride=2, padding=1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # DCGAN initialisation: N(0, 0.02) weights, BN gains around 1.
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.embed.weight, 0.0, 1.0)  # unit-scale like z

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def device(self) -> torch.device:
        return self.fc.weight.device

    def synthesize(self, z: torch.Tensor, class_weights: torch.Tensor) -> torch.Tensor:
        """(N, z_dim) latents and (N, num_classes) class mixtures -> (N, 1, 28, 28) in [-1, 1]."""
        h = torch.cat([z, self.embed(class_weights)], dim=1)
        h = self.fc(h).view(-1, 2 * self.config.g_width, 7, 7)
        h = F.relu(self.bn0(h))
        h = F.relu(self.bn1(self.up1(h)))
        return torch.tanh(self.up2(h))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        one_hot = F.one_hot(labels, self.config.num_classes).to(z.dtype)
        return self.synthesize(z, one_hot)

    @torch.inference_mode()
    def generate(self, digits: Sequence[int], seeds: Sequence[int], *,
                 truncation_psi: float = 1.0) -> torch.Tensor:
        """One image per (digit, seed) pair -> uint8 tensor (N, 28, 28) on the CPU.

        The one convenience on the model, and a boundary of the library: digits, seeds and
        psi are checked by the rules of gan.inputs. The same seed gives the same latent on
        every device (see `latents_from_seeds`); truncation_psi < 1 pulls the latent toward
        the mean for cleaner, less varied digits.
        """
        digits, seeds = as_digits(list(digits), self.config.num_classes), list(seeds)
        if len(digits) != len(seeds):
            raise ValueError(f"digits and seeds must have equal length, got {len(digits)} "
                             f"and {len(seeds)}")
        z = latents_from_seeds(seeds, self.config.z_dim) * as_truncation(truncation_psi)
        return generate_from_latents(self, z, digits)


class Discriminator(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c, w = config, config.d_width
        sn = spectral_norm if c.d_spectral_norm else (lambda module: module)
        self.conv1 = sn(nn.Conv2d(c.img_channels, w, 4, stride=2, padding=1))
        self.conv2 = sn(nn.Conv2d(w, 2 * w, 4, stride=2, padding=1))
        features = (2 * w + 1) * 7 * 7  # +1: the minibatch standard deviation channel
        self.adv = sn(nn.Linear(features, 1))
        self.embed = sn(nn.Embedding(c.num_classes, features))
        self.aux = nn.Linear(features, c.num_classes)
        if not c.d_spectral_norm:
            # DCGAN initialisation; the projection starts at zero so that the class term
            # (a dot product over thousands of features) does not dominate the first steps.
            for m in (self.conv1, self.conv2, self.adv, self.aux):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
            nn.init.zeros_(self.embed.weight)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (real/fake logits (N,), class logits (N, num_classes))."""
        h = F.leaky_relu(self.conv1(images), 0.2)
        h = minibatch_stddev(F.leaky_relu(self.conv2(h), 0.2)).flatten(1)
        logits = self.adv(h).squeeze(1) + (self.embed(labels) * h).sum(dim=1)
        return logits, self.aux(h)


def minibatch_stddev(h: torch.Tensor, group_size: int = MBSTD_GROUP) -> torch.Tensor:
    """Append one channel: the feature standard deviation within each group of consecutive
    samples (Karras et al. 2018). D can then see when a batch of fakes lacks variety, which
    is how a conditional G collapses (one image per class, z ignored) if nothing stops it.

    Groups are consecutive samples, so the real and fake halves of a [real, fake] batch are
    never mixed as long as the half size is a multiple of the group size.
    """
    n, c, height, width = h.shape
    group = math.gcd(group_size, n)
    grouped = h.view(-1, group, c, height, width).float()
    # the variance written out: Tensor.var over a short middle dimension is several times
    # slower on the CPU, forward and backward (it was a quarter of a training step)
    variance = (grouped - grouped.mean(dim=1, keepdim=True)).square().mean(dim=1)
    std = variance.add(1e-8).sqrt()
    feature = std.mean(dim=(1, 2, 3)).to(h.dtype)  # one number per group
    feature = feature.repeat_interleave(group).view(n, 1, 1, 1).expand(n, 1, height, width)
    return torch.cat([h, feature], dim=1)


@torch.no_grad()
def recalibrate_batchnorm(generator: Generator, *, batches: int = 8, batch_size: int = 256,
                          seed: int = 12345) -> None:
    """Recompute G's BatchNorm statistics for its current weights.

    The EMA generator's weights are an average that no batch statistics were ever computed
    for; this measures them exactly (cumulative average over a few batches of samples), with
    a private generator so that it leaves training's random streams untouched.
    """
    device = generator.device
    rng = torch.Generator().manual_seed(seed)
    bns = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average
    generator.train()
    for _ in range(batches):
        z = torch.randn(batch_size, generator.z_dim, generator=rng).to(device)
        labels = torch.randint(0, generator.num_classes, (batch_size,), generator=rng).to(device)
        generator(z, labels)
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    generator.eval()


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
