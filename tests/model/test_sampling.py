"""Seeds -> latents -> images: determinism, RNG isolation, lerp/slerp, interpolation paths."""
import math

import pytest
import torch

from gan.images import from_uint8, to_uint8
from gan.inputs import MAX_SEED
from gan.model.sampling import (
    generate_interpolation,
    interpolation_path,
    latent_from_seed,
    latents_from_seeds,
    lerp,
    slerp,
)
from gan.model.weights import load_generator

# ----------------------------------------------------------------------------- seeds


def test_same_seed_same_latent_regardless_of_batch_and_order():
    batch = latents_from_seeds([3, 7, 3, 0, MAX_SEED], 16)
    assert batch.shape == (5, 16)
    assert torch.equal(batch[0], batch[2])
    assert torch.equal(batch[0], latent_from_seed(3, 16))
    assert torch.equal(latents_from_seeds([MAX_SEED, 7], 16), batch[[4, 1]])
    assert not torch.equal(batch[0], batch[1])
    # a latent is a standard normal draw: a 4096-d one has mean ~0, std ~1
    big = latent_from_seed(5, 4096)
    assert abs(float(big.mean())) < 0.1 and abs(float(big.std()) - 1) < 0.1


def test_latents_leave_the_global_rng_alone():
    torch.manual_seed(99)
    state = torch.get_rng_state()
    latents_from_seeds([1, 2, 3], 8)
    assert torch.equal(torch.get_rng_state(), state)
    # and the global seed does not influence them
    torch.manual_seed(1)
    a = latent_from_seed(11, 8)
    torch.manual_seed(2)
    assert torch.equal(a, latent_from_seed(11, 8))


def test_empty_seed_list():
    assert latents_from_seeds([], 8).shape == (0, 8)


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, True, 1.5, math.nan, "3", None])
def test_latents_refuse_what_is_not_a_seed(seed):
    with pytest.raises(ValueError, match=f"seed must be a whole number from 0 to {MAX_SEED}"):
        latents_from_seeds([seed], 8)


def test_a_whole_float_is_the_same_seed():
    # JSON clients may send 7.0: the one set of input rules takes it as 7, everywhere
    assert torch.equal(latents_from_seeds([7.0], 8), latents_from_seeds([7], 8))


def test_images_independent_of_batch_composition_and_order(core_generator):
    batch = core_generator.generate([3, 5, 3, 8], [10, 20, 10, 7])
    assert torch.equal(batch[0], batch[2])
    assert torch.equal(batch[0], core_generator.generate([3], [10])[0])
    reordered = core_generator.generate([8, 5, 3], [7, 20, 10])
    assert torch.equal(reordered, batch[[3, 1, 0]])
    # different digit or different seed -> different image
    assert not torch.equal(batch[0], core_generator.generate([4], [10])[0])
    assert not torch.equal(batch[0], core_generator.generate([3], [11])[0])


def test_generate_leaves_the_global_rng_alone(core_generator):
    torch.manual_seed(5)
    state = torch.get_rng_state()
    core_generator.generate([1, 2, 3], [4, 5, 6], truncation_psi=0.7)
    generate_interpolation(core_generator, digit_a=1, seed_a=2, digit_b=3, seed_b=4, steps=3)
    assert torch.equal(torch.get_rng_state(), state)


def test_same_images_after_reload_and_across_global_seeds(core_generator, core_weights_dir):
    torch.manual_seed(0)
    a = core_generator.generate([0, 9], [42, 43])
    torch.manual_seed(1)
    b = load_generator(core_weights_dir).generate([0, 9], [42, 43])
    assert torch.equal(a, b)


def test_zero_truncation_collapses_seeds(core_generator):
    images = core_generator.generate([6, 6, 6], [0, 1, 2], truncation_psi=0.0)
    assert torch.equal(images[0], images[1]) and torch.equal(images[1], images[2])
    assert not torch.equal(core_generator.generate([6, 6], [0, 1], truncation_psi=0.5)[0],
                           core_generator.generate([6, 6], [0, 1], truncation_psi=0.5)[1])


# ----------------------------------------------------------------------------- lerp / slerp


def _unit(v):
    return v / v.norm(dim=-1, keepdim=True)


def test_lerp_endpoints_and_midpoint():
    a, b = torch.randn(2, 8), torch.randn(2, 8)
    assert torch.equal(lerp(a, b, 0.0), a)
    assert torch.allclose(lerp(a, b, 1.0), b)
    assert torch.allclose(lerp(a, b, 0.5), (a + b) / 2)


def test_slerp_endpoints():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 16, generator=g), torch.randn(4, 16, generator=g)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5)
    assert torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)


def test_slerp_keeps_unit_norm_and_walks_the_arc_evenly():
    g = torch.Generator().manual_seed(1)
    a, b = _unit(torch.randn(32, generator=g)), _unit(torch.randn(32, generator=g))
    t = torch.linspace(0, 1, 9)
    path = slerp(a.expand(9, -1), b.expand(9, -1), t)
    assert torch.allclose(path.norm(dim=-1), torch.ones(9), atol=1e-5)
    # lerp, by contrast, cuts inside the sphere
    assert lerp(a, b, 0.5).norm() < 0.99
    # equal angles between consecutive points
    cosines = (path[:-1] * path[1:]).sum(-1)
    assert torch.allclose(cosines, cosines[0].expand(8), atol=1e-5)
    angle = math.acos(float((a * b).sum()))
    assert math.isclose(float(torch.acos(cosines[0].clamp(-1, 1))), angle / 8, rel_tol=1e-3)


def test_slerp_interpolates_the_norm_linearly():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 5.0])
    mid = slerp(a, b, 0.5)
    assert math.isclose(float(mid.norm()), 4.0, rel_tol=1e-5)
    assert torch.allclose(_unit(mid), torch.tensor([1.0, 1.0]) / math.sqrt(2), atol=1e-5)


@pytest.mark.parametrize("factor", [1.0, 2.0, -1.0, -3.0])
def test_slerp_parallel_vectors_do_not_nan(factor):
    a = torch.tensor([1.0, 2.0, 3.0])
    out = slerp(a.expand(5, -1), (factor * a).expand(5, -1), torch.linspace(0, 1, 5))
    assert torch.isfinite(out).all()
    assert torch.allclose(out[0], a, atol=1e-5)
    assert torch.allclose(out[-1], factor * a, atol=1e-4)


def test_slerp_zero_vector_does_not_nan():
    out = slerp(torch.zeros(4), torch.ones(4), 0.3)
    assert torch.isfinite(out).all()


# ----------------------------------------------------------------------------- interpolation paths


def test_interpolation_path_shapes_and_endpoints():
    z, classes = interpolation_path(digit_a=3, seed_a=1, digit_b=8, seed_b=2, steps=5, z_dim=16)
    assert z.shape == (5, 16) and classes.shape == (5, 10)
    assert torch.allclose(z[0], latent_from_seed(1, 16), atol=1e-5)
    assert torch.allclose(z[-1], latent_from_seed(2, 16), atol=1e-5)
    assert torch.equal(classes[0], torch.eye(10)[3])
    assert torch.equal(classes[-1], torch.eye(10)[8])
    # each row is a mixture of the two classes only, summing to one, moving linearly
    assert torch.allclose(classes.sum(1), torch.ones(5))
    assert torch.allclose(classes[:, 8], torch.linspace(0, 1, 5))
    others = [c for c in range(10) if c not in (3, 8)]
    assert torch.equal(classes[:, others], torch.zeros(5, 8))


def test_interpolation_path_same_digit_and_truncation():
    z, classes = interpolation_path(digit_a=4, seed_a=1, digit_b=4, seed_b=2, steps=3, z_dim=8,
                                    method="lerp", truncation_psi=0.5)
    assert torch.equal(classes, torch.eye(10)[4].expand(3, -1))
    assert torch.allclose(z[0], 0.5 * latent_from_seed(1, 8))
    assert torch.allclose(z[1], 0.25 * (latent_from_seed(1, 8) + latent_from_seed(2, 8)))


@pytest.mark.parametrize("steps", [3, 8])  # 8 == z_dim: a broadcasting slip would go unnoticed
@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_interpolation_path_methods_hit_both_endpoints(method, steps):
    z, _ = interpolation_path(digit_a=0, seed_a=5, digit_b=1, seed_b=6, steps=steps, z_dim=8,
                              method=method)
    a, b = latent_from_seed(5, 8), latent_from_seed(6, 8)
    assert z.shape == (steps, 8)
    assert torch.allclose(z[0], a, atol=1e-5) and torch.allclose(z[-1], b, atol=1e-5)
    if method == "lerp":
        assert torch.allclose(z, lerp(a, b, torch.linspace(0, 1, steps)[:, None]), atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [(dict(steps=1), "steps"), (dict(steps=2.5), "steps"),
                                           (dict(steps=65), "steps must be a whole number from 2 to 64"),
                                           (dict(method="cubic"), "method"),
                                           (dict(digit_b=10), "digit_b"), (dict(seed_a=-1), "seed_a"),
                                           (dict(truncation_psi=2.0), "truncation")])
def test_generate_interpolation_rejects(core_generator, kwargs, match):
    args = {**dict(digit_a=1, seed_a=1, digit_b=2, seed_b=2, steps=4), **kwargs}
    with pytest.raises(ValueError, match=match):
        generate_interpolation(core_generator, **args)


def test_generate_interpolation_frames(core_generator):
    frames = generate_interpolation(core_generator, digit_a=2, seed_a=3, digit_b=7, seed_b=4, steps=6)
    assert frames.shape == (6, 28, 28) and frames.dtype == torch.uint8
    assert torch.equal(frames[0], core_generator.generate([2], [3])[0])
    assert torch.equal(frames[-1], core_generator.generate([7], [4])[0])


# ----------------------------------------------------------------------------- pixel conversion


def test_to_uint8_range_and_rounding():
    x = torch.tensor([-5.0, -1.0, 0.0, 0.5, 1.0, 7.0])
    out = to_uint8(x)
    assert out.dtype == torch.uint8
    assert out.tolist() == [0, 0, 128, 191, 255, 255]


def test_uint8_round_trip_is_exact():
    pixels = torch.arange(256, dtype=torch.uint8)
    floats = from_uint8(pixels)
    assert float(floats.min()) == -1.0 and float(floats.max()) == 1.0
    assert torch.equal(to_uint8(floats), pixels)
