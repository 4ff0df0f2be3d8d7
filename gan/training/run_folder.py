"""A training run's folder: the one list of its file names, the checkpoint (save, the one
loader), the export of the EMA generator, and what a watcher reads as the run learns (the
fixed-noise grid, its GIF, the loss curve, status.json, and the training timeline built from
them: gan.model.timeline's file, written beside the weights at every export).

A checkpoint holds everything a run needs to continue exactly: the models, the optimisers,
every random stream, the history and the commands that made it. It is read only through
`load_checkpoint` (tensors and plain containers only: weights_only=True, never arbitrary
pickles). Everything here is written atomically (temp file, then rename), so a crash
mid-write leaves the previous file intact and the Train tab can read the folder at any moment.
"""
from __future__ import annotations

import copy
import io
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..config import TrainConfig
from ..files import atomic_write_bytes, atomic_write_json
from ..images import make_grid, save_gif, save_png
from ..model.networks import Generator, recalibrate_batchnorm
from ..model.sampling import digit_major
from ..model.timeline import CURVES, Timeline, expected_last_frame, save_timeline
from ..model.weights import LOSS_CURVE_FILE, PROGRESS_GIF, RUN_PICTURES, SAMPLES_FILE, TRAINING_FILE, save_generator

# The files of a run folder (the grid, curve and GIF names are the weights folder's too:
# they are copied beside the weights at export).
CHECKPOINT_FILE = "checkpoint.pt"      # models, optimisers, random streams, histories
STATUS_FILE = "status.json"            # where the run is: start, every log step, end
HISTORY_FILE = "history.json"          # losses and images/s, one entry per log step
METRICS_HISTORY_FILE = "metrics_history.json"  # the periodic class accuracy / Frechet distance
LOG_FILE = "log.txt"                   # the trainer's log lines
SAMPLES_DIR = "samples"                # every fixed-noise grid, samples/step_0000500.png
RUN_FILE = "run.json"                  # written by the Train tab's run manager (options, launches)
CONSOLE_FILE = "console.txt"           # the trainer's stdout + stderr, when the manager started it
STOP_FILE = "stop.request"             # written to ask a trainer that cannot be signalled to stop


# ----------------------------------------------------------------------------- checkpoint, export
def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint of the run in `run_dir`, on the CPU; FileNotFoundError if there is none."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {CHECKPOINT_FILE} in {run_dir}: nothing to resume or export")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_checkpoint_config(run_dir: str | os.PathLike) -> TrainConfig:
    return TrainConfig.from_dict(load_checkpoint(run_dir)["config"])


def export_generator(G_ema: Generator, export_dir: str | os.PathLike, *, cfg: TrainConfig, step: int,
                     commands: list[str], run_dir: Path, elapsed_s: float, device: str,
                     world_size: int = 1) -> Path:
    """Write the EMA generator (BatchNorm statistics recalibrated) and its provenance."""
    export_dir = Path(export_dir)
    served = copy.deepcopy(G_ema).to("cpu")
    recalibrate_batchnorm(served)
    save_generator(served, export_dir)
    atomic_write_json(export_dir / TRAINING_FILE, {
        # A resumed run continues exactly (same data order and noise), so the chain of
        # commands reproduces these weights.
        "command": " && ".join(commands), "commands": commands,
        "seed": cfg.seed, "step": step, "train_config": cfg.to_dict(),
        "device": device, "world_size": world_size, "wall_time_minutes": round(elapsed_s / 60, 2),
        "torch_version": torch.__version__})
    for name in RUN_PICTURES:
        source = Path(run_dir) / name
        if source.is_file():
            atomic_write_bytes(export_dir / name, source.read_bytes())
    timeline = build_timeline(run_dir, served)
    if timeline is not None:
        save_timeline(timeline, export_dir)
    return export_dir


def export_from_checkpoint(run_dir: str | os.PathLike, export_dir: str | os.PathLike, *,
                           command: str = "") -> Path:
    """Export the EMA generator of the run's latest checkpoint (`train.py --export`)."""
    run_dir = Path(run_dir)
    ckpt = load_checkpoint(run_dir)
    cfg = TrainConfig.from_dict(ckpt["config"])
    G_ema = Generator(cfg.model)
    G_ema.load_state_dict(ckpt["G_ema"])
    return export_generator(G_ema, export_dir, cfg=cfg, step=ckpt["step"],
                            commands=ckpt.get("commands", []) + ([command] if command else []),
                            run_dir=run_dir, elapsed_s=ckpt.get("elapsed_s", 0.0), device="cpu")


# ----------------------------------------------------------------------------- progress
GRID_SEEDS = list(range(10))  # fixed noise: the progress grid shows seeds 0-9 of every digit
# Besides step 0 and every sample_every steps, a run draws its grid at these early steps, where
# the picture changes fastest (noise -> blobs -> strokes): the training timeline's early frames.
# Multiples of 50, the default log_every, so that each frame has its own window of losses.
EARLY_GRID_STEPS = (50, 100, 150, 200, 300, 400)


def early_grid_steps(sample_every: int) -> tuple[int, ...]:
    """The early steps, below the first regular grid, at which a run also draws its grid."""
    return tuple(step for step in EARLY_GRID_STEPS if step < sample_every)


def grid_image(generator: Generator) -> np.ndarray:
    """Fixed-noise progress grid: a row per digit, a column per seed in GRID_SEEDS."""
    digits, seeds = digit_major(range(generator.num_classes), GRID_SEEDS)
    images = generator.generate(digits, seeds)
    return make_grid(images, rows=generator.num_classes, cols=len(GRID_SEEDS))


def loss_curve_png(history: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    ax.plot(steps, [h["d_loss"] for h in history], label="d_loss")
    ax.plot(steps, [h["g_loss"] for h in history], label="g_loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (window mean)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def read_grey_png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


class ProgressPictures:
    """samples/step_*.png, samples.png (the latest), progress.gif and loss_curve.png."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.frames: list[np.ndarray] = []  # the grids so far: the frames of progress.gif

    def save(self, generator: Generator, step: int, history: list[dict]) -> None:
        grid = grid_image(generator)
        save_png(self.run_dir / SAMPLES_DIR / f"step_{step:07d}.png", grid, metadata={"step": step})
        save_png(self.run_dir / SAMPLES_FILE, grid, metadata={"step": step})
        if self.frames:
            self.frames.append(grid)
        else:  # the first grid of this process: read it and, when resumed, the earlier ones
            self.frames.extend(read_grey_png(p)
                               for p in sorted((self.run_dir / SAMPLES_DIR).glob("step_*.png")))
        save_gif(self.run_dir / PROGRESS_GIF, self.frames, duration_ms=300)
        if history:
            atomic_write_bytes(self.run_dir / LOSS_CURVE_FILE, loss_curve_png(history))


def write_status(run_dir: Path, *, state: str, step: int, steps: int, elapsed_s: float,
                 last: dict | None = None, message: str = "") -> None:
    """status.json: where the run is, for whoever watches it (the Train tab reads it)."""
    last = last or {}
    atomic_write_json(run_dir / STATUS_FILE, {
        "state": state, "step": step, "steps": steps, "pid": os.getpid(),
        "images_per_s": last.get("images_per_s"), "d_loss": last.get("d_loss"),
        "g_loss": last.get("g_loss"), "elapsed_s": round(elapsed_s, 2),
        "updated_at": time.time(), "message": message})


# ----------------------------------------------------------------------------- the timeline
MAX_FRAMES = 64  # a long run's grids are thinned to this many frames (the file stays a few MB)
GRID_PAD = 2     # gan.images.make_grid's default, which the progress grids use
# metrics_history.json's names for the timeline's curves
METRIC_KEYS = {"accuracy": "class_accuracy", "frechet": "frechet_distance", "coverage": "coverage"}
HISTORY_CURVES = ("d_loss", "g_loss", "d_real", "d_fake")
_GRID_NAME = re.compile(r"step_(\d+)\.png$")


def saved_grids(run_dir: Path) -> dict[int, Path]:
    """The run's fixed-noise grids by step."""
    found = {}
    for path in (Path(run_dir) / SAMPLES_DIR).glob("step_*.png"):
        match = _GRID_NAME.search(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def grid_tiles(grid: np.ndarray, *, rows: int, cols: int, pad: int = GRID_PAD) -> np.ndarray:
    """A progress grid (a row per digit, a column per seed) -> uint8 [rows, cols, H, W]."""
    size = (grid.shape[0] - pad) // rows - pad
    if grid.shape != (rows * (size + pad) + pad, cols * (size + pad) + pad):
        raise ValueError(f"a {grid.shape[1]}x{grid.shape[0]} picture is not a {rows}x{cols} grid of "
                         "square tiles")
    return np.stack([np.stack([grid[pad + r * (size + pad): pad + r * (size + pad) + size,
                                    pad + c * (size + pad): pad + c * (size + pad) + size]
                               for c in range(cols)]) for r in range(rows)])


def thin(steps: list[int], keep: set[int], most: int = MAX_FRAMES) -> list[int]:
    """At most `most` of `steps` (sorted): evenly by index, so early density is kept where the
    run drew densely, with the first, the last and the steps in `keep` where there is room."""
    if len(steps) <= most:
        return steps
    chosen = {steps[0], steps[-1]} | {s for s in steps if s in keep}
    chosen = set(sorted(chosen)[:most])
    spare = most - len(chosen)
    if spare > 0:
        rest = [s for s in steps if s not in chosen]
        picks = np.unique(np.linspace(0, len(rest) - 1, spare).round().astype(int))
        chosen |= {rest[i] for i in picks}
    return sorted(chosen)


def _read_list(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    data = json.loads(path.read_text(), parse_constant=float)
    return data if isinstance(data, list) else []


def window_means(history: list[dict], steps: list[int]) -> dict[str, np.ndarray]:
    """Each loss-history curve averaged over the steps since the previous frame: a history entry
    is the mean over its log window (previous entry's step, its step], weighted here by the
    window's length. NaN where no entry falls in a frame's span, or the entries lack the value."""
    means = {name: np.full(len(steps), np.nan, dtype=np.float32) for name in HISTORY_CURVES}
    windows, start = [], 0
    for entry in sorted((e for e in history if isinstance(e.get("step"), int)), key=lambda e: e["step"]):
        windows.append((entry["step"] - start, entry))
        start = entry["step"]
    for i, step in enumerate(steps):
        since = steps[i - 1] if i else -1
        for name in HISTORY_CURVES:
            pairs = [(length, entry[name]) for length, entry in windows
                     if since < entry["step"] <= step and isinstance(entry.get(name), (int, float))
                     and math.isfinite(entry[name])]
            if pairs:
                means[name][i] = sum(length * value for length, value in pairs) / sum(length for length, _ in pairs)
    return means


def _metrics_by_step(run_dir: Path) -> dict[int, dict]:
    return {m["step"]: m for m in _read_list(run_dir / METRICS_HISTORY_FILE) if isinstance(m.get("step"), int)}


def timeline_steps(run_dir: str | Path) -> list[int]:
    """The steps of a run's timeline so far (what `build_timeline` gives without a generator),
    from the file names alone: no picture is read."""
    run_dir = Path(run_dir)
    return thin(sorted(saved_grids(run_dir)), keep=set(_metrics_by_step(run_dir)))


def build_timeline(run_dir: str | Path, generator: Generator | None = None, *,
                   num_classes: int = 10) -> Timeline | None:
    """The timeline of the run in `run_dir`, or None when it drew no grid. With `generator`
    (the exported EMA generator) the last frame is what it draws, at the run's last step."""
    run_dir = Path(run_dir)
    grids = saved_grids(run_dir)
    if generator is not None:
        num_classes = generator.num_classes
    history = _read_list(run_dir / HISTORY_FILE)
    metrics = _metrics_by_step(run_dir)
    last_step = max([*grids, *(e["step"] for e in history if isinstance(e.get("step"), int))], default=None)
    if last_step is None or (not grids and generator is None):
        return None
    steps = thin(sorted(set(grids) | ({last_step} if generator is not None else set())),
                 keep=set(metrics))
    frames = []
    for step in steps:
        if generator is not None and step == steps[-1]:
            frames.append(expected_last_frame(generator, GRID_SEEDS))
        else:
            frames.append(grid_tiles(read_grey_png(grids[step]), rows=num_classes, cols=len(GRID_SEEDS)))
    curves = window_means(history, steps)
    for name, key in METRIC_KEYS.items():
        curves[name] = np.array([metrics.get(s, {}).get(key, math.nan) for s in steps], dtype=np.float32)
    return Timeline(steps=np.array(steps, dtype=np.int64), seeds=np.array(GRID_SEEDS, dtype=np.int64),
                    frames=np.stack(frames).astype(np.uint8), curves={name: curves[name] for name in CURVES})
