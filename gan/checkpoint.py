"""A run's files: the checkpoint (save, the one loader), and the export of its EMA generator.

A checkpoint holds everything a run needs to continue exactly: the models, the optimisers,
every random stream, the history and the commands that made it. It is read only through
`load_checkpoint` (tensors and plain containers only: weights_only=True, never arbitrary
pickles) and written atomically, so a crash mid-write leaves the previous one intact.
"""
from __future__ import annotations

import copy
import io
import os
from pathlib import Path
from typing import Any

import torch

from .config import TrainConfig
from .files import atomic_write_bytes, atomic_write_json
from .models import Generator, recalibrate_batchnorm
from .run_layout import CHECKPOINT_FILE, GRID_FILE, LOSS_CURVE_FILE, PROGRESS_GIF
from .weights import save_generator

CHECKPOINT_NAME = CHECKPOINT_FILE
RUN_PICTURES = (GRID_FILE, LOSS_CURVE_FILE, PROGRESS_GIF)  # copied next to exports


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint of the run in `run_dir`, on the CPU; FileNotFoundError if there is none."""
    path = Path(run_dir) / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {CHECKPOINT_NAME} in {run_dir}: nothing to resume or export")
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
    atomic_write_json(export_dir / "training.json", {
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
