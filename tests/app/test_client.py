"""The launched app driven over HTTP with gradio_client, as an API user would."""
from __future__ import annotations

import json
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client
from PIL import Image

import app
from gan.config import ModelConfig
from gan.model.networks import Generator
from gan.model.weights import WEIGHTS_FILE, save_generator, weights_fingerprint
from gan.serving.render import GRID_MODES

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

API_DOCS = Path(__file__).resolve().parents[2] / "docs" / "app.md"
API_DOCS_URL = "http://127.0.0.1:7860/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_weights(folder: Path) -> Path:
    with torch.random.fork_rng(devices=[]):
        generator = Generator(ModelConfig())
    return save_generator(generator, folder)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    weights = new_weights(tmp_path_factory.mktemp("weights"))
    demo = app.build_demo(weights, auto_reload_s=None, concurrency_limit=2, max_queue=32)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                quiet=True)
    try:
        yield SimpleNamespace(url=demo.local_url, weights=weights, demo=demo)
    finally:
        demo.close()


@pytest.fixture(scope="module")
def client(served, tmp_path_factory):
    return Client(served.url, verbose=False, download_files=str(tmp_path_factory.mktemp("dl")))


def png(path) -> tuple[np.ndarray, dict[str, str]]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("L")), dict(im.text)


def test_exactly_the_named_endpoints(client):
    """The demo's endpoints; /reload and the Train tab's are callable (see below) but not
    listed where training is off."""
    api = client.view_api(print_info=False, return_format="dict")
    assert set(api["named_endpoints"]) == {"/generate", "/grid", "/interpolate", "/explore", "/draw", "/restyle",
                                           "/timeline"}
    assert not api["unnamed_endpoints"]


def test_generate(client, served):
    image, meta = png(client.predict(3, 42, 0.8, api_name="/generate"))
    assert image.shape == (280, 280) and image.std() > 0
    assert (meta["digit"], meta["seed"], meta["truncation_psi"]) == ("3", "42", "0.8")
    assert meta["weights_sha256"] == weights_fingerprint(served.weights)


def test_generate_defaults_and_keywords(client):
    _, meta = png(client.predict(digit=5, seed=7, api_name="/generate"))
    assert (meta["digit"], meta["seed"], meta["truncation_psi"]) == ("5", "7", "1.0")


def test_grid(client):
    image, meta = png(client.predict(10, 10, 0, api_name="/grid"))
    assert meta["mode"] == GRID_MODES[0] and len(meta["seeds"].split(",")) == 100
    assert image.shape == (302 * 3, 302 * 3)
    _, meta = png(client.predict(2, 3, 5, "all one digit", 4, 0.5, api_name="/grid"))
    assert meta["digits"] == "4,4,4,4,4,4" and meta["seeds"] == "5,6,7,8,9,10"


def test_interpolate(client):
    strip, gif = client.predict(3, 1, 8, 2, 10, "slerp", 1.0, api_name="/interpolate")
    _, meta = png(strip)
    assert (meta["digit_a"], meta["digit_b"], meta["steps"]) == ("3", "8", "10")
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 18


def test_the_first_explore_of_new_weights_waits_for_no_search(client):
    """These weights have no directions.json: the first /explore answers with the closed-form
    directions (the measured ones are searched in the background, for seconds)."""
    import time

    start = time.perf_counter()
    image, meta = png(client.predict(3, 42, [1.5] + [0] * 7, 1.0, api_name="/explore"))
    print(f"\nfirst /explore on weights without directions.json: {(time.perf_counter() - start) * 1000:.0f} ms")
    assert meta["directions"] == ",".join(f"direction_{i}" for i in range(1, 9))
    assert meta["edit"] == "direction_1=1.5" and image.std() > 0


@pytest.mark.parametrize("args, api_name, message", [
    ((10, 1, 1.0), "/generate", "digit must be a whole number from 0 to 9, got 10"),
    ((-1, 1, 1.0), "/generate", "digit must be a whole number from 0 to 9, got -1"),
    ((3.5, 1, 1.0), "/generate", "digit must be a whole number from 0 to 9, got 3.5"),
    ((True, 1, 1.0), "/generate", "got True"),
    (("7", 1, 1.0), "/generate", "got '7'"),
    ((3, 2**32, 1.0), "/generate", "seed must be a whole number from 0 to 4294967295"),
    ((3, -5, 1.0), "/generate", "seed must be a whole number"),
    ((3, 1e30, 1.0), "/generate", "seed must be a whole number"),
    ((3, 1, 1.5), "/generate", "truncation_psi must be a number from 0 to 1"),
    ((3, 1, "high"), "/generate", "truncation_psi must be a number from 0 to 1"),
    ((0, 3, 1), "/grid", "rows must be a whole number from 1 to 16, got 0"),
    ((3, 10**6, 1), "/grid", "cols must be a whole number from 1 to 16"),
    ((-4, 3, 1), "/grid", "rows must be a whole number"),
    ((3, 3, 1, "everything"), "/grid", "mode must be one of"),
    ((3, 1, 8, 2, 0), "/interpolate", "steps must be a whole number from 2 to 64, got 0"),
    ((3, 1, 8, 2, 10**9), "/interpolate", "steps must be a whole number from 2 to 64"),
    ((3, 1, 8, 2, 5, "bezier"), "/interpolate", "method must be one of 'slerp', 'lerp'"),
])
def test_bad_input_is_an_error_saying_what_is_allowed(client, args, api_name, message):
    with pytest.raises(Exception) as info:
        client.predict(*args, api_name=api_name)
    assert message in str(info.value)
    assert "Traceback" not in str(info.value)


def test_nan_over_raw_http_is_refused(served):
    # gradio_client cannot send NaN (not JSON), but a raw request can.
    base = served.url.rstrip("/")
    body = '{"data": [3, 1, NaN]}'
    with httpx.Client(timeout=30) as http:
        event = http.post(f"{base}/gradio_api/call/generate", content=body,
                          headers={"Content-Type": "application/json"}).json()["event_id"]
        stream = http.get(f"{base}/gradio_api/call/generate/{event}").text
    assert "event: error" in stream and "truncation_psi must be a number from 0 to 1" in stream


def test_internal_helpers_are_not_callable(client):
    with pytest.raises(Exception):
        client.predict(api_name="/random_seed")


def test_concurrent_same_seed_requests_are_identical(served, tmp_path):
    # a client per request: /generate is live (trigger_mode "always_last"), so two requests of
    # one session in the queue at once would rightly drop the older one
    clients = [Client(served.url, verbose=False, download_files=str(tmp_path / str(i))) for i in range(16)]
    jobs = [(clients[i], 6, 2024, 0.7) for i in range(12)]
    jobs += [(clients[12 + i], 6, 2025, 0.7) for i in range(4)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda j: png(j[0].predict(*j[1:], api_name="/generate")), jobs))
    same = [image for image, meta in results if meta["seed"] == "2024"]
    other = [image for image, meta in results if meta["seed"] == "2025"]
    assert len(same) == 12 and all(np.array_equal(same[0], im) for im in same)
    assert all(np.array_equal(other[0], im) for im in other)
    assert not np.array_equal(same[0], other[0])


def readme_examples() -> str:
    text = API_DOCS.read_text()
    section = text[text.index("<!-- app:start -->"): text.index("<!-- app:end -->")]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    code = "\n".join(b for b in blocks if "gradio_client" in b)
    assert API_DOCS_URL in code, "the API examples in docs/app.md should connect to the default address"
    return code


def test_readme_examples_work(served, tmp_path, monkeypatch, capsys):
    code = readme_examples()
    for endpoint in ("/generate", "/grid", "/interpolate", "/explore", "/draw", "/restyle", "/reload"):
        assert f'api_name="{endpoint}"' in code
    monkeypatch.chdir(tmp_path)
    exec(compile(code.replace(API_DOCS_URL, served.url), "docs/app.md", "exec"), {})
    assert "weights_sha256" in capsys.readouterr().out


# ----------------------------------------------------------------------------- reloads (last: they change the weights)

def test_reload_swaps_in_new_weights(client, served):
    before, old_meta = png(client.predict(2, 11, 1.0, api_name="/generate"))
    new_weights(served.weights)
    message = client.predict(api_name="/reload")
    new_fp = weights_fingerprint(served.weights)
    assert new_fp in message and old_meta["weights_sha256"] in message
    after, meta = png(client.predict(2, 11, 1.0, api_name="/generate"))
    assert meta["weights_sha256"] == new_fp
    assert not np.array_equal(before, after)


def test_corrupt_weights_are_rejected_and_the_old_model_keeps_serving(client, served):
    before, meta = png(client.predict(2, 11, 1.0, api_name="/generate"))
    path = served.weights / WEIGHTS_FILE
    path.write_bytes(path.read_bytes()[:1000])  # a half-written file
    with pytest.raises(Exception, match=f"still serving {meta['weights_sha256']}"):
        client.predict(api_name="/reload")
    after, meta_after = png(client.predict(2, 11, 1.0, api_name="/generate"))
    assert np.array_equal(before, after) and meta_after == meta
    (served.weights / "config.json").write_text(json.dumps({"architecture": "other"}))
    with pytest.raises(Exception, match="still serving"):
        client.predict(api_name="/reload")
    assert np.array_equal(before, png(client.predict(2, 11, 1.0, api_name="/generate"))[0])
