"""The service layer without any UI (gan.inputs, gan.model_holder, gan.pictures, gan.service):
input rules, provenance, reloads, concurrency."""
from __future__ import annotations

import json
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan.config import ModelConfig
from gan.images import upscale
from gan.model.networks import Generator, count_parameters
from gan.inputs import MAX_SEED
from gan.files import OutputFolder
from gan.inputs import (MAX_GRID, MAX_STEPS, as_choice, as_digit, as_int, as_seed, as_truncation, random_seed)
from gan.serving.model_card import how_it_works_markdown
from gan.serving.model_holder import ModelHolder, load_model
from gan.serving.render import DIGIT_SCALE, GRID_MODES, fit_scale, grid_cells
from gan.serving.service import DigitService
from gan.serving.stats import ServingStats
from gan.model.sampling import generate_interpolation
from gan.model.weights import WEIGHTS_FILE, WeightsError, load_generator, weights_fingerprint

pytestmark = pytest.mark.timeout(120)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def text_chunks(path: Path) -> dict[str, str]:
    with Image.open(path) as im:
        return dict(im.text)


@pytest.fixture
def service(app_weights, tmp_path):
    return DigitService(ModelHolder(app_weights), output=OutputFolder(tmp_path / "out"),
                        auto_reload_s=None)


# ----------------------------------------------------------------------------- input rules

@pytest.mark.parametrize("value", [0, 7, 9, np.int64(5), 3.0, np.float64(2.0)])
def test_as_digit_accepts_whole_numbers(value):
    assert as_digit(value) == int(value)
    assert type(as_digit(value)) is int


@pytest.mark.parametrize("value", [-1, 10, 3.5, True, False, np.bool_(True), math.nan, math.inf,
                                   "3", None, [3], 1e300])
def test_as_digit_refuses_with_the_allowed_range(value):
    with pytest.raises(ValueError, match=r"digit must be a whole number from 0 to 9"):
        as_digit(value)


@pytest.mark.parametrize("value", [0, MAX_SEED, float(MAX_SEED), 42])
def test_as_seed_accepts_the_full_range(value):
    assert as_seed(value) == int(value)


@pytest.mark.parametrize("value", [-1, MAX_SEED + 1, 0.5, True, math.nan, "7", None])
def test_as_seed_refuses(value):
    with pytest.raises(ValueError, match=rf"seed must be a whole number from 0 to {MAX_SEED}"):
        as_seed(value)


def test_as_int_names_the_parameter():
    with pytest.raises(ValueError, match=r"^rows must be a whole number from 1 to 16, got 17$"):
        as_int(17, "rows", 1, 16)


@pytest.mark.parametrize("value", [0, 1, 0.5, np.float32(0.25), np.float64(0.75)])
def test_as_truncation_accepts(value):
    assert as_truncation(value) == pytest.approx(float(value))
    assert type(as_truncation(value)) is float


@pytest.mark.parametrize("value", [-0.01, 1.01, math.nan, math.inf, True, "0.5", None])
def test_as_truncation_refuses(value):
    with pytest.raises(ValueError, match=r"truncation_psi must be a number from 0 to 1"):
        as_truncation(value)


def test_as_choice_lists_the_choices():
    assert as_choice("lerp", "method", ("slerp", "lerp")) == "lerp"
    with pytest.raises(ValueError, match=r"method must be one of 'slerp', 'lerp', got 'cubic'"):
        as_choice("cubic", "method", ("slerp", "lerp"))
    with pytest.raises(ValueError):
        as_choice(None, "method", ("slerp", "lerp"))


def test_random_seed_is_in_range_and_leaves_the_global_rngs_alone():
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    seeds = {random_seed() for _ in range(50)}
    assert all(0 <= s <= MAX_SEED for s in seeds) and len(seeds) > 1
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)


# ----------------------------------------------------------------------------- grid layout

def test_grid_one_digit_per_row_shares_seeds_down_each_column():
    digits, seeds = grid_cells(12, 3, 100, GRID_MODES[0], 0)
    assert digits[:3] == [0, 0, 0] and digits[27:30] == [9, 9, 9] and digits[30:33] == [0, 0, 0]
    assert seeds[:3] == [100, 101, 102] and seeds[27:30] == [100, 101, 102]
    assert seeds[30:33] == [103, 104, 105]  # rows 10+ move on to fresh seeds


def test_grid_all_one_digit_and_random_digits():
    digits, seeds = grid_cells(2, 3, 5, GRID_MODES[1], 7)
    assert digits == [7] * 6 and seeds == [5, 6, 7, 8, 9, 10]
    digits, seeds = grid_cells(4, 4, 5, GRID_MODES[2], 0)
    assert all(0 <= d <= 9 for d in digits) and len(set(digits)) > 1
    assert grid_cells(4, 4, 5, GRID_MODES[2], 0) == (digits, seeds)  # seeded, repeatable
    assert grid_cells(4, 4, 6, GRID_MODES[2], 0)[0] != digits


def test_grid_seeds_wrap_past_the_largest_seed():
    _, seeds = grid_cells(1, 3, MAX_SEED, GRID_MODES[1], 0)
    assert seeds == [MAX_SEED, 0, 1]


def test_fit_scale():
    assert fit_scale(28, 28) == 10
    assert fit_scale(302, 302) == 3
    assert fit_scale(482, 482) == 2  # a 16x16 grid
    assert fit_scale(2000, 10) == 1


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
    strip, gif = service.interpolate(3, 1, 8, 2, 6, "lerp", 1.0)
    meta = text_chunks(strip)
    assert (meta["digits"], meta["seeds"], meta["steps"], meta["method"]) == ("3,8", "1,2", "6", "lerp")
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 2 * 6 - 2  # forward, then back
        assert json.loads(im.info["comment"]) == meta  # the same provenance, as a GIF comment
    scale = int(meta["scale"])
    first = pixels(strip)[2 * scale: 30 * scale, 2 * scale: 30 * scale][::scale, ::scale]
    generator = load_generator(app_weights)
    assert np.array_equal(first, generator.generate([3], [1])[0].numpy())  # t=0 is A exactly


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


# ----------------------------------------------------------------------------- loading and reloads

def test_missing_folder_names_the_train_command(tmp_path):
    folder = tmp_path / "nowhere"
    with pytest.raises(WeightsError) as info:
        ModelHolder(folder)
    assert str(folder) in str(info.value)
    assert info.value.hint == f"python train.py --data-dir DIR --export-dir {folder}"


def test_empty_folder_names_the_train_command(tmp_path):
    with pytest.raises(WeightsError, match=r"config.json not found") as info:
        ModelHolder(tmp_path)
    assert "--export-dir" in info.value.advice()


def test_corrupt_weights_are_refused(app_weights):
    (app_weights / WEIGHTS_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="not a valid safetensors file"):
        load_model(app_weights)


def test_reload_swaps_and_requests_in_flight_keep_the_old_model(service, app_weights,
                                                                  app_make_weights):
    before = service.generate(3, 3)
    in_flight = service.holder.current()  # what a running request holds
    app_make_weights(app_weights)
    message = service.reload()
    new_fp = weights_fingerprint(app_weights)
    assert new_fp != in_flight.fingerprint and new_fp in message
    after = service.generate(3, 3)
    assert text_chunks(after)["weights_sha256"] == new_fp
    assert not np.array_equal(pixels(before), pixels(after))
    old_image = in_flight.generator.generate([3], [3])[0].numpy()
    assert np.array_equal(upscale(old_image, DIGIT_SCALE), pixels(before))


def test_reload_of_unchanged_weights_says_so(service):
    assert "unchanged" in service.reload()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing", "config_mismatch", "nan"])
def test_bad_new_weights_are_rejected_and_the_old_model_keeps_serving(service, app_weights,
                                                                     app_make_weights, damage,
                                                                     tmp_path):
    served = service.holder.current()
    reference = pixels(service.generate(1, 1))
    path = app_weights / WEIGHTS_FILE
    if damage == "garbage":
        path.write_bytes(b"\x00" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "missing":
        path.unlink()
    elif damage == "config_mismatch":  # half-written: new config.json, old weights
        other = app_make_weights(tmp_path / "other", ModelConfig(g_width=16))
        (app_weights / "config.json").write_text((other / "config.json").read_text())
    elif damage == "nan":
        from safetensors.torch import load_file, save_file
        tensors = load_file(str(path))
        tensors["fc.weight"][0, 0] = math.nan
        save_file(tensors, str(path))
    with pytest.raises(WeightsError, match=f"still serving {served.fingerprint}"):
        service.reload()
    assert service.holder.current() is served
    assert service.holder.last_error
    assert np.array_equal(pixels(service.generate(1, 1)), reference)


def test_reload_if_changed(app_weights, app_make_weights, tmp_path):
    holder = ModelHolder(app_weights)
    first = holder.current()
    assert holder.reload_if_changed() is None  # nothing changed: no load at all
    app_make_weights(app_weights)
    result = holder.reload_if_changed()
    assert result is not None and result.changed and holder.current() is not first
    second = holder.current()
    (app_weights / WEIGHTS_FILE).write_bytes(b"half a file")
    result = holder.reload_if_changed()
    assert result is not None and not result.changed and "still serving" in result.message
    assert holder.current() is second and holder.last_error
    assert holder.reload_if_changed() is None  # the same broken files are not retried
    app_make_weights(app_weights)
    assert holder.reload_if_changed().changed and holder.last_error is None


def test_reload_if_changed_respects_the_interval(app_weights, app_make_weights):
    holder = ModelHolder(app_weights)
    app_make_weights(app_weights)
    assert holder.reload_if_changed(min_interval=3600) is None
    assert holder.reload_if_changed(min_interval=0).changed


def test_service_checks_for_new_weights_before_a_request(app_weights, app_make_weights, tmp_path):
    service = DigitService(ModelHolder(app_weights), output=OutputFolder(tmp_path / "out"),
                           auto_reload_s=0.0)
    app_make_weights(app_weights)
    path = service.generate(2, 2)
    assert text_chunks(path)["weights_sha256"] == weights_fingerprint(app_weights)


def test_reloads_during_requests_cause_no_errors(service, app_weights, app_make_weights):
    stop = threading.Event()
    errors: list[BaseException] = []

    def reloader():
        while not stop.is_set():
            try:
                service.reload()
            except BaseException as exc:  # noqa: BLE001 - collected for the assert
                errors.append(exc)

    thread = threading.Thread(target=reloader)
    thread.start()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            paths = list(pool.map(lambda i: service.grid(2, 2, i), range(24)))
    finally:
        stop.set()
        thread.join()
    assert not errors and len(paths) == 24


def test_in_memory_generator_cannot_reload(tmp_path):
    with torch.random.fork_rng(devices=[]):
        holder = ModelHolder(Generator(ModelConfig(g_width=8)))
    assert holder.current().fingerprint.startswith("mem-")
    with pytest.raises(WeightsError, match="no weights folder"):
        holder.reload()
    assert holder.reload_if_changed() is None
    service = DigitService(holder, output=OutputFolder(tmp_path / "out"))
    assert text_chunks(service.generate(1, 1))["weights_sha256"] == holder.current().fingerprint


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
    assert "other weights" not in card.markdown
    assert card.details["metrics"]["memorisation"]["nearest_train_indices"] == "[500 values]"
    assert card.images["samples"] is not None and card.images["samples"].is_file()
    assert card.images["loss_curve"] is None


def test_model_card_survives_broken_or_stale_files(service, app_weights):
    (app_weights / "training.json").write_text("{not json")
    (app_weights / "metrics.json").write_text(json.dumps({"class_accuracy": 0.5,
                                                          "weights_sha256": "0123456789ab"}))
    card = service.model_card()
    assert "training.json could not be read" in card.markdown
    assert "other weights 0123456789ab" in card.markdown


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
