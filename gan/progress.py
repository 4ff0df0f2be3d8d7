"""What a run shows as it learns: the fixed-noise grid, its GIF, the loss curve, status.json.

Everything is written atomically into the run folder, so the app's Train tab (or a person
with a file browser) can read it at any moment.
"""
from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .files import atomic_write_bytes, atomic_write_json
from .images import make_grid, save_gif, save_png
from .models import Generator
from .run_layout import GRID_FILE, LOSS_CURVE_FILE, PROGRESS_GIF, SAMPLES_DIR, STATUS_FILE
from .sampling import digit_major

GRID_SEEDS = list(range(10))  # fixed noise: the progress grid shows seeds 0-9 of every digit


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
        save_png(self.run_dir / GRID_FILE, grid, metadata={"step": step})
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

