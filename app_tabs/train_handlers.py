"""The Train tab's handlers: gan.runs.manager.RunManager calls whose refusals become gr.Error messages.

Two faces over the same manager: the `*_training_run` methods (and `revert_served_weights`)
are the endpoints (JSON in, JSON out, for gradio_client and MCP clients), the `*_click`,
`refresh` and `timeline_*` methods feed the tab's components. Run
names only ever come from the manager's own listing; a name sent back by a page or a client is
checked by the manager (gan.inputs.as_run_name, then "is it a listed run folder") before any
file is touched. With no manager, training from the page is off and every call is refused.
"""
from __future__ import annotations

import gradio as gr

from gan.model.weights import weights_fingerprint
from gan.runs.manager import RunInfo, RunManager
from gan.runs.presets import RUN_PRESETS
from gan.serving.timeline_view import curves_png, frame_grid, step_caption

from .train_view import (
    api_payload,
    log_text,
    loss_frame,
    metrics_rows,
    png_pixels,
    read_picture,
    run_choices,
    summary_markdown,
)
from .widgets import user_errors

TRAINING_OFF = ("Training from the page is off on this server. Whoever runs it can turn it on with "
                "`python app.py --allow-training`, or on a Hugging Face Space with the variable "
                "DIGITGAN_ALLOW_TRAINING=1 (Settings → Variables and secrets).")


class TrainHandlers:
    """Handlers for the Train tab and its endpoints; `manager=None` means training is off."""

    def __init__(self, manager: RunManager | None, *, hub_token: str | None = None):
        self.manager = manager
        self.enabled = manager is not None
        self.hub_token = hub_token or None  # a write token (the Space secret HF_TOKEN): Push to Hub
        self.can_push = self.enabled and self.hub_token is not None

    def start_note(self) -> str:
        """What one Start or Resume costs, in the launcher's words (e.g. the GPU seconds of a
        ZeroGPU Space); empty when there is nothing to say."""
        return (self.manager.launcher.start_note or "") if self.manager is not None else ""

    def _manager(self) -> RunManager:
        if self.manager is None:
            raise ValueError(TRAINING_OFF)
        return self.manager

    def _payload(self, name: str | None) -> dict:
        manager = self._manager()
        return api_payload(manager.status(name), manager.list_runs())

    def _served(self, message: str) -> dict:
        current = self._manager().weights.current
        return {"message": message, "served_folder": current.name if current else None,
                "weights_sha256": weights_fingerprint(current) if current else None}

    # ------------------------------------------------------------------ the HTTP API

    @user_errors
    def start_training_run(self, preset: str = "quick", steps: int | None = None, batch_size: int | None = None,
                  seed: int = 0) -> dict:
        """Start a training run (one at a time) and return its status. preset: quick, standard
        or custom; steps (10..100000) and batch_size (a multiple of 4, 8..1024): null = the
        preset's; seed: 0..2**31-1."""
        info = self._manager().start(preset, steps=steps, batch_size=batch_size, seed=seed)
        return self._payload(info.name)

    @user_errors
    def training_run_status(self, run: str | None = None) -> dict:
        """A run's status (state, step/steps, images_per_s, eta_s, losses, history, metrics,
        log tail) and the list of runs; run: null = the running run, else the newest."""
        return self._payload(run)

    @user_errors
    def stop_training_run(self, run: str) -> dict:
        """Stop a running run: the trainer writes its checkpoint and exits (130)."""
        self._manager().stop(run)
        return self._payload(run)

    @user_errors
    def resume_training_run(self, run: str, steps: int | None = None) -> dict:
        """Continue a stopped run from its checkpoint; steps: a new total, to train longer."""
        self._manager().resume(run, steps=steps)
        return self._payload(run)

    @user_errors
    def serve_training_run(self, run: str) -> dict:
        """Export the run's EMA generator, validate it and serve it; the weights served before
        are kept for /train_revert."""
        return self._served(self._manager().serve(run))

    @user_errors
    def push_training_run(self, run: str, repo: str) -> dict:
        """Upload a stopped or finished run's EMA generator with a model card to the Hub model
        repo `repo` (owner/name); needs the server's write token (HF_TOKEN)."""
        return {"message": self._push(run, repo), "repo": repo}

    @user_errors
    def revert_served_weights(self) -> dict:
        """Serve again the weights served before the last /train_serve (or /train_revert)."""
        return self._served(self._manager().revert())

    # ------------------------------------------------------------------ the tab

    def _run_list(self, selected: str | None) -> gr.Dropdown:
        return gr.Dropdown(choices=run_choices(self._manager().list_runs()), value=selected)

    def preset_fields(self, preset: str) -> tuple:
        """The steps and batch size fields show the chosen preset's values."""
        chosen = RUN_PRESETS.get(preset) if isinstance(preset, str) else None
        if chosen is None:
            return gr.skip(), gr.skip()
        return chosen.steps, chosen.batch_size

    @user_errors
    def start_click(self, preset: str, steps: object, batch_size: object, seed: object) -> tuple:
        info = self._manager().start(preset, steps=steps, batch_size=batch_size,
                                     seed=0 if seed is None else seed)
        message = (f"Started run {info.name}{self._pid(info.pid)}: {info.preset} preset, "
                   f"{info.steps:,} steps of batch {info.batch_size}, seed {info.seed}.")
        return self._after_start(info) or message, self._run_list(info.name)

    @staticmethod
    def _pid(pid: int | None) -> str:
        return f" (pid {pid})" if pid is not None else ""

    def _after_start(self, info: RunInfo) -> str | None:
        """Where a run got to when Start or Resume returned after its training ended (a launcher
        that trains in the caller's thread, as on ZeroGPU); None while it trains on."""
        if not info.ended:
            return None
        manager, name = self._manager(), info.name
        status = manager.status(name)
        more = " Resume trains it on." if status.state in ("interrupted", "dead") else ""
        return (f"Run {name} trained {manager.launcher.where}: {status.label} at step {status.step} of "
                f"{status.steps}.{more}")

    @user_errors
    def stop_click(self, run: str | None) -> tuple:
        status = self._manager().stop(run)
        return f"Run {status.name}: {status.label} at step {status.step} — {status.message}", \
            self._run_list(status.name)

    @user_errors
    def resume_click(self, run: str | None, steps: object) -> tuple:
        """Resume to the run's own total, or to the Steps field's value when that is larger."""
        info = self._manager().resume(run, extend_to=steps)
        total = f"{info.steps:,}" if info.steps else "its"
        message = f"Resumed run {info.name}{self._pid(info.pid)} towards {total} steps."
        return self._after_start(info) or message, self._run_list(info.name)

    @user_errors
    def serve_click(self, run: str | None) -> str:
        return self._manager().serve(run)

    @user_errors
    def push_click(self, run: str | None, repo: str | None) -> str:
        return self._push(run, repo)

    def _push(self, run: str | None, repo: str | None) -> str:
        manager = self._manager()
        if not self.can_push:
            raise ValueError("pushing to the Hub is off: the server has no write token (set HF_TOKEN)")
        url = manager.push(run, repo, token=self.hub_token)
        return f"Pushed run {run} to {repo}: {url}"

    @user_errors
    def revert_click(self) -> str:
        return self._manager().revert()

    @user_errors
    def _shown_run(self, run: str | None) -> str | None:
        """The run the panel shows: a listed run, else the current one (None without runs)."""
        manager = self._manager()
        status = manager.status(run if run in {r.name for r in manager.list_runs()} else None)
        return status.name if status else None

    def _timeline(self, run: str | None):
        name = self._shown_run(run)
        return self._manager().timeline(name) if name else None

    @user_errors
    def timeline_slider(self, run: str | None, frames_shown: int | None) -> tuple:
        """(the timeline slider, the frame count now): over the run's frames so far, moved to
        the newest when a frame was added (a visitor scrubbing back is left alone otherwise)."""
        name = self._shown_run(run)
        frames = self._manager().timeline_length(name) if name else 0  # polled: no picture is read
        if not frames:
            return gr.Slider(visible=False), 0
        if frames == frames_shown:
            return gr.skip(), frames_shown
        last = frames - 1
        return gr.Slider(minimum=0, maximum=max(last, 1), value=last, step=1, visible=True), frames

    @user_errors
    def timeline_frame(self, run: str | None, index) -> tuple:
        """(the grid at frame `index`, its caption, the curves with a marker there)."""
        timeline = self._timeline(run)
        if timeline is None:
            return None, "No grid yet: the run draws its first at step 0.", None
        index = min(max(int(index or 0), 0), len(timeline) - 1)
        return frame_grid(timeline, index), step_caption(timeline, index), png_pixels(curves_png(timeline, index))

    def refresh(self, run: str | None, shown: dict | None) -> tuple:
        """The status panel: (run list, summary, grid, losses, metrics, log, shown). Pictures,
        plots and the run list are sent only when they changed since this page last got them
        (`shown`, the page's own state), so a page polling every few seconds stays cheap."""
        manager = self._manager()
        runs = manager.list_runs()
        # only a listed name reaches the manager; anything else shows the current run
        status = manager.status(run if run in {r.name for r in runs} else None)
        shown = dict(shown or {}) if isinstance(shown, dict) else {}
        choices = run_choices(runs)
        name = status.name if status else None
        keys = {"runs": (tuple(choices), name), "grid": (name, status and status.grid_step),
                "losses": (name, status and len(status.history), status and status.step),
                "metrics": (name, status and len(status.metrics))}
        fresh = {k: v for k, v in keys.items() if shown.get(k) != v}
        shown.update({k: v for k, v in keys.items()})
        return (gr.Dropdown(choices=choices, value=name) if "runs" in fresh else gr.skip(),
                summary_markdown(status),
                read_picture(status and status.grid_path) if "grid" in fresh else gr.skip(),
                loss_frame(status.history if status else []) if "losses" in fresh else gr.skip(),
                metrics_rows(status.metrics if status else []) if "metrics" in fresh else gr.skip(),
                log_text(status), shown)

