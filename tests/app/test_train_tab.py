"""The Train tab and its endpoints: handlers called directly, the Blocks in-process (training
off, hostile run names, bad options, start/stop/resume with a stand-in trainer, serve and
revert on a real tiny checkpoint), and, marked slow, a launched app driven by gradio_client
through a real tiny train.py run."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

import app
from app_tabs.train_handlers import TRAINING_OFF, TrainHandlers
from app_tabs.train_view import api_payload, format_duration
from gan.config import ModelConfig, TrainConfig
from gan.images import png_bytes
from gan.model.networks import Generator
from gan.model.weights import load_generator, save_generator, weights_fingerprint
from gan.runs.manager import RunManager
from gan.serving.model_holder import ModelHolder
from tests.support.processes import TINY_TRAIN_FLAGS, core_env
from tests.support.runs import HOSTILE, FakeLauncher, gone_pid, kill_leftovers, wait_until, write_run

pytestmark = pytest.mark.timeout(120)

TRAIN_ENDPOINTS = ["train_start", "train_status", "train_stop", "train_resume", "train_serve", "train_revert",
                   "train_push"]
RUN_ENDPOINTS = ["train_status", "train_stop", "train_resume", "train_serve"]  # take a run name


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    with torch.random.fork_rng(devices=[]):
        generator = Generator(ModelConfig(g_width=16, d_width=16))
    return save_generator(generator, tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    """A run folder with a checkpoint of a tiny model (g_width 8) as train.py writes it, holding
    what an export reads (the real trainer makes one in the slow test below)."""
    from gan.training.run_folder import save_checkpoint

    run_dir = tmp_path_factory.mktemp("trained") / "tiny-run"
    run_dir.mkdir()
    cfg = TrainConfig(model=ModelConfig(g_width=8, d_width=8), synthetic_size=64, steps=4, batch_size=8)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        generator = Generator(cfg.model)
    save_checkpoint(run_dir / "checkpoint.pt", {"config": cfg.to_dict(), "step": 4, "elapsed_s": 1.0,
                                                 "G_ema": generator.state_dict(), "commands": ["python train.py"]})
    (run_dir / "log.txt").write_text("step 4\n")
    return run_dir


@pytest.fixture
def served_app(tmp_path, weights, fake_trainer):
    """The app in-process with training on: a stand-in trainer, the real hot swap."""
    holder = ModelHolder(weights)
    manager = RunManager(tmp_path / "runs", train_script=fake_trainer, niceness=0, stop_timeout_s=20,
                         served_weights=holder.folder, serve=lambda folder: holder.serve(folder).message)
    demo = app.build_demo(holder, auto_reload_s=None, concurrency_limit=2, training=manager)
    yield SimpleNamespace(demo=demo, manager=manager, holder=holder)
    kill_leftovers(manager)


def call(demo, api_name, *args):
    """An endpoint in-process, every parameter given (in-process calls fill no defaults)."""
    arity = len(demo.get_api_info(all_endpoints=True)["named_endpoints"][f"/{api_name}"]["parameters"])
    return demo(*args, *[None] * (arity - len(args)), api_name=api_name)


def shown_fingerprint(demo) -> str:
    with Image.open(demo(3, 42, 1.0, api_name="generate")) as im:
        return im.text["weights_sha256"]


# ----------------------------------------------------------------------------- training off

def test_training_off_the_tab_explains_and_every_endpoint_refuses(weights):
    demo = app.build_demo(weights, auto_reload_s=None)
    notes = [b for b in demo.blocks.values() if isinstance(b, gr.Markdown) and TRAINING_OFF in (b.value or "")]
    assert notes and notes[0].visible
    assert "--allow-training" in TRAINING_OFF and "DIGITGAN_ALLOW_TRAINING=1" in TRAINING_OFF
    timers = [b for b in demo.blocks.values() if isinstance(b, gr.Timer)]
    assert timers and not any(t.active for t in timers)  # an off tab polls nothing
    for name in TRAIN_ENDPOINTS:
        with pytest.raises(gr.Error, match="Training from the page is off"):
            args = {"train_start": ["quick"], "train_revert": [], "train_push": ["some-run", "you/digitgan"]}
            call(demo, name, *args.get(name, ["some-run"]))


def test_make_run_manager_only_when_enabled(weights, tmp_path, monkeypatch):
    monkeypatch.delenv("DIGITGAN_ALLOW_TRAINING", raising=False)
    holder = ModelHolder(weights)
    assert app.make_run_manager(holder, runs_dir=tmp_path / "runs") is None
    manager = app.make_run_manager(holder, allow_training=True, runs_dir=tmp_path / "runs", data_dir=tmp_path)
    assert manager.runs_root == (tmp_path / "runs").resolve() and manager.data_dir == tmp_path.resolve()
    assert manager.weights.current == Path(weights).resolve()
    monkeypatch.setenv("DIGITGAN_ALLOW_TRAINING", "1")
    assert app.make_run_manager(holder, runs_dir=tmp_path / "runs") is not None
    args = app.parse_args(["--allow-training", "--runs-dir", "r", "--data-dir", "d"])
    assert (args.allow_training, args.runs_dir, args.data_dir) == (True, "r", "d")


def test_endpoints_are_public_with_their_parameters(served_app):
    named = served_app.demo.get_api_info()["named_endpoints"]
    params = {name: [p["parameter_name"] for p in named[f"/{name}"]["parameters"]] for name in TRAIN_ENDPOINTS}
    assert params == {"train_start": ["preset", "steps", "batch_size", "seed"], "train_status": ["run"],
                      "train_stop": ["run"], "train_resume": ["run", "steps"], "train_serve": ["run"],
                      "train_revert": [], "train_push": ["run", "repo"]}
    start = {p["parameter_name"]: p for p in named["/train_start"]["parameters"]}
    assert all(p["parameter_has_default"] for p in start.values())
    assert start["preset"]["parameter_default"] == "quick" and start["steps"]["parameter_default"] is None


# ----------------------------------------------------------------------------- refusals

def test_hostile_run_names_are_refused_by_every_endpoint(served_app, tmp_path):
    outside = write_run(tmp_path, "outside", status__json={"state": "finished"}, checkpoint__pt=b"x")
    before = sorted(p for p in tmp_path.rglob("*") if "trainer" not in p.parts)
    for name in [n for n in HOSTILE if n is not None] + ["../outside", str(outside)]:
        for endpoint in RUN_ENDPOINTS:
            with pytest.raises(gr.Error) as info:
                call(served_app.demo, endpoint, name)
            assert "run must be the name of a listed run" in str(info.value) \
                or "there is no run named" in str(info.value), (name, endpoint)
    assert sorted(p for p in tmp_path.rglob("*") if "trainer" not in p.parts) == before


BAD_OPTIONS = [
    (("nope",), "preset must be one of"),
    (("custom", 5), "steps must be a whole number from 10 to 100000, got 5"),
    (("custom", 10.5), "steps must be a whole number"),
    (("custom", "10"), "got '10'"),
    (("custom", 10**9), "steps must be a whole number"),
    (("custom", None, 10), "batch_size must be a multiple of 4 from 8 to 1024, got 10"),
    (("custom", None, 4096), "batch_size must be a multiple of 4"),
    (("quick", None, None, -1), "seed must be a whole number"),
    (("quick", None, None, True), "got True"),
]


def test_bad_options_are_refused_with_what_is_allowed(served_app):
    for args, message in BAD_OPTIONS:
        with pytest.raises(gr.Error) as info:
            call(served_app.demo, "train_start", *args)
        assert message in str(info.value), args
    assert list(served_app.manager.runs_root.iterdir()) == []


# ----------------------------------------------------------------------------- a run, end to end

def test_start_status_stop_resume_through_the_endpoints(served_app):
    demo = served_app.demo
    started = call(demo, "train_start", "custom", 100_000, 8, 3)
    name = started["name"]
    assert started["state"] == "running" and (started["steps"], started["seed"]) == (100_000, 3)
    status = wait_until(lambda: (s := call(demo, "train_status", name))["step"] and s)
    json.dumps(status)  # JSON all the way
    assert [r["name"] for r in status["runs"]] == [name] and status["runs"][0]["state"] == "running"
    assert call(demo, "train_status")["name"] == name  # no name: the running run
    with pytest.raises(gr.Error, match="one run at a time"):
        call(demo, "train_start", "quick")
    stopped = call(demo, "train_stop", name)
    assert (stopped["state"], stopped["exit_code"], stopped["has_checkpoint"]) == ("interrupted", 130, True)
    with pytest.raises(gr.Error, match="not running"):
        call(demo, "train_stop", name)
    call(demo, "train_resume", name, stopped["step"] + 20)
    wait_until(lambda: call(demo, "train_status", name)["state"] == "finished")
    assert call(demo, "train_status", name)["step"] == stopped["step"] + 20


def test_a_killed_trainer_is_reported_through_the_endpoint(served_app):
    started = call(served_app.demo, "train_start", "custom", 100_000)
    wait_until(lambda: call(served_app.demo, "train_status", started["name"])["step"])
    os.kill(started["pid"], signal.SIGKILL)
    status = wait_until(
        lambda: (s := call(served_app.demo, "train_status", started["name"]))["state"] != "running" and s)
    assert status["state"] == "dead" and status["label"] == "stopped unexpectedly" and "SIGKILL" in status["message"]


def test_serve_swaps_tiny_weights_in_and_revert_brings_the_old_back(served_app, trained_once, weights):
    demo = served_app.demo
    shutil.copytree(trained_once, served_app.manager.runs_root / "tiny-run")
    original = weights_fingerprint(weights)
    assert shown_fingerprint(demo) == original
    served = call(demo, "train_serve", "tiny-run")
    assert served["weights_sha256"] != original and "Loaded weights" in served["message"]
    folder = served_app.manager.runs_root / ".served" / served["served_folder"]
    assert load_generator(folder).config.g_width == 8  # the run's own (tiny) model
    assert shown_fingerprint(demo) == served["weights_sha256"]  # the app serves it now
    assert [r["name"] for r in call(demo, "train_status")["runs"]] == ["tiny-run"]  # .served is no run
    reverted = call(demo, "train_revert")
    assert reverted["weights_sha256"] == original and shown_fingerprint(demo) == original
    with pytest.raises(gr.Error, match="no run named"):
        call(demo, "train_serve", "missing-run")


def test_status_and_the_tab_show_no_server_paths(tmp_path, weights, fake_trainer, trained_once):
    """Paths are relative to the runs folder (or a name): not the server's Python, train.py,
    run, data or weights folders, and no absolute path in a traceback either."""
    import sys

    holder = ModelHolder(weights)
    manager = RunManager(tmp_path / "runs", train_script=fake_trainer, data_dir=tmp_path / "mnist",
                         niceness=0, stop_timeout_s=20, served_weights=holder.folder,
                         serve=lambda folder: holder.serve(folder).message)
    demo = app.build_demo(holder, auto_reload_s=None, training=manager)
    try:
        name = call(demo, "train_start", "custom", 100_000)["name"]
        wait_until(lambda: call(demo, "train_status", name)["step"])
        (manager.runs_root / name / "log.txt").write_text(
            f"resumed {manager.runs_root / name} at step 10\n"
            '  File "/usr/lib/python3/site-packages/torch/nn/modules/module.py", line 1, in _call\n')
        status = call(demo, "train_status", name)
        panel = TrainHandlers(manager).refresh(name, {})
        shutil.copytree(trained_once, manager.runs_root / "tiny-run")
        served = call(demo, "train_serve", "tiny-run")
    finally:
        kill_leftovers(manager)
    shown = json.dumps([status, panel[1], panel[5], served])
    for server_path in (str(tmp_path), sys.executable, str(fake_trainer), str(Path(weights).resolve()),
                        "/usr/lib/python3"):
        assert server_path not in shown
    assert status["console_tail"][0].startswith(f"$ python train.py --run-dir {name} --export-dir none")
    assert "--data-dir DATA_DIR" in status["console_tail"][0]
    assert status["log_tail"] == [f"resumed {name} at step 10",
                                  '  File "…/module.py", line 1, in _call']
    assert status["grid_path"] is None and "from .served/tiny-run-" in served["message"]


# ----------------------------------------------------------------------------- the status panel

def test_refresh_shows_the_run_and_resends_only_what_changed(tmp_path, fake_trainer):
    manager = RunManager(tmp_path / "runs", train_script=fake_trainer)
    grid = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (30, 12))
    write_run(manager.runs_root, "r1", samples__png=png_bytes(grid), log__txt="step 20\nstep 40\n",
              status__json={"state": "finished", "step": 40, "steps": 100, "pid": gone_pid(),
                            "images_per_s": 320.0, "d_loss": 1.25, "g_loss": 0.75, "elapsed_s": 125.0},
              history__json=[{"step": 20, "d_loss": 1.0, "g_loss": 2.0}, {"step": 40, "d_loss": 1.25, "g_loss": 0.75}],
              metrics_history__json=[{"step": 40, "train_minutes": 2.0, "class_accuracy": 0.9712,
                                      "class_accuracy_per_digit": [0.99] * 9 + [0.9], "frechet_distance": 41.234}])
    (manager.runs_root / "r1" / "samples").mkdir()
    (manager.runs_root / "r1" / "samples" / "step_0000040.png").write_bytes(png_bytes(grid))
    handlers = TrainHandlers(manager)
    runs, summary, picture, losses, metrics, log, shown = handlers.refresh(None, {})
    assert runs.value == "r1" and runs.choices == [("r1 (finished)", "r1")]
    assert "**finished**" in summary and "step 40 / 100 (40%)" in summary and "2 min 05 s trained" in summary
    assert np.array_equal(picture[..., 0] if picture.ndim == 3 else picture, grid)
    assert losses.to_dict("records")[:2] == [{"step": 20, "loss": 1.0, "term": "D"},
                                             {"step": 20, "loss": 2.0, "term": "G"}]
    assert metrics == [[40, 2.0, 97.12, 90.0, 41.23]] and log == "step 20\nstep 40"
    again = handlers.refresh("r1", shown)
    assert [again[i] for i in (0, 2, 3, 4)] == [gr.skip()] * 4 and again[1] == summary
    # a name that is no listed run shows the current run and touches nothing else
    hostile = handlers.refresh("../../etc", shown)
    assert hostile[1] == summary


def test_refresh_and_payload_without_runs(tmp_path, fake_trainer):
    handlers = TrainHandlers(RunManager(tmp_path / "runs", train_script=fake_trainer))
    runs, summary, picture, losses, *_ = handlers.refresh(None, None)
    assert runs.choices == [] and "No runs yet" in summary and picture is None and losses is None
    assert api_payload(None) == {"name": None, "state": "none", "label": "no runs yet", "runs": []}
    assert [format_duration(s) for s in (None, 5, 169, 3900)] == ["-", "5 s", "2 min 49 s", "1 h 05 min"]


def test_preset_fields_follow_the_preset(tmp_path, fake_trainer):
    handlers = TrainHandlers(RunManager(tmp_path / "runs", train_script=fake_trainer))
    assert handlers.preset_fields("quick") == (4000, 64)
    assert handlers.preset_fields("standard") == (16000, 64)
    assert handlers.preset_fields("../x") == (gr.skip(), gr.skip())


def test_start_click_passes_only_what_differs_from_the_preset(served_app):
    handlers = TrainHandlers(served_app.manager)
    message, runs = handlers.start_click("quick", 4000, 64, None)
    argv = json.loads((served_app.manager.runs_root / runs.value / "run.json").read_text())["launches"][0]["argv"]
    assert "--preset" in argv and "--steps" not in argv and "--batch-size" not in argv
    assert argv[argv.index("--seed") + 1] == "0" and runs.value in message
    wait_until(lambda: served_app.manager.status(runs.value).step)  # its SIGTERM handler is in
    served_app.manager.stop(runs.value)
    # Resume trains to the run's own total, or to the Steps field when that is larger
    for steps, total in ((10, "4,000"), (4100, "4,100")):
        message, _ = handlers.resume_click(runs.value, steps)
        assert f"towards {total} steps" in message
        wait_until(lambda: served_app.manager.status(runs.value).state == "running"
                   and served_app.manager.status(runs.value).message != "starting")
        message, _ = handlers.stop_click(runs.value)
        assert f"Run {runs.value}: stopped at step" in message
    with pytest.raises(gr.Error, match="not running"):
        handlers.stop_click(runs.value)


# ----------------------------------------------------------------------------- what the launcher says

def test_the_tab_shows_the_launchers_note_and_where_a_run_trained(tmp_path, weights):
    """The tab never asks which back-end trains: it shows the launcher's own note, and after a
    Start that returned once the training call ended (as on ZeroGPU), where the run got to."""
    launcher = FakeLauncher(in_call=True, in_call_steps=7, start_note="**Each Start costs one coin.**")
    manager = RunManager(tmp_path / "runs", launcher=launcher)
    demo = app.build_demo(weights, auto_reload_s=None, training=manager)
    notes = [b for b in demo.blocks.values() if isinstance(b, gr.Markdown) and b.value == launcher.start_note]
    assert notes and notes[0].visible
    handlers = TrainHandlers(manager)
    message, runs = handlers.start_click("custom", 50_000, 8, 1)
    assert message == (f"Run {runs.value} trained in the fake launcher: stopped at step 7 of 50000. "
                       "Resume trains it on.")
    message, _ = handlers.resume_click(runs.value, 60_000)
    assert message.startswith(f"Run {runs.value} trained in the fake launcher: stopped at step 7 of 60000.")
    # a launcher whose runs train on after Start, with no process of their own
    handlers = TrainHandlers(RunManager(tmp_path / "other", launcher=FakeLauncher()))
    message, runs = handlers.start_click("custom", 100_000, 8, 1)
    assert message == f"Started run {runs.value}: custom preset, 100,000 steps of batch 8, seed 1."


def test_process_runs_have_no_note(tmp_path, weights, fake_trainer):
    handlers = TrainHandlers(RunManager(tmp_path / "runs", train_script=fake_trainer))
    assert handlers.start_note() == "" and TrainHandlers(None).start_note() == ""
    demo = app.build_demo(weights, auto_reload_s=None, training=handlers.manager)
    notes = [b for b in demo.blocks.values() if isinstance(b, gr.Markdown) and b.elem_id == "train-start-note"]
    assert notes and not notes[0].visible


def test_on_zerogpu_the_app_trains_in_its_gpu_function(tmp_path, weights, monkeypatch):
    from gan.runs.zerogpu import ZeroGPULauncher

    def gpu_function(train_args, duration_s):
        return 0

    monkeypatch.setattr(app, "TRAIN_ON_GPU", gpu_function)
    monkeypatch.delenv("DIGITGAN_GPU_SECONDS", raising=False)
    manager = app.make_run_manager(ModelHolder(weights), allow_training=True, runs_dir=tmp_path / "runs")
    assert isinstance(manager.launcher, ZeroGPULauncher) and manager.launcher.train is gpu_function
    assert manager.launcher.gpu_seconds == 120
    assert "**On this ZeroGPU Space** a run trains on a GPU lent for at most **120 s**" in \
        TrainHandlers(manager).start_note()


# ----------------------------------------------------------------------------- launched, real train.py

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


API_DOCS = Path(__file__).resolve().parents[2] / "docs" / "app.md"


def readme_train_example() -> str:
    text = API_DOCS.read_text()
    section = text[text.index("<!-- train:start -->"): text.index("<!-- train:end -->")]
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", section, flags=re.S) if "gradio_client" in b]
    return code


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_gradio_client_runs_the_readme_example(tmp_path, weights, monkeypatch, capsys):
    holder = ModelHolder(weights)
    tiny = [*TINY_TRAIN_FLAGS, "--log-every", "5", "--sample-every", "20", "--ckpt-every", "1000"]
    manager = RunManager(tmp_path / "runs", extra_args=tiny, env=core_env(), niceness=0, stop_timeout_s=60,
                         served_weights=holder.folder, serve=lambda folder: holder.serve(folder).message)
    demo = app.build_demo(holder, auto_reload_s=None, concurrency_limit=2, training=manager)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    monkeypatch.chdir(tmp_path)
    try:
        code = readme_train_example()
        assert "time.sleep(60)" in code and "http://127.0.0.1:7860/" in code
        # the example's minute of training: here until the tiny run has drawn its first grid
        code = code.replace("time.sleep(60)",
                            "wait_until(lambda: (s := manager.status()) and s.grid_path and s.step, 90)")
        names = {"wait_until": wait_until, "manager": manager}
        exec(compile(code.replace("http://127.0.0.1:7860/", demo.local_url), "docs/app.md", "exec"), names)
        check_the_readme_run(names, manager, weights, capsys.readouterr().out)
    finally:
        kill_leftovers(manager)
        demo.close()


def check_the_readme_run(names, manager, weights, printed):
    client, run, status, served = names["client"], names["run"], names["status"], names["served"]
    assert status["state"] == "running" and status["step"] > 0 and status["grid_path"] == "samples.png"
    launches = json.loads((manager.runs_root / run / "run.json").read_text())["launches"]
    assert launches[0]["exit_code"] == 130 and launches[1]["argv"][-2:] == ["--steps", "4000"]
    original = weights_fingerprint(weights)
    assert served["weights_sha256"] != original and served["weights_sha256"] in printed
    assert load_generator(manager.runs_root / ".served" / served["served_folder"]).config.g_width == 8
    with Image.open(client.predict(3, 42, 1.0, api_name="/generate")) as im:
        assert im.text["weights_sha256"] == original  # the example ended with a revert
    assert client.predict(api_name="/train_status")["state"] == "running"  # resumed towards 4,000
    with pytest.raises(Exception, match="must be the name of a listed run"):
        client.predict("../../etc", api_name="/train_serve")
