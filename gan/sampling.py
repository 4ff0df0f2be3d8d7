"""Latents and latent-space walks: seeds -> z, truncation, lerp/slerp, class morphs.

Everything here is model-agnostic. Inputs are checked by the rules in gan.inputs, so the
CLI, the app and the library answer bad input with the same messages.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .inputs import (MAX_SEED, MAX_TRUNCATION, as_choice, as_digits, as_int, as_seed,  # noqa: F401
                     as_truncation)

INTERPOLATION_METHODS = ("slerp", "lerp")


def digit_major(digits: Sequence[int], seeds: Sequence[int]) -> tuple[list[int], list[int]]:
    """Every (digit, seed) pair, digit-major: for each digit, every seed. The order of
    grids with a row per digit, of evaluation samples and of `python -m gan.generate`."""
    return [d for d in digits for _ in seeds], [s for _ in digits for s in seeds]


def latents_from_seeds(seeds: Sequence[int], z_dim: int, *,
                       device: torch.device | str = "cpu") -> torch.Tensor:
    """One N(0, I) latent per seed, drawn on the CPU with a private generator, then moved.

    Drawing on the CPU makes a seed mean the same latent on every device; a private
    `torch.Generator` leaves the global RNG alone, so concurrent requests cannot disturb
    each other.
    """
    rng = torch.Generator(device="cpu")
    rows = []
    for seed in seeds:
        rng.manual_seed(as_seed(seed))
        rows.append(torch.randn(z_dim, generator=rng))
    if not rows:
        return torch.empty(0, z_dim, device=device)
    return torch.stack(rows).to(device)


def latent_from_seed(seed: int, z_dim: int, *, device: torch.device | str = "cpu") -> torch.Tensor:
    return latents_from_seeds([seed], z_dim, device=device)[0]


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float, *, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation along the last dimension.

    Gaussian latents live near a sphere of radius sqrt(z_dim); lerp cuts through the
    low-norm interior (washed-out midpoints), slerp stays on the arc. The norm is
    interpolated linearly, so unequal-norm endpoints are handled. Falls back to lerp when
    the vectors are (anti)parallel and the arc is undefined.
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    if t.dim() > 0:
        t = t.unsqueeze(-1)
    a_norm, b_norm = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    a_unit, b_unit = a / a_norm.clamp_min(eps), b / b_norm.clamp_min(eps)
    cos = (a_unit * b_unit).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    sin = torch.sin(omega)
    arc = (torch.sin((1 - t) * omega) * a_unit + torch.sin(t * omega) * b_unit) / sin.clamp_min(eps)
    direction = torch.where(sin > 1e-4, arc, lerp(a_unit, b_unit, t))
    return direction * lerp(a_norm, b_norm, t)


def class_path(digit_a: int, digit_b: int, steps: int, num_classes: int = 10) -> torch.Tensor:
    """(steps, num_classes) class mixtures moving linearly from digit_a's one-hot vector to
    digit_b's: fed to the generator's class embedding, a 3 morphs into an 8."""
    t = torch.linspace(0.0, 1.0, steps).unsqueeze(1)
    eye = torch.eye(num_classes)
    return lerp(eye[digit_a].expand(steps, -1), eye[digit_b].expand(steps, -1), t)


def interpolation_path(*, digit_a: int, seed_a: int, digit_b: int, seed_b: int, steps: int,
                       z_dim: int, num_classes: int = 10, method: str = "slerp",
                       truncation_psi: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents (steps, z_dim) and class mixtures (steps, num_classes) from A to B inclusive.

    z walks from seed A's latent to seed B's while the class input moves from digit A to B.
    """
    digit_a, digit_b = as_digits([digit_a, digit_b], num_classes)
    steps = as_int(steps, "steps", 2, 10_000)
    method = as_choice(method, "method", INTERPOLATION_METHODS)
    psi = as_truncation(truncation_psi)
    z_a, z_b = latents_from_seeds([seed_a, seed_b], z_dim)
    t = torch.linspace(0.0, 1.0, steps)
    z_a, z_b = z_a.expand(steps, -1), z_b.expand(steps, -1)
    # slerp takes one t per row; lerp broadcasts, so t needs its own column
    z = (slerp(z_a, z_b, t) if method == "slerp" else lerp(z_a, z_b, t.unsqueeze(1))) * psi
    return z, class_path(digit_a, digit_b, steps, num_classes)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 with 0 = background, 255 = ink (MNIST's convention)."""
    return ((images.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1.0
