"""Generate: one digit from a digit, a seed and a truncation psi, updated live."""
from __future__ import annotations

import gradio as gr

from .handlers import Handlers
from .links import LinkFields
from .widgets import LIVE, digit_radio, picture, psi_slider, seed_with_dice


def build_generate_tab(handlers: Handlers, links: LinkFields) -> dict:
    """Returns the event (fn, inputs, outputs) that redraws the tab."""
    with gr.Tab("Generate", id="generate") as tab:
        with gr.Row():
            with gr.Column(scale=1):
                digit = digit_radio("Digit", 3, "digit")
                seed = seed_with_dice("Seed", 42, "seed", "dice-seed", random_seed=handlers.random_seed)
                psi = psi_slider("psi")
            with gr.Column(scale=1):
                image = picture("Generated digit", elem_id="digit-image", height=320)
    links.add("generate", tab, digit=digit, seed=seed, psi=psi)
    redraw = {"fn": handlers.generate, "inputs": [digit, seed, psi], "outputs": image}
    gr.on([digit.change, seed.change, psi.change], api_name="generate",
          api_description="One digit: PNG, 280x280, with provenance text chunks.", **redraw, **LIVE)
    return redraw
