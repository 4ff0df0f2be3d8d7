"""The presets a run from the Train tab can start with: train.py's own recipes (gan.config.PRESETS)
with the steps and batch size they train, and `custom` for plain flags."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import TrainConfig, with_preset


@dataclass(frozen=True)
class Preset:
    name: str
    steps: int
    batch_size: int
    description: str
    trainer_preset: str | None  # the `train.py --preset` it stands for; None = plain flags


def _trainer_preset(name: str, description: str) -> Preset:
    """A preset of train.py (gan.config.PRESETS), with the steps and batch size it trains."""
    values = with_preset(TrainConfig().to_dict(), name)
    return Preset(name, values["steps"], values["batch_size"], description, name)


RUN_PRESETS = {
    "quick": _trainer_preset("quick", "the first weights' quality (Fréchet 13.9) in about 5 minutes "
                                      "on 2 CPU cores"),
    "standard": _trainer_preset("standard", "the recipe of the shipped weights (R1, 16,000 steps): 26 "
                                            "minutes on 2 CPU cores"),
    "gpu": _trainer_preset("gpu", "for a GPU (e.g. a ZeroGPU Space): batch 512, the first recipe scaled"),
    "custom": Preset("custom", TrainConfig().steps, TrainConfig().batch_size,
                     "your own steps, batch size and seed", None),
}
