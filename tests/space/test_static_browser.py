"""The static Space in a real browser: Debian's Chromium through Playwright, the exported folder
served on loopback, every request to another host aborted and counted (there must be none).

Each tab renders and works (screenshots into test-artifacts/), seeds and images match Python,
Draw runs on drawn digits, the inputs take their limits from Python (through site.json), bad
inputs get gan.inputs' messages, downloads carry provenance, the Learn tab shows the training
timeline (fetched only when asked for), and a view is a link: the address reopens what is on
screen, and a link with bad values opens with parse_view's message.
"""
from __future__ import annotations

import gzip
import io
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import torch
from PIL import Image
from playwright import sync_api

from gan import inputs
from gan.serving.render import GRID_MODES
from gan.space.static_site import preview_view, read_site_file
from tests.support.static_site import (
    HOSTILE_HASHES,
    SHIPPED_WEIGHTS,
    TIMELINE_STEPS,
    exported_site,
    exported_weights,
    serving,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(300)]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 60_000

if not shutil.which(CHROMIUM):
    pytest.skip(f"Chromium not found at {CHROMIUM} (set $CHROMIUM to its path)", allow_module_level=True)


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with serving(exported_site(tmp_path_factory)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Visit:
    """A page of the site; requests to any other host are aborted and counted."""

    def __init__(self, browser, url: str, *, viewport=(1280, 900), init_script: str | None = None):
        self.origin = urlsplit(url).netloc
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                           accept_downloads=True)
        self.context.route("**/*", self._route)
        if init_script:
            self.context.add_init_script(init_script)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.url = url

    def _route(self, route) -> None:
        if urlsplit(route.request.url).netloc != self.origin:
            self.foreign.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def open(self, *, ready: bool = True, hash: str = ""):
        self.page.goto(self.url + (f"#{hash}" if hash else ""))
        self.page.wait_for_function("document.body.dataset.ready || document.body.dataset.failed")
        if ready:
            assert self.page.evaluate("document.body.dataset.ready") == "1", self.page.inner_text("#status")
        return self.page

    def close(self) -> None:
        self.context.close()
        assert self.foreign == [], f"requests to other hosts: {self.foreign}"


@pytest.fixture
def visit(browser, url):
    visits = []

    def make(**kwargs) -> Visit:
        visits.append(Visit(browser, url, **kwargs))
        return visits[-1]

    yield make
    for v in visits:
        v.close()


@pytest.fixture(scope="module")
def generator():
    from gan import load_generator

    return load_generator(SHIPPED_WEIGHTS)


def canvas_pixels(page, elem_id: str) -> np.ndarray:
    """The grey values a canvas holds (its red channel)."""
    data = page.evaluate("""id => { const c = document.getElementById(id);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const out = []; for (let i = 0; i < d.length; i += 4) out.push(d[i]);
        return [c.height, c.width, out]; }""", elem_id)
    return np.array(data[2], dtype=np.uint8).reshape(data[0], data[1])


def wait_paints(page, elem_id: str, more_than: int) -> None:
    page.wait_for_function("([id, n]) => Number(document.getElementById(id).dataset.paints || 0) > n",
                           arg=[elem_id, more_than])


def paints(page, elem_id: str) -> int:
    return int(page.evaluate("id => Number(document.getElementById(id).dataset.paints || 0)", elem_id))


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"static_{name}.png"), full_page=True)


def within_one_level(got: np.ndarray, expected: np.ndarray) -> float:
    assert got.shape == expected.shape
    return float((np.abs(got.astype(int) - expected.astype(int)) <= 1).mean())


def draw_on_canvas(page, points: list[tuple[int, int]]) -> None:
    """Mouse strokes through `points` (coordinates of the 280x280 canvas)."""
    box = page.locator("#draw-canvas").bounding_box()
    sx, sy = box["width"] / 280, box["height"] / 280
    page.mouse.move(box["x"] + points[0][0] * sx, box["y"] + points[0][1] * sy)
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x * sx, box["y"] + y * sy, steps=12)
    page.mouse.up()


# ----------------------------------------------------------------------------- tabs

def test_each_tab_renders_and_works(visit, generator):
    v = visit()
    page = v.open()
    # Generate: the default digit is there at once; changing the digit redraws it.
    np.testing.assert_array_equal(canvas_pixels(page, "gen-image"),
                                  generator.generate([3], [42], truncation_psi=1.0)[0].numpy())
    before = paints(page, "gen-image")
    page.locator("#gen-digit label", has_text="7").click()
    wait_paints(page, "gen-image", before)
    assert within_one_level(canvas_pixels(page, "gen-image"), generator.generate([7], [42])[0].numpy()) >= 0.999
    shoot(page, "generate")
    page.click("button[data-tab=grid]")
    wait_paints(page, "grid-image", 0)
    grid = canvas_pixels(page, "grid-image")
    assert grid.shape == (302, 302)
    from gan.images import make_grid
    from gan.serving.render import GRID_MODES, grid_cells

    digits, seeds = grid_cells(10, 10, 0, GRID_MODES[0], 7)
    assert within_one_level(grid, make_grid(generator.generate(digits, seeds).numpy(), rows=10, cols=10)) >= 0.999
    shoot(page, "grid")
    page.click("button[data-tab=interpolate]")
    wait_paints(page, "interp-strip", 0)
    wait_paints(page, "interp-loop", 2)   # the loop moves on by itself
    from gan import generate_interpolation
    from gan.serving.render import strip_of

    frames = generate_interpolation(generator, digit_a=3, seed_a=1, digit_b=8, seed_b=2, steps=12).numpy()

    assert within_one_level(canvas_pixels(page, "interp-strip"), strip_of(frames)) >= 0.999
    shoot(page, "interpolate")
    page.click("button[data-tab=explore]")
    wait_paints(page, "explore-row", 0)
    labels = page.locator("#explore-sliders .name").all_inner_texts()
    assert labels[:2] == ["slant →", "thicker"]
    assert "std of real MNIST" in page.inner_text("#explore-sliders")
    before = paints(page, "explore-image")
    page.locator("#explore-sliders-slant").fill("2.5")   # as a drag does: input events
    wait_paints(page, "explore-image", before)
    from gan.latent.directions import generate_edited, read_directions

    expected = generate_edited(generator, [2], [7], directions=read_directions(SHIPPED_WEIGHTS),
                               strengths={"slant": 2.5})[0].numpy()
    assert within_one_level(canvas_pixels(page, "explore-image"), expected) >= 0.999
    shoot(page, "explore")
    page.click("button[data-tab=draw]")
    draw_on_canvas(page, [(70, 60), (210, 60), (120, 235)])
    wait_paints(page, "draw-row", 0)
    assert page.input_value("#draw-latent").startswith("z1.")
    assert "The classifier reads" in page.inner_text("#draw-reading")
    shoot(page, "draw")
    page.click("button[data-tab=about]")
    import json

    from gan import weights_fingerprint

    about = page.inner_text("#about")
    accuracy = json.loads((SHIPPED_WEIGHTS / "metrics.json").read_text())["class_accuracy"]
    assert f"{accuracy * 100:.2f}%" in about and weights_fingerprint(SHIPPED_WEIGHTS) in about
    shoot(page, "about")
    assert v.errors == []


def test_it_reads_well_on_a_phone(visit):
    v = visit(viewport=(390, 844))
    page = v.open()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"
    page.click("button[data-tab=draw]")
    box = page.locator("#draw-canvas").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    shoot(page, "phone_draw")


# ----------------------------------------------------------------------------- parity

SEEDS = list(range(1000)) + [2**32 - 1, 2**32 - 2, 2**32 - 1000, 2**31]


def test_seeds_give_the_latents_python_gives(visit):
    page = visit().open()
    got = np.array(page.evaluate("async (seeds) => { const m = await import('./latents.js');"
                                 " return Array.from(m.latentsFromSeeds(seeds, 64)); }", SEEDS)).reshape(-1, 64)
    expected = np.stack([torch.randn(64, generator=torch.Generator().manual_seed(s)).numpy() for s in SEEDS])
    assert np.abs(got - expected).max() <= 1e-5


def _api(page, expression: str, *args):
    return np.array(page.evaluate(f"async (args) => Array.from(await {expression})", list(args)), dtype=np.uint8)


def test_images_match_python(visit, generator):
    from gan import generate_interpolation
    from gan.latent.directions import generate_edited, read_directions

    page = visit().open()
    digits = [d for d in range(10) for _ in range(60)]
    seeds = [s for _ in range(10) for s in list(range(50)) + SEEDS[-4:] + [123_456_789 + k for k in range(6)]]
    for psi in (0.5, 0.8, 1.0):
        got = _api(page, "DigitGAN.generate(args[0], args[1], {psi: args[2]})", digits, seeds, psi)
        expected = generator.generate(digits, seeds, truncation_psi=psi).numpy()
        assert within_one_level(got.reshape(expected.shape), expected) >= 0.999
    for method in ("slerp", "lerp"):
        got = _api(page, "DigitGAN.interpolate(3, 1, 8, 2, 24, {method: args[0], psi: 0.7})", method)
        expected = generate_interpolation(generator, digit_a=3, seed_a=1, digit_b=8, seed_b=2, steps=24,
                                          method=method, truncation_psi=0.7).numpy()
        assert within_one_level(got.reshape(expected.shape), expected) >= 0.999
    directions = read_directions(SHIPPED_WEIGHTS)
    for strengths in ({"slant": 2.5}, {"thickness": -1.7, "width": 0.3}, {n: 0.9 for n in directions.names}):
        got = _api(page, "DigitGAN.generate(args[0], args[1], {psi: 0.9, strengths: args[2]})",
                   digits[::6], seeds[::6], strengths)
        expected = generate_edited(generator, digits[::6], seeds[::6], directions=directions,
                                   strengths=strengths, truncation_psi=0.9).numpy()
        assert within_one_level(got.reshape(expected.shape), expected) >= 0.999
    from gan import weights_fingerprint

    info = page.evaluate("DigitGAN.info")
    assert [d["name"] for d in info["directions"]] == directions.names
    assert info["weights_sha256"] == weights_fingerprint(SHIPPED_WEIGHTS)


# ----------------------------------------------------------------------------- Draw

DRAWN = {"seven": [(70, 60), (210, 60), (120, 235)], "one": [(150, 40), (140, 240)],
         "zero": [(140, 40), (90, 80), (80, 170), (120, 240), (180, 220), (200, 120), (170, 50), (140, 40)]}


@pytest.mark.parametrize("name", list(DRAWN))
def test_draw_finds_the_style_python_finds(visit, generator, name, tmp_path_factory):
    """The page's preprocessing equals gan.latent.drawing's on the same canvas; its latent is the
    encoder's (run by onnxruntime in Python) on that image, refined by the same steps as
    gan.latent.encoder_search.polish_with_jacobian; its rows are the generator's."""
    import onnxruntime

    from gan.latent.drawing import prepare_drawing

    site = exported_site(tmp_path_factory)
    page = visit().open()
    page.click("button[data-tab=draw]")
    draw_on_canvas(page, DRAWN[name])
    wait_paints(page, "draw-strip", 0)
    rgba = page.evaluate("""() => { const c = document.getElementById('draw-canvas');
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""")
    canvas = np.array(rgba, dtype=np.uint8).reshape(280, 280, 4)
    target = prepare_drawing(canvas)
    np.testing.assert_array_equal(canvas_pixels(page, "draw-seen"), target)
    result = page.evaluate("""async () => { const c = document.getElementById('draw-canvas');
        const r = await DigitGAN.invert(c, {digit: 'auto'});
        return {latent: Array.from(r.latent), digit: r.digit, reading: r.reading}; }""")
    from gan.images import from_uint8
    from gan.model.classifier import load_classifier

    images = from_uint8(torch.from_numpy(target))[None, None]
    with torch.no_grad():
        read = int(load_classifier()(images).argmax())
    assert result["digit"] == read == result["reading"][0]["digit"]
    session = onnxruntime.InferenceSession(read_site_file(site, "models/encoder.onnx"))
    z = session.run(None, {"images": images.numpy(), "class_weights": np.eye(10, dtype=np.float32)[[read]]})[0][0]
    from gan.latent.encoder_search import polish_with_jacobian

    refined = polish_with_jacobian(generator, torch.from_numpy(z), read, torch.from_numpy(target))
    assert not np.allclose(refined.numpy(), z)  # the steps moved it
    np.testing.assert_allclose(result["latent"], refined.numpy(), atol=1e-4)
    from gan import generate_from_latents
    from gan.model.sampling import class_path
    from gan.serving.render import strip_of

    latent = torch.tensor(result["latent"], dtype=torch.float32)
    restyled = generate_from_latents(generator, latent, range(10)).numpy()    # as render_restyled
    frames = generate_from_latents(generator, latent, class_path(read, 8, 12)).numpy()  # as render_style_morph
    assert within_one_level(canvas_pixels(page, "draw-row"), strip_of(restyled)) >= 0.999
    assert within_one_level(canvas_pixels(page, "draw-strip"), strip_of(frames)) >= 0.999
    assert within_one_level(canvas_pixels(page, "draw-found"), restyled[read]) >= 0.999


# ----------------------------------------------------------------------------- bad input

def _message(page, elem_id: str, contains: str) -> str:
    page.wait_for_function("([id, text]) => document.getElementById(id).textContent.includes(text)",
                           arg=[elem_id, contains])
    return page.inner_text(f"#{elem_id}")


def _refusal(rule, *args) -> str:
    """gan.inputs' message for a refused value."""
    with pytest.raises(ValueError) as refused:
        rule(*args)
    return str(refused.value)


def test_the_inputs_take_their_limits_from_python(visit):
    """Ranges, steps, start values, hints and choices of the controls are Python's."""
    page = visit().open()
    attrs = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('input[data-limit]')].map(
        (i) => [i.id, {limit: i.dataset.limit, min: i.min, max: i.max, step: i.step, value: i.value}]))""")
    expected = {"seed": (0, inputs.MAX_SEED, 1, None), "grid": (1, inputs.MAX_GRID, 1, inputs.DEFAULT_GRID),
                "steps": (inputs.MIN_STEPS, inputs.MAX_STEPS, 1, inputs.DEFAULT_STEPS),
                "psi": (0, inputs.MAX_TRUNCATION, inputs.TRUNCATION_STEP, inputs.DEFAULT_TRUNCATION)}
    assert {a["limit"] for a in attrs.values()} == set(expected) and len(attrs) == 5 + 2 + 2 + 2 * 5
    for name, a in attrs.items():
        low, high, step, value = expected[a["limit"]]
        assert (float(a["min"]), float(a["max"]), float(a["step"])) == (low, high, step), name
        if value is not None:
            assert float(a["value"]) == value, name
    assert attrs["gen-seed"]["max"] == str(inputs.MAX_SEED)
    assert page.inner_text("[data-hint=seed-range]") == f"0 to {inputs.MAX_SEED:,}"
    assert page.eval_on_selector_all("#grid-mode option", "os => os.map((o) => o.value)") == list(GRID_MODES[:2])
    assert page.eval_on_selector("#draw-digit option", "o => o.value") == inputs.AUTO_DIGIT
    page.click("button[data-tab=explore]")
    sliders = page.eval_on_selector_all("#explore-sliders input", "is => is.map((i) => [i.min, i.max, i.step])")
    m = inputs.MAX_DIRECTION_STRENGTH
    assert sliders and all(tuple(map(float, s)) == (-m, m, inputs.STRENGTH_STEP) for s in sliders)


def test_bad_inputs_get_their_messages(visit):
    page = visit().open()
    for value in (1.5, -1, inputs.MAX_SEED + 1):
        page.fill("#gen-seed", str(value))
        assert _message(page, "gen-message", f"got {value}") == _refusal(inputs.as_seed, value)
        assert page.locator("#gen-image").is_visible()  # the last digit stays on screen
    page.fill("#gen-seed", "")
    assert _message(page, "gen-message", "got nothing") == \
        _refusal(inputs.as_seed, None).replace("got None", "got nothing")
    page.fill("#gen-seed", "42")
    page.wait_for_function("document.getElementById('gen-message').textContent === ''")
    page.fill("#gen-psi", "1.5")
    assert _message(page, "gen-message", "got 1.5") == _refusal(inputs.as_truncation, 1.5)
    page.fill("#gen-psi", "0.7")
    page.click("button[data-tab=grid]")
    page.fill("#grid-rows", str(inputs.MAX_GRID + 1))
    assert _message(page, "grid-message", f"got {inputs.MAX_GRID + 1}") == \
        _refusal(inputs.as_int, inputs.MAX_GRID + 1, "rows", 1, inputs.MAX_GRID)
    page.click("button[data-tab=draw]")
    page.click("#draw-find")
    _message(page, "draw-message", "the canvas is empty")
    # the pen is 22 px wide, like the app's, so a speck is a few pixels put there by a script
    page.evaluate("() => document.getElementById('draw-canvas').getContext('2d').fillRect(139, 139, 4, 4)")
    page.click("#draw-find")
    _message(page, "draw-message", "tiny speck")
    page.evaluate("() => { const c = document.getElementById('draw-canvas'); "
                  "c.getContext('2d').fillRect(10, 10, 260, 260); }")
    page.click("#draw-find")
    _message(page, "draw-message", "that is no digit")
    errors = page.evaluate("""async () => { const out = [];
        for (const call of [() => DigitGAN.generate([3], [2 ** 32]), () => DigitGAN.generate([10], [1]),
                            () => DigitGAN.generate([3], [1], {psi: -0.1}),
                            () => DigitGAN.generate([3], [1], {strengths: {tilt: 1}}),
                            () => DigitGAN.generate([3], [1], {strengths: {slant: 4}}),
                            () => DigitGAN.interpolate(3, 1, 8, 2, 1),
                            () => DigitGAN.restyle(new Float32Array(63)), () => DigitGAN.invert(new Uint8Array(784))]) {
          try { await call(); out.push('accepted'); } catch (e) { out.push(e.message); } }
        return out; }""")
    from gan.latent.directions import read_directions

    names = read_directions(SHIPPED_WEIGHTS).names
    assert errors[:6] == [_refusal(inputs.as_seed, 2**32), _refusal(inputs.as_digit, 10),
                          _refusal(inputs.as_truncation, -0.1), _refusal(inputs.as_strengths, {"tilt": 1}, names),
                          _refusal(inputs.as_strengths, {"slant": 4}, names), _refusal(inputs.as_steps, 1)]
    assert errors[6].startswith("latent must hold 64 numbers")
    assert errors[7].startswith("the drawing is empty")


GENERATOR_GZ, RUNTIME_GZ = "models/generator.onnx.gz", "ort/ort-wasm-simd-threaded.wasm.gz"


@pytest.mark.parametrize("path, body, message", [
    (GENERATOR_GZ, None, "is missing from this site (HTTP 404)"),
    (GENERATOR_GZ, b"\x08\x07not an onnx model" * 100, "is corrupt"),        # no gzip at all
    (GENERATOR_GZ, "truncated", "is corrupt"),                               # a download cut short
    (GENERATOR_GZ, gzip.compress(b"\x08\x07not an onnx model" * 100), "is corrupt: its sha256 does not match"),
    (RUNTIME_GZ, "truncated", "is corrupt"),
    (RUNTIME_GZ, None, "is missing from this site (HTTP 404)"),
], ids=["missing", "not-gzip", "truncated", "other-bytes", "runtime-truncated", "runtime-missing"])
def test_a_missing_or_corrupt_model_file_is_named(visit, path, body, message):
    v = visit()

    def answer(route):
        if body is None:
            route.fulfill(status=404, body="not found")
        elif body == "truncated":
            real = route.fetch().body()
            route.fulfill(status=200, body=real[: len(real) // 2], content_type="application/gzip")
        else:
            route.fulfill(status=200, body=body, content_type="application/gzip")

    v.page.route(f"**/{path}", answer)
    page = v.open(ready=False)
    status = page.inner_text("#status")
    what = "the generator" if path == GENERATOR_GZ else "the runtime"
    assert f"{what} ({path})" in status and message in status, status
    assert not page.locator("#loading").is_visible()


def test_a_browser_without_webassembly_is_told_so(visit):
    page = visit(init_script="delete window.WebAssembly;").open(ready=False)
    assert "no WebAssembly" in page.inner_text("#status")


def test_a_missing_encoder_is_explained_on_the_draw_tab(visit):
    v = visit()
    import json

    def without_encoder(route):
        manifest = json.loads(route.fetch().text())
        del manifest["models"]["encoder"]
        route.fulfill(status=200, content_type="application/json", body=json.dumps(manifest))

    v.page.route("**/site.json", without_encoder)
    page = v.open()
    page.click("button[data-tab=draw]")
    assert "needs the image-to-latent encoder" in page.inner_text("#draw-message")
    draw_on_canvas(page, DRAWN["seven"])
    _message(page, "draw-message", "needs the image-to-latent encoder")


# ----------------------------------------------------------------------------- the first seconds

def _fetched_before_ready(page) -> list[str]:
    return page.evaluate("""() => performance.getEntriesByType('resource')
        .filter((e) => e.startTime <= DigitGAN.readyAt).map((e) => new URL(e.name).pathname)""")


def test_the_prerendered_digit_is_on_screen_before_the_engine(visit, generator):
    """preview.png (the default view, drawn by Python) shows while the runtime is still on its
    way, with the loading bar; the engine's canvas then takes its place with the same digit."""
    v = visit()
    held = []
    v.page.route(f"**/{RUNTIME_GZ}", lambda route: held.append(route))
    v.page.goto(v.url, wait_until="domcontentloaded")
    page = v.page
    page.wait_for_function("() => { const i = document.getElementById('gen-preview');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    page.wait_for_function("() => document.getElementById('load-files').textContent.includes('the generator')")
    assert page.locator("#gen-preview").is_visible() and not page.locator("#gen-image").is_visible()
    assert page.locator("#load-progress").is_visible() and page.evaluate("document.body.dataset.ready") is None
    shoot(page, "before_ready")
    view = preview_view()
    expected = generator.generate([view["digit"]], [view["seed"]], truncation_psi=view["psi"])[0].numpy()
    shown = page.evaluate("""() => { const i = document.getElementById('gen-preview');
        const c = document.createElement('canvas');
        c.width = c.height = 28; const g = c.getContext('2d'); g.drawImage(i, 0, 0);
        return Array.from(g.getImageData(0, 0, 28, 28).data.filter((_, k) => k % 4 === 0)); }""")
    np.testing.assert_array_equal(np.array(shown, dtype=np.uint8).reshape(28, 28), expected)
    page.wait_for_timeout(200)
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_function("document.body.dataset.ready || document.body.dataset.failed")
    assert page.evaluate("document.body.dataset.ready") == "1", page.inner_text("#status")
    assert page.locator("#gen-image").is_visible() and not page.locator("#gen-preview").is_visible()
    assert not page.locator("#loading").is_visible()
    assert within_one_level(canvas_pixels(page, "gen-image"), expected) == 1.0


def test_only_the_first_digits_files_load_before_ready_and_draw_waits_for_its_models(visit):
    """Before DigitGAN.ready: the runtime and the generator, gzipped, and nothing of Draw's; after
    it the classifier, the encoder and the generator's Jacobian load when idle. Draw shows what
    will appear until a digit is drawn, then works."""
    v = visit()
    page = v.open()
    before = _fetched_before_ready(page)
    assert "/" + RUNTIME_GZ in before and "/" + GENERATOR_GZ in before, before
    assert not [p for p in before if "classifier" in p or "encoder" in p or "jacobian" in p
                or p.endswith((".onnx", ".wasm"))], before
    info = page.evaluate("DigitGAN.info")
    assert info["threads"] == 1   # a plain server: no cross-origin isolation, one thread
    page.click("button[data-tab=draw]")
    assert page.locator("#draw-placeholder").is_visible()
    assert "as the model sees it" in page.inner_text("#draw-placeholder")
    for hidden in ("#draw-seen", "#draw-found", "#draw-loop"):
        assert not page.locator(hidden).is_visible(), hidden
    page.wait_for_function("""() => performance.getEntriesByType('resource').filter((e) =>
        /models[/](classifier|encoder|jacobian)[.]onnx[.]gz$/.test(e.name)).length === 3""")
    draw_on_canvas(page, DRAWN["seven"])
    wait_paints(page, "draw-strip", 0)
    assert not page.locator("#draw-placeholder").is_visible()
    for shown in ("#draw-seen", "#draw-found", "#draw-loop"):
        assert page.locator(shown).is_visible(), shown
    assert page.inner_text("#draw-reading").startswith("The classifier reads")


def test_a_throttled_load_shows_the_digit_and_the_progress_at_once(visit):
    """At 20 Mbit/s, 40 ms (Chromium's network emulation): the pre-rendered digit is there and
    the loading bar counts the files' bytes well before ready. Behaviour only: the timings are
    benchmarks.browser's."""
    v = visit()
    cdp = v.context.new_cdp_session(v.page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 40,
                                                  "downloadThroughput": 2.5e6, "uploadThroughput": 2.5e6})
    page = v.page
    page.goto(v.url, wait_until="domcontentloaded")
    page.wait_for_function(
        "() => /the runtime [0-9.]+ of [0-9.]+ MB/.test(document.getElementById('load-files').textContent)")
    assert page.evaluate("document.body.dataset.ready") is None
    assert page.locator("#gen-preview").is_visible() and page.locator("#load-progress").is_visible()
    page.wait_for_function("document.body.dataset.ready || document.body.dataset.failed")
    assert page.evaluate("document.body.dataset.ready") == "1", page.inner_text("#status")
    assert page.locator("#gen-image").is_visible()


# ----------------------------------------------------------------------------- downloads

def _download(page, button: str) -> tuple[np.ndarray, dict[str, str], str]:
    with page.expect_download() as info:
        page.click(f"#{button}")
    download = info.value
    with Image.open(io.BytesIO(Path(download.path()).read_bytes())) as im:
        return np.asarray(im.convert("L")), dict(im.text), download.suggested_filename


def test_downloads_carry_the_servers_provenance(visit, generator):
    from gan import weights_fingerprint
    from gan.images import upscale

    page = visit().open()
    page.fill("#gen-psi", "0.7")
    page.wait_for_function("document.getElementById('gen-download').disabled === false")
    page.wait_for_timeout(300)
    pixels, meta, name = _download(page, "gen-download")
    fingerprint = weights_fingerprint(SHIPPED_WEIGHTS)
    assert meta == {"Software": "DigitGAN", "digit": "3", "seed": "42", "truncation_psi": "0.7",
                    "Description": "digit 3, seed 42, truncation psi 0.7", "scale": "10",
                    "weights_sha256": fingerprint}
    assert name == f"digit3_seed42_psi0.7_{fingerprint[:8]}.png"
    expected = upscale(generator.generate([3], [42], truncation_psi=0.7)[0].numpy(), 10)
    assert within_one_level(pixels, expected) >= 0.999
    page.click("button[data-tab=explore]")
    page.locator("#explore-sliders-thickness").fill("-1.5")
    page.wait_for_timeout(500)
    _, meta, _ = _download(page, "explore-download")
    assert meta["edit"] == "thickness=-1.5" and meta["digit"] == "2" and meta["seed"] == "7"
    assert meta["directions"].split(",")[:2] == ["slant", "thickness"]
    assert meta["strengths"].split(",")[:2] == ["0.0", "-1.5"]
    page.click("button[data-tab=draw]")
    draw_on_canvas(page, DRAWN["one"])
    wait_paints(page, "draw-row", 0)
    _, meta, _ = _download(page, "draw-row-download")
    assert meta["latent"] == page.input_value("#draw-latent")
    from gan.latent.codec import decode_latent

    assert decode_latent(meta["latent"], 64).shape == (64,)


# ----------------------------------------------------------------------------- Learn

def _requests(page) -> list[str]:
    return page.evaluate("performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname)")


def test_learn_shows_the_training_timeline(visit, tmp_path_factory):
    """The timeline is fetched only when asked for; DigitGAN.timeline() and timelineFrame(i) are
    the file's, byte for byte; the tab shows a step's grid, its caption and the curves with a
    marker there, and the slider and the player move the step."""
    from gan.images import make_grid
    from gan.model.timeline import load_timeline

    timeline = load_timeline(exported_weights(tmp_path_factory))
    v = visit()
    page = v.open()
    assert not [r for r in _requests(page) if "timeline" in r], "the timeline was fetched before it was asked for"
    got = page.evaluate("DigitGAN.timeline()")
    assert got["steps"] == list(TIMELINE_STEPS) and got["seeds"] == list(range(10))
    assert got["metrics"] == timeline.metrics()
    last = len(TIMELINE_STEPS) - 1
    for index in (0, last // 2, last):
        frame = _api(page, "DigitGAN.timelineFrame(args[0])", index)
        assert frame.tobytes() == np.ascontiguousarray(timeline.frames[index]).tobytes(), index
    refusals = page.evaluate("""async (last) => { const out = [];
        for (const i of [-1, last + 1, 1.5, '2', null]) {
          try { await DigitGAN.timelineFrame(i); out.push('accepted'); } catch (e) { out.push(e.message); } }
        return out; }""", last)
    assert refusals[:3] == [f"frame must be a whole number from 0 to {last}, got {x}" for x in ("-1", last + 1, "1.5")]
    assert all(r.startswith(f"frame must be a whole number from 0 to {last}") for r in refusals)

    page.click("button[data-tab=learn]")
    wait_paints(page, "learn-grid", 0)
    grid = lambda i: make_grid(timeline.frames[i].reshape(-1, 28, 28), rows=10, cols=10)  # noqa: E731
    np.testing.assert_array_equal(canvas_pixels(page, "learn-grid"), grid(last))
    assert page.inner_text("#learn-step") == f"{TIMELINE_STEPS[-1]:,}"
    assert page.evaluate("location.hash") == f"#tab=learn&step={TIMELINE_STEPS[-1]}"
    from gan.serving.timeline_view import EXPLANATION

    assert page.inner_text("#learn-explanation") == EXPLANATION
    assert page.inner_text("#learn-caption").startswith(f"Step {TIMELINE_STEPS[-1]:,} of")
    before = paints(page, "learn-grid")
    page.locator("#learn-frame").fill("1")
    wait_paints(page, "learn-grid", before)
    np.testing.assert_array_equal(canvas_pixels(page, "learn-grid"), grid(1))
    assert page.inner_text("#learn-step") == f"{TIMELINE_STEPS[1]:,}"
    assert page.evaluate("DigitGAN.view()") == {"tab": "learn", "step": TIMELINE_STEPS[1]}
    assert page.evaluate("location.hash") == f"#tab=learn&step={TIMELINE_STEPS[1]}"
    curves = page.evaluate("JSON.parse(document.getElementById('learn-curves').dataset.curves)")
    assert curves["marker"] == TIMELINE_STEPS[1]
    drawn = {name: points for panel in curves["panels"] for name, points in panel["series"].items()}
    for name in ("frechet", "accuracy", "coverage", "d_real", "d_fake"):   # only the measured points
        measured = [[int(s), float(x)] for s, x in zip(timeline.steps, timeline.curves[name]) if not np.isnan(x)]
        assert np.allclose(drawn[name], measured) if measured else drawn[name] == [], name
    assert drawn["coverage"] == [] and len(drawn["frechet"]) == len(TIMELINE_STEPS) - 1
    shoot(page, "learn")
    page.click("#learn-play")                      # plays on from frame 1 to the last, then stops
    page.wait_for_function("s => document.getElementById('learn-step').textContent === s",
                           arg=f"{TIMELINE_STEPS[-1]:,}", timeout=15_000)
    page.wait_for_function("document.getElementById('learn-play').textContent.includes('Play')")
    assert v.errors == []


def test_without_a_timeline_learn_says_how_to_get_one(visit, tmp_path, generator):
    """The manifest of an export without a timeline: the Learn tab says so and how to get one,
    the script API refuses saying there is none, and the other tabs work."""
    import json

    from gan.space.static_site import StaticSite, _write_timeline

    weights = tmp_path / "weights"
    weights.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy2(SHIPPED_WEIGHTS / name, weights / name)
    entry = _write_timeline(tmp_path, weights, generator, StaticSite(tmp_path, ""))
    assert entry["available"] is False
    v = visit()

    def without_timeline(route):
        manifest = json.loads(route.fetch().text())
        manifest["timeline"] = entry
        route.fulfill(status=200, content_type="application/json", body=json.dumps(manifest))

    v.page.route("**/site.json", without_timeline)
    page = v.open(hash="tab=learn")
    text = _message(page, "learn-message", "No training timeline")
    assert "train.py writes timeline.safetensors beside the weights at every export" in text
    assert entry["reason"] in text and page.locator("#learn-view").is_hidden()
    assert page.evaluate("DigitGAN.view()") == {"tab": "learn", "step": None}
    refusals = page.evaluate("""async () => { const out = [];
        for (const call of [() => DigitGAN.timeline(), () => DigitGAN.timelineFrame(0)]) {
          try { await call(); out.push('accepted'); } catch (e) { out.push(e.message); } }
        return out; }""")
    assert all(r.startswith("this site has no training timeline") for r in refusals), refusals
    assert not [r for r in _requests(page) if "timeline" in r]
    shoot(page, "learn_none")
    page.click("button[data-tab=grid]")
    wait_paints(page, "grid-image", 0)
    page.click("button[data-tab=generate]")
    assert page.evaluate("DigitGAN.view()")["tab"] == "generate"
    assert v.errors == []


# ----------------------------------------------------------------------------- links

def _python_view(hash_: str, directions: list[str], last_step: int) -> tuple[dict, str]:
    """parse_view of a link as DigitGAN.view() has it, and its message (a Learn link without a
    step shows the last one)."""
    from urllib.parse import parse_qsl

    from gan.serving.views import STEERED_TABS, parse_view

    parsed = parse_view(dict(parse_qsl(hash_, keep_blank_values=True)), directions=directions)
    view = {"tab": parsed.tab, **parsed.values}
    if parsed.tab in STEERED_TABS:
        view["strengths"] = parsed.strengths
    if parsed.tab == "learn" and view["step"] is None:
        view["step"] = last_step
    return view, parsed.message()


def test_a_link_opens_its_view_and_the_address_follows_the_page(visit, browser, url, generator):
    from gan.latent.directions import generate_edited, read_directions

    directions = read_directions(SHIPPED_WEIGHTS)
    v = visit()
    page = v.open(hash="tab=explore&digit=2&seed=7&psi=0.8&slant=1.5")
    assert page.evaluate("DigitGAN.view()") == {"tab": "explore", "digit": 2, "seed": 7, "psi": 0.8,
                                                "strengths": {"slant": 1.5}}
    assert page.locator("#tab-explore").is_visible() and page.inner_text("#view-message") == ""
    expected = generate_edited(generator, [2], [7], directions=directions, strengths={"slant": 1.5},
                               truncation_psi=0.8)[0].numpy()
    assert within_one_level(canvas_pixels(page, "explore-image"), expected) >= 0.999
    assert page.input_value("#explore-sliders-slant") == "1.5"
    link = page.evaluate("DigitGAN.link()")
    assert link == url + "#tab=explore&digit=2&seed=7&psi=0.8&slant=1.5"
    history = page.evaluate("history.length")
    page.fill("#explore-seed", "9")
    page.wait_for_function("location.hash.includes('seed=9')")
    page.locator("#explore-sliders-thickness").fill("-1")
    page.wait_for_function("location.hash.includes('thickness=-1')")
    assert page.evaluate("location.hash") == "#tab=explore&digit=2&seed=9&psi=0.8&slant=1.5&thickness=-1"
    assert page.evaluate("history.length") == history              # replaced, not pushed
    link = page.evaluate("DigitGAN.link()")
    view = page.evaluate("DigitGAN.view()")
    again = visit()
    again.url = link.split("#")[0]
    other = again.open(hash=link.split("#", 1)[1])
    assert other.evaluate("DigitGAN.view()") == view
    np.testing.assert_array_equal(canvas_pixels(other, "explore-image"), canvas_pixels(page, "explore-image"))
    # every tab's view is a link, and a hashchange shows it
    from gan import generate_from_latents, latents_from_seeds
    from gan.latent.codec import encode_latent

    latent = latents_from_seeds([5], 64)[0]
    for hash_, tab in (("tab=grid&rows=3&cols=4&mode=all+one+digit&digit=5&seed=11&psi=0.7", "grid"),
                       ("tab=interpolate&digit_a=1&seed_a=3&digit_b=7&seed_b=4&steps=5&method=lerp&psi=0.9",
                        "interpolate"),
                       (f"tab=learn&step={TIMELINE_STEPS[2]}", "learn"),
                       (f"tab=draw&latent={encode_latent(latent)}&psi=0.75&thickness=1.2", "draw"),
                       ("tab=generate&digit=8&seed=1234&psi=0.65", "generate")):
        count = int(page.evaluate("document.body.dataset.views || 0"))
        page.evaluate("h => { location.hash = h; }", hash_)
        page.wait_for_function("n => Number(document.body.dataset.views || 0) > n", arg=count)
        expected_view, _ = _python_view(hash_, directions.names, TIMELINE_STEPS[-1])
        assert page.evaluate("DigitGAN.view()") == expected_view, hash_
        assert page.locator(f"#tab-{tab}").is_visible()
        assert page.evaluate("location.hash") == f"#{hash_}", hash_      # the address is that view's link
    assert within_one_level(canvas_pixels(page, "gen-image"),
                            generator.generate([8], [1234], truncation_psi=0.65)[0].numpy()) >= 0.999
    page.evaluate("h => { location.hash = h; }", f"tab=draw&latent={encode_latent(latent)}&psi=0.75&thickness=1.2")
    wait_paints(page, "draw-loop", 0)
    from gan.latent.directions import apply_directions
    from gan.serving.render import strip_of

    edited = apply_directions(latent, directions, {"thickness": 1.2}) * 0.75
    restyled = generate_from_latents(generator, edited, range(10)).numpy()
    page.wait_for_function("document.getElementById('draw-latent').value.startsWith('z1.')")
    assert within_one_level(canvas_pixels(page, "draw-row"), strip_of(restyled)) >= 0.999
    page.click("button[data-tab=about]")
    assert page.evaluate("location.hash") == "#about" and page.evaluate("DigitGAN.view()") == {"tab": "about"}
    page.click("#copy-link")
    page.wait_for_function("document.getElementById('link-note').textContent !== ''")
    note = page.inner_text("#link-note")
    assert note == "Link copied" or page.input_value("#link-text") == url + "#about", note
    assert v.errors == [] and again.errors == []


def test_hostile_links_open_with_parse_views_message(visit):
    """Links with bad values open the page with the bad fields at their defaults and
    parse_view's message, word for word, and no page error: on opening, and on a hashchange."""
    from gan.latent.directions import read_directions

    names = read_directions(SHIPPED_WEIGHTS).names
    v = visit()
    first = HOSTILE_HASHES[0]
    page = v.open(hash=first)
    view, message = _python_view(first, names, TIMELINE_STEPS[-1])
    assert page.evaluate("DigitGAN.view()") == view
    assert page.text_content("#view-message") == message and message.startswith("This link had values")
    assert page.locator("#tab-explore").is_visible()
    for hash_ in HOSTILE_HASHES[1:]:
        count = int(page.evaluate("document.body.dataset.views || 0"))
        page.evaluate("h => { location.hash = h; }", hash_)
        page.wait_for_function("n => Number(document.body.dataset.views || 0) > n", arg=count)
        view, message = _python_view(hash_, names, TIMELINE_STEPS[-1])
        assert page.evaluate("DigitGAN.view()") == view, hash_
        assert page.text_content("#view-message") == message, hash_
    # a few more straight from the address bar, and the Gradio app's one mode the page lacks
    for hash_ in ("tab=grid&mode=random+digits&seed=-1", "tab=nope&digit=99", "tab=learn&step=77"):
        again = visit()
        other = again.open(hash=hash_)
        view, message = _python_view(hash_, names, TIMELINE_STEPS[-1])
        if "random" in hash_:
            view["mode"] = GRID_MODES[0]
            message += ("; mode must be one of " + ", ".join(repr(m) for m in GRID_MODES[:2])
                        + " in the browser, got 'random digits'")
        if "step=77" in hash_:
            view["step"] = 100                     # the nearest frame, with the timeline's words
            assert other.text_content("#learn-message") == \
                "step 77 is not in the timeline (its 5 steps run from 0 to 1000); the nearest: 50 and 100"
        assert other.evaluate("DigitGAN.view()") == view, hash_
        assert other.text_content("#view-message") == message, hash_
        assert other.locator(f"#tab-{view['tab']}").is_visible()
        assert again.errors == []
    assert v.errors == []
