"""The Learn tab and /timeline: the served weights' training timeline through the service,
the handlers, the Blocks in-process and the launched app over HTTP."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client

import app
from app_tabs.learn import LearnHandlers
from gan.files import OutputFolder
from gan.model.timeline import load_timeline
from gan.model.weights import TIMELINE_FILE
from gan.serving.model_holder import ModelHolder
from gan.serving.render import GRID_MODES
from gan.serving.service import DigitService
from gan.training.loop import train
from tests.support.browser import free_port
from tests.support.png_files import pixels, text_chunks

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def timeline_weights(tmp_path_factory):
    """Weights exported by a tiny run, with their timeline (frames at steps 0, 2, 4, 6)."""
    from gan.config import ModelConfig, TrainConfig

    folder = tmp_path_factory.mktemp("learn")
    cfg = TrainConfig(model=ModelConfig(g_width=8, d_width=8), synthetic_size=64, run_dir=str(folder / "run"),
                      export_dir=str(folder / "weights"), steps=6, batch_size=8, seed=0, device="cpu", threads=1,
                      log_every=2, sample_every=2, metrics_every=0, ckpt_every=1000)
    return train(cfg, progress=False, log=lambda line: None).export_dir


@pytest.fixture
def learn_service(timeline_weights, tmp_path):
    return DigitService(ModelHolder(timeline_weights), output=OutputFolder(tmp_path / "out"), auto_reload_s=None)


def test_a_step_is_a_grid_with_provenance_and_its_step(learn_service, timeline_weights):
    assert learn_service.timeline_steps() == [0, 2, 4, 6]
    path = learn_service.timeline(2)
    chunks = text_chunks(path)
    assert chunks["step"] == "2" and chunks["rows"] == "10" and chunks["cols"] == "10"
    assert chunks["mode"] == GRID_MODES[0] and chunks["weights_sha256"] == learn_service.model().fingerprint
    timeline = load_timeline(timeline_weights)
    scale = int(chunks["scale"])
    tile = pixels(path)[2 * scale: 30 * scale: scale, 2 * scale: 30 * scale: scale]  # digit 0, seed 0
    assert np.array_equal(tile, timeline.frames[1, 0, 0])


def test_the_last_step_is_what_grid_draws(learn_service):
    last = pixels(learn_service.timeline(6))
    grid = pixels(learn_service.grid(10, 10, 0, GRID_MODES[0], 0, 1.0))
    assert np.array_equal(last, grid)


@pytest.mark.parametrize("step, message", [
    (3, "step 3 is not in the timeline (its 4 steps run from 0 to 6); the nearest: 2 and 4"),
    (7, "step must be a whole number from 0 to 6, got 7"),
    (-1, "step must be a whole number from 0 to 6, got -1"),
    ("abc", "step must be a whole number from 0 to 6, got 'abc'"),
    (2.5, "got 2.5"),
    (True, "got True"),
    (float("nan"), "got nan"),
])
def test_a_step_the_timeline_lacks_is_refused_with_what_is_allowed(learn_service, step, message):
    with pytest.raises(ValueError) as info:
        learn_service.timeline(step)
    assert message in str(info.value)


def test_the_curves_and_caption(learn_service):
    view = learn_service.timeline_view(4)
    assert view.caption.startswith("**Step 4** of 6") and "D's realness: real" in view.caption
    assert view.curves.read_bytes().startswith(b"\x89PNG")


def test_weights_without_a_timeline_say_how_to_get_one_and_the_rest_works(service):
    with pytest.raises(ValueError, match="no timeline.safetensors") as info:
        service.timeline_steps()
    assert "train.py" in info.value.advice()
    handlers = LearnHandlers(service)
    slider, step, message, player = handlers.overview()
    assert not slider.visible and message.visible and "train.py" in message.value and not player.visible
    with pytest.raises(gr.Error, match="no timeline.safetensors"):
        handlers.timeline(0)
    assert service.generate(3, 1).is_file()  # every other tab keeps working


def test_a_timeline_of_other_weights_is_not_shown(timeline_weights, app_weights, tmp_path):
    (app_weights / TIMELINE_FILE).write_bytes((timeline_weights / TIMELINE_FILE).read_bytes())
    other = DigitService(ModelHolder(app_weights), output=OutputFolder(tmp_path / "o"), auto_reload_s=None)
    with pytest.raises(ValueError, match="last frame is not what the weights beside it draw"):
        other.timeline_steps()


def test_the_handlers_drive_the_player(learn_service):
    handlers = LearnHandlers(learn_service)
    slider, step, message, player = handlers.overview()
    assert (slider.maximum, slider.value, step.value, message.visible, player.visible) == (3, 3, 6, False, True)
    assert handlers.step_of(1) == 2
    timer, button, start = handlers.toggle("▶ Play", 3)  # at the end: plays from the first frame
    assert timer.active and button.value.startswith("⏸") and start == 0
    assert handlers.advance(0)[0] == 1
    index, timer, button = handlers.advance(3)
    assert timer.active is False and button.value.startswith("▶")
    caption, curves = handlers.details(4)
    assert "Step 4" in caption and curves.is_file()


def test_the_blocks_name_the_endpoint(timeline_weights):
    demo = app.build_demo(timeline_weights, auto_reload_s=None)
    names = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert "timeline" in names


@pytest.mark.slow
def test_the_launched_app_answers_timeline(timeline_weights, tmp_path):
    demo = app.build_demo(timeline_weights, auto_reload_s=None)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False, download_files=str(tmp_path / "dl"))
        last = client.predict(6, api_name="/timeline")
        timeline = load_timeline(timeline_weights)
        chunks = text_chunks(last)
        scale = int(chunks["scale"])
        cells = pixels(last)[::scale, ::scale]
        frame = np.stack([cells[2 + r * 30: 30 + r * 30, 2 + c * 30: 30 + c * 30]
                          for r in range(10) for c in range(10)]).reshape(10, 10, 28, 28)
        assert chunks["step"] == "6" and np.array_equal(frame, timeline.frames[-1])
        with pytest.raises(Exception, match="step 5 is not in the timeline"):
            client.predict(5, api_name="/timeline")
    finally:
        demo.close()
