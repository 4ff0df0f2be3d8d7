"""Requests -> uint8 pictures with provenance: a digit, a grid, an interpolation strip, an
edited digit and its row 0-9, a drawing's found style, restyled rows and morphs.

Inputs here are already checked (gan.serving.service does that); every picture carries the
inputs that remake it (digit, seed, truncation psi, edit, latent, ...) and the weights'
fingerprint. Every latent becomes pixels through gan.model.sampling.generate_from_latents
(or `Generator.generate`, which ends in it).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Mapping, NamedTuple

import numpy as np
import torch

from ..images import make_grid, png_bytes, upscale
from ..inputs import MAX_SEED, format_edit_spec
from ..latent.codec import encode_latent
from ..latent.directions import DirectionSet, apply_directions, generate_edited
from ..latent.drawing import prepare_drawing
from ..latent.encoder import Encoder
from ..latent.encoder_search import invert_drawing_with_encoder
from ..latent.inversion import Inversion, invert_drawing
from ..model.classifier import DigitClassifier
from ..model.sampling import class_path, generate_from_latents, interpolation_path
from .model_holder import LoadedModel
from .stats import NO_STATS, ServingStats

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


class RenderedFrames(NamedTuple):
    """An animation's frames: a strip of them with provenance, and the raw frames (n, 28, 28)."""
    strip: Picture
    frames: np.ndarray


class GridCells(NamedTuple):
    """What each cell of a grid shows, row-major."""
    digits: list[int]
    seeds: list[int]


def fit_scale(height: int, width: int, target: int = TARGET_SIDE) -> int:
    """The whole upscaling factor that brings the longer side closest to `target` from below."""
    return max(1, min(MAX_SCALE, target // max(height, width)))


def provenance(model: LoadedModel, **fields: object) -> dict[str, str]:
    meta = {"Software": SOFTWARE}
    meta.update({k: _text(v) for k, v in fields.items()})
    meta["weights_sha256"] = model.fingerprint
    if model.hub_ref:  # where to get the same weights again
        meta["weights_source"] = model.hub_ref
    return meta


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def grid_cells(rows: int, cols: int, seed: int, mode: str, digit: int) -> GridCells:
    """The digits and seeds of a grid, row-major.

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
    return GridCells(digits, [s % (MAX_SEED + 1) for s in seeds])


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
                         stats: ServingStats = NO_STATS) -> RenderedFrames:
    """The frames from (digit_a, seed_a) to (digit_b, seed_b), and a strip of them."""
    with stats.timed("interpolate.model"):
        z, classes = interpolation_path(digit_a=digit_a, seed_a=seed_a, digit_b=digit_b, seed_b=seed_b,
                                        steps=steps, z_dim=model.config.z_dim,
                                        num_classes=model.config.num_classes, method=method,
                                        truncation_psi=truncation_psi)
        frames = generate_from_latents(model.generator, z, classes).numpy()
    strip = strip_of(frames)
    scale = fit_scale(*strip.shape)
    meta = provenance(model, digit_a=digit_a, seed_a=seed_a, digit_b=digit_b, seed_b=seed_b,
                      digits=[digit_a, digit_b], seeds=[seed_a, seed_b], steps=steps, method=method,
                      truncation_psi=truncation_psi, scale=scale,
                      Description=f"{method} from digit {digit_a} seed {seed_a} to digit {digit_b} "
                                  f"seed {seed_b} in {steps} steps, truncation psi {truncation_psi}")
    stem = (f"morph{digit_a}s{seed_a}-{digit_b}s{seed_b}_{method}{steps}_psi{truncation_psi:g}_"
            f"{model.fingerprint[:8]}")
    return RenderedFrames(Picture(upscale(strip, scale), meta, stem), frames)


def strip_of(frames: np.ndarray) -> np.ndarray:
    """Frames (or a row of digits) side by side, wrapping after STRIP_COLUMNS."""
    cols = min(len(frames), STRIP_COLUMNS)
    return make_grid(frames, rows=math.ceil(len(frames) / cols), cols=cols)


def encode_png(pixels: np.ndarray, metadata: Mapping[str, object]) -> bytes:
    return png_bytes(pixels, metadata=metadata, compress_level=PNG_COMPRESS_LEVEL)


def gif_frame_ms(steps: int) -> int:
    """About 1.5 s per pass whatever the number of frames, within 40..150 ms a frame."""
    return max(40, min(150, 1500 // steps))


# ----------------------------------------------------------------------------- Explore
def _edit_fields(strengths: dict[str, float]) -> dict[str, object]:
    return {"edit": format_edit_spec(strengths) or "none",
            "strengths": [strengths[name] for name in strengths],
            "directions": list(strengths)}


def render_explored(model: LoadedModel, directions: DirectionSet, digit: int, seed: int,
                    strengths: dict[str, float], truncation_psi: float = 1.0, *,
                    stats: ServingStats = NO_STATS) -> Picture:
    """One edited digit, 280x280, with everything that remakes it in its provenance."""
    with stats.timed("explore.model"):
        image = generate_edited(model.generator, [digit], [seed], directions=directions,
                                strengths=strengths, truncation_psi=truncation_psi)[0].numpy()
    fields = _edit_fields(strengths)
    meta = provenance(model, digit=digit, seed=seed, truncation_psi=truncation_psi, **fields,
                      scale=DIGIT_SCALE,
                      Description=f"digit {digit}, seed {seed}, truncation psi {truncation_psi}, "
                                  f"edit {fields['edit']}")
    return Picture(upscale(image, DIGIT_SCALE), meta,
                   f"explore_digit{digit}_seed{seed}_{model.fingerprint[:8]}")


def render_explored_row(model: LoadedModel, directions: DirectionSet, seed: int,
                        strengths: dict[str, float], truncation_psi: float = 1.0, *,
                        stats: ServingStats = NO_STATS) -> Picture:
    """The same edited latent drawn as every digit 0-9, in one row."""
    digits = list(range(model.config.num_classes))
    with stats.timed("explore.row_model"):
        images = generate_edited(model.generator, digits, [seed] * len(digits),
                                 directions=directions, strengths=strengths,
                                 truncation_psi=truncation_psi)
    row = strip_of(images)
    scale = fit_scale(*row.shape)
    meta = provenance(model, digits=digits, seed=seed, truncation_psi=truncation_psi,
                      **_edit_fields(strengths), scale=scale,
                      Description=f"digits 0-9 in the style of seed {seed}, edited")
    return Picture(upscale(row, scale), meta, f"explore_row_seed{seed}_{model.fingerprint[:8]}")


# ----------------------------------------------------------------------------- Draw
@dataclass(frozen=True)
class FoundStyle:
    """What a search of one drawing gives the page: pictures, the reading, the latent, and
    the digit it was searched as (`inversion.digit`)."""
    drawing: Picture              # the drawing as the model sees it (MNIST's preprocessing)
    reconstruction: Picture       # the generator's closest image of the searched digit
    reading: dict[str, float]     # the classifier's top 3 of the drawing: {"7": 0.93, ...}
    inversion: Inversion

    @property
    def latent_text(self) -> str:
        return self.inversion.latent_text


def find_style(model: LoadedModel, image: object, digit: int | None, classifier: DigitClassifier, *,
               encoder: Encoder | None = None, stats: ServingStats = NO_STATS) -> FoundStyle:
    """Preprocess the drawing, search its latent for `digit` (None: the classifier's reading),
    from the encoder's latent when the weights have one, else from the seed bank."""
    target = prepare_drawing(image)
    with stats.timed("draw.search"):
        if encoder is not None:
            found = invert_drawing_with_encoder(model.generator, encoder, target, digit=digit,
                                                classifier=classifier)
        else:
            found = invert_drawing(model.generator, target, digit=digit, classifier=classifier)
    latent = found.latent_text
    reading = {str(d): round(p, 4) for d, p in found.reading}
    chosen = "the classifier's reading" if digit is None else "chosen by the visitor"
    drawing = Picture(upscale(target, DIGIT_SCALE),
                      provenance(model, layout="your drawing, preprocessed as MNIST: ink box "
                                               "scaled to 20x20, centred by mass in 28x28",
                                 Description="a drawing as the model sees it"),
                      f"drawing_{model.fingerprint[:8]}")
    meta = provenance(model, digit=found.digit, digit_source=chosen, latent=latent,
                      pixel_rms_distance=f"{found.pixel_distance:.4f}",
                      feature_distance=f"{found.feature_distance:.4f}",
                      Description=f"the generator's closest digit {found.digit} to a drawing")
    reconstruction = Picture(upscale(found.reconstruction.numpy(), DIGIT_SCALE), meta,
                             f"found_digit{found.digit}_{model.fingerprint[:8]}")
    return FoundStyle(drawing, reconstruction, reading, found)


def render_restyled(model: LoadedModel, latent: torch.Tensor, truncation_psi: float = 1.0, *,
                    directions: DirectionSet | None = None, strengths: dict[str, float] | None = None,
                    stats: ServingStats = NO_STATS) -> Picture:
    """One latent written as digits 0-9 (optionally steered along named directions)."""
    edited = apply_directions(latent, directions, strengths) if strengths else latent
    with stats.timed("restyle.model"):
        # the edit comes before truncation here (unlike Explore's): kept, so that restyled
        # images stay what they were
        images = generate_from_latents(model.generator, edited * truncation_psi,
                                       range(model.config.num_classes))
    row = strip_of(images)
    scale = fit_scale(*row.shape)
    edit = format_edit_spec(strengths) if strengths else ""
    meta = provenance(model, digits=list(range(len(images))), latent=encode_latent(latent),
                      truncation_psi=truncation_psi, edit=edit or "none",
                      strengths=json.dumps(strengths or {}, sort_keys=True), scale=scale,
                      Description="one handwriting written as digits 0-9")
    return Picture(upscale(row, scale), meta, f"style_row_{model.fingerprint[:8]}")


def render_style_morph(model: LoadedModel, latent: torch.Tensor, digit_a: int, digit_b: int,
                       steps: int, truncation_psi: float = 1.0, *,
                       stats: ServingStats = NO_STATS) -> RenderedFrames:
    """The latent's style kept while the digit turns from digit_a into digit_b."""
    with stats.timed("restyle.model"):
        classes = class_path(digit_a, digit_b, steps, model.config.num_classes)
        frames = generate_from_latents(model.generator, latent * truncation_psi, classes).numpy()
    strip = strip_of(frames)
    scale = fit_scale(*strip.shape)
    meta = provenance(model, digit_a=digit_a, digit_b=digit_b, steps=steps,
                      latent=encode_latent(latent), truncation_psi=truncation_psi, scale=scale,
                      Description=f"a handwriting morphing from {digit_a} to {digit_b}")
    stem = f"style_morph{digit_a}-{digit_b}_{model.fingerprint[:8]}"
    return RenderedFrames(Picture(upscale(strip, scale), meta, stem), frames)
