"""Train: start train.py from the page, watch it learn, stop or resume it, serve the result.

The web server's own threads never train: gan.runs.manager.RunManager hands each run to its
launcher (a separate train.py process, or on ZeroGPU a call to the GPU worker); this tab only
starts runs, polls their files every few seconds and shows them. Off unless the operator enables it
(`python app.py --allow-training`); then the tab says how, and the endpoints refuse.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr

from gan.inputs import MAX_BATCH_SIZE, MAX_TRAIN_SEED, MAX_TRAIN_STEPS, MIN_BATCH_SIZE, MIN_TRAIN_STEPS
from gan.runs.presets import RUN_PRESETS

from .train_handlers import TRAINING_OFF, TrainHandlers
from .train_view import LOSS_COLUMNS, METRICS_HEADERS
from .widgets import LIVE, PRIVATE, checked_by_handler, radio

LIVE_QUIET = {**LIVE, **PRIVATE, "show_progress": "hidden"}

REFRESH_S = 2.5  # how often an open Train tab reads the run's files again
CONTROL = {"concurrency_limit": 1, "concurrency_id": "train-control"}  # one start/stop/serve at a time

INTRO = """Train a new generator with `train.py` in a process of its own, watch its fixed-noise
grid (a row per digit) sharpen, then **Serve these weights** to put it in front of visitors —
**Revert** brings back what was served before. One run trains at a time."""



@dataclass
class TimelinePanel:
    """The run's timeline: a slider over its frames so far, the frame's grid, caption and curves."""
    frame: gr.Slider
    grid: gr.Image
    caption: gr.Markdown
    curves: gr.Image
    frames_shown: gr.State = field(default_factory=lambda: gr.State(0))  # frames the slider spans
    none_shown: gr.State = field(default_factory=lambda: gr.State(None))  # another run: the slider anew


@dataclass
class TrainTab:
    redraw: dict | None       # the event (fn, inputs, outputs) that refreshes the panel; None when off
    swapped: list = field(default_factory=list)  # Serve and Revert events: redraw the other tabs after


def number(label: str, value: int, minimum: int, maximum: int, elem_id: str, info: str) -> gr.Number:
    return checked_by_handler(gr.Number(value=value, label=label, precision=0, minimum=minimum,
                                        maximum=maximum, elem_id=elem_id, info=info))


def build_options() -> tuple:
    """The preset and the steps / batch size / seed fields."""
    quick = RUN_PRESETS["quick"]
    with gr.Row():
        preset = radio(list(RUN_PRESETS), value=quick.name, label="Preset", elem_id="train-preset", scale=2,
                       info="; ".join(f"{p.name}: {p.description}" for p in RUN_PRESETS.values()))
        steps = number("Steps", quick.steps, MIN_TRAIN_STEPS, MAX_TRAIN_STEPS, "train-steps",
                       f"{MIN_TRAIN_STEPS}-{MAX_TRAIN_STEPS:,}; Resume trains on to this if larger")
        batch = number("Batch size", quick.batch_size, MIN_BATCH_SIZE, MAX_BATCH_SIZE, "train-batch",
                       f"a multiple of 4, {MIN_BATCH_SIZE}-{MAX_BATCH_SIZE}")
        seed = number("Seed", 0, 0, MAX_TRAIN_SEED, "train-seed", "weights, data order and noise")
    return preset, steps, batch, seed


def build_panel() -> dict:
    """The status panel's components, by name."""
    summary = gr.Markdown(elem_id="train-summary")
    with gr.Row():
        grid = gr.Image(label="Fixed-noise grid (rows: digits 0-9)", type="numpy", format="png",
                        interactive=False, elem_id="train-grid", elem_classes=["pixelated"], height=340)
        losses = gr.LinePlot(x=LOSS_COLUMNS[0], y=LOSS_COLUMNS[1], color=LOSS_COLUMNS[2],
                             label="Losses", elem_id="train-losses")
    metrics = gr.Dataframe(headers=METRICS_HEADERS, label="Class accuracy and Fréchet distance "
                           "(checked every --metrics-every steps)", interactive=False, elem_id="train-metrics")
    with gr.Accordion("Watch it learn: the run's timeline", open=False, elem_id="train-timeline"):
        frame = gr.Slider(0, 1, value=0, step=1, label="Training frame", visible=False,
                          elem_id="train-timeline-frame")
        caption = gr.Markdown(elem_id="train-timeline-caption")
        with gr.Row():
            frame_grid = gr.Image(label="The grid at this step", type="numpy", format="png", interactive=False,
                                  elem_classes=["pixelated"], elem_id="train-timeline-grid", height=300)
            curves = gr.Image(label="The run's curves (dashed: this step)", type="numpy", format="png",
                              interactive=False, elem_id="train-timeline-curves")
    log = gr.Textbox(label="Log (last lines)", lines=10, max_lines=10, interactive=False,
                     autoscroll=True, elem_id="train-log")
    return {"summary": summary, "grid": grid, "losses": losses, "metrics": metrics, "log": log,
            "timeline": TimelinePanel(frame, frame_grid, caption, curves)}


def build_train_tab(handlers: TrainHandlers, *, refresh_s: float = REFRESH_S) -> TrainTab:
    """The Train tab and its endpoints (/train_start, /train_status, /train_stop, /train_resume,
    /train_serve, /train_revert, /train_push). When training is off the controls are hidden, the tab says
    how to turn it on, and the endpoints answer with that refusal."""
    with gr.Tab("Train", id="train"):
        gr.Markdown(f"**{TRAINING_OFF}**", visible=not handlers.enabled, elem_id="train-off")
        with gr.Column(visible=handlers.enabled):
            gr.Markdown(INTRO)
            gr.Markdown(handlers.start_note(), visible=bool(handlers.start_note()), elem_id="train-start-note")
            preset, steps, batch, seed = build_options()
            with gr.Row(equal_height=True):
                start = gr.Button("Start", variant="primary", elem_id="train-start", scale=0)
                run = checked_by_handler(gr.Dropdown(choices=[], value=None, label="Run", scale=3,
                                                     elem_id="train-run"))
                stop = gr.Button("Stop", elem_id="train-stop", scale=0)
                resume = gr.Button("Resume", elem_id="train-resume", scale=0)
                serve = gr.Button("Serve these weights", variant="primary", elem_id="train-serve", scale=0)
                revert = gr.Button("Revert", elem_id="train-revert", scale=0)
            with gr.Row(equal_height=True, visible=handlers.can_push):
                repo = checked_by_handler(gr.Textbox(label="Hub model repo (owner/name)", scale=3,
                                                     elem_id="train-repo"))
                push = gr.Button("Push to Hub", elem_id="train-push", scale=0)
            message = gr.Textbox(label="Last action", interactive=False, elem_id="train-message")
            panel = build_panel()
        shown = gr.State({})  # what this page already shows (see TrainHandlers.refresh)
        timer = gr.Timer(refresh_s, active=handlers.enabled)
        # inside the Tab: gr.Tabs holds only tabs. All but the status poll take the control lock.
        # Operator tools: public (in the API docs, and MCP tools) only where training is allowed;
        # elsewhere callable over HTTP (each refuses with why) but offered to no agent.
        visibility = {"api_visibility": "public" if handlers.enabled else "undocumented"}
        gr.api(handlers.training_run_status, api_name="train_status",
               api_description=handlers.training_run_status.__doc__, **visibility)
        for method, api_name in ((handlers.start_training_run, "train_start"),
                                 (handlers.stop_training_run, "train_stop"),
                                 (handlers.resume_training_run, "train_resume"),
                                 (handlers.serve_training_run, "train_serve"),
                                 (handlers.revert_served_weights, "train_revert"),
                                 (handlers.push_training_run, "train_push")):
            gr.api(method, api_name=api_name, api_description=method.__doc__, **CONTROL, **visibility)
    timeline = panel.pop("timeline")
    redraw = {"fn": handlers.refresh, "inputs": [run, shown],
              "outputs": [run, *panel.values(), shown]}
    quiet = {**PRIVATE, "show_progress": "hidden"}
    preset.input(handlers.preset_fields, preset, [steps, batch], queue=False, **PRIVATE)
    run.input(**redraw, **quiet)
    timer.tick(**redraw, trigger_mode="once", **quiet).then(
        handlers.timeline_slider, [run, timeline.frames_shown], [timeline.frame, timeline.frames_shown], **quiet)
    run.change(handlers.timeline_slider, [run, timeline.none_shown], [timeline.frame, timeline.frames_shown], **quiet)
    timeline.frame.change(handlers.timeline_frame, [run, timeline.frame],
                          [timeline.grid, timeline.caption, timeline.curves], **LIVE_QUIET)
    start.click(handlers.start_click, [preset, steps, batch, seed], [message, run], **PRIVATE,
                **CONTROL).success(**redraw, **quiet)
    stop.click(handlers.stop_click, run, [message, run], **PRIVATE, **CONTROL).then(**redraw, **quiet)
    resume.click(handlers.resume_click, [run, steps], [message, run], **PRIVATE,
                 **CONTROL).success(**redraw, **quiet)
    served = serve.click(handlers.serve_click, run, message, **PRIVATE, **CONTROL)
    reverted = revert.click(handlers.revert_click, None, message, **PRIVATE, **CONTROL)
    push.click(handlers.push_click, [run, repo], message, **PRIVATE, **CONTROL)
    return TrainTab(redraw if handlers.enabled else None, [served, reverted])
