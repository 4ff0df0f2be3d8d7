"""Two-process DistributedDataParallel training on the CPU (gloo), launched like torchrun."""
import json
import sys

import pytest
import torch

from gan.model.weights import load_generator
from gan.training.run_folder import CHECKPOINT_FILE

pytestmark = pytest.mark.slow


def test_two_process_gloo_run(tmp_path, core_run, core_train_cmd):
    run, weights = tmp_path / "run", tmp_path / "weights"
    train_argv = core_train_cmd("--steps", "6", "--log-every", "2", "--ckpt-every", "3",
                                "--run-dir", str(run), "--export-dir", str(weights))[1:]
    # `python -m torch.distributed.run` is torchrun, run by this interpreter; --standalone
    # picks a free rendezvous port, so parallel runs cannot collide
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
           "--nproc_per_node=2", *train_argv]
    result = core_run(cmd, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr

    # rank 0 alone writes: one log line per event, no leftovers from a second writer
    log = (run / "log.txt").read_text().splitlines()
    assert log.count(f"exported the EMA generator to {weights}") == 1, log
    assert sorted(p.name for p in weights.iterdir()) == [
        "config.json", "loss_curve.png", "model.safetensors", "progress.gif", "samples.png",
        "timeline.safetensors", "training.json"]
    assert not list(tmp_path.rglob("*.tmp"))
    assert result.stdout.count("exported the EMA generator") == 1

    ckpt = torch.load(run / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    assert ckpt["step"] == 6
    assert len(ckpt["rng"]) == 2  # each rank's data order and noise, gathered to rank 0
    assert not torch.equal(ckpt["rng"][0]["noise"], ckpt["rng"][1]["noise"])  # per-rank streams
    assert [h["step"] for h in ckpt["history"]] == [2, 3, 4, 6]  # log steps + checkpoints
    assert json.loads((weights / "training.json").read_text())["world_size"] == 2

    generator = load_generator(weights)
    for name, p in generator.named_parameters():
        assert torch.equal(p, ckpt["G_ema"][name]), name
    images = generator.generate(list(range(10)), [0] * 10)
    assert images.shape == (10, 28, 28)
