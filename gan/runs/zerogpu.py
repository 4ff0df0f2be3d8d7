"""Training runs on ZeroGPU: on a ZeroGPU Space the GPU exists only inside a function the app
decorates with `@spaces.GPU`, run by the platform in a worker process it forks, for at most
the duration the decorator asks for. So there a run from the Train tab is not a `train.py`
process but `train_in_this_process`: the same command line the process path would start
(gan.training.command_line reads it), trained in the worker with a time limit a little under
the duration, so that it stops by itself with a checkpoint, writing the same run files; the
next Resume continues from there. `ZeroGPULauncher` is the run manager's back-end for it
(gan.runs.launcher.Launcher): it makes that call and stops a run through its folder.

Nothing here imports `spaces`: the app decorates `train_in_this_process` (see app.py), and
off ZeroGPU the decorator is not applied at all.
"""
from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Callable, Sequence

from ..training.run_folder import CONSOLE_FILE, STOP_FILE
from .launcher import LaunchEnd

# What a visitor's call may ask for. The platform counts it against the visitor's daily GPU
# quota (a few minutes a day for free accounts, more for paid ones), so one Start asks for
# a bounded slice; Resume asks for the next.
DEFAULT_GPU_SECONDS = 120
MIN_GPU_SECONDS, MAX_GPU_SECONDS = 30, 300
GPU_SECONDS_ENV = "DIGITGAN_GPU_SECONDS"
# Start-up inside the worker (data onto the GPU, the classifier for the periodic metrics) and
# the last checkpoint come out of the same duration, so training stops this much earlier.
SETUP_MARGIN_S = 20


def gpu_seconds(environ: dict | None = None) -> int:
    """The GPU seconds one Start or Resume asks for: $DIGITGAN_GPU_SECONDS, else 120; refused
    (ValueError) outside 30..300."""
    text = (os.environ if environ is None else environ).get(GPU_SECONDS_ENV, "")
    if not text.strip():
        return DEFAULT_GPU_SECONDS
    try:
        seconds = int(text)
    except ValueError:
        seconds = None
    if seconds is None or not MIN_GPU_SECONDS <= seconds <= MAX_GPU_SECONDS:
        raise ValueError(f"{GPU_SECONDS_ENV} must be a whole number of seconds from "
                         f"{MIN_GPU_SECONDS} to {MAX_GPU_SECONDS}, got {text!r}")
    return seconds


def train_in_this_process(train_args: Sequence[str], duration_s: int) -> int:
    """Train the run that `train.py train_args` describes, here, for at most duration_s
    seconds (less the set-up margin); returns train.py's exit code (0 finished, 130 stopped
    with a checkpoint, 1 failed). Arguments and result are plain values: on ZeroGPU they
    cross the worker's fork by pickle."""
    from ..data import MnistNotFound
    from ..training.command_line import build_parser, config_from_args
    from ..training.loop import TrainingDiverged, train

    args = build_parser().parse_args(list(train_args))
    cfg = config_from_args(args)
    cfg.time_limit_s = max(1.0, float(duration_s - SETUP_MARGIN_S))
    try:
        result = train(cfg, resume=bool(args.resume), command=shlex.join(["python", "train.py", *train_args]),
                       progress=False)
    except (MnistNotFound, TrainingDiverged):
        return 1  # the run folder's status.json and log say why
    return 130 if result.status == "interrupted" else 0


def gpu_duration(train_args: Sequence[str], duration_s: int) -> int:
    """The duration the decorator asks the platform for: the one the call was given."""
    return int(duration_s)


class ZeroGPULauncher:
    """Runs trained in this process by `train(train_args, gpu_seconds) -> exit code`: on ZeroGPU,
    `train_in_this_process` decorated with `@spaces.GPU` (see app.py), so each call trains in
    the platform's GPU worker for at most gpu_seconds.

    The call is made by `run_here`, in the thread of the visitor's Start or Resume: the
    platform charges the GPU time to the request that makes the call. It returns once the run
    has stopped (at its time limit, with a checkpoint), finished or failed. The worker is no
    process this app may signal, so Stop asks through a stop request in the run folder.
    """

    where = "on the GPU"

    def __init__(self, train: Callable[[list[str], int], int], *, gpu_seconds: int = DEFAULT_GPU_SECONDS):
        self.train, self.gpu_seconds = train, gpu_seconds
        self.start_note = (
            f"**On this ZeroGPU Space** a run trains on a GPU lent for at most **{gpu_seconds} s** "
            "per Start or Resume, taken from your daily ZeroGPU quota (a few minutes a day for a "
            "free account, more with a paid plan). A run stops itself with a checkpoint before "
            "the time is up; **Resume** trains it on from there.")
        self.shown_names: dict[str, str] = {}  # its console line names python and train.py already
        self._in_call: Path | None = None  # the run started or training in the call right now
        self._args: dict[Path, list[str]] = {}
        self._ends: dict[Path, LaunchEnd] = {}

    def start(self, run_dir: Path, train_args: Sequence[str]) -> dict:
        """Ready the call (run_here makes it); from here on the run counts as training."""
        train_args = list(train_args)
        argv = ["python", "train.py", *train_args]  # the command line the call stands for
        self._args[run_dir], self._in_call = train_args, run_dir
        with open(run_dir / CONSOLE_FILE, "a") as console:
            console.write(f"$ {shlex.join(argv)}  (on the GPU, at most {self.gpu_seconds} s)\n")
        return {"pid": None, "argv": argv, "mode": "gpu", "gpu_seconds": self.gpu_seconds}

    def run_here(self, run_dir: Path) -> bool:
        """The GPU call; how it ended is kept for ended()."""
        end = None
        try:
            end = LaunchEnd(exit_code=int(self.train(self._args.pop(run_dir), self.gpu_seconds)))
        except Exception as exc:  # the platform refused the call, or the worker died
            end = LaunchEnd(message=f"the GPU call ended before the run did ({type(exc).__name__}: "
                                    f"{exc}); Resume continues from the last checkpoint")
        finally:
            if end is not None:  # kept before the call counts as over: whoever sees it over finds it
                self._ends[run_dir] = end
            self._in_call = None
        return True

    def alive(self, run_dir: Path, pid: int | None) -> bool:
        return self._in_call == run_dir

    def ended(self, run_dir: Path, *, wait_s: float = 0.0) -> LaunchEnd | None:
        return self._ends.pop(run_dir, None)  # there as soon as the call has returned: no wait

    def stop(self, run_dir: Path, pid: int | None, *, timeout_s: float) -> None:
        if self._in_call != run_dir:
            return
        (run_dir / STOP_FILE).touch()  # the trainer checks for it after every step
        deadline = time.monotonic() + timeout_s
        while self._in_call == run_dir and time.monotonic() < deadline:
            time.sleep(0.1)
