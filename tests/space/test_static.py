"""The static Space export (gan/space): its files, its ONNX models against PyTorch, the limits
and constants it hands the page (site.json's "constants", from the Python that defines them),
the views a link may name and the training timeline, and the page's plain JS modules (seeds,
input checks, links, drawing preprocessing, PNG chunks) against Python under Node.

The browser itself is tested in test_static_browser.py.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gan.latent.encoder as encoder_module
from gan.space.static_site import (
    PAGE_CONSTANTS,
    RUNTIME_CONSTANTS,
    SITE_FORMAT,
    preview_view,
    read_site_file,
    site_constants,
)
from tests.support.static_site import (
    HOSTILE_HASHES,
    REPO_ROOT,
    SHIPPED_WEIGHTS,
    TIMELINE_STEPS,
    WEB,
    StandInEncoder,
    exported_site,
    exported_weights,
    run_node,
    skip_without_the_runtime_files,
    write_timeline,
)

SEEDS = list(range(1000)) + [2**32 - 1, 2**32 - 2, 2**32 - 17, 2**31, 2**31 - 1]


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    return exported_site(tmp_path_factory)


@pytest.fixture(scope="session")
def generator():
    from gan import load_generator

    return load_generator(SHIPPED_WEIGHTS)


def _session(site: Path, path: str):
    """An onnxruntime session of an exported model, inflated from its .gz as the page does."""
    import onnxruntime

    return onnxruntime.InferenceSession(read_site_file(site, path), providers=["CPUExecutionProvider"])


def within_one_level(got: np.ndarray, expected: np.ndarray) -> float:
    assert got.shape == expected.shape
    return float((np.abs(got.astype(int) - expected.astype(int)) <= 1).mean())


# ----------------------------------------------------------------------------- the export

def test_export_writes_a_static_space(site):
    for name in ("index.html", "app.js", "engine.js", "latents.js", "drawing.js", "png.js",
                 "pictures.js", "style.css", "site.json", "directions.json", "model_card.json",
                 "models/generator.onnx.gz", "models/classifier.onnx.gz", "models/encoder.onnx.gz",
                 "models/jacobian.onnx.gz", "ort/ort.wasm.min.mjs", "ort/ort-wasm-simd-threaded.mjs",
                 "ort/ort-wasm-simd-threaded.wasm.gz", "preview.png"):
        assert (site / name).is_file(), name
    front = (site / "README.md").read_text().split("---")[1]
    assert re.search(r"^sdk: static$", front, re.M) and re.search(r"^app_file: index.html$", front, re.M)
    manifest = json.loads((site / "site.json").read_text())
    from gan import weights_fingerprint

    assert manifest["weights_sha256"] == weights_fingerprint(SHIPPED_WEIGHTS)
    assert manifest["onnxruntime_web"]["version"].startswith("1.30.")
    import hashlib

    for path, sha in manifest["sha256"].items():
        assert hashlib.sha256(read_site_file(site, path)).hexdigest() == sha
    card = json.loads((site / "model_card.json").read_text())
    metrics = json.loads((SHIPPED_WEIGHTS / "metrics.json").read_text())
    assert card["metrics"]["class_accuracy"] == metrics["class_accuracy"]
    directions = json.loads((site / "directions.json").read_text())
    assert directions == json.loads((SHIPPED_WEIGHTS / "directions.json").read_text())
    total = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    assert total <= 25e6, f"the site is {total / 1e6:.1f} MB"


def test_export_ships_the_runtime_and_the_models_gzipped(site):
    """The wasm and the models as .gz only (a host without compression sends less), listed in
    site.json's "compressed" with their sizes; site.json's sha256 is of the inflated bytes, the
    ones the page checks after inflating."""
    import gzip
    import hashlib

    from gan.space import ort_web

    manifest = json.loads((site / "site.json").read_text())
    runtime = manifest["runtime"]["wasm"]
    assert runtime == f"ort/{ort_web.WASM}" and ort_web.WASM in ort_web.FILES
    packed = manifest["compressed"]
    assert set(packed) == {*manifest["models"].values(), runtime}
    for path, entry in packed.items():
        assert entry["file"] == f"{path}.gz" and not (site / path).exists(), path
        data = (site / entry["file"]).read_bytes()
        assert data[:2] == b"\x1f\x8b" and entry["bytes"] == len(data)
        inflated = gzip.decompress(data)
        assert entry["inflated_bytes"] == len(inflated) < len(data) * 10
        assert hashlib.sha256(inflated).hexdigest() == manifest["sha256"][path]
    assert hashlib.sha256(read_site_file(site, runtime)).hexdigest() == ort_web.FILES[ort_web.WASM]
    assert packed[runtime]["bytes"] < packed[runtime]["inflated_bytes"] / 3


def test_export_prerenders_the_default_digit(site, generator):
    """preview.png, which index.html shows before anything else loads: the Generate tab's default
    view (gan.serving.views) drawn by the Python generator, pixel for pixel."""
    from gan.serving.views import VIEWS

    manifest = json.loads((site / "site.json").read_text())
    view = {name: spec.default for name, spec in VIEWS["generate"].items()}
    assert preview_view() == view and manifest["preview"] == {"file": "preview.png", "tab": "generate", "view": view}
    with Image.open(site / "preview.png") as im:
        assert im.mode == "L" and im.size == (28, 28)
        pixels = np.asarray(im)
    expected = generator.generate([view["digit"]], [view["seed"]], truncation_psi=view["psi"])[0].numpy()
    np.testing.assert_array_equal(pixels, expected)
    assert 'src="preview.png"' in (site / "index.html").read_text()


# ----------------------------------------------------------------------------- the timeline

def test_export_writes_the_timeline_for_the_learn_tab(site, tmp_path_factory):
    """timeline.json (steps, seeds, metrics with null for not measured, captions, the
    explanation) and timeline.bin (the frames, frame-major, digit-major then seed), both in the
    manifest with their sha256."""
    import hashlib

    from gan.model.timeline import CURVES, load_timeline
    from gan.serving.timeline_view import EXPLANATION, step_caption

    timeline = load_timeline(exported_weights(tmp_path_factory))
    manifest = json.loads((site / "site.json").read_text())
    entry = manifest["timeline"]
    assert entry == {"available": True, "data": "timeline.json", "frames": "timeline.bin",
                     "shape": [len(TIMELINE_STEPS), 10, 10, 28, 28]}
    for name in ("timeline.json", "timeline.bin"):
        assert manifest["sha256"][name] == hashlib.sha256((site / name).read_bytes()).hexdigest()
    frames = (site / "timeline.bin").read_bytes()
    assert len(frames) == len(TIMELINE_STEPS) * 10 * 10 * 784
    assert frames == np.ascontiguousarray(timeline.frames).tobytes()
    data = json.loads((site / "timeline.json").read_text())
    assert data["steps"] == list(TIMELINE_STEPS) and data["seeds"] == list(range(10))
    assert data["shape"] == entry["shape"] and data["curves"] == list(CURVES)
    assert data["metrics"] == timeline.metrics()
    assert data["metrics"][0]["accuracy"] is None and all(m["coverage"] is None for m in data["metrics"])
    assert data["captions"] == [step_caption(timeline, i) for i in range(len(timeline))]
    assert data["explanation"] == EXPLANATION
    assert "NaN" not in (site / "timeline.json").read_text()


def _weights_copy(folder: Path) -> Path:
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy2(SHIPPED_WEIGHTS / name, folder / name)
    return folder


def test_without_a_timeline_the_manifest_says_there_is_none_and_why(tmp_path, generator):
    from gan.space.static_site import StaticSite, _write_timeline

    weights = _weights_copy(tmp_path / "weights")
    stage = tmp_path / "stage"
    stage.mkdir()
    site = StaticSite(stage, "")
    entry = _write_timeline(stage, weights, generator, site)
    assert entry["available"] is False and "timeline.safetensors" in entry["reason"]
    assert "train.py writes timeline.safetensors beside the weights at every export" in entry["advice"]
    assert str(tmp_path) not in entry["reason"]          # a site is public: no local paths
    assert list(stage.iterdir()) == [] and "no training timeline" in site.notes[0]


def test_a_timeline_of_other_weights_is_refused(tmp_path, generator):
    """A timeline whose last frame is not what these weights draw belongs to other weights: the
    export leaves it out and says why; a corrupt file likewise."""
    from gan.model.timeline import Timeline, save_timeline
    from gan.space.static_site import StaticSite, _write_timeline

    weights = _weights_copy(tmp_path / "weights")
    timeline = write_timeline(weights, generator)
    frames = timeline.frames.copy()
    frames[-1, 3, 4, 10, 10] ^= 0xFF                  # one pixel of the last frame
    save_timeline(Timeline(timeline.steps, timeline.seeds, frames, timeline.curves), weights)
    stage = tmp_path / "stage"
    stage.mkdir()
    entry = _write_timeline(stage, weights, generator, StaticSite(stage, ""))
    assert entry["available"] is False and "other weights" in entry["reason"]
    assert list(stage.iterdir()) == []
    (weights / "timeline.safetensors").write_bytes(b"not a timeline")
    entry = _write_timeline(stage, weights, generator, StaticSite(stage, ""))
    assert entry["available"] is False and "not a readable safetensors file" in entry["reason"]


# ----------------------------------------------------------------------------- links

def test_site_json_carries_the_views(site):
    from gan.latent.directions import read_directions
    from gan.serving.views import view_spec

    views = json.loads((site / "site.json").read_text())["views"]
    assert views == json.loads(json.dumps(view_spec(read_directions(SHIPPED_WEIGHTS).names)))


VIEWS_SCRIPT = """import {Views, hashEntries} from './web/views.js';
const views = new Views(input.spec, input.constants);
out(input.hashes.map((h) => { const p = views.parse(hashEntries(h));
  return p && {tab: p.tab, values: p.values, strengths: p.strengths, message: p.message,
               query: views.query(p.tab, p.values, p.strengths)}; }));"""


def parsed_by_python(hash_: str, directions: list[str]) -> dict | None:
    """gan.serving.views.parse_view of a link's hash, as JSON has it."""
    from urllib.parse import parse_qsl

    from gan.serving.views import parse_view

    parsed = parse_view(dict(parse_qsl(hash_, keep_blank_values=True)), directions=directions)
    if parsed is None:
        return None
    return json.loads(json.dumps({"tab": parsed.tab, "values": parsed.values, "strengths": parsed.strengths,
                                  "message": parsed.message()}))


def test_views_js_reads_links_as_parse_view_does():
    """The page's reading of a link (views.js, with the spec and constants the export writes)
    is parse_view's: the same tab, values, strengths and message, letter for letter, for links
    with bad values, odd spellings and hostile names; and its link of the result is view_query's."""
    from urllib.parse import parse_qsl

    from gan.serving.views import view_query, view_spec

    directions = ["slant", "thickness", "width"]
    hashes = HOSTILE_HASHES + ["", "foo=1", "slant=1.5", "tab=explore&digit=2&seed=7&psi=0.8&slant=1.5",
                               "tab=grid&mode=random+digits&rows=16", "tab=learn&step=500",
                               "tab=draw&latent=z1.AAAA&psi=0.25&thickness=-1.5"]
    got = run_node(VIEWS_SCRIPT, {"spec": view_spec(directions), "constants": site_constants(), "hashes": hashes})
    assert len(got) == len(hashes)
    for hash_, page in zip(hashes, got, strict=True):
        python = parsed_by_python(hash_, directions)
        if python is None:
            assert page is None, hash_
            continue
        query = page.pop("query")
        assert page == python, hash_
        assert dict(parse_qsl(query)) == dict(parse_qsl(view_query(python["tab"], python["values"],
                                                                   python["strengths"]))), hash_
    assert got[HOSTILE_HASHES.index("tab=x&digit=1e0")]["message"].startswith(
        "This link had values the demo cannot show, so defaults stand in: tab must be one of generate, grid")


# ----------------------------------------------------------------------------- the page's constants

def _python_value(section: str, key: str) -> object:
    """The Python constant that site.json's constants[section][key] stands for, as JSON has it."""
    import importlib

    module, _ = PAGE_CONSTANTS[section]
    return json.loads(json.dumps(getattr(importlib.import_module(module), key.upper())))


def test_site_json_carries_the_python_constants(site):
    manifest = json.loads((site / "site.json").read_text())
    assert manifest["format_version"] == SITE_FORMAT
    constants = manifest["constants"]
    assert set(constants) == set(PAGE_CONSTANTS) | set(RUNTIME_CONSTANTS)
    assert constants["python"] == {"int_max_str_digits": sys.get_int_max_str_digits()}
    for section, (_, names) in PAGE_CONSTANTS.items():
        assert sorted(constants[section]) == sorted(name.lower() for name in names), section
        for key, value in constants[section].items():
            assert value == _python_value(section, key), f"{section}.{key}"
    from gan import inputs
    from gan.latent import drawing, encoder_search

    assert constants["inputs"]["max_seed"] == inputs.MAX_SEED and constants["inputs"]["max_grid"] == inputs.MAX_GRID
    assert constants["drawing"]["digit_box"] == drawing.DIGIT_BOX
    assert constants["encoder_search"]["sampling_rounds"] == [list(r) for r in encoder_search.SAMPLING_ROUNDS]
    assert constants["encoder_search"]["page_polish_steps"] == encoder_search.PAGE_POLISH_STEPS
    assert constants["encoder_search"]["damping_factors"] == list(encoder_search.DAMPING_FACTORS)


def test_the_page_holds_no_copies_of_the_constants():
    """The inputs get their ranges and steps from site.json at start-up, and no page module
    declares a constant of its own under a Python constant's name or spells the seed limit."""
    from gan.inputs import MAX_SEED

    html = (WEB / "index.html").read_text()
    assert not re.findall(r"<input[^>]*\b(?:min|max|step)=", html)
    # start values come from site.json's views: no seeds or digits of the page's own
    assert not re.findall(r"\bdata-value=|<input[^>]*\bvalue=\"\d|\bchecked\b", html)
    from gan.serving.views import TABS

    assert re.findall(r'data-tab="([a-z]+)"', html) == [*TABS, "about"]
    assert len(re.findall(r"<input[^>]*\bdata-limit=", html)) >= 10
    names = [name for _, module_names in PAGE_CONSTANTS.values() for name in module_names]
    for path in sorted(WEB.glob("*.js")):
        text = path.read_text()
        declared = re.findall(r"\b(?:const|let|var)\s+([A-Z][A-Z0-9_]*)\s*=", text)
        assert not set(declared) & set(names), (path.name, set(declared) & set(names))
    for path in sorted(WEB.iterdir()):
        text = path.read_text()
        for spelled in (str(MAX_SEED), f"{MAX_SEED:,}", str(MAX_SEED + 1)):
            assert spelled not in text, (path.name, spelled)


LIMITS_SCRIPT = """import {Engine} from 'ENGINE_JS';
const engine = new Engine(new URL('file:///nowhere/')).useSite(input.site);
const limits = engine.limits;
const run = (f) => { try { return {ok: f()}; } catch (e) { return {error: e.name + ': ' + e.message}; } };
const calls = {
  seed: (v) => limits.seed(v), seed_a: (v) => limits.seed(v, 'seed_a'), digit: (v) => limits.digit(v),
  steps: (v) => limits.steps(v), rows: (v) => limits.gridSide(v, 'rows'), psi: (v) => limits.psi(v),
  slant: (v) => limits.strength(v, 'slant'),
};
const answers = input.asks.map(([call, value]) => run(() => calls[call](value)));
const generate = await engine.generate([3], [input.seed]).then(() => 'accepted', (e) => e.name + ': ' + e.message);
out({answers, generate});"""


def _python_answers(asks: list) -> list:
    """What gan.inputs says to each (call, value) of LIMITS_SCRIPT: the value, or the message."""
    from gan import inputs

    rules = {"seed": inputs.as_seed, "seed_a": lambda v: inputs.as_seed(v, "seed_a"), "digit": inputs.as_digit,
             "steps": inputs.as_steps, "rows": lambda v: inputs.as_int(v, "rows", 1, inputs.MAX_GRID),
             "psi": inputs.as_truncation,
             "slant": lambda v: inputs.as_strengths({"slant": v}, ["slant"])["slant"]}
    answers = []
    for call, value in asks:
        try:
            answers.append({"ok": rules[call](value)})
        except ValueError as exc:
            answers.append({"error": f"InputError: {exc}"})
    return answers


def _limit_asks() -> list:
    """Values at, inside and just beyond each limit gan.inputs has now."""
    from gan import inputs

    m = inputs.MAX_DIRECTION_STRENGTH
    return [("seed", 0), ("seed", inputs.MAX_SEED), ("seed", inputs.MAX_SEED + 1), ("seed", -1), ("seed", 1.5),
            ("seed_a", inputs.MAX_SEED + 1), ("digit", 9), ("digit", 10), ("digit", -1),
            ("steps", inputs.MIN_STEPS), ("steps", inputs.MAX_STEPS), ("steps", inputs.MIN_STEPS - 1),
            ("steps", inputs.MAX_STEPS + 1), ("rows", 1), ("rows", inputs.MAX_GRID), ("rows", inputs.MAX_GRID + 1),
            ("rows", 0), ("psi", 0), ("psi", inputs.MAX_TRUNCATION), ("psi", inputs.MAX_TRUNCATION + 0.5),
            ("psi", -0.1), ("slant", m), ("slant", -m), ("slant", m + 0.5), ("slant", -m - 0.5)]


def _page_answers(site_folder: Path, asks: list, seed: int) -> dict:
    """The exported page's engine (site_folder's own engine.js and site.json) on `asks`."""
    script = LIMITS_SCRIPT.replace("ENGINE_JS", (site_folder / "engine.js").as_uri())
    return run_node(script, {"site": json.loads((site_folder / "site.json").read_text()), "asks": asks, "seed": seed})


def test_the_page_checks_inputs_with_pythons_limits_and_messages(site):
    from gan.inputs import MAX_SEED

    asks = _limit_asks()
    got = _page_answers(site, asks, MAX_SEED + 1)
    assert len(got["answers"]) == len(asks)
    for ask, page, python in zip(asks, got["answers"], _python_answers(asks), strict=True):
        assert page == python, ask
    assert got["generate"] == f"InputError: seed must be a whole number from 0 to {MAX_SEED}, got {MAX_SEED + 1}"


def test_an_export_follows_a_changed_python_limit(tmp_path, monkeypatch):
    """Limits changed in gan.inputs reach the exported page: site.json holds the new values and
    the page's engine accepts and refuses as Python now does."""
    from gan import inputs
    from gan.space.static_site import build_static_site

    skip_without_the_runtime_files()
    monkeypatch.setattr(inputs, "MAX_SEED", 1000)
    monkeypatch.setattr(inputs, "MAX_GRID", 20)
    monkeypatch.setattr(inputs, "MAX_STEPS", 30)
    build_static_site(tmp_path / "site", SHIPPED_WEIGHTS)
    constants = json.loads((tmp_path / "site" / "site.json").read_text())["constants"]
    assert (constants["inputs"]["max_seed"], constants["inputs"]["max_grid"], constants["inputs"]["max_steps"]) \
        == (1000, 20, 30)
    asks = _limit_asks()
    assert ("seed", 1001) in asks and ("rows", 20) in asks and ("steps", 31) in asks
    got = _page_answers(tmp_path / "site", asks, 1001)
    assert got["answers"] == _python_answers(asks)
    assert {"ok": 20} in got["answers"]
    assert {"error": "InputError: seed must be a whole number from 0 to 1000, got 1001"} in got["answers"]
    assert got["generate"] == "InputError: seed must be a whole number from 0 to 1000, got 1001"
    manifest = json.loads((tmp_path / "site" / "site.json").read_text())
    has_timeline = (SHIPPED_WEIGHTS / "timeline.safetensors").is_file()
    assert manifest["timeline"]["available"] is has_timeline
    assert (tmp_path / "site" / "timeline.bin").is_file() is has_timeline
    if not has_timeline:
        assert "no timeline.safetensors" in manifest["timeline"]["reason"]


def test_an_export_refuses_seeds_the_page_cannot_make(tmp_path, monkeypatch):
    from gan import inputs
    from gan.space.static_site import build_static_site

    monkeypatch.setattr(inputs, "MAX_SEED", 2**32)
    with pytest.raises(ValueError, match="32-bit"):
        build_static_site(tmp_path / "site", SHIPPED_WEIGHTS)
    assert not (tmp_path / "site").exists()


def test_the_page_asks_no_other_host(site):
    """Every file the page itself is made of refers to its own folder only."""
    for path in WEB.iterdir():
        text = path.read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), path.name
        assert "@import" not in text and "cdn" not in text.lower(), path.name


def test_generator_onnx_matches_pytorch(site, generator):
    """All digits x 100 seeds at two psi, an edit, and interpolations: one grey level at most."""
    from gan import generate_interpolation, latents_from_seeds
    from gan.latent.directions import generate_edited, read_directions
    from gan.model.sampling import interpolation_path

    session = _session(site, "models/generator.onnx")
    eye = np.eye(10, dtype=np.float32)
    digits = [d for d in range(10) for _ in range(100)]
    seeds = [s for _ in range(10) for s in range(100)]
    for psi in (0.6, 1.0):
        z = (latents_from_seeds(seeds, 64) * psi).numpy()
        got = session.run(None, {"z": z, "class_weights": eye[digits]})[0]
        assert within_one_level(got, generator.generate(digits, seeds, truncation_psi=psi).numpy()) >= 0.999
    directions = read_directions(SHIPPED_WEIGHTS)
    strengths = {directions.names[0]: 2.0, directions.names[1]: -1.5}
    edit = torch.tensor([strengths.get(n, 0.0) for n in directions.names]) @ directions.matrix()
    z = (latents_from_seeds(seeds[:200], 64) * 0.8 + edit).numpy()
    got = session.run(None, {"z": z, "class_weights": eye[digits[::5]]})[0]
    expected = generate_edited(generator, digits[::5], seeds[:200], directions=directions,
                               strengths=strengths, truncation_psi=0.8).numpy()
    assert within_one_level(got, expected) >= 0.999
    for method in ("slerp", "lerp"):
        z, classes = interpolation_path(digit_a=3, seed_a=1, digit_b=8, seed_b=2, steps=24, z_dim=64,
                                        method=method, truncation_psi=0.9)
        got = session.run(None, {"z": z.numpy(), "class_weights": classes.numpy()})[0]
        expected = generate_interpolation(generator, digit_a=3, seed_a=1, digit_b=8, seed_b=2, steps=24,
                                          method=method, truncation_psi=0.9).numpy()
        assert within_one_level(got, expected) >= 0.999


def test_classifier_and_encoder_onnx_match_pytorch(site):
    from gan.model.classifier import load_classifier
    from gan.space.onnx_export import check_images

    images = check_images(16)
    logits = _session(site, "models/classifier.onnx").run(None, {"images": images.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(logits, load_classifier()(images).numpy(), atol=1e-4, rtol=1e-4)
        classes = torch.eye(10)[[i % 10 for i in range(16)]]
        z = _session(site, "models/encoder.onnx").run(
            None, {"images": images.numpy(), "class_weights": classes.numpy()})[0]
        np.testing.assert_allclose(z, StandInEncoder()(images, classes).numpy(), atol=1e-4, rtol=1e-4)


def test_the_jacobian_onnx_matches_pytorch(site, generator):
    from gan.latent.jacobian import GeneratorJacobian
    from gan.model.sampling import latents_from_seeds

    z = latents_from_seeds(range(100, 104), generator.z_dim)
    classes = torch.eye(10)[[0, 3, 6, 9]]
    images, jacobian = _session(site, "models/jacobian.onnx").run(
        None, {"z": z.numpy(), "class_weights": classes.numpy()})
    with torch.no_grad():
        expected = GeneratorJacobian(generator)(z, classes)
    assert jacobian.shape == (4, generator.z_dim, 28 * 28)
    np.testing.assert_allclose(images, expected[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(jacobian, expected[1].numpy(), atol=1e-4)


def test_without_gan_latent_encoder_a_stored_encoder_leaves_draw_asking_for_one(tmp_path, monkeypatch, generator):
    from gan.space.static_site import load_encoder_module

    assert load_encoder_module(tmp_path, generator) is None
    (tmp_path / "encoder.safetensors").write_bytes(b"an encoder this checkout cannot read")
    monkeypatch.setitem(sys.modules, "gan.latent.encoder", None)  # the module is not there
    assert load_encoder_module(tmp_path, generator) is None


def test_a_stored_encoder_is_read_by_gan_latent_encoders_loader(tmp_path, monkeypatch, generator):
    """The export hands the weights folder and the generator to gan.latent.encoder.load_encoder
    (a stand-in module here, so that this holds with or without the real one)."""
    import types

    from gan.space.static_site import load_encoder_module

    calls = []

    def load_encoder(folder, *, generator=None, device="cpu"):
        calls.append((folder, generator))
        return StandInEncoder()

    monkeypatch.setitem(sys.modules, "gan.latent.encoder", types.SimpleNamespace(load_encoder=load_encoder))
    (tmp_path / "encoder.safetensors").write_bytes(b"read by the stand-in")
    assert isinstance(load_encoder_module(tmp_path, generator), StandInEncoder)
    assert calls == [(tmp_path, generator)]


def test_a_trained_encoder_goes_through_the_export(tmp_path, generator):
    """An encoder saved beside the weights is loaded by gan.latent.encoder and exported to ONNX,
    matching PyTorch."""
    from gan.space.onnx_export import export_encoder
    from gan.space.static_site import load_encoder_module

    for name in ("config.json", "model.safetensors"):
        shutil.copy2(SHIPPED_WEIGHTS / name, tmp_path / name)
    encoder = encoder_module.Encoder(encoder_module.EncoderConfig())
    encoder_module.save_encoder(encoder, tmp_path, generator_fingerprint=encoder_module.generator_fingerprint(tmp_path))
    loaded = load_encoder_module(tmp_path, generator)
    assert loaded is not None
    assert export_encoder(loaded, tmp_path / "encoder.onnx", z_dim=64)["max_abs_error"] <= 1e-4


@pytest.fixture
def tiny_search(monkeypatch):
    """A direction search small enough for a fast test, in place of the quick one."""
    from gan.latent.direction_search import SearchSettings
    from gan.space import static_site

    settings = SearchSettings(count=3, candidates=4, samples_per_digit=2)
    monkeypatch.setattr(static_site, "QUICK_SEARCH", settings)
    return settings


def test_directions_are_found_when_directions_json_is_missing_or_for_other_weights(tmp_path, tiny_search):
    from dataclasses import asdict

    from gan import Generator, ModelConfig, save_generator, weights_fingerprint
    from gan.latent.directions import read_directions, save_directions
    from gan.space.static_site import find_directions_for

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        tiny = Generator(ModelConfig(z_dim=16, embed_dim=4, g_width=8, d_width=8)).eval()
    save_generator(tiny, tmp_path)
    fingerprint = weights_fingerprint(tmp_path)
    found = find_directions_for(tmp_path, tiny)              # no directions.json
    assert found.settings == asdict(tiny_search) and found.weights_sha256 == fingerprint
    assert len(found) == 3 and all(len(d.vector) == 16 for d in found)
    save_directions(found, tmp_path)
    assert find_directions_for(tmp_path, tiny).to_json() == read_directions(tmp_path).to_json()
    other = json.loads((tmp_path / "directions.json").read_text())
    other["weights_sha256"] = "0" * 12                       # a file made for other weights
    other["settings"] = {"made": "elsewhere"}
    (tmp_path / "directions.json").write_text(json.dumps(other))
    again = find_directions_for(tmp_path, tiny)
    assert again.settings == asdict(tiny_search) and again.weights_sha256 == fingerprint


def test_an_encoder_onnx_with_another_interface_is_refused(tmp_path):
    from gan.model.classifier import DigitClassifier
    from gan.space.onnx_export import ExportError, check_encoder_interface, export_classifier

    export_classifier(DigitClassifier().eval(), tmp_path / "not_an_encoder.onnx")
    with pytest.raises(ExportError, match="class_weights"):
        check_encoder_interface(tmp_path / "not_an_encoder.onnx", z_dim=64)


# ----------------------------------------------------------------------------- the CLI

def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan.space", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(REPO_ROOT)})


def test_cli_refuses_missing_and_corrupt_weights_with_the_reason(tmp_path):
    done = _cli(str(tmp_path / "out"), "--kind", "static", "--weights", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert done.returncode == 2 and "does not exist" in done.stderr
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy2(SHIPPED_WEIGHTS / "config.json", weights / "config.json")
    (weights / "model.safetensors").write_bytes(b"\x00" * 100)
    done = _cli(str(tmp_path / "out"), "--kind", "static", "--weights", str(weights), cwd=tmp_path)
    assert done.returncode == 2 and "not a valid safetensors file" in done.stderr
    assert not (tmp_path / "out").exists()


def test_cli_offers_the_kinds(tmp_path):
    for kind in ("zerogpu", "cpu"):
        done = _cli(str(tmp_path / kind), "--kind", kind, "--weights", str(SHIPPED_WEIGHTS), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / kind / "app.py").is_file() and "upload_folder" in done.stdout
        refused = _cli(str(tmp_path / f"{kind}-bad"), "--kind", kind, "--weights", "hf://no-slash", cwd=tmp_path)
        assert refused.returncode == 2 and "owner/name" in refused.stderr
        assert not (tmp_path / f"{kind}-bad").exists()
    done = _cli(str(tmp_path / "out"), "--kind", "gpu", cwd=tmp_path)
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_export_refuses_a_folder_of_other_things(tmp_path):
    from gan.space.static_site import build_static_site

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="neither empty nor an earlier export"):
        build_static_site(tmp_path / "out", SHIPPED_WEIGHTS)
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_without_npm_the_runtime_fetch_says_what_to_do(tmp_path, monkeypatch):
    from gan.space import ort_web

    monkeypatch.setenv("DIGITGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ort_web.shutil, "which", lambda name: None)
    with pytest.raises(ort_web.OrtWebError, match="npm was not found.*apt-get install npm"):
        ort_web.ort_web_files()


def test_a_cached_runtime_file_that_was_changed_is_not_used(tmp_path, monkeypatch, site):
    from gan.space import ort_web

    monkeypatch.setenv("DIGITGAN_CACHE", str(tmp_path / "cache"))
    folder = ort_web.cache_folder()
    folder.mkdir(parents=True)
    for name in ort_web.FILES:
        (folder / name).write_bytes(read_site_file(site, f"ort/{name}"))
    assert ort_web._cached_ok(folder)
    with open(folder / "ort.wasm.min.mjs", "ab") as f:
        f.write(b"//")
    assert not ort_web._cached_ok(folder)


# ----------------------------------------------------------------------------- the JS modules

def test_latents_js_match_torch_randn():
    got = np.array(run_node("import {latentsFromSeeds} from './web/latents.js';\n"
                            "out(Array.from(latentsFromSeeds(input, 64)));", SEEDS)).reshape(-1, 64)
    expected = np.stack([torch.randn(64, generator=torch.Generator().manual_seed(s)).numpy() for s in SEEDS])
    assert np.abs(got - expected).max() <= 1e-5
    # a z_dim that is no multiple of 16 redraws the last block, as torch does
    got40 = np.array(run_node("import {latentsFromSeeds} from './web/latents.js';\n"
                              "out(Array.from(latentsFromSeeds(input, 40)));", SEEDS[:20])).reshape(-1, 40)
    expected40 = np.stack([torch.randn(40, generator=torch.Generator().manual_seed(s)).numpy() for s in SEEDS[:20]])
    assert np.abs(got40 - expected40).max() <= 1e-5


def test_interpolation_paths_js_match_python():
    from gan.model.sampling import interpolation_path

    script = ("import {interpolationPath} from './web/latents.js';\n"
              "out(input.map((a) => { const p = interpolationPath(a); "
              "return [Array.from(p.z), Array.from(p.classes)]; }));")
    asks = [dict(digitA=3, seedA=1, digitB=8, seedB=2, steps=s, zDim=64, numClasses=10, method=m, psi=p)
            for s, m, p in ((12, "slerp", 1.0), (7, "lerp", 0.7), (2, "slerp", 0.5), (64, "slerp", 0.9))]
    asks.append(dict(digitA=5, seedA=9, digitB=5, seedB=9, steps=5, zDim=64, numClasses=10, method="slerp", psi=1.0))
    for ask, (z, classes) in zip(asks, run_node(script, asks), strict=True):
        ez, ec = interpolation_path(digit_a=ask["digitA"], seed_a=ask["seedA"], digit_b=ask["digitB"],
                                    seed_b=ask["seedB"], steps=ask["steps"], z_dim=64, method=ask["method"],
                                    truncation_psi=ask["psi"])
        assert np.abs(np.array(z).reshape(ez.shape) - ez.numpy()).max() <= 1e-5
        assert np.abs(np.array(classes).reshape(ec.shape) - ec.numpy()).max() <= 1e-7


DRAW_SCRIPT = """import {prepareDrawing} from './web/drawing.js';
out(input.images.map((c) => { try { return Array.from(prepareDrawing({width: c.w, height: c.h, channels: c.c,
    data: Buffer.from(c.data, 'base64')}, input.constants)); } catch (e) { return e.name + ': ' + e.message; } }));"""


def _prepared_by_js(images: list[Image.Image], timeout: float = 60) -> list:
    """drawing.js's prepareDrawing of each image, with the constants the export writes now."""
    payload = {"constants": site_constants(), "images": [_as_payload(im) for im in images]}
    got = run_node(DRAW_SCRIPT, payload, timeout=timeout)
    assert len(got) == len(images)
    return got


def _as_payload(image: Image.Image) -> dict:
    import base64

    array = np.asarray(image)
    array = array[:, :, None] if array.ndim == 2 else array
    return {"w": array.shape[1], "h": array.shape[0], "c": array.shape[2],
            "data": base64.b64encode(array.tobytes()).decode()}


def test_drawing_js_prepares_drawings_exactly_as_python():
    from gan.latent.drawing import prepare_drawing
    from tests.support.drawings import ONE, SEVEN, STYLES, draw_strokes

    FOUR = [(90, 40), (70, 170), (200, 170), (160, 100), (160, 250)]
    images = [draw_strokes(points, style, size=size) for points in (SEVEN, ONE, FOUR)
              for style in STYLES for size in (280, 97, 2100)]
    for image, got in zip(images, _prepared_by_js(images, timeout=120), strict=True):
        assert not isinstance(got, str), got
        np.testing.assert_array_equal(np.array(got, dtype=np.uint8).reshape(28, 28), prepare_drawing(image))


def test_drawing_js_refuses_what_python_refuses():
    from gan.latent.drawing import DrawingError, prepare_drawing
    from tests.support.drawings import all_ink, blank, speck

    images = [blank("sketch"), blank("paper"), speck("paper"), speck("sketch"), all_ink("paper"), all_ink("chalk")]
    for image, got in zip(images, _prepared_by_js(images), strict=True):
        with pytest.raises(DrawingError) as python:
            prepare_drawing(image)
        assert got.startswith("DrawingError: ")
        assert got.split(": ", 1)[1].split(" (")[0].split(" —")[0] == str(python.value).split(" (")[0].split(" —")[0]


def test_drawing_js_follows_a_changed_drawing_constant(monkeypatch):
    """With another box size in gan.latent.drawing, Python and the page both make the digit
    that size: the page's preprocessing has no numbers of its own."""
    from gan.latent import drawing
    from tests.support.drawings import SEVEN, STYLES, draw_strokes

    monkeypatch.setattr(drawing, "DIGIT_BOX", 14)
    images = [draw_strokes(SEVEN, style, size=280) for style in STYLES]
    for image, got in zip(images, _prepared_by_js(images), strict=True):
        assert not isinstance(got, str), got
        expected = drawing.prepare_drawing(image)
        np.testing.assert_array_equal(np.array(got, dtype=np.uint8).reshape(28, 28), expected)
        rows, cols = np.flatnonzero(expected.any(axis=1)), np.flatnonzero(expected.any(axis=0))
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 14


def test_png_js_writes_the_provenance_text_chunks():
    meta = {"Software": "DigitGAN", "digit": "3", "seed": "42", "truncation_psi": "0.7",
            "weights_sha256": "9c15d34be26c", "Description": "digit 3, seed 42"}
    script = ("import {encodePng, upscale} from './web/png.js';\n"
              "const px = Uint8Array.from({length: 28 * 28}, (_, i) => (i * 7) % 256);\n"
              "const blob = await encodePng(upscale(px, 28, 28, 3), 84, 84, input);\n"
              "out(Buffer.from(await blob.arrayBuffer()).toString('base64'));")
    import base64

    with Image.open(io.BytesIO(base64.b64decode(run_node(script, meta)))) as im:
        assert im.mode == "L" and im.size == (84, 84) and dict(im.text) == meta
        pixels = np.asarray(im)
    expected = ((np.arange(784) * 7) % 256).astype(np.uint8).reshape(28, 28)
    np.testing.assert_array_equal(pixels, np.repeat(np.repeat(expected, 3, 0), 3, 1))
