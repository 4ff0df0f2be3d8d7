"""The Draw search (gan.latent.inversion): finding latents, and latent transport (gan.latent.codec)."""
import math
import os

import numpy as np
import pytest
import torch

from gan.latent.codec import decode_latent, encode_latent, max_latent_norm
from gan.latent.inversion import Inversion, InversionSettings, invert_batch, invert_drawing
from gan.model.classifier import load_classifier
from gan.model.sampling import generate_from_latents, latents_from_seeds
from tests.support.processes import REPO_ROOT

# Small enough for a tiny generator on one thread; the defaults are tuned for the real one.
QUICK = InversionSettings(steps=100, restarts=2, candidates=16, lr=0.2)


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


@pytest.fixture
def generator(core_generator):
    """The tiny generator with a stronger last layer, so its images have MNIST-like contrast
    (a freshly initialised one draws faint grey blobs that barely depend on z)."""
    core_generator.up2.weight.mul_(12.0)
    return core_generator


def render(generator, z: torch.Tensor, digits: list[int]) -> torch.Tensor:
    return generate_from_latents(generator, z, digits)


def pixel_rms(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a.float() - b.float()) / 255).pow(2).flatten(1).mean(1).sqrt()


def test_the_search_finds_an_image_the_generator_can_make(generator, classifier):
    z = latents_from_seeds([5000, 5001], generator.z_dim)  # not among the seeds 0..999 below
    targets = render(generator, z, [3, 5])
    bank = latents_from_seeds(range(1000), generator.z_dim)
    best_seed = torch.stack([pixel_rms(render(generator, bank, [d] * 1000), t.expand(1000, -1, -1)).min()
                             for t, d in zip(targets, [3, 5])])
    found = invert_batch(generator, targets, [3, 5], classifier=classifier, settings=QUICK)
    for result, target, best in zip(found, targets, best_seed):
        assert isinstance(result, Inversion) and result.latent.dtype == torch.float32
        assert result.latent.shape == (generator.z_dim,)
        assert torch.equal(result.reconstruction, render(generator, result.latent[None], [result.digit])[0])
        assert result.pixel_distance == pytest.approx(float(pixel_rms(result.reconstruction[None], target[None])))
        # within 2 grey levels (RMS), and 20x closer than the best of 1000 seeds
        assert result.pixel_distance < 2 / 255 and result.pixel_distance < best / 20
        assert result.feature_distance < 0.5


def test_the_same_drawing_gives_the_same_latent(generator, classifier):
    target = render(generator, latents_from_seeds([5], generator.z_dim), [7])
    first = invert_drawing(generator, target[0], digit=7, classifier=classifier, settings=QUICK)
    again = invert_drawing(generator, target[0].numpy(), digit=7, classifier=classifier, settings=QUICK)
    assert torch.equal(first.latent, again.latent)
    assert torch.equal(first.reconstruction, again.reconstruction)


def test_the_digit_defaults_to_the_classifier_reading_and_can_be_overridden(generator, classifier):
    target = render(generator, latents_from_seeds([5], generator.z_dim), [7])[0]
    read = invert_drawing(generator, target, classifier=classifier, settings=QUICK)
    digits = [digit for digit, _ in read.reading]
    probabilities = [p for _, p in read.reading]
    assert read.digit == digits[0] and len(set(digits)) == 3
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-6
    overridden = invert_drawing(generator, target, digit=(digits[0] + 1) % 10, classifier=classifier,
                                settings=QUICK)
    assert overridden.digit == (digits[0] + 1) % 10 and overridden.reading == read.reading


def test_the_search_leaves_the_generator_and_the_global_rng_alone(generator, classifier):
    weights = {k: v.clone() for k, v in generator.state_dict().items()}
    generator.train()
    rng_state = torch.get_rng_state()
    target = render(generator, latents_from_seeds([5], generator.z_dim), [2])
    with torch.inference_mode():  # as a server handler may call it
        result = invert_drawing(generator, target[0], digit=2, classifier=classifier, settings=QUICK)
    assert generator.training
    assert all(torch.equal(v, weights[k]) for k, v in generator.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert result.pixel_distance < 2 / 255


def test_bad_targets_and_digits_are_refused(generator, classifier):
    image = torch.zeros(28, 28, dtype=torch.uint8)
    with pytest.raises(ValueError, match="uint8 images"):
        invert_drawing(generator, image.float(), digit=1, classifier=classifier, settings=QUICK)
    with pytest.raises(ValueError, match="uint8 images"):
        invert_drawing(generator, torch.zeros(32, 32, dtype=torch.uint8), digit=1, classifier=classifier)
    with pytest.raises(ValueError, match="one digit per target"):
        invert_batch(generator, image.expand(2, -1, -1), [1], classifier=classifier, settings=QUICK)


def test_latent_text_and_lists_round_trip_exactly():
    z = torch.randn(64, generator=torch.Generator().manual_seed(0)) * 1.3
    text = encode_latent(z)
    assert text.startswith("z1.") and len(text) == 3 + math.ceil(64 * 4 * 4 / 3)
    assert torch.equal(decode_latent(text, 64), z)
    assert torch.equal(decode_latent(z.tolist(), 64), z)  # JSON floats of float32 values
    assert torch.equal(decode_latent(z.numpy(), 64), z)
    assert encode_latent(decode_latent(text, 64)) == text
    assert torch.equal(decode_latent(f"  {text}\n", 64), z)
    result = Inversion(digit=1, latent=z, reconstruction=torch.zeros(28, 28, dtype=torch.uint8),
                       pixel_distance=0.0, feature_distance=0.0, reading=((1, 1.0),))
    assert torch.equal(decode_latent(result.latent_text, 64), z)


@pytest.mark.parametrize("value, message", [
    ([0.1] * 63, "64 numbers"),
    (encode_latent(torch.zeros(63)), "64 numbers"),
    ([0.1] * 63 + [float("nan")], "finite"),
    ([0.1] * 63 + [float("inf")], "finite"),
    ([0.1] * 63 + [1e39], "finite"),
    (encode_latent(torch.full((64,), float("nan"))), "finite"),
    ([3.0] * 64, "norm must be at most 20"),      # norm 24: no sample of N(0, I) is that far out
    ([0.1] * 63 + [True], "only numbers"),
    ([0.1] * 63 + ["1"], "only numbers"),
    ([0.1] * 63 + [None], "only numbers"),
    ("z1.!!!not-base64", "base64"),
    ("AAAA", "start with 'z1.'"),
    ("z1." + "A" * 70_000, "start with 'z1.'"),
    (None, "list of 64 numbers"),
    (3.5, "list of 64 numbers"),
    (np.zeros((8, 8), np.float32), "flat array"),
])
def test_bad_latents_are_refused_with_a_message(value, message):
    with pytest.raises(ValueError, match=message):
        decode_latent(value, 64)


def test_the_norm_bound_leaves_every_plausible_latent_through():
    assert max_latent_norm(64) == 20.0
    z = latents_from_seeds(range(2000), 64)
    assert z.norm(dim=1).max() < 0.6 * max_latent_norm(64)
    assert decode_latent([20.0 / 8] * 64, 64).dtype == torch.float32  # norm exactly 20: allowed


@pytest.mark.mnist
@pytest.mark.skipif(not os.environ.get("DIGITGAN_DATA_DIR"), reason="needs the real MNIST IDX files")
def test_shipped_generator_finds_real_test_digits_and_restyles_them(classifier):
    from gan.data import load_mnist
    from gan.model.weights import load_generator

    generator = load_generator(REPO_ROOT / "weights")
    images, labels = load_mnist("test", data_dir=os.environ["DIGITGAN_DATA_DIR"], download=False)
    targets, digits = images[:3], labels[:3].tolist()
    found = invert_batch(generator, targets, digits, classifier=classifier)
    bank = latents_from_seeds(range(256), generator.z_dim)
    for result, target, digit in zip(found, targets, digits):
        best_seed = pixel_rms(render(generator, bank, [digit] * 256), target.expand(256, -1, -1)).min()
        assert result.pixel_distance < 0.7 * float(best_seed)
        ten = generate_from_latents(generator, result.latent, range(10))
        predicted = classifier(ten.float().div(127.5).sub(1).unsqueeze(1)).argmax(1)
        assert (predicted == torch.arange(10)).sum() >= 9
