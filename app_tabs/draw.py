"""Draw: a visitor's handwriting, found in latent space and written as every digit.

The canvas opens ready to draw on (the pen picked, no layers or zoom to learn first); when a
stroke ends the drawing is searched, and one answer brings the drawing as the model sees it,
what the classifier reads, the generator's closest image, and the found latent written as
0-9 and morphed into another digit. An uploaded picture is searched when it arrives; "Find
my style" searches again (e.g. as another digit). The found style is steered along the
Explore tab's named directions.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import gradio as gr
import numpy as np
from gradio.utils import get_upload_folder
from PIL import Image

from gan.inputs import AUTO_DIGIT, MAX_DIRECTION_STRENGTH, MAX_STEPS
from gan.serving.service import Animation, DigitService

from .explore import DIRECTION_SLOTS, edit_json, slider_updates
from .links import LinkFields
from .widgets import LIVE, PRIVATE, checked_by_handler, digit_radio, from_page, picture, psi_slider, slider, user_errors

SEARCH_DIGITS = [AUTO_DIGIT, *range(10)]
# The pen's radius on the 280 px canvas: a digit drawn about 220 px tall with a 28 px wide
# stroke has MNIST's stroke-to-height ratio (2.6 px of 18 in the 28x28 digits).
PEN_RADIUS = 14
NOTHING_TO_SEARCH = "Draw a digit on the canvas (or upload a picture of one) first."
UPLOAD_RULE = ("upload a picture of a digit (PNG, JPEG, GIF, BMP, WebP, TIFF); from Python, "
               "gradio_client.handle_file(path) uploads one")


class FoundViews(NamedTuple):
    """What a search shows, in the order of the tab's outputs for it."""
    seen: object        # the drawing as the model sees it
    reading: object     # what the classifier reads (top 3)
    found: object       # the generator's closest digit
    latent: object      # the found latent as text
    digit_used: object  # the digit it was searched as


class StyleViews(NamedTuple):
    """The found style written out, in the order of the tab's outputs for it."""
    row: object         # as digits 0-9
    strip: object       # morphing into the target digit: the frames
    gif: object         # ... and their animation


NO_STYLE = StyleViews(None, None, None)
# a cleared canvas: every view of the drawing cleared with it
NO_VIEWS = (*FoundViews(None, None, None, None, None), *NO_STYLE)

# The canvas starts with no tool picked, so a first stroke would select the hint text instead
# of drawing: pick the pen whenever neither pen nor eraser is (the tab's first show, and after
# "Clear canvas", which puts the editor back to its start).
PICK_THE_PEN = """() => {
  if (window.digitganPen) return;
  const pick = () => {
    const canvas = document.querySelector('#draw-canvas');
    const pen = canvas && canvas.querySelector('button[aria-label="Brush"]');
    const eraser = canvas && canvas.querySelector('button[aria-label="Erase"]');
    if (pen && !pen.classList.contains('highlight') && !(eraser && eraser.classList.contains('highlight'))) pen.click();
  };
  window.digitganPen = new MutationObserver(pick);
  window.digitganPen.observe(document.body, {childList: true, subtree: true, attributes: true,
                                             attributeFilter: ['class']});
  pick();
}"""


def _blank(latent) -> bool:
    """An empty latent box (the page before a search): nothing to draw."""
    return latent is None or (isinstance(latent, str) and not latent.strip())


def canvas_image(sketch) -> np.ndarray | None:
    """The sketchpad's drawing (its composite), or None when nothing is on it: cleared, never
    drawn on, or all strokes erased (one flat colour)."""
    image = sketch.get("composite") if isinstance(sketch, dict) else sketch
    if image is None:
        return None
    pixels = np.asarray(image)
    if pixels.ndim >= 2 and pixels.size and (pixels == pixels[:1, :1]).all():
        return None
    return image


def uploaded_file(payload, upload_folder: str | Path) -> Path:
    """The file an upload names, opened by the library itself (its size rule comes before any
    pixel is decoded). Only files uploaded to this server are read: a path sent by a client
    that points anywhere else is refused."""
    if payload is None:
        raise ValueError(f"image is missing: {UPLOAD_RULE}")
    path = payload.get("path") if isinstance(payload, dict) else None
    if not isinstance(path, str) or not path:
        raise ValueError(f"image must be an uploaded file: {UPLOAD_RULE}; got {type(payload).__name__}")
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(Path(upload_folder).resolve()) or not resolved.is_file():
        raise ValueError(f"image must be a file uploaded to this app: {UPLOAD_RULE}")
    return resolved


class DrawHandlers:
    """The Draw tab's handlers over the service; a refused input becomes one message."""

    def __init__(self, service: DigitService, upload_folder: str | Path | None = None):
        self.service = service
        # where Gradio keeps what visitors and clients upload (and nothing else)
        self.upload_folder = upload_folder if upload_folder is not None else get_upload_folder()

    def _found(self, image, digit) -> FoundViews:
        result = self.service.draw(image, digit)
        return FoundViews(seen=result.drawing, reading=result.reading, found=result.reconstruction,
                          latent=result.latent, digit_used=result.digit)

    def _style_views(self, latent, digit_used, psi, strengths, target, steps) -> StyleViews:
        """The row first, the morph after it."""
        row = self.service.restyle(latent, psi, strengths)
        morph = self.service.style_morph(latent, digit_used, target, steps, psi)
        return StyleViews(row=row, strip=morph.strip, gif=morph.gif)

    def _all_views(self, image, digit, psi, strengths, target, steps) -> tuple:
        """FoundViews then StyleViews: one answer for everything the drawing shows."""
        found = self._found(image, digit)
        return (*found, *self._style_views(found.latent, found.digit_used, psi, strengths, target, steps))

    @user_errors
    def draw(self, image, digit=AUTO_DIGIT) -> FoundViews:
        """/draw: an uploaded picture (or, called from Python, a PIL image or an array)."""
        if not isinstance(image, (np.ndarray, Image.Image)):
            image = uploaded_file(image, self.upload_folder)
        return self._found(image, digit)

    @user_errors
    def sketch_views(self, sketch, digit, psi=1.0, strengths="{}", target=8, steps=12) -> tuple:
        """A stroke ended: everything the drawing shows, in one answer (one round trip
        instead of a search followed by two more requests). A cleared canvas clears them."""
        image = canvas_image(sketch)
        if image is None:
            return NO_VIEWS
        return self._all_views(image, digit, psi, strengths, target, steps)

    @user_errors
    def find_views(self, sketch, upload, digit, psi=1.0, strengths="{}", target=8, steps=12) -> tuple:
        """"Find my style": the canvas if it holds a drawing, else the uploaded picture."""
        image = canvas_image(sketch)
        if image is None:
            if upload is None:
                raise ValueError(NOTHING_TO_SEARCH)
            image = uploaded_file(upload, self.upload_folder)
        return self._all_views(image, digit, psi, strengths, target, steps)

    @user_errors
    def style_views(self, latent, digit_used, psi=1.0, strengths="{}", target=8, steps=12) -> StyleViews:
        """After an upload's search: its style row and morph (nothing without a latent)."""
        if _blank(latent) or digit_used is None:
            return NO_STYLE
        return self._style_views(latent, digit_used, psi, strengths, target, steps)

    @user_errors
    def morph(self, latent, digit_a, digit_b, steps, psi) -> Animation:
        # A pasted latent has no searched digit yet: nothing to morph from (and no error to show).
        if _blank(latent) or digit_a is None:
            return Animation(None, None)
        return self.service.style_morph(latent, digit_a, digit_b, steps, psi)

    @user_errors
    def restyle(self, latent, truncation_psi=1.0, strengths="{}"):
        """/restyle. The page's empty latent box (before a search) draws nothing; a caller of
        the API who sends no latent is told what is missing."""
        if _blank(latent) and from_page():
            return None
        return self.service.restyle(latent, truncation_psi, strengths)

    @user_errors
    def edit_json(self, *values) -> str:
        return edit_json(self.service.latent_directions(), values)

    @user_errors
    def sliders(self) -> list:
        """The steering sliders labelled with the served weights' directions."""
        return slider_updates(self.service.latent_directions())


def _canvas_column() -> tuple:
    sketch = gr.Sketchpad(label="Draw a digit", type="numpy", image_mode="RGBA", canvas_size=(280, 280),
                          brush=gr.Brush(default_size=PEN_RADIUS, colors=["#000000"], color_mode="fixed"),
                          eraser=gr.Eraser(default_size=PEN_RADIUS), layers=False, transforms=(),
                          buttons=[], elem_id="draw-canvas")
    # Received as the uploaded file's path and opened by the library (gan.latent.drawing), so
    # its size rule runs before any pixel is decoded and a file that is no image, or is cut
    # short, is told so. The stock checks (a schema, then PIL) would answer both with an
    # unexplained internal error; the schema still documents the parameter.
    upload = checked_by_handler(gr.Image(label="... or upload a picture of one", type="filepath",
                                         sources=["upload", "clipboard"], elem_id="draw-upload", height=160))
    schema = upload.api_info()
    upload.data_model = None
    upload.api_info = lambda: schema
    return sketch, upload


def _search_column() -> tuple:
    digit = checked_by_handler(gr.Dropdown(
        SEARCH_DIGITS, value=AUTO_DIGIT, label="Search it as digit",
        info="auto = what the classifier reads; pick one, then Find my style, to override it"))
    # The stock schema calls every choice a string; the API takes the digit as a number.
    digit.api_info = lambda: {"anyOf": [{"type": "string", "enum": [AUTO_DIGIT]}, {"type": "integer"}],
                              "description": "'auto' (the classifier's reading) or a digit 0-9"}
    find = gr.Button("Find my style", variant="primary", elem_id="draw-find")
    reading = gr.Label(label="What the classifier reads", num_top_classes=3)
    digit_used = gr.Number(value=None, label="Searched as digit", precision=0, interactive=False,
                           elem_id="draw-digit-used")
    return digit, find, reading, digit_used


def _morph_controls() -> tuple:
    with gr.Accordion("Morph your digit into another", open=True):
        with gr.Row():
            target = digit_radio("Into digit", 8, "draw-target")
            steps = slider(2, MAX_STEPS, value=12, step=1, precision=0, label="Steps")
        with gr.Row():
            strip = picture("Frames", elem_id="draw-strip")
            gif = gr.Image(label="Animation", type="filepath", interactive=False,
                           elem_classes=["pixelated"], elem_id="draw-gif", height=200)
    return target, steps, strip, gif


def _steering_controls() -> tuple:
    with gr.Accordion("Steer it (the Explore tab's directions)", open=False):
        m = MAX_DIRECTION_STRENGTH
        strengths = [slider(-m, m, value=0.0, step=0.1, label=f"direction {i + 1}",
                            elem_id=f"draw-strength-{i}") for i in range(DIRECTION_SLOTS)]
        edit = checked_by_handler(gr.Textbox(value="{}", label="Edit (JSON)", elem_id="draw-edit"))
    return strengths, edit


def build_draw_tab(h: DrawHandlers, links: LinkFields) -> dict:
    """Returns the event (fn, outputs) that labels the steering sliders for the served weights."""
    with gr.Tab("Draw", id="draw") as tab:
        with gr.Row():
            with gr.Column(scale=2):
                sketch, upload = _canvas_column()
            with gr.Column(scale=1):
                digit, find, reading, digit_used = _search_column()
            with gr.Column(scale=2):
                with gr.Row():
                    seen = picture("Your drawing as the model sees it", elem_id="draw-seen", height=200)
                    found = picture("The generator's closest digit", elem_id="draw-found", height=200)
        latent = checked_by_handler(gr.Textbox(
            label="Your style as a latent (paste one to reuse it; sent to /restyle)",
            elem_id="draw-latent", max_lines=2))
        # The API takes the latent as text or as a list; the stock preprocess would turn a list into text.
        latent.api_info = lambda: {"description": "a latent: text from /draw (starting 'z1.') or a "
                                                  "list of z_dim numbers"}
        psi = psi_slider("draw-psi")
        style_row = picture("Your style, all ten digits", elem_id="draw-row")
        target, steps, strip, gif = _morph_controls()
        strengths, edit = _steering_controls()
    tab.select(None, js=PICK_THE_PEN, **PRIVATE)
    found_io = list(FoundViews(seen=seen, reading=reading, found=found, latent=latent, digit_used=digit_used))
    views = list(StyleViews(row=style_row, strip=strip, gif=gif))
    style_inputs = [psi, edit, target, steps]
    sketch.change(h.sketch_views, inputs=[sketch, digit, *style_inputs], outputs=found_io + views,
                  **LIVE, **PRIVATE)
    find.click(h.find_views, inputs=[sketch, upload, digit, *style_inputs], outputs=found_io + views,
               **PRIVATE)
    upload.upload(h.draw, inputs=[upload, digit], outputs=found_io, api_name="draw",
                  api_description="Find a digit picture's handwriting: (drawing as the model sees "
                                  "it, top-3 reading, reconstruction, latent, the digit searched). "
                                  "digit: 0-9 or 'auto' (the classifier's reading).").success(
        h.style_views, inputs=[latent, digit_used, *style_inputs], outputs=views, **PRIVATE)
    # typed or pasted latents (`input`): the searches above bring their own row and morph
    gr.on([latent.input, psi.change, edit.change], h.restyle, inputs=[latent, psi, edit],
          outputs=style_row, api_name="restyle", **LIVE,
          api_description="A latent (text from /draw or a list of numbers) written as digits 0-9; "
                          "strengths optional, as for /explore.")
    gr.on([latent.input, target.change, steps.change, psi.change], h.morph,
          inputs=[latent, digit_used, target, steps, psi], outputs=list(Animation(strip=strip, gif=gif)),
          **LIVE, **PRIVATE)
    gr.on([s.change for s in strengths], h.edit_json, inputs=strengths, outputs=edit, **LIVE, **PRIVATE)
    # a latent from a link: drawn as all ten digits once it is set (its `input` event is the user's)
    links.add("draw", tab, strengths=strengths, latent=latent, psi=psi,
              after_open={"fn": h.restyle, "inputs": [latent, psi, edit], "outputs": style_row})
    return {"fn": h.sliders, "outputs": strengths}
