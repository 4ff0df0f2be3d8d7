"""DigitGAN web app: draw handwritten digits with a class-conditional GAN.

    python app.py                                   # serve ./weights on http://127.0.0.1:7860
    python app.py --weights DIR --host 0.0.0.0 --port 8080

This file is the user interface only. Every image, every input rule and the model
swapping live in gan.serving (which works without Gradio); a handler here only turns
a refused input (ValueError) into a gr.Error the user can read.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path
from typing import Callable

import gradio as gr

from gan.models import Generator
from gan.runtime import configure_cpu_threads
from gan.sampling import MAX_SEED
from gan.serving import (GRID_MODES, INTERPOLATION_METHODS, MAX_GRID, MAX_STEPS,
                         MAKE_WEIGHTS_COMMAND, DigitService, LoadedModel, ModelHolder,
                         random_seed)
from gan.weights import WeightsError

DEFAULT_WEIGHTS = os.environ.get("DIGITGAN_WEIGHTS", "weights")
DEFAULT_MAX_QUEUE = 64
THEME = gr.themes.Soft()

CSS = """
.pixelated img { image-rendering: pixelated; image-rendering: crisp-edges; }
#dice-seed, #dice-grid, #dice-a, #dice-b { min-width: 3.2em; max-width: 4em; align-self: end; }
"""

INTRO = """# DigitGAN
A class-conditional GAN that draws handwritten digits (MNIST style). Pick a digit and a seed:
the same seed always gives the same image. Lower the truncation ψ for cleaner, more typical
digits. Every PNG you download records its digit, seed, ψ and the weights' hash."""


def default_concurrency() -> int:
    """Requests run side by side, one per CPU core (each single-threaded, see main())."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores)


def _user_errors(fn: Callable) -> Callable:
    """Refused input or weights (ValueError, with a message saying what is allowed) -> gr.Error."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as exc:  # includes WeightsError
            raise gr.Error(str(exc), print_exception=False) from None

    return wrapper


def make_service(source: ModelHolder | DigitService | LoadedModel | Generator | str | os.PathLike,
                 *, auto_reload_s: float | None = 5.0) -> DigitService:
    if isinstance(source, DigitService):
        return source
    holder = source if isinstance(source, ModelHolder) else ModelHolder(source)
    return DigitService(holder, auto_reload_s=auto_reload_s)


def _checked_by_handler(component: gr.components.Component) -> gr.components.Component:
    """Let the value reach the handler as sent. gan.serving checks every input (range, whole
    numbers, NaN, type) with one set of messages for the page and the API alike, while the
    stock preprocess answers e.g. a string sent to a slider with an unexplained internal
    error. (Set on the instance: a subclass would make Gradio write a .pyi next to app.py.)"""
    component.preprocess = lambda payload: payload
    return component


def Slider(*args, **kwargs) -> gr.Slider:  # noqa: N802 - used like the component class
    return _checked_by_handler(gr.Slider(*args, **kwargs))


def Radio(*args, **kwargs) -> gr.Radio:  # noqa: N802
    return _checked_by_handler(gr.Radio(*args, **kwargs))


class Handlers:
    """The event handlers: gan.serving calls whose refusals become gr.Error messages."""

    def __init__(self, service: DigitService):
        self.service = service
        self.generate = _user_errors(service.generate)
        self.grid = _user_errors(service.grid)
        self.interpolate = _user_errors(service.interpolate)
        self.reload = _user_errors(service.reload)
        self.how_it_works = _user_errors(service.how_it_works)
        self.random_seed = random_seed

    def model_tab(self) -> tuple:
        """Markdown, JSON details, then the four training pictures (hidden when absent)."""
        try:
            card = self.service.model_card()
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return (card.markdown, card.details,
                *(gr.Image(value=card.images[k], visible=card.images[k] is not None)
                  for k in ("samples", "loss_curve", "progress", "nearest_neighbours")))


def _digit_radio(label: str, value: int, elem_id: str) -> gr.Radio:
    radio = Radio(choices=list(range(10)), value=value, label=label, elem_id=elem_id)
    # The stock schema calls every Radio value a string; the API takes the digit as a number.
    radio.api_info = lambda: {"type": "integer", "description": "a digit from 0 to 9"}
    return radio


def _seed_slider(label: str, value: int, elem_id: str) -> gr.Slider:
    return Slider(0, MAX_SEED, value=value, step=1, precision=0, label=label, elem_id=elem_id,
                  info=f"0 to {MAX_SEED:,}; type a number or roll the dice")


def _seed_with_dice(label: str, value: int, elem_id: str, dice_id: str) -> tuple[gr.Slider, gr.Button]:
    """A seed slider with a dice button beside it (the button is wired to a random seed)."""
    with gr.Row(equal_height=True):
        slider = _seed_slider(label, value, elem_id)
        dice = gr.Button("🎲", elem_id=dice_id, scale=0, min_width=50)
    return slider, dice


def _psi_slider(elem_id: str) -> gr.Slider:
    return Slider(0.0, 1.0, value=1.0, step=0.05, label="Truncation ψ", elem_id=elem_id,
                  info="1 = as trained; lower = cleaner, less varied")


def build_demo(source: ModelHolder | DigitService | LoadedModel | Generator | str | os.PathLike,
               *, auto_reload_s: float | None = 5.0, concurrency_limit: int | None = None,
               max_queue: int = DEFAULT_MAX_QUEUE) -> gr.Blocks:
    """The app for `source` (a ModelHolder, a DigitService, a weights folder or a Generator).

    `auto_reload_s`: how often requests check the weight files for changes (None = never;
    the Reload button always works). The queue runs `concurrency_limit` requests at once
    (default: one per CPU core) and holds at most `max_queue` waiting ones.
    """
    service = make_service(source, auto_reload_s=auto_reload_s)
    concurrency_limit = concurrency_limit or default_concurrency()
    h = Handlers(service)

    def picture(label: str, **kwargs) -> gr.Image:
        return gr.Image(label=label, type="filepath", format="png", interactive=False,
                        buttons=["download", "fullscreen"], elem_classes=["pixelated"], **kwargs)

    with gr.Blocks(title="DigitGAN", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Generate", id="generate"):
                with gr.Row():
                    with gr.Column(scale=1):
                        digit = _digit_radio("Digit", 3, "digit")
                        seed, dice = _seed_with_dice("Seed", 42, "seed", "dice-seed")
                        psi = _psi_slider("psi")
                    with gr.Column(scale=1):
                        image = picture("Generated digit", elem_id="digit-image", height=320)

            with gr.Tab("Grid", id="grid"):
                with gr.Row():
                    with gr.Column(scale=1):
                        with gr.Row():
                            rows = Slider(1, MAX_GRID, value=10, step=1, precision=0, label="Rows")
                            cols = Slider(1, MAX_GRID, value=10, step=1, precision=0, label="Columns")
                        mode = Radio(list(GRID_MODES), value=GRID_MODES[0], label="Mode",
                                     info="one digit per row: each column keeps its seed, so a "
                                          "column shows one style across the digits")
                        grid_digit = _digit_radio("Digit (for 'all one digit')", 7, "grid-digit")
                        grid_seed, grid_dice = _seed_with_dice("Base seed", 0, "grid-seed", "dice-grid")
                        grid_psi = _psi_slider("grid-psi")
                    with gr.Column(scale=2):
                        grid_image = picture("Grid", elem_id="grid-image")

            with gr.Tab("Interpolate", id="interpolate"):
                with gr.Row():
                    with gr.Column():
                        digit_a = _digit_radio("Digit A", 3, "digit-a")
                        seed_a, dice_a = _seed_with_dice("Seed A", 1, "seed-a", "dice-a")
                    with gr.Column():
                        digit_b = _digit_radio("Digit B", 8, "digit-b")
                        seed_b, dice_b = _seed_with_dice("Seed B", 2, "seed-b", "dice-b")
                with gr.Row():
                    steps = Slider(2, MAX_STEPS, value=12, step=1, precision=0, label="Steps")
                    method = Radio(list(INTERPOLATION_METHODS), value="slerp", label="Path",
                                   info="slerp: along the sphere; lerp: straight line")
                    interp_psi = _psi_slider("interp-psi")
                strip = picture("Frames", elem_id="strip-image")
                gif = gr.Image(label="Animation", type="filepath", interactive=False,
                               buttons=["download", "fullscreen"], elem_classes=["pixelated"],
                               elem_id="gif-image", height=200)

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
                                          interactive=False, type="filepath",
                                          elem_classes=["pixelated"])

            with gr.Tab("How it works", id="how"):
                how = gr.Markdown()

        # ---- events. Public API: /generate, /grid, /interpolate, /reload; the rest is private.
        private = {"api_visibility": "private"}
        live = {"trigger_mode": "always_last", "show_progress": "minimal"}
        generate_io = {"fn": h.generate, "inputs": [digit, seed, psi], "outputs": image}
        grid_io = {"fn": h.grid, "inputs": [rows, cols, grid_seed, mode, grid_digit, grid_psi],
                   "outputs": grid_image}
        interp_io = {"fn": h.interpolate,
                     "inputs": [digit_a, seed_a, digit_b, seed_b, steps, method, interp_psi],
                     "outputs": [strip, gif]}
        card_io = {"fn": h.model_tab,
                   "outputs": [card, details, samples, loss_curve, progress, neighbours]}
        how_io = {"fn": h.how_it_works, "outputs": how}

        gr.on([digit.change, seed.change, psi.change], api_name="generate",
              api_description="One digit: PNG, 280x280, with provenance text chunks.",
              **generate_io, **live)
        gr.on([rows.change, cols.change, grid_seed.change, mode.change, grid_digit.change,
               grid_psi.change], api_name="grid",
              api_description=f"A rows x cols grid (each 1..{MAX_GRID}) as a PNG with provenance.",
              **grid_io, **live)
        gr.on([digit_a.change, seed_a.change, digit_b.change, seed_b.change, steps.change,
               method.change, interp_psi.change], api_name="interpolate",
              api_description="Frames from (digit_a, seed_a) to (digit_b, seed_b): a PNG strip "
                              "and an animated GIF.",
              **interp_io, **live)
        reload_event = reload_button.click(
            h.reload, outputs=status, api_name="reload", concurrency_limit=1, concurrency_id="reload",
            api_description="Load the weights folder again; the old model keeps serving if the "
                            "new weights are invalid.")
        for dice_button, target in ((dice, seed), (grid_dice, grid_seed), (dice_a, seed_a),
                                    (dice_b, seed_b)):
            dice_button.click(h.random_seed, outputs=target, queue=False, **private)

        for io in (generate_io, grid_io, interp_io, card_io, how_io):
            demo.load(**io, **private)
        (reload_event.success(**card_io, **private).then(**how_io, **private)
         .then(**generate_io, **private).then(**grid_io, **private).then(**interp_io, **private))

    demo.queue(default_concurrency_limit=concurrency_limit, max_size=max_queue)
    demo.service = service  # for tests and benchmarks
    demo.handlers = h
    return demo


def missing_weights_demo(message: str) -> gr.Blocks:
    """What a hosted copy shows when it has no usable weights: the reason, not a crash."""
    with gr.Blocks(title="DigitGAN") as demo:
        gr.Markdown(f"# DigitGAN\n\n**No model to serve.** {message}")
    return demo


def _weights_message(folder: str | os.PathLike, exc: Exception) -> str:
    message = f"Cannot serve the weights in {folder}: {exc}"
    if "python train.py" in message:  # the error already says how to make them
        return message
    return (f"{message}\nTrain a generator into that folder with:\n"
            f"    {MAKE_WEIGHTS_COMMAND.format(folder=folder)}")


def __getattr__(name: str):
    # `demo`, for hosts that import this module (e.g. Hugging Face Spaces): built on first
    # use, so that importing app.py (tests do) never loads or needs ./weights.
    if name == "demo":
        configure_cpu_threads(1)
        try:
            built = build_demo(DEFAULT_WEIGHTS)
        except WeightsError as exc:
            built = missing_weights_demo(_weights_message(DEFAULT_WEIGHTS, exc))
        globals()["demo"] = built
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python app.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS,
                        help="weights folder (config.json + model.safetensors) "
                             f"(default: $DIGITGAN_WEIGHTS or weights; now {DEFAULT_WEIGHTS})")
    parser.add_argument("--host", default=None,
                        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1; "
                             "0.0.0.0 for all interfaces)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per request; 0 = one per core (default: 1, because "
                             "the queue already runs one request per core side by side)")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="requests processed at once; 0 = one per CPU core (default: 0)")
    parser.add_argument("--max-queue", type=int, default=DEFAULT_MAX_QUEUE,
                        help=f"waiting requests beyond which new ones are refused (default: {DEFAULT_MAX_QUEUE})")
    parser.add_argument("--watch", type=float, default=5.0, metavar="SECONDS",
                        help="check the weight files for changes at most this often and swap new "
                             "ones in; 0 = only the Reload button (default: 5)")
    args = parser.parse_args(argv)
    if args.port is not None and not 1 <= args.port <= 65535:
        parser.error(f"--port must be in 1..65535, got {args.port}")
    for name in ("threads", "concurrency"):
        if getattr(args, name) < 0:
            parser.error(f"--{name} must be >= 0, got {getattr(args, name)}")
    if args.max_queue < 1:
        parser.error(f"--max-queue must be >= 1, got {args.max_queue}")
    if not args.watch >= 0:
        parser.error(f"--watch must be >= 0 seconds, got {args.watch}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # One torch thread per request and one request per core, on purpose: two threads make a
    # lone 10x10 grid faster on an idle 2-core machine (about 19 vs 35 ms), but when another
    # process keeps one core busy, as on a shared free Space, their p95 jumps to about 130 ms
    # (OpenMP threads spin waiting for the descheduled one) while one thread stays near
    # 40 ms. `python -m benchmarks.inference` measures both.
    threads = configure_cpu_threads(args.threads)
    try:
        holder = ModelHolder(Path(args.weights))
    except WeightsError as exc:
        print(f"error: {_weights_message(args.weights, exc)}", file=sys.stderr)
        return 2
    model: LoadedModel = holder.current()
    concurrency = args.concurrency or default_concurrency()
    print(f"serving weights {model.fingerprint} from {model.folder} "
          f"({concurrency} requests at a time, {threads} torch thread(s) each)")
    demo = build_demo(holder, auto_reload_s=args.watch or None, concurrency_limit=concurrency,
                      max_queue=args.max_queue)
    try:
        demo.launch(server_name=args.host, server_port=args.port, css=CSS,
                    theme=THEME)
    except OSError as exc:  # e.g. the port is taken
        print(f"error: cannot start the server: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
