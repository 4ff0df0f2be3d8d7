"""Render digits from trained weights.

    python -m gan.generate --weights weights --digits 0-9 --seeds 0-7 --out grid.png
    python -m gan.generate --digits 3 --seeds 0-999 --truncation 0.7 --out threes.npy
    python -m gan.generate --digits 0-9 --seeds 0-7 --edit slant=1.5,thickness=-1 --out edited.png

Images are ordered digit-major (for each digit, for each seed). A .png is a grid with a row
per digit and a column per seed; a .npy is a uint8 array of shape (N, 28, 28).
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from .files import atomic_write_bytes
from .images import make_grid, save_png
from .inputs import MAX_SEED, as_truncation, parse_edit_spec, parse_int_spec
from .model.hub import resolve_weights
from .model.sampling import digit_major
from .model.weights import WeightsError, load_generator, weights_fingerprint
from .runtime import select_device

MAX_IMAGES = 100_000


def render(args: argparse.Namespace, digits: list[int], seeds: list[int]) -> np.ndarray:
    """The digit-major images for the parsed arguments, edited when --edit is given."""
    generator = load_generator(args.folder, device=select_device(args.device))
    psi = as_truncation(args.truncation)
    all_digits, all_seeds = digit_major(digits, seeds)
    if not args.edit:
        return generator.generate(all_digits, all_seeds, truncation_psi=psi).numpy()
    from .latent.direction_search import load_directions  # the directions' search: only for --edit
    from .latent.directions import generate_edited

    directions = load_directions(args.folder, generator)
    strengths = parse_edit_spec(args.edit, directions.names)
    return generate_edited(generator, all_digits, all_seeds, directions=directions,
                           strengths=strengths, truncation_psi=psi).numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="weights",
                        help="weights folder, or a Hub model repo hf://owner/name[@revision] (default: weights)")
    parser.add_argument("--digits", required=True, help="digits, e.g. 0-9 or 1,3,5-7")
    parser.add_argument("--seeds", required=True, help=f"seeds in 0..{MAX_SEED}, e.g. 0-9,42")
    parser.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                        help="truncation psi in [0, 1]; lower = cleaner, less varied (default: 1.0)")
    parser.add_argument("--edit", default="", metavar="SPEC",
                        help="move every latent along named directions, e.g. slant=1.5,thickness=-1 "
                             "(strengths within +-3; the names: python -m gan.find_directions --dry-run)")
    parser.add_argument("--out", required=True, help="output path ending in .png or .npy")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    args = parser.parse_args(argv)

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".npy"):
        parser.error(f"--out must end in .png or .npy, got {args.out!r}")
    if out.parent and not out.parent.is_dir():
        parser.error(f"--out folder {out.parent} does not exist")
    try:
        digits = parse_int_spec(args.digits, maximum=9, name="digit")
        seeds = parse_int_spec(args.seeds, maximum=MAX_SEED, name="seed")
        if len(digits) * len(seeds) > MAX_IMAGES:
            raise ValueError(f"{len(digits)} digits x {len(seeds)} seeds is more than {MAX_IMAGES} images")
        args.folder, args.hub_ref = resolve_weights(args.weights)
        images = render(args, digits, seeds)
    except (ValueError, WeightsError) as exc:
        parser.error(str(exc))

    if out.suffix.lower() == ".npy":
        buf = io.BytesIO()
        np.save(buf, images)
        atomic_write_bytes(out, buf.getvalue())
    else:
        grid = make_grid(images, rows=len(digits), cols=len(seeds))
        save_png(out, grid, metadata={"digits": args.digits, "seeds": args.seeds,
                                      "truncation_psi": args.truncation,
                                      **({"edit": args.edit} if args.edit else {}),
                                      "weights_sha256": weights_fingerprint(args.folder),
                                      **({"weights_source": args.hub_ref} if args.hub_ref else {})})
    print(f"wrote {len(images)} images to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
