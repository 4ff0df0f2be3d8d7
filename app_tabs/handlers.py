"""The event handlers: gan.serving.service calls whose refusals become one message each
(app_tabs.widgets.user_errors)."""
from __future__ import annotations

from typing import NamedTuple

import gradio as gr

from gan.inputs import random_seed
from gan.serving.service import DigitService

from .widgets import user_errors


class ModelTabViews(NamedTuple):
    """The Model tab's outputs, in order: the card, its details, the four training pictures."""
    card: object
    details: object
    samples: object
    loss_curve: object
    progress: object
    nearest_neighbours: object


TRAINING_PICTURES = ModelTabViews._fields[2:]


class Handlers:
    """The handlers of the Generate, Grid, Interpolate, Model and How-it-works tabs (Explore,
    Draw and Train have theirs beside their builders), built from the service alike."""

    def __init__(self, service: DigitService):
        self.service = service
        self.generate = user_errors(service.generate)
        self.grid = user_errors(service.grid)
        self.interpolate = user_errors(service.interpolate)
        self.how_it_works = user_errors(service.how_it_works)
        self.random_seed = random_seed

    @user_errors
    def reload_weights(self) -> str:
        """Load the weights folder again; the old model keeps serving if the new weights are
        invalid. Returns what happened."""
        return self.service.reload()

    @user_errors
    def model_tab(self) -> ModelTabViews:
        """The card's markdown and details, and the training pictures (hidden when absent)."""
        card = self.service.model_card()
        pictures = {k: gr.Image(value=card.images[k], visible=card.images[k] is not None)
                    for k in TRAINING_PICTURES}
        return ModelTabViews(card=card.markdown, details=card.details, **pictures)
