"""DigitGAN web app: draw handwritten digits with a class-conditional GAN.

    python app.py                                   # serve ./weights on http://127.0.0.1:7860
    python app.py --weights DIR --host 0.0.0.0 --port 8080

This file and app_tabs/ are the user interface only. Every image, every input rule and the
model swapping live in gan/ (which works without Gradio); a handler here only turns a
refused input (ValueError) into a gr.Error the user can read.
"""
from __future__ import annotations

import argparse
import os
import sys

# Gradio's usage telemetry and version check are off unless the user turns them on
# (GRADIO_ANALYTICS_ENABLED=True): the app sends nothing to third parties by default, and
# serving never waits on an outside host. Set before gradio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

# On a ZeroGPU Space the GPU exists only inside functions decorated with @spaces.GPU, and
# `spaces` must be imported before anything initialises CUDA. Elsewhere it is not needed.
ZEROGPU = os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true")
if ZEROGPU:
    import spaces

import gradio as gr

from app_tabs.draw import DrawHandlers, build_draw_tab
from app_tabs.explore import ExploreHandlers, build_explore_tab
from app_tabs.generate import build_generate_tab
from app_tabs.grid import build_grid_tab
from app_tabs.handlers import Handlers
from app_tabs.interpolate import build_interpolate_tab
from app_tabs.learn import LearnHandlers, build_learn_tab
from app_tabs.links import LinkFields, LinkHandlers, build_link_row, wire_links
from app_tabs.model import build_how_tab, build_model_tab
from app_tabs.train import build_train_tab
from app_tabs.train_handlers import TrainHandlers
from app_tabs.widgets import CSS, PRIVATE
from gan.inputs import random_seed
from gan.model.networks import Generator
from gan.model.weights import WeightsError
from gan.runs.manager import TRAINING_ENV_VAR, RunManager, training_enabled
from gan.runs.zerogpu import ZeroGPULauncher, gpu_duration, gpu_seconds, train_in_this_process
from gan.runtime import configure_cpu_threads, usable_cores
from gan.serving.model_holder import LoadedModel, ModelHolder
from gan.serving.service import DigitService

# Training from the Train tab on ZeroGPU: in the platform's GPU worker, for at most the
# duration asked for (registered at import, before launch, as the platform requires). The
# generator itself is served from the CPU: a ZeroGPU call costs a worker's scheduling and
# start-up, far more than the CPU needs for any request the app answers.
TRAIN_ON_GPU = spaces.GPU(duration=gpu_duration)(train_in_this_process) if ZEROGPU else None

def _default_weights() -> str:
    """$DIGITGAN_WEIGHTS, else the Hub reference in weights.ref beside this file (a Space
    folder made by `python -m gan.space --weights hf://...` has one), else weights/."""
    ref = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.ref")
    if os.environ.get("DIGITGAN_WEIGHTS"):
        return os.environ["DIGITGAN_WEIGHTS"]
    if os.path.isfile(ref):
        with open(ref) as f:
            return f.read().strip()
    return "weights"


DEFAULT_WEIGHTS = _default_weights()
DEFAULT_RUNS = os.environ.get("DIGITGAN_RUNS_DIR", "runs")  # e.g. /data/runs: a Space's persistent disk
DEFAULT_MAX_QUEUE = 64
THEME = gr.themes.Soft()

INTRO = """# DigitGAN
A class-conditional GAN that draws handwritten digits (MNIST style). Pick a digit and a seed:
the same seed always gives the same image. Lower the truncation ψ for cleaner, more typical
digits. Every PNG you download records its digit, seed, ψ and the weights' hash."""


def make_service(source: ModelHolder | DigitService | LoadedModel | Generator | str | os.PathLike,
                 *, auto_reload_s: float | None = 5.0) -> DigitService:
    if isinstance(source, DigitService):
        return source
    holder = source if isinstance(source, ModelHolder) else ModelHolder(source)
    return DigitService(holder, auto_reload_s=auto_reload_s)


def build_demo(source: ModelHolder | DigitService | LoadedModel | Generator | str | os.PathLike,
               *, auto_reload_s: float | None = 5.0, concurrency_limit: int | None = None,
               max_queue: int = DEFAULT_MAX_QUEUE, training: RunManager | None = None) -> gr.Blocks:
    """The app for `source` (a ModelHolder, a DigitService, a weights folder or a Generator).

    `auto_reload_s`: how often requests check the weight files for changes (None = never;
    the Reload button always works). The queue runs `concurrency_limit` requests at once
    (default: one per CPU core, each single-threaded, see main()) and holds at most
    `max_queue` waiting ones. Public API: /generate, /grid, /interpolate, /explore, /draw,
    /restyle, /reload, and the Train tab's /train_* (they refuse unless `training`, a RunManager, is given).
    """
    service = make_service(source, auto_reload_s=auto_reload_s)
    handlers = Handlers(service)  # Generate, Grid, Interpolate, Model, How it works
    links = LinkFields()  # the tabs' inputs under the names a link gives them (gan.serving.views)
    with gr.Blocks(title="DigitGAN", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        link_row = build_link_row()
        with gr.Tabs() as tabs:
            generate = build_generate_tab(handlers, links)
            grid = build_grid_tab(handlers, links)
            interpolate = build_interpolate_tab(handlers, links)
            explore = build_explore_tab(ExploreHandlers(service, random_seed), links)
            draw = build_draw_tab(DrawHandlers(service), links)
            learn = build_learn_tab(LearnHandlers(service), links)
            model = build_model_tab(handlers, operator_tools=training is not None)
            how = build_how_tab(handlers)
            train = build_train_tab(TrainHandlers(training, hub_token=os.environ.get("HF_TOKEN")))
        opened, after_open = wire_links(LinkHandlers(service, links), link_row, tabs)
        # a link's view first (`/?tab=...`), then every tab drawn from the values it set
        opening = demo.load(**opened, **PRIVATE)
        for redraw in (generate, grid, interpolate, explore, draw, learn.redraw, model.redraw, how, train.redraw,
                       *after_open):
            if redraw:
                opening.then(**redraw, **PRIVATE)
        # after a reload (or serving a run's weights), everything the new weights change is drawn again
        for swapped in (model.reloaded, *train.swapped):
            event = swapped.success(**model.redraw, **PRIVATE)
            for redraw in (how, generate, grid, interpolate, explore, draw, learn.redraw):
                event = event.then(**redraw, **PRIVATE)
    demo.queue(default_concurrency_limit=concurrency_limit or usable_cores(), max_size=max_queue)
    return demo


def make_run_manager(holder: ModelHolder, *, allow_training: bool = False,
                     runs_dir: str | os.PathLike = DEFAULT_RUNS,
                     data_dir: str | os.PathLike | None = None) -> RunManager | None:
    """The Train tab's run manager, serving a run's weights through the holder's hot swap and
    training runs in the ZeroGPU call (on ZeroGPU) or as train.py processes (elsewhere);
    None (training off) unless `allow_training` or $DIGITGAN_ALLOW_TRAINING turns it on."""
    if not training_enabled(allow_training):
        return None
    launcher = ZeroGPULauncher(TRAIN_ON_GPU, gpu_seconds=gpu_seconds()) if TRAIN_ON_GPU else None
    return RunManager(runs_dir, launcher=launcher, data_dir=data_dir, served_weights=holder.folder,
                      serve=lambda folder: holder.serve(folder).message)


def missing_weights_demo(message: str) -> gr.Blocks:
    """What a hosted copy shows when it cannot serve (no usable weights, a bad setting): the
    reason, not a crash."""
    with gr.Blocks(title="DigitGAN") as demo:
        gr.Markdown(f"# DigitGAN\n\n**No model to serve.** {message}")
    return demo


def _weights_message(folder: str | os.PathLike, exc: WeightsError) -> str:
    return f"Cannot serve the weights in {folder}: {exc.advice()}"


def __getattr__(name: str):
    # `demo`, for hosts that import this module (e.g. Hugging Face Spaces): built on first
    # use, so that importing app.py (tests do) never loads or needs ./weights.
    if name == "demo":
        configure_cpu_threads(1)
        try:
            holder = ModelHolder(DEFAULT_WEIGHTS)
            built = build_demo(holder, training=make_run_manager(
                holder, data_dir=os.environ.get("DIGITGAN_DATA_DIR")))
        except WeightsError as exc:
            built = missing_weights_demo(_weights_message(DEFAULT_WEIGHTS, exc))
        except ValueError as exc:  # a setting the operator gave, e.g. DIGITGAN_GPU_SECONDS
            built = missing_weights_demo(f"Cannot start: {exc}")
        globals()["demo"] = built
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python app.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS,
                        help="weights folder (config.json + model.safetensors), or a Hub model repo "
                             "hf://owner/name[@revision] "
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
    parser.add_argument("--allow-training", action="store_true",
                        help=f"let the Train tab start training runs (off by default; also "
                             f"${TRAINING_ENV_VAR}=1, e.g. on a Space)")
    parser.add_argument("--mcp", action="store_true", default=None,
                        help="also serve the demo's tools (generate, grid, interpolate, explore, draw, restyle, "
                             "timeline) to MCP clients at /gradio_api/mcp/ (also $GRADIO_MCP_SERVER=true; "
                             "needs the mcp package: pip install 'gradio[mcp]'); reload and training are tools "
                             "only with --allow-training")
    parser.add_argument("--runs-dir", default=DEFAULT_RUNS,
                        help=f"the Train tab's run folders, one per run (default: $DIGITGAN_RUNS_DIR or runs; "
                             f"now {DEFAULT_RUNS})")
    parser.add_argument("--data-dir", default=os.environ.get("DIGITGAN_DATA_DIR"),
                        help="MNIST IDX folder for the Train tab's runs (default: $DIGITGAN_DATA_DIR, "
                             "else torchvision downloads MNIST)")
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
    # lone grid faster on an idle machine, but when another process keeps a core busy, as on
    # a shared free Space, OpenMP threads spin waiting for the descheduled one and the tail
    # latency jumps. `python -m benchmarks.inference` measures both (docs/performance.md).
    threads = configure_cpu_threads(args.threads)
    try:
        holder = ModelHolder(args.weights)
    except WeightsError as exc:
        print(f"error: {_weights_message(args.weights, exc)}", file=sys.stderr)
        return 2
    model: LoadedModel = holder.current()
    concurrency = args.concurrency or usable_cores()
    print(f"serving weights {model.fingerprint} from {model.hub_ref or model.folder} "
          f"({concurrency} requests at a time, {threads} torch thread(s) each)")
    try:
        training = make_run_manager(holder, allow_training=args.allow_training, runs_dir=args.runs_dir,
                                    data_dir=args.data_dir)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"training from the page: {f'on, runs in {training.runs_root}' if training else 'off'}")
    demo = build_demo(holder, auto_reload_s=args.watch or None, concurrency_limit=concurrency,
                      max_queue=args.max_queue, training=training)
    try:
        demo.launch(server_name=args.host, server_port=args.port, css=CSS, theme=THEME,
                    mcp_server=args.mcp)  # None: Gradio reads $GRADIO_MCP_SERVER
    except OSError as exc:  # e.g. the port is taken
        print(f"error: cannot start the server: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:  # --mcp without the mcp package
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
