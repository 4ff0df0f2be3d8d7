"""What the app says about the served model: the Model tab's card and "How it works".

Every number comes from the loaded config, training.json and metrics.json next to the
weights, and the settings of the direction search and the Draw search, so the text stays
true when the model or a setting changes.
"""
from __future__ import annotations

import contextlib
import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ..config import ModelConfig
from ..files import JsonFileError, OutputFolder, read_json
from ..latent.direction_search import FULL_SEARCH
from ..latent.encoder_search import EncoderSearchSettings
from ..latent.inversion import InversionSettings
from ..model.card import measured_lines, model_card, training_lines
from ..model.networks import Discriminator, count_parameters
from ..model.weights import LOSS_CURVE_FILE, METRICS_FILE, NEIGHBOURS_FILE, PROGRESS_GIF, SAMPLES_FILE, TRAINING_FILE
from .model_holder import LoadedModel


@dataclass(frozen=True)
class ModelCard:
    """What the Model tab shows about the served weights."""
    markdown: str
    details: dict[str, Any]
    images: dict[str, Path | None]   # samples, loss_curve, progress, nearest_neighbours


class SideFile(NamedTuple):
    """A JSON object beside the weights, as the app reads it: never an error, at most a note."""
    data: dict | None       # None: not there, or broken
    problem: str | None     # what is wrong with it, when it is broken


_SIDE_FILE_NAMES = {TRAINING_FILE: "the training record", METRICS_FILE: "the evaluation report"}


def read_side_file(path: Path) -> SideFile:
    try:
        return SideFile(read_json(path, what=_SIDE_FILE_NAMES.get(path.name, "the file"), missing=None), None)
    except JsonFileError as exc:
        return SideFile(None, f"{path.name} could not be read: {exc.reason}")


def _compact(obj: Any, max_list: int = 20) -> Any:
    """JSON for display: long lists (e.g. nearest-neighbour indices) are summarised."""
    if isinstance(obj, dict):
        return {k: _compact(v, max_list) for k, v in obj.items()}
    if isinstance(obj, list) and len(obj) > max_list:
        return f"[{len(obj)} values]"
    if isinstance(obj, list):
        return [_compact(v, max_list) for v in obj]
    return obj


def _weights_lines(model: LoadedModel, last_error: str | None) -> list[str]:
    source = f"the Hub repo `{model.hub_ref}`" if model.hub_ref else f"`{model.folder}`"
    lines = [f"**Weights** `{model.fingerprint}`"
             + (f" from {source}" if model.folder else " (in memory)")
             + f", loaded {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(model.loaded_at))}", "",
             f"**Generator** {count_parameters(model.generator):,} parameters; config "
             + ", ".join(f"{k}={v}" for k, v in model.config.to_dict().items())]
    if last_error:
        lines += ["", f"**Last reload failed** (still serving the weights above): {last_error}"]
    return lines


def _training_lines(training: SideFile) -> list[str]:
    if training.problem:
        return [f"*{training.problem}*"]
    if training.data is None:
        return ["No training.json next to the weights."]
    return training_lines(training.data) or ["training.json names no command and no facts."]


def _measured_lines(metrics: SideFile, fingerprint: str) -> list[str]:
    if metrics.problem:
        return [f"*{metrics.problem}*"]
    if metrics.data is None:
        return ["No metrics.json yet (`python -m gan.evaluate` writes it)."]
    return measured_lines(metrics.data, fingerprint) or ["metrics.json holds none of the headline numbers."]


def _training_pictures(folder: Path, fingerprint: str, output: OutputFolder) -> dict[str, Path | None]:
    """Copies of the run's pictures beside the weights, in the output folder (None: absent)."""
    images: dict[str, Path | None] = {}
    for key, name in (("samples", SAMPLES_FILE), ("loss_curve", LOSS_CURVE_FILE),
                      ("progress", PROGRESS_GIF), ("nearest_neighbours", NEIGHBOURS_FILE)):
        source, images[key] = folder / name, None
        if source.is_file():
            with contextlib.suppress(OSError):
                images[key] = output.write(f"{Path(name).stem}_{fingerprint[:8]}", source.suffix,
                                           source.read_bytes())
    return images


def build_model_card(model: LoadedModel, output: OutputFolder, *, last_error: str | None = None) -> ModelCard:
    """The Model tab's card (made by gan.model.card.model_card, as the Hub card is), its
    details as JSON, and the training pictures beside the weights."""
    details: dict[str, Any] = {"weights_sha256": model.fingerprint,
                               "folder": str(model.folder) if model.folder else None,
                               "config": model.config.to_dict()}
    if model.hub_ref:
        details["hub"] = model.hub_ref
    sections = [(None, _weights_lines(model, last_error))]
    images: dict[str, Path | None] = dict.fromkeys(("samples", "loss_curve", "progress", "nearest_neighbours"))
    folder = model.folder
    if folder is not None:
        training, metrics = read_side_file(folder / TRAINING_FILE), read_side_file(folder / METRICS_FILE)
        for key, side in (("training", training), ("metrics", metrics)):
            if side.data is not None:
                details[key] = _compact(side.data)
        sections += [("Training", _training_lines(training)),
                     ("Measured (metrics.json)", _measured_lines(metrics, model.fingerprint))]
        images = _training_pictures(folder, model.fingerprint, output)
    return ModelCard(model_card(sections, level=3), details, images)


class DiscriminatorShape(NamedTuple):
    parameters: int
    features: int    # the width of the features h that D's heads see


@functools.lru_cache(maxsize=8)
def _discriminator_shape(config: ModelConfig) -> DiscriminatorShape:
    """Read off a built D."""
    d = Discriminator(config)
    return DiscriminatorShape(count_parameters(d), d.aux.in_features)


class TrainingRecord(NamedTuple):
    training: dict   # training.json next to the weights
    config: dict     # its train_config


def _training_record(model: LoadedModel) -> TrainingRecord | None:
    """training.json next to the weights and its train_config, or None if either is missing."""
    training = read_side_file(model.folder / TRAINING_FILE).data if model.folder else None
    cfg = training.get("train_config") if training is not None else None
    return TrainingRecord(training, cfg) if isinstance(cfg, dict) else None


def _r1_term(record: TrainingRecord | None) -> str:
    """The R1 line of the objective, when these weights were trained with it."""
    gamma = record.config.get("r1_gamma") if record else None
    if not (isinstance(gamma, (int, float)) and gamma > 0):
        return ""
    return f"\n    d_loss += {gamma:g}/2 · E‖∇ₓ D(x, y)‖²   (R1: keeps D's gradient on real images small)"


def _training_line(record: TrainingRecord | None) -> str:
    """How these weights were trained, from training.json next to them (if it is there)."""
    if record is None:
        return "*(No training.json next to these weights, so their training settings are unknown.)*"
    training, cfg = record.training, record.config
    parts = [f"{training['step']:,} steps" if isinstance(training.get("step"), int) else None,
             f"batch {cfg['batch_size']}" if "batch_size" in cfg else None,
             f"aux_weight = {cfg['aux_weight']}" if "aux_weight" in cfg else None,
             f"EMA decay {cfg['ema_beta']}" if "ema_beta" in cfg else None,
             f"Adam lr {cfg.get('lr_g')} (G) / {cfg.get('lr_d')} (D)" if "lr_g" in cfg else None,
             f"R1 γ = {cfg['r1_gamma']:g} every {cfg.get('r1_every')} D steps" if cfg.get("r1_gamma") else None]
    return "These weights: " + ", ".join(p for p in parts if p) + " (from training.json)."


def how_it_works_markdown(model: LoadedModel) -> str:
    """A short, correct description of the served model; every number comes from its config.

    Longer than the usual function limit: it is one page of text with the numbers filled in.
    """
    c = model.config
    training = _training_record(model)  # read once: the objective and the training line
    r1_term = _r1_term(training)
    g_params = count_parameters(model.generator)
    discriminator = _discriminator_shape(c)
    d_params, features = discriminator.parameters, discriminator.features
    g2, d2 = 2 * c.g_width, 2 * c.d_width
    stddev = features == (d2 + 1) * 7 * 7  # D appends a minibatch standard-deviation channel
    stddev_text = (", plus one channel holding the standard deviation of the features across "
                   "a small group of samples (*minibatch stddev*: it lets D see when the fakes "
                   "lack variety)" if stddev else "")
    normalised = ("Everything but the classifier head is spectrally normalised." if c.d_spectral_norm
                  else "It uses no spectral normalisation.")
    return f"""
### What is served

A **class-conditional GAN** for {c.img_size}x{c.img_size} grey digits. Only the generator
G ({g_params:,} parameters) is served; the discriminator D ({d_params:,} parameters) is
needed for training only.

**Generator.** A seed picks the latent: `z ~ N(0, I)` of {c.z_dim} numbers, drawn by a private
random generator seeded with it, on the CPU, so a seed means the same image everywhere. The
digit goes through a {c.num_classes}-to-{c.embed_dim} bias-free linear layer (a class embedding that can
also take mixtures of classes). `[z, embedding]` ({c.z_dim + c.embed_dim} numbers) → linear →
{g2}×7×7 → BatchNorm, ReLU → transposed conv 4×4 stride 2 → {c.g_width}×14×14 → BatchNorm, ReLU
→ transposed conv → 1×28×28 → tanh. The app shows it upscaled by nearest neighbour, pixel for pixel.

**Discriminator.** conv 4×4 stride 2 → {c.d_width}×14×14 → conv 4×4 stride 2 → {d2}×7×7
(LeakyReLU 0.2 after each){stddev_text} → features `h` ({features:,} numbers), then two heads:
the real/fake logit `D(x, y) = linear(h) + ⟨embed(y), h⟩` (a *projection discriminator*) and
class logits `C(x)` (an *auxiliary classifier*, as in AC-GAN).
{normalised}

**Objective** (non-saturating logistic GAN plus the auxiliary class loss{", and R1" if r1_term else ""}):

    d_loss = softplus(-D(x, y)) + softplus(D(G(z, y'), y')) + aux_weight · CE(C(x), y)
    g_loss = softplus(-D(G(z, y'), y'))                     + aux_weight · CE(C(G(z, y')), y'){r1_term}

x, y are real images and their labels, y' the labels G is asked to draw (in training, the same
labels as the real half, in groups of same-digit images, so that the minibatch stddev compares
the variety of real and fake images of one digit). D's classifier learns from
real images only, so it cannot be taught to accept bad fakes; G is pushed to make fakes that D
calls real *and* classifies as the asked-for digit.

{_training_line(training)}

**What you get is an average.** The served weights are an exponential moving average (EMA)
of G's weights during training, which is smoother than the last training step. No batch
statistics were ever computed for averaged weights, so G's BatchNorm statistics are
recalibrated on samples of the EMA generator before export; at serving time G is in eval mode
and every image depends only on its own (digit, seed).

**Truncation ψ.** The latent is scaled toward its mean: `z ← ψ·z`. ψ = 1 is the model as
trained; smaller ψ gives cleaner, more typical and less varied digits; ψ = 0 gives one
"average" image per digit.

**Interpolation.** The latent walks from seed A's z to seed B's z, either in a straight line
(**lerp**) or along the sphere (**slerp**: the direction follows the great circle, the length
is interpolated linearly). Gaussian latents in {c.z_dim} dimensions lie near a sphere of radius
√{c.z_dim} ≈ {math.sqrt(c.z_dim):.1f}; lerp cuts through the inside where the midpoints are
washed out, slerp stays where training samples lived. The class input moves linearly from
digit A's one-hot vector to digit B's, so the embedding blends the two: a 3 morphs into an 8.

**Grids.** "one digit per row" gives column c the seed `base + c` in every row: the same z,
different digits, so a column shows one handwriting style across all digits.
""".strip()


def latent_tools_markdown() -> str:
    """Explore and Draw in a few paragraphs, with the numbers of the settings they use."""
    search, inversion, encoder = FULL_SEARCH, InversionSettings(), EncoderSearchSettings()
    return f"""
**Explore: named directions.** The sliders move z along directions found in G's first layer
(SeFa: the eigenvectors of AᵀA, A the weights that act on z). Each was measured on {search.samples_per_digit * 10}
samples of all ten digits moved by ±{search.strength:g}: slant, stroke thickness, width, height, ink area and
stroke length, in standard deviations of real MNIST, and how often the classifier then reads
another digit. A direction is named after the property it moves most when that effect
clearly dominates; within the leading {search.candidates}, each property gets the combination that moves it
while holding the others still. A strength is in standard deviations of z along the
direction (±3 is the edge of what G saw in training), added after truncation.

**Draw: your handwriting in latent space.** Your drawing is made into an MNIST digit the way
MNIST's were (ink box scaled to 20×20, centred by mass in 28×28). Then the class input is
fixed to the digit and z alone is searched: the best {inversion.restarts} of the first
{inversion.candidates} seeds are refined together by {inversion.steps} Adam steps on pixel error +
{inversion.feature_weight:g} × the error in our classifier's features + a prior that keeps |z|
where Gaussian latents live; the closest wins. z now holds your
handwriting and the class input the digit, so the same z drawn for 0-9 writes every digit in
your hand. When the weights come with an encoder (`encoder.safetensors`, trained against this
generator to map a digit to its z), the search starts from the encoder's z instead and takes
{encoder.polish_steps} Levenberg-Marquardt steps on the same loss, with forward passes only: as close, and
several times sooner. The same drawing always gives the same z, and every image made from it
carries z as text, so it can be made again exactly.
""".strip()
