"""What a training run started from the web page can be: the presets the Train tab offers,
the record of a run just started, and the switch that turns training from the page on.

    PRESETS["quick"].steps            # 1500: about 97% class accuracy in ~5 min on 2 CPU cores
    training_enabled(args.allow_training)   # False unless the operator turned it on
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gan.config import TrainConfig, preset_values

TRAINING_ENV_VAR = "DIGITGAN_ALLOW_TRAINING"


@dataclass(frozen=True)
class Preset:
    name: str
    steps: int
    batch_size: int
    description: str
    trainer_preset: str | None  # the `train.py --preset` it stands for; None = plain flags


def _trainer_preset(name: str, description: str) -> Preset:
    """A preset of train.py (gan.config.PRESETS), with the steps and batch size it trains."""
    values = {**TrainConfig().to_dict(), **preset_values(name)}
    return Preset(name, values["steps"], values["batch_size"], description, name)


PRESETS = {
    "quick": _trainer_preset("quick", "about 97% class accuracy in roughly 5 minutes on 2 CPU cores"),
    "standard": _trainer_preset("standard", "the recipe of the shipped weights"),
    "custom": Preset("custom", TrainConfig().steps, TrainConfig().batch_size,
                     "your own steps, batch size and seed", None),
}


@dataclass(frozen=True)
class RunInfo:
    """A run just started or resumed."""
    name: str
    run_dir: Path
    pid: int
    preset: str
    steps: int | None
    batch_size: int | None
    seed: int


def training_enabled(flag: bool = False, environ: dict | None = None) -> bool:
    """Training from the page is off unless the operator turns it on: `app.py --allow-training`
    (`flag`) or DIGITGAN_ALLOW_TRAINING=1 in the environment (for a Space)."""
    value = (os.environ if environ is None else environ).get(TRAINING_ENV_VAR, "")
    return flag or value.strip().lower() in ("1", "true", "yes", "on")
