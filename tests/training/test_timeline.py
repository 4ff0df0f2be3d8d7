"""The training timeline: built from a run folder (grids, losses, D's realness, metrics) and
written beside the weights at every export (gan.training.run_folder, gan.model.timeline)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from gan.images import make_grid
from gan.model.timeline import CURVES, TimelineError, expected_last_frame, load_timeline
from gan.model.weights import TIMELINE_FILE, load_generator
from gan.training.loop import train
from gan.training.run_folder import (
    EARLY_GRID_STEPS,
    GRID_SEEDS,
    HISTORY_FILE,
    METRICS_HISTORY_FILE,
    SAMPLES_DIR,
    build_timeline,
    early_grid_steps,
    export_from_checkpoint,
    grid_tiles,
    thin,
    window_means,
)


def _train(cfg):
    return train(cfg, progress=False, log=lambda line: None)


def test_a_run_exports_its_timeline(core_train_config, tmp_path):
    cfg = core_train_config(steps=6, log_every=2, sample_every=4, export_dir=str(tmp_path / "weights"))
    result = _train(cfg)
    generator = load_generator(result.export_dir)
    timeline = load_timeline(result.export_dir, generator=generator)
    # step 0 (the untrained generator), every sample_every steps, and the last step
    assert timeline.steps.tolist() == [0, 4, 6]
    assert timeline.seeds.tolist() == GRID_SEEDS
    assert timeline.frames.shape == (3, 10, len(GRID_SEEDS), 28, 28) and timeline.frames.dtype == np.uint8
    # the last frame is what the exported weights draw
    assert np.array_equal(timeline.frames[-1], expected_last_frame(generator, GRID_SEEDS))
    # nothing was trained at step 0; afterwards every loss and D's realness of both halves are there
    assert all(math.isnan(timeline.curves[name][0]) for name in ("d_loss", "g_loss", "d_real", "d_fake"))
    for name in ("d_real", "d_fake"):
        assert np.all((timeline.curves[name][1:] > 0) & (timeline.curves[name][1:] < 1))
    # the metrics were off in this run: not measured, so NaN, never invented
    assert np.isnan(timeline.curves["frechet"]).all()


def test_the_timeline_averages_the_losses_since_the_previous_frame(core_train_config):
    cfg = core_train_config(steps=6, log_every=2, sample_every=4)
    result = _train(cfg)
    history = json.loads((result.run_dir / HISTORY_FILE).read_text())
    timeline = build_timeline(result.run_dir)
    by_step = {entry["step"]: entry for entry in history}
    # the frame at step 4 covers the log windows ending at steps 2 and 4 (two steps each)
    expected = (by_step[2]["d_real"] + by_step[4]["d_real"]) / 2
    assert timeline.curves["d_real"][timeline.steps.tolist().index(4)] == pytest.approx(expected, rel=1e-6)


def test_early_grids_are_drawn_below_the_first_regular_grid():
    assert early_grid_steps(500) == EARLY_GRID_STEPS
    assert early_grid_steps(100) == (50,)
    assert early_grid_steps(50) == ()


def test_window_means_weights_windows_by_length_and_leaves_gaps_nan():
    history = [{"step": 10, "d_real": 1.0}, {"step": 40, "d_real": 0.0},  # windows of 10 and 30 steps
               {"step": 50, "d_loss": 2.0}]
    means = window_means(history, [0, 40, 50, 60])
    assert math.isnan(means["d_real"][0])
    assert means["d_real"][1] == pytest.approx(10 / 40)
    assert math.isnan(means["d_real"][2]) and means["d_loss"][2] == pytest.approx(2.0)
    assert math.isnan(means["d_loss"][3])  # nothing logged after step 50


def test_grid_tiles_undo_make_grid():
    images = np.random.default_rng(0).integers(0, 256, (100, 28, 28), dtype=np.uint8)
    tiles = grid_tiles(make_grid(images, rows=10, cols=10), rows=10, cols=10)
    assert np.array_equal(tiles.reshape(100, 28, 28), images)
    with pytest.raises(ValueError, match="not a 10x10 grid"):
        grid_tiles(np.zeros((50, 50), np.uint8), rows=10, cols=10)


def test_thin_keeps_the_ends_and_the_measured_steps():
    steps = list(range(0, 10_001, 50))
    chosen = thin(steps, keep={2000, 4000}, most=20)
    assert len(chosen) == 20 and chosen[0] == 0 and chosen[-1] == 10_000 and {2000, 4000} <= set(chosen)
    assert thin(steps[:5], keep=set(), most=20) == steps[:5]


def test_an_older_run_exports_what_it_has(core_train_config, tmp_path):
    """A run folder from before the timeline: no step-0 grid, no D realness, metrics at one step."""
    cfg = core_train_config(steps=4, log_every=2, sample_every=2)
    result = _train(cfg)
    (result.run_dir / SAMPLES_DIR / "step_0000000.png").unlink()
    history = json.loads((result.run_dir / HISTORY_FILE).read_text())
    for entry in history:
        entry.pop("d_real"), entry.pop("d_fake")
    (result.run_dir / HISTORY_FILE).write_text(json.dumps(history))
    (result.run_dir / METRICS_HISTORY_FILE).write_text(json.dumps([{"step": 2, "class_accuracy": 0.5,
                                                                     "frechet_distance": 99.0, "coverage": 0.1}]))
    timeline = load_timeline(export_from_checkpoint(result.run_dir, tmp_path / "old"))
    assert timeline.steps.tolist() == [2, 4]
    assert np.isnan(timeline.curves["d_real"]).all() and not np.isnan(timeline.curves["d_loss"]).any()
    assert timeline.curves["frechet"].tolist()[0] == 99.0 and math.isnan(timeline.curves["frechet"][1])


# ----------------------------------------------------------------------------- the file, strictly
@pytest.fixture
def exported(core_train_config, tmp_path):
    result = _train(core_train_config(steps=4, log_every=2, sample_every=2, export_dir=str(tmp_path / "w")))
    return result.export_dir


def _rewrite(folder, **changes):
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / TIMELINE_FILE)
    for name, value in changes.items():
        if value is None:
            tensors.pop(name)
        else:
            tensors[name] = value
    save_file(tensors, folder / TIMELINE_FILE)


def test_a_folder_without_a_timeline_says_how_to_get_one(core_weights_dir):
    with pytest.raises(TimelineError, match="has no timeline.safetensors") as info:
        load_timeline(core_weights_dir)
    assert "train.py" in info.value.advice()


@pytest.mark.parametrize("change, message", [
    ({"steps": torch.tensor([0, 4, 2])}, "strictly increasing"),
    ({"steps": torch.tensor([0, 2, 4], dtype=torch.int32)}, "steps must be int64"),
    ({"frames": torch.zeros(3, 10, 10, 28, 28, dtype=torch.float32)}, "frames must be uint8"),
    ({"frames": torch.zeros(2, 10, 10, 28, 28, dtype=torch.uint8)}, "frames must be uint8"),
    ({"d_real": None}, "expected exactly the tensors"),
    ({"extra": torch.zeros(1)}, "expected exactly the tensors"),
    ({"frechet": torch.zeros(3, dtype=torch.float64)}, "frechet must be float32"),
])
def test_an_off_format_timeline_is_refused(exported, change, message):
    _rewrite(exported, **change)
    with pytest.raises(TimelineError, match=message):
        load_timeline(exported)


def test_a_timeline_of_other_weights_is_refused(exported, core_generator):
    load_timeline(exported, generator=load_generator(exported))  # its own weights: fine
    with pytest.raises(TimelineError, match="last frame is not what the weights beside it draw"):
        load_timeline(exported, generator=core_generator.__class__(load_generator(exported).config))


def test_a_corrupt_timeline_is_refused(exported):
    (exported / TIMELINE_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(TimelineError, match="not a readable safetensors file"):
        load_timeline(exported)


def test_index_of_names_the_nearest_steps(exported):
    timeline = load_timeline(exported)
    assert timeline.index_of(2) == 1
    with pytest.raises(ValueError, match="step 3 is not in the timeline.*the nearest: 2 and 4"):
        timeline.index_of(3)
    assert [row["step"] for row in timeline.metrics()] == [0, 2, 4]
    assert set(timeline.metrics()[0]) == {"step", *CURVES}
