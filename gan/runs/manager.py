"""The training-run manager behind the Train tab: runs in folders of their own under the runs
folder, started, watched through their files, stopped or resumed, and served (with a way back
to the weights served before).

A run is `train.py --run-dir RUNS/NAME ...`; how it trains is its launcher's business
(gan.runs.launcher: by default a separate `python train.py` process; on ZeroGPU a call in this
process, gan.runs.zerogpu). This module keeps the runs' state: their names and folders, their
run.json, the listing and each run's status, and which run's weights the app serves. Run
names are made here; a name that comes back from a page is accepted only if it is one of the
listed runs, so nothing a visitor sends can reach a path outside the runs folder. One run
trains at a time.

    manager = RunManager("runs", data_dir="/data/mnist", serve=holder.serve, served_weights="weights")
    info = manager.start("quick")           # gan.runs.presets.RUN_PRESETS: what a run from the page can be
    manager.status(info.name).step          # ... later
    manager.stop(info.name); manager.resume(info.name); manager.serve(info.name); manager.revert()

    RunManager("runs", launcher=ZeroGPULauncher(train_on_gpu))  # on ZeroGPU (see app.py)
"""
from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..files import atomic_write_json
from ..inputs import as_batch_size, as_choice, as_run_name, as_train_seed, as_train_steps
from ..model.timeline import Timeline
from ..training.run_folder import CHECKPOINT_FILE, RUN_FILE, build_timeline, timeline_steps
from .launcher import Launcher, ProcessLauncher
from .presets import RUN_PRESETS
from .publish import as_repo_id, push_run
from .served import ServedWeights
from .status import (RUN_MARKERS, RunStatus, number, public_status, read_json, read_run_status, records,
                     without_server_paths)

TRAINING_ENV_VAR = "DIGITGAN_ALLOW_TRAINING"


@dataclass(frozen=True)
class RunInfo:
    """A run just started or resumed."""
    name: str
    run_dir: Path
    pid: int | None  # the trainer's process; None where it has none of its own (ZeroGPU)
    preset: str
    steps: int | None
    batch_size: int | None
    seed: int
    ended: bool = False  # Start returned after the run's training ended (it trained in the call, as on ZeroGPU)


def training_enabled(flag: bool = False, environ: dict | None = None) -> bool:
    """Training from the page is off unless the operator turns it on: `app.py --allow-training`
    (`flag`) or DIGITGAN_ALLOW_TRAINING=1 in the environment (for a Space)."""
    value = (os.environ if environ is None else environ).get(TRAINING_ENV_VAR, "")
    return flag or value.strip().lower() in ("1", "true", "yes", "on")


SERVED_FOLDER = ".served"  # under the runs folder; its leading dot keeps it out of the run list


class RunManager:
    """Starts, watches, stops, resumes and serves training runs under `runs_root`.

    `launcher` trains them (gan.runs.launcher.Launcher); without one, a ProcessLauncher made
    with `process_options` (python, train_script, niceness, env). `serve(folder) -> message`
    swaps a validated weights folder into the app (its model holder's hot swap);
    `served_weights` is the folder the app serves now, which `revert()` brings back after the
    first `serve()`. `extra_args` are appended to every new run's command line by the operator
    (never from a page), e.g. a smaller model for tests.
    """

    def __init__(self, runs_root: str | os.PathLike, *, launcher: Launcher | None = None,
                 data_dir: str | os.PathLike | None = None, allow_download: bool = True,
                 serve: Callable[[Path], str] | None = None, served_root: str | os.PathLike | None = None,
                 served_weights: str | os.PathLike | None = None, extra_args: Sequence[str] = (),
                 log_every: int | None = 10, sample_every: int | None = 100, stop_timeout_s: float = 60.0,
                 **process_options):
        if launcher is not None and process_options:
            raise TypeError(f"{', '.join(process_options)}: options of the default ProcessLauncher, "
                            "not of the launcher given")
        self.launcher = launcher if launcher is not None else ProcessLauncher(**process_options)
        self.runs_root = Path(runs_root).resolve()
        self.runs_root.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self.allow_download, self.extra_args = allow_download, list(extra_args)
        # status.json every log_every steps, a fixed-noise grid every sample_every (the CLI's
        # 500 would show a quick run's grid change only three times)
        self.log_every, self.sample_every = log_every, sample_every
        self.stop_timeout_s = stop_timeout_s
        self.weights = ServedWeights(serve, served_root=served_root or self.runs_root / SERVED_FOLDER,
                                     current=served_weights) if serve is not None else None
        self._lock = threading.RLock()  # start/resume/stop/serve: one at a time
        self._record_lock = threading.RLock()  # run.json's launches (status polls record exits too)

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

    def timeline(self, name: object) -> Timeline | None:
        """A listed run's training timeline so far, from its own grids, losses and metrics (as
        the export writes it, without the exported generator's last frame); None before its
        first grid."""
        return build_timeline(self.run_dir(name))

    def timeline_length(self, name: object) -> int:
        """How many frames a listed run's timeline has so far (file names only: cheap to poll)."""
        return len(timeline_steps(self.run_dir(name)))

    def running(self) -> RunStatus | None:
        return next((r for r in self.list_runs() if r.state == "running"), None)

    # ------------------------------------------------------------------ start, stop, resume

    def _watch_args(self) -> list[str]:
        return ((["--log-every", str(self.log_every)] if self.log_every else [])
                + (["--sample-every", str(self.sample_every)] if self.sample_every else []))

    def start(self, preset: object = "quick", *, steps: object = None, batch_size: object = None,
              seed: object = None) -> RunInfo:
        """Start a new run in a fresh folder; ValueError for bad options or while a run trains.
        `steps` and `batch_size`: None (or the preset's own value) = the preset's. Returns once
        the launcher has the run training, or where it trains in the call (ZeroGPU), once that
        has ended (RunInfo.ended)."""
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
            args = ["--run-dir", str(run_dir), "--export-dir", "none", "--no-evaluate", "--no-progress",
                    "--seed", str(seed)]
            if preset.trainer_preset:
                args += ["--preset", preset.trainer_preset]
            if steps is not None or not preset.trainer_preset:
                args += ["--steps", str(steps or preset.steps)]
            if batch_size is not None or not preset.trainer_preset:
                args += ["--batch-size", str(batch_size or preset.batch_size)]
            args += self._data_args() + self._watch_args() + self.extra_args
            atomic_write_json(run_dir / RUN_FILE, {
                "name": run_dir.name, "preset": preset.name, "steps": steps or preset.steps,
                "batch_size": batch_size or preset.batch_size, "seed": seed,
                "created_at": time.time(), "launches": []})
            pid = self._launch(run_dir, args)
        ended = self._run_here(run_dir)
        return RunInfo(run_dir.name, run_dir, pid, preset.name, steps or preset.steps,
                       batch_size or preset.batch_size, seed, ended)

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
            args = ["--resume", str(run_dir), "--export-dir", "none", "--no-evaluate", "--no-progress"] \
                + (["--steps", str(steps)] if steps else [])
            record = read_json(run_dir, RUN_FILE, dict) or {"name": run_dir.name, "created_at": time.time()}
            if steps:
                record["steps"] = steps
            atomic_write_json(run_dir / RUN_FILE, record)
            pid = self._launch(run_dir, args)
        ended = self._run_here(run_dir)
        return RunInfo(run_dir.name, run_dir, pid, str(record.get("preset", "custom")),
                       number(record.get("steps"), int), number(record.get("batch_size"), int),
                       number(record.get("seed"), int) or 0, ended)

    def stop(self, name: object, *, timeout_s: float | None = None) -> RunStatus:
        """Ask the run's trainer to stop (it checkpoints and exits with 130) and wait for it."""
        run_dir = self.run_dir(name)
        timeout_s = self.stop_timeout_s if timeout_s is None else timeout_s
        with self._lock:
            current = self._read(run_dir, details=False)
            if current.state != "running":
                raise ValueError(f"run {run_dir.name!r} is not running ({current.label})")
            self._update_launch(run_dir, stop_requested=True)
            self.launcher.stop(run_dir, current.pid, timeout_s=timeout_s)
        return self._read(run_dir)

    # ------------------------------------------------------------------ serve, revert, push

    def serve(self, name: object) -> str:
        """Export the run's EMA generator (latest checkpoint) to a fresh folder, validate it
        and swap it into the app; the weights served before are kept for revert()."""
        run_dir = self.run_dir(name)
        if self.weights is None:
            raise ValueError("serving is not available here")
        with self._lock:
            return self._public(self.weights.serve_run, run_dir)

    def revert(self) -> str:
        """Serve the weights served before the last serve() (or revert()) again."""
        if self.weights is None:
            raise ValueError("serving is not available here")
        with self._lock:
            return self._public(self.weights.revert)

    def push(self, name: object, repo_id: object, *, token: str | None) -> str:
        """Upload the run's EMA generator (latest checkpoint) with a model card to the Hub model
        repo `repo_id` (gan.runs.publish); returns the commit URL. Refused while it trains."""
        run_dir = self.run_dir(name)
        repo_id = as_repo_id(repo_id)
        with self._lock:
            if self._read(run_dir, details=False).state == "running":
                raise ValueError(f"run {run_dir.name!r} is training: push it once it has stopped or finished")
            return push_run(run_dir, repo_id, token=token, scratch_root=self.runs_root / SERVED_FOLDER)

    # ------------------------------------------------------------------ what a page may see

    def public_text(self, text: str) -> str:
        """`text` without the server's paths: the runs folder's relative to it, the launcher's
        own (the trainer's Python, train.py) and the data folder by name, any other cut to its
        last part."""
        return without_server_paths(text, runs_root=self.runs_root, names=self._shown_names())

    def _shown_names(self) -> dict[str, str]:
        names = dict(self.launcher.shown_names)
        if self.data_dir is not None:
            names[str(self.data_dir)] = "DATA_DIR"
        served = self.weights.current if self.weights is not None else None
        if served is not None and not served.is_relative_to(self.runs_root):  # e.g. weights/
            names[str(served)] = served.name
        return names

    def _public(self, action: Callable[..., str], *args) -> str:
        """A serve or revert: its message, or its refusal, without the server's paths."""
        try:
            return self.public_text(action(*args))
        except ValueError as exc:
            raise ValueError(self.public_text(str(exc))) from exc

    def _read(self, run_dir: Path, *, details: bool = True) -> RunStatus:
        """A run's status as a page or an API caller may see it (no server paths in its text)."""
        return public_status(self._read_files(run_dir, details=details), runs_root=self.runs_root,
                             names=self._shown_names())

    # ------------------------------------------------------------------ internals

    def _read_files(self, run_dir: Path, *, details: bool = True) -> RunStatus:
        self._record_end(run_dir)
        status = read_run_status(run_dir, alive=self.launcher.alive, details=details)
        # a trainer of this launcher's that died between the two lines above: wait for its
        # exit code, so that the page says how it ended (SIGKILL, out of memory), not a guess
        if status.state == "dead" and self._record_end(run_dir, wait_s=5):
            status = read_run_status(run_dir, alive=self.launcher.alive, details=details)
        return status

    def _record_end(self, run_dir: Path, *, wait_s: float = 0.0) -> bool:
        """Record in run.json how the run's launch ended, once the launcher has seen it end."""
        end = self.launcher.ended(run_dir, wait_s=wait_s)
        if end is None:
            return False
        values = {key: value for key, value in (("exit_code", end.exit_code), ("message", end.message))
                  if value is not None}
        self._update_launch(run_dir, pid=end.pid, **values)
        return True

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

    def _launch(self, run_dir: Path, train_args: list[str]) -> int | None:
        """Hand the run to the launcher and record the launch; the trainer's pid, if it has one."""
        with self._record_lock:  # recorded before a status poll can record the launch's end
            launch = self.launcher.start(run_dir, train_args)
            record = read_json(run_dir, RUN_FILE, dict) or {}
            record["launches"] = records(record.get("launches"), ("pid",)) + [
                {**launch, "started_at": time.time(), "exit_code": None}]
            atomic_write_json(run_dir / RUN_FILE, record)
        return launch.get("pid")

    def _run_here(self, run_dir: Path) -> bool:
        """The part of a Start or Resume the launcher runs in the caller's thread (a ZeroGPU
        call), outside the control lock so that Stop can reach the run meanwhile; then how it
        ended, where it has. Whether the run's training ended in it."""
        ended = self.launcher.run_here(run_dir)
        self._record_end(run_dir)
        return ended

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

    def _created_at(self, run_dir: Path) -> float:
        created = number((read_json(run_dir, RUN_FILE, dict) or {}).get("created_at"))
        if created is not None:
            return created
        try:
            return run_dir.stat().st_mtime
        except OSError:
            return 0.0
