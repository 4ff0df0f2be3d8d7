"""SIGTERM / SIGINT during `python train.py`: checkpoint at the current step, exit 130, and
--resume continues exactly where the run stopped."""
import signal
import subprocess
import sys
import time

import pytest
import torch

import train as train_cli
from gan.config import TrainConfig
from gan.model.weights import load_generator
from gan.training.loop import train
from gan.training.run_folder import CHECKPOINT_FILE
from tests.support.processes import REPO_ROOT, TINY_TRAIN_FLAGS, core_env

pytestmark = pytest.mark.slow

SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}


def _wait_for(path, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"training exited early with {proc.returncode}:\n{out}\n{err}")
        time.sleep(0.1)
    pytest.fail(f"{path} did not appear within {timeout} s")


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """One long training per signal, started together (interpreter start-up is most of the
    cost), each signalled once its loop has written the step-3 checkpoint.
    Returns {name: (folder, returncode, stderr)}."""
    procs = {}
    try:
        for name in SIGNALS:
            folder = tmp_path_factory.mktemp(name)
            cmd = [sys.executable, str(REPO_ROOT / "train.py"), *TINY_TRAIN_FLAGS,
                   "--steps", "100000", "--ckpt-every", "3", "--log-every", "3",
                   "--sample-every", "100000", "--run-dir", str(folder / "run"),
                   "--export-dir", str(folder / "weights")]
            procs[name] = folder, subprocess.Popen(cmd, cwd=folder, env=core_env(), text=True,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for name, (folder, proc) in procs.items():
            _wait_for(folder / "run" / CHECKPOINT_FILE, proc)
            proc.send_signal(SIGNALS[name])
        results = {}
        for name, (folder, proc) in procs.items():
            _, err = proc.communicate(timeout=60)
            results[name] = folder, proc.returncode, err
        return results
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.mark.parametrize("name", list(SIGNALS))
def test_signal_checkpoints_and_resume_continues(name, interrupted, core_threads):
    folder, returncode, err = interrupted[name]
    run, weights = folder / "run", folder / "weights"
    assert returncode == 130, err
    assert "Traceback" not in err

    ckpt = _load(run / CHECKPOINT_FILE)
    stopped_at = ckpt["step"]
    assert stopped_at >= 3
    log = (run / "log.txt").read_text()
    assert f"stopped by signal at step {stopped_at}; checkpoint saved" in log
    assert f"--resume {run}" in log
    assert not weights.exists()  # an interrupted run exports nothing
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*.tmp"))

    # `train.py --resume` (in-process: a second interpreter start costs seconds) for two
    # more steps; the model flags come from the checkpoint
    target = stopped_at + 2
    assert train_cli.main(["--resume", str(run), "--steps", str(target), "--no-progress",
                           "--no-evaluate", "--no-directions", "--threads", "1"]) == 0
    log = (run / "log.txt").read_text()
    assert f"resumed {run} at step {stopped_at}" in log
    resumed = _load(run / CHECKPOINT_FILE)
    assert resumed["step"] == target
    assert load_generator(weights).config.g_width == 8

    # ... and ends exactly where an uninterrupted run of `target` steps ends
    cfg = TrainConfig.from_dict(ckpt["config"])
    cfg.run_dir, cfg.export_dir, cfg.steps = str(folder / "straight"), None, target
    train(cfg, progress=False, log=lambda line: None)
    straight = _load(folder / "straight" / CHECKPOINT_FILE)
    for key in ("G", "D", "G_ema"):
        for tensor_name, tensor in straight[key].items():
            assert torch.equal(resumed[key][tensor_name], tensor), f"{key}.{tensor_name} differs"
