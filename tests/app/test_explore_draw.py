"""The Explore and Draw tabs without a server: their handlers called directly and the Blocks
called in-process (/explore, /restyle), on the shipped weights and drawings made with PIL.

/draw takes an uploaded file, which the in-process Blocks call cannot send; it is tested
here through its handler and over HTTP in tests/app/test_client_explore_draw.py.
"""
from __future__ import annotations

import contextlib
import json
import math
import threading
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch

import app
from app_tabs.draw import NO_VIEWS, DrawHandlers
from app_tabs.explore import DIRECTION_SLOTS, ExploreHandlers
from gan.inputs import parse_edit_spec, random_seed
from gan.latent.codec import encode_latent
from gan.model.sampling import latents_from_seeds
from gan.model.weights import weights_fingerprint
from tests.support.drawings import ONE, SEVEN, all_ink, blank, draw_strokes, file_bytes, read_png, speck

pytestmark = pytest.mark.timeout(120)

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
NAMES = ["slant", "thickness", "width", "height"]  # the named directions the shipped weights measured


@pytest.fixture(scope="module")
def service():
    return app.make_service(WEIGHTS, auto_reload_s=None)


@pytest.fixture(scope="module")
def demo(service):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the app serves: one thread per request
    yield app.build_demo(service, concurrency_limit=2, max_queue=16)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def explore(service):
    return ExploreHandlers(service, random_seed)


@pytest.fixture(scope="module")
def draw(service):
    return DrawHandlers(service)


@pytest.fixture(scope="module")
def seven_views(draw):
    """What the page gets when a stroke of a 7 ends (black on transparent): the search and
    the style row and morph, in one answer."""
    sketch = np.asarray(draw_strokes(SEVEN, "sketch"))
    return draw.sketch_views({"background": None, "layers": [sketch], "composite": sketch}, "auto",
                             1.0, "{}", 8, 12)


@pytest.fixture(scope="module")
def found_seven(seven_views):
    """(drawing as the model sees it, reading, reconstruction, latent, searched digit)."""
    return seven_views[:5]


@contextlib.contextmanager
def on_the_page():
    """Run a handler as if the app's page had sent the event (Gradio's header for its calls)."""
    from gradio.context import LocalContext

    token = LocalContext.request.set(SimpleNamespace(headers={"x-gradio-user": "app"}))
    try:
        yield
    finally:
        LocalContext.request.reset(token)


def endpoint(demo, name):
    return next(fn for fn in demo.fns.values() if fn.api_name == name)


def refused(call, message: str) -> None:
    with pytest.raises(gr.Error) as info:
        call()
    assert message in info.value.message
    assert not info.value.print_exception


# ----------------------------------------------------------------------------- Explore

def test_sliders_are_labelled_with_the_directions(explore, service):
    names = service.latent_directions().names
    assert names[:4] == NAMES and len(names) == DIRECTION_SLOTS
    updates = explore.sliders()
    assert len(updates) == DIRECTION_SLOTS and all(u.visible for u in updates)
    assert updates[0].label.startswith("slant") and "std of real MNIST" in updates[0].info
    assert explore.reset() == [0.0] * DIRECTION_SLOTS


def test_view_draws_the_edit_and_the_row(explore):
    values = [1.5, 0, 0, 0, 0, 0, 0, -1.0]
    image, row, edit = explore.view(3, 42, 0.8, *values)
    pixels, meta = read_png(image)
    assert pixels.shape == (280, 280) and pixels.std() > 0
    assert (meta["digit"], meta["seed"], meta["truncation_psi"]) == ("3", "42", "0.8")
    assert meta["edit"] == "slant=1.5,direction_8=-1.0"
    assert meta["strengths"] == "1.5,0.0,0.0,0.0,0.0,0.0,0.0,-1.0"
    assert meta["weights_sha256"] == weights_fingerprint(WEIGHTS)
    _, row_meta = read_png(row)
    assert row_meta["digits"] == "0,1,2,3,4,5,6,7,8,9" and row_meta["edit"] == meta["edit"]
    assert json.loads(edit) == {"slant": 1.5, "direction_8": -1.0}


def test_redraw_relabels_then_draws(explore):
    out = explore.redraw(2, 7, 1.0, *[0.0] * DIRECTION_SLOTS)
    assert len(out) == DIRECTION_SLOTS + 4  # sliders, image, row, edit, table
    assert read_png(out[DIRECTION_SLOTS])[1]["edit"] == "none" and out[-2] == "{}"
    assert "| slant → | `slant` |" in out[-1] and "class change" in out[-1]


def test_explore_endpoint_same_edit_same_bytes(demo):
    as_list = [1.5, 0, 0, -2, 0, 0, 0, 0]
    as_object = {"slant": 1.5, "height": -2}
    paths = [demo(3, 42, strengths, 0.8, api_name="explore")
             for strengths in (as_list, as_object, json.dumps(as_object), json.dumps(as_list))]
    assert len({file_bytes(p) for p in paths}) == 1
    assert read_png(paths[0])[1]["edit"] == "slant=1.5,height=-2.0"
    other = demo(3, 42, {"slant": 1.6, "height": -2}, 0.8, api_name="explore")
    assert not np.array_equal(read_png(other)[0], read_png(paths[0])[0])


def test_no_edit_is_the_generate_tab_digit(demo):
    explored = demo(5, 1234, {}, 0.7, api_name="explore")
    generated = demo(5, 1234, 0.7, api_name="generate")
    assert np.array_equal(read_png(explored)[0], read_png(generated)[0])


@pytest.mark.parametrize("args, message", [
    ((3, 1, {"bogus": 1.0}, 1.0), "unknown direction 'bogus' in strengths; known: slant, thickness"),
    ((3, 1, [1.0, 2.0], 1.0), "strengths must hold 8 numbers, one per direction"),
    ((3, 1, [0.0] * 9, 1.0), "strengths must hold 8 numbers"),
    ((3, 1, [math.nan] + [0.0] * 7, 1.0), "strength of 'slant' must be a number from -3 to 3"),
    ((3, 1, "[NaN, 0, 0, 0, 0, 0, 0, 0]", 1.0), "strength of 'slant' must be a number from -3 to 3"),
    ((3, 1, {"width": math.inf}, 1.0), "strength of 'width' must be a number from -3 to 3"),
    ((3, 1, {"slant": 3.5}, 1.0), "got 3.5"),
    ((3, 1, {"slant": "big"}, 1.0), "strength of 'slant' must be a number"),
    ((3, 1, {"slant": True}, 1.0), "got True"),
    ((3, 1, "slant=1", 1.0), "strengths text must be JSON"),
    ((3, 1, 7, 1.0), "strengths must be a list of 8 numbers, an object keyed by direction name"),
    ((10, 1, {}, 1.0), "digit must be a whole number from 0 to 9, got 10"),
    ((3, -1, {}, 1.0), "seed must be a whole number from 0 to 4294967295"),
    ((3, 1, {}, 1.5), "truncation_psi must be a number from 0 to 1"),
])
def test_explore_endpoint_refuses_bad_input(demo, args, message):
    with pytest.raises(gr.Error) as info:
        demo(*args, api_name="explore")
    assert message in str(info.value)


def test_tab_wiring(demo):
    public = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert {"explore", "draw", "restyle"} <= public
    params = demo.get_api_info()["named_endpoints"]
    for name, first in [("explore", ["digit", "seed", "strengths", "truncation_psi"]),
                        ("draw", ["image", "digit"]), ("restyle", ["latent", "truncation_psi", "strengths"])]:
        assert [p["parameter_name"] for p in params[f"/{name}"]["parameters"]] == first
    view = next(fn for fn in demo.fns.values() if fn.name == "view")
    assert {event for _, event in view.targets} == {"change"} and view.trigger_mode == "always_last"
    assert len(view.inputs) == 3 + DIRECTION_SLOTS  # digit, seed, psi and every slider: live
    # the page opens on a drawn digit, not an empty picture (once a link's view, if any, is set)
    loads = {key for key, fn in demo.fns.items() if any(event == "load" for _, event in fn.targets)}
    on_load = [fn for fn in demo.fns.values() if fn.trigger_after in loads]
    assert any("explore-image" in [getattr(o, "elem_id", None) for o in fn.outputs] for fn in on_load)


def test_unmeasured_directions_are_labelled_as_such(app_weights, tmp_path):
    from gan.files import OutputFolder
    from gan.latent.direction_search import closed_form_directions
    from gan.serving.direction_cache import DirectionCache
    from gan.serving.model_holder import ModelHolder
    from gan.serving.service import DigitService

    held = threading.Event()

    def search_held_back(generator, *, settings, weights_sha256):  # the measured set never comes
        held.wait(60)
        return closed_form_directions(generator, weights_sha256=weights_sha256)

    service = DigitService(ModelHolder(app_weights), output=OutputFolder(tmp_path), auto_reload_s=None,
                           directions=DirectionCache(search=search_held_back))
    handlers = ExploreHandlers(service, random_seed)
    updates = handlers.sliders()
    assert [u.label for u in updates] == [f"direction {i}" for i in range(1, 9)]
    assert all(u.info == "not measured yet" for u in updates)
    assert "not measured yet" in handlers.table() and "| direction 1 | `direction_1` |" in handlers.table()
    held.set()


# ----------------------------------------------------------------------------- Draw

def test_draw_finds_the_sketch(found_seven):
    drawing, reading, found, latent, digit_used = found_seven
    pixels, meta = read_png(drawing)
    assert pixels.shape == (280, 280) and pixels.std() > 0
    assert meta["weights_sha256"] == weights_fingerprint(WEIGHTS)
    assert max(reading, key=reading.get) == "7" and len(reading) == 3 and digit_used == 7
    recon, meta = read_png(found)
    assert recon.shape == (280, 280) and recon.std() > 0
    assert (meta["digit"], meta["digit_source"], meta["latent"]) == ("7", "the classifier's reading", latent)
    assert latent.startswith("z1.") and float(meta["pixel_rms_distance"]) < 0.35


def test_any_polarity_is_the_same_drawing(draw, found_seven):
    """White ink on black is seen as the transparent sketch was: same view, same latent."""
    chalk = draw.draw(np.asarray(draw_strokes(SEVEN, "chalk")), "auto")
    assert np.array_equal(read_png(chalk[0])[0], read_png(found_seven[0])[0])
    assert chalk[3] == found_seven[3] and chalk[4] == 7


def test_the_digit_override_is_respected(draw, found_seven):
    paper = draw_strokes(SEVEN, "paper")  # a PIL image, as an upload arrives
    drawing, reading, found, latent, digit_used = draw.draw(paper, 1)
    assert digit_used == 1 and reading == found_seven[1]
    _, meta = read_png(found)
    assert (meta["digit"], meta["digit_source"]) == ("1", "chosen by the visitor")
    assert latent != found_seven[3]


def test_one_stroke_brings_the_row_and_the_morph(seven_views, found_seven):
    row, strip, gif = seven_views[5:]
    _, meta = read_png(row)
    assert meta["latent"] == found_seven[3] and meta["digits"] == "0,1,2,3,4,5,6,7,8,9"
    _, meta = read_png(strip)
    assert (meta["digit_a"], meta["digit_b"], meta["steps"]) == ("7", "8", "12")
    assert Path(gif).read_bytes()[:6] == b"GIF89a"


@pytest.mark.parametrize("sketch", [None, {"composite": None, "layers": []},
                                    {"composite": np.asarray(blank("sketch")), "layers": []},
                                    {"composite": np.full((280, 280, 4), 255, np.uint8), "layers": []}])
def test_a_cleared_canvas_clears_its_views_quietly(draw, sketch):
    assert draw.sketch_views(sketch, "auto") == NO_VIEWS


def test_find_without_a_drawing_or_an_upload_says_so(draw):
    refused(lambda: draw.find_views(None, None, "auto"),
            "Draw a digit on the canvas (or upload a picture of one) first")


def test_on_the_page_a_refusal_is_one_warning_and_the_outputs_keep_what_they_showed(draw):
    with on_the_page(), pytest.warns(UserWarning, match="the drawing is a tiny speck"):
        result = draw.sketch_views({"composite": np.asarray(speck("paper"))}, "auto")
    assert result == gr.skip()
    with on_the_page():
        assert draw.restyle("", 1.0, "{}") is None  # the empty box before a search: quiet
    refused(lambda: draw.restyle("", 1.0, "{}"), "latent is missing")  # the API says so


@pytest.mark.parametrize("image, digit, message", [
    (None, "auto", "image is missing: upload a picture of a digit"),
    ("/etc/passwd", "auto", "image must be an uploaded file"),
    ({"path": "/etc/passwd"}, "auto", "image must be a file uploaded to this app"),
    (blank("sketch"), "auto", "the canvas is empty"),
    (blank("paper"), "auto", "the canvas is empty"),
    (speck("paper"), "auto", "the drawing is a tiny speck"),
    (all_ink("paper"), "auto", "that is no digit"),
    (all_ink("chalk"), "auto", "that is no digit"),
    (np.zeros((4100, 4100), np.uint8), "auto", "image is too large: 4100x4100"),
    (blank("paper", size=5000), "auto", "image is too large: 5000x5000"),
    (np.zeros((280, 280), np.uint16), "auto", "must be uint8, bool or float (0..1)"),
    (np.full((280, 280), 200.0), "auto", "a float image must have values from 0 to 1"),
    (np.zeros((280, 280, 5), np.uint8), "auto", "with C in 1..4"),
    (draw_strokes(ONE, "paper"), 10, "digit must be 'auto' or a whole number from 0 to 9, got 10"),
    (draw_strokes(ONE, "paper"), "3", "digit must be 'auto' or a whole number from 0 to 9, got '3'"),
])
def test_unusable_drawings_get_a_clear_message(draw, image, digit, message):
    refused(lambda: draw.draw(image, digit), message)


# ----------------------------------------------------------------------------- Restyle and morph

def test_restyle_remakes_its_png_from_the_provenance(demo, found_seven):
    latent = found_seven[3]
    first = demo(latent, 0.9, "{}", api_name="restyle")
    pixels, meta = read_png(first)
    assert meta["latent"] == latent and meta["digits"] == "0,1,2,3,4,5,6,7,8,9" and pixels.std() > 0
    again = demo(meta["latent"], float(meta["truncation_psi"]), "{}", api_name="restyle")
    assert file_bytes(again) == file_bytes(first)


def test_restyle_takes_a_list_and_an_edit(demo, draw, service):
    z = latents_from_seeds([5], 64)[0]
    as_text = demo(encode_latent(z), 1.0, "{}", api_name="restyle")
    as_list = demo(z.tolist(), 1.0, "{}", api_name="restyle")  # the latent box passes lists on
    assert file_bytes(as_list) == file_bytes(as_text)
    edited = demo(z.tolist(), 1.0, {"slant": 2.0}, api_name="restyle")
    pixels, meta = read_png(edited)
    assert meta["edit"] == "slant=2.0" and not np.array_equal(pixels, read_png(as_text)[0])
    remade = demo(meta["latent"], 1.0, parse_edit_spec(meta["edit"], service.latent_directions().names),
                  api_name="restyle")
    assert file_bytes(remade) == file_bytes(edited)


def _encoded(values) -> str:
    return encode_latent(np.asarray(values, dtype=np.float32))


@pytest.mark.parametrize("latent, message", [
    ([0.1] * 10, "latent must hold 64 numbers, got 10"),
    ([0.1] * 65, "latent must hold 64 numbers, got 65"),
    ([], "latent must hold 64 numbers, got 0"),
    ([math.nan] + [0.0] * 63, "latent must hold finite numbers"),
    ([math.inf] + [0.0] * 63, "latent must hold finite numbers"),
    ([100.0] * 64, "latent norm must be at most 20"),
    (["a"] * 64, "latent must hold only numbers"),
    ([True] * 64, "latent must hold only numbers"),
    ("hello", "latent text must start with 'z1.'"),
    ("z1.!!not*base64", "is not urlsafe base64"),
    (_encoded([0.5] * 10), "latent must hold 64 numbers, the text holds 10"),
    (_encoded([math.nan] * 64), "latent must hold finite numbers"),
    (_encoded([9.0] * 64), "latent norm must be at most 20"),
    ("z1." + "A" * 70_000, "at most 65536 characters"),
    ({"z": 1}, "latent must be a list of 64 numbers or text starting with 'z1.'"),
])
def test_restyle_refuses_bad_latents(demo, latent, message):
    with pytest.raises(gr.Error) as info:
        demo(latent, 1.0, "{}", api_name="restyle")
    assert message in str(info.value)


def test_restyle_refuses_bad_strengths_and_psi(demo, found_seven):
    for strengths, psi, message in [({"bogus": 1}, 1.0, "unknown direction 'bogus'"),
                                    ([1, 2], 1.0, "strengths must hold 8 numbers"),
                                    ({}, math.nan, "truncation_psi must be a number from 0 to 1")]:
        with pytest.raises(gr.Error) as info:
            demo(found_seven[3], psi, strengths, api_name="restyle")
        assert message in str(info.value)


def test_morph_keeps_the_style(draw, found_seven):
    strip, gif = draw.morph(found_seven[3], 7, 1, 5, 1.0)
    _, meta = read_png(strip)
    assert (meta["digit_a"], meta["digit_b"], meta["steps"], meta["latent"]) == ("7", "1", "5", found_seven[3])
    assert Path(gif).read_bytes()[:6] == b"GIF89a"
    assert draw.morph("", 7, 1, 5, 1.0) == (None, None)
    assert draw.morph(found_seven[3], None, 1, 5, 1.0) == (None, None)  # a pasted latent: no digit yet
    refused(lambda: draw.morph("z1.oops", 7, 1, 5, 1.0), "latent")


def test_steering_sliders_write_the_edit(draw):
    assert json.loads(draw.edit_json(1.0, 0.0, -0.5, *[0.0] * 5)) == {"slant": 1.0, "width": -0.5}
