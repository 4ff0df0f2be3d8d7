"""--compile, the path meant for GPUs, runs on the CPU too (torch.compile with its C++
backend): a tiny run trains, checkpoints and exports through the compiled modules."""
import json
import math
import subprocess
import sys

import pytest

from gan.model.weights import load_generator
from tests.support.processes import REPO_ROOT, TINY_TRAIN_FLAGS, core_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_compiled_training_runs_and_exports(tmp_path):
    run, weights = tmp_path / "run", tmp_path / "weights"
    done = subprocess.run([sys.executable, str(REPO_ROOT / "train.py"), *TINY_TRAIN_FLAGS, "--compile",
                           "--steps", "4", "--log-every", "2", "--run-dir", str(run),
                           "--export-dir", str(weights)],
                          cwd=tmp_path, env=core_env(), capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stderr[-3000:]
    history = json.loads((run / "history.json").read_text())
    assert [h["step"] for h in history] == [2, 4]
    assert all(math.isfinite(h["d_loss"]) and math.isfinite(h["g_loss"]) for h in history)
    generator = load_generator(weights)  # state dict names free of torch.compile's prefixes
    assert generator.generate([1, 7], [0, 1]).shape == (2, 28, 28)
