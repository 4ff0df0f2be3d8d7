"""How a run's trainer is set going: the `Launcher` interface the run manager calls, and
`ProcessLauncher`, the back-end that starts `python train.py ...` as a separate process.

The run manager (gan.runs.manager) decides what a run is (its folder, its `train.py`
arguments, run.json) and asks a launcher only "train these arguments in this folder", "is it
alive", "how did it end", "stop it"; the launcher's own texts (where a run trains, what a
Start costs) are what the Train tab shows of it. The other back-end, a run trained inside a
ZeroGPU call in this process, is gan.runs.zerogpu.ZeroGPULauncher.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

from ..training.run_folder import CONSOLE_FILE

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "train.py"


@dataclass(frozen=True)
class LaunchEnd:
    """How a launch ended, for its entry in run.json: train.py's exit code, or (without one)
    a message saying what became of it."""
    exit_code: int | None = None
    message: str | None = None
    pid: int | None = None  # the process it was, to match its launch; None = the run's latest launch


class Launcher(Protocol):
    """One way of training a run. Every method takes the run's folder; one run trains at a
    time per launcher (the run manager sees to it)."""

    where: str  # where a run trains, in the Train tab's words: "on the GPU"
    start_note: str | None  # what one Start or Resume costs (Markdown for the Train tab); None: nothing to say
    shown_names: dict[str, str]  # server paths it writes into a run's files -> the name a page sees

    def start(self, run_dir: Path, train_args: Sequence[str]) -> dict:
        """Set `train.py train_args` going for the run; returns its launch record for run.json
        ("pid": the trainer's process, None where it has none of its own; "argv"; more)."""

    def run_here(self, run_dir: Path) -> bool:
        """What a Start or Resume waits for once its launch is recorded: nothing where the run
        trains elsewhere (False); the whole training call where it trains in the caller's
        thread (True: the launch has ended when this returns)."""

    def alive(self, run_dir: Path, pid: int | None) -> bool:
        """Whether the run's trainer (of launch `pid`, as run.json recorded it) trains now."""

    def ended(self, run_dir: Path, *, wait_s: float = 0.0) -> LaunchEnd | None:
        """How a launch this launcher made for the run ended, once, after it has (waiting up to
        wait_s for that); None while it trains, or when this launcher knows of no end."""

    def stop(self, run_dir: Path, pid: int | None, *, timeout_s: float) -> None:
        """Ask the run's trainer to stop with a checkpoint, and wait up to timeout_s for it."""


class ProcessLauncher:
    """`python train.py ...` as a process of its own, in a new session (its own process group),
    at a lower CPU priority, with stdout and stderr in the run folder's console.txt; stopped by
    SIGTERM (train.py writes its checkpoint and exits with 130). A trainer started by an earlier
    app is still found (by its command line) and stopped; only this launcher's own children
    report an exit code."""

    where = "in a process of its own"
    start_note = None

    def __init__(self, *, python: str = sys.executable, train_script: str | os.PathLike = TRAIN_SCRIPT,
                 niceness: int = 10, env: dict[str, str] | None = None):
        self.python, self.train_script = python, Path(train_script).resolve()
        self.niceness, self.env = niceness, env
        self.shown_names = {self.python: "python", str(self.train_script): "train.py"}
        self._children: dict[Path, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def start(self, run_dir: Path, train_args: Sequence[str]) -> dict:
        argv = [self.python, str(self.train_script), *train_args]
        env = dict(os.environ if self.env is None else self.env, PYTHONUNBUFFERED="1")
        with open(run_dir / CONSOLE_FILE, "ab") as console:
            console.write(f"$ {shlex.join(argv)}\n".encode())
            console.flush()
            child = subprocess.Popen(argv, cwd=self.train_script.parent, env=env, stdin=subprocess.DEVNULL,
                                     stdout=console, stderr=subprocess.STDOUT, start_new_session=True)
        if self.niceness and hasattr(os, "setpriority"):
            try:  # the web server keeps the upper hand on a shared CPU
                os.setpriority(os.PRIO_PROCESS, child.pid, self.niceness)
            except OSError:
                pass
        with self._lock:
            self._children[run_dir] = child
        return {"pid": child.pid, "argv": argv}

    def run_here(self, run_dir: Path) -> bool:
        return False  # the process trains on by itself

    def alive(self, run_dir: Path, pid: int | None) -> bool:
        return trainer_alive(pid, script_name=self.train_script.name, run_dir=run_dir)

    def ended(self, run_dir: Path, *, wait_s: float = 0.0) -> LaunchEnd | None:
        child = self._children.get(run_dir)
        if child is None:
            return None
        if wait_s:
            try:
                child.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                return None
        with self._lock:  # status polls and a Stop may ask at once: the end is told once
            if child.poll() is None or self._children.get(run_dir) is not child:
                return None
            del self._children[run_dir]
        return LaunchEnd(exit_code=child.returncode, pid=child.pid)

    def stop(self, run_dir: Path, pid: int | None, *, timeout_s: float) -> None:
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        child = self._children.get(run_dir)
        if child is not None and child.pid == pid:
            try:
                child.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
            return
        deadline = time.monotonic() + timeout_s  # an earlier app's trainer: no handle to wait on
        while time.monotonic() < deadline and self.alive(run_dir, pid):
            time.sleep(0.1)


def trainer_alive(pid: int | None, *, script_name: str, run_dir: Path) -> bool:
    """Whether `pid` is a live trainer process of this run: it exists, is no zombie, and its
    command line names the training script and the run folder. A pid reused by another
    program after the trainer died is therefore not taken for the trainer."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else: the command line decides
    except OSError:
        return False
    proc = Path("/proc") / str(pid)
    if not Path("/proc/self").exists():
        return True  # no procfs (macOS): existence is all we can tell
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    if state in ("Z", "X"):
        return False
    args = [a.decode(errors="replace") for a in argv]
    names_script = any(Path(a).name == script_name for a in args)
    names_run = any(a == str(run_dir) or a.rstrip("/") == str(run_dir) for a in args)
    return names_script and names_run
