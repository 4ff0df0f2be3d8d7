"""The training timeline beside the weights: what the run drew and how good it was, by step.

`timeline.safetensors` holds, for T steps of the run that made the weights (step 0, the
untrained generator, to the last step; denser early, where the picture changes fastest):

    steps     int64   [T]                     strictly increasing
    seeds     int64   [S]                     the progress grid's public seeds (0-9)
    frames    uint8   [T, K, S, 28, 28]       digit, seed, pixels (0 = background); the last
                                              frame is what the served weights draw
    accuracy, frechet, coverage               float32 [T]: the run's periodic metrics
    d_loss, g_loss                            float32 [T]: the losses, averaged since the
                                              previous frame
    d_real, d_fake                            float32 [T]: D's mean realness (sigmoid of its
                                              logit) of the real and of the generated half of
                                              the batch, averaged since the previous frame

A value the run did not measure is NaN, never invented. The file is written by train.py at
every export (gan.training.timeline builds it from the run folder) and read only through
`load_timeline`, strictly: the exact tensors, dtypes, shapes and order, and (given the
generator) a last frame equal to what that generator draws.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes

from ..files import atomic_write_bytes
from .networks import Generator
from .sampling import digit_major
from .weights import TIMELINE_FILE, WeightsError

FORMAT_VERSION = 1
# The curves, float32 [T] each, in the order a reader lists them.
CURVES = ("accuracy", "frechet", "coverage", "d_loss", "g_loss", "d_real", "d_fake")
MAKE_TIMELINE = "python train.py --data-dir DIR --export-dir {folder} (train.py writes the timeline at every export)"


class TimelineError(WeightsError):
    """The timeline file is missing, corrupt, or does not belong to the weights beside it."""


@dataclass(frozen=True)
class Timeline:
    steps: np.ndarray    # int64 [T]
    seeds: np.ndarray    # int64 [S]
    frames: np.ndarray   # uint8 [T, K, S, H, W]
    curves: dict[str, np.ndarray]  # CURVES -> float32 [T]

    def __len__(self) -> int:
        return len(self.steps)

    def index_of(self, step: int) -> int:
        """The frame index of `step`; ValueError naming the nearest steps when it has no frame."""
        where = np.flatnonzero(self.steps == step)
        if where.size:
            return int(where[0])
        after = int(np.searchsorted(self.steps, step))
        nearest = sorted({int(self.steps[i]) for i in (after - 1, after) if 0 <= i < len(self.steps)})
        raise ValueError(f"step {step} is not in the timeline (its {len(self.steps)} steps run from "
                         f"{int(self.steps[0])} to {int(self.steps[-1])}); the nearest: "
                         + " and ".join(map(str, nearest)))

    def metrics(self) -> list[dict]:
        """One plain dict per frame: the step and each curve's value (None where not measured)."""
        return [{"step": int(step), **{name: _plain(self.curves[name][i]) for name in CURVES}}
                for i, step in enumerate(self.steps)]


def _plain(value: np.floating) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def expected_last_frame(generator: Generator, seeds) -> np.ndarray:
    """What `generator` draws for the timeline's seeds: uint8 [K, S, H, W], digit-major."""
    seeds = [int(s) for s in seeds]
    digits, seed_list = digit_major(range(generator.num_classes), seeds)
    images = generator.generate(digits, seed_list).numpy()
    return images.reshape(generator.num_classes, len(seeds), *images.shape[1:])


def check_timeline(timeline: Timeline, where: str = "timeline") -> Timeline:
    """The format's rules (shapes, dtypes, increasing steps); TimelineError naming what is wrong."""
    steps, seeds, frames = timeline.steps, timeline.seeds, timeline.frames
    if steps.dtype != np.int64 or steps.ndim != 1 or len(steps) < 1:
        raise TimelineError(f"{where}: steps must be int64 [T] with T >= 1, got {steps.dtype} {list(steps.shape)}")
    if np.any(np.diff(steps) <= 0) or steps[0] < 0:
        raise TimelineError(f"{where}: steps must be non-negative and strictly increasing")
    if seeds.dtype != np.int64 or seeds.ndim != 1 or len(seeds) < 1:
        raise TimelineError(f"{where}: seeds must be int64 [S], got {seeds.dtype} {list(seeds.shape)}")
    if frames.dtype != np.uint8 or frames.ndim != 5 or frames.shape[0] != len(steps) \
            or frames.shape[2] != len(seeds):
        raise TimelineError(f"{where}: frames must be uint8 [T={len(steps)}, digits, S={len(seeds)}, H, W], "
                            f"got {frames.dtype} {list(frames.shape)}")
    if set(timeline.curves) != set(CURVES):
        raise TimelineError(f"{where}: the curves must be exactly {', '.join(CURVES)}; got "
                            f"{', '.join(sorted(timeline.curves))}")
    for name in CURVES:
        curve = timeline.curves[name]
        if curve.dtype != np.float32 or curve.shape != steps.shape:
            raise TimelineError(f"{where}: {name} must be float32 [{len(steps)}], got {curve.dtype} "
                                f"{list(curve.shape)}")
    return timeline


def save_timeline(timeline: Timeline, folder: str | os.PathLike) -> Path:
    """Write `timeline` to folder/timeline.safetensors (checked first, written atomically)."""
    check_timeline(timeline)
    tensors = {"steps": torch.from_numpy(timeline.steps), "seeds": torch.from_numpy(timeline.seeds),
               "frames": torch.from_numpy(np.ascontiguousarray(timeline.frames)),
               **{name: torch.from_numpy(timeline.curves[name]) for name in CURVES}}
    path = Path(folder) / TIMELINE_FILE
    atomic_write_bytes(path, save_bytes(tensors, metadata={"format_version": str(FORMAT_VERSION),
                                                           "curves": json.dumps(list(CURVES))}))
    return path


def load_timeline(folder: str | os.PathLike = "weights", *, generator: Generator | None = None) -> Timeline:
    """The timeline of the weights in `folder`. TimelineError if it is missing (its hint says
    how to make one), corrupt or off-format, or, given the generator served from that folder,
    if its last frame is not what that generator draws."""
    path = Path(folder) / TIMELINE_FILE
    if not path.is_file():
        raise TimelineError(f"{folder} has no {TIMELINE_FILE}: these weights came without their "
                            "training timeline", hint=MAKE_TIMELINE.format(folder=folder))
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise TimelineError(f"{path} is not a readable safetensors file: {exc}") from exc
    expected = {"steps", "seeds", "frames", *CURVES}
    if set(tensors) != expected:
        raise TimelineError(f"{path}: expected exactly the tensors {', '.join(sorted(expected))}; got "
                            f"{', '.join(sorted(tensors))}")
    timeline = check_timeline(Timeline(steps=tensors["steps"].numpy(), seeds=tensors["seeds"].numpy(),
                                       frames=tensors["frames"].numpy(),
                                       curves={name: tensors[name].numpy() for name in CURVES}), str(path))
    if generator is not None:
        if timeline.frames.shape[1:] != (generator.num_classes, len(timeline.seeds),
                                             generator.config.img_size, generator.config.img_size):
            raise TimelineError(f"{path}: its frames ({list(timeline.frames.shape[1:])}) do not fit the "
                                "generator beside it")
        if not np.array_equal(timeline.frames[-1], expected_last_frame(generator, timeline.seeds)):
            raise TimelineError(f"{path}: its last frame is not what the weights beside it draw, so it is "
                                "the timeline of other weights", hint=MAKE_TIMELINE.format(folder=folder))
    return timeline
