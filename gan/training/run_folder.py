"""A training run's folder: the one list of its file names, the checkpoint (save, the one
loader), the export of the EMA generator, and what a watcher reads as the run learns (the
fixed-noise grid, its GIF, the loss curve, status.json).

A checkpoint holds everything a run needs to continue exactly: the models, the optimisers,
every random stream, the history and the commands that made it. It is read only through
`load_checkpoint` (tensors and plain containers only: weights_only=True, never arbitrary
pickles). Everything here is written atomically (temp file, then rename), so a crash
mid-write leaves the previous file intact and the Train tab can read the folder at any moment.
"""
from __future__ import annotations

import copy
import io
import os
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
from ..model.weights import (LOSS_CURVE_FILE, PROGRESS_GIF, RUN_PICTURES, SAMPLES_FILE, TRAINING_FILE,
                             save_generator)

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

