"""Grid: rows x columns of digits, one style per column or one digit throughout."""
from __future__ import annotations

import gradio as gr

from gan.inputs import MAX_GRID
from gan.serving.render import GRID_MODES

from .handlers import Handlers
from .links import LinkFields
from .widgets import LIVE, digit_radio, picture, psi_slider, radio, seed_with_dice, slider


def build_grid_tab(handlers: Handlers, links: LinkFields) -> dict:
    """Returns the event (fn, inputs, outputs) that redraws the tab."""
    with gr.Tab("Grid", id="grid") as tab:
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Row():
                    rows = slider(1, MAX_GRID, value=10, step=1, precision=0, label="Rows")
                    cols = slider(1, MAX_GRID, value=10, step=1, precision=0, label="Columns")
                mode = radio(list(GRID_MODES), value=GRID_MODES[0], label="Mode",
                             info="one digit per row: each column keeps its seed, so a column "
                                  "shows one style across the digits")
                digit = digit_radio("Digit (for 'all one digit')", 7, "grid-digit")
                seed = seed_with_dice("Base seed", 0, "grid-seed", "dice-grid",
                                      random_seed=handlers.random_seed)
                psi = psi_slider("grid-psi")
            with gr.Column(scale=2):
                image = picture("Grid", elem_id="grid-image")
    inputs = [rows, cols, seed, mode, digit, psi]
    links.add("grid", tab, rows=rows, cols=cols, seed=seed, mode=mode, digit=digit, psi=psi)
    redraw = {"fn": handlers.grid, "inputs": inputs, "outputs": image}
    gr.on([c.change for c in inputs], api_name="grid",
          api_description=f"A rows x cols grid (each 1..{MAX_GRID}) as a PNG with provenance.",
          **redraw, **LIVE)
    return redraw
