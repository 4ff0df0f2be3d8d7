"""The static Space export (gan/space): its files, its ONNX models against PyTorch, and the
page's plain JS modules (seeds, drawing preprocessing, PNG chunks) against Python under Node.

The browser itself is tested in test_space_static_browser.py.
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

from tests.support.static_site import REPO_ROOT, SHIPPED_WEIGHTS, WEB, StandInEncoder, exported_site, run_node

SEEDS = list(range(1000)) + [2**32 - 1, 2**32 - 2, 2**32 - 17, 2**31, 2**31 - 1]


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    return exported_site(tmp_path_factory)


@pytest.fixture(scope="session")
def generator():
    from gan import load_generator

    return load_generator(SHIPPED_WEIGHTS)


def _session(path: Path):
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def within_one_level(got: np.ndarray, expected: np.ndarray) -> float:
    assert got.shape == expected.shape
    return float((np.abs(got.astype(int) - expected.astype(int)) <= 1).mean())


# ----------------------------------------------------------------------------- the export

def test_export_writes_a_static_space(site):
    for name in ("index.html", "app.js", "engine.js", "latents.js", "drawing.js", "png.js",
                 "pictures.js", "style.css", "site.json", "directions.json", "model_card.json",
                 "models/generator.onnx", "models/classifier.onnx", "models/encoder.onnx",
                 "ort/ort.wasm.min.mjs", "ort/ort-wasm-simd-threaded.mjs",
                 "ort/ort-wasm-simd-threaded.wasm"):
        assert (site / name).is_file(), name
    front = (site / "README.md").read_text().split("---")[1]
    assert re.search(r"^sdk: static$", front, re.M) and re.search(r"^app_file: index.html$", front, re.M)
    manifest = json.loads((site / "site.json").read_text())
    from gan import weights_fingerprint

    assert manifest["weights_sha256"] == weights_fingerprint(SHIPPED_WEIGHTS)
    assert manifest["onnxruntime_web"]["version"].startswith("1.30.")
    import hashlib

    for path, sha in manifest["sha256"].items():
        assert hashlib.sha256((site / path).read_bytes()).hexdigest() == sha
    card = json.loads((site / "model_card.json").read_text())
    metrics = json.loads((SHIPPED_WEIGHTS / "metrics.json").read_text())
    assert card["metrics"]["class_accuracy"] == metrics["class_accuracy"]
    directions = json.loads((site / "directions.json").read_text())
    assert directions == json.loads((SHIPPED_WEIGHTS / "directions.json").read_text())
    total = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    assert total <= 25e6, f"the site is {total / 1e6:.1f} MB"


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

    session = _session(site / "models" / "generator.onnx")
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
    logits = _session(site / "models" / "classifier.onnx").run(None, {"images": images.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(logits, load_classifier()(images).numpy(), atol=1e-4, rtol=1e-4)
        classes = torch.eye(10)[[i % 10 for i in range(16)]]
        z = _session(site / "models" / "encoder.onnx").run(
            None, {"images": images.numpy(), "class_weights": classes.numpy()})[0]
        np.testing.assert_allclose(z, StandInEncoder()(images, classes).numpy(), atol=1e-4, rtol=1e-4)


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
    """With gan.latent.encoder in the checkout: an encoder saved beside the weights is loaded
    and exported to ONNX, matching PyTorch."""
    encoder_module = pytest.importorskip("gan.latent.encoder", reason="gan.latent.encoder is not in this checkout")
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
        shutil.copyfile(site / "ort" / name, folder / name)
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
              "out(input.map((a) => { const p = interpolationPath(a); return [Array.from(p.z), Array.from(p.classes)]; }));")
    asks = [dict(digitA=3, seedA=1, digitB=8, seedB=2, steps=s, zDim=64, numClasses=10, method=m, psi=p)
            for s, m, p in ((12, "slerp", 1.0), (7, "lerp", 0.7), (2, "slerp", 0.5), (64, "slerp", 0.9))]
    asks.append(dict(digitA=5, seedA=9, digitB=5, seedB=9, steps=5, zDim=64, numClasses=10, method="slerp", psi=1.0))
    for ask, (z, classes) in zip(asks, run_node(script, asks)):
        ez, ec = interpolation_path(digit_a=ask["digitA"], seed_a=ask["seedA"], digit_b=ask["digitB"],
                                    seed_b=ask["seedB"], steps=ask["steps"], z_dim=64, method=ask["method"],
                                    truncation_psi=ask["psi"])
        assert np.abs(np.array(z).reshape(ez.shape) - ez.numpy()).max() <= 1e-5
        assert np.abs(np.array(classes).reshape(ec.shape) - ec.numpy()).max() <= 1e-7


DRAW_SCRIPT = """import {prepareDrawing} from './web/drawing.js';
out(input.map((c) => { try { return Array.from(prepareDrawing({width: c.w, height: c.h, channels: c.c,
    data: Buffer.from(c.data, 'base64')})); } catch (e) { return e.name + ': ' + e.message; } }));"""


def _as_payload(image: Image.Image) -> dict:
    import base64

    array = np.asarray(image)
    array = array[:, :, None] if array.ndim == 2 else array
    return {"w": array.shape[1], "h": array.shape[0], "c": array.shape[2],
            "data": base64.b64encode(array.tobytes()).decode()}


def test_drawing_js_prepares_drawings_exactly_as_python():
    from tests.support.drawings import ONE, SEVEN, STYLES, draw_strokes
    from gan.latent.drawing import prepare_drawing

    FOUR = [(90, 40), (70, 170), (200, 170), (160, 100), (160, 250)]
    images = [draw_strokes(points, style, size=size) for points in (SEVEN, ONE, FOUR)
              for style in STYLES for size in (280, 97, 2100)]
    for image, got in zip(images, run_node(DRAW_SCRIPT, [_as_payload(im) for im in images], timeout=120)):
        assert not isinstance(got, str), got
        np.testing.assert_array_equal(np.array(got, dtype=np.uint8).reshape(28, 28), prepare_drawing(image))


def test_drawing_js_refuses_what_python_refuses():
    from tests.support.drawings import all_ink, blank, speck
    from gan.latent.drawing import DrawingError, prepare_drawing

    images = [blank("sketch"), blank("paper"), speck("paper"), speck("sketch"), all_ink("paper"), all_ink("chalk")]
    for image, got in zip(images, run_node(DRAW_SCRIPT, [_as_payload(im) for im in images])):
        with pytest.raises(DrawingError) as python:
            prepare_drawing(image)
        assert got.startswith("DrawingError: ")
        assert got.split(": ", 1)[1].split(" (")[0].split(" —")[0] == str(python.value).split(" (")[0].split(" —")[0]


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
