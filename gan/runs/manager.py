"""The training-run manager behind the Train tab: start `train.py` as a separate process in a
run folder of its own, watch it through its files, stop or resume it, and serve its EMA
generator (with a way back to the weights served before).

The web server never trains: each run is `python train.py --run-dir RUNS/NAME ...` in a new
session (its own process group), at a lower CPU priority, with stdout and stderr in
`RUNS/NAME/console.txt`. Run names are made here; a name that comes back from a page is
accepted only if it is one of the listed runs, so nothing a visitor sends can reach a path
outside the runs folder. One run trains at a time.

    manager = RunManager("runs", data_dir="/data/mnist", serve=holder.serve, served_weights="weights")
    info = manager.start("quick")           # RUN_PRESETS: what a run from the page can be
    manager.status(info.name).step          # ... later
    manager.stop(info.name); manager.resume(info.name); manager.serve(info.name); manager.revert()
"""
from __future__ import annotations

import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from dataclasses import dataclass

from ..config import TrainConfig, with_preset
from ..files import atomic_write_json
from ..inputs import as_batch_size, as_choice, as_run_name, as_train_seed, as_train_steps
from ..model.hub import check_repo_id, push_weights_to_hub
from ..training.run_folder import CHECKPOINT_FILE, CONSOLE_FILE, RUN_FILE, STOP_FILE, export_from_checkpoint
from .served import ServedWeights
from .status import (RUN_MARKERS, RunStatus, number, read_json, read_run_status, records, trainer_alive,
                     without_server_paths)

TRAINING_ENV_VAR = "DIGITGAN_ALLOW_TRAINING"


@dataclass(frozen=True)
class Preset:
    name: str
    steps: int
    batch_size: int
    description: str
    trainer_preset: str | None  # the `train.py --preset` it stands for; None = plain flags


def _trainer_preset(name: str, description: str) -> Preset:
    """A preset of train.py (gan.config.PRESETS), with the steps and batch size it trains."""
    values = with_preset(TrainConfig().to_dict(), name)
    return Preset(name, values["steps"], values["batch_size"], description, name)


RUN_PRESETS = {
    "quick": _trainer_preset("quick", "the first weights' quality (Fréchet 13.9) in about 5 minutes "
                                      "on 2 CPU cores"),
    "standard": _trainer_preset("standard", "the recipe of the shipped weights (R1, 16,000 steps): 26 "
                                            "minutes on 2 CPU cores"),
    "gpu": _trainer_preset("gpu", "for a GPU (e.g. a ZeroGPU Space): batch 512, the first recipe scaled"),
    "custom": Preset("custom", TrainConfig().steps, TrainConfig().batch_size,
                     "your own steps, batch size and seed", None),
}


@dataclass(frozen=True)
class RunInfo:
    """A run just started or resumed."""
    name: str
    run_dir: Path
    pid: int
    preset: str
    steps: int | None
    batch_size: int | None
    seed: int


def training_enabled(flag: bool = False, environ: dict | None = None) -> bool:
    """Training from the page is off unless the operator turns it on: `app.py --allow-training`
    (`flag`) or DIGITGAN_ALLOW_TRAINING=1 in the environment (for a Space)."""
    value = (os.environ if environ is None else environ).get(TRAINING_ENV_VAR, "")
    return flag or value.strip().lower() in ("1", "true", "yes", "on")


TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "train.py"
SERVED_FOLDER = ".served"  # under the runs folder; its leading dot keeps it out of the run list


class RunManager:
    """Starts, watches, stops, resumes and serves training runs under `runs_root`.

    `serve(folder) -> message` swaps a validated weights folder into the app (its model
    holder's hot swap); `served_weights` is the folder the app serves now, which `revert()`
    brings back after the first `serve()`. `extra_args` are appended to every new run's
    command line by the operator (never from a page), e.g. a smaller model for tests.

    `gpu_train(train_args, gpu_seconds) -> exit code`, when given, trains a run in this process
    instead of starting train.py: on ZeroGPU, where the app passes gan.runs.zerogpu's
    `train_in_this_process` decorated with `@spaces.GPU`. Start and Resume then return when
    that call has ended (the run stopped itself with a checkpoint before `gpu_seconds`), and
    Stop asks the run to stop through a file in its folder.
    """

    def __init__(self, runs_root: str | os.PathLike, *, python: str = sys.executable,
                 train_script: str | os.PathLike = TRAIN_SCRIPT, data_dir: str | os.PathLike | None = None,
                 allow_download: bool = True, serve: Callable[[Path], str] | None = None,
                 served_root: str | os.PathLike | None = None,
                 served_weights: str | os.PathLike | None = None, extra_args: Sequence[str] = (),
                 log_every: int | None = 10, sample_every: int | None = 100, niceness: int = 10,
                 stop_timeout_s: float = 60.0,
                 env: dict[str, str] | None = None,
                 gpu_train: Callable[[list[str], int], int] | None = None, gpu_seconds: int = 120):
        self.runs_root = Path(runs_root).resolve()
        self.runs_root.mkdir(parents=True, exist_ok=True)
        self.python, self.train_script = python, Path(train_script).resolve()
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self.allow_download, self.extra_args = allow_download, list(extra_args)
        # status.json every log_every steps, a fixed-noise grid every sample_every (the CLI's
        # 500 would show a quick run's grid change only three times)
        self.log_every, self.sample_every = log_every, sample_every
        self.niceness, self.stop_timeout_s = niceness, stop_timeout_s
        self.env = env
        self.weights = ServedWeights(serve, served_root=served_root or self.runs_root / SERVED_FOLDER,
                                     current=served_weights) if serve is not None else None
        self._children: dict[str, subprocess.Popen] = {}
        self.gpu_train, self.gpu_seconds = gpu_train, gpu_seconds
        self._gpu_run: str | None = None  # the run training inside gpu_train right now
        self._lock = threading.RLock()  # start/resume/stop/serve: one at a time
        self._record_lock = threading.RLock()  # run.json updates and child handles (status polls too)

    # ------------------------------------------------------------------ names and listing

    def run_dir(self, name: object) -> Path:
        """The folder of a listed run, from a name a page sent: refused (ValueError) unless it
        is a plain name of a real folder (not a symlink) directly inside the runs folder that
        holds a run's files."""
        name = as_run_name(name)
        path = self.runs_root / name
        if path.is_symlink() or not path.is_dir() or path.resolve().parent != self.runs_root \
                or not any((path / marker).exists() for marker in RUN_MARKERS):
            raise ValueError(f"there is no run named {name!r}")
        return path

    def list_runs(self) -> list[RunStatus]:
        """The runs on disk, newest first, with their state (no histories or log tails)."""
        found = []
        for path in self.runs_root.iterdir():
            try:
                self.run_dir(path.name)
            except ValueError:
                continue
            found.append((self._created_at(path), path))
        found.sort(key=lambda item: item[0], reverse=True)
        return [self._read(path, details=False) for _, path in found]

    def status(self, name: object = None) -> RunStatus | None:
        """A run's state, progress, grid, histories and log tail; without a name, the running
        run, else the newest one; None when there are no runs."""
        if name is not None:
            return self._read(self.run_dir(name))
        runs = self.list_runs()
        running = [r for r in runs if r.state == "running"]
        chosen = (running or runs or [None])[0]
        return self._read(self.runs_root / chosen.name) if chosen else None

    def running(self) -> RunStatus | None:
        return next((r for r in self.list_runs() if r.state == "running"), None)

    # ------------------------------------------------------------------ start, stop, resume

    def _watch_args(self) -> list[str]:
        return ((["--log-every", str(self.log_every)] if self.log_every else [])
                + (["--sample-every", str(self.sample_every)] if self.sample_every else []))

    def start(self, preset: object = "quick", *, steps: object = None, batch_size: object = None,
              seed: object = None) -> RunInfo:
        """Start a new run in a fresh folder; ValueError for bad options or while a run trains.
        `steps` and `batch_size`: None (or the preset's own value) = the preset's."""
        preset = RUN_PRESETS[as_choice(preset, "preset", list(RUN_PRESETS))]
        steps = as_train_steps(steps) if steps is not None else None
        batch_size = as_batch_size(batch_size) if batch_size is not None else None
        if preset.trainer_preset:  # the preset's own values: left to it, so the command stays short
            steps = None if steps == preset.steps else steps
            batch_size = None if batch_size == preset.batch_size else batch_size
        seed = as_train_seed(seed) if seed is not None else 0
        with self._lock:
            self._refuse_if_running()
            run_dir = self._make_run_dir(preset.name)
            argv = [self.python, str(self.train_script), "--run-dir", str(run_dir), "--export-dir", "none",
                    "--no-evaluate", "--no-progress", "--seed", str(seed)]
            if preset.trainer_preset:
                argv += ["--preset", preset.trainer_preset]
            if steps is not None or not preset.trainer_preset:
                argv += ["--steps", str(steps or preset.steps)]
            if batch_size is not None or not preset.trainer_preset:
                argv += ["--batch-size", str(batch_size or preset.batch_size)]
            argv += self._data_args() + self._watch_args()
            argv += self.extra_args
            atomic_write_json(run_dir / RUN_FILE, {
                "name": run_dir.name, "preset": preset.name, "steps": steps or preset.steps,
                "batch_size": batch_size or preset.batch_size, "seed": seed,
                "created_at": time.time(), "launches": []})
            pid = self._launch(run_dir, argv)
        self._train_on_gpu(run_dir, argv)
        return RunInfo(run_dir.name, run_dir, pid, preset.name, steps or preset.steps,
                       batch_size or preset.batch_size, seed)

    def resume(self, name: object, *, steps: object = None, extend_to: object = None) -> RunInfo:
        """Continue a stopped (or finished, with more `steps`) run from its checkpoint.
        `extend_to`: a new total that counts only when it is more than the run's own (the
        Train tab's Steps field, which may still show another run's value)."""
        run_dir = self.run_dir(name)
        steps = as_train_steps(steps) if steps is not None else None
        with self._lock:
            self._refuse_if_running()
            if not (run_dir / CHECKPOINT_FILE).is_file():
                raise ValueError(f"run {run_dir.name!r} has no checkpoint to resume from")
            current = self._read(run_dir, details=False)
            if steps is None and extend_to is not None:
                total = as_train_steps(extend_to)
                steps = total if current.steps and total > current.steps else None
            if steps is None and current.state == "finished":
                raise ValueError(f"run {run_dir.name!r} has finished: give more steps to train it longer")
            if steps is not None and current.step is not None and steps <= current.step:
                raise ValueError(f"steps must be more than the run's {current.step} steps so far, got {steps}")
            # --export-dir none: a run made by the command line may name weights/ as its export
            argv = [self.python, str(self.train_script), "--resume", str(run_dir), "--export-dir", "none",
                    "--no-evaluate", "--no-progress"] + (["--steps", str(steps)] if steps else [])
            record = read_json(run_dir, RUN_FILE, dict) or {"name": run_dir.name, "created_at": time.time()}
            if steps:
                record["steps"] = steps
            atomic_write_json(run_dir / RUN_FILE, record)
            pid = self._launch(run_dir, argv)
        self._train_on_gpu(run_dir, argv)
        return RunInfo(run_dir.name, run_dir, pid, str(record.get("preset", "custom")),
                       number(record.get("steps"), int), number(record.get("batch_size"), int),
                       number(record.get("seed"), int) or 0)

    def stop(self, name: object, *, timeout_s: float | None = None) -> RunStatus:
        """SIGTERM the run's trainer (it checkpoints and exits with 130) and wait for it; a run
        inside the GPU call is asked through a stop request in its folder instead."""
        run_dir = self.run_dir(name)
        timeout_s = self.stop_timeout_s if timeout_s is None else timeout_s
        with self._lock:
            current = self._read(run_dir, details=False)
            if current.state != "running" or current.pid is None:
                raise ValueError(f"run {run_dir.name!r} is not running ({current.label})")
            self._update_launch(run_dir, stop_requested=True)
            if self._gpu_run == run_dir.name:
                (run_dir / STOP_FILE).touch()
                deadline = time.monotonic() + timeout_s
                while self._gpu_run == run_dir.name and time.monotonic() < deadline:
                    time.sleep(0.1)
                return self._read(run_dir)
            try:
                os.kill(current.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self._wait_for_exit(run_dir, current.pid, timeout_s)
        return self._read(run_dir)

    # ------------------------------------------------------------------ serve and revert

    def serve(self, name: object) -> str:
        """Export the run's EMA generator (latest checkpoint) to a fresh folder, validate it
        and swap it into the app; the weights served before are kept for revert()."""
        run_dir = self.run_dir(name)
        if self.weights is None:
            raise ValueError("serving is not available here")
        with self._lock:
            return self._public(self.weights.serve_run, run_dir)

    def push(self, name: object, repo_id: object, *, token: str | None) -> str:
        """Export the run's EMA generator (latest checkpoint) and upload it with a model card
        to the Hub model repo `repo_id`; returns the commit URL. Refused while it trains."""
        run_dir = self.run_dir(name)
        if not isinstance(repo_id, str):
            raise ValueError(f"repo must be a Hub model repo owner/name, got {repo_id!r}")
        check_repo_id(repo_id)
        with self._lock:
            current = self._read(run_dir, details=False)
            if current.state == "running":
                raise ValueError(f"run {run_dir.name!r} is training: push it once it has stopped or finished")
            if not (run_dir / CHECKPOINT_FILE).is_file():
                raise ValueError(f"run {run_dir.name!r} has no checkpoint yet: nothing to push")
            (self.runs_root / SERVED_FOLDER).mkdir(exist_ok=True)
            with tempfile.TemporaryDirectory(prefix="push-", dir=self.runs_root / SERVED_FOLDER) as folder:
                command = shlex.join(["python", "train.py", "--export", run_dir.name, "--push-to-hub", repo_id])
                export_from_checkpoint(run_dir, folder, command=command)
                try:
                    return push_weights_to_hub(folder, repo_id, token=token, command=command)
                except Exception as exc:  # the Hub's refusals come in many types
                    raise ValueError(f"could not push run {run_dir.name!r} to {repo_id}: {exc}") from exc

    def revert(self) -> str:
        """Serve the weights served before the last serve() (or revert()) again."""
        if self.weights is None:
            raise ValueError("serving is not available here")
        with self._lock:
            return self._public(self.weights.revert)

    # ------------------------------------------------------------------ what a page may see

    def public_text(self, text: str) -> str:
        """`text` without the server's paths: the runs folder's relative to it, the trainer's
        Python, train.py and the data folder by name, any other cut to its last part."""
        names = {self.python: "python", str(self.train_script): "train.py"}
        if self.data_dir is not None:
            names[str(self.data_dir)] = "DATA_DIR"
        served = self.weights.current if self.weights is not None else None
        if served is not None and not served.is_relative_to(self.runs_root):  # e.g. weights/
            names[str(served)] = served.name
        return without_server_paths(text, runs_root=self.runs_root, names=names)

    def _public(self, action: Callable[..., str], *args) -> str:
        """A serve or revert: its message, or its refusal, without the server's paths."""
        try:
            return self.public_text(action(*args))
        except ValueError as exc:
            raise ValueError(self.public_text(str(exc))) from exc

    def _read(self, run_dir: Path, *, details: bool = True) -> RunStatus:
        """A run's status as a page or an API caller may see it (no server paths in its text)."""
        status = self._read_files(run_dir, details=details)
        status.message = self.public_text(status.message)
        status.log_tail = [self.public_text(line) for line in status.log_tail]
        status.console_tail = [self.public_text(line) for line in status.console_tail]
        return status

    # ------------------------------------------------------------------ internals

    def _read_files(self, run_dir: Path, *, details: bool = True) -> RunStatus:
        if self.gpu_train is not None:  # no train.py processes: this manager knows what trains
            return read_run_status(run_dir, script_name=self.train_script.name, details=details,
                                   in_flight=self._gpu_run == run_dir.name)
        self._reap(run_dir)
        status = read_run_status(run_dir, script_name=self.train_script.name, details=details)
        child = self._children.get(run_dir.name)
        if status.state == "dead" and child is not None:
            # our own trainer died between the reap and the read: wait for its exit code, so
            # that the page says how it ended (SIGKILL, out of memory) instead of guessing
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                return status
            self._reap(run_dir)
            status = read_run_status(run_dir, script_name=self.train_script.name, details=details)
        return status

    def _reap(self, run_dir: Path) -> None:
        """Record the exit code of a trainer this manager started, once it has exited."""
        with self._record_lock:
            child = self._children.get(run_dir.name)
            if child is None or child.poll() is None:
                return
            del self._children[run_dir.name]
            self._update_launch(run_dir, exit_code=child.returncode, pid=child.pid)

    def _refuse_if_running(self) -> None:
        running = self.running()
        if running is not None:
            raise ValueError(f"run {running.name!r} is training: one run at a time (stop it first)")

    def _make_run_dir(self, preset: str) -> Path:
        for _ in range(100):
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{preset}-{secrets.token_hex(2)}"
            try:
                (self.runs_root / name).mkdir()
                return self.runs_root / name
            except FileExistsError:
                continue
        raise RuntimeError("could not make a fresh run folder")

    def _data_args(self) -> list[str]:
        args = ["--data-dir", str(self.data_dir)] if self.data_dir is not None else []
        return args + ([] if self.allow_download else ["--no-download"])

    def _launch(self, run_dir: Path, argv: list[str]) -> int:
        if self.gpu_train is not None:  # trained by _train_on_gpu once the lock is released
            with self._record_lock:
                self._gpu_run = run_dir.name
                with open(run_dir / CONSOLE_FILE, "a") as console:
                    console.write(f"$ {shlex.join(['python', 'train.py', *argv[2:]])}  "
                                  f"(on the GPU, at most {self.gpu_seconds} s)\n")
                self._record_launch(run_dir, {"pid": os.getpid(), "argv": argv, "mode": "gpu",
                                              "gpu_seconds": self.gpu_seconds})
            return os.getpid()
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
        with self._record_lock:
            self._children[run_dir.name] = child
            self._record_launch(run_dir, {"pid": child.pid, "argv": argv})
        return child.pid

    def _record_launch(self, run_dir: Path, launch: dict) -> None:
        record = read_json(run_dir, RUN_FILE, dict) or {}
        record["launches"] = records(record.get("launches"), ("pid",)) + [
            {**launch, "started_at": time.time(), "exit_code": None}]
        atomic_write_json(run_dir / RUN_FILE, record)

    def _train_on_gpu(self, run_dir: Path, argv: list[str]) -> None:
        """The GPU call for a run `_launch` prepared (nothing without gpu_train): blocks until
        the run stops, finishes or the call fails, then records how it ended."""
        if self.gpu_train is None:
            return
        try:
            code = self.gpu_train(argv[2:], self.gpu_seconds)
            self._update_launch(run_dir, exit_code=int(code))
        except Exception as exc:  # the platform refused the call, or the worker died
            self._update_launch(run_dir, message=f"the GPU call ended before the run did "
                                                 f"({type(exc).__name__}: {exc}); Resume continues "
                                                 "from the last checkpoint")
        finally:
            self._gpu_run = None

    def _update_launch(self, run_dir: Path, *, pid: int | None = None, **values) -> None:
        """Add values to the latest launch in run.json (if it is `pid`'s, when given)."""
        with self._record_lock:
            record = read_json(run_dir, RUN_FILE, dict)
            launches = records((record or {}).get("launches"), ("pid",))
            if not launches or (pid is not None and launches[-1]["pid"] != pid):
                return
            launches[-1].update(values)
            record["launches"] = launches
            atomic_write_json(run_dir / RUN_FILE, record)

    def _wait_for_exit(self, run_dir: Path, pid: int, timeout_s: float) -> None:
        child = self._children.get(run_dir.name)
        if child is not None and child.pid == pid:
            try:
                child.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                return
            self._reap(run_dir)
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and trainer_alive(pid, script_name=self.train_script.name,
                                                            run_dir=run_dir):
            time.sleep(0.1)

    def _created_at(self, run_dir: Path) -> float:
        created = number((read_json(run_dir, RUN_FILE, dict) or {}).get("created_at"))
        if created is not None:
            return created
        try:
            return run_dir.stat().st_mtime
        except OSError:
            return 0.0
