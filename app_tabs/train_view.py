"""How the Train tab shows a run: the summary line, the loss and metrics tables, the run list,
the pictures read from the run folder, and the JSON the training endpoints return.

Pure functions of a gan.runs.status.RunStatus: no Gradio, no process handling.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from gan.runs.status import RunStatus

LOSS_COLUMNS = ["step", "loss", "term"]
METRICS_HEADERS = ["step", "training min", "class accuracy %", "worst digit %", "Fréchet distance"]
MAX_PICTURE_PIXELS = 4096 * 4096  # a progress grid is ~300x300; anything far larger is no grid


def format_duration(seconds: float | None) -> str:
    """12 s, 2 min 49 s, 1 h 05 min; '-' when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def summary_markdown(status: RunStatus | None) -> str:
    """The status panel's text: state, step / total, speed, ETA, losses, the run's options."""
    if status is None:
        return "No runs yet: choose a preset and press **Start**."
    parts = [f"**{status.label}**"]
    if status.step is not None:
        total = f" / {status.steps:,}" if status.steps else ""
        share = f" ({status.step / status.steps:.0%})" if status.steps else ""
        parts.append(f"step {status.step:,}{total}{share}")
    if status.images_per_s:
        parts.append(f"{status.images_per_s:,.0f} images/s")
    if status.state == "running":
        parts.append(f"ETA {format_duration(status.eta_s)}")
    if status.elapsed_s is not None:
        parts.append(f"{format_duration(status.elapsed_s)} trained")
    if status.d_loss is not None and status.g_loss is not None:
        parts.append(f"D loss {status.d_loss:.3f} · G loss {status.g_loss:.3f}")
    options = ", ".join(f"{k} {v}" for k, v in (("preset", status.preset), ("batch", status.batch_size),
                                                 ("seed", status.seed)) if v is not None)
    lines = [" · ".join(parts), f"Run `{status.name}`" + (f" ({options})" if options else "")]
    if status.message and status.message not in ("running", status.state):
        lines.append(f"_{status.message}_")
    return "\n\n".join(lines)


def loss_frame(history: Sequence[dict]) -> pd.DataFrame | None:
    """The loss history in long form for a line plot: one row per (step, D or G loss); None
    when there is none yet (a plot first given an empty frame draws no lines later, Gradio 6)."""
    rows = [(h["step"], h[key], term) for h in history
            for key, term in (("d_loss", "D"), ("g_loss", "G"))
            if isinstance(h.get(key), (int, float))]
    if not rows:
        return None
    return pd.DataFrame(rows, columns=LOSS_COLUMNS).astype({"step": "int64", "loss": "float64", "term": "str"})


def _percent(value: object) -> float | None:
    return round(100 * value, 2) if isinstance(value, (int, float)) else None


def metrics_rows(metrics: Sequence[dict]) -> list[list]:
    """One table row per periodic check: step, minutes, class accuracy, worst digit, Fréchet."""
    rows = []
    for m in metrics:
        per_digit = m.get("class_accuracy_per_digit")
        worst = min(per_digit) if isinstance(per_digit, list) and per_digit and \
            all(isinstance(v, (int, float)) for v in per_digit) else None
        frechet = m.get("frechet_distance")
        rows.append([m.get("step"), m.get("train_minutes", m.get("minutes")),
                     _percent(m.get("class_accuracy")), _percent(worst),
                     round(frechet, 2) if isinstance(frechet, (int, float)) else None])
    return rows


def log_text(status: RunStatus | None) -> str:
    """The end of the trainer's console output (its command line, messages, and any error),
    or of its log.txt for a run started from the command line (which has no console file)."""
    if status is None:
        return ""
    return "\n".join(status.console_tail or status.log_tail)


def run_choices(runs: Sequence[RunStatus]) -> list[tuple[str, str]]:
    """(label, name) pairs for the run dropdown: the name and the state, newest first."""
    return [(f"{run.name} ({run.label})", run.name) for run in runs]


def read_picture(path: Path | None) -> np.ndarray | None:
    """A PNG the trainer wrote, as a numpy array (None when missing or unreadable). The app
    sends the pixels, so the runs folder never has to be opened to the web server."""
    if path is None:
        return None
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PICTURE_PIXELS:
                return None
            return np.asarray(im.convert("RGB" if im.mode not in ("L", "RGB") else im.mode))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def png_pixels(data: bytes) -> np.ndarray:
    """A PNG made here (the timeline's curves) as pixels, for an image the page is sent."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def api_payload(status: RunStatus | None, runs: Sequence[RunStatus] = ()) -> dict:
    """A run's status as JSON for the HTTP API: every field of RunStatus plus its label, with
    the run's pictures named relative to its folder (server paths are not the caller's
    business), and the runs on disk with their states."""
    listing = [{"name": r.name, "state": r.state, "label": r.label, "step": r.step, "steps": r.steps}
               for r in runs]
    if status is None:
        return {"name": None, "state": "none", "label": "no runs yet", "runs": listing}
    data = status.to_dict()
    for key in ("grid_path", "loss_curve_path"):
        data[key] = Path(data[key]).name if data[key] else None
    data["runs"] = listing
    return data
