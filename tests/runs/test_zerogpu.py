"""The Train tab's runs on ZeroGPU (gan.runs.zerogpu.ZeroGPULauncher), run here on the CPU with
the decorator left off (as it is off the platform): the run trains inside the call, stops
itself with a checkpoint before the call's duration, resumes on the next call, stops on
request, and writes the files the process path writes."""
from __future__ import annotations

import threading
import time

import pytest
import torch

from gan.runs.manager import RunManager
from gan.runs.zerogpu import SETUP_MARGIN_S, ZeroGPULauncher, gpu_seconds, train_in_this_process

pytestmark = pytest.mark.slow

TINY = ["--synthetic-size", "256", "--g-width", "8", "--d-width", "8", "--metrics-every", "0",
        "--threads", "1", "--device", "cpu", "--ckpt-every", "1000"]
LIMIT_S = 2  # the training time a call allows here: its duration less the set-up margin


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def gpu_manager(root, calls: list) -> RunManager:
    def call(train_args, duration_s):
        calls.append((list(train_args), duration_s))
        return train_in_this_process(train_args, duration_s)

    return RunManager(root, launcher=ZeroGPULauncher(call, gpu_seconds=SETUP_MARGIN_S + LIMIT_S),
                      extra_args=TINY, sample_every=20, log_every=10)


def file_names(run_dir) -> set[str]:
    return {p.relative_to(run_dir).as_posix().split("/")[0] for p in run_dir.iterdir()}


def test_a_run_stops_at_its_limit_with_a_checkpoint_and_resumes(tmp_path, threads):
    calls: list = []
    manager = gpu_manager(tmp_path / "runs", calls)
    started = time.perf_counter()
    info = manager.start("custom", steps=100_000, batch_size=8)
    first = manager.status(info.name)
    assert first.state == "interrupted" and first.has_checkpoint and first.step > 0
    assert time.perf_counter() - started >= LIMIT_S  # Start returned once the call had trained its time
    assert calls[0][1] == SETUP_MARGIN_S + LIMIT_S and "--run-dir" in calls[0][0]
    assert "time limit" in (info.run_dir / "log.txt").read_text()
    manager.resume(info.name)
    second = manager.status(info.name)
    assert second.state == "interrupted" and second.step > first.step
    assert calls[1][0][:2] == ["--resume", str(info.run_dir)]
    # and it finishes when its steps fit in a call
    manager.resume(info.name, steps=second.step + 5)
    assert manager.status(info.name).state == "finished"


def test_stop_asks_the_run_inside_the_call_to_stop(tmp_path, threads):
    manager = RunManager(tmp_path / "runs", extra_args=TINY, stop_timeout_s=30,
                         launcher=ZeroGPULauncher(train_in_this_process, gpu_seconds=SETUP_MARGIN_S + 120))
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault(
        "info", manager.start("custom", steps=100_000, batch_size=8)))
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (manager.running() and manager.running().step):
        time.sleep(0.1)
    running = manager.running()
    assert running is not None and running.state == "running"
    with pytest.raises(ValueError, match="one run at a time"):
        manager.start("custom", steps=50, batch_size=8)
    stopped = manager.stop(running.name)
    worker.join(30)
    assert not worker.is_alive() and stopped.state == "interrupted" and stopped.has_checkpoint
    assert "stopped by request" in (result["info"].run_dir / "log.txt").read_text()


def test_the_gpu_path_writes_the_files_of_the_process_path(tmp_path, threads):
    calls: list = []
    on_gpu = gpu_manager(tmp_path / "gpu", calls)
    gpu_run = on_gpu.start("custom", steps=40, batch_size=8, seed=3)
    process = RunManager(tmp_path / "process", extra_args=TINY, sample_every=20, log_every=10, niceness=0)
    process_run = process.start("custom", steps=40, batch_size=8, seed=3)
    deadline = time.monotonic() + 120
    while process.status(process_run.name).state == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    a, b = on_gpu.status(gpu_run.name), process.status(process_run.name)
    assert a.state == b.state == "finished" and a.step == b.step == 40
    assert file_names(gpu_run.run_dir) == file_names(process_run.run_dir)
    assert [h["step"] for h in a.history] == [h["step"] for h in b.history]
    # the same command line, the same seed, the same data: the same weights
    ckpt_a = torch.load(gpu_run.run_dir / "checkpoint.pt", weights_only=True)
    ckpt_b = torch.load(process_run.run_dir / "checkpoint.pt", weights_only=True)
    assert all(torch.equal(ckpt_a["G_ema"][k], ckpt_b["G_ema"][k]) for k in ckpt_a["G_ema"])


@pytest.mark.parametrize("value, ok", [("", 120), ("60", 60), ("29", None), ("301", None), ("1.5", None)])
def test_gpu_seconds_setting(value, ok):
    if ok is None:
        with pytest.raises(ValueError, match="DIGITGAN_GPU_SECONDS must be a whole number of seconds from 30 to 300"):
            gpu_seconds({"DIGITGAN_GPU_SECONDS": value})
    else:
        assert gpu_seconds({"DIGITGAN_GPU_SECONDS": value}) == ok
