"""Generator weights on disk: `config.json` + `model.safetensors` (the Hugging Face layout),
and the names of everything else a weights folder holds.

Writes are atomic (temp file, fsync, rename) so a running app never reads half a file.
The config is also stored inside the safetensors header, so a reader that catches the
folder between the two renames sees a mismatch and refuses, instead of loading a model
with the wrong config. Loading never unpickles anything.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes

from ..config import ModelConfig
from ..files import JsonFileError, atomic_write_bytes, atomic_write_json, file_sha256, read_json
from .networks import Generator

# A weights folder: one list of names for whoever writes or reads one.
CONFIG_FILE = "config.json"                # ModelConfig + architecture tag
WEIGHTS_FILE = "model.safetensors"         # the EMA generator (its config also in the header)
TRAINING_FILE = "training.json"            # the commands and settings that made the weights
METRICS_FILE = "metrics.json"              # python -m gan.evaluate's report
NEIGHBOURS_FILE = "nearest_neighbours.png"  # samples beside their nearest training images
DIRECTIONS_FILE = "directions.json"        # the named latent directions (python -m gan.find_directions)
ENCODER_FILE = "encoder.safetensors"       # image -> latent for the Draw search (python -m gan.train_encoder)
TIMELINE_FILE = "timeline.safetensors"     # the run's grids and curves by step (gan.model.timeline)
SAMPLES_FILE = "samples.png"               # the run's last fixed-noise grid, copied at export
LOSS_CURVE_FILE = "loss_curve.png"         # the run's loss curve, copied at export
PROGRESS_GIF = "progress.gif"              # the run's grids as an animation, copied at export
RUN_PICTURES = (SAMPLES_FILE, LOSS_CURVE_FILE, PROGRESS_GIF)
ARCHITECTURE = "DigitGAN-Generator"
FORMAT_VERSION = 1


def make_weights_command(folder: str | os.PathLike) -> str:
    """The command that trains a generator and exports it to `folder`."""
    return f"python train.py --data-dir DIR --export-dir {folder}"


class WeightsError(ValueError):
    """The weights folder is missing, incomplete, corrupt or does not match its config.

    `hint` is the command that makes weights, where making them is the fix (missing files);
    `str(error)` is the problem alone and `error.advice()` the problem plus the hint.
    """

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.hint = hint

    def advice(self) -> str:
        return f"{self}\nMake them with:\n    {self.hint}" if self.hint else str(self)


def _config_json(config: ModelConfig) -> dict[str, Any]:
    return {"architecture": ARCHITECTURE, "format_version": FORMAT_VERSION, **config.to_dict()}


def save_generator(generator: Generator, folder: str | os.PathLike) -> Path:
    """Write `generator` (its weights and config) to `folder`, atomically file by file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = _config_json(generator.config)
    tensors = {k: v.detach().to("cpu", copy=True).contiguous()
               for k, v in generator.state_dict().items()}
    # Serialised in memory and written by atomic_write_bytes: safetensors' save_file
    # replaces the target with its own owner-only (0600) file, which other users (a server
    # account) could not read.
    data = save_bytes(tensors, metadata={"config": json.dumps(config, sort_keys=True)})
    atomic_write_bytes(folder / WEIGHTS_FILE, data)
    atomic_write_json(folder / CONFIG_FILE, config)
    return folder


def read_config(folder: str | os.PathLike) -> ModelConfig:
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise WeightsError(f"{path} not found: a weights folder holds {CONFIG_FILE} and "
                           f"{WEIGHTS_FILE}.", hint=make_weights_command(Path(folder)))
    try:
        data = read_json(path, what="the model config")
    except JsonFileError as exc:
        raise WeightsError(str(exc)) from exc
    return _parse_config(data, str(path))


def _parse_config(data: Any, where: str) -> ModelConfig:
    if not isinstance(data, dict):
        raise WeightsError(f"{where}: expected a JSON object")
    data = dict(data)
    arch, version = data.pop("architecture", None), data.pop("format_version", None)
    if arch != ARCHITECTURE or version != FORMAT_VERSION:
        raise WeightsError(f"{where}: expected architecture {ARCHITECTURE!r} format_version "
                           f"{FORMAT_VERSION}, got {arch!r} {version!r}")
    try:
        return ModelConfig.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{where}: invalid model config: {exc}") from exc


def weights_fingerprint(folder: str | os.PathLike, length: int = 12) -> str:
    """Short sha256 of model.safetensors: names exactly which weights made an image."""
    return file_sha256(Path(folder) / WEIGHTS_FILE)[:length]


def load_generator(folder: str | os.PathLike = "weights", *,
                   device: torch.device | str = "cpu") -> Generator:
    """Build the generator from `config.json`, load `model.safetensors` strictly, validate.

    Returns it in eval mode, without gradients, on `device`. Raises `WeightsError` with a
    message that names the problem for anything missing, corrupt or mismatched, and the
    command that makes new weights as its hint.
    """
    folder = Path(folder)
    try:
        return _load_checked(folder, device)
    except WeightsError as exc:
        exc.hint = exc.hint or make_weights_command(folder)
        raise


def _load_checked(folder: Path, device: torch.device | str) -> Generator:
    if not folder.is_dir():
        raise WeightsError(f"weights folder {folder} does not exist.")
    config = read_config(folder)
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise WeightsError(f"{path} not found next to {CONFIG_FILE}")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a valid safetensors file ({exc})") from exc
    if "config" in metadata:
        try:
            embedded = _parse_config(json.loads(metadata["config"]), f"{path} (header)")
        except json.JSONDecodeError as exc:
            raise WeightsError(f"{path}: config in the header is not JSON") from exc
        if embedded != config:
            raise WeightsError(f"{path} was written for a different config than {CONFIG_FILE} "
                               "(is a new model being written right now? try again)")

    generator = Generator(config)
    expected = generator.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise WeightsError(f"{path} does not match {CONFIG_FILE}: missing {missing}, "
                           f"unexpected {unexpected}")
    for name, tensor in tensors.items():
        want = expected[name]
        if tensor.shape != want.shape or tensor.dtype != want.dtype:
            raise WeightsError(f"{path}: {name} has shape {tuple(tensor.shape)} {tensor.dtype}, "
                               f"config needs {tuple(want.shape)} {want.dtype}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise WeightsError(f"{path}: {name} contains NaN or inf")
    generator.load_state_dict(tensors, strict=True)
    generator.requires_grad_(False)
    return generator.eval().to(device)
