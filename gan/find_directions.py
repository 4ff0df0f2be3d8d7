"""Named latent directions: steer a digit's slant, stroke thickness, width, height.

    python -m gan.find_directions --weights weights     # find, measure, name; writes weights/directions.json
    python -m gan.find_directions --no-rotate --dry-run # plain SeFa eigenvectors, measured; writes nothing

train.py stores the quick setting's directions beside every export
(gan.latent.direction_search.store_directions), so that new weights never make the app's
Explore tab search for them.

How directions are found, measured and named: gan.latent.direction_search; their data, edits
and storage: gan.latent.directions.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

from .latent.direction_search import FULL_SEARCH, QUICK_SEARCH, find_directions, markdown_table
from .latent.directions import save_directions
from .model.hub import is_hub_ref
from .model.weights import WeightsError, load_generator, weights_fingerprint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan.find_directions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="weights", help="weights folder (default: weights)")
    parser.add_argument("--quick", action="store_true", help="the quick setting the app falls back "
                        "on for weights without directions.json (fewer candidates and latents)")
    parser.add_argument("--no-rotate", action="store_true", help="plain SeFa eigenvectors")
    parser.add_argument("--dry-run", action="store_true", help="print the table, write nothing")
    args = parser.parse_args(argv)
    if is_hub_ref(args.weights):
        parser.error(f"--weights {args.weights}: this command writes directions.json next to the weights, "
                     "so it needs a local folder (python -m gan.generate and app.py read Hub repos)")

    try:
        generator = load_generator(args.weights)
    except WeightsError as exc:
        parser.error(str(exc))
    settings = replace(QUICK_SEARCH if args.quick else FULL_SEARCH, rotate=not args.no_rotate)
    directions = find_directions(generator, settings=settings, log=print,
                                 weights_sha256=weights_fingerprint(args.weights))
    print(f"\n{directions.method}: {len(directions)} directions in {directions.seconds:.1f} s, "
          f"effects at strength ±{settings.strength:g} in real-MNIST standard deviations\n")
    print(markdown_table(directions))
    if not args.dry_run:
        print(f"\nwrote {save_directions(directions, args.weights)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
