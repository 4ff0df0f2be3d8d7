"""The Train tab's run manager (gan/runs/manager.py) with its default launcher, a train.py
process per run: run folders written by the test (states, corrupt files, hostile names), a
stand-in trainer script (start, one run at a time, stop, resume, a killed trainer, an app
restart), serving a real checkpoint, and the input rules."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gan.inputs import as_batch_size, as_run_name, as_train_seed, as_train_steps
from gan.model.weights import WeightsError, load_generator
from gan.runs.launcher import ProcessLauncher
from gan.runs.manager import RunManager, training_enabled
from gan.runs.presets import RUN_PRESETS
from gan.runs.status import read_run_status
from gan.training.run_folder import STATUS_FILE
from tests.support.runs import HOSTILE, gone_pid, kill_leftovers, wait_until, write_run


@pytest.fixture
def manager(tmp_path, fake_trainer):
    manager = RunManager(tmp_path / "runs", train_script=fake_trainer, niceness=0, stop_timeout_s=20)
    yield manager
    kill_leftovers(manager)


# ----------------------------------------------------------------------------- run folders

def test_no_runs(manager):
    assert manager.list_runs() == [] and manager.status() is None and manager.running() is None


def test_states_read_from_files(manager):
    root = manager.runs_root
    status = {"step": 40, "steps": 100, "images_per_s": 320.0, "elapsed_s": 10.0, "message": "m"}
    write_run(root, "a-finished", status__json=dict(status, state="finished", pid=gone_pid()),
              history__json=[{"step": 20, "d_loss": 1.0, "g_loss": 2.0, "images_per_s": 300.0}])
    write_run(root, "b-diverged", status__json=dict(status, state="diverged", pid=gone_pid()))
    write_run(root, "c-dead", status__json=dict(status, state="running", pid=gone_pid()))
    # a live process that is not a trainer of this run (this test process) is not taken for one
    write_run(root, "d-reused-pid", status__json=dict(status, state="running", pid=os.getpid()))
    write_run(root, "e-cli-run", log__txt="step 1\n")
    states = {r.name: r.state for r in manager.list_runs()}
    assert states == {"a-finished": "finished", "b-diverged": "diverged", "c-dead": "dead",
                      "d-reused-pid": "dead", "e-cli-run": "unknown"}
    dead = manager.status("c-dead")
    assert dead.label == "stopped unexpectedly" and "unexpectedly" in dead.message
    finished = manager.status("a-finished")
    assert (finished.step, finished.steps, finished.images_per_s) == (40, 100, 320.0)
    assert finished.history[0]["d_loss"] == 1.0 and finished.eta_s is None
    json.dumps(finished.to_dict())  # JSON-ready for an endpoint


def test_live_trainer_is_running_with_eta(manager, fake_trainer):
    run_dir = manager.runs_root / "live"
    run_dir.mkdir()
    # a process whose command line names the training script and this run folder
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", str(fake_trainer),
                             "--run-dir", str(run_dir)])
    try:
        (run_dir / "run.json").write_text(json.dumps({"batch_size": 64, "launches": [{"pid": proc.pid}]}))
        (run_dir / STATUS_FILE).write_text(json.dumps(
            {"state": "running", "step": 100, "steps": 1100, "pid": proc.pid, "images_per_s": 640.0}))
        status = manager.status()
        assert status.name == "live" and status.state == "running"
        assert status.eta_s == pytest.approx(1000 * 64 / 640.0)
        with pytest.raises(ValueError, match="one run at a time"):
            manager.start("custom", steps=10)
    finally:
        proc.kill()
        proc.wait()
    assert manager.status("live").state == "dead"


def test_corrupt_and_half_written_files_are_tolerated(manager, tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"not for visitors")
    run_dir = write_run(manager.runs_root, "broken", status__json='{"state": "runn',
                        run__json="[]", history__json='[1, "x", {"step": 2}, {"step": 3, "d_loss": 1, "g_loss": 2}]',
                        metrics_history__json="null", log__txt=b"\xff\xfe ok\nlast line\n",
                        console__txt="")
    os.symlink(outside, run_dir / "samples.png")
    status = manager.status("broken")
    assert status.state == "unknown" and status.step == 3
    assert [h["step"] for h in status.history] == [3] and status.metrics == []
    assert status.log_tail[-1] == "last line" and status.grid_path is None


def test_exit_codes_recorded_by_the_manager_decide_the_state(manager):
    cases = {0: "finished", 130: "interrupted", -9: "dead", 2: "failed"}
    for code, expected in cases.items():
        write_run(manager.runs_root, f"exit{code + 100}", run__json={"launches": [
            {"pid": gone_pid(), "exit_code": code}]}, console__txt="a\nlast words\n")
        assert manager.status(f"exit{code + 100}").state == expected, code
    write_run(manager.runs_root, "nan", run__json={"launches": [{"pid": gone_pid(), "exit_code": 1}]},
              console__txt="error: loss became NaN/inf before step 7; stopped.\n")
    assert manager.status("nan").state == "diverged"
    assert "SIGKILL" in manager.status("exit91").message
    # SIGTERM before the trainer installed its handler: stopped as asked, but nothing to resume
    write_run(manager.runs_root, "early-stop", run__json={"launches": [
        {"pid": gone_pid(), "exit_code": -signal.SIGTERM, "stop_requested": True}]})
    early = manager.status("early-stop")
    assert early.state == "interrupted" and "nothing to resume" in early.message


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_are_refused(manager, name):
    calls = [manager.stop, manager.resume, manager.serve, manager.run_dir]
    if name is not None:  # status(None) means "the current run"
        calls.append(manager.status)
    for call in calls:
        with pytest.raises(ValueError):
            call(name)


def test_symlinks_and_plain_folders_are_not_runs(manager, tmp_path):
    outside = write_run(tmp_path, "outside", status__json={"state": "finished"}, checkpoint__pt="x")
    os.symlink(outside, manager.runs_root / "linked")
    (manager.runs_root / "empty").mkdir()
    for name in ("linked", "empty", "missing"):
        with pytest.raises(ValueError, match="no run named"):
            manager.status(name)
    assert manager.list_runs() == []


# ----------------------------------------------------------------------------- stand-in trainer

def test_start_stop_resume_with_a_stand_in_trainer(manager):
    info = manager.start("custom", steps=100_000, batch_size=8, seed=3)
    assert info.run_dir.parent == manager.runs_root and as_run_name(info.name) == info.name
    assert isinstance(info.pid, int) and not info.ended  # Start answers while the process trains on
    assert wait_until(lambda: (manager.status(info.name).step or 0) > 10)
    assert manager.status().state == "running"
    with pytest.raises(ValueError, match="one run at a time"):
        manager.start("quick")
    with pytest.raises(ValueError, match="one run at a time"):
        manager.resume(info.name)
    stopped = manager.stop(info.name)
    assert stopped.state == "interrupted" and stopped.exit_code == 130 and stopped.has_checkpoint
    with pytest.raises(ValueError, match="not running"):
        manager.stop(info.name)
    with pytest.raises(ValueError, match="more than"):
        manager.resume(info.name, steps=stopped.step)
    manager.resume(info.name, steps=stopped.step + 20)
    wait_until(lambda: manager.status(info.name).state == "finished")
    done = manager.status(info.name)
    assert done.step == stopped.step + 20 and done.exit_code == 0
    with pytest.raises(ValueError, match="give more steps"):
        manager.resume(info.name)
    console = (info.run_dir / "console.txt").read_text()
    assert "--resume" in console and "--seed 3" in console and "--batch-size 8" in console


def test_killed_trainer_is_reported_dead(manager):
    info = manager.start("custom", steps=100_000)
    wait_until(lambda: manager.status(info.name).step)
    os.kill(info.pid, signal.SIGKILL)
    wait_until(lambda: manager.status(info.name).state != "running")
    status = manager.status(info.name)
    assert status.state == "dead" and "SIGKILL" in status.message and status.label == "stopped unexpectedly"


def test_a_restarted_app_finds_and_stops_a_running_trainer(manager, tmp_path, fake_trainer):
    info = manager.start("custom", steps=100_000)
    wait_until(lambda: manager.status(info.name).step)
    restarted = RunManager(tmp_path / "runs", train_script=fake_trainer, stop_timeout_s=20)
    assert [(r.name, r.state) for r in restarted.list_runs()] == [(info.name, "running")]
    assert restarted.stop(info.name).state == "interrupted"
    manager.status(info.name)  # the first manager reaps its child


def test_a_failing_trainer_is_reported_failed(tmp_path, fake_trainer):
    failing = RunManager(tmp_path / "runs", train_script=fake_trainer,
                         env=dict(os.environ, FAKE_TRAINER_FAIL="1"))
    info = failing.start("custom", steps=10)
    wait_until(lambda: failing.status(info.name).state != "running")
    status = failing.status(info.name)
    assert status.state == "failed" and "unrecognized arguments" in status.message


def test_bad_options_are_refused_before_any_folder_is_made(manager):
    bad = [dict(preset="nope"), dict(preset="custom", steps=5), dict(preset="custom", steps=10.5),
           dict(preset="custom", batch_size=10), dict(preset="quick", seed=-1), dict(preset="quick", seed=True)]
    for options in bad:
        with pytest.raises(ValueError):
            manager.start(**options)
    assert list(manager.runs_root.iterdir()) == []


def test_presets_pass_the_trainer_preset_and_only_given_overrides(manager, tmp_path):
    info = manager.start("quick", steps=30)
    wait_until(lambda: manager.status(info.name).state == "finished")
    argv = json.loads((info.run_dir / "run.json").read_text())["launches"][0]["argv"]
    assert argv[argv.index("--preset") + 1] == "quick" and argv[argv.index("--steps") + 1] == "30"
    assert "--batch-size" not in argv and argv[argv.index("--export-dir") + 1] == "none"
    assert RUN_PRESETS["quick"].steps == 4000 and RUN_PRESETS["standard"].steps == 16000


def test_train_py_accepts_the_command_lines_the_manager_builds(manager):
    from gan.training.command_line import build_parser, config_from_args

    quick = manager.start("quick", steps=30, seed=5)
    wait_until(lambda: manager.status(quick.name).state == "finished")
    custom = manager.start("custom", batch_size=16)
    wait_until(lambda: manager.status(custom.name).step)
    manager.stop(custom.name)
    manager.resume(custom.name, steps=60)
    wait_until(lambda: manager.status(custom.name).state == "finished")
    launches = [json.loads((run.run_dir / "run.json").read_text())["launches"] for run in (quick, custom)]
    parser = build_parser()
    cfg = config_from_args(parser.parse_args(launches[0][0]["argv"][2:]))
    assert (cfg.steps, cfg.batch_size, cfg.seed, cfg.export_dir, cfg.log_every) == (30, 64, 5, None, 10)
    assert cfg.run_dir == str(quick.run_dir)
    cfg = config_from_args(parser.parse_args(launches[1][0]["argv"][2:]))
    assert (cfg.steps, cfg.batch_size) == (RUN_PRESETS["custom"].steps, 16)
    resume = parser.parse_args(launches[1][1]["argv"][2:])
    assert resume.resume == str(custom.run_dir) and resume.steps == 60 and resume.export_dir == "none"


# ----------------------------------------------------------------------------- serve and revert

@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    """A real (tiny) run folder with a checkpoint, trained in-process once for this file."""
    import torch

    from gan.config import ModelConfig, TrainConfig
    from gan.training.loop import train

    run_dir = tmp_path_factory.mktemp("trained") / "tiny-run"
    before = torch.get_num_threads()
    cfg = TrainConfig(model=ModelConfig(g_width=8, d_width=8), synthetic_size=64, run_dir=str(run_dir),
                      export_dir=None, steps=4, batch_size=8, device="cpu", threads=1, log_every=2,
                      sample_every=1000, metrics_every=0, ckpt_every=1000)
    train(cfg, progress=False)
    torch.set_num_threads(before)
    return run_dir


@pytest.fixture
def trained_run(tmp_path, trained_once):
    return Path(shutil.copytree(trained_once, tmp_path / "runs" / "tiny-run"))


def test_serve_exports_validates_and_revert_goes_back(tmp_path, trained_run, core_weights_dir):
    served = []

    def serve(folder):
        load_generator(folder)
        served.append(folder)
        return f"serving {folder.name}"

    manager = RunManager(tmp_path / "runs", serve=serve, served_weights=core_weights_dir)
    message = manager.serve("tiny-run")
    first = served[-1]
    assert message == f"serving {first.name}" and first.parent == manager.runs_root / ".served"
    assert json.loads((first / "training.json").read_text())["step"] == 4
    manager.serve("tiny-run")
    manager.serve("tiny-run")
    exports = list(served)
    # only the current and the previous export are kept
    assert sorted(manager.weights.served_root.iterdir()) == sorted(exports[1:])
    manager.revert()
    assert served[-1] == exports[1] and manager.weights.current == exports[1]
    manager.revert()  # a second revert undoes the first
    assert served[-1] == exports[2]
    assert [r.name for r in manager.list_runs()] == ["tiny-run"]  # .served is no run


def test_serve_failures_keep_what_was_served(tmp_path, trained_run, core_weights_dir):
    def refuse(folder):
        raise WeightsError("config.json does not match")

    manager = RunManager(tmp_path / "runs", serve=refuse, served_weights=core_weights_dir)
    with pytest.raises(ValueError, match="does not match"):
        manager.serve("tiny-run")
    assert manager.weights.current == core_weights_dir.resolve()
    assert list(manager.weights.served_root.glob("*")) == []  # the failed export is gone
    with pytest.raises(ValueError, match="nothing to revert"):
        manager.revert()
    (trained_run / "checkpoint.pt").write_bytes(b"corrupt")
    with pytest.raises(ValueError, match="could not serve"):
        manager.serve("tiny-run")
    write_run(manager.runs_root, "no-ckpt", log__txt="x\n")
    with pytest.raises(ValueError, match="no checkpoint"):
        manager.serve("no-ckpt")
    with pytest.raises(ValueError, match="not available"):
        RunManager(tmp_path / "runs").serve("tiny-run")


# ----------------------------------------------------------------------------- input rules

def test_training_input_rules():
    assert as_train_steps(10) == 10 and as_train_steps(100_000.0) == 100_000
    assert as_batch_size(8) == 8 and as_batch_size(1024) == 1024
    assert as_train_seed(0) == 0 and as_train_seed(2**31 - 1) == 2**31 - 1
    for rule, bad in [(as_train_steps, [9, 100_001, 12.5, True, "10", None]),
                      (as_batch_size, [4, 10, 1028, 64.5, False]),
                      (as_train_seed, [-1, 2**31, float("nan"), "0"])]:
        for value in bad:
            with pytest.raises(ValueError, match="must be"):
                rule(value)


def test_training_is_off_unless_enabled():
    assert not training_enabled(environ={})
    assert training_enabled(True, environ={})
    assert training_enabled(environ={"DIGITGAN_ALLOW_TRAINING": "1"})
    assert not training_enabled(environ={"DIGITGAN_ALLOW_TRAINING": "0"})


def test_read_run_status_without_details(manager):
    run_dir = write_run(manager.runs_root, "r", status__json={"state": "finished", "step": 5},
                        log__txt="hello\n")
    status = read_run_status(run_dir, alive=ProcessLauncher().alive, details=False)
    assert status.step == 5 and status.log_tail == [] and status.history == []


# ----------------------------------------------------------------------------- the real train.py

@pytest.mark.slow
def test_real_trainer_start_watch_stop_resume_serve_revert_kill(tmp_path, core_weights_dir):
    from tests.support.processes import TINY_TRAIN_FLAGS, core_env

    served = []
    tiny = [*TINY_TRAIN_FLAGS, "--log-every", "2", "--ckpt-every", "1000", "--sample-every", "4"]
    manager = RunManager(tmp_path / "runs", extra_args=tiny, env=core_env(), stop_timeout_s=60, niceness=0,
                         serve=lambda folder: served.append(folder) or "ok", served_weights=core_weights_dir)
    try:
        check_the_whole_cycle(manager, served, core_weights_dir)
    finally:
        kill_leftovers(manager)


def check_the_whole_cycle(manager, served, core_weights_dir):
    info = manager.start("custom", steps=100_000, batch_size=8, seed=1)
    first = wait_until(lambda: (s := manager.status(info.name)).grid_step and s.grid_path and s, timeout=60)
    assert first.state == "running" and first.steps == 100_000 and first.history
    first_grid = first.grid_path.read_bytes()
    # the fixed-noise grid moves on as the run learns
    later = wait_until(lambda: (s := manager.status(info.name)).grid_step > first.grid_step + 4 and s)
    assert later.grid_path.read_bytes() != first_grid and later.step > first.step
    assert later.images_per_s > 0 and later.eta_s > 0
    with pytest.raises(ValueError, match="one run at a time"):
        manager.start("quick")

    stopped = manager.stop(info.name)
    assert (stopped.state, stopped.exit_code, stopped.has_checkpoint) == ("interrupted", 130, True)
    resumed = manager.resume(info.name, steps=stopped.step + 6)
    assert resumed.pid != info.pid
    wait_until(lambda: manager.status(info.name).state == "finished", timeout=60)
    assert manager.status(info.name).step == stopped.step + 6

    manager.serve(info.name)
    assert load_generator(served[-1]).config.g_width == 8  # a valid folder of this run's G_ema
    manager.revert()
    assert served[-1] == core_weights_dir.resolve()

    killed = manager.resume(info.name, steps=100_000)
    wait_until(lambda: (manager.status(info.name).step or 0) > stopped.step + 6, timeout=60)
    os.kill(killed.pid, signal.SIGKILL)
    wait_until(lambda: manager.status(info.name).state != "running")
    assert manager.status(info.name).state == "dead"

    assert [r.name for r in manager.list_runs()] == [info.name]
