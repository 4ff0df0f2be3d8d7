"""Requests -> uint8 pictures with provenance: one digit, a grid, an interpolation strip.

Inputs here are already checked (gan.service does that); every picture carries the inputs
that remake it (digit, seed, truncation psi, ...) and the weights' fingerprint.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .images import make_grid, png_bytes, upscale
from .inputs import MAX_SEED
from .model_holder import LoadedModel
from .timing import NO_STATS, ServingStats

GRID_MODES = ("one digit per row (0-9)", "all one digit", "random digits")
DIGIT_SCALE = 10               # one digit: 28 px -> 280 px
GIF_SCALE = 6                  # interpolation GIF frames: 28 px -> 168 px
TARGET_SIDE = 1000             # grids and strips are upscaled by a whole factor up to this size
MAX_SCALE = 10
PNG_COMPRESS_LEVEL = 1         # zlib level: 3x faster than PIL's default 6 for ~25% larger files
STRIP_COLUMNS = 16             # the interpolation strip wraps after this many frames
SOFTWARE = "DigitGAN"


@dataclass(frozen=True)
class Picture:
    """A uint8 (H, W) image at display size, its provenance and a file-name stem."""
    pixels: np.ndarray
    metadata: dict[str, str]
    stem: str


def fit_scale(height: int, width: int, target: int = TARGET_SIDE) -> int:
    """The whole upscaling factor that brings the longer side closest to `target` from below."""
    return max(1, min(MAX_SCALE, target // max(height, width)))


def provenance(model: LoadedModel, **fields: object) -> dict[str, str]:
    meta = {"Software": SOFTWARE}
    meta.update({k: _text(v) for k, v in fields.items()})
    meta["weights_sha256"] = model.fingerprint
    return meta


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def grid_cells(rows: int, cols: int, seed: int, mode: str, digit: int) -> tuple[list[int], list[int]]:
    """The (digits, seeds) of a grid, row-major.

    - one digit per row (0-9): row r shows digit r % 10; column c uses seed `seed + c`, so
      every row shares the same latents (same style, different digit). Rows 10-15 move on to
      the next block of seeds.
    - all one digit: `digit` everywhere, seeds seed, seed+1, ...
    - random digits: digits drawn by a private RNG seeded with `seed`, seeds seed, seed+1, ...
    Seeds wrap around past 2**32-1.
    """
    n = rows * cols
    if mode == GRID_MODES[0]:
        digits = [r % 10 for r in range(rows) for _ in range(cols)]
        seeds = [seed + (r // 10) * cols + c for r in range(rows) for c in range(cols)]
    elif mode == GRID_MODES[1]:
        digits, seeds = [digit] * n, [seed + i for i in range(n)]
    else:
        digits = np.random.default_rng(seed).integers(0, 10, size=n).tolist()
        seeds = [seed + i for i in range(n)]
    return digits, [s % (MAX_SEED + 1) for s in seeds]


def render_digit(model: LoadedModel, digit: int, seed: int, truncation_psi: float = 1.0, *,
                 stats: ServingStats = NO_STATS) -> Picture:
    with stats.timed("generate.model"):
        image = model.generator.generate([digit], [seed], truncation_psi=truncation_psi)[0].numpy()
    meta = provenance(model, digit=digit, seed=seed, truncation_psi=truncation_psi, scale=DIGIT_SCALE,
                      Description=f"digit {digit}, seed {seed}, truncation psi {truncation_psi}")
    return Picture(upscale(image, DIGIT_SCALE), meta,
                   f"digit{digit}_seed{seed}_psi{truncation_psi:g}_{model.fingerprint[:8]}")


def render_grid(model: LoadedModel, rows: int, cols: int, seed: int, mode: str, digit: int,
                truncation_psi: float = 1.0, *, stats: ServingStats = NO_STATS) -> Picture:
    digits, seeds = grid_cells(rows, cols, seed, mode, digit)
    with stats.timed("grid.model"):
        images = model.generator.generate(digits, seeds, truncation_psi=truncation_psi)
    grid = make_grid(images, rows=rows, cols=cols)
    scale = fit_scale(*grid.shape)
    meta = provenance(model, rows=rows, cols=cols, mode=mode, seed=seed,
                      **({"digit": digit} if mode == GRID_MODES[1] else {}),
                      truncation_psi=truncation_psi, digits=digits, seeds=seeds, scale=scale,
                      layout=f"{rows}x{cols} cells of 28x28 px with 2 px padding, row-major",
                      Description=f"{rows}x{cols} grid, {mode}, base seed {seed}, "
                                  f"truncation psi {truncation_psi}")
    return Picture(upscale(grid, scale), meta,
                   f"grid{rows}x{cols}_seed{seed}_psi{truncation_psi:g}_{model.fingerprint[:8]}")


def render_interpolation(model: LoadedModel, digit_a: int, seed_a: int, digit_b: int, seed_b: int,
                         steps: int, method: str = "slerp", truncation_psi: float = 1.0, *,
                         stats: ServingStats = NO_STATS) -> tuple[Picture, np.ndarray]:
    """(a strip of the frames with provenance, the raw frames (steps, 28, 28))."""
    with stats.timed("interpolate.model"):
        frames = model.generator.interpolate(digit_a=digit_a, seed_a=seed_a, digit_b=digit_b,
                                             seed_b=seed_b, steps=steps, method=method,
                                             truncation_psi=truncation_psi).numpy()
    strip = strip_of(frames)
    scale = fit_scale(*strip.shape)
    meta = provenance(model, digit_a=digit_a, seed_a=seed_a, digit_b=digit_b, seed_b=seed_b,
                      digits=[digit_a, digit_b], seeds=[seed_a, seed_b], steps=steps, method=method,
                      truncation_psi=truncation_psi, scale=scale,
                      Description=f"{method} from digit {digit_a} seed {seed_a} to digit {digit_b} "
                                  f"seed {seed_b} in {steps} steps, truncation psi {truncation_psi}")
    stem = (f"morph{digit_a}s{seed_a}-{digit_b}s{seed_b}_{method}{steps}_psi{truncation_psi:g}_"
            f"{model.fingerprint[:8]}")
    return Picture(upscale(strip, scale), meta, stem), frames


def strip_of(frames: np.ndarray) -> np.ndarray:
    """Frames (or a row of digits) side by side, wrapping after STRIP_COLUMNS."""
    cols = min(len(frames), STRIP_COLUMNS)
    return make_grid(frames, rows=math.ceil(len(frames) / cols), cols=cols)


def encode_png(pixels: np.ndarray, metadata: Mapping[str, object]) -> bytes:
    return png_bytes(pixels, metadata=metadata, compress_level=PNG_COMPRESS_LEVEL)


def gif_frame_ms(steps: int) -> int:
    """About 1.5 s per pass whatever the number of frames, within 40..150 ms a frame."""
    return max(40, min(150, 1500 // steps))
