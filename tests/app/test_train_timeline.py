"""The Train tab's timeline of the run it shows: the run's own grids, losses and metrics so far,
through the run manager and the tab's handlers (no server, no trainer process)."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from app_tabs.train_handlers import TrainHandlers
from gan.config import ModelConfig, TrainConfig
from gan.runs.manager import RunManager
from gan.training.loop import train
from gan.training.run_folder import build_timeline


@pytest.fixture
def handlers(tmp_path):
    """A manager over a runs folder holding one tiny finished run (grids at steps 0, 2, 4)."""
    runs = tmp_path / "runs"
    cfg = TrainConfig(model=ModelConfig(g_width=8, d_width=8), synthetic_size=64, run_dir=str(runs / "tiny"),
                      export_dir=None, steps=4, batch_size=8, seed=0, device="cpu", threads=1, log_every=2,
                      sample_every=2, metrics_every=0, ckpt_every=1000)
    train(cfg, progress=False, log=lambda line: None)
    return TrainHandlers(RunManager(runs))


def test_the_manager_builds_a_listed_runs_timeline(handlers):
    timeline = handlers.manager.timeline("tiny")
    assert timeline.steps.tolist() == [0, 2, 4]
    assert np.array_equal(timeline.frames, build_timeline(handlers.manager.run_dir("tiny")).frames)
    with pytest.raises(ValueError, match="run must be the name of a listed run"):
        handlers.manager.timeline("../../etc")
    with pytest.raises(ValueError, match="there is no run named 'other'"):
        handlers.manager.timeline("other")


def test_the_slider_spans_the_frames_and_follows_new_ones(handlers):
    slider, count = handlers.timeline_slider("tiny", 0)
    assert (slider.maximum, slider.value, slider.visible, count) == (2, 2, True, 3)
    again, count = handlers.timeline_slider("tiny", 3)  # nothing new: the visitor's frame stays
    assert isinstance(again, type(gr.skip())) and count == 3


def test_a_frame_is_its_grid_caption_and_curves(handlers):
    grid, caption, curves = handlers.timeline_frame("tiny", 1)
    timeline = handlers.manager.timeline("tiny")
    assert np.array_equal(grid[2:30, 2:30], timeline.frames[1, 0, 0])
    assert caption.startswith("**Step 2** of 4") and curves.ndim == 3
    assert handlers.timeline_frame("tiny", 99)[1].startswith("**Step 4**")  # past the end: the newest


def test_no_run_and_no_training(tmp_path):
    slider, count = TrainHandlers(RunManager(tmp_path / "none")).timeline_slider(None, 0)
    assert slider.visible is False and count == 0
    with pytest.raises(gr.Error, match="Training from the page is off"):
        TrainHandlers(None).timeline_frame(None, 0)
