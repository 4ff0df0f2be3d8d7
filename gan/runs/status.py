"""Reading a training run's folder: its state, progress and history, from the files the
trainer (and the run manager) write there; and what of it a page may see (texts without the
server's paths).

Every read is defensive: a file may be missing (the run has just started), half-written by
an older trainer, corrupt, or of the wrong shape, and a status page must still answer. Files
are only read when they lie inside the run folder (a symlink pointing out is ignored).
"""
from __future__ import annotations

import json
import math
import os
import re
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..model.weights import LOSS_CURVE_FILE, SAMPLES_FILE
from ..training.run_folder import (CHECKPOINT_FILE, CONSOLE_FILE, HISTORY_FILE, LOG_FILE,
                                   METRICS_HISTORY_FILE, RUN_FILE, SAMPLES_DIR, STATUS_FILE)

RUN_MARKERS = (RUN_FILE, STATUS_FILE, CHECKPOINT_FILE, LOG_FILE)  # any one makes a folder a run

FINAL_STATES = ("finished", "interrupted", "diverged", "failed")
STATE_LABELS = {"running": "running", "finished": "finished", "interrupted": "stopped",
                "diverged": "diverged", "failed": "failed", "dead": "stopped unexpectedly",
                "unknown": "unknown"}
MAX_JSON_BYTES = 16 * 2**20


@dataclass
class RunStatus:
    """What the Train tab shows about one run. `state` is one of STATE_LABELS' keys."""
    name: str
    state: str
    message: str = ""
    step: int | None = None
    steps: int | None = None
    images_per_s: float | None = None
    eta_s: float | None = None
    elapsed_s: float | None = None
    d_loss: float | None = None
    g_loss: float | None = None
    pid: int | None = None
    exit_code: int | None = None
    preset: str | None = None
    batch_size: int | None = None
    seed: int | None = None
    updated_at: float | None = None
    has_checkpoint: bool = False
    grid_path: Path | None = None
    grid_step: int | None = None
    loss_curve_path: Path | None = None
    history: list[dict] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)
    console_tail: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (paths as strings), for an API endpoint."""
        data = asdict(self)
        for key in ("grid_path", "loss_curve_path"):
            data[key] = str(data[key]) if data[key] is not None else None
        data["label"] = self.label
        return data


# ----------------------------------------------------------------------------- what a page may see
# An absolute POSIX path in free text (and not the path part of an URL).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/-])/[^\s'\"`,;:()\[\]{}<>|]+")


def without_server_paths(text: str, *, runs_root: Path, names: dict[str, str] | None = None) -> str:
    """`text` (a log line, a message) with nothing of the server's file system in it: each of
    `names` (an absolute path -> what to show instead, e.g. the trainer's Python -> "python")
    first, then paths inside the runs folder made relative to it, and any other absolute path
    cut to its last part ("…/module.py")."""
    for path, name in sorted((names or {}).items(), key=lambda item: -len(item[0])):
        text = re.sub(re.escape(path) + r"(?![\w.-])", name, text)
    root = re.escape(str(runs_root).rstrip("/"))
    text = re.sub(root + "/", "", text)
    text = re.sub(root + r"(?![\w.-])", ".", text)
    return _ABSOLUTE_PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def public_status(status: RunStatus, *, runs_root: Path, names: dict[str, str] | None = None) -> RunStatus:
    """`status` with the server's paths taken out of its texts (message, log and console
    tails), as without_server_paths does it."""
    status.message = without_server_paths(status.message, runs_root=runs_root, names=names)
    status.log_tail = [without_server_paths(line, runs_root=runs_root, names=names) for line in status.log_tail]
    status.console_tail = [without_server_paths(line, runs_root=runs_root, names=names)
                           for line in status.console_tail]
    return status


# ----------------------------------------------------------------------------- safe reads

def inside_file(run_dir: Path, relative: str) -> Path | None:
    """`run_dir / relative` if it is a regular file that really lies inside run_dir."""
    path = run_dir / relative
    try:
        if path.resolve().is_relative_to(run_dir.resolve()) and path.is_file():
            return path
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        pass
    return None


def read_json(run_dir: Path, relative: str, kind: type) -> Any:
    """The file's JSON if it parses and is of `kind` (dict or list), else None."""
    path = inside_file(run_dir, relative)
    if path is None:
        return None
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            return None
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, kind) else None


def read_tail(run_dir: Path, relative: str, *, lines: int = 40, max_bytes: int = 32_768) -> list[str]:
    """The last `lines` lines of a text file (reading at most its last `max_bytes`)."""
    path = inside_file(run_dir, relative)
    if path is None:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    # tqdm-style carriage returns: keep only what a terminal would show last on each line
    shown = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    if size > max_bytes and shown:
        shown = shown[1:]  # the first line was cut
    return shown[-lines:]


def number(value: object, kind: type = float) -> Any:
    """A finite int/float from JSON, else None (bools, NaN, strings are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return kind(value)


def first(*values: Any) -> Any:
    """The first value that is not None."""
    return next((v for v in values if v is not None), None)


def records(data: object, keys: tuple[str, ...]) -> list[dict]:
    """The dict entries of a JSON list that have all of `keys` (others are dropped)."""
    if not isinstance(data, list):
        return []
    return [r for r in data if isinstance(r, dict) and all(k in r for k in keys)]


def latest_grid_step(run_dir: Path) -> int | None:
    """The step of the newest samples/step_XXXXXXX.png."""
    folder = run_dir / SAMPLES_DIR
    try:
        if not folder.resolve().is_relative_to(run_dir.resolve()):
            return None
        steps = [int(p.name[5:-4]) for p in folder.iterdir()
                 if p.name.startswith("step_") and p.name.endswith(".png") and p.name[5:-4].isdigit()]
    except (OSError, RuntimeError):
        return None
    return max(steps, default=None)


# ----------------------------------------------------------------------------- the state

def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def decide_state(*, status: dict, fresh: bool, alive: bool, launch: dict | None,
                 console: list[str]) -> tuple[str, str]:
    """(state, message) from the trainer's status file, whether the latest launch's trainer
    is alive, and its exit code when the manager saw it exit."""
    said = status.get("message") if isinstance(status.get("message"), str) else ""
    if alive:
        return "running", said if fresh else "starting"
    if fresh and status.get("state") in FINAL_STATES:
        return status["state"], said
    if launch and isinstance(launch.get("message"), str):
        return "dead", launch["message"]
    code = number(launch.get("exit_code"), int) if launch else None
    if code is not None:
        return _state_from_exit(code, stop_requested=bool(launch.get("stop_requested")),
                                console=console)
    pid = (launch or {}).get("pid", status.get("pid"))
    if launch is None and not status:
        return "unknown", "no status file: the run was made outside the Train tab or by an older trainer"
    return "dead", (f"the trainer (pid {pid}) is gone without writing its final status: it "
                    f"stopped unexpectedly (killed, or out of memory); resume continues from the "
                    f"last checkpoint")


def _state_from_exit(code: int, *, stop_requested: bool, console: list[str]) -> tuple[str, str]:
    last = next((line for line in reversed(console) if line.strip()), "")
    if code == 0:
        return "finished", "finished"
    if code == 130 or (code == -signal.SIGTERM and stop_requested):
        return "interrupted", "stopped on request"
    if code == 1 and any("NaN/inf" in line or "diverged" in line.lower() for line in console):
        return "diverged", last
    if code < 0:
        return "dead", f"the trainer stopped unexpectedly ({describe_exit(code)})"
    return "failed", f"the trainer failed ({describe_exit(code)}): {last}"


def read_run_status(run_dir: Path, *, alive: Callable[[Path, int | None], bool], details: bool = True,
                    log_lines: int = 40) -> RunStatus:
    """The run's state and progress from its files. `alive(run_dir, pid)`: whether the trainer
    of the latest launch (its pid as run.json recorded it) trains now, as the launcher that
    started it tells (gan.runs.launcher). `details=False` skips the histories and log tails
    (for a listing)."""
    run = read_json(run_dir, RUN_FILE, dict) or {}
    status = read_json(run_dir, STATUS_FILE, dict) or {}
    launches = records(run.get("launches"), ("pid",))
    launch = launches[-1] if launches else None
    status_pid = number(status.get("pid"), int)
    pid = number(launch["pid"], int) if launch else status_pid
    console = read_tail(run_dir, CONSOLE_FILE, lines=log_lines)
    if launch is None:
        fresh = True
    elif pid is not None:  # a trainer process of its own writes its pid into status.json
        fresh = status_pid == pid
    else:  # trained by no process of its own (a ZeroGPU worker's pid is not the launch's)
        started, updated = number(launch.get("started_at")), number(status.get("updated_at"))
        fresh = started is not None and updated is not None and updated >= started
    state, message = decide_state(status=status, fresh=fresh, alive=alive(run_dir, pid), launch=launch,
                                  console=console)
    history = records(read_json(run_dir, HISTORY_FILE, list), ("step", "d_loss", "g_loss")) \
        if details or not status else []
    last = history[-1] if history else {}
    result = RunStatus(
        name=run_dir.name, state=state, message=message, pid=pid,
        exit_code=number(launch.get("exit_code"), int) if launch else None,
        step=first(number(status.get("step"), int), number(last.get("step"), int)),
        steps=first(number(status.get("steps"), int), number(run.get("steps"), int)),
        images_per_s=first(number(status.get("images_per_s")), number(last.get("images_per_s"))),
        elapsed_s=number(status.get("elapsed_s")),
        d_loss=first(number(status.get("d_loss")), number(last.get("d_loss"))),
        g_loss=first(number(status.get("g_loss")), number(last.get("g_loss"))),
        preset=run.get("preset") if isinstance(run.get("preset"), str) else None,
        batch_size=number(run.get("batch_size"), int), seed=number(run.get("seed"), int),
        updated_at=number(status.get("updated_at")),
        has_checkpoint=inside_file(run_dir, CHECKPOINT_FILE) is not None)
    result.eta_s = estimate_eta(result)
    if state == "interrupted" and not result.has_checkpoint:
        result.message = "stopped before its first checkpoint: nothing to resume, start a new run"
    if details:
        result.grid_path = inside_file(run_dir, SAMPLES_FILE)
        result.grid_step = latest_grid_step(run_dir)
        result.loss_curve_path = inside_file(run_dir, LOSS_CURVE_FILE)
        result.history = history
        result.metrics = records(read_json(run_dir, METRICS_HISTORY_FILE, list), ("step",))
        result.log_tail = read_tail(run_dir, LOG_FILE, lines=log_lines)
        result.console_tail = console
    return result


def estimate_eta(status: RunStatus) -> float | None:
    """Seconds left at the current speed (images/s over the batch size, else the average so
    far); None when not running or not yet measurable."""
    if status.state != "running" or not status.steps or status.step is None:
        return None
    left = max(0, status.steps - status.step)
    if status.images_per_s and status.batch_size:
        return left * status.batch_size / status.images_per_s
    if status.elapsed_s and status.step:
        return left * status.elapsed_s / status.step
    return None
