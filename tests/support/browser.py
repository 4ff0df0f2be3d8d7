"""The app in a real browser (Chromium through Playwright), for the browser tests: launch the
app, open a page on it that may reach no other host, and read what its images show.

    from tests.support.browser import (ARTIFACTS, browser_page, fetch_png, image_src, launched,
                                       shown_pixels_std, wait_for_new_src)

A test module that imports this is skipped when Chromium (/usr/bin/chromium, or $CHROMIUM) or
the playwright package is missing.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # git-ignored
TIMEOUT_MS = 60_000

if not shutil.which(CHROMIUM):
    pytest.skip(f"Chromium not found at {CHROMIUM} (set $CHROMIUM to its path)",
                allow_module_level=True)
from playwright import sync_api  # noqa: E402 (after the skip: without Chromium it is not needed)


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


def open_tab(page, name: str) -> None:
    """Click the tab `name`, from Gradio's "More tabs" menu when the tab row overflowed into it."""
    tab = page.get_by_role("tab", name=name, exact=True).locator("visible=true")
    if tab.count() == 0:
        page.get_by_label("More tabs").click()
        tab = page.get_by_role("tab", name=name, exact=True).locator("visible=true")
    tab.first.click()


def tab_selected(page, tab_id: str) -> bool:
    """Whether the tab with this id is the one shown."""
    return page.locator(f'[role=tab][data-tab-id="{tab_id}"][aria-selected="true"]').count() > 0
