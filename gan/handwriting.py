"""The Draw requests: a visitor's drawing found in latent space, and that handwriting
written as every digit, morphed into another digit, or steered along named directions.

Every picture carries the latent as text (gan.inversion.encode_latent) in its provenance,
so anything made from a drawing can be remade exactly through /restyle.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import numpy as np
import torch

from .directions import DirectionSet, apply_directions, format_edit_spec
from .drawing import prepare_drawing
from .images import upscale
from .inversion import Inversion, encode_latent, invert_drawing, morph, restyle
from .metrics import DigitClassifier, load_classifier
from .model_holder import LoadedModel
from .pictures import DIGIT_SCALE, Picture, fit_scale, provenance, strip_of
from .timing import NO_STATS, ServingStats


class ClassifierCache:
    """The project classifier, loaded once per process (it reads the digit a visitor drew)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._classifier: DigitClassifier | None = None

    def get(self) -> DigitClassifier:
        with self._lock:
            if self._classifier is None:
                self._classifier = load_classifier()
            return self._classifier


@dataclass(frozen=True)
class FoundStyle:
    """What a search of one drawing gives the page: pictures, the reading, the latent."""
    drawing: Picture              # the drawing as the model sees it (MNIST's preprocessing)
    reconstruction: Picture       # the generator's closest image of the searched digit
    reading: dict[str, float]     # the classifier's top 3 of the drawing: {"7": 0.93, ...}
    inversion: Inversion

    @property
    def latent_text(self) -> str:
        return self.inversion.latent_text


def find_style(model: LoadedModel, image: object, digit: int | None, classifier: DigitClassifier, *,
               stats: ServingStats = NO_STATS) -> FoundStyle:
    """Preprocess the drawing, search its latent for `digit` (None: the classifier's reading)."""
    target = prepare_drawing(image)
    with stats.timed("draw.search"):
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
        images = restyle(model.generator, edited, truncation_psi=truncation_psi)
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
                       stats: ServingStats = NO_STATS) -> tuple[Picture, np.ndarray]:
    """The latent's style kept while the digit turns from digit_a into digit_b."""
    with stats.timed("restyle.model"):
        frames = morph(model.generator, latent, digit_a=digit_a, digit_b=digit_b, steps=steps,
                       truncation_psi=truncation_psi).numpy()
    strip = strip_of(frames)
    scale = fit_scale(*strip.shape)
    meta = provenance(model, digit_a=digit_a, digit_b=digit_b, steps=steps,
                      latent=encode_latent(latent), truncation_psi=truncation_psi, scale=scale,
                      Description=f"a handwriting morphing from {digit_a} to {digit_b}")
    return Picture(upscale(strip, scale), meta,
                   f"style_morph{digit_a}-{digit_b}_{model.fingerprint[:8]}"), frames
