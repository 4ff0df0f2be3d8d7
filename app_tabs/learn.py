"""Learn: the served model's training as a timeline: a step's 10x10 grid, the curves with a
marker at that step, a play button, and what is happening."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from gan.model.weights import WeightsError
from gan.serving.service import DigitService
from gan.serving.timeline_view import EXPLANATION

from .links import LinkFields
from .widgets import LIVE, PRIVATE, checked_by_handler, picture, user_errors

PLAY_INTERVAL_S = 0.6  # one frame per tick while playing


class LearnHandlers:
    def __init__(self, service: DigitService):
        self.service = service
        self.timeline = user_errors(service.timeline)

    def overview(self, step=None):
        """(the slider, the step box, the message, the player's row) for the served weights:
        the slider over the timeline's frames at `step` (a link's) or the last, or, without a
        timeline, a message saying how to get one (every other tab keeps working)."""
        try:
            steps = self.service.timeline_steps()
        except WeightsError as exc:  # TimelineError: no timeline, or one of other weights
            message = exc.advice()
            return (gr.Slider(visible=False), gr.Number(visible=False),
                    gr.Markdown(f"**No training timeline for these weights.** {message}".replace("\n", " "),
                                visible=True), gr.Row(visible=False))
        last = len(steps) - 1
        index = steps.index(step) if step in steps else last
        return (gr.Slider(minimum=0, maximum=last, value=index, step=1, visible=True),
                gr.Number(value=steps[index], visible=True), gr.Markdown(visible=False), gr.Row(visible=True))

    def step_of(self, index):
        """The slider's frame index -> its step (for the step box)."""
        try:
            steps = self.service.timeline_steps()
            return steps[min(max(int(index), 0), len(steps) - 1)]
        except (ValueError, TypeError):
            return gr.skip()

    @user_errors
    def details(self, step):
        """The caption and the curves with a marker at `step`."""
        view = self.service.timeline_view(step)
        return view.caption, view.curves

    def advance(self, index):
        """One tick of the player: the next frame, or stop at the last."""
        steps = self.service.timeline_steps()
        index = int(index or 0) + 1
        if index >= len(steps):
            return gr.skip(), gr.Timer(active=False), gr.Button(value="▶ Play")
        return index, gr.skip(), gr.skip()

    def toggle(self, label, index):
        """Play from the current frame (from the first when at the end), or pause."""
        if str(label).startswith("▶"):
            at_end = int(index or 0) >= len(self.service.timeline_steps()) - 1
            return gr.Timer(active=True), gr.Button(value="⏸ Pause"), 0 if at_end else gr.skip()
        return gr.Timer(active=False), gr.Button(value="▶ Play"), gr.skip()


@dataclass
class LearnTab:
    redraw: dict  # the event that sets the tab up for the served weights


def build_learn_tab(handlers: LearnHandlers, links: LinkFields) -> LearnTab:
    with gr.Tab("Learn", id="learn") as tab:
        gr.Markdown("### Watch it learn\n" + EXPLANATION)
        missing = gr.Markdown(visible=False, elem_id="learn-missing")
        with gr.Row(visible=False) as player:
            play = gr.Button("▶ Play", scale=0, min_width=110, elem_id="learn-play")
            frame = gr.Slider(0, 1, value=0, step=1, label="Training frame", elem_id="learn-frame",
                              info="drag through the run, from the untrained generator to the served weights")
            step = checked_by_handler(gr.Number(label="Step", precision=0, elem_id="learn-step", scale=0,
                                                min_width=140, info="type a step of the timeline"))
        caption = gr.Markdown(elem_id="learn-caption")
        with gr.Row():
            grid = picture("Seeds 0-9 of every digit (a row per digit) at this step", elem_id="learn-grid",
                           height=420)
            curves = gr.Image(label="The run's curves (dashed: this step)", type="filepath", interactive=False,
                              elem_id="learn-curves")
        timer = gr.Timer(PLAY_INTERVAL_S, active=False)  # inside the Tab: gr.Tabs holds only tabs
    links.add("learn", tab, step=step)
    frame.change(handlers.step_of, inputs=frame, outputs=step, **PRIVATE, **LIVE)
    step.change(handlers.timeline, inputs=step, outputs=grid, api_name="timeline",
                api_description="The shipped model's training timeline at one step: its 10x10 grid "
                                "(rows = digits 0-9, columns = seeds 0-9) as a PNG with /grid's "
                                "layout and provenance plus a `step` text chunk. A step not in the "
                                "timeline is refused, naming the nearest ones.",
                **LIVE).success(handlers.details, inputs=step, outputs=[caption, curves], **PRIVATE)
    play.click(handlers.toggle, inputs=[play, frame], outputs=[timer, play, frame], **PRIVATE)
    timer.tick(handlers.advance, inputs=frame, outputs=[frame, timer, play], **PRIVATE)
    return LearnTab({"fn": handlers.overview, "inputs": step, "outputs": [frame, step, missing, player]})
