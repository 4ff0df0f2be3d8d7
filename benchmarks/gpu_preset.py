"""`python -m benchmarks.gpu_preset [NAME]` prints a train.py preset (default: gpu) as flags,
for scripts that pass it to a benchmark (benchmarks/gpu.sh). The presets and the reasons for
their values live in gan.config.PRESETS (train.py --preset)."""
from __future__ import annotations

import sys
from typing import Any

from gan.config import preset_values


def preset_for(name: str) -> dict[str, Any]:
    return preset_values(name)


def preset_flags(name: str) -> list[str]:
    """A preset as train.py flags: ['--batch-size', '512', '--lr-g', '0.00057', ...]."""
    values = preset_for(name)
    flags, settings = [], {**values.pop("model", {}), **values}  # model settings are train.py flags too
    for key, value in settings.items():
        flags += ["--" + key.replace("_", "-"), repr(value) if isinstance(value, float) else str(value)]
    return flags


if __name__ == "__main__":
    print(" ".join(preset_flags(sys.argv[1] if len(sys.argv) > 1 else "gpu")))
