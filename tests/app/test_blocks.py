"""The Blocks app in-process: endpoints, wiring, and Gradio's pre/postprocessing (no server)."""
from __future__ import annotations

import gradio as gr
import pytest
from PIL import Image

import app
from gan.config import ModelConfig
from gan.model.networks import Generator
from gan.model.weights import save_generator, weights_fingerprint
from gan.serving.render import GRID_MODES

pytestmark = pytest.mark.timeout(120)

# The demo's own endpoints; the operator's (reload, the Train tab's) are public only where the
# operator allows training, and otherwise callable but undocumented (no API docs, no MCP tool).
PUBLIC = {"generate", "grid", "interpolate", "explore", "draw", "restyle", "timeline"}
OPERATOR = {"reload", "train_start", "train_status", "train_stop", "train_resume", "train_serve", "train_revert",
            "train_push"}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    import torch

    with torch.random.fork_rng(devices=[]):
        generator = Generator(ModelConfig())
    return save_generator(generator, tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def demo(weights):
    return app.build_demo(weights, auto_reload_s=None, concurrency_limit=2, max_queue=16)


def endpoint(demo, name):
    return next(fn for fn in demo.fns.values() if fn.api_name == name)


def test_only_the_named_endpoints_are_public(demo):
    """What a client sees of the app's API: the named endpoints and nothing else."""
    api = demo.get_api_info()
    assert set(api["named_endpoints"]) == {f"/{n}" for n in PUBLIC}
    assert not api.get("unnamed_endpoints")
    assert {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "undocumented"} == OPERATOR


def test_with_training_allowed_the_operator_endpoints_are_public(weights, tmp_path):
    from gan.serving.model_holder import ModelHolder

    holder = ModelHolder(weights)
    demo = app.build_demo(holder, auto_reload_s=None,
                          training=app.make_run_manager(holder, allow_training=True, runs_dir=tmp_path / "runs"))
    assert set(demo.get_api_info()["named_endpoints"]) == {f"/{n}" for n in PUBLIC | OPERATOR}


@pytest.mark.parametrize("name, first", [
    ("generate", ["digit", "seed", "truncation_psi"]),
    ("grid", ["rows", "cols", "seed"]),
    ("interpolate", ["digit_a", "seed_a", "digit_b", "seed_b", "steps"]),
    ("timeline", ["step"]),
    ("reload", [])])
def test_parameter_order(demo, name, first):
    params = demo.get_api_info(all_endpoints=True)["named_endpoints"][f"/{name}"]["parameters"]
    names = [p["parameter_name"] for p in params]
    assert names[:len(first)] == first
    assert all(p["parameter_has_default"] for p in params[len(first):])


def test_integer_parameters_are_documented_as_integers(demo):
    params = {p["parameter_name"]: p for p in
              demo.get_api_info()["named_endpoints"]["/generate"]["parameters"]}
    assert params["digit"]["type"]["type"] == "integer"
    assert params["seed"]["type"]["type"] == "integer"


def test_queue_limits(weights, monkeypatch):
    asked = {}
    real_queue = gr.Blocks.queue

    def recording_queue(self, **kwargs):
        asked.update(kwargs)
        return real_queue(self, **kwargs)

    monkeypatch.setattr(gr.Blocks, "queue", recording_queue)
    demo = app.build_demo(weights, auto_reload_s=None, concurrency_limit=3, max_queue=16)
    assert asked == {"default_concurrency_limit": 3, "max_size": 16}
    assert endpoint(demo, "reload").concurrency_limit == 1  # one reload at a time


def test_images_are_served_as_png_files(demo):
    for name, args in (("generate", (1, 2, 1.0)), ("grid", (2, 2, 0, GRID_MODES[0], 0, 1.0)),
                       ("interpolate", (1, 2, 3, 4, 4, "slerp", 1.0))):
        result = demo(*args, api_name=name)
        for path in (result if isinstance(result, (list, tuple)) else [result]):
            with Image.open(path) as im:
                assert im.format in ("PNG", "GIF"), (name, im.format)


def test_generate_through_gradio_keeps_the_png_metadata(demo, weights):
    path = demo(3, 42, 0.8, api_name="generate")
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.text["digit"] == "3" and im.text["seed"] == "42"
        assert im.text["weights_sha256"] == weights_fingerprint(weights)


def test_grid_and_interpolate_through_gradio(demo):
    grid = demo(4, 4, 9, GRID_MODES[1], 2, 1.0, api_name="grid")
    with Image.open(grid) as im:
        assert im.text["digits"] == ",".join(["2"] * 16)
    strip, gif = demo(3, 1, 8, 2, 5, "lerp", 0.9, api_name="interpolate")
    with Image.open(strip) as im:
        assert im.text["method"] == "lerp" and im.text["steps"] == "5"
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 8


def test_reload_through_gradio(demo):
    assert "unchanged" in demo(api_name="reload")


@pytest.mark.parametrize("args, api_name, message", [
    ((11, 1, 1.0), "generate", "digit must be a whole number from 0 to 9, got 11"),
    (("three", 1, 1.0), "generate", "digit must be a whole number from 0 to 9, got 'three'"),
    ((3, "x", 1.0), "generate", "seed must be a whole number"),
    ((3, 2.5, 1.0), "generate", "seed must be a whole number"),
    ((3, 1, -0.5), "generate", "truncation_psi must be a number from 0 to 1"),
    ((17, 4, 0, GRID_MODES[0], 0, 1.0), "grid", "rows must be a whole number from 1 to 16, got 17"),
    ((4, True, 0, GRID_MODES[0], 0, 1.0), "grid", "cols must be a whole number from 1 to 16, got True"),
    ((3, 1, 8, 2, 1, "slerp", 1.0), "interpolate", "steps must be a whole number from 2 to 64, got 1"),
])
def test_bad_input_through_gradio(demo, args, api_name, message):
    with pytest.raises(gr.Error) as info:
        demo(*args, api_name=api_name)
    assert message in str(info.value)


def test_the_tabs_hold_only_tabs(demo):
    """Anything else directly inside gr.Tabs (a Timer, a State) shifts the tab bar's labels: the
    page then shows one tab's name twice and loses another."""
    (tabs,) = [block for block in demo.blocks.values() if isinstance(block, gr.Tabs)]
    assert tabs.children and all(isinstance(child, gr.Tab) for child in tabs.children)
    assert [child.id for child in tabs.children] == ["generate", "grid", "interpolate", "explore", "draw", "learn",
                                                     "model", "how", "train"]
