"""Training runs on ZeroGPU: on a ZeroGPU Space the GPU exists only inside a function the app
decorates with `@spaces.GPU`, run by the platform in a worker process it forks, for at most
the duration the decorator asks for. So there a run from the Train tab is not a `train.py`
process but `train_in_this_process`: the same command line the process path would start
(gan.training.command_line reads it), trained in the worker with a time limit a little under
the duration, so that it stops by itself with a checkpoint, writing the same run files; the
next Resume continues from there.

Nothing here imports `spaces`: the app decorates `train_in_this_process` (see app.py), and
off ZeroGPU the decorator is not applied at all.
"""
from __future__ import annotations

import os
import shlex
from typing import Sequence

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
