"""Train the image -> latent encoder for a generator: `python -m gan.train_encoder --weights weights
[--data-dir DIR]` writes encoder.safetensors beside the weights (see gan.latent.encoder).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

import torch

from .data import load_mnist, resolve_data_dir
from .latent.encoder import EncoderConfig, generator_fingerprint, save_encoder, train_encoder
from .model.weights import ENCODER_FILE, WeightsError, load_generator


def _real_digits(data_dir: str | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """MNIST training digits from --data-dir or $DIGITGAN_DATA_DIR; (None, None) without either."""
    folder = resolve_data_dir(data_dir)
    if folder is None:
        return None, None
    return load_mnist("train", data_dir=folder, download=False)


def main(argv: list[str] | None = None) -> int:
    defaults = EncoderConfig()
    parser = argparse.ArgumentParser(
        prog="python -m gan.train_encoder",
        description="Train the image -> latent encoder for a generator and write "
                    f"{ENCODER_FILE} beside its weights.")
    parser.add_argument("--weights", default="weights", help="the generator's weights folder (default: weights)")
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files (else $DIGITGAN_DATA_DIR); "
                                           "without either, the encoder learns from rendered digits only")
    parser.add_argument("--steps", type=int, default=defaults.steps, help=f"Adam steps (default {defaults.steps})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"random stream (default {defaults.seed})")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help=f"images per step (default {defaults.batch_size})")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    try:
        config = dataclasses.replace(defaults, steps=args.steps, seed=args.seed, batch_size=args.batch_size,
                                     threads=args.threads)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        generator = load_generator(args.weights)
        fingerprint = generator_fingerprint(args.weights)
        real_images, real_labels = _real_digits(args.data_dir)
    except WeightsError as exc:
        print(f"error: {exc.advice()}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:  # MNIST missing or unreadable, weights unreadable
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = dataclasses.replace(config, z_dim=generator.z_dim, num_classes=generator.num_classes)
    source = ("rendered digits only" if real_images is None
              else f"rendered digits and {len(real_images)} MNIST training digits")
    print(f"training the encoder for {args.weights} (sha256 {fingerprint[:12]}) on {source}: "
          f"{config.steps} steps of {config.batch_size}", flush=True)
    encoder, summary = train_encoder(generator, config, real_images=real_images, real_labels=real_labels,
                                     log_every=max(1, config.steps // 10))
    if generator_fingerprint(args.weights) != fingerprint:
        print(f"error: {args.weights}/model.safetensors changed while the encoder trained; not writing an "
              "encoder for weights it was not trained on. Run the command again.", file=sys.stderr)
        return 1
    path = save_encoder(encoder, args.weights, generator_fingerprint=fingerprint, training=summary)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB) in {summary['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
