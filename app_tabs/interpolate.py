"""Interpolate: a walk from (digit A, seed A) to (digit B, seed B) as a strip and a GIF."""
from __future__ import annotations

import gradio as gr

from gan.inputs import MAX_STEPS
from gan.model.sampling import INTERPOLATION_METHODS

from .handlers import Handlers
from .links import LinkFields
from .widgets import LIVE, digit_radio, picture, psi_slider, radio, seed_with_dice, slider


def build_interpolate_tab(handlers: Handlers, links: LinkFields) -> dict:
    """Returns the event (fn, inputs, outputs) that redraws the tab."""
    roll = handlers.random_seed
    with gr.Tab("Interpolate", id="interpolate") as tab:
        with gr.Row():
            with gr.Column():
                digit_a = digit_radio("Digit A", 3, "digit-a")
                seed_a = seed_with_dice("Seed A", 1, "seed-a", "dice-a", random_seed=roll)
            with gr.Column():
                digit_b = digit_radio("Digit B", 8, "digit-b")
                seed_b = seed_with_dice("Seed B", 2, "seed-b", "dice-b", random_seed=roll)
        with gr.Row():
            steps = slider(2, MAX_STEPS, value=12, step=1, precision=0, label="Steps")
            method = radio(list(INTERPOLATION_METHODS), value="slerp", label="Path",
                           info="slerp: along the sphere; lerp: straight line")
            psi = psi_slider("interp-psi")
        strip = picture("Frames", elem_id="strip-image")
        gif = gr.Image(label="Animation", type="filepath", interactive=False,
                       buttons=["download", "fullscreen"], elem_classes=["pixelated"],
                       elem_id="gif-image", height=200)
    inputs = [digit_a, seed_a, digit_b, seed_b, steps, method, psi]
    links.add("interpolate", tab, digit_a=digit_a, seed_a=seed_a, digit_b=digit_b, seed_b=seed_b, steps=steps,
              method=method, psi=psi)
    redraw = {"fn": handlers.interpolate, "inputs": inputs, "outputs": [strip, gif]}
    gr.on([c.change for c in inputs], api_name="interpolate",
          api_description="Frames from (digit_a, seed_a) to (digit_b, seed_b): a PNG strip "
                          "and an animated GIF.", **redraw, **LIVE)
    return redraw
