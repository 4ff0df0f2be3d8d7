"""The image -> latent encoder: training, strict storage, the fast search (its ONNX export is
tested with the static Space, tests/space/test_static.py).

Everything runs on a tiny random generator (8 channels) with a tiny encoder trained a few
steps; how well the real encoder inverts real handwriting is measured by
benchmarks/inversion_encoder.py, not here.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_bytes

from gan import load_generator
from gan.config import ModelConfig
from gan.images import from_uint8
from gan.latent.codec import decode_latent
from gan.latent.encoder import (
    Encoder,
    EncoderConfig,
    EncoderWeightsError,
    encode,
    generator_fingerprint,
    load_encoder,
    read_encoder_header,
    save_encoder,
    train_encoder,
)
from gan.latent.encoder_search import EncoderSearchSettings, _Objective, invert_with_encoder, polish
from gan.model.classifier import load_classifier
from gan.model.networks import Generator, recalibrate_batchnorm
from gan.model.sampling import generate_from_latents
from gan.model.weights import ENCODER_FILE, save_generator
from gan.train_encoder import main

TINY = EncoderConfig(width=4, hidden=16, steps=6, batch_size=8, warmup_steps=2, seed=3)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread for every test here, set before the module's shared encoder trains:
    the models are tiny, and results compared bit for bit must use the same arithmetic."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny_generator(seed: int) -> Generator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = Generator(ModelConfig(g_width=8, d_width=8))
    recalibrate_batchnorm(generator, batches=2, batch_size=32)
    return generator.requires_grad_(False).eval()


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return save_generator(_tiny_generator(1234), tmp_path_factory.mktemp("encoder") / "weights")


@pytest.fixture(scope="module")
def generator(weights):
    return load_generator(weights)


@pytest.fixture(scope="module")
def trained(generator, classifier):
    return train_encoder(generator, TINY, classifier=classifier)


@pytest.fixture
def rendered(generator):
    """Three digits the generator drew itself, uint8, with their digits."""
    z = torch.randn(3, generator.z_dim, generator=torch.Generator().manual_seed(7))
    digits = [2, 5, 9]
    return generate_from_latents(generator, z, torch.eye(10)[digits]), digits


def test_training_is_reproducible_and_leaves_global_rng_alone(generator, classifier, trained):
    state = torch.get_rng_state()
    again, summary = train_encoder(generator, TINY, classifier=classifier)
    assert torch.equal(torch.get_rng_state(), state)
    for name, tensor in trained[0].state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
    assert set(summary["final_losses"]) == set(summary["first_losses"]) == {"total", "latent", "image_fake"}
    assert not again.training and not any(p.requires_grad for p in again.parameters())


def test_training_lowers_the_image_loss_on_real_digits(generator, classifier):
    from gan.data import make_synthetic_digits

    images, labels = make_synthetic_digits(64, seed=0)
    config = dataclasses.replace(TINY, steps=40, real_share=0.5, feature_weight=0.0, lr=1e-2)
    _, summary = train_encoder(generator, config, real_images=images, real_labels=labels, classifier=classifier)
    first, final = summary["first_losses"], summary["final_losses"]
    assert final["image_real"] < first["image_real"] and final["image_fake"] < first["image_fake"]


def test_bad_training_inputs_are_refused(generator):
    with pytest.raises(ValueError, match="steps must be a positive int"):
        EncoderConfig(steps=0)
    with pytest.raises(ValueError, match="real_share must be at most 1"):
        EncoderConfig(real_share=1.5)
    with pytest.raises(ValueError, match="uint8"):
        train_encoder(generator, TINY, real_images=torch.zeros(4, 28, 28), real_labels=torch.zeros(4))
    with pytest.raises(ValueError, match="z_dim"):
        train_encoder(generator, dataclasses.replace(TINY, z_dim=32))


def test_save_load_round_trip(weights, generator, trained):
    encoder, summary = trained
    path = save_encoder(encoder, weights, generator_fingerprint=generator_fingerprint(weights), training=summary)
    assert path == weights / ENCODER_FILE
    assert not list(weights.glob("*.tmp")) and not list(weights.glob(".*.tmp"))
    loaded = load_encoder(weights, generator=generator)
    images, classes = torch.rand(4, 1, 28, 28) * 2 - 1, torch.eye(10)[[0, 3, 6, 9]]
    assert torch.equal(loaded(images, classes), encoder(images, classes))
    header = read_encoder_header(weights)
    assert header["config"] == TINY.to_dict()
    assert header["generator_sha256"] == generator_fingerprint(weights) and len(header["generator_sha256"]) == 64
    assert header["training"]["final_losses"] == summary["final_losses"]


def _write_raw(folder: Path, tensors: dict, metadata: dict) -> None:
    (folder / ENCODER_FILE).write_bytes(save_bytes(tensors, metadata=metadata))


def _valid_parts(weights: Path, encoder: Encoder) -> tuple[dict, dict]:
    save_encoder(encoder, weights, generator_fingerprint=generator_fingerprint(weights))
    from safetensors import safe_open

    with safe_open(str(weights / ENCODER_FILE), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


def test_an_encoder_for_other_weights_is_refused(tmp_path, weights, trained):
    other = save_generator(_tiny_generator(99), tmp_path / "other")
    save_encoder(trained[0], other, generator_fingerprint=generator_fingerprint(weights))
    with pytest.raises(EncoderWeightsError, match="trained for generator weights with sha256") as error:
        load_encoder(other)
    assert "python -m gan.train_encoder --weights" in error.value.advice()
    with pytest.raises(ValueError, match="full sha256"):
        save_encoder(trained[0], other, generator_fingerprint=generator_fingerprint(other)[:12])


def test_missing_and_corrupt_files_are_refused(tmp_path, weights, trained):
    folder = save_generator(_tiny_generator(1234), tmp_path / "w")
    with pytest.raises(EncoderWeightsError, match="not found") as error:
        load_encoder(folder)
    assert error.value.hint == f"python -m gan.train_encoder --weights {folder} --data-dir DIR"
    (folder / ENCODER_FILE).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(EncoderWeightsError, match="not a valid safetensors file"):
        load_encoder(folder)
    save_encoder(trained[0], folder, generator_fingerprint=generator_fingerprint(folder))
    data = (folder / ENCODER_FILE).read_bytes()
    (folder / ENCODER_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(EncoderWeightsError, match="not a valid safetensors file"):
        load_encoder(folder)


@pytest.mark.parametrize("damage, message", [
    (lambda t, m: t.update({"fc.weight": t["fc.weight"][:, :-1].contiguous()}), "has shape"),
    (lambda t, m: t.update({"out.bias": t["out.bias"].double()}), "torch.float32"),
    (lambda t, m: t["conv1.weight"].view(-1).__setitem__(0, float("nan")), "NaN or inf"),
    (lambda t, m: t.pop("conv2.bias"), "missing \\['conv2.bias'\\]"),
    (lambda t, m: t.update({"extra": torch.zeros(1)}), "unexpected \\['extra'\\]"),
    (lambda t, m: m.update({"config": "{"}), "config in the header is invalid"),
    (lambda t, m: m.update({"config": json.dumps({"width": 4, "colour": 1})}), "unknown encoder config keys"),
    (lambda t, m: m.update({"format": "something else"}), "expected format 'DigitGAN-Encoder'"),
    (lambda t, m: m.pop("generator_sha256"), "sha256 None"),
])
def test_malformed_contents_are_refused(tmp_path, trained, damage, message):
    folder = save_generator(_tiny_generator(1234), tmp_path / "w")
    tensors, metadata = _valid_parts(folder, trained[0])
    damage(tensors, metadata)
    _write_raw(folder, tensors, metadata)
    with pytest.raises(EncoderWeightsError, match=message):
        load_encoder(folder)


def test_an_encoder_of_another_latent_size_is_refused_for_the_generator(tmp_path):
    folder = save_generator(_tiny_generator(1234), tmp_path / "w")
    encoder = Encoder(dataclasses.replace(TINY, z_dim=32))
    save_encoder(encoder, folder, generator_fingerprint=generator_fingerprint(folder))
    with pytest.raises(EncoderWeightsError, match="z_dim 32"):
        load_encoder(folder, generator=load_generator(folder))


def test_fast_search_gives_transportable_latents(generator, classifier, trained, rendered):
    targets, digits = rendered
    settings = EncoderSearchSettings(adam_steps=3, polish_steps=1, seed_candidates=4, seed_restarts=1)
    latents = invert_with_encoder(generator, trained[0], targets, digits, classifier=classifier, settings=settings)
    assert latents.shape == (3, generator.z_dim) and latents.dtype == torch.float32
    for z in latents:
        assert torch.equal(decode_latent(z.tolist(), generator.z_dim), z)
    again = invert_with_encoder(generator, trained[0], targets, digits, classifier=classifier, settings=settings)
    assert torch.equal(latents, again)
    one = invert_with_encoder(generator, trained[0], targets[1], [digits[1]], classifier=classifier,
                              settings=settings)
    assert torch.allclose(one[0], latents[1], atol=1e-4)


def test_each_refinement_lowers_the_loss(generator, classifier, trained, rendered):
    targets, digits = rendered
    target_images = from_uint8(targets).unsqueeze(1)
    settings = EncoderSearchSettings()
    objective = _Objective(generator, classifier, torch.eye(10)[digits], target_images, settings)
    start = encode(trained[0], targets, torch.tensor(digits))
    polished = polish(objective, start, 3)
    with torch.no_grad():
        before, after = objective.total(start), objective.total(polished)
    assert (after < before).all()  # a tiny untrained encoder leaves plenty for the polish to find
    refined = invert_with_encoder(generator, trained[0], targets, digits, classifier=classifier,
                                  settings=EncoderSearchSettings(polish_steps=0, adam_steps=10))
    with torch.no_grad():
        assert (objective.total(refined) < before).all()


def test_bad_search_inputs_are_refused(generator, classifier, trained):
    encoder = trained[0]
    with pytest.raises(ValueError, match="uint8 images"):
        invert_with_encoder(generator, encoder, torch.zeros(1, 28, 28), [3], classifier=classifier)
    with pytest.raises(ValueError, match="one digit per target"):
        invert_with_encoder(generator, encoder, torch.zeros(2, 28, 28, dtype=torch.uint8), [3],
                            classifier=classifier)
    with pytest.raises(ValueError, match="digit"):
        invert_with_encoder(generator, encoder, torch.zeros(1, 28, 28, dtype=torch.uint8), [10],
                            classifier=classifier)
    with pytest.raises(ValueError, match="seed_restarts must be at most"):
        invert_with_encoder(generator, encoder, torch.zeros(1, 28, 28, dtype=torch.uint8), [3],
                            classifier=classifier, settings=EncoderSearchSettings(seed_restarts=2))


def test_command_line_trains_and_writes_the_encoder(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DIGITGAN_DATA_DIR", raising=False)  # CI sets it; this run is the no-MNIST path
    folder = save_generator(_tiny_generator(1234), tmp_path / "w")
    assert main(["--weights", str(folder), "--steps", "2", "--batch-size", "4", "--seed", "1"]) == 0
    assert "rendered digits only" in capsys.readouterr().out
    assert read_encoder_header(folder)["config"]["steps"] == 2
    load_encoder(folder)
    assert main(["--weights", str(tmp_path / "nowhere"), "--steps", "2"]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--weights", str(folder), "--steps", "0"])
    assert "steps must be a positive int" in capsys.readouterr().err



def test_the_shipped_encoder_belongs_to_the_shipped_weights():
    shipped = Path(__file__).resolve().parents[2] / "weights"
    generator = load_generator(shipped)
    encoder = load_encoder(shipped, generator=generator)
    z = torch.randn(20, generator.z_dim, generator=torch.Generator().manual_seed(0))
    digits = torch.arange(20) % 10
    images = generate_from_latents(generator, z, torch.eye(10)[digits])
    found = encode(encoder, images, digits)
    redrawn = generate_from_latents(generator, found, torch.eye(10)[digits])
    rms = ((images.float() - redrawn.float()) / 255).pow(2).mean().sqrt()
    assert rms < 0.15  # the generator's own digits come back close; real ones: see the benchmark


def test_refining_by_sampling_never_draws_the_target_worse(generator, rendered):
    from gan.latent.encoder_search import pixel_rms, refine_by_sampling

    targets, digits = rendered
    start = torch.zeros(generator.z_dim)
    for target, digit in zip(targets, digits):
        before = pixel_rms(generate_from_latents(generator, start[None], [digit]), target)
        z = refine_by_sampling(generator, start, digit, target)
        after = pixel_rms(generate_from_latents(generator, z[None], [digit]), target)
        assert float(after) <= float(before) and not torch.equal(z, start)  # it moved, and not away
        assert torch.equal(refine_by_sampling(generator, start, digit, target), z)  # deterministic
