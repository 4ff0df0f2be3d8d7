"""Generator and discriminator: shapes, ranges, configuration checks."""
import pytest
import torch
import torch.nn.functional as F

from gan.config import ModelConfig
from gan.model.networks import Discriminator, Generator, count_parameters


@pytest.mark.parametrize("config", [ModelConfig(g_width=8, d_width=8),
                                    ModelConfig(z_dim=16, embed_dim=4, g_width=4, d_width=6)])
def test_generator_and_discriminator_shapes(config):
    torch.manual_seed(0)
    G, D = Generator(config), Discriminator(config)
    z = torch.randn(5, config.z_dim)
    labels = torch.tensor([0, 1, 2, 9, 9])
    images = G(z, labels)
    assert images.shape == (5, 1, 28, 28)
    assert images.dtype == torch.float32
    assert images.abs().max() <= 1.0  # tanh output
    logits, class_logits = D(images, labels)
    assert logits.shape == (5,)
    assert class_logits.shape == (5, config.num_classes)
    assert G.z_dim == config.z_dim and G.num_classes == config.num_classes


def test_width_sets_the_size_of_the_networks():
    small, wide = ModelConfig(g_width=8, d_width=6), ModelConfig(g_width=16, d_width=12)
    assert count_parameters(Generator(wide)) > count_parameters(Generator(small))
    assert count_parameters(Discriminator(wide)) > count_parameters(Discriminator(small))
    # a generator's weights load only into one of its own width
    with pytest.raises(RuntimeError):
        Generator(wide).load_state_dict(Generator(small).state_dict())


def test_forward_equals_synthesize_with_one_hot(core_generator):
    z = torch.randn(4, core_generator.z_dim)
    labels = torch.tensor([3, 1, 4, 1])
    one_hot = F.one_hot(labels, 10).float()
    with torch.no_grad():
        assert torch.equal(core_generator(z, labels), core_generator.synthesize(z, one_hot))


def test_generate_returns_uint8_on_cpu(core_generator):
    images = core_generator.generate([0, 5, 9], [1, 2, 3])
    assert images.shape == (3, 28, 28)
    assert images.dtype == torch.uint8
    assert images.device.type == "cpu"
    assert images.float().std() > 0  # not a blank image


@pytest.mark.parametrize("digits, seeds", [([1, 2], [1]), ([10], [0]), ([-1], [0]), ([True], [0]),
                                           ([1.5], [0]), ([1], [-1]), ([1], [2**32]), ([1], [True])])
def test_generate_rejects_bad_arguments(core_generator, digits, seeds):
    with pytest.raises(ValueError):
        core_generator.generate(digits, seeds)


@pytest.mark.parametrize("psi", [-0.1, 1.5, float("nan"), float("inf"), True, "0.5"])
def test_generate_rejects_bad_truncation(core_generator, psi):
    with pytest.raises(ValueError, match="truncation_psi"):
        core_generator.generate([1], [1], truncation_psi=psi)


def test_generate_on_a_training_mode_generator_uses_running_stats(core_model_config):
    torch.manual_seed(0)
    G = Generator(core_model_config)  # fresh modules are in training mode
    before = {k: v.clone() for k, v in G.state_dict().items()}
    pair = G.generate([1, 2], [5, 6])
    single = G.generate([1], [5])
    assert torch.equal(pair[0], single[0])  # no batch statistics leak between images
    assert G.training  # mode restored
    for k, v in G.state_dict().items():
        assert torch.equal(v, before[k]), f"generate changed {k}"


@pytest.mark.parametrize("kwargs", [dict(z_dim=0), dict(g_width=-8), dict(embed_dim=True),
                                    dict(d_width=8.0), dict(img_size=32)])
def test_model_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        ModelConfig(**kwargs)


def test_model_config_dict_round_trip_and_unknown_keys():
    config = ModelConfig(g_width=8, d_width=16)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown model config keys.*'depth'"):
        ModelConfig.from_dict({**config.to_dict(), "depth": 3})

