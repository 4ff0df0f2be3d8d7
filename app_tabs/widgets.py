"""Components the tabs share, and how a refused input becomes a message the user reads."""
from __future__ import annotations

import functools
import html
from typing import Callable

import gradio as gr

from gan.inputs import MAX_SEED

CSS = """
.pixelated img { image-rendering: pixelated; image-rendering: crisp-edges; }
.dice { min-width: 3.2em; max-width: 4em; align-self: end; }
/* Draw: a pen, an eraser, its size, undo and clear; no pan, zoom or colour picker to learn */
#draw-canvas button[aria-label="Pan"], #draw-canvas button[aria-label="Zoom in"],
#draw-canvas button[aria-label="Zoom out"], #draw-canvas button[aria-label="Color"],
#draw-canvas .zoom-number, #draw-canvas .separator { display: none; }
"""
PRIVATE = {"api_visibility": "private"}
LIVE = {"trigger_mode": "always_last", "show_progress": "minimal"}  # images follow the controls


# Gradio's page sends each of its calls with this header value (gradio_client sends "api").
PAGE_CALLER = ("x-gradio-user", "app")


def from_page(request: gr.Request | None = None) -> bool:
    """Whether the running event was sent by the app's own page (rather than the HTTP API, a
    client library or a direct call). Gradio keeps the event's request in a context
    variable of the handler's thread."""
    from gradio.context import LocalContext

    request = request or LocalContext.request.get(None)
    headers = getattr(request, "headers", None)
    header, value = PAGE_CALLER
    return headers is not None and headers.get(header) == value


def refusal(message: str):
    """A refused input as the caller reads it. On the page: one warning with the message,
    and the outputs keep what they showed (an "Error" badge on each of them would only
    repeat it). Over the API: the error event, with the message, that a client raises."""
    if from_page():
        gr.Warning(html.escape(message))  # the page renders it as HTML; a quoted value stays text
        return gr.skip()
    raise gr.Error(message, print_exception=False) from None


def user_errors(fn: Callable) -> Callable:
    """Refused input or weights (ValueError, with a message saying what is allowed) -> one
    message (see `refusal`). Wrap the whole event function: on the page its result is
    gr.skip(), which only Gradio reads."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as exc:  # includes WeightsError
            return refusal(str(exc))

    return wrapper


def checked_by_handler(component: gr.components.Component) -> gr.components.Component:
    """Let the value reach the handler as sent. gan.inputs checks every input (range, whole
    numbers, NaN, type) with one set of messages for the page and the API alike, while the
    stock preprocess answers e.g. a string sent to a slider with an unexplained internal
    error. (Set on the instance: a subclass would make Gradio write a .pyi next to app.py.)"""
    component.preprocess = lambda payload: payload
    return component


def slider(*args, **kwargs) -> gr.Slider:
    return checked_by_handler(gr.Slider(*args, **kwargs))


def radio(*args, **kwargs) -> gr.Radio:
    return checked_by_handler(gr.Radio(*args, **kwargs))


def digit_radio(label: str, value: int, elem_id: str) -> gr.Radio:
    component = radio(choices=list(range(10)), value=value, label=label, elem_id=elem_id)
    # The stock schema calls every Radio value a string; the API takes the digit as a number.
    component.api_info = lambda: {"type": "integer", "description": "a digit from 0 to 9"}
    return component


def seed_with_dice(label: str, value: int, elem_id: str, dice_id: str, *,
                   random_seed: Callable[[], int]) -> gr.Slider:
    """A seed slider with a dice button beside it that rolls a fresh random seed."""
    with gr.Row(equal_height=True):
        seed = slider(0, MAX_SEED, value=value, step=1, precision=0, label=label, elem_id=elem_id,
                      info=f"0 to {MAX_SEED:,}; type a number or roll the dice")
        dice = gr.Button("🎲", elem_id=dice_id, elem_classes=["dice"], scale=0, min_width=50)
    dice.click(random_seed, outputs=seed, queue=False, **PRIVATE)
    return seed


def psi_slider(elem_id: str) -> gr.Slider:
    return slider(0.0, 1.0, value=1.0, step=0.05, label="Truncation ψ", elem_id=elem_id,
                  info="1 = as trained; lower = cleaner, less varied")


def picture(label: str, **kwargs) -> gr.Image:
    """An output image served as a PNG file and shown pixel for pixel."""
    return gr.Image(label=label, type="filepath", format="png", interactive=False,
                    buttons=["download", "fullscreen"], elem_classes=["pixelated"], **kwargs)
