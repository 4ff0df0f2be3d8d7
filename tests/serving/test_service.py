"""gan.serving.service: validated requests -> files with provenance, without any UI; and
what the app says about the served model (gan.serving.model_card)."""
from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from gan.config import ModelConfig
from gan.files import OutputFolder
from gan.images import upscale
from gan.inputs import MAX_GRID, MAX_SEED, MAX_STEPS
from gan.model.networks import count_parameters
from gan.model.sampling import generate_interpolation
from gan.model.weights import load_generator, weights_fingerprint
from gan.serving.model_card import how_it_works_markdown
from gan.serving.model_holder import load_model
from gan.serving.render import DIGIT_SCALE, GRID_MODES
from gan.serving.stats import ServingStats
from tests.support.png_files import pixels, text_chunks

# ----------------------------------------------------------------------------- the service

def test_generate_writes_a_crisp_png_with_provenance(service, app_weights):
    path = service.generate(3, 42, 0.8)
    assert path.suffix == ".png" and path.parent == service.output.path
    meta = text_chunks(path)
    assert meta["digit"] == "3" and meta["seed"] == "42" and meta["truncation_psi"] == "0.8"
    assert meta["weights_sha256"] == weights_fingerprint(app_weights)
    image = pixels(path)
    assert image.shape == (28 * DIGIT_SCALE, 28 * DIGIT_SCALE)
    expected = load_generator(app_weights).generate([3], [42], truncation_psi=0.8)[0].numpy()
    assert np.array_equal(image, upscale(expected, DIGIT_SCALE))  # nearest neighbour, exact


def test_same_request_same_image_new_file(service):
    a, b = service.generate(5, 7, 1.0), service.generate(5.0, 7.0, 1)
    assert a != b  # no shared file names
    assert np.array_equal(pixels(a), pixels(b))
    assert not np.array_equal(pixels(a), pixels(service.generate(5, 8, 1.0)))
    assert not np.array_equal(pixels(a), pixels(service.generate(6, 7, 1.0)))


@pytest.mark.parametrize("args, message", [
    ((10, 1, 1.0), "digit must be"), ((2.5, 1, 1.0), "digit must be"),
    ((True, 1, 1.0), "digit must be"), ((1, -1, 1.0), "seed must be"),
    ((1, MAX_SEED + 1, 1.0), "seed must be"), ((1, 1, math.nan), "truncation_psi"),
    ((1, 1, 2.0), "truncation_psi"), (("1", 1, 1.0), "digit must be")])
def test_generate_refuses_bad_input(service, args, message):
    with pytest.raises(ValueError, match=message):
        service.generate(*args)


def test_grid_png(service):
    path = service.grid(3, 4, 10, GRID_MODES[1], 6, 0.5)
    meta = text_chunks(path)
    assert meta["rows"] == "3" and meta["cols"] == "4" and meta["digit"] == "6"
    assert meta["digits"] == ",".join(["6"] * 12)
    assert meta["seeds"] == ",".join(str(s) for s in range(10, 22))
    assert meta["truncation_psi"] == "0.5" and len(meta["weights_sha256"]) == 12
    scale = int(meta["scale"])
    assert pixels(path).shape == ((3 * 30 + 2) * scale, (4 * 30 + 2) * scale)


def test_grid_largest(service):
    path = service.grid(MAX_GRID, MAX_GRID, 0)
    assert len(text_chunks(path)["seeds"].split(",")) == MAX_GRID ** 2


@pytest.mark.parametrize("args, message", [
    ((0, 4, 0), "rows must be a whole number from 1 to 16"),
    ((4, 17, 0), "cols must be a whole number from 1 to 16"),
    ((-3, 4, 0), "rows"), ((4.5, 4, 0), "rows"), ((True, 4, 0), "rows"),
    ((10**9, 4, 0), "rows"), ((4, 4, -1), "seed"), ((4, 4, 0, "diagonal"), "mode must be one of"),
    ((4, 4, 0, GRID_MODES[1], 11), "digit"), ((4, 4, 0, GRID_MODES[0], 0, -1.0), "truncation_psi")])
def test_grid_refuses_bad_input(service, args, message):
    with pytest.raises(ValueError, match=message):
        service.grid(*args)


def test_interpolate_strip_and_gif(service, app_weights):
    animation = service.interpolate(3, 1, 8, 2, 6, "lerp", 1.0)
    strip, gif = animation.strip, animation.gif
    assert (strip.suffix, gif.suffix) == (".png", ".gif")
    meta = text_chunks(strip)
    assert (meta["digits"], meta["seeds"], meta["steps"], meta["method"]) == ("3,8", "1,2", "6", "lerp")
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 2 * 6 - 2  # forward, then back
        assert json.loads(im.info["comment"]) == meta  # the same provenance, as a GIF comment
    scale = int(meta["scale"])
    first = pixels(strip)[2 * scale: 30 * scale, 2 * scale: 30 * scale][::scale, ::scale]
    generator = load_generator(app_weights)
    assert np.array_equal(first, generator.generate([3], [1])[0].numpy())  # t=0 is A exactly


def test_a_drawing_s_search_and_morph_answer_by_name(service):
    from tests.support.drawings import SEVEN, draw_strokes

    found = service.draw(np.asarray(draw_strokes(SEVEN, "chalk")), 7)
    assert found.digit == 7 and found.latent.startswith("z1.") and len(found.reading) == 3
    assert text_chunks(found.reconstruction)["latent"] == found.latent
    assert pixels(found.drawing).shape == (280, 280)
    morph = service.style_morph(found.latent, found.digit, 1, 4)
    assert text_chunks(morph.strip)["digit_b"] == "1" and morph.gif.suffix == ".gif"


def test_interpolate_morphs_the_class(service, app_weights):
    frames = generate_interpolation(load_generator(app_weights), digit_a=3, seed_a=1, digit_b=8,
                                    seed_b=1, steps=5, method="slerp")
    assert not torch.equal(frames[0], frames[-1])  # same z, only the class moves


@pytest.mark.parametrize("args, message", [
    ((3, 1, 8, 2, 1), "steps must be a whole number from 2 to 64"),
    ((3, 1, 8, 2, MAX_STEPS + 1), "steps"), ((3, 1, 8, 2, 4.5), "steps"),
    ((3, 1, 8, 2, 4, "cubic"), "method must be one of 'slerp', 'lerp'"),
    ((3, 1, 10, 2, 4), "digit_b must be"), ((3, -1, 8, 2, 4), "seed_a must be"),
    ((3, 1, 8, 2, 4, "slerp", math.nan), "truncation_psi")])
def test_interpolate_refuses_bad_input(service, args, message):
    with pytest.raises(ValueError, match=message):
        service.interpolate(*args)


def test_requests_leave_the_global_rngs_alone(service):
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    service.generate(1, 2, 0.7)
    service.grid(2, 2, 3, GRID_MODES[2])
    service.interpolate(1, 2, 3, 4, 3)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)


def test_concurrent_same_seed_requests_are_identical(service):
    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = list(pool.map(lambda _: service.generate(4, 1234, 0.9), range(16)))
    assert len(set(paths)) == 16
    first = pixels(paths[0])
    assert all(np.array_equal(first, pixels(p)) for p in paths[1:])


def test_stats_time_each_stage(service):
    service.stats.reset()
    service.grid(2, 2, 0)
    with pytest.raises(ValueError):
        service.grid(0, 2, 0)
    snap = service.stats.snapshot()
    assert {"grid.model", "grid.encode", "grid.write", "grid.handler"} <= set(snap)
    assert snap["grid.handler"]["count"] == 1  # refused requests are not timed
    assert snap["grid.model"]["total_s"] <= snap["grid.handler"]["total_s"]


def test_serving_stats_percentiles():
    stats = ServingStats()
    for ms in range(1, 101):
        stats.record("x", ms / 1000)
    snap = stats.snapshot()["x"]
    assert snap["count"] == 100 and snap["p50_ms"] == pytest.approx(50.5)
    assert snap["p95_ms"] == pytest.approx(95.05)


def test_output_folder_prunes_old_files(tmp_path):
    out = OutputFolder(tmp_path / "out", keep_s=5.0, prune_every_s=0.0)
    old = out.write("a", ".png", b"1")
    os.utime(old, (time.time() - 10, time.time() - 10))
    new = out.write("a", ".png", b"2")
    assert not old.exists() and new.exists()


# ----------------------------------------------------------------------------- descriptions

def test_model_card_shows_training_files(service, app_weights):
    fp = weights_fingerprint(app_weights)
    (app_weights / "training.json").write_text(json.dumps(
        {"command": "python train.py --data-dir /data/mnist --steps 6000", "seed": 0, "step": 6000}))
    (app_weights / "metrics.json").write_text(json.dumps(
        {"class_accuracy": 0.975, "class_accuracy_min_digit": 0.93, "frechet_distance": 1.234,
         "weights_sha256": fp, "memorisation": {"nearest_train_indices": list(range(500))}}))
    Image.new("L", (10, 10), 128).save(app_weights / "samples.png")
    card = service.model_card()
    assert "python train.py --data-dir /data/mnist --steps 6000" in card.markdown
    assert "97.50%" in card.markdown and "1.23" in card.markdown and fp in card.markdown
    assert "other weights" not in card.markdown and "steps: 6000" in card.markdown
    assert card.details["metrics"]["memorisation"]["nearest_train_indices"] == "[500 values]"
    assert card.images["samples"] is not None and card.images["samples"].is_file()
    assert card.images["loss_curve"] is None


def test_model_card_survives_broken_or_stale_files(service, app_weights):
    (app_weights / "training.json").write_text("{not json")
    (app_weights / "metrics.json").write_text(json.dumps({"class_accuracy": 0.5,
                                                          "weights_sha256": "0123456789ab"}))
    card = service.model_card()
    assert "training.json could not be read" in card.markdown
    assert "measured other weights (0123456789ab" in card.markdown
    assert "50.00%" not in card.markdown  # the figures of other weights stay off the card


def test_how_it_works_numbers_come_from_the_config(tmp_path, app_make_weights):
    config = ModelConfig(z_dim=24, embed_dim=12, g_width=20, d_width=9)
    model = load_model(app_make_weights(tmp_path / "w", config))
    text = how_it_works_markdown(model)
    assert f"{count_parameters(model.generator):,} parameters" in text
    assert "of 24 numbers" in text and "10-to-12" in text and "40×7×7" in text
    assert "20×14×14" in text and "9×14×14" in text and "18×7×7" in text
    from gan.model.networks import Discriminator
    d = Discriminator(config)
    assert f"D ({count_parameters(d):,} parameters)" in text
    assert f"`h` ({d.aux.in_features:,} numbers)" in text
    assert "softplus(-D(x, y))" in text and "CE(C(G(z, y')), y')" in text
    assert "EMA" in text and "recalibrated" in text and "√24" in text
    assert "settings are unknown" in text
    folder = app_make_weights(tmp_path / "d")
    (folder / "training.json").write_text(json.dumps(
        {"step": 6000, "train_config": {"batch_size": 64, "aux_weight": 0.5, "ema_beta": 0.999,
                                        "lr_g": 0.0002, "lr_d": 0.0002}}))
    default_text = how_it_works_markdown(load_model(folder))
    assert "of 64 numbers" in default_text and "of 24 numbers" not in default_text
    assert "6,000 steps, batch 64, aux_weight = 0.5, EMA decay 0.999" in default_text
    assert "R1" not in default_text  # no penalty
    (folder / "training.json").write_text(json.dumps(
        {"step": 10000, "train_config": {"lr_g": 0.001, "lr_d": 0.001, "r1_gamma": 0.1, "r1_every": 16}}))
    r1_text = how_it_works_markdown(load_model(folder))
    assert "R1 γ = 0.1 every 16 D steps" in r1_text
    assert "    d_loss += 0.1/2 · E‖∇ₓ D(x, y)‖²" in r1_text  # the objective names the penalty too
    assert "d_loss +=" not in default_text and "class loss, and R1)" not in default_text
    assert "(non-saturating logistic GAN plus the auxiliary class loss, and R1):" in r1_text
