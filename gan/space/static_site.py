"""The whole demo as a static web site: `python -m gan.space OUT --kind static`.

OUT holds index.html with its JS and CSS (gan/space/web/), the generator, the digit
classifier and (when there is one) the image -> latent encoder as ONNX in models/, the named
directions and the model card data as JSON, the training timeline (timeline.json and the frames
as timeline.bin, when the weights folder has a timeline of these weights), the views a link
may name (site.json's "views", gan.serving.views.view_spec), the onnxruntime-web files in ort/,
and a README.md whose front matter makes the folder a static Hugging Face Space. Everything is same-origin
and nothing is built on the Space: `python -m http.server -d OUT` serves it as is.

The WebAssembly runtime and the models are written gzip-compressed (`*.gz`, listed in site.json's
"compressed"; its "sha256" is of the inflated bytes): the page inflates them itself, so a host
that does not compress saves the transfer all the same. preview.png is the page's default digit
drawn by the Python generator, shown before anything else is loaded.

The folder is assembled beside OUT and swapped in at the end, so a failed export leaves the
previous one untouched; OUT must be empty, absent, or an earlier export.
"""
from __future__ import annotations

import gzip
import importlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch.nn as nn

from ..files import file_sha256
from ..latent.direction_search import QUICK_SEARCH, load_directions
from ..latent.directions import DirectionSet, stored_directions
from ..model.classifier import load_classifier
from ..model.networks import Generator, count_parameters
from ..model.timeline import CURVES, TimelineError, load_timeline
from ..model.weights import (
    DIRECTIONS_FILE,
    METRICS_FILE,
    TIMELINE_FILE,
    TRAINING_FILE,
    WeightsError,
    load_generator,
    weights_fingerprint,
)
from ..serving.model_card import _compact
from ..serving.timeline_view import EXPLANATION, step_caption
from ..serving.views import VIEWS, view_spec
from . import ort_web
from .onnx_export import (
    CLASSIFIER_NAME,
    ENCODER_NAME,
    GENERATOR_NAME,
    JACOBIAN_NAME,
    ExportError,
    copy_encoder,
    export_classifier,
    export_encoder,
    export_generator,
    export_jacobian,
)

WEB_SOURCES = Path(__file__).parent / "web"
SITE_MANIFEST = "site.json"       # what the page loads; also marks a folder as an export
MODEL_CARD_FILE = "model_card.json"
ENCODER_WEIGHTS = "encoder.safetensors"  # the trained encoder beside the weights (gan.latent.encoder)
ENCODER_MODULE = "gan.latent.encoder"
TIMELINE_DATA = "timeline.json"   # the timeline's steps, seeds, curves, captions and explanation
TIMELINE_FRAMES = "timeline.bin"  # its frames: uint8 [T, K, S, H, W], frame-major, digit-major then seed
SITE_FORMAT = 4                   # 2: site.json carries the page's constants; 3: its views and timeline;
                                  # 4: gzip-compressed models and runtime ("compressed"), the preview
PREVIEW_FILE = "preview.png"      # the default view's digit, drawn by Python, shown before the engine is up
PREVIEW_TAB = "generate"          # the tab the page opens on, whose default digit the preview is
RUNTIME_WASM = f"ort/{ort_web.WASM}"   # the WebAssembly the page hands to onnxruntime-web itself
GZIP_LEVEL = 9
# The Python constants the page works by, written into site.json's "constants" at export time:
# section -> (module, names); each is stored under its name in lower case
# (gan.inputs.MAX_SEED -> constants["inputs"]["max_seed"]). The page has no copies of them.
PAGE_CONSTANTS = {
    "inputs": ("gan.inputs", (
        "MAX_SEED", "MAX_TRUNCATION", "TRUNCATION_NOTE", "DEFAULT_TRUNCATION", "TRUNCATION_STEP",
        "MAX_GRID", "DEFAULT_GRID", "MIN_STEPS", "MAX_STEPS", "DEFAULT_STEPS", "AUTO_DIGIT",
        "MAX_DIRECTION_STRENGTH", "STRENGTH_STEP", "STRENGTH_NOTE", "MAX_IMAGE_PIXELS", "IMAGE_CHANNELS",
        "MAX_SHOWN")),
    "drawing": ("gan.latent.drawing", (
        "DIGIT_BOX", "FIELD", "CENTRE", "WORKING_SIDE", "MIN_CONTRAST", "NOISE_FLOOR", "BOX_THRESHOLD",
        "MIN_DIGIT_FRACTION", "MIN_DIGIT_PIXELS", "MAX_INK_FRACTION", "GREY_WEIGHTS")),
    "encoder_search": ("gan.latent.encoder_search", (
        "SAMPLING_ROUNDS", "PAGE_POLISH_STEPS", "PAGE_POLISH_DAMPING", "PAGE_PRIOR_WEIGHT", "DAMPING_FACTORS")),
    "inversion": ("gan.latent.inversion", ("TYPICAL_NORM_SPREAD",)),
    "codec": ("gan.latent.codec", ("LATENT_PREFIX", "LATENT_NORM_FACTOR", "LATENT_NORM_MARGIN")),
    "render": ("gan.serving.render", ("GRID_MODES", "DIGIT_SCALE", "TARGET_SIDE", "MAX_SCALE",
                                      "STRIP_COLUMNS", "SOFTWARE")),
    "onnx_export": ("gan.space.onnx_export", ("MAX_BATCH",)),
    "views": ("gan.serving.views", ("MAX_LATENT_TEXT",)),
}
# The Python runtime's own limits that the page reads links by: int() refuses decimal texts of
# more digits than this (sys.set_int_max_str_digits), so a link's longer number is read as float().
RUNTIME_CONSTANTS = {"python": {"int_max_str_digits": sys.get_int_max_str_digits}}
LARGEST_PAGE_SEED = 2**32 - 1     # latents.js seeds MT19937 with 32 bits, as torch's CPU generator does
# What the Space sends with every file so that the page is cross-origin isolated (wasm threads).
ISOLATION_HEADERS = {"cross-origin-embedder-policy": "require-corp", "cross-origin-opener-policy": "same-origin",
                     "cross-origin-resource-policy": "cross-origin"}
SPACE_FRONT_MATTER = """---
title: DigitGAN
emoji: ✏️
colorFrom: gray
colorTo: indigo
sdk: static
app_file: index.html
pinned: false
short_description: Handwritten digits from a GAN, made in your browser
custom_headers:
""" + "".join(f"  {name}: {value}\n" for name, value in ISOLATION_HEADERS.items()) + "---\n"


@dataclass
class StaticSite:
    """What an export wrote, for the CLI's report and for tests."""
    folder: Path
    weights_sha256: str
    files: dict[str, int] = field(default_factory=dict)      # relative path -> bytes
    checks: dict[str, dict] = field(default_factory=dict)    # model -> its parity figures
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())


# ----------------------------------------------------------------------------- inputs

def find_directions_for(weights: Path, generator: Generator) -> DirectionSet:
    """The named directions of the weights in `weights`: their directions.json when it was
    made for them, else found again by the quick search the app also falls back on."""
    return load_directions(weights, generator, settings=QUICK_SEARCH)


def load_encoder_module(weights: Path, generator: Generator) -> nn.Module | None:
    """The image -> latent encoder stored next to the weights as encoder.safetensors, as a
    torch module with the interface of onnx_export.export_encoder; None when there is none,
    or when this checkout has no gan.latent.encoder to read it (then Draw says it needs one).
    A stored encoder that does not load raises its loader's WeightsError."""
    if not (weights / ENCODER_WEIGHTS).is_file():
        return None
    try:
        from ..latent.encoder import load_encoder
    except ModuleNotFoundError as exc:
        if exc.name != ENCODER_MODULE:
            raise  # the encoder module is there but needs something missing: say so
        return None
    return load_encoder(weights, generator=generator)


def _json_or_none(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def model_card_data(weights: Path, generator: Generator, fingerprint: str) -> dict:
    """The About tab's numbers: config, size, training facts and metrics.json as they are."""
    training = _json_or_none(weights / TRAINING_FILE)
    metrics = _json_or_none(weights / METRICS_FILE)
    facts = {k: training[k] for k in ("step", "seed", "wall_time_minutes", "device")
             if training and k in training}
    return {"weights_sha256": fingerprint, "config": generator.config.to_dict(),
            "generator_parameters": count_parameters(generator),
            "training": facts or None,
            "train_config": _compact(training.get("train_config")) if training else None,
            "metrics": _compact(metrics) if metrics else None,
            "metrics_match_weights": bool(metrics) and metrics.get("weights_sha256") in (None, fingerprint)}


def _as_json(value: object) -> object:
    return [_as_json(v) for v in value] if isinstance(value, (tuple, list)) else value


def site_constants() -> dict[str, dict[str, object]]:
    """The page's limits and constants as the Python modules hold them now (see PAGE_CONSTANTS),
    read at call time, so the export writes whatever the library works by."""
    constants = {section: {name.lower(): _as_json(getattr(importlib.import_module(module), name))
                           for name in names}
                 for section, (module, names) in PAGE_CONSTANTS.items()}
    constants.update({section: {name: read() for name, read in values.items()}
                      for section, values in RUNTIME_CONSTANTS.items()})
    if constants["inputs"]["max_seed"] > LARGEST_PAGE_SEED:
        raise ValueError(f"gan.inputs.MAX_SEED is {constants['inputs']['max_seed']}, but the page makes "
                         f"the latents of seeds up to {LARGEST_PAGE_SEED} only (32-bit MT19937 seeds, "
                         "as torch's CPU generator takes them)")
    return constants


def _without_folder(text: str, weights: Path) -> str:
    """`text` with the weights folder's local path cut to its name: a site is public."""
    for where in {str(weights), str(weights.resolve())}:
        text = text.replace(where, weights.name or "weights")
    return text


def _write_timeline(stage: Path, weights: Path, generator: Generator, site: StaticSite) -> dict:
    """timeline.json and timeline.bin when `weights` has a timeline of these weights (loaded
    with the generator, so one of other weights is refused); the manifest's "timeline" entry,
    which says why there is none otherwise."""
    try:
        timeline = load_timeline(weights, generator=generator)
    except TimelineError as exc:
        reason = _without_folder(str(exc), weights)
        site.notes.append(f"no training timeline on the Learn tab: {reason}")
        return {"available": False, "reason": reason,
                "advice": f"train.py writes {TIMELINE_FILE} beside the weights at every export; export the "
                          "site again from weights that have one"}
    shape = [int(n) for n in timeline.frames.shape]
    (stage / TIMELINE_FRAMES).write_bytes(timeline.frames.astype("uint8", copy=False).tobytes(order="C"))
    data = {"steps": [int(s) for s in timeline.steps], "seeds": [int(s) for s in timeline.seeds],
            "shape": shape, "curves": list(CURVES), "metrics": timeline.metrics(),
            "captions": [step_caption(timeline, i) for i in range(len(timeline))],
            "explanation": EXPLANATION}
    (stage / TIMELINE_DATA).write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    return {"available": True, "data": TIMELINE_DATA, "frames": TIMELINE_FRAMES, "shape": shape}


# ----------------------------------------------------------------------------- the export

def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; the export writes a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / SITE_MANIFEST).is_file():
        raise ValueError(f"{out} is neither empty nor an earlier export (no {SITE_MANIFEST}); "
                         "choose an empty or new folder")


def _write_models(stage: Path, weights: Path, generator: Generator, site: StaticSite,
                  log: Callable[[str], None]) -> dict:
    models = stage / "models"
    models.mkdir()
    z_dim = generator.config.z_dim
    log("exporting the generator to ONNX and checking it against PyTorch ...")
    site.checks["generator"] = export_generator(generator, models / GENERATOR_NAME)
    entries = {"generator": GENERATOR_NAME}
    try:
        classifier = load_classifier()
    except FileNotFoundError as exc:
        site.notes.append(f"no classifier ({exc}): Draw cannot read drawings")
    else:
        log("exporting the digit classifier ...")
        site.checks["classifier"] = export_classifier(classifier, models / CLASSIFIER_NAME)
        entries["classifier"] = CLASSIFIER_NAME
    if (weights / ENCODER_NAME).is_file():
        site.checks["encoder"] = copy_encoder(weights / ENCODER_NAME, models / ENCODER_NAME, z_dim=z_dim)
        entries["encoder"] = ENCODER_NAME
    else:
        encoder = load_encoder_module(weights, generator)
        if encoder is not None:
            log("exporting the encoder ...")
            site.checks["encoder"] = export_encoder(encoder, models / ENCODER_NAME, z_dim=z_dim)
            entries["encoder"] = ENCODER_NAME
        elif (weights / ENCODER_WEIGHTS).is_file():
            site.notes.append(f"{weights / ENCODER_WEIGHTS} is there, but this checkout has no "
                              f"{ENCODER_MODULE} to read it: the page's Draw tab says that it needs "
                              "the encoder")
        else:
            site.notes.append(f"no {ENCODER_WEIGHTS} or {ENCODER_NAME} in {weights}: the page's Draw "
                              "tab says that it needs the encoder")
    if "encoder" in entries:  # Draw's search steps, loaded with the encoder
        log("exporting the generator's Jacobian ...")
        site.checks["jacobian"] = export_jacobian(generator, models / JACOBIAN_NAME)
        entries["jacobian"] = JACOBIAN_NAME
    return {name: f"models/{file}" for name, file in entries.items()}


def _assemble(stage: Path, weights: Path, site: StaticSite, log: Callable[[str], None]) -> None:
    generator = load_generator(weights)
    fingerprint = site.weights_sha256
    if stored_directions(weights, generator, fingerprint) is None:
        log(f"no {DIRECTIONS_FILE} for these weights: finding the named directions (quick search) ...")
        site.notes.append(f"directions found by the quick search (no matching {DIRECTIONS_FILE})")
    directions = find_directions_for(weights, generator).to_json()
    shutil.copytree(WEB_SOURCES, stage, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.tmp"))
    models = _write_models(stage, weights, generator, site, log)
    log(f"adding {ort_web.PACKAGE}@{ort_web.VERSION} ...")
    (stage / "ort").mkdir()
    for name, source in ort_web.ort_web_files().items():
        shutil.copyfile(source, stage / "ort" / name)
    (stage / "ort" / "NOTICE.txt").write_text(
        f"{', '.join(ort_web.FILES)}: from the npm package {ort_web.PACKAGE}@{ort_web.VERSION}, "
        f"unchanged ({ort_web.WASM} gzip-compressed as {ort_web.WASM}.gz).\n"
        f"{ort_web.PACKAGE} is Copyright (c) Microsoft Corporation, {ort_web.LICENSE} License.\n")
    (stage / DIRECTIONS_FILE).write_text(json.dumps(directions, indent=1) + "\n")
    preview = write_preview(stage / PREVIEW_FILE, generator)
    (stage / MODEL_CARD_FILE).write_text(
        json.dumps(model_card_data(weights, generator, fingerprint), indent=1) + "\n")
    timeline = _write_timeline(stage, weights, generator, site)
    checked = [*models.values(), *((timeline["data"], timeline["frames"]) if timeline["available"] else ())]
    sha256 = {path: file_sha256(stage / path) for path in [*checked, RUNTIME_WASM]}
    compressed = {path: _gzip_in_place(stage, path) for path in [*models.values(), RUNTIME_WASM]}
    manifest = {"format_version": SITE_FORMAT, "weights_sha256": fingerprint,
                "config": generator.config.to_dict(), "models": models,
                "sha256": sha256, "compressed": compressed,
                "runtime": {"wasm": RUNTIME_WASM}, "preview": preview,
                "directions": DIRECTIONS_FILE, "model_card": MODEL_CARD_FILE, "timeline": timeline,
                "views": view_spec([d["name"] for d in directions["directions"]]),
                "onnxruntime_web": {"version": ort_web.VERSION, "folder": "ort/"},
                "constants": site_constants(), "checks": site.checks}
    (stage / SITE_MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    (stage / "README.md").write_text(space_readme(fingerprint, models))


def preview_view() -> dict:
    """The view the page opens on with no link: the Generate tab's defaults (gan.serving.views)."""
    return {name: spec.default for name, spec in VIEWS[PREVIEW_TAB].items()}


def write_preview(path: Path, generator: Generator) -> dict:
    """The default view's digit as a greyscale PNG, drawn by the Python generator (the pixels
    the page draws on its canvas once the engine is up); the manifest's "preview" entry."""
    from PIL import Image

    view = preview_view()
    pixels = generator.generate([view["digit"]], [view["seed"]], truncation_psi=view["psi"])[0]
    Image.fromarray(pixels.numpy(), mode="L").save(path, optimize=True)
    return {"file": path.name, "tab": PREVIEW_TAB, "view": view}


def _gzip_in_place(stage: Path, path: str) -> dict:
    """Replace stage/path by path.gz (gzip, no name or time in the header: the same bytes on
    every export); the manifest's entry for it. The page inflates it with DecompressionStream
    and checks the inflated bytes against site.json's sha256 of `path`."""
    source = stage / path
    data = source.read_bytes()
    packed = gzip.compress(data, GZIP_LEVEL, mtime=0)
    target = source.with_name(source.name + ".gz")
    target.write_bytes(packed)
    source.unlink()
    return {"file": f"{path}.gz", "bytes": len(packed), "inflated_bytes": len(data)}


def read_site_file(site: str | Path, path: str) -> bytes:
    """The bytes of `path` in an export as the page gets them: inflated from its .gz where
    site.json lists it as compressed."""
    site = Path(site)
    entry = json.loads((site / SITE_MANIFEST).read_text()).get("compressed", {}).get(path)
    return gzip.decompress((site / entry["file"]).read_bytes()) if entry else (site / path).read_bytes()


def space_readme(fingerprint: str, models: dict[str, str]) -> str:
    return SPACE_FRONT_MATTER + f"""
# DigitGAN in your browser

A class-conditional GAN for handwritten MNIST digits, running entirely in the visitor's
browser (onnxruntime-web {ort_web.VERSION}, WebAssembly). No server computes anything: this
folder is static files only. Weights `{fingerprint}`; models: {', '.join(sorted(models))}.

Made with `python -m gan.space OUT --kind static` from the DigitGAN repository; serve it
locally with `python -m http.server -d OUT`. The page's engine is scriptable as
`window.DigitGAN` (see the repository's README).
"""


def build_static_site(out: str | Path, weights: str | Path = "weights", *,
                      log: Callable[[str], None] = lambda message: None) -> StaticSite:
    """Export the static site for `weights` into `out` (see the module docstring).

    Raises WeightsError for a missing or corrupt weights folder, ExportError when an ONNX model
    does not match PyTorch, ort_web.OrtWebError when the runtime files cannot be had, and
    ValueError when `out` is a folder of other things or a limit is beyond what the page can do.
    """
    out, weights = Path(out), Path(weights)
    _check_out(out)
    site_constants()  # refuse limits the page cannot keep before any work
    load_generator(weights)  # refuse bad weights before any work, with the loader's reason
    site = StaticSite(out, weights_fingerprint(weights))
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".building", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)  # mkdtemp makes it owner-only; a site is for everyone
    try:
        _assemble(stage, weights, site, log)
        old = out.with_name(f".{out.name}.old") if out.exists() else None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
        stage.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    site.files = {str(p.relative_to(out)): p.stat().st_size
                  for p in sorted(out.rglob("*")) if p.is_file()}
    return site


__all__ = ["StaticSite", "build_static_site", "ExportError", "WeightsError", "find_directions_for",
           "preview_view", "read_site_file", "site_constants"]
