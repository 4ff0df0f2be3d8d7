"""Draw: a visitor's handwriting, found in latent space and written as every digit.

Draw on the canvas (or upload a picture), then "Find my style": the page shows the drawing
as the model sees it, what the classifier reads, the generator's closest image, and the
found latent written as 0-9, morphed into another digit and steered along named directions.
"""
from __future__ import annotations

import gradio as gr

from gan.inputs import AUTO_DIGIT, MAX_DIRECTION_STRENGTH, MAX_STEPS
from gan.serving.service import DigitService

from .explore import DIRECTION_SLOTS, edit_json, slider_updates
from .widgets import LIVE, PRIVATE, checked_by_handler, digit_radio, picture, psi_slider, slider, user_errors

SEARCH_DIGITS = [AUTO_DIGIT, *range(10)]


def _blank(latent) -> bool:
    """An empty latent box (the page before a search): nothing to draw. An empty list sent to
    the API is no latent and is refused like any other."""
    return latent is None or (isinstance(latent, str) and not latent.strip())


class DrawHandlers:
    """The Draw tab's handlers over the service; refused input becomes one gr.Error."""

    def __init__(self, service: DigitService):
        self.service = service
        self.restyle = user_errors(service.restyle)
        self.directions = user_errors(service.latent_directions)

    def draw(self, image, digit=AUTO_DIGIT) -> tuple:
        """(drawing as the model sees it, reading, reconstruction, latent, searched digit)."""
        drawing, found, reading, latent, digit_used = user_errors(self.service.draw)(image, digit)
        return drawing, reading, found, latent, digit_used

    def draw_sketch(self, sketch, digit) -> tuple:
        """The sketchpad sends layers and a composite; the composite is the drawing."""
        return self.draw(sketch.get("composite") if isinstance(sketch, dict) else sketch, digit)

    def morph(self, latent, digit_a, digit_b, steps, psi) -> tuple:
        # A pasted latent has no searched digit yet: nothing to morph from (and no error to show).
        if _blank(latent) or digit_a is None:
            return None, None
        return user_errors(self.service.style_morph)(latent, digit_a, digit_b, steps, psi)

    def restyle_view(self, latent, truncation_psi=1.0, strengths="{}"):
        return None if _blank(latent) else self.restyle(latent, truncation_psi, strengths)

    def edit_json(self, *values) -> str:
        return edit_json(self.directions(), values)

    def sliders(self) -> list:
        """The steering sliders labelled with the served weights' directions."""
        return slider_updates(self.directions())


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


def build_draw_tab(h: DrawHandlers) -> dict:
    """Returns the event (fn, outputs) that labels the steering sliders for the served weights."""
    with gr.Tab("Draw", id="draw"):
        with gr.Row():
            with gr.Column(scale=2):
                sketch = gr.Sketchpad(label="Draw a digit (white or black ink, any size)",
                                      type="numpy", image_mode="RGBA", canvas_size=(280, 280),
                                      # strokes about as thick, for the canvas, as MNIST's pen
                                      brush=gr.Brush(default_size=22, colors=["#000000", "#ffffff"],
                                                     default_color="#000000"),
                                      elem_id="draw-canvas")
                # As a PIL image in its own mode: an RGB conversion would turn a transparent
                # background black (hiding black strokes), and a lazily opened file lets the
                # size rule refuse a huge upload before its pixels are decoded.
                upload = gr.Image(label="... or upload a picture of one", type="pil", image_mode=None,
                                  sources=["upload", "clipboard"], elem_id="draw-upload", height=160)
            with gr.Column(scale=1):
                digit = checked_by_handler(gr.Dropdown(
                    SEARCH_DIGITS, value=AUTO_DIGIT, label="Search it as digit",
                    info="auto = what the classifier reads; pick one to override it"))
                # The stock schema calls every choice a string; the API takes the digit as a number.
                digit.api_info = lambda: {"anyOf": [{"type": "string", "enum": [AUTO_DIGIT]}, {"type": "integer"}],
                                          "description": "'auto' (the classifier's reading) or a digit 0-9"}
                find = gr.Button("Find my style", variant="primary", elem_id="draw-find")
                reading = gr.Label(label="What the classifier reads", num_top_classes=3)
                digit_used = gr.Number(label="Searched as digit", precision=0, interactive=False,
                                       elem_id="draw-digit-used")
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
    found_io = {"outputs": [seen, reading, found, latent, digit_used]}
    upload.upload(h.draw, inputs=[upload, digit], api_name="draw", **found_io,
                  api_description="Find a digit picture's handwriting: (drawing as the model sees "
                                  "it, top-3 reading, reconstruction, latent, the digit searched). "
                                  "digit: 0-9 or 'auto' (the classifier's reading).")
    find.click(h.draw_sketch, inputs=[sketch, digit], **found_io, **PRIVATE)
    gr.on([latent.change, psi.change, edit.change], h.restyle_view, inputs=[latent, psi, edit],
          outputs=style_row, api_name="restyle", **LIVE,
          api_description="A latent (text from /draw or a list of numbers) written as digits 0-9; "
                          "strengths optional, as for /explore.")
    gr.on([latent.change, target.change, steps.change, psi.change], h.morph,
          inputs=[latent, digit_used, target, steps, psi], outputs=[strip, gif], **LIVE, **PRIVATE)
    gr.on([s.change for s in strengths], h.edit_json, inputs=strengths, outputs=edit, **LIVE, **PRIVATE)
    return {"fn": h.sliders, "outputs": strengths}
