"""The Train tab in a real browser (Chromium through Playwright): start a small run, watch its
fixed-noise grid change, serve its weights, and see the Generate tab draw with them.

The run is a real `train.py` process with a tiny model on synthetic digits; every trainer is
killed at teardown. A screenshot of the tab goes to test-artifacts/tab-train.png.
"""
from __future__ import annotations

import contextlib
import re
import socket
from pathlib import Path

import pytest
import torch

from tests.support.browser import ARTIFACTS, browser_page, fetch_png, image_src, open_tab, wait_for_new_src

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(180)]

# a tiny model, a grid every 20 steps and a checkpoint as often, so there is something to serve
TRAINER_FLAGS = ["--sample-every", "20", "--ckpt-every", "20", "--log-every", "5"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def launched_with_training(weights: Path, runs_root: Path):
    """The app as `python app.py --allow-training` serves it, with a tiny-model trainer."""
    import app
    from gan.runs.manager import RunManager
    from gan.serving.model_holder import ModelHolder
    from tests.support.processes import TINY_TRAIN_FLAGS, core_env
    from tests.support.runs import kill_leftovers

    holder = ModelHolder(weights)
    manager = RunManager(runs_root, extra_args=[*TINY_TRAIN_FLAGS, *TRAINER_FLAGS], env=core_env(),
                         niceness=0, stop_timeout_s=60, served_weights=holder.folder,
                         serve=lambda folder: holder.serve(folder).message)
    demo = app.build_demo(holder, auto_reload_s=None, training=manager)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                quiet=True, css=app.CSS, theme=app.THEME)
    try:
        yield demo.local_url
    finally:
        kill_leftovers(manager)
        demo.close()


@pytest.fixture
def page(tmp_path):
    from gan.config import ModelConfig
    from gan.model.networks import Generator
    from gan.model.weights import save_generator

    with torch.random.fork_rng(devices=[]):
        generator = Generator(ModelConfig(g_width=16, d_width=16))
    weights = save_generator(generator, tmp_path / "weights")
    with launched_with_training(weights, tmp_path / "runs") as url, browser_page(url) as page:
        yield page


def wait_for_message(page, pattern: str) -> str:
    """The 'Last action' box once it matches `pattern` (a regular expression)."""
    page.wait_for_function(
        "([pattern]) => { const box = document.querySelector('#train-message textarea');"
        " return box && new RegExp(pattern).test(box.value); }", arg=[pattern])
    return page.locator("#train-message textarea").input_value()


def test_start_watch_serve_and_see_the_new_weights_in_generate(page):
    before_src = image_src(page, "digit-image")
    _, before = fetch_png(page, before_src)

    open_tab(page, "Train")
    steps = page.locator("#train-steps input")
    steps.fill("100000")
    steps.press("Tab")
    page.locator("#train-start").click()
    wait_for_message(page, "^Started run ")

    first = image_src(page, "train-grid")  # the timer brings the first fixed-noise grid ...
    wait_for_new_src(page, "train-grid", first)  # ... and a later, different one
    page.locator("#train-summary").get_by_text("running").first.wait_for(state="visible")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tab-train.png"), full_page=True)

    page.locator("#train-serve").click()
    served = re.search(r"Loaded weights (\S+) ", wait_for_message(page, "^Loaded weights ")).group(1)
    assert served != before["weights_sha256"]

    open_tab(page, "Generate")  # redrawn after the swap, as after Reload
    _, after = fetch_png(page, wait_for_new_src(page, "digit-image", before_src))
    assert after["weights_sha256"] == served and (after["digit"], after["seed"]) == ("3", "42")

    open_tab(page, "Train")
    page.locator("#train-stop").click()
    wait_for_message(page, r": stopped at step \d+")
    assert page.errors == []
