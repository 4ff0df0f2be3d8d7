"""DigitGAN: a class-conditional GAN for MNIST digits.

    from gan import load_generator
    generator = load_generator("weights")
    images = generator.generate([3, 3, 8], [0, 1, 42], truncation_psi=0.8)  # uint8 (3, 28, 28)
"""
from .config import ModelConfig, TrainConfig
from .models import Discriminator, Generator
from .sampling import latent_from_seed, latents_from_seeds, lerp, slerp
from .weights import WeightsError, load_generator, save_generator, weights_fingerprint

__all__ = ["ModelConfig", "TrainConfig", "Generator", "Discriminator", "load_generator",
           "save_generator", "weights_fingerprint", "WeightsError", "latent_from_seed",
           "latents_from_seeds", "lerp", "slerp"]
