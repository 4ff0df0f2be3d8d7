"""The app in a real browser (Chromium through Playwright): live updates and every tab.

Screenshots of each tab go to test-artifacts/ (git-ignored). Run as a script, it takes the
README's screenshot of the app serving real weights:

    python -m tests.app.test_browser --weights weights --out docs/screenshot.png
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(240)]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 60_000

if not shutil.which(CHROMIUM):
    pytest.skip(f"Chromium not found at {CHROMIUM} (set $CHROMIUM to its path)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def launched(weights):
    """The app as `python app.py` serves it (same CSS and theme), on a free port; `weights`:
    a weights folder, or a DigitService whose timings the test reads."""
    import app

    demo = app.build_demo(weights, auto_reload_s=None)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                quiet=True, css=app.CSS, theme=app.THEME)
    try:
        yield demo.local_url
    finally:
        demo.close()


@contextlib.contextmanager
def browser_page(url: str, **context_options):
    """A page on `url`; every request to another host is refused and kept in `page.blocked`
    (the app must need none), script errors in `page.errors`."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, **context_options)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        blocked: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        origin = url.rstrip("/").split("//", 1)[1].split("/", 1)[0]

        def only_this_app(route):
            if route.request.url.split("//", 1)[-1].split("/", 1)[0] == origin or route.request.url.startswith("data:"):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        page.route("**/*", only_this_app)
        page.goto(url)
        page.errors, page.blocked = errors, blocked
        try:
            yield page
        finally:
            browser.close()


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


def image_src(page, elem_id: str) -> str:
    img = page.locator(f"#{elem_id} img").first
    img.wait_for(state="visible")
    return img.get_attribute("src")


def wait_for_new_src(page, elem_id: str, old: str) -> str:
    page.wait_for_function(
        "([id, old]) => { const img = document.querySelector(`#${id} img`);"
        " return img && img.src && img.src !== old && img.complete && img.naturalWidth > 0; }",
        arg=[elem_id, old])
    return image_src(page, elem_id)


def fetch_png(page, src: str) -> tuple[np.ndarray, dict[str, str]]:
    response = page.request.get(src)
    assert response.ok
    with Image.open(io.BytesIO(response.body())) as im:
        return np.asarray(im.convert("L")), dict(im.text)


def shown_pixels_std(page, elem_id: str) -> float:
    """Standard deviation of what the <img> actually draws (0 for a blank image)."""
    return page.evaluate(
        """id => { const img = document.querySelector(`#${id} img`);
                   const c = document.createElement('canvas');
                   c.width = img.naturalWidth; c.height = img.naturalHeight;
                   const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
                   const d = ctx.getImageData(0, 0, c.width, c.height).data;
                   let s = 0, s2 = 0, n = d.length / 4;
                   for (let i = 0; i < d.length; i += 4) { s += d[i]; s2 += d[i] * d[i]; }
                   const m = s / n; return Math.sqrt(Math.max(0, s2 / n - m * m)); }""", elem_id)


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
    page.get_by_role("tab", name=tab).click()
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
        page.get_by_role("tab", name=tab).click()
        ready = {"Generate": "#digit-image img", "Grid": "#grid-image img",
                 "Interpolate": "#gif-image img"}.get(tab, "text=Reload weights")
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
                        choices=["Generate", "Grid", "Interpolate", "Model", "How it works"])
    cli = parser.parse_args()
    take_screenshot(cli.weights, cli.out, cli.tab)
