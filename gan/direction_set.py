"""The data of named latent directions, and SeFa, the closed-form factorization they start from.

`gan.directions` uses them (edits, storage, loading); `gan.direction_search` finds, measures
and names them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterator

import torch

from .inputs import MAX_DIRECTION_STRENGTH
from .models import Generator

FORMAT_VERSION = 1
MAX_STRENGTH = MAX_DIRECTION_STRENGTH
STRENGTH_UNIT = (
    "Strength is in standard deviations of the latent along the direction: z ~ N(0, I) and "
    "every direction is a unit vector, so a seed's own position along it is a standard normal "
    "number (within ±1 for two seeds in three) and ±3 moves as far as 3 sigma, the edge of "
    "what the generator saw in training. 0 leaves the seed's digit as it is.")


@dataclass(frozen=True)
class LatentDirection:
    """One direction: `name` is its key in strengths and `--edit` specs ("slant", "thickness",
    "direction_5"), `label` what a slider shows ("slant →", "thicker", "direction 5").

    `effects`: the mean change of each measured property at strength +MAX_STRENGTH versus
    -MAX_STRENGTH, halved, in standard deviations of that property over real MNIST;
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
                "strength_unit": STRENGTH_UNIT, "max_strength": MAX_STRENGTH,
                "directions": [{**asdict(d), "vector": list(d.vector)} for d in self.directions]}

    @classmethod
    def from_json(cls, data: dict) -> "DirectionSet":
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a directions file of format_version {FORMAT_VERSION}")
        directions = tuple(LatentDirection(**{**d, "vector": tuple(float(x) for x in d["vector"])})
                           for d in data["directions"])
        return cls(directions, weights_sha256=data.get("weights_sha256", ""),
                   method=data.get("method", ""), settings=data.get("settings", {}),
                   seconds=data.get("seconds"))


def factorize_first_layer(generator: Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """SeFa (Shen & Zhou 2021) on G's first linear layer -> (eigenvalues (z_dim,) descending,
    directions (z_dim, z_dim), one unit vector per row), float64.

    G.fc takes [z, embed(class)]; its first z_dim input columns A act on z alone, so the
    eigenvectors of AᵀA are the z-directions that move the first feature map most, the
    same for every digit. Sign convention: each vector's largest-magnitude entry is positive
    (ties broken by the lower index), so the result is deterministic.
    """
    a = generator.fc.weight.detach().to("cpu", torch.float64)[:, :generator.z_dim]
    eigenvalues, eigenvectors = torch.linalg.eigh(a.T @ a)
    order = torch.argsort(eigenvalues, descending=True, stable=True)
    return eigenvalues[order], fix_signs(eigenvectors[:, order].T.contiguous())


def fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Flip rows so that each row's largest-magnitude entry is positive."""
    largest = vectors.abs().argmax(dim=1, keepdim=True)
    signs = torch.sign(vectors.gather(1, largest))
    return vectors * torch.where(signs == 0, torch.ones_like(signs), signs)
