"""The app's operations, usable (and tested) without any UI library: validated requests in,
image files with provenance out.

    service = DigitService(ModelHolder("weights"))
    path = service.generate(3, 42, 0.8)     # a PNG file with provenance text chunks
    service.reload()                        # swap in new weights (old kept on failure)

Rules of the road:
- Every public method checks its inputs once, with gan.inputs (and gan.latent.codec for a
  latent), and raises `ValueError` with a message that says what is allowed. Nothing is
  clamped or rounded silently; the library below trusts the checked values.
- A request takes one reference to the served model when it starts and uses only that, so
  a reload never changes the model under a running request.
- Randomness comes from seeds through private generators; the global RNGs are never seeded.
- Output files get unique names in a private folder; nothing is shared between requests.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import NamedTuple

from ..files import OutputFolder
from ..images import gif_bytes, upscale
from ..inputs import (
    MAX_GRID,
    as_choice,
    as_digit,
    as_int,
    as_search_digit,
    as_seed,
    as_steps,
    as_strengths,
    as_truncation,
)
from ..latent.codec import decode_latent
from ..latent.directions import DirectionSet
from ..latent.encoder import Encoder, load_encoder
from ..model.classifier import DigitClassifier, load_classifier
from ..model.sampling import INTERPOLATION_METHODS
from ..model.weights import ENCODER_FILE, WeightsError
from .direction_cache import DirectionCache
from .model_card import ModelCard, build_model_card, how_it_works_markdown, latent_tools_markdown
from .model_holder import LoadedModel, ModelHolder
from .render import (
    GIF_SCALE,
    GRID_MODES,
    Picture,
    RenderedFrames,
    encode_png,
    find_style,
    gif_frame_ms,
    render_digit,
    render_explored,
    render_explored_row,
    render_grid,
    render_interpolation,
    render_restyled,
    render_style_morph,
)
from .stats import ServingStats
from .timeline_view import TimelineCache, curves_png, render_timeline_frame, step_caption

log = logging.getLogger(__name__)


class Animation(NamedTuple):
    """Frames from one image to another: a PNG strip of them and a GIF that plays them."""
    strip: Path
    gif: Path


class ExploreViews(NamedTuple):
    """A digit moved along named directions."""
    digit: Path          # the edited digit
    row: Path | None     # the same edited style as digits 0-9 (None when not asked for)


class TimelineView(NamedTuple):
    caption: str  # the step and what was measured there (Markdown)
    curves: Path  # the run's curves, a marker at the step (PNG)


class DrawResult(NamedTuple):
    """A drawing's handwriting, found in latent space."""
    drawing: Path                # the drawing as the model sees it
    reconstruction: Path         # the generator's closest image
    reading: dict[str, float]    # the classifier's top-3 reading
    latent: str                  # the found latent as text (for /restyle)
    digit: int                   # the digit it was searched as


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


class EncoderCache:
    """The image -> latent encoder of each served model, when its weights folder has one made
    for them (encoder.safetensors): the Draw search then starts from it (about 4x sooner, as
    close). Without one, or with one for other weights, Draw uses the seed-bank search."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_fingerprint: dict[str, Encoder | None] = {}

    def get(self, model: LoadedModel) -> Encoder | None:
        with self._lock:
            if model.fingerprint not in self._by_fingerprint:
                self._by_fingerprint[model.fingerprint] = self._load(model)
            return self._by_fingerprint[model.fingerprint]

    @staticmethod
    def _load(model: LoadedModel) -> Encoder | None:
        if model.folder is None or not (model.folder / ENCODER_FILE).is_file():
            return None
        try:
            return load_encoder(model.folder, generator=model.generator)
        except WeightsError as exc:  # e.g. an encoder left from earlier weights
            log.warning("not using %s: %s", model.folder / ENCODER_FILE, exc)
            return None


class DigitService:
    """The app's operations on top of a ModelHolder: validated inputs, files out.

    `auto_reload_s`: before a request, check at most this often whether the weight files
    changed and swap them in (None: only on explicit reload()).
    """

    def __init__(self, holder: ModelHolder, *, output: OutputFolder | None = None,
                 stats: ServingStats | None = None, auto_reload_s: float | None = 5.0,
                 directions: DirectionCache | None = None):
        self.holder = holder
        self.output = output or OutputFolder()
        self.stats = stats or ServingStats()
        self.auto_reload_s = auto_reload_s
        self.directions = directions or DirectionCache()
        self.classifier = ClassifierCache()
        self.encoders = EncoderCache()
        self.timelines = TimelineCache()

    def model(self) -> LoadedModel:
        if self.auto_reload_s is not None:
            self.holder.reload_if_changed(self.auto_reload_s)
        return self.holder.current()

    def write_png(self, kind: str, picture: Picture) -> Path:
        """Encode `picture` with its provenance and write it to the output folder (timed)."""
        with self.stats.timed(f"{kind}.encode"):
            data = encode_png(picture.pixels, picture.metadata)
        with self.stats.timed(f"{kind}.write"):
            return self.output.write(picture.stem, ".png", data)

    def generate(self, digit: object, seed: object, truncation_psi: object = 1.0) -> Path:
        """One digit as a PNG (280x280, nearest-neighbour upscaled) with provenance."""
        with self.stats.timed("generate.handler"):
            model = self.model()
            digit = as_digit(digit, num_classes=model.config.num_classes)
            seed, psi = as_seed(seed), as_truncation(truncation_psi)
            return self.write_png("generate", render_digit(model, digit, seed, psi, stats=self.stats))

    def grid(self, rows: object, cols: object, seed: object, mode: object = GRID_MODES[0],
             digit: object = 0, truncation_psi: object = 1.0) -> Path:
        """A rows x cols grid as a PNG with provenance (see `grid_cells` for the modes)."""
        with self.stats.timed("grid.handler"):
            model = self.model()
            rows, cols = as_int(rows, "rows", 1, MAX_GRID), as_int(cols, "cols", 1, MAX_GRID)
            seed = as_seed(seed)
            mode = as_choice(mode, "mode", GRID_MODES)
            digit = as_digit(digit, num_classes=model.config.num_classes)
            psi = as_truncation(truncation_psi)
            return self.write_png("grid", render_grid(model, rows, cols, seed, mode, digit, psi,
                                                      stats=self.stats))

    def interpolate(self, digit_a: object, seed_a: object, digit_b: object, seed_b: object,
                    steps: object = 12, method: object = "slerp",
                    truncation_psi: object = 1.0) -> Animation:
        """The frames from A to B: a PNG strip and an animated GIF playing A -> B -> A."""
        with self.stats.timed("interpolate.handler"):
            model = self.model()
            n = model.config.num_classes
            digit_a, seed_a = as_digit(digit_a, "digit_a", n), as_seed(seed_a, "seed_a")
            digit_b, seed_b = as_digit(digit_b, "digit_b", n), as_seed(seed_b, "seed_b")
            steps = as_steps(steps)
            method = as_choice(method, "method", INTERPOLATION_METHODS)
            psi = as_truncation(truncation_psi)
            rendered = render_interpolation(model, digit_a, seed_a, digit_b, seed_b, steps,
                                            method, psi, stats=self.stats)
            return self._animation("interpolate", rendered)

    def _animation(self, kind: str, rendered: RenderedFrames) -> Animation:
        return Animation(self.write_png(kind, rendered.strip),
                         self.write_gif(kind, rendered.strip, rendered.frames))

    def write_gif(self, kind: str, strip: Picture, frames) -> Path:
        """The frames as a GIF playing forward and back, with the strip's provenance as JSON
        in the GIF comment (GIF has no key-value text chunks)."""
        with self.stats.timed(f"{kind}.encode"):
            gif = gif_bytes([upscale(f, GIF_SCALE) for f in frames],
                            duration_ms=gif_frame_ms(len(frames)), bounce=True,
                            comment=json.dumps(strip.metadata, sort_keys=True))
        return self.output.write(strip.stem, ".gif", gif)

    def latent_directions(self) -> DirectionSet:
        """The served model's named directions (the Explore tab's sliders); for new weights
        without directions.json, the unmeasured closed-form ones until the measured set,
        searched in the background, is ready (`directions.measured` tells which)."""
        return self.directions.get(self.model())

    def explore(self, digit: object, seed: object, strengths: object,
                truncation_psi: object = 1.0) -> Path:
        """One digit moved along named directions: a PNG with the edit in its provenance.

        `strengths`: a list with one number per direction (in the order of
        `latent_directions()`), an object keyed by direction name, or JSON text of either."""
        return self.explore_views(digit, seed, strengths, truncation_psi, row=False).digit

    def explore_views(self, digit: object, seed: object, strengths: object,
                      truncation_psi: object = 1.0, *, row: bool = True) -> ExploreViews:
        """The edited digit, and with `row` the same edited style as digits 0-9."""
        with self.stats.timed("explore.handler"):
            model = self.model()
            digit = as_digit(digit, num_classes=model.config.num_classes)
            seed, psi = as_seed(seed), as_truncation(truncation_psi)
            directions = self.directions.get(model)
            strengths = as_strengths(strengths, directions.names)
            edited = self.write_png("explore", render_explored(model, directions, digit, seed, strengths, psi,
                                                               stats=self.stats))
            if not row:
                return ExploreViews(edited, None)
            return ExploreViews(edited, self.write_png("explore", render_explored_row(
                model, directions, seed, strengths, psi, stats=self.stats)))

    def draw(self, image: object, digit: object = None) -> DrawResult:
        """Find a drawing's handwriting (see DrawResult). `digit`: the class to search with;
        None (or "auto") = what the classifier reads."""
        with self.stats.timed("draw.handler"):
            model = self.model()
            digit = as_search_digit(digit, model.config.num_classes)
            found = find_style(model, image, digit, self.classifier.get(), encoder=self.encoders.get(model),
                               stats=self.stats)
            return DrawResult(drawing=self.write_png("draw", found.drawing),
                              reconstruction=self.write_png("draw", found.reconstruction),
                              reading=found.reading, latent=found.latent_text, digit=found.inversion.digit)

    def restyle(self, latent: object, truncation_psi: object = 1.0, strengths: object = None) -> Path:
        """A latent (text from /draw, or a list of z_dim numbers) written as digits 0-9, with
        optional strengths along the named directions (as for /explore)."""
        with self.stats.timed("restyle.handler"):
            model = self.model()
            z = decode_latent(latent, model.config.z_dim)
            psi = as_truncation(truncation_psi)
            directions = edit = None
            if strengths not in (None, "", "{}", []):
                directions = self.directions.get(model)
                edit = as_strengths(strengths, directions.names)
            return self.write_png("restyle", render_restyled(model, z, psi, directions=directions,
                                                             strengths=edit, stats=self.stats))

    def style_morph(self, latent: object, digit_a: object, digit_b: object, steps: object = 12,
                    truncation_psi: object = 1.0) -> Animation:
        """One handwriting morphing from digit_a into digit_b: a PNG strip and a GIF."""
        with self.stats.timed("morph.handler"):
            model = self.model()
            n = model.config.num_classes
            z = decode_latent(latent, model.config.z_dim)
            digit_a, digit_b = as_digit(digit_a, "digit_a", n), as_digit(digit_b, "digit_b", n)
            steps, psi = as_steps(steps), as_truncation(truncation_psi)
            return self._animation("morph", render_style_morph(model, z, digit_a, digit_b, steps, psi,
                                                               stats=self.stats))

    def timeline_steps(self) -> list[int]:
        """The steps of the served weights' training timeline; TimelineError (a ValueError)
        saying why there is none and how to get one."""
        return [int(step) for step in self.timelines.get(self.model()).steps]

    def _timeline_frame(self, step: object):
        model = self.model()
        timeline = self.timelines.get(model)
        step = as_int(step, "step", 0, int(timeline.steps[-1]))
        return model, timeline, timeline.index_of(step)

    def timeline(self, step: object) -> Path:
        """The training timeline at `step` (one of `timeline_steps()`): a 10x10 grid PNG with
        /grid's layout and provenance plus a `step` text chunk; ValueError for a step the
        timeline lacks, naming the nearest ones."""
        with self.stats.timed("timeline.handler"):
            model, timeline, index = self._timeline_frame(step)
            return self.write_png("timeline", render_timeline_frame(model, timeline, index))

    def timeline_view(self, step: object) -> TimelineView:
        """What the Learn tab shows beside a step's grid: its caption and the curves (a PNG)
        with a marker at that step."""
        model, timeline, index = self._timeline_frame(step)
        curves = self.output.write(f"timeline_curves_step{int(timeline.steps[index])}_{model.fingerprint[:8]}",
                                   ".png", curves_png(timeline, index))
        return TimelineView(step_caption(timeline, index), curves)

    def reload(self) -> str:
        """Reload the weights folder now; WeightsError (a ValueError) if the new weights are
        invalid, in which case the old model keeps serving."""
        return self.holder.reload().message

    def model_card(self) -> ModelCard:
        model = self.model()
        return build_model_card(model, self.output, last_error=self.holder.last_error)

    def how_it_works(self) -> str:
        return how_it_works_markdown(self.model()) + "\n\n" + latent_tools_markdown()
