"""app.py's handlers and command line, called directly (no server)."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

import app
from app_tabs.handlers import Handlers
from gan.config import ModelConfig
from gan.files import OutputFolder
from gan.inputs import random_seed
from gan.model.networks import Generator
from gan.model.weights import WEIGHTS_FILE, weights_fingerprint
from gan.serving.model_holder import ModelHolder
from gan.serving.render import GRID_MODES
from gan.serving.service import DigitService

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def handlers(app_weights, tmp_path):
    service = DigitService(ModelHolder(app_weights), output=OutputFolder(tmp_path / "out"),
                           auto_reload_s=None)
    return Handlers(service)


def test_generate_returns_a_png_file_with_provenance(handlers, app_weights):
    path = handlers.generate(7, 99, 0.6)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (280, 280)
        assert im.text["digit"] == "7" and im.text["seed"] == "99"
        assert im.text["truncation_psi"] == "0.6"
        assert im.text["weights_sha256"] == weights_fingerprint(app_weights)


@pytest.mark.parametrize("call, message", [
    (lambda h: h.generate(12, 1, 1.0), "digit must be a whole number from 0 to 9, got 12"),
    (lambda h: h.generate(3.5, 1, 1.0), "digit must be a whole number from 0 to 9, got 3.5"),
    (lambda h: h.generate(True, 1, 1.0), "got True"),
    (lambda h: h.generate(3, 2**32, 1.0), "seed must be a whole number from 0 to 4294967295"),
    (lambda h: h.generate(3, 1, math.nan), "truncation_psi must be a number from 0 to 1"),
    (lambda h: h.grid(0, 5, 1), "rows must be a whole number from 1 to 16, got 0"),
    (lambda h: h.grid(5, 10**6, 1), "cols must be a whole number from 1 to 16"),
    (lambda h: h.grid(5, 5, 1, "sideways"), "mode must be one of"),
    (lambda h: h.interpolate(3, 1, 8, 2, 100), "steps must be a whole number from 2 to 64"),
    (lambda h: h.interpolate(3, 1, 8, 2, 5, "spline"), "method must be one of 'slerp', 'lerp'"),
])
def test_bad_input_becomes_a_readable_gr_error(handlers, call, message):
    with pytest.raises(gr.Error) as info:
        call(handlers)
    assert message in info.value.message
    assert not info.value.print_exception  # no traceback in the server log either


def test_grid_and_interpolate(handlers):
    grid = handlers.grid(2, 5, 3, GRID_MODES[2], 0, 1.0)
    strip, gif = handlers.interpolate(3, 1, 8, 1, 4, "slerp", 0.7)
    with Image.open(grid) as im:
        assert im.text["mode"] == GRID_MODES[2]
    with Image.open(strip) as im:
        assert im.text["digits"] == "3,8"
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 6


def test_reload_reports_and_refuses(handlers, app_weights):
    assert "unchanged" in handlers.reload_weights()
    (app_weights / WEIGHTS_FILE).write_bytes(b"broken")
    with pytest.raises(gr.Error, match="still serving"):
        handlers.reload_weights()
    assert handlers.generate(1, 1, 1.0).is_file()


def test_model_tab_hides_missing_pictures(handlers, app_weights):
    Image.new("L", (8, 8)).save(app_weights / "loss_curve.png")
    markdown, details, samples, loss, progress, neighbours = handlers.model_tab()
    assert weights_fingerprint(app_weights) in markdown
    assert details["config"]["z_dim"] == ModelConfig().z_dim
    assert samples.visible is False and progress.visible is False and neighbours.visible is False
    assert loss.visible is True and str(loss.value["path"]).endswith(".png")


def test_how_it_works_and_dice(handlers):
    assert "projection discriminator" in handlers.how_it_works()
    # the dice use the OS-entropy seed source tested in test_serving (global RNGs untouched)
    assert handlers.random_seed is random_seed


@pytest.mark.parametrize("make_source", [
    lambda folder: folder, lambda folder: str(folder), lambda folder: ModelHolder(folder),
    lambda folder: DigitService(ModelHolder(folder)),
    lambda folder: Generator(ModelConfig(g_width=8))])
def test_build_demo_accepts_any_model_source(app_weights, make_source):
    demo = app.build_demo(make_source(app_weights))
    assert isinstance(demo, gr.Blocks)
    path = demo(1, 2, 1.0, api_name="generate")  # the Blocks run in-process
    assert Path(path).is_file()


# ----------------------------------------------------------------------------- command line

def test_main_refuses_a_missing_folder_without_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(app, "configure_cpu_threads", lambda threads: 1)
    folder = tmp_path / "no-weights"
    assert app.main(["--weights", str(folder)]) == 2
    err = capsys.readouterr().err
    assert str(folder) in err and f"python train.py --data-dir DIR --export-dir {folder}" in err
    assert "Traceback" not in err


def test_main_refuses_broken_weights(app_weights, capsys, monkeypatch):
    monkeypatch.setattr(app, "configure_cpu_threads", lambda threads: 1)
    (app_weights / WEIGHTS_FILE).write_bytes(b"")
    assert app.main(["--weights", str(app_weights)]) == 2
    err = capsys.readouterr().err
    assert "not a valid safetensors file" in err and "python train.py" in err


def test_main_sets_threads_and_passes_host_and_port(app_weights, monkeypatch):
    calls = {}
    monkeypatch.setattr(app, "configure_cpu_threads", lambda threads: calls.setdefault("threads", threads) or 1)
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: calls.setdefault("launch", kw))
    assert app.main(["--weights", str(app_weights), "--host", "0.0.0.0", "--port", "8123",
                     "--concurrency", "3", "--max-queue", "10"]) == 0
    assert calls["threads"] == 1
    assert calls["launch"]["server_name"] == "0.0.0.0" and calls["launch"]["server_port"] == 8123
    assert "pixelated" in calls["launch"]["css"]


def test_main_leaves_host_and_port_to_gradio_env_vars(app_weights, monkeypatch):
    calls = {}
    monkeypatch.setattr(app, "configure_cpu_threads", lambda threads: 1)
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: calls.setdefault("launch", kw))
    assert app.main(["--weights", str(app_weights)]) == 0
    # None: gradio then reads GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
    assert calls["launch"]["server_name"] is None and calls["launch"]["server_port"] is None


@pytest.mark.parametrize("argv", [["--port", "0"], ["--port", "70000"], ["--threads", "-1"],
                                  ["--max-queue", "0"], ["--watch", "-1"], ["--port", "x"]])
def test_bad_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as info:
        app.parse_args(argv)
    assert info.value.code == 2


def test_importing_app_loads_no_weights():
    assert "demo" not in vars(app)  # built on first access only


def test_module_level_demo_without_weights_shows_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(app, "configure_cpu_threads", lambda threads: 1)
    monkeypatch.setattr(app, "DEFAULT_WEIGHTS", str(tmp_path / "missing"))
    try:
        demo = app.demo
        assert isinstance(demo, gr.Blocks)
        text = " ".join(str(b.value) for b in demo.blocks.values() if isinstance(b, gr.Markdown))
        assert "No model to serve" in text and "--export-dir" in text
    finally:
        vars(app).pop("demo", None)


@pytest.mark.slow
def test_python_app_py_exits_cleanly_without_weights(tmp_path):
    folder = tmp_path / "nothing-here"
    proc = subprocess.run([sys.executable, app.__file__, "--weights", str(folder)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert str(folder) in proc.stderr and "python train.py --data-dir DIR --export-dir" in proc.stderr
    assert "Traceback" not in proc.stderr
