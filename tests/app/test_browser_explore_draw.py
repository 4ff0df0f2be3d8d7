"""The Explore and Draw tabs in a real browser (Chromium through Playwright), on the shipped
weights: sliders named after the directions steer the digit live and Reset puts them back; a
digit drawn at once with the mouse (or a finger) on the canvas, with no tool to pick first, is
searched when the stroke ends and written as all ten digits; the Draw outputs are timed
(printed, never asserted).

Screenshots go to test-artifacts/tab-explore.png and test-artifacts/tab-draw.png (git-ignored).
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np
import pytest

# The browser, its launch arguments and the page helpers every browser test shares (this module
# is skipped with them when Chromium or Playwright is missing).
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

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


@pytest.fixture(scope="module")
def served_service():
    import torch

    import app

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `python app.py` serves: one thread per request
    yield app.make_service(WEIGHTS, auto_reload_s=None)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def page(served_service):
    with launched(served_service) as url, browser_page(url, has_touch=True) as page:
        image_src(page, "digit-image")  # the page has loaded and drawn its first tab
        yield page


@pytest.fixture(scope="module")
def labels() -> list[str]:
    from gan.latent.directions import read_directions

    return read_directions(WEIGHTS).labels


def slider_value(page, slot: int) -> float:
    return float(page.locator(f"#explore-strength-{slot} input[type=range]").input_value())


def test_explore_sliders_steer_the_digit_and_reset(page, labels):
    open_tab(page, "Explore")
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


SEVEN_STROKE = [(-60, -80), (60, -80), (-10, 90)]  # the bar, then the long diagonal (from the centre)


def canvas_centre(page) -> tuple[float, float]:
    box = page.locator("#draw-canvas canvas").first.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def draw_seven_with_the_mouse(page, lean: float = 0) -> None:
    """A 7 drawn at once, as a visitor does: no tool picked first. `lean` moves the foot of
    the diagonal left, so that each stroke is another drawing (not the same one shifted,
    which MNIST's centring makes the same digit)."""
    x, y = canvas_centre(page)
    (x0, y0), (x1, y1), (x2, y2) = SEVEN_STROKE
    page.mouse.move(x + x0, y + y0)
    page.mouse.down()
    page.mouse.move(x + x1, y + y1, steps=6)
    page.mouse.move(x + x2 - lean, y + y2, steps=6)
    page.mouse.up()


def draw_seven_with_a_finger(page) -> None:
    x, y = canvas_centre(page)
    cdp = page.context.new_cdp_session(page)
    points = [(x + SEVEN_STROKE[0][0], y + SEVEN_STROKE[0][1])]
    for (ax, ay), (bx, by) in zip(SEVEN_STROKE, SEVEN_STROKE[1:]):
        points += [(x + ax + (bx - ax) * t / 8, y + ay + (by - ay) * t / 8) for t in range(1, 9)]
    touch = lambda kind, pts: cdp.send("Input.dispatchTouchEvent", {  # noqa: E731
        "type": kind, "touchPoints": [{"x": px, "y": py} for px, py in pts]})
    touch("touchStart", points[:1])
    for point in points[1:]:
        touch("touchMove", [point])
    touch("touchEnd", [])


def seconds_until(page, elem_id: str, start: float, old_src: str | None = None) -> float:
    """Seconds from `start` until the output shows a new, loaded image."""
    page.wait_for_function(
        "([id, old]) => { const img = document.querySelector(`#${id} img`);"
        " return img && img.src && img.src !== old && img.complete && img.naturalWidth > 0; }",
        arg=[elem_id, old_src], polling=10)
    return time.perf_counter() - start


def test_the_canvas_opens_ready_to_draw(page):
    open_tab(page, "Draw")
    pen = page.locator("#draw-canvas button[aria-label=Brush]")
    page.wait_for_function("() => document.querySelector('#draw-canvas button[aria-label=Brush]')"
                           "?.classList.contains('highlight')")
    assert pen.is_visible()
    for clutter in ("Pan", "Zoom in", "Zoom out", "Color"):
        assert not page.locator(f"#draw-canvas button[aria-label='{clutter}']").is_visible()
    assert page.locator("#draw-canvas button[aria-label='Clear canvas']").is_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('#draw-canvas canvas')).touchAction") == "none"


def test_a_refusal_is_one_message_and_no_error_badges(page):
    open_tab(page, "Draw")
    page.locator("#draw-find").click()  # nothing drawn yet: told so once, nothing searched
    page.locator(".toast-body").filter(has_text="Draw a digit on the canvas").first.wait_for(state="visible")
    assert page.locator("#draw-found img").count() == 0
    assert page.get_by_text("Error", exact=True).count() == 0  # no badge on the outputs


STROKES_TIMED = 3


def clear_the_canvas(page) -> None:
    """One click clears the drawing and everything shown for it; the pen is ready again."""
    page.locator("#draw-canvas button[aria-label='Clear canvas']").click()
    page.wait_for_function("() => !document.querySelector('#draw-found img') && "
                           "!document.querySelector('#draw-row img') && "
                           "document.querySelector('#draw-latent textarea').value === ''")
    page.wait_for_function("() => document.querySelector('#draw-canvas button[aria-label=Brush]')"
                           "?.classList.contains('highlight')")


def test_a_stroke_is_searched_when_it_ends(page, served_service):
    """Draws a 7 without picking a tool, STROKES_TIMED times (each a little different), and
    times the Draw outputs: prints where the time goes, asserts nothing about it."""
    open_tab(page, "Draw")
    sent: list[float] = []
    page.on("request", lambda r: sent.append(time.perf_counter()) if "/queue/join" in r.url else None)
    timings = []
    for stroke in range(STROKES_TIMED):
        served_service.stats.reset()
        sent.clear()
        draw_seven_with_the_mouse(page, lean=12 * stroke)
        stroke_end = time.perf_counter()
        shown = {name: seconds_until(page, f"draw-{name}", stroke_end) for name in ("found", "row", "strip", "gif")}
        latent = page.locator("#draw-latent textarea").input_value()
        assert latent.startswith("z1.") and page.locator("#draw-digit-used input").input_value() == "7"
        row, meta = fetch_png(page, image_src(page, "draw-row"))
        assert meta["latent"] == latent and meta["digits"] == "0,1,2,3,4,5,6,7,8,9" and row.std() > 0
        assert shown_pixels_std(page, "draw-found") > 0 and shown_pixels_std(page, "draw-seen") > 0
        _, meta = fetch_png(page, image_src(page, "draw-strip"))
        assert (meta["digit_a"], meta["digit_b"], meta["latent"]) == ("7", "8", latent)
        assert len(sent) == 1  # one request brings everything
        timings.append(stroke_timings(shown, sent[0] - stroke_end, served_service.stats.snapshot()))
        if stroke == 0:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "tab-draw.png"), full_page=True)
        clear_the_canvas(page)
    report_draw_timings(timings)


def stroke_timings(shown: dict, until_request_s: float, stats: dict) -> dict[str, float]:
    """Milliseconds from the end of the stroke (shown, request) and in the server."""
    def ms(kind: str) -> float:
        return stats[kind]["total_s"] * 1000 if kind in stats else float("nan")

    return {**{f"{name} shown": s * 1000 for name, s in shown.items()}, "request sent": until_request_s * 1000,
            "search": ms("draw.search"), "whole search handler": ms("draw.handler"),
            "style row": ms("restyle.handler"), "morph strip + GIF": ms("morph.handler"),
            "PNG + GIF encoding": sum(v["total_s"] for k, v in stats.items() if k.endswith(".encode")) * 1000}


def report_draw_timings(timings: list[dict]) -> None:
    print(f"\nDraw: {len(timings)} strokes of a 7, load average {os.getloadavg()[0]:.1f}; ms from the end "
          "of the stroke (shown, request sent: the canvas exports and uploads its layers first), "
          "and in the server; median (each):")
    for key in timings[0]:
        values = [t[key] for t in timings]
        print(f"  {key:22s} {statistics.median(values):7.0f}   ({', '.join(f'{v:.0f}' for v in values)})")


def test_a_finger_draws_too(page):
    open_tab(page, "Draw")
    draw_seven_with_a_finger(page)
    seconds_until(page, "draw-found", time.perf_counter())
    assert page.locator("#draw-digit-used input").input_value() == "7"


def test_no_script_errors_and_no_other_host(page):
    assert page.errors == [] and page.blocked == []
