"""The training timeline as the app shows it: a step's 10x10 grid with provenance (the layout of
/grid's "one digit per row", base seed 0), the run's curves with a marker at that step, and
the few sentences that say what is happening.

The timeline comes from the weights folder (gan.model.timeline, checked against the served
generator) or, for the Train tab, from a run folder in progress (gan.training.run_folder).
"""
from __future__ import annotations

import io
import logging
import threading

import numpy as np

from ..images import make_grid, upscale
from ..model.timeline import Timeline, TimelineError, load_timeline
from .model_holder import LoadedModel
from .render import GRID_MODES, Picture, fit_scale, provenance

log = logging.getLogger(__name__)

EXPLANATION = (
    "Two networks play a game. The generator G turns noise into digits; the discriminator D "
    "sees real MNIST digits and G's, and learns to tell them apart, while G learns to fool it. "
    "At step 0 G draws noise; within a few hundred steps blobs take the shape of each digit, "
    "then strokes sharpen and styles spread out. D's realness of real digits and of G's (the "
    "game panel) start far apart and move toward each other as G catches up; the Fréchet "
    "distance (lower is better) and coverage (higher is better) say how close G's digits are "
    "to real ones.")


class TimelineCache:
    """The timeline of each served model, loaded once per weights (None when the folder has
    none, or one that belongs to other weights: the reason is kept for the page)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_fingerprint: dict[str, Timeline | TimelineError] = {}

    def get(self, model: LoadedModel) -> Timeline:
        """The served weights' timeline; TimelineError saying why there is none."""
        with self._lock:
            if model.fingerprint not in self._by_fingerprint:
                self._by_fingerprint[model.fingerprint] = self._load(model)
            found = self._by_fingerprint[model.fingerprint]
        if isinstance(found, TimelineError):
            raise found
        return found

    @staticmethod
    def _load(model: LoadedModel) -> Timeline | TimelineError:
        if model.folder is None:
            return TimelineError("these weights were loaded from memory, without a folder: no timeline")
        try:
            return load_timeline(model.folder, generator=model.generator)
        except TimelineError as exc:
            log.info("no timeline for %s: %s", model.folder, exc)
            return exc


def frame_grid(timeline: Timeline, index: int) -> np.ndarray:
    """Frame `index` as one grid picture: a row per digit, a column per seed, 2 px padding."""
    frame = timeline.frames[index]
    return make_grid(frame.reshape(-1, *frame.shape[2:]), rows=frame.shape[0], cols=frame.shape[1])


def render_timeline_frame(model: LoadedModel, timeline: Timeline, index: int) -> Picture:
    """The grid of frame `index` with /grid's provenance (its last frame is /grid's picture for
    10x10, one digit per row, seed 0) and the frame's step."""
    step, grid = int(timeline.steps[index]), frame_grid(timeline, index)
    rows, cols = timeline.frames.shape[1:3]
    seeds = [int(s) for s in timeline.seeds]
    scale = fit_scale(*grid.shape)
    meta = provenance(model, step=step, rows=rows, cols=cols, mode=GRID_MODES[0], seed=seeds[0],
                      digits=[d for d in range(rows) for _ in seeds], seeds=seeds * rows, scale=scale,
                      layout=f"{rows}x{cols} cells of 28x28 px with 2 px padding, row-major",
                      Description=f"the training timeline at step {step} of {int(timeline.steps[-1])}: "
                                  f"digits 0-{rows - 1} (rows), seeds {seeds[0]}-{seeds[-1]} (columns)")
    return Picture(upscale(grid, scale), meta, f"timeline_step{step}_{model.fingerprint[:8]}")


def step_caption(timeline: Timeline, index: int) -> str:
    """One line on frame `index`: its step and what was measured there."""
    row = timeline.metrics()[index]
    parts = [f"**Step {row['step']:,}** of {int(timeline.steps[-1]):,} (frame {index + 1} of {len(timeline)})"]
    if row["accuracy"] is not None:
        parts.append(f"class accuracy {row['accuracy']:.1%}")
    if row["frechet"] is not None:
        parts.append(f"Fréchet distance {row['frechet']:.2f}")
    if row["coverage"] is not None:
        parts.append(f"coverage {row['coverage']:.3f}")
    if row["d_real"] is not None and row["d_fake"] is not None:
        parts.append(f"D's realness: real {row['d_real']:.2f}, generated {row['d_fake']:.2f}")
    return " · ".join(parts)


def curves_png(timeline: Timeline, index: int | None = None) -> bytes:
    """The run's curves by step, two panels (quality; the game), with a marker at frame `index`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = timeline.steps.astype(float)
    fig, (quality, game) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=100)
    _plot(quality, steps, timeline.curves["frechet"], "Fréchet distance", "tab:red")
    quality.set_yscale("log")
    quality.set_ylabel("Fréchet distance (log)")
    accuracy = quality.twinx()
    _plot(accuracy, steps, timeline.curves["accuracy"], "class accuracy", "tab:blue")
    _plot(accuracy, steps, timeline.curves["coverage"], "coverage", "tab:green")
    accuracy.set_ylim(0, 1.02)
    accuracy.set_ylabel("accuracy, coverage")
    lines = quality.get_lines() + accuracy.get_lines()
    quality.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="center right")
    _plot(game, steps, timeline.curves["d_real"], "D(real)", "tab:blue")
    _plot(game, steps, timeline.curves["d_fake"], "D(generated)", "tab:orange")
    game.set_ylim(0, 1)
    game.set_ylabel("D's mean realness")
    game.legend(fontsize=7, loc="lower right")
    for ax, title in ((quality, "how good"), (game, "the game")):
        # the frames are dense early, where the picture changes fastest: a log-like step axis
        ax.set_xscale("symlog", linthresh=500)
        ax.set_xlim(0, max(steps[-1], 1))
        ax.set_xlabel("step (linear to 500, then log)")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        if index is not None:
            ax.axvline(steps[index], color="black", lw=1, ls="--")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _plot(ax, steps: np.ndarray, values: np.ndarray, label: str, color: str) -> None:
    measured = ~np.isnan(values)
    if measured.any():  # only where measured: NaN is "not measured", not a gap to draw across
        ax.plot(steps[measured], values[measured], marker="o", ms=2.5, lw=1.2, label=label, color=color)
    else:
        ax.plot([], [], label=f"{label} (not measured)", color=color)

