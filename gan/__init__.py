"""DigitGAN: a class-conditional GAN for MNIST digits.

    from gan import load_generator
    generator = load_generator("weights")
    images = generator.generate([3, 3, 8], [0, 1, 42], truncation_psi=0.8)  # uint8 (3, 28, 28)

The public names below are loaded on first use (PEP 562), so `import gan` (and importing a
light module such as gan.config or gan.inputs) does not import torch.
"""
from __future__ import annotations

import importlib

_PUBLIC = {
    "ModelConfig": "gan.config",
    "TrainConfig": "gan.config",
    "Generator": "gan.model.networks",
    "Discriminator": "gan.model.networks",
    "latent_from_seed": "gan.model.sampling",
    "latents_from_seeds": "gan.model.sampling",
    "lerp": "gan.model.sampling",
    "slerp": "gan.model.sampling",
    "generate_from_latents": "gan.model.sampling",
    "generate_interpolation": "gan.model.sampling",
    "WeightsError": "gan.model.weights",
    "load_generator": "gan.model.weights",
    "save_generator": "gan.model.weights",
    "weights_fingerprint": "gan.model.weights",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'gan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
