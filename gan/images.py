"""uint8 images at the edge: the float <-> uint8 convention, grids, nearest-neighbour
upscaling, PNG with provenance, GIF."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from .files import atomic_write_bytes


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 with 0 = background, 255 = ink (MNIST's convention)."""
    return ((images.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 (0 = background) -> floats in [-1, 1], what the networks read and write."""
    return images.float() / 127.5 - 1.0


def make_grid(images: torch.Tensor | np.ndarray, *, rows: int, cols: int, pad: int = 2,
              background: int = 0) -> np.ndarray:
    """(N, H, W) uint8 with N <= rows*cols -> one (rows*(H+pad)+pad, cols*(W+pad)+pad) image,
    filled row-major."""
    images = np.asarray(images, dtype=np.uint8)
    n, h, w = images.shape
    if n > rows * cols:
        raise ValueError(f"{n} images do not fit a {rows}x{cols} grid")
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), background, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y: y + h, x: x + w] = images[i]
    return grid


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling: every pixel becomes a factor x factor block (crisp, no blur)."""
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    return np.repeat(np.repeat(np.asarray(image), factor, axis=-2), factor, axis=-1)


def png_bytes(image: np.ndarray, *, metadata: Mapping[str, object] | None = None,
              compress_level: int = 6) -> bytes:
    """Encode a uint8 (H, W) image as PNG, with `metadata` as tEXt chunks (provenance).

    compress_level is zlib's 0-9; servers use 1: upscaled digits are mostly runs of equal
    bytes, which fast compression packs nearly as well, about 3x sooner.
    """
    info = PngImagePlugin.PngInfo()
    for key, value in (metadata or {}).items():
        info.add_text(str(key), str(value))
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L").save(
        buf, format="PNG", pnginfo=info, compress_level=compress_level)
    return buf.getvalue()


def save_png(path: str | Path, image: np.ndarray, *, metadata: Mapping[str, object] | None = None) -> None:
    atomic_write_bytes(path, png_bytes(image, metadata=metadata))


def gif_bytes(frames: Sequence[np.ndarray], *, duration_ms: int = 80, loop: bool = True,
              bounce: bool = False, comment: str | None = None) -> bytes:
    """Animated GIF of uint8 (H, W) frames; `bounce` plays forward then back. `comment` goes
    into the GIF's comment extension (GIF has no key-value text chunks like PNG)."""
    frames = [np.asarray(f, dtype=np.uint8) for f in frames]
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    if bounce and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    pil = [Image.fromarray(f, mode="L") for f in frames]
    buf = io.BytesIO()
    extra = {"comment": comment.encode()} if comment else {}
    pil[0].save(buf, format="GIF", save_all=True, append_images=pil[1:], duration=duration_ms,
                loop=0 if loop else 1, optimize=False, **extra)
    return buf.getvalue()


def save_gif(path: str | Path, frames: Sequence[np.ndarray], **kwargs) -> None:
    atomic_write_bytes(path, gif_bytes(frames, **kwargs))
