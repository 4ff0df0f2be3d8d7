"""Finding, measuring and naming latent directions (`python -m gan.find_directions` runs it).

    python -m gan.find_directions --weights weights [--quick] [--no-rotate]

1. SeFa: the top `candidates` eigenvectors of AᵀA, A = the z-columns of G's first layer.
2. Measure each on a fixed set of latents (`samples_per_digit` per digit, all ten digits):
   render it at strength +s and -s, measure the digits (gan.measure_morphology), and take half the
   mean difference per property in standard deviations of that property over real MNIST.
3. Rotate within that SeFa subspace toward each shape property (slant, thickness, width,
   height): the unit combination of the candidates whose measured effect on that property is
   largest while its (linearly predicted) effect on the other three is zero. Single SeFa
   eigenvectors mix several properties (on the shipped weights only slant and height have
   their own); these rotations are the clean ones. `rotate=False` keeps plain SeFa eigenvectors.
4. Measure the rotated directions again on a second, independent set of latents (the
   numbers reported), and keep each one that the naming rule names after its property.
5. Fill up to `count` with the leading SeFa directions of the part of latent space the kept
   ones leave free (eigenvectors of P AᵀA P, P the projection away from them), measured and
   named by the same rule.

Naming rule: a direction is named after the shape property it moves most when that effect is
at least MIN_EFFECT standard deviations and DOMINANCE times every other shape property's;
its sign is chosen so that + increases the property. Area and stroke length are measured and
shown but do not name: they follow from the others (area is about thickness x length, and a
wider or taller digit has longer strokes). Everything is seeded: the same weights give the
same directions.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..measure.morphology import PROPERTIES, measure_digits, reference_std
from ..model.classifier import DigitClassifier, classifier_outputs, load_classifier
from ..model.networks import Generator
from ..model.sampling import generate_from_latents
from ..model.weights import load_generator, weights_fingerprint
from .directions import DirectionSet, LatentDirection, save_directions, stored_directions

SHAPE_PROPERTIES = ("slant", "thickness", "width", "height")
LABELS = {"slant": "slant →", "thickness": "thicker", "width": "wider", "height": "taller"}
MIN_EFFECT = 0.5   # standard deviations of real MNIST
DOMINANCE = 2.0    # the named effect is at least this many times every other shape effect


@dataclass(frozen=True)
class SearchSettings:
    count: int = 8                # directions in the set (the Explore tab's sliders)
    candidates: int = 32          # leading SeFa directions measured and rotated within
    samples_per_digit: int = 50   # latents per digit in each measuring set
    strength: float = 3.0         # measured at +-strength: the sliders' ends
    rotate: bool = True           # rotate toward each shape property (False: plain SeFa)
    fit_seed: int = 20_240        # latents that choose the rotations
    report_seed: int = 70_707     # independent latents whose measurements are reported


FULL_SEARCH = SearchSettings()
QUICK_SEARCH = SearchSettings(candidates=16, samples_per_digit=10)
EXPORT_SEARCH = QUICK_SEARCH  # what train.py stores beside an export: a minute or less on a CPU


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


@dataclass(frozen=True)
class Measurements:
    """Per direction (rows) and property (columns, in PROPERTIES order)."""
    effects: np.ndarray        # in real-MNIST standard deviations
    changes: np.ndarray        # in the property's unit
    class_change: np.ndarray   # (K,) share of samples read as another digit at an end


def sample_latents(z_dim: int, *, per_digit: int, seed: int,
                   num_classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """(z (N, z_dim), digits (N,)): per_digit latents of each digit from a private generator."""
    rng = torch.Generator().manual_seed(seed)
    n = per_digit * num_classes
    return torch.randn(n, z_dim, generator=rng), torch.arange(n) % num_classes


def measure_directions(generator, vectors: torch.Tensor, *, z: torch.Tensor, digits: torch.Tensor,
                       strength: float, classifier: DigitClassifier,
                       std: dict[str, float]) -> Measurements:
    """Render every latent at +-strength along each vector and measure what changes."""
    classes = F.one_hot(digits, generator.num_classes).float()
    scale = np.array([std[p] for p in PROPERTIES])

    def look(latents: torch.Tensor, class_weights: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        images = generate_from_latents(generator, latents, class_weights)
        measured = measure_digits(images)
        return np.stack([measured[p] for p in PROPERTIES], axis=1), classifier_outputs(classifier, images)[1]

    _, base_class = look(z, classes)
    n = len(z)
    effects, changes, class_change = [], [], []
    for vector in vectors.float():
        moved = torch.cat([z + strength * vector, z - strength * vector])
        measured, predicted = look(moved, torch.cat([classes, classes]))
        with warnings.catch_warnings():
            # a blank image (an untrained G draws them) has no slant or width: where no
            # sample has a value the effect is NaN, and NaN names nothing
            warnings.simplefilter("ignore", RuntimeWarning)
            change = np.nanmean(measured[:n] - measured[n:], axis=0) / 2
        changes.append(change)
        effects.append(change / scale)
        changed = (predicted[:n] != base_class) | (predicted[n:] != base_class)
        class_change.append(float(changed.float().mean()))
    return Measurements(np.array(effects).reshape(-1, len(PROPERTIES)),
                        np.array(changes).reshape(-1, len(PROPERTIES)), np.array(class_change))


def name_for(effects: dict[str, float]) -> str | None:
    """The shape property a direction is named after (see the naming rule), or None."""
    sizes = {p: abs(effects.get(p, 0.0)) for p in SHAPE_PROPERTIES}
    best = max(SHAPE_PROPERTIES, key=lambda p: sizes[p])
    others = [sizes[p] for p in SHAPE_PROPERTIES if p != best]
    if sizes[best] >= MIN_EFFECT and all(sizes[best] >= DOMINANCE * s for s in others):
        return best
    return None


def held_part(effects: np.ndarray, prop: str) -> np.ndarray:
    """The part of effects[:, prop] orthogonal to the other shape properties' columns
    (least squares, so dependent columns are handled)."""
    target = effects[:, PROPERTIES.index(prop)]
    others = effects[:, [PROPERTIES.index(p) for p in SHAPE_PROPERTIES if p != prop]]
    fitted, *_ = np.linalg.lstsq(others, target, rcond=None)
    return target - others @ fitted


def rotate_toward(prop: str, basis: torch.Tensor, effects: np.ndarray) -> torch.Tensor | None:
    """The unit combination of `basis` rows (K, z_dim) whose predicted effect on `prop` is
    largest while that on the other shape properties is zero; None if nothing is left.

    Effects add up linearly for small moves, so a combination c of the rows moves the
    properties by effectsᵀc; the best c is `held_part(effects, prop)`, normalised.
    """
    residual = held_part(effects, prop)
    norm = float(np.linalg.norm(residual))
    if norm < 1e-6:
        return None
    return torch.from_numpy(residual / norm) @ basis.double()


def reachable_effects(effects: np.ndarray) -> dict[str, tuple[float, float]]:
    """Per shape property, as predicted linearly from the candidates' measured effects: the
    largest effect any unit combination of them has (the column's norm), and the largest
    with the other three shape properties held (what `rotate_toward` reaches)."""
    return {prop: (float(np.linalg.norm(effects[:, PROPERTIES.index(prop)])),
                   float(np.linalg.norm(held_part(effects, prop)))) for prop in SHAPE_PROPERTIES}


def complement_directions(generator, taken: Sequence[torch.Tensor], count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """SeFa restricted to the latent subspace orthogonal to `taken`: (eigenvalues, vectors)."""
    a = generator.fc.weight.detach().to("cpu", torch.float64)[:, :generator.z_dim]
    projection = torch.eye(generator.z_dim, dtype=torch.float64)
    if taken:
        q, _ = torch.linalg.qr(torch.stack([t.double() for t in taken]).T)
        projection = projection - q @ q.T
    gram = projection @ (a.T @ a) @ projection
    eigenvalues, eigenvectors = torch.linalg.eigh((gram + gram.T) / 2)
    order = torch.argsort(eigenvalues, descending=True, stable=True)[:count]
    return eigenvalues[order], fix_signs(eigenvectors[:, order].T.contiguous())


def rayleigh(generator, vector: torch.Tensor) -> float:
    """vᵀAᵀAv: how much the first feature map moves per unit strength along v."""
    a = generator.fc.weight.detach().to("cpu", torch.float64)[:, :generator.z_dim]
    return float((a @ vector.double()).square().sum())


def make_direction(generator, vector: torch.Tensor, row: int, measured: Measurements, *, slot: int,
                   taken: set[str]) -> LatentDirection:
    """A LatentDirection from measurements row `row`, named (and signed) by the naming rule."""
    effects = dict(zip(PROPERTIES, measured.effects[row].tolist()))
    changes = dict(zip(PROPERTIES, measured.changes[row].tolist()))
    prop = name_for(effects)
    if prop in taken:
        prop = None
    if prop is not None and effects[prop] < 0:   # + must increase the property it is named after
        vector = -vector
        effects = {k: -v for k, v in effects.items()}
        changes = {k: -v for k, v in changes.items()}
    name, label = (prop, LABELS[prop]) if prop else (f"direction_{slot + 1}", f"direction {slot + 1}")
    return LatentDirection(name=name, label=label, index=slot,
                           vector=tuple(float(x) for x in vector.float()),
                           eigenvalue=rayleigh(generator, vector), property=prop,
                           effects=effects, changes=changes,
                           class_change_rate=float(measured.class_change[row]))


def find_directions(generator, *, settings: SearchSettings = FULL_SEARCH,
                    classifier: DigitClassifier | None = None, std: dict[str, float] | None = None,
                    weights_sha256: str = "", log: Callable[[str], None] | None = None) -> DirectionSet:
    """Find, measure and name `settings.count` directions for `generator` (module docstring)."""
    start, log = time.perf_counter(), log or (lambda message: None)
    classifier = classifier or load_classifier()
    std = std or reference_std()
    measure = dict(strength=settings.strength, classifier=classifier, std=std)
    _, basis = factorize_first_layer(generator)
    basis = basis[:min(settings.candidates, generator.z_dim)]
    z_fit, d_fit = sample_latents(generator.z_dim, per_digit=settings.samples_per_digit,
                                  seed=settings.fit_seed, num_classes=generator.num_classes)
    z_rep, d_rep = sample_latents(generator.z_dim, per_digit=settings.samples_per_digit,
                                  seed=settings.report_seed, num_classes=generator.num_classes)
    kept: list[LatentDirection] = []
    if settings.rotate:
        log(f"measuring {len(basis)} SeFa directions on {len(z_fit)} latents")
        fit = measure_directions(generator, basis, z=z_fit, digits=d_fit, **measure)
        for prop, (free, held) in reachable_effects(fit.effects).items():
            log(f"  {prop}: at most {free:.2f} std along any direction in their span, {held:.2f} "
                "with the other shape properties held (linear prediction)")
        rotated = [(p, v) for p in SHAPE_PROPERTIES
                   if (v := rotate_toward(p, basis, fit.effects)) is not None]
        log(f"measuring {len(rotated)} rotated directions on {len(z_rep)} other latents")
        report = measure_directions(generator, torch.stack([v for _, v in rotated]).float(),
                                    z=z_rep, digits=d_rep, **measure) if rotated else None
        for row, (prop, vector) in enumerate(rotated):
            direction = make_direction(generator, vector, row, report, slot=len(kept),
                                       taken={d.name for d in kept})
            if direction.property == prop and len(kept) < settings.count:
                kept.append(direction)
    _, rest = complement_directions(generator, [d.tensor() for d in kept], settings.count - len(kept))
    log(f"measuring {len(rest)} further SeFa directions on {len(z_rep)} latents")
    report = measure_directions(generator, rest.float(), z=z_rep, digits=d_rep, **measure)
    for row, vector in enumerate(rest):
        kept.append(make_direction(generator, vector, row, report, slot=len(kept),
                                   taken={d.name for d in kept}))
    method = "SeFa, rotated toward measured properties" if settings.rotate else "SeFa"
    return DirectionSet(tuple(kept), weights_sha256=weights_sha256, method=method,
                        settings=asdict(settings), seconds=time.perf_counter() - start)


UNMEASURED_METHOD = "SeFa, closed form (not yet measured)"


def closed_form_directions(generator, *, count: int = FULL_SEARCH.count,
                           weights_sha256: str = "") -> DirectionSet:
    """The leading `count` SeFa eigenvectors as plain, unmeasured directions (direction_1,
    ...): a closed form of G's first layer, found in milliseconds without rendering a digit.
    What a new model steers with while `find_directions` measures and names its set."""
    eigenvalues, vectors = factorize_first_layer(generator)
    count = min(count, generator.z_dim)
    directions = tuple(LatentDirection(name=f"direction_{i + 1}", label=f"direction {i + 1}", index=i,
                                       vector=tuple(float(x) for x in vectors[i].float()),
                                       eigenvalue=float(eigenvalues[i]))
                       for i in range(count))
    return DirectionSet(directions, weights_sha256=weights_sha256, method=UNMEASURED_METHOD,
                        settings={"count": count}, measured=False)


def markdown_table(directions: DirectionSet) -> str:
    """Name, eigenvalue, effects (std units, with the change in the property's own unit for
    the property it is named after) and class-change rate, one row per direction; a set not
    yet measured has only names and eigenvalues."""
    if not directions.measured:
        lines = ["| slider | name | eigenvalue |", "| --- | --- | --- |"]
        return "\n".join(lines + [f"| {d.label} | `{d.name}` | {d.eigenvalue:.2f} |" for d in directions])
    head = ["slider", "name", "eigenvalue", *PROPERTIES, "class change"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for d in directions:
        cells = [f"{d.effects[p]:+.2f}" for p in PROPERTIES]
        if d.property:
            i = PROPERTIES.index(d.property)
            unit = "°" if d.property == "slant" else " px"
            cells[i] = f"**{d.effects[d.property]:+.2f}** ({d.changes[d.property]:+.1f}{unit})"
        lines.append(f"| {d.label} | `{d.name}` | {d.eigenvalue:.2f} | " + " | ".join(cells)
                     + (f" | {d.class_change_rate:.1%} |" if d.class_change_rate is not None else " | |"))
    return "\n".join(lines)


def load_directions(folder, generator: Generator, *,
                    settings: SearchSettings = QUICK_SEARCH) -> DirectionSet:
    """The directions for the weights in `folder`: directions.json when it was made for them,
    else found again with `settings` (the quick setting takes about 20 s on two busy CPU
    cores; nothing is written)."""
    fingerprint = weights_fingerprint(folder)
    stored = stored_directions(folder, generator, fingerprint)
    if stored is not None:
        return stored
    return find_directions(generator, settings=settings, weights_sha256=fingerprint)


def store_directions(weights_dir: str | os.PathLike, *, settings: SearchSettings | None = None,
                     log: Callable[[str], None] | None = None) -> Path:
    """Find, measure and name the directions of the weights in `weights_dir` (EXPORT_SEARCH
    unless `settings` says otherwise) and write them to its directions.json (tied to the
    weights by their hash); returns the file."""
    generator = load_generator(weights_dir)
    directions = find_directions(generator, settings=settings or EXPORT_SEARCH, log=log,
                                 weights_sha256=weights_fingerprint(weights_dir))
    return save_directions(directions, weights_dir)
