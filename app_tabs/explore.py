"""Explore: steer a digit along named latent directions (slant, thickness, width, ...).

The sliders are made for DIRECTION_SLOTS directions and labelled on page load (and after a
reload) with the names the served weights' directions measured up to; the edited digit is
drawn at the same time, so the tab never opens on an empty picture.
"""
from __future__ import annotations

import json

import gradio as gr

from gan.inputs import MAX_DIRECTION_STRENGTH
from gan.latent.direction_search import FULL_SEARCH, markdown_table
from gan.latent.directions import STRENGTH_UNIT, DirectionSet
from gan.serving.service import DigitService

from .links import LinkFields
from .widgets import (
    LIVE,
    PRIVATE,
    checked_by_handler,
    digit_radio,
    picture,
    psi_slider,
    seed_with_dice,
    slider,
    user_errors,
)

DIRECTION_SLOTS = FULL_SEARCH.count


def edit_json(directions: DirectionSet, values) -> str:
    """The sliders' non-zero strengths as the JSON object /explore and /restyle take."""
    return json.dumps({name: value for name, value in zip(directions.names, values) if value})


UNMEASURED = ("not measured yet: new weights steer along their first layer's leading (SeFa) "
              "directions while the named ones are measured in the background; reload the page "
              "in a minute to get them")


def measured_note(directions: DirectionSet) -> str:
    return "" if directions.measured else f"**These directions are {UNMEASURED}.**\n\n"


def slider_updates(directions: DirectionSet) -> list:
    """DIRECTION_SLOTS slider updates: labelled with the directions and their measured
    effect; the slots beyond the set hidden."""
    updates = []
    for slot in range(DIRECTION_SLOTS):
        if slot >= len(directions):
            updates.append(gr.Slider(visible=False))
            continue
        d = list(directions)[slot]
        if not directions.measured:
            updates.append(gr.Slider(label=d.label, info="not measured yet", visible=True))
            continue
        effect = (f"moves {d.property} by {d.effects[d.property]:+.1f} std of real MNIST at +3"
                  if d.property else "no single measured effect dominates")
        rate = f"; digit changes for {d.class_change_rate:.0%}" if d.class_change_rate is not None else ""
        updates.append(gr.Slider(label=d.label, info=effect + rate, visible=True))
    return updates


class ExploreHandlers:
    """The Explore tab's handlers over the service; a refused input becomes one message."""

    def __init__(self, service: DigitService, random_seed):
        self.service, self.random_seed = service, random_seed
        self.explore = user_errors(service.explore)

    def _view(self, digit, seed, psi, *values) -> tuple:
        directions = self.service.latent_directions()
        values = list(values[:len(directions)])
        image, row = self.service.explore_views(digit, seed, values, psi)
        return image, row, edit_json(directions, values)

    def _table(self) -> str:
        directions = self.service.latent_directions()
        if not directions.measured:
            return measured_note(directions) + markdown_table(directions)
        return (f"Measured on "
                f"{directions.settings.get('samples_per_digit', '?')} samples per digit at strength "
                "±3; effects in standard deviations of real MNIST; class change: the share of "
                "samples the classifier reads as another digit at either end.\n\n"
                + markdown_table(directions))

    @user_errors
    def view(self, digit, seed, psi, *values) -> tuple:
        """(edited digit, the style as 0-9, the edit as JSON for /explore)."""
        return self._view(digit, seed, psi, *values)

    @user_errors
    def sliders(self) -> list:
        """The sliders labelled with the served weights' directions and their measured effect."""
        return slider_updates(self.service.latent_directions())

    @user_errors
    def redraw(self, digit, seed, psi, *values) -> list:
        """Page load or new weights: the sliders relabelled, the views drawn for them, and
        the table of what each direction measurably does."""
        return [*slider_updates(self.service.latent_directions()), *self._view(digit, seed, psi, *values),
                self._table()]

    @user_errors
    def table(self) -> str:
        return self._table()

    @staticmethod
    def reset() -> list[float]:
        return [0.0] * DIRECTION_SLOTS


def build_explore_tab(handlers: ExploreHandlers, links: LinkFields) -> dict:
    """Returns the event (fn, inputs, outputs) that relabels the sliders for the served
    weights and draws the edited digit."""
    random_seed = handlers.random_seed
    with gr.Tab("Explore", id="explore") as tab:
        with gr.Row():
            with gr.Column(scale=1):
                digit = digit_radio("Digit", 2, "explore-digit")
                seed = seed_with_dice("Seed", 7, "explore-seed", "dice-explore", random_seed=random_seed)
                psi = psi_slider("explore-psi")
                reset = gr.Button("Reset", elem_id="explore-reset")
            with gr.Column(scale=1):
                m = MAX_DIRECTION_STRENGTH
                strengths = [slider(-m, m, value=0.0, step=0.1, label=f"direction {i + 1}",
                                    elem_id=f"explore-strength-{i}") for i in range(DIRECTION_SLOTS)]
                gr.Markdown(f"<small>{STRENGTH_UNIT}</small>")
            with gr.Column(scale=1):
                image = picture("Edited digit", elem_id="explore-image", height=320)
        row = picture("The same edited style, digits 0-9", elem_id="explore-row")
        with gr.Accordion("What each direction measurably does", open=False):
            table = gr.Markdown(elem_id="explore-table")
        edit = checked_by_handler(gr.Textbox(
            label="Edit (JSON; press Enter to apply, or send it to /explore)",
            elem_id="explore-edit", value="{}"))
        # The API takes the strengths as a list, an object keyed by name, or JSON text of either.
        edit.api_info = lambda: {"description": "strengths: a list (one per direction), an object "
                                                "keyed by direction name, or JSON text of either"}
    inputs = [digit, seed, psi, *strengths]
    links.add("explore", tab, strengths=strengths, digit=digit, seed=seed, psi=psi)
    gr.on([c.change for c in inputs], handlers.view, inputs=inputs, outputs=[image, row, edit],
          **LIVE, **PRIVATE)
    edit.submit(handlers.explore, inputs=[digit, seed, edit, psi], outputs=image, api_name="explore",
                api_description="One digit moved along named latent directions: strengths as a "
                                "list (one per direction) or a JSON object keyed by direction name, "
                                f"each within ±{m:g}. PNG with the edit in its provenance.")
    reset.click(handlers.reset, outputs=strengths, **PRIVATE)
    return {"fn": handlers.redraw, "inputs": inputs, "outputs": [*strengths, image, row, edit, table]}
