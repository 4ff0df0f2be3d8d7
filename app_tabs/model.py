"""Model: the served weights' card and training pictures, and the Reload button."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from .handlers import Handlers, ModelTabViews


@dataclass
class ModelTab:
    redraw: dict              # the event (fn, outputs) that refreshes the card
    reloaded: object          # the Reload click's event, for chaining redraws after a reload


def build_model_tab(handlers: Handlers, *, operator_tools: bool = False) -> ModelTab:
    """`operator_tools`: /reload is public (in the API docs, an MCP tool) only where the
    operator allows training; elsewhere it stays callable over HTTP but offered to no agent."""
    with gr.Tab("Model", id="model"):
        with gr.Row():
            reload_button = gr.Button("Reload weights", variant="primary", scale=0)
            status = gr.Textbox(label="Reload status", interactive=False, scale=3)
        card = gr.Markdown()
        with gr.Accordion("config.json, training.json and metrics.json", open=False):
            details = gr.JSON(label="Details")
        with gr.Row():
            samples = gr.Image(label="Samples (a row per digit)", interactive=False,
                               type="filepath", elem_classes=["pixelated"])
            loss_curve = gr.Image(label="Loss curve", interactive=False, type="filepath")
        with gr.Row():
            progress = gr.Image(label="Training progress", interactive=False,
                                type="filepath", elem_classes=["pixelated"])
            neighbours = gr.Image(label="Nearest training images (memorisation check)",
                                  interactive=False, type="filepath", elem_classes=["pixelated"])
    reloaded = reload_button.click(
        handlers.reload_weights, outputs=status, api_name="reload", concurrency_limit=1,
        concurrency_id="reload", api_visibility="public" if operator_tools else "undocumented",
        api_description="Load the weights folder again; the old model keeps serving if the "
                        "new weights are invalid.")
    outputs = ModelTabViews(card=card, details=details, samples=samples, loss_curve=loss_curve,
                            progress=progress, nearest_neighbours=neighbours)
    redraw = {"fn": handlers.model_tab, "outputs": list(outputs)}
    return ModelTab(redraw, reloaded)


def build_how_tab(handlers: Handlers) -> dict:
    """How it works: the served model described from its own config."""
    with gr.Tab("How it works", id="how"):
        how = gr.Markdown()
    return {"fn": handlers.how_it_works, "outputs": how}
