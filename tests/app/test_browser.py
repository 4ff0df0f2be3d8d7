"""The app in a real browser (Chromium through Playwright): live updates and every tab.

Screenshots of each tab go to test-artifacts/ (git-ignored). Run as a script, it takes the
README's screenshot of the app serving real weights:

    python -m tests.app.test_browser --weights weights --out docs/screenshot.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

# The page helpers every browser test shares (this module is skipped with them when Chromium
# or Playwright is missing).
from tests.support.browser import (
    ARTIFACTS,
    browser_page,
    fetch_png,
    image_src,
    launched,
    open_tab,
    shown_pixels_std,
    wait_for_new_src,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from gan.config import ModelConfig
    from gan.model.networks import Generator
    from gan.model.weights import save_generator

    with torch.random.fork_rng(devices=[]):
        generator = Generator(ModelConfig())
    with launched(save_generator(generator, tmp_path_factory.mktemp("weights"))) as url:
        yield url


@pytest.fixture(scope="module")
def page(url):
    with browser_page(url) as page:
        yield page


def test_generate_tab_updates_live(page):
    src = image_src(page, "digit-image")
    first, meta = fetch_png(page, src)
    assert (meta["digit"], meta["seed"]) == ("3", "42")
    assert first.shape == (280, 280) and shown_pixels_std(page, "digit-image") > 0
    # shown pixel for pixel: a browser's smoothing would blur the upscaled digit
    rendering = page.locator("#digit-image img").first.evaluate("e => getComputedStyle(e).imageRendering")
    assert rendering in ("pixelated", "crisp-edges"), rendering

    page.locator("#digit label").filter(has_text="5").click()  # no separate button to press
    src = wait_for_new_src(page, "digit-image", src)
    second, meta = fetch_png(page, src)
    assert (meta["digit"], meta["seed"]) == ("5", "42")
    assert not np.array_equal(first, second) and shown_pixels_std(page, "digit-image") > 0

    seed_box = page.locator("#seed input[type=number]")
    seed_box.fill("1234")
    seed_box.press("Enter")
    src = wait_for_new_src(page, "digit-image", src)
    third, meta = fetch_png(page, src)
    assert (meta["digit"], meta["seed"]) == ("5", "1234")
    assert not np.array_equal(second, third) and shown_pixels_std(page, "digit-image") > 0

    page.locator("#dice-seed").click()
    src = wait_for_new_src(page, "digit-image", src)
    _, meta = fetch_png(page, src)
    assert meta["seed"] != "1234" and seed_box.input_value() == meta["seed"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tab-generate.png"), full_page=True)


@pytest.mark.parametrize("tab, ready", [
    ("Grid", "#grid-image img"),
    ("Interpolate", "#gif-image img"),
    ("Model", "text=Reload weights"),
    ("How it works", "text=What is served"),
])
def test_every_tab_renders(page, tab, ready):
    open_tab(page, tab)
    page.locator(ready).first.wait_for(state="visible")
    if tab == "Grid":
        assert shown_pixels_std(page, "grid-image") > 0
    if tab == "Interpolate":
        assert shown_pixels_std(page, "strip-image") > 0
    if tab == "Model":
        page.get_by_text("Generator", exact=False).first.wait_for(state="visible")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"tab-{tab.lower().replace(' ', '-')}.png"),
                    full_page=True)


def test_no_script_errors_and_no_other_host(page):
    assert page.errors == [] and page.blocked == []


def take_screenshot(weights: Path, out: Path, tab: str = "Grid") -> None:
    with launched(weights) as url, browser_page(url) as page:
        image_src(page, "digit-image")
        open_tab(page, tab)
        ready = {"Generate": "#digit-image img", "Grid": "#grid-image img",
                 "Interpolate": "#gif-image img", "Learn": "#learn-curves img"}.get(tab, "text=Reload weights")
        page.locator(ready).first.wait_for(state="visible")
        page.wait_for_timeout(500)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Screenshot one tab of the app serving WEIGHTS.")
    parser.add_argument("--weights", type=Path, default=Path("weights"))
    parser.add_argument("--out", type=Path, default=Path("docs/screenshot.png"))
    parser.add_argument("--tab", default="Grid",
                        choices=["Generate", "Grid", "Interpolate", "Learn", "Model", "How it works"])
    cli = parser.parse_args()
    take_screenshot(cli.weights, cli.out, cli.tab)
