"""The generator's Jacobian as a graph of its own (gan.latent.jacobian) and the page's search
built on it (gan.latent.encoder_search.polish_with_jacobian)."""
from __future__ import annotations

import torch

from gan.images import from_uint8
from gan.latent.encoder_search import PAGE_POLISH_STEPS, _page_loss, polish_with_jacobian
from gan.latent.jacobian import GeneratorJacobian
from gan.model.networks import recalibrate_batchnorm
from gan.model.sampling import generate_from_latents


def _trained_looking(generator):
    recalibrate_batchnorm(generator, batches=2, batch_size=64)  # non-trivial BatchNorm statistics
    with torch.no_grad():
        for bn in (generator.bn0, generator.bn1):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.3, 0.3)
    return generator.eval()


def test_the_jacobian_graph_equals_autograd(core_generator):
    generator = _trained_looking(core_generator)
    z = torch.randn(3, generator.z_dim, generator=torch.Generator().manual_seed(1))
    classes = torch.eye(generator.num_classes)[[1, 4, 7]]
    classes[2] = 0.5 * classes[2] + 0.05  # a class mixture, as the morph feeds
    with torch.no_grad():
        images, jacobian = GeneratorJacobian(generator)(z, classes)
    expected = torch.autograd.functional.jacobian(lambda zz: generator.synthesize(zz, classes).flatten(1), z)
    expected = torch.stack([expected[i, :, i] for i in range(3)]).transpose(1, 2)  # (N, z_dim, pixels)
    torch.testing.assert_close(images, generator.synthesize(z, classes).flatten(1).detach(), atol=1e-5, rtol=0)
    assert jacobian.shape == expected.shape
    torch.testing.assert_close(jacobian, expected, atol=1e-5, rtol=1e-4)
    assert expected.abs().max() > 1e-3  # not a vacuous comparison


def test_the_page_search_draws_closer_and_is_deterministic(core_generator):
    generator = _trained_looking(core_generator)
    target = generate_from_latents(generator, torch.randn(1, generator.z_dim,
                                                          generator=torch.Generator().manual_seed(5)), [3])[0]
    start = torch.randn(generator.z_dim, generator=torch.Generator().manual_seed(6))
    found = polish_with_jacobian(generator, start, 3, target)
    again = polish_with_jacobian(generator, start, 3, target)
    assert torch.equal(found, again) and found.dtype == torch.float32 and found.shape == start.shape
    classes = torch.eye(generator.num_classes)[[3]]
    goal = from_uint8(target).flatten()
    before = float(_page_loss(generator, start[None], classes, goal, 1.0)[0])
    after = float(_page_loss(generator, found[None], classes, goal, 1.0)[0])
    assert after < before
    assert PAGE_POLISH_STEPS >= 1
    assert generator.training is False
