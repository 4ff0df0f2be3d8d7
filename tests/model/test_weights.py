"""Weights on disk: round trip, atomic writes, permissions, and refusing anything broken."""
import hashlib
import json
import os
import stat

import pytest
import torch
from safetensors.torch import load_file, save_file

import gan.model.weights as weights_module
from gan.config import ModelConfig
from gan.model.networks import Generator
from gan.model.weights import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    WeightsError,
    load_generator,
    read_config,
    save_generator,
    weights_fingerprint,
)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_round_trip_gives_identical_outputs(core_generator, core_weights_dir):
    loaded = load_generator(core_weights_dir)
    assert loaded.config == core_generator.config
    assert not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    for name, tensor in core_generator.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    digits, seeds = [0, 3, 9, 9], [0, 1, 2, 123456]
    assert torch.equal(loaded.generate(digits, seeds), core_generator.generate(digits, seeds))
    config = json.loads((core_weights_dir / CONFIG_FILE).read_text())
    assert config["architecture"] == "DigitGAN-Generator" and config["g_width"] == 8


def test_files_are_readable_per_umask_and_no_temp_files_left(core_weights_dir, core_generator):
    save_generator(core_generator, core_weights_dir)  # overwrite in place
    assert sorted(p.name for p in core_weights_dir.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    expected = 0o666 & ~_umask()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        mode = stat.S_IMODE((core_weights_dir / name).stat().st_mode)
        assert mode == expected, f"{name}: {oct(mode)} != {oct(expected)}"
    if not _umask() & 0o004:
        assert expected & stat.S_IROTH  # world-readable under the usual 022 umask


def test_failed_save_keeps_old_weights_and_leaves_no_temp_file(core_weights_dir, core_generator,
                                                               monkeypatch):
    before = weights_fingerprint(core_weights_dir)

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(weights_module.os, "fsync", broken_fsync)  # fails mid-write
    with pytest.raises(OSError, match="disk full"):
        save_generator(core_generator, core_weights_dir)
    assert sorted(p.name for p in core_weights_dir.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    assert weights_fingerprint(core_weights_dir) == before
    load_generator(core_weights_dir)


def test_fingerprint_names_the_weights(core_weights_dir, core_generator, tmp_path):
    first = weights_fingerprint(core_weights_dir)
    # the first 12 hex digits of the weights file's sha256, as `sha256sum model.safetensors` shows
    assert first == hashlib.sha256((core_weights_dir / WEIGHTS_FILE).read_bytes()).hexdigest()[:12]
    with torch.no_grad():
        core_generator.up2.bias.add_(0.5)
    assert weights_fingerprint(save_generator(core_generator, tmp_path / "other")) != first


# ----------------------------------------------------------------------------- refusals


def _expect(folder, *patterns):
    with pytest.raises(WeightsError) as info:
        load_generator(folder)
    message = str(info.value)
    for pattern in patterns:
        assert pattern in message, message
    # every refusal carries the one command that makes new weights, for that folder
    assert info.value.hint == f"python train.py --data-dir DIR --export-dir {folder}"
    assert info.value.advice().endswith(info.value.hint)
    return message


def test_missing_folder(tmp_path):
    _expect(tmp_path / "nowhere", "does not exist")


def test_missing_config(core_weights_dir):
    (core_weights_dir / CONFIG_FILE).unlink()
    _expect(core_weights_dir, "config.json not found")


def test_missing_weights_file(core_weights_dir):
    (core_weights_dir / WEIGHTS_FILE).unlink()
    _expect(core_weights_dir, "model.safetensors not found")


def test_truncated_safetensors(core_weights_dir):
    path = core_weights_dir / WEIGHTS_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _expect(core_weights_dir, "not a valid safetensors file", str(path))


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 7, b"this is not a model at all" * 10,
                                     b"\xff" * 64])
def test_garbage_safetensors(core_weights_dir, garbage):
    (core_weights_dir / WEIGHTS_FILE).write_bytes(garbage)
    _expect(core_weights_dir, "not a valid safetensors file")


@pytest.mark.parametrize("text, pattern", [("{not json", "not valid JSON"),
                                           ("[1, 2]", "expected a JSON object"),
                                           (b"\xff\xfe".decode("latin-1"), "not valid JSON")])
def test_broken_config(core_weights_dir, text, pattern):
    (core_weights_dir / CONFIG_FILE).write_text(text, encoding="latin-1")
    # gan.files.read_json's error: the file, what it is, what is wrong
    _expect(core_weights_dir, f"{core_weights_dir / CONFIG_FILE}: the model config ", pattern)


def _edit_config(folder, **changes):
    path = folder / CONFIG_FILE
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_config_changed_after_saving(core_weights_dir):
    _edit_config(core_weights_dir, g_width=16)
    _expect(core_weights_dir, "different config")


def test_shape_mismatch_without_embedded_config(core_weights_dir):
    # weights written by a tool that does not embed the config: the shapes must still match
    path = core_weights_dir / WEIGHTS_FILE
    save_file(load_file(str(path)), str(path))
    load_generator(core_weights_dir)  # fine as it is
    _edit_config(core_weights_dir, g_width=16)
    _expect(core_weights_dir, "has shape", "config needs")


def test_missing_and_unexpected_tensors(core_weights_dir):
    path = core_weights_dir / WEIGHTS_FILE
    tensors = load_file(str(path))
    tensors["extra.weight"] = tensors.pop("fc.weight")
    save_file(tensors, str(path))
    _expect(core_weights_dir, "missing ['fc.weight']", "unexpected ['extra.weight']")


def test_wrong_dtype(core_weights_dir):
    path = core_weights_dir / WEIGHTS_FILE
    tensors = load_file(str(path))
    tensors["fc.weight"] = tensors["fc.weight"].double()
    save_file(tensors, str(path))
    _expect(core_weights_dir, "fc.weight", "torch.float64")


@pytest.mark.parametrize("key, value, pattern", [
    ("depth", 3, "unknown model config keys"),
    ("g_width", 0, "g_width must be a positive int"),
    ("g_width", "8", "g_width must be a positive int"),
    ("architecture", "StyleGAN", "expected architecture"),
    ("format_version", 2, "expected architecture"),
])
def test_invalid_config_values(core_weights_dir, key, value, pattern):
    _edit_config(core_weights_dir, **{key: value})
    _expect(core_weights_dir, pattern, CONFIG_FILE)
    with pytest.raises(WeightsError):
        read_config(core_weights_dir)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights(core_generator, tmp_path, value):
    with torch.no_grad():
        core_generator.up1.weight[0, 0, 0, 0] = value
    folder = save_generator(core_generator, tmp_path / "bad")
    _expect(folder, "up1.weight contains NaN or inf")


def test_save_accepts_a_generator_on_any_mode(tmp_path):
    G = Generator(ModelConfig(g_width=4, d_width=4)).train()
    loaded = load_generator(save_generator(G, tmp_path / "w"))
    assert loaded.config.g_width == 4
    assert G.training  # saving does not change the module
