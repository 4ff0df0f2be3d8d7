"""Named latent directions: steer a digit's slant, stroke thickness, width, height.

    python -m gan.directions --weights weights     # find, measure, name; writes weights/directions.json
    python -m gan.directions --no-rotate --dry-run # plain SeFa eigenvectors, measured; writes nothing

A direction is a unit vector in z. `apply_directions` moves latents along directions by
strengths; `render_edited` and `generate_edited` draw the edited digits. How directions are
found and named is in `gan.direction_search`; their data (`LatentDirection`, `DirectionSet`)
and the SeFa factorization are in `gan.direction_set`; this module is their use.

Storage: `directions.json` beside the weights, tied to them by the weights' sha256
fingerprint. `load_directions` uses it when the fingerprint matches and otherwise finds the
directions again with a quick setting (see `QUICK_SEARCH`).
"""
from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from .direction_search import (FULL_SEARCH, QUICK_SEARCH, SearchSettings, find_directions,
                               markdown_table)
from .direction_set import (MAX_STRENGTH, STRENGTH_UNIT, DirectionSet, LatentDirection,
                            factorize_first_layer)
from .inputs import as_strengths
from .models import Generator
from .files import atomic_write_json
from .weights import WeightsError, load_generator, weights_fingerprint

DIRECTIONS_NAME = "directions.json"
__all__ = ["DIRECTIONS_NAME", "MAX_STRENGTH", "STRENGTH_UNIT", "DirectionSet", "LatentDirection",
           "apply_directions", "factorize_first_layer", "format_edit_spec", "generate_edited",
           "load_directions", "parse_edit_spec", "read_directions", "render_edited",
           "save_directions"]


def strength_vector(strengths: Mapping[str, float] | Sequence[float] | torch.Tensor,
                    directions: DirectionSet | None, count: int) -> torch.Tensor:
    """Strengths as float32 (count,) or (N, count); a mapping needs `directions` for names."""
    if isinstance(strengths, torch.Tensor):
        values = strengths.float()
    elif isinstance(strengths, Mapping):
        if directions is None:
            raise ValueError("strengths keyed by name need a DirectionSet")
        checked = as_strengths(dict(strengths), directions.names, maximum=math.inf)
        values = torch.tensor([checked[name] for name in directions.names], dtype=torch.float32)
    else:
        values = torch.tensor([float(s) for s in strengths], dtype=torch.float32)
    if values.shape[-1] != count:
        raise ValueError(f"expected {count} strengths, one per direction, got {values.shape[-1]}")
    return values


def apply_directions(z: torch.Tensor, directions: DirectionSet | torch.Tensor,
                     strengths: Mapping[str, float] | Sequence[float] | torch.Tensor) -> torch.Tensor:
    """z (N, z_dim) or (z_dim,) moved by Σ strength_k · direction_k (see STRENGTH_UNIT).

    `directions`: a DirectionSet or a (K, z_dim) tensor of unit rows; `strengths`: K numbers,
    a (N, K) tensor (one set per latent), or a mapping name -> strength (names absent: 0).
    """
    matrix = directions.matrix() if isinstance(directions, DirectionSet) else directions.float()
    named = directions if isinstance(directions, DirectionSet) else None
    values = strength_vector(strengths, named, len(matrix)).to(z.device)
    return z + values @ matrix.to(z.device, z.dtype)


def render_edited(generator: Generator, digits: Sequence[int], z: torch.Tensor, *,
                  directions: DirectionSet | torch.Tensor,
                  strengths: Mapping[str, float] | Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Edited latents drawn as the given digits -> uint8 (N, 28, 28) on the CPU.

    `z` is (N, z_dim), or one (z_dim,) latent drawn as every digit in `digits` (the Explore
    tab's row 0-9 in the same style).
    """
    digits = [int(d) for d in digits]
    if z.dim() == 1:
        z = z.unsqueeze(0).expand(len(digits), -1)
    if len(z) != len(digits):
        raise ValueError(f"{len(z)} latents for {len(digits)} digits")
    edited = apply_directions(z, directions, strengths)
    labels = torch.tensor(digits, dtype=torch.long)
    return generator.render(edited, F.one_hot(labels, generator.num_classes).float())


def generate_edited(generator: Generator, digits: Sequence[int], seeds: Sequence[int], *,
                    directions: DirectionSet, strengths: Mapping[str, float] | Sequence[float],
                    truncation_psi: float = 1.0) -> torch.Tensor:
    """`Generator.generate` with an edit: seed -> latent -> x psi -> + strengths -> uint8.

    The edit comes after truncation, so a strength means the same move at any psi.
    """
    edit = apply_directions(torch.zeros(generator.z_dim), directions, strengths)
    return generator.generate(digits, seeds, truncation_psi=truncation_psi, edit=edit)


def parse_edit_spec(text: str, directions: DirectionSet) -> dict[str, float]:
    """"slant=1.5,thickness=-1" -> {name: strength} for every direction (absent ones: 0.0).

    Raises ValueError for a pair without '=', a name given twice, an unknown name, a value
    that is no number, NaN/inf, or a strength beyond ±MAX_STRENGTH. "" means no edit.
    """
    if not isinstance(text, str):
        raise ValueError(f"an edit must be text like 'slant=1.5,thickness=-1', got {text!r}")
    given: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not name:
            raise ValueError(f"edit {part!r} must look like name=strength, e.g. slant=1.5")
        if name in given:
            raise ValueError(f"direction {name!r} is given twice in the edit")
        try:
            given[name] = float(value)
        except ValueError:
            raise ValueError(f"strength of {name!r} must be a number, got {value!r}") from None
    return as_strengths(given, directions.names, maximum=MAX_STRENGTH)


def format_edit_spec(strengths: Mapping[str, float]) -> str:
    """The non-zero strengths as an edit spec (provenance text; parse_edit_spec reads it back)."""
    return ",".join(f"{name}={float(value)!r}" for name, value in strengths.items() if value != 0)


def save_directions(directions: DirectionSet, folder: str | os.PathLike) -> Path:
    path = Path(folder) / DIRECTIONS_NAME
    atomic_write_json(path, directions.to_json())
    return path


def read_directions(folder: str | os.PathLike) -> DirectionSet | None:
    """The stored set, or None if the file is missing or unreadable."""
    path = Path(folder) / DIRECTIONS_NAME
    try:
        return DirectionSet.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_directions(folder: str | os.PathLike, generator: Generator, *,
                    settings: SearchSettings = QUICK_SEARCH) -> DirectionSet:
    """The directions for the weights in `folder`: from directions.json when its fingerprint
    matches the weights (and its vectors fit z_dim), else found again with `settings` (the
    quick setting takes about 20 s on two busy CPU cores; nothing is written)."""
    fingerprint = weights_fingerprint(folder)
    stored = read_directions(folder)
    if (stored is not None and stored.weights_sha256 == fingerprint and len(stored)
            and all(len(d.vector) == generator.z_dim for d in stored)):
        return stored
    return find_directions(generator, settings=settings, weights_sha256=fingerprint)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan.directions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="weights", help="weights folder (default: weights)")
    parser.add_argument("--quick", action="store_true", help="the quick setting load_directions "
                        "falls back on (fewer candidates and latents)")
    parser.add_argument("--no-rotate", action="store_true", help="plain SeFa eigenvectors")
    parser.add_argument("--dry-run", action="store_true", help="print the table, write nothing")
    args = parser.parse_args(argv)

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
