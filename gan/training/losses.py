"""The GAN objective and one training step: (1) update D, (2) update G.

Non-saturating logistic GAN + auxiliary classifier, with D(x, y) the adversarial logit,
C(x) D's class logits, G(z, y) a fake of class y:

    d_loss = softplus(-D(x, y)) + softplus(D(G(z, y'), y')) + aux_weight * CE(C(x), y)
    g_loss = softplus(-D(G(z, y'), y'))                     + aux_weight * CE(C(G(z, y')), y')

D's classifier learns from real images only, so it cannot be taught to accept bad fakes.

And a lazy R1 penalty (Mescheder et al. 2018; lazy as in StyleGAN2) on real images, on by
default (r1_gamma = 1; 0 turns it off): every r1_every-th D step adds
r1_every * r1_gamma / 2 * E ||grad_x D(x, y)||^2, which keeps D smooth where the data is and
lets G follow a steadier gradient; without it D overfits and the samples stop improving.
"""
from __future__ import annotations

import contextlib
from typing import Callable, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       real_class_logits: torch.Tensor, real_labels: torch.Tensor,
                       aux_weight: float) -> torch.Tensor:
    adversarial = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    return adversarial + aux_weight * F.cross_entropy(real_class_logits, real_labels)


def generator_loss(fake_logits: torch.Tensor, fake_class_logits: torch.Tensor,
                   fake_labels: torch.Tensor, aux_weight: float) -> torch.Tensor:
    return F.softplus(-fake_logits).mean() + aux_weight * F.cross_entropy(fake_class_logits, fake_labels)


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """E ||grad_x D(x, y)||^2 over the real images (which must require grad)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.float().square().flatten(1).sum(1).mean()


def lazy_r1_weight(step: int, r1_gamma: float, r1_every: int) -> float:
    """R1's weight in the D loss of training step `step`: r1_gamma / 2, scaled up by r1_every on
    every r1_every-th step and 0 on the others (lazy regularisation, as in StyleGAN2)."""
    return r1_gamma / 2 * r1_every if r1_gamma and step % r1_every == 0 else 0.0


class StepOutcome(NamedTuple):
    """What one training step measured, as device tensors (reading them waits for the device)."""
    d_loss: torch.Tensor
    g_loss: torch.Tensor
    d_real: torch.Tensor  # D's mean realness (sigmoid of its logit) on the real half of the batch
    d_fake: torch.Tensor  # ... and on the generated half, both before this step's D update


def gan_step(G: nn.Module, D: nn.Module, D_plain: nn.Module, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer, real: torch.Tensor, real_labels: torch.Tensor,
             z: torch.Tensor, fake_labels: torch.Tensor, *, aux_weight: float, r1_weight: float = 0.0,
             autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
             ) -> StepOutcome:
    """One training step; returns its losses and D's realness without syncing the device.

    D and G may be DDP/compiled wrappers; D_plain is the bare discriminator module, used in
    the G step where D's gradients are not needed (and must not be all-reduced). r1_weight > 0
    adds r1_weight * R1 to this step's D loss (the caller makes it lazy: `lazy_r1_weight`).
    """
    n = real.shape[0]
    if r1_weight:
        real = real.detach().requires_grad_(True)
    # (1) update D: real -> 1, fake -> 0; one forward over both halves
    with autocast():
        fake = G(z, fake_labels)
        logits, class_logits = D(torch.cat([real, fake.detach()]), torch.cat([real_labels, fake_labels]))
    logits, class_logits = logits.float(), class_logits.float()
    d_loss = discriminator_loss(logits[:n], logits[n:], class_logits[:n], real_labels, aux_weight)
    with torch.no_grad():  # the game itself: StyleGAN2-ADA watches these for D overfitting
        d_real, d_fake = torch.sigmoid(logits[:n]).mean(), torch.sigmoid(logits[n:]).mean()
    if r1_weight:
        d_loss = d_loss + r1_weight * r1_penalty(logits[:n], real)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()

    # (2) update G: make D call the fakes real and of the asked-for class
    D_plain.requires_grad_(False)
    with autocast():
        logits, class_logits = D_plain(fake, fake_labels)
    g_loss = generator_loss(logits.float(), class_logits.float(), fake_labels, aux_weight)
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    D_plain.requires_grad_(True)
    return StepOutcome(d_loss.detach(), g_loss.detach(), d_real, d_fake)
