"""Sampling: seeds -> latents, latent-space walks, and the one way from latents to images.

    z = latents_from_seeds([0, 1, 42], generator.z_dim)       # CPU MT19937, any device after
    images = generate_from_latents(generator, z, [3, 3, 8])   # uint8 (3, 28, 28), CPU

`generate_from_latents` is the only path from latents (and class inputs) to uint8 pixels:
`Generator.generate`, interpolations, edits along directions, restyled drawings and the
progress grids all end in it. The public entry points from seeds (`latents_from_seeds`,
`generate_interpolation`, `Generator.generate`) check what they are given with the rules of
gan.inputs; the functions on latents trust their (already checked) inputs.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..images import to_uint8
from ..inputs import as_choice, as_digit, as_seed, as_steps, as_truncation

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

    z walks from seed A's latent to seed B's (`method`: one of INTERPOLATION_METHODS) while
    the class input moves from digit A to B.
    """
    z_a, z_b = latents_from_seeds([seed_a, seed_b], z_dim)
    t = torch.linspace(0.0, 1.0, steps)
    z_a, z_b = z_a.expand(steps, -1), z_b.expand(steps, -1)
    # slerp takes one t per row; lerp broadcasts, so t needs its own column
    z = (slerp(z_a, z_b, t) if method == "slerp" else lerp(z_a, z_b, t.unsqueeze(1))) * truncation_psi
    return z, class_path(digit_a, digit_b, steps, num_classes)


@torch.inference_mode()
def generate_from_latents(generator, z: torch.Tensor,
                          classes: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Latents and classes -> uint8 tensor (N, 28, 28) on the CPU, 0 = background.

    `z`: (N, z_dim), or one (z_dim,) latent drawn as every class. `classes`: N digits, or an
    (N, num_classes) tensor of class mixtures (a morph between digits). Always renders with
    BatchNorm's running statistics (eval mode), even on a generator in training mode:
    otherwise an image would depend on the rest of its batch, and every call would
    overwrite the statistics.
    """
    device = generator.device
    if not isinstance(classes, torch.Tensor):
        labels = torch.tensor(list(classes), dtype=torch.long, device=device)
        classes = F.one_hot(labels, generator.num_classes).float()
    z = z.to(device, torch.float32)
    if z.dim() == 1:
        z = z.expand(len(classes), -1)
    if len(z) != len(classes):
        raise ValueError(f"{len(z)} latents for {len(classes)} class inputs")
    was_training = generator.training
    if was_training:
        generator.eval()
    try:
        images = generator.synthesize(z, classes.to(device, torch.float32))
    finally:
        if was_training:
            generator.train()
    return to_uint8(images)[:, 0].cpu()


def generate_interpolation(generator, *, digit_a: int, seed_a: int, digit_b: int, seed_b: int,
                           steps: int, method: str = "slerp",
                           truncation_psi: float = 1.0) -> torch.Tensor:
    """Frames from (digit_a, seed_a) to (digit_b, seed_b): uint8 (steps, 28, 28); `steps` in
    2..gan.inputs.MAX_STEPS, `method` one of INTERPOLATION_METHODS."""
    n = generator.num_classes
    z, classes = interpolation_path(
        digit_a=as_digit(digit_a, "digit_a", n), seed_a=as_seed(seed_a, "seed_a"),
        digit_b=as_digit(digit_b, "digit_b", n), seed_b=as_seed(seed_b, "seed_b"),
        steps=as_steps(steps), z_dim=generator.z_dim, num_classes=n,
        method=as_choice(method, "method", INTERPOLATION_METHODS),
        truncation_psi=as_truncation(truncation_psi))
    return generate_from_latents(generator, z, classes)
