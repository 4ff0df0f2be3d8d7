"""A latent as text and back: how a found handwriting travels to other tabs, the HTTP API and
PNG provenance.

    text = encode_latent(z)            # "z1." + urlsafe base64 of the float32 bytes, exact
    z = decode_latent(text, z_dim)     # float32 tensor (z_dim,); ValueError saying what is wrong

`decode_latent` is the one rule for a latent a user sends, as that text or as a list of z_dim
numbers: the right length, finite, and a norm within `max_latent_norm(z_dim)` (such a latent
is no sample of the generator's N(0, I) prior beyond it, and its images would be meaningless).
Floats are stored as float32, what the generator computes with, so text and lists of the same
latent give identical images.
"""
from __future__ import annotations

import base64
import binascii
import math
import numbers
from typing import Sequence

import numpy as np
import torch

LATENT_PREFIX = "z1."            # format tag: version 1 = little-endian float32, urlsafe base64
LATENT_NORM_FACTOR = 2.0         # |z| <= 2 sqrt(z_dim) + LATENT_NORM_MARGIN; N(0, I) gives
LATENT_NORM_MARGIN = 4.0         # |z| ~ sqrt(z_dim) +- 0.7, so the bound is far out in the tail
MAX_LATENT_TEXT = 64 * 1024      # longer text is refused before it is decoded


def max_latent_norm(z_dim: int) -> float:
    """The largest norm a latent may have: 2 sqrt(z_dim) + 4 (20 for z_dim = 64)."""
    return LATENT_NORM_FACTOR * math.sqrt(z_dim) + LATENT_NORM_MARGIN


def encode_latent(latent: torch.Tensor | np.ndarray | Sequence[float]) -> str:
    """A latent -> "z1." + urlsafe base64 (no padding) of its little-endian float32 bytes:
    exact, and short enough for an URL or a PNG text chunk (347 characters for z_dim 64)."""
    values = np.asarray(latent.detach().cpu() if isinstance(latent, torch.Tensor) else latent,
                        dtype="<f4").reshape(-1)
    return LATENT_PREFIX + base64.urlsafe_b64encode(values.tobytes()).decode("ascii").rstrip("=")


def _from_text(text: str, z_dim: int, name: str) -> np.ndarray:
    text = text.strip()
    if not text:
        raise ValueError(f"{name} is missing: give the latent text that Draw wrote (it starts with "
                         f"{LATENT_PREFIX!r}) or a list of {z_dim} numbers")
    if len(text) > MAX_LATENT_TEXT or not text.startswith(LATENT_PREFIX):
        raise ValueError(f"{name} text must start with {LATENT_PREFIX!r} (as the app writes it) "
                         f"and be at most {MAX_LATENT_TEXT} characters")
    body = text[len(LATENT_PREFIX):]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{name} text after {LATENT_PREFIX!r} is not urlsafe base64") from None
    if len(raw) != 4 * z_dim:
        raise ValueError(f"{name} must hold {z_dim} numbers, the text holds {len(raw) / 4:g}")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def _from_numbers(value: object, z_dim: int, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or not (np.issubdtype(value.dtype, np.floating)
                                   or np.issubdtype(value.dtype, np.integer)):
            raise ValueError(f"{name} must be a flat array of {z_dim} numbers, got shape "
                             f"{tuple(value.shape)} and dtype {value.dtype}")
        items = list(value.tolist())
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif value is None:
        raise ValueError(f"{name} is missing: give the latent text that Draw wrote (it starts with "
                         f"{LATENT_PREFIX!r}) or a list of {z_dim} numbers")
    else:
        raise ValueError(f"{name} must be a list of {z_dim} numbers or text starting with "
                         f"{LATENT_PREFIX!r}, got {type(value).__name__}")
    if len(items) != z_dim:
        raise ValueError(f"{name} must hold {z_dim} numbers, got {len(items)}")
    if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) for v in items):
        raise ValueError(f"{name} must hold only numbers (no text, bools or null)")
    try:
        values = np.asarray([float(v) for v in items], dtype=np.float64)
    except OverflowError:  # an integer beyond any float, e.g. 10**400
        values = np.array([np.inf])
    if not np.isfinite(values).all() or np.abs(values).max() > np.finfo(np.float32).max:
        raise ValueError(f"{name} must hold finite numbers, got NaN, inf or a number beyond "
                         "float32's range")
    return values.astype(np.float32)


def decode_latent(value: object, z_dim: int, *, name: str = "latent") -> torch.Tensor:
    """Text from `encode_latent`, or a list / tuple / 1-d array or tensor of z_dim finite
    numbers -> float32 tensor (z_dim,) on the CPU. ValueError for anything else, saying what
    is allowed."""
    z = _from_text(value, z_dim, name) if isinstance(value, str) else _from_numbers(value, z_dim, name)
    if not np.isfinite(z).all():
        raise ValueError(f"{name} must hold finite numbers, got NaN or inf")
    norm, bound = float(np.linalg.norm(z.astype(np.float64))), max_latent_norm(z_dim)
    if norm > bound:
        raise ValueError(f"{name} norm must be at most {bound:g} (typical latents have norm "
                         f"about {math.sqrt(z_dim):.0f}), got {norm:.4g}")
    return torch.from_numpy(z.copy())
