"""Helpers for the tests of training runs and the Train tab: a stand-in trainer script, run
folders written by hand, names a visitor might send, a launcher with no process, and waiting.

`fake_trainer` is a fixture: a test module that uses it imports it (pytest finds fixtures by
name in the module or a conftest.py).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Sequence

import pytest

from gan.runs.launcher import LaunchEnd

# A trainer stand-in: the CLI and files of train.py's contract, no torch (starts in ~50 ms).
FAKE_TRAINER = textwrap.dedent('''
    import json, os, signal, sys, time
    args = sys.argv[1:]
    run = args[args.index("--run-dir" if "--run-dir" in args else "--resume") + 1]
    steps = int(args[args.index("--steps") + 1]) if "--steps" in args else 1500
    if os.environ.get("FAKE_TRAINER_FAIL"):
        print("train.py: error: unrecognized arguments", file=sys.stderr)
        sys.exit(2)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    ckpt = os.path.join(run, "checkpoint.pt")
    step = int(open(ckpt).read()) if "--resume" in args else 0
    def write(state):
        with open(os.path.join(run, ".status.tmp"), "w") as f:
            json.dump({"state": state, "step": step, "steps": steps, "pid": os.getpid(),
                       "images_per_s": 640.0, "d_loss": 1.2, "g_loss": 0.8, "elapsed_s": 1.0,
                       "updated_at": time.time(), "message": state}, f)
        os.replace(os.path.join(run, ".status.tmp"), os.path.join(run, "status.json"))
    write("running")
    while step < steps and not stop:
        step += 1
        time.sleep(0.002)
        if step % 10 == 0:
            write("running")
    open(ckpt, "w").write(str(step))
    write("interrupted" if stop else "finished")
    sys.exit(130 if stop else 0)
''')

# Run names a page or a client might send that name no listed run.
HOSTILE = ["../x", "..", ".", "/etc", "/etc/passwd", "a/b", "a\0b", "x" * 5000, ".served",
           "runs/../../x", "", " ", "a\n", None, 7, ["a"], {"name": "a"}]


@pytest.fixture
def fake_trainer(tmp_path) -> Path:
    """FAKE_TRAINER as a train.py of its own (a process launcher finds trainers by that name)."""
    script = tmp_path / "trainer" / "train.py"
    script.parent.mkdir()
    script.write_text(FAKE_TRAINER)
    return script


def kill_leftovers(manager) -> None:
    """Teardown: a failed test must not leave a trainer running."""
    for run in manager.list_runs():
        if run.state == "running" and run.pid:
            os.kill(run.pid, signal.SIGKILL)
            manager.status(run.name)  # reaps it when it is this manager's child


def write_run(root: Path, name: str, **files) -> Path:
    """A run folder with the given files (`status__json` is status.json): a dict/list is
    written as JSON, str/bytes as is."""
    folder = root / name
    folder.mkdir(parents=True)
    for file_name, content in files.items():
        path = folder / file_name.replace("__", ".")
        if isinstance(content, (dict, list)):
            content = json.dumps(content)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def wait_until(check, timeout: float = 20.0):
    """check()'s first true value, asked every 20 ms; the test fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail("condition not met in time")


def gone_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


class FakeLauncher:
    """A launcher (gan.runs.launcher.Launcher) with no process: a run "trains" from start()
    until stop() or finish(), which write the files a trainer leaves (checkpoint, final
    status). With `in_call=True` a run trains inside run_here() instead, as a ZeroGPU call
    does: it has trained `in_call_steps` and stopped at its time limit when run_here returns.
    Every call is kept in `calls`, as (method, run name, ...)."""

    where = "in the fake launcher"

    def __init__(self, *, in_call: bool = False, in_call_steps: int = 5, start_note: str | None = None,
                 shown_names: dict[str, str] | None = None):
        self.in_call, self.in_call_steps = in_call, in_call_steps
        self.start_note = start_note
        self.shown_names = dict(shown_names or {})
        self.calls: list[tuple] = []
        self.training: set[Path] = set()
        self.during_run_here = None  # called with the run folder while run_here trains
        self._ends: dict[Path, LaunchEnd] = {}

    def start(self, run_dir: Path, train_args: Sequence[str]) -> dict:
        self.calls.append(("start", run_dir.name, list(train_args)))
        self.training.add(run_dir)
        return {"pid": None, "argv": ["python", "train.py", *train_args]}

    def run_here(self, run_dir: Path) -> bool:
        self.calls.append(("run_here", run_dir.name))
        if self.in_call:
            if self.during_run_here is not None:
                self.during_run_here(run_dir)
            if run_dir in self.training:
                self.finish(run_dir, step=self.in_call_steps, exit_code=130)
        return self.in_call

    def alive(self, run_dir: Path, pid: int | None) -> bool:
        return run_dir in self.training

    def ended(self, run_dir: Path, *, wait_s: float = 0.0) -> LaunchEnd | None:
        return self._ends.pop(run_dir, None)

    def stop(self, run_dir: Path, pid: int | None, *, timeout_s: float) -> None:
        self.calls.append(("stop", run_dir.name, pid))
        self.finish(run_dir, step=2, exit_code=130)

    def finish(self, run_dir: Path, *, step: int, exit_code: int) -> None:
        """End the run's training as a trainer would: a checkpoint, the final status, the exit code."""
        (run_dir / "checkpoint.pt").write_text(str(step))
        state = "finished" if exit_code == 0 else "interrupted"
        (run_dir / "status.json").write_text(json.dumps(
            {"state": state, "step": step, "message": state, "updated_at": time.time()}))
        self.training.discard(run_dir)
        self._ends[run_dir] = LaunchEnd(exit_code=exit_code)
