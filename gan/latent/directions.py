"""Named latent directions: their data, edits along them, and their file beside the weights.

A direction is a unit vector in z with a name ("slant"), a slider label ("slant →") and what
it measurably does (found and measured by gan.latent.direction_search). An edit moves a
latent by the sum of strength x direction:

    edited = apply_directions(z, directions, {"slant": 1.5, "thickness": -1})
    images = generate_edited(generator, digits, seeds, directions=directions, strengths=...)

Storage: `directions.json` beside the weights (gan.model.weights.DIRECTIONS_FILE), tied to
them by the weights' sha256 fingerprint; `stored_directions` returns it only for the weights
it was made from.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import torch

from ..files import atomic_write_json
from ..inputs import MAX_DIRECTION_STRENGTH
from ..model.networks import Generator
from ..model.sampling import generate_from_latents, latents_from_seeds
from ..model.weights import DIRECTIONS_FILE

FORMAT_VERSION = 1
STRENGTH_UNIT = (
    "Strength is in standard deviations of the latent along the direction: z ~ N(0, I) and "
    "every direction is a unit vector, so a seed's own position along it is a standard normal "
    "number (within ±1 for two seeds in three) and ±3 moves as far as 3 sigma, the edge of "
    "what the generator saw in training. 0 leaves the seed's digit as it is.")


@dataclass(frozen=True)
class LatentDirection:
    """One direction: `name` is its key in strengths and `--edit` specs ("slant", "thickness",
    "direction_5"), `label` what a slider shows ("slant →", "thicker", "direction 5").

    `effects`: the mean change of each measured property at strength +MAX_DIRECTION_STRENGTH versus
    -MAX_DIRECTION_STRENGTH, halved, in standard deviations of that property over real MNIST;
    `changes` the same in the property's own unit (degrees, pixels). `class_change_rate`: the
    share of samples the classifier reads as another digit at either end than unedited.
    `eigenvalue`: vᵀAᵀAv for the generator's first-layer z-weights A (how much the first
    feature map moves per unit strength). `property`: what it is named after, or None.
    """

    name: str
    label: str
    index: int
    vector: tuple[float, ...]
    eigenvalue: float
    property: str | None = None
    effects: dict[str, float] = field(default_factory=dict)
    changes: dict[str, float] = field(default_factory=dict)
    class_change_rate: float | None = None

    def tensor(self) -> torch.Tensor:
        return torch.tensor(self.vector, dtype=torch.float32)


@dataclass(frozen=True)
class DirectionSet:
    """An ordered set of directions with lookup by name, plus how they were made."""

    directions: tuple[LatentDirection, ...]
    weights_sha256: str = ""
    method: str = ""
    settings: dict = field(default_factory=dict)
    seconds: float | None = None
    measured: bool = True         # False: found in closed form, not yet measured or named

    def __post_init__(self) -> None:
        names = [d.name for d in self.directions]
        if len(set(names)) != len(names):
            raise ValueError(f"direction names must be unique, got {names}")

    def __len__(self) -> int:
        return len(self.directions)

    def __iter__(self) -> Iterator[LatentDirection]:
        return iter(self.directions)

    def __getitem__(self, name: str) -> LatentDirection:
        for direction in self.directions:
            if direction.name == name:
                return direction
        raise KeyError(f"unknown direction {name!r}; known: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.directions]

    @property
    def labels(self) -> list[str]:
        return [d.label for d in self.directions]

    def matrix(self) -> torch.Tensor:
        """(len, z_dim) float32: one direction per row."""
        return torch.stack([d.tensor() for d in self.directions])

    def to_json(self) -> dict:
        return {"format_version": FORMAT_VERSION, "weights_sha256": self.weights_sha256,
                "method": self.method, "settings": self.settings, "seconds": self.seconds,
                **({} if self.measured else {"measured": False}),  # stored sets are measured
                "strength_unit": STRENGTH_UNIT, "max_strength": MAX_DIRECTION_STRENGTH,
                "directions": [{**asdict(d), "vector": list(d.vector)} for d in self.directions]}

    @classmethod
    def from_json(cls, data: dict) -> "DirectionSet":
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a directions file of format_version {FORMAT_VERSION}")
        directions = tuple(LatentDirection(**{**d, "vector": tuple(float(x) for x in d["vector"])})
                           for d in data["directions"])
        return cls(directions, weights_sha256=data.get("weights_sha256", ""),
                   method=data.get("method", ""), settings=data.get("settings", {}),
                   seconds=data.get("seconds"), measured=bool(data.get("measured", True)))


def strength_vector(strengths: Mapping[str, float] | Sequence[float] | torch.Tensor,
                    directions: DirectionSet | None, count: int) -> torch.Tensor:
    """Strengths as float32 (count,) or (N, count); a mapping (names absent: 0) needs
    `directions` for the order of its names. Strengths are trusted: the app checks them
    with gan.inputs.as_strengths."""
    if isinstance(strengths, torch.Tensor):
        values = strengths.float()
    elif isinstance(strengths, Mapping):
        if directions is None:
            raise ValueError("strengths keyed by name need a DirectionSet")
        unknown = [name for name in strengths if name not in directions.names]
        if unknown:
            raise ValueError(f"unknown direction {unknown[0]!r}; known: {', '.join(directions.names)}")
        values = torch.tensor([float(strengths.get(name, 0.0)) for name in directions.names],
                              dtype=torch.float32)
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


def generate_edited(generator: Generator, digits: Sequence[int], seeds: Sequence[int], *,
                    directions: DirectionSet, strengths: Mapping[str, float] | Sequence[float],
                    truncation_psi: float = 1.0) -> torch.Tensor:
    """`Generator.generate` with an edit: seed -> latent -> x psi -> + strengths -> uint8.

    The edit comes after truncation, so a strength means the same move at any psi.
    """
    edit = apply_directions(torch.zeros(generator.z_dim), directions, strengths)
    z = latents_from_seeds(list(seeds), generator.z_dim) * truncation_psi + edit
    return generate_from_latents(generator, z, list(digits))


def save_directions(directions: DirectionSet, folder: str | os.PathLike) -> Path:
    path = Path(folder) / DIRECTIONS_FILE
    atomic_write_json(path, directions.to_json())
    return path


def read_directions(folder: str | os.PathLike) -> DirectionSet | None:
    """The stored set, or None if the file is missing or unreadable."""
    path = Path(folder) / DIRECTIONS_FILE
    try:
        return DirectionSet.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stored_directions(folder: str | os.PathLike, generator: Generator,
                      fingerprint: str) -> DirectionSet | None:
    """directions.json of the weights in `folder` if it was made for them (same fingerprint,
    vectors of z_dim), else None."""
    stored = read_directions(folder)
    if (stored is not None and stored.weights_sha256 == fingerprint and len(stored)
            and all(len(d.vector) == generator.z_dim for d in stored)):
        return stored
    return None
