"""The launcher interface (gan/runs/launcher.py): the run manager with a launcher that starts
no process (what it hands over, what it records, a run that trains inside the Start call and
is stopped meanwhile), ProcessLauncher on its own with the stand-in trainer, and
ZeroGPULauncher with stand-ins for the GPU call (no torch; the real call is test_zerogpu.py's)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from gan.runs.launcher import LaunchEnd, ProcessLauncher
from gan.runs.manager import RunManager
from gan.runs.zerogpu import ZeroGPULauncher
from gan.training.run_folder import STOP_FILE
from tests.support.runs import FakeLauncher, wait_until


def launches(run_dir) -> list[dict]:
    return json.loads((run_dir / "run.json").read_text())["launches"]


# ----------------------------------------------------------------------------- the manager, any launcher

def test_the_manager_hands_a_run_to_its_launcher_and_keeps_its_state(tmp_path):
    launcher = FakeLauncher()
    manager = RunManager(tmp_path / "runs", launcher=launcher, data_dir=tmp_path / "mnist")
    info = manager.start("custom", steps=100_000, batch_size=8, seed=3)
    (method, name, args), run_here = launcher.calls
    assert (method, name, run_here) == ("start", info.name, ("run_here", info.name))
    # train.py's arguments, no interpreter or script: those are the launcher's business
    assert args[:2] == ["--run-dir", str(info.run_dir)] and "--data-dir" in args
    assert args[args.index("--seed") + 1] == "3" and args[args.index("--batch-size") + 1] == "8"
    (launch,) = launches(info.run_dir)
    assert launch["pid"] is None and info.pid is None and launch["exit_code"] is None and not info.ended
    assert launch["argv"][2:] == args and launch["started_at"] <= time.time()
    assert manager.status(info.name).state == "running" and manager.running().name == info.name
    with pytest.raises(ValueError, match="one run at a time"):
        manager.start("quick")

    stopped = manager.stop(info.name)
    assert launcher.calls[-1] == ("stop", info.name, None)
    assert (stopped.state, stopped.exit_code, stopped.step, stopped.has_checkpoint) == ("interrupted", 130, 2, True)
    assert launches(info.run_dir)[0]["stop_requested"] is True
    with pytest.raises(ValueError, match="not running"):
        manager.stop(info.name)

    manager.resume(info.name, steps=50)
    resume_args = launcher.calls[-2][2]
    assert resume_args[:2] == ["--resume", str(info.run_dir)] and resume_args[-2:] == ["--steps", "50"]
    assert len(launches(info.run_dir)) == 2 and manager.status(info.name).state == "running"


def test_a_run_that_trains_inside_the_start_call_can_be_stopped_meanwhile(tmp_path):
    """As on ZeroGPU: Start returns when the training call has ended, and a Stop from another
    request reaches the run while the call lasts (the control lock is not held through it)."""
    launcher = FakeLauncher(in_call=True, in_call_steps=7)
    manager = RunManager(tmp_path / "runs", launcher=launcher, stop_timeout_s=5)
    info = manager.start("custom", steps=100_000)
    ended = manager.status(info.name)
    assert info.ended and (ended.state, ended.step, ended.exit_code) == ("interrupted", 7, 130)

    stops = []

    def stop_from_another_request(run_dir):
        stopper = threading.Thread(target=lambda: stops.append(manager.stop(run_dir.name)))
        stopper.start()
        stopper.join(10)
        assert not stopper.is_alive(), "Stop waited for the Start call to end"

    launcher.during_run_here = stop_from_another_request
    assert manager.resume(info.name, steps=200).ended
    assert stops[0].state == "interrupted" and stops[0].step == 2
    assert [c[0] for c in launcher.calls] == ["start", "run_here", "start", "run_here", "stop"]


def test_what_a_launcher_ended_with_is_recorded_once(tmp_path):
    launcher = FakeLauncher()
    manager = RunManager(tmp_path / "runs", launcher=launcher)
    info = manager.start("custom", steps=100)
    launcher.training.discard(info.run_dir)
    launcher._ends[info.run_dir] = LaunchEnd(message="the worker went away")
    status = manager.status(info.name)
    assert (status.state, status.message) == ("dead", "the worker went away")
    assert launches(info.run_dir)[0]["message"] == "the worker went away" and launcher.ended(info.run_dir) is None


def test_the_launchers_own_paths_are_shown_by_name(tmp_path):
    launcher = FakeLauncher(shown_names={"/opt/trainer/bin/python3.12": "python"})
    manager = RunManager(tmp_path / "runs", launcher=launcher)
    info = manager.start("custom", steps=100)
    (info.run_dir / "console.txt").write_text(f"$ /opt/trainer/bin/python3.12 train.py --run-dir {info.run_dir}\n")
    assert manager.status(info.name).console_tail == [f"$ python train.py --run-dir {info.name}"]


def test_process_options_are_for_the_default_launcher_only(tmp_path, fake_trainer):
    default = RunManager(tmp_path / "a", train_script=fake_trainer, niceness=3)
    assert isinstance(default.launcher, ProcessLauncher) and default.launcher.niceness == 3
    assert default.launcher.start_note is None
    with pytest.raises(TypeError, match="niceness"):
        RunManager(tmp_path / "b", launcher=FakeLauncher(), niceness=0)


# ----------------------------------------------------------------------------- ProcessLauncher

@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "runs" / "r1"
    folder.mkdir(parents=True)
    return folder


def test_process_launcher_starts_stops_and_reports_its_trainer(run_dir, fake_trainer):
    launcher = ProcessLauncher(train_script=fake_trainer, niceness=5)
    launch = launcher.start(run_dir, ["--run-dir", str(run_dir), "--steps", "100000"])
    pid = launch["pid"]
    try:
        assert launch["argv"] == [sys.executable, str(fake_trainer), "--run-dir", str(run_dir), "--steps", "100000"]
        assert (run_dir / "console.txt").read_text().startswith(f"$ {sys.executable} {fake_trainer} --run-dir")
        assert os.getsid(pid) == pid  # a session of its own: a signal to the app's group misses it
        assert os.getpriority(os.PRIO_PROCESS, pid) == max(5, os.getpriority(os.PRIO_PROCESS, 0))
        wait_until(lambda: (run_dir / "status.json").exists())
        assert launcher.alive(run_dir, pid) and not launcher.alive(run_dir.parent / "other", pid)
        assert launcher.ended(run_dir) is None and launcher.run_here(run_dir) is False  # trains on by itself
        launcher.stop(run_dir, pid, timeout_s=20)
        assert launcher.ended(run_dir) == LaunchEnd(exit_code=130, pid=pid)
        assert launcher.ended(run_dir) is None and not launcher.alive(run_dir, pid)
        assert json.loads((run_dir / "status.json").read_text())["state"] == "interrupted"
    finally:
        if launcher.alive(run_dir, pid):
            os.kill(pid, 9)


def test_process_launcher_finds_a_trainer_it_did_not_start(run_dir, fake_trainer):
    """After an app restart: the trainer is found by its command line and stopped; its exit
    code is known only to the launcher that started it."""
    first, second = ProcessLauncher(train_script=fake_trainer), ProcessLauncher(train_script=fake_trainer)
    pid = first.start(run_dir, ["--run-dir", str(run_dir), "--steps", "100000"])["pid"]
    try:
        wait_until(lambda: (run_dir / "status.json").exists())
        assert second.alive(run_dir, pid) and second.ended(run_dir) is None
        second.stop(run_dir, pid, timeout_s=20)
        assert not second.alive(run_dir, pid) and second.ended(run_dir) is None
        assert first.ended(run_dir, wait_s=5) == LaunchEnd(exit_code=130, pid=pid)
    finally:
        if first.alive(run_dir, pid):
            os.kill(pid, 9)


def test_process_launcher_tells_how_a_trainer_ended_by_itself(run_dir, fake_trainer):
    launcher = ProcessLauncher(train_script=fake_trainer, niceness=0)
    pid = launcher.start(run_dir, ["--run-dir", str(run_dir), "--steps", "20"])["pid"]
    assert launcher.ended(run_dir, wait_s=20) == LaunchEnd(exit_code=0, pid=pid)
    failing = ProcessLauncher(train_script=fake_trainer, env=dict(os.environ, FAKE_TRAINER_FAIL="1"))
    pid = failing.start(run_dir, ["--run-dir", str(run_dir)])["pid"]
    assert failing.ended(run_dir, wait_s=20) == LaunchEnd(exit_code=2, pid=pid)
    assert "unrecognized arguments" in (run_dir / "console.txt").read_text()


def test_process_launcher_does_not_signal_a_pid_that_is_no_trainer(run_dir, fake_trainer):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        launcher = ProcessLauncher(train_script=fake_trainer)
        assert not launcher.alive(run_dir, bystander.pid) and not launcher.alive(run_dir, None)
        launcher.stop(run_dir, None, timeout_s=1)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


# ----------------------------------------------------------------------------- ZeroGPULauncher

def fake_gpu_call(calls: list, *, until_stopped: bool = False, fail: Exception | None = None):
    """A stand-in for the decorated train_in_this_process: writes what the trainer would."""

    def call(train_args, duration_s):
        calls.append((list(train_args), duration_s))
        if fail is not None:
            raise fail
        run = train_args[train_args.index("--run-dir") + 1]
        status = {"state": "running", "step": 3, "updated_at": time.time(), "pid": os.getpid()}
        with open(os.path.join(run, "status.json"), "w") as f:
            json.dump(status, f)
        deadline = time.monotonic() + 20
        while until_stopped and not os.path.exists(os.path.join(run, STOP_FILE)) and time.monotonic() < deadline:
            time.sleep(0.02)
        open(os.path.join(run, "checkpoint.pt"), "w").write("3")
        with open(os.path.join(run, "status.json"), "w") as f:
            json.dump(dict(status, state="interrupted", updated_at=time.time()), f)
        return 130

    return call


def test_zerogpu_launcher_trains_in_the_start_call(tmp_path):
    calls: list = []
    launcher = ZeroGPULauncher(fake_gpu_call(calls), gpu_seconds=45)
    manager = RunManager(tmp_path / "runs", launcher=launcher)
    info = manager.start("custom", steps=100, batch_size=8)
    ((args, seconds),) = calls
    assert args[:2] == ["--run-dir", str(info.run_dir)] and seconds == 45
    status = manager.status(info.name)
    assert (status.state, status.step, status.exit_code, status.pid, info.pid) == ("interrupted", 3, 130, None, None)
    assert info.ended
    (launch,) = launches(info.run_dir)
    assert (launch["mode"], launch["gpu_seconds"], launch["argv"][2:]) == ("gpu", 45, args)
    assert status.console_tail[0].endswith("(on the GPU, at most 45 s)")
    assert status.console_tail[0].startswith(f"$ python train.py --run-dir {info.name} ")
    assert launcher.where == "on the GPU" and "at most **45 s**" in launcher.start_note


def test_zerogpu_launcher_reports_a_failed_call(tmp_path):
    calls: list = []
    manager = RunManager(tmp_path / "runs",
                         launcher=ZeroGPULauncher(fake_gpu_call(calls, fail=RuntimeError("no CUDA"))))
    info = manager.start("custom", steps=100)
    status = manager.status(info.name)
    assert status.state == "dead" and calls
    assert status.message == ("the GPU call ended before the run did (RuntimeError: no CUDA); Resume continues "
                              "from the last checkpoint")
    assert manager.running() is None  # a new Start may go


def test_zerogpu_launcher_stops_a_run_through_its_folder(tmp_path):
    calls: list = []
    manager = RunManager(tmp_path / "runs", stop_timeout_s=20,
                         launcher=ZeroGPULauncher(fake_gpu_call(calls, until_stopped=True)))
    started = {}
    worker = threading.Thread(target=lambda: started.setdefault("info", manager.start("custom", steps=100)))
    worker.start()
    try:
        running = wait_until(manager.running)
        with pytest.raises(ValueError, match="one run at a time"):
            manager.start("custom", steps=100)
        stopped = manager.stop(running.name)
    finally:
        worker.join(30)
    assert not worker.is_alive() and started["info"].name == running.name and started["info"].ended
    assert (stopped.state, stopped.exit_code) == ("interrupted", 130)
    assert (manager.runs_root / running.name / STOP_FILE).exists()  # the trainer deletes it at its next start
