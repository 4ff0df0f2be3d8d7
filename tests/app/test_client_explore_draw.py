"""/explore, /draw and /restyle of the launched app, driven over HTTP with gradio_client as an
API user would: shipped weights, drawings made with PIL and uploaded as PNG files."""
from __future__ import annotations

import json
import socket
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file

import app
from gan.inputs import MAX_DIRECTION_STRENGTH
from gan.model.weights import weights_fingerprint
from tests.support.drawings import (
    BAD_UPLOADS,
    SEVEN,
    all_ink,
    blank,
    draw_strokes,
    file_bytes,
    read_png,
    save_png,
    speck,
    write_bad_uploads,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `python app.py` serves: one thread per request
    demo = app.build_demo(WEIGHTS, auto_reload_s=None, concurrency_limit=2, max_queue=32)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield SimpleNamespace(url=demo.local_url, demo=demo)
    finally:
        demo.close()
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def client(served, tmp_path_factory):
    return Client(served.url, verbose=False, download_files=str(tmp_path_factory.mktemp("dl")))


@pytest.fixture(scope="module")
def drawings(tmp_path_factory) -> SimpleNamespace:
    """PNG files as a visitor would upload them."""
    folder = tmp_path_factory.mktemp("drawings")
    files = {"sketch": draw_strokes(SEVEN, "sketch"), "paper": draw_strokes(SEVEN, "paper"),
             "blank": blank("sketch"), "speck": speck("paper"), "all_ink": all_ink("paper"),
             "huge": blank("paper", size=5000)}
    paths = {name: save_png(image, folder / f"{name}.png") for name, image in files.items()}
    bad = write_bad_uploads(folder / "bad")
    return SimpleNamespace(**paths, bad=bad)


@pytest.fixture(scope="module")
def found(client, drawings):
    """/draw of the transparent sketch of a 7, searched as the classifier reads it."""
    return client.predict(handle_file(drawings.sketch), "auto", api_name="/draw")


def raise_message(call) -> str:
    with pytest.raises(Exception) as info:
        call()
    assert "Traceback" not in str(info.value)
    return str(info.value)


def test_the_endpoints_document_their_types(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/explore", "/draw", "/restyle"} <= set(api)
    types = {p["parameter_name"]: p["python_type"]["type"] for p in api["/draw"]["parameters"]}
    assert types["digit"] == "Literal['auto'] | int"
    assert [p["parameter_name"] for p in api["/restyle"]["parameters"]] == ["latent", "truncation_psi", "strengths"]


def test_explore_list_object_and_text_give_the_same_png(client):
    as_list = [1.5, 0, 0, 0, 0, 0, 0, -1]
    as_object = {"slant": 1.5, "direction_8": -1}
    paths = [client.predict(3, 42, s, 0.8, api_name="/explore")
             for s in (as_list, as_object, json.dumps(as_object), as_list)]
    assert len({file_bytes(p) for p in paths}) == 1  # same inputs, same bytes, however sent
    pixels, meta = read_png(paths[0])
    assert pixels.shape == (280, 280) and pixels.std() > 0
    assert (meta["digit"], meta["seed"], meta["truncation_psi"]) == ("3", "42", "0.8")
    assert meta["edit"] == "slant=1.5,direction_8=-1.0" and meta["strengths"].split(",")[0] == "1.5"
    assert meta["directions"].startswith("slant,thickness,width,height")
    assert meta["weights_sha256"] == weights_fingerprint(WEIGHTS)
    _, meta = read_png(client.predict(digit=3, seed=42, strengths={}, api_name="/explore"))
    assert (meta["edit"], meta["truncation_psi"]) == ("none", "1.0")


@pytest.mark.parametrize("strengths, message", [
    ({"curliness": 1}, "unknown direction 'curliness' in strengths; known: slant"),
    ([1, 2, 3], "strengths must hold 8 numbers, one per direction"),
    ({"slant": MAX_DIRECTION_STRENGTH + 0.5}, "strength of 'slant' must be a number from -3 to 3"),
    ("[NaN, 0, 0, 0, 0, 0, 0, 0]", "strength of 'slant' must be a number from -3 to 3"),
    ("{'slant': 1}", "strengths text must be JSON"),
])
def test_explore_refuses_bad_strengths(client, strengths, message):
    assert message in raise_message(lambda: client.predict(3, 42, strengths, 1.0, api_name="/explore"))


def test_draw_a_transparent_sketch(found, served):
    drawing, reading, reconstruction, latent, digit_used = found
    assert reading["label"] == "7" and digit_used == 7 and len(reading["confidences"]) == 3
    pixels, meta = read_png(drawing)
    assert pixels.shape == (280, 280) and pixels.std() > 0
    recon, meta = read_png(reconstruction)
    assert recon.std() > 0 and meta["digit"] == "7" and meta["latent"] == latent
    assert latent.startswith("z1.") and meta["weights_sha256"] == weights_fingerprint(WEIGHTS)


def test_draw_with_the_digit_overridden(client, drawings, found):
    drawing, reading, reconstruction, latent, digit_used = client.predict(
        handle_file(drawings.paper), 1, api_name="/draw")
    assert digit_used == 1 and reading["label"] == "7"  # read as a 7, searched as a 1
    _, meta = read_png(reconstruction)
    assert (meta["digit"], meta["digit_source"]) == ("1", "chosen by the visitor")
    # black ink on white paper is the same drawing as black strokes on a transparent canvas
    assert np.array_equal(read_png(drawing)[0], read_png(found[0])[0])
    assert latent != found[3]


@pytest.mark.parametrize("name", sorted(BAD_UPLOADS))
def test_draw_refuses_files_that_are_no_picture(client, drawings, name):
    """Empty, cut short, text or a zip named .png, a decompression bomb: each told what is wrong."""
    upload = handle_file(drawings.bad[name])
    message = raise_message(lambda: client.predict(upload, "auto", api_name="/draw"))
    assert BAD_UPLOADS[name] in message and "upstream Gradio app has raised an exception" not in message


def test_restyle_without_a_latent_says_what_is_missing(client):
    for missing in (None, "", "   "):
        message = raise_message(lambda: client.predict(missing, 1.0, "{}", api_name="/restyle"))
        assert "latent is missing: give the latent text that Draw wrote" in message


def test_explore_refuses_strengths_nested_5000_deep(client):
    nested = "[" * 5000 + "]" * 5000
    message = raise_message(lambda: client.predict(3, 42, nested, 1.0, api_name="/explore"))
    assert "strengths text is nested too deeply" in message


@pytest.mark.parametrize("name, digit, message", [
    ("blank", "auto", "the canvas is empty"),
    ("speck", "auto", "the drawing is a tiny speck"),
    ("all_ink", "auto", "that is no digit"),
    ("huge", "auto", "image is too large: 5000x5000 = 25,000,000 pixels"),
    ("paper", "seven", "digit must be 'auto' or a whole number from 0 to 9, got 'seven'"),
    ("paper", 10, "digit must be 'auto' or a whole number from 0 to 9, got 10"),
])
def test_draw_refuses_what_is_no_digit(client, drawings, name, digit, message):
    upload = handle_file(getattr(drawings, name))
    assert message in raise_message(lambda: client.predict(upload, digit, api_name="/draw"))


def test_restyle_the_found_latent_and_remake_it_from_its_png(client, found):
    latent = found[3]
    first = client.predict(latent, 1.0, "{}", api_name="/restyle")
    pixels, meta = read_png(first)
    assert meta["latent"] == latent and meta["digits"] == "0,1,2,3,4,5,6,7,8,9" and pixels.std() > 0
    assert file_bytes(client.predict(meta["latent"], api_name="/restyle")) == file_bytes(first)
    steered = client.predict(latent, 0.8, {"thickness": 2}, api_name="/restyle")
    _, meta = read_png(steered)
    assert (meta["edit"], meta["truncation_psi"], meta["latent"]) == ("thickness=2.0", "0.8", latent)


def test_restyle_takes_the_latent_as_a_list(client, found):
    from gan.latent.codec import decode_latent

    numbers = decode_latent(found[3], 64).tolist()
    as_list = client.predict(numbers, 1.0, "{}", api_name="/restyle")
    assert file_bytes(as_list) == file_bytes(client.predict(found[3], 1.0, "{}", api_name="/restyle"))


def test_restyle_refuses_bad_latents(client, found):
    latent = found[3]
    tampered = latent[:-8]  # cut short: no longer 64 float32 numbers
    for bad, message in [(tampered, "latent must hold 64 numbers, the text holds"),
                         (latent + "$", "is not urlsafe base64"),
                         ("my favourite style", "latent text must start with 'z1.'"),
                         ([0.5] * 65, "latent must hold 64 numbers, got 65"),
                         ([50.0] * 64, "latent norm must be at most 20"),
                         ([None] * 64, "latent must hold only numbers")]:
        assert message in raise_message(lambda: client.predict(bad, 1.0, "{}", api_name="/restyle"))


def test_nan_latent_over_raw_http_is_refused(served):
    # gradio_client cannot send NaN (not JSON), but a raw request can.
    base = served.url.rstrip("/")
    body = '{"data": [[NaN' + ", 0.0" * 63 + '], 1.0, "{}"]}'
    with httpx.Client(timeout=30) as http:
        event = http.post(f"{base}/gradio_api/call/restyle", content=body,
                          headers={"Content-Type": "application/json"}).json()["event_id"]
        stream = http.get(f"{base}/gradio_api/call/restyle/{event}").text
    assert "event: error" in stream and "latent must hold finite numbers" in stream
