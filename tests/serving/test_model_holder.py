"""gan.serving.model_holder: loading with fingerprints, reloads and the hot swap while
requests run."""
from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from gan.config import ModelConfig
from gan.files import OutputFolder
from gan.images import upscale
from gan.model.networks import Generator
from gan.model.weights import WEIGHTS_FILE, WeightsError, weights_fingerprint
from gan.serving.model_holder import ModelHolder, load_model
from gan.serving.render import DIGIT_SCALE
from gan.serving.service import DigitService
from tests.support.png_files import pixels, text_chunks

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
