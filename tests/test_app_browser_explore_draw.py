"""The Explore and Draw tabs in a real browser (Chromium through Playwright), on the shipped
weights: sliders named after the directions steer the digit live and Reset puts them back; a
digit drawn with the mouse on the sketchpad is found and written as all ten digits.

Screenshots go to test-artifacts/tab-explore.png and test-artifacts/tab-draw.png (git-ignored).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# The browser, its launch arguments and the page helpers are those of the app's browser test
# (which skips this module too when Chromium or Playwright is missing).
from test_app_browser import (ARTIFACTS, browser_page, fetch_png, image_src, launched, shown_pixels_std,
                              wait_for_new_src)

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(240)]

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


@pytest.fixture(scope="module")
def page():
    with launched(WEIGHTS) as url, browser_page(url) as page:
        image_src(page, "digit-image")  # the page has loaded and drawn its first tab
        yield page


@pytest.fixture(scope="module")
def labels() -> list[str]:
    from gan.latent.directions import read_directions

    return read_directions(WEIGHTS).labels


def slider_value(page, slot: int) -> float:
    return float(page.locator(f"#explore-strength-{slot} input[type=range]").input_value())


def test_explore_sliders_steer_the_digit_and_reset(page, labels):
    page.get_by_role("tab", name="Explore").click()
    src = image_src(page, "explore-image")  # drawn on load, before any control is touched
    first, meta = fetch_png(page, src)
    assert (meta["digit"], meta["seed"], meta["edit"]) == ("2", "7", "none")
    assert shown_pixels_std(page, "explore-image") > 0
    for slot, label in enumerate(labels):
        assert page.locator(f"#explore-strength-{slot}").get_by_text(label, exact=True).first.is_visible()
    assert labels[0].startswith("slant")

    page.locator("#explore-strength-0 input[type=range]").fill("2")  # slant: the image follows
    src = wait_for_new_src(page, "explore-image", src)
    steered, meta = fetch_png(page, src)
    assert meta["edit"] == "slant=2.0" and not np.array_equal(first, steered)
    assert page.locator("#explore-edit textarea").input_value() == '{"slant": 2}'
    _, row_meta = fetch_png(page, image_src(page, "explore-row"))
    assert row_meta["digits"] == "0,1,2,3,4,5,6,7,8,9"

    page.locator("#explore-reset").click()
    src = wait_for_new_src(page, "explore-image", src)
    page.wait_for_function("() => document.querySelector('#explore-edit textarea').value === '{}'")
    reset, meta = fetch_png(page, src)
    assert meta["edit"] == "none" and np.array_equal(reset, first)
    assert [slider_value(page, slot) for slot in range(len(labels))] == [0.0] * len(labels)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tab-explore.png"), full_page=True)


def draw_seven(page) -> None:
    """A 7 drawn with the mouse: the bar, then the long diagonal."""
    page.locator("#draw-canvas button[aria-label=Brush]").click()
    box = page.locator("#draw-canvas canvas").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 60, y - 80)
    page.mouse.down()
    page.mouse.move(x + 60, y - 80, steps=5)
    page.mouse.move(x - 10, y + 90, steps=5)
    page.mouse.up()


def test_draw_a_digit_and_find_its_style(page):
    page.get_by_role("tab", name="Draw").click()
    page.locator("#draw-find").click()  # nothing drawn yet: told so, nothing searched
    page.locator(".toast-body").filter(has_text="raw a digit").or_(
        page.locator(".toast-body").filter(has_text="empty")).first.wait_for(state="visible")
    assert page.locator("#draw-found img").count() == 0

    draw_seven(page)
    page.locator("#draw-find").click()
    image_src(page, "draw-found")
    row_src = image_src(page, "draw-row")  # the same handwriting as all ten digits
    latent = page.locator("#draw-latent textarea").input_value()
    assert latent.startswith("z1.")
    assert page.locator("#draw-digit-used input").input_value() == "7"
    row, meta = fetch_png(page, row_src)
    assert meta["latent"] == latent and meta["digits"] == "0,1,2,3,4,5,6,7,8,9"
    assert row.std() > 0 and shown_pixels_std(page, "draw-found") > 0
    assert shown_pixels_std(page, "draw-seen") > 0
    image_src(page, "draw-strip")  # the morph into another digit follows the latent
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tab-draw.png"), full_page=True)


def test_no_script_errors(page):
    assert page.errors == []
