"""The shipped weights' training timeline: the file as specified, its frames read by the
project's MNIST classifier (not the GAN's own D), its last frame what the app serves, and D's
realness of real and generated digits through the run."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gan.model.classifier import classifier_outputs, load_classifier
from gan.model.timeline import expected_last_frame, load_timeline
from gan.model.weights import TIMELINE_FILE, load_generator
from tests.support.processes import REPO_ROOT

WEIGHTS = REPO_ROOT / "weights"


@pytest.fixture(scope="module")
def generator():
    return load_generator(WEIGHTS)


@pytest.fixture(scope="module")
def timeline(generator):
    return load_timeline(WEIGHTS, generator=generator)  # strict, and the last frame checked


@pytest.fixture(scope="module")
def accuracy_by_frame(timeline):
    """The share of each frame's 100 digits that the classifier reads as the digit asked."""
    frames = torch.from_numpy(timeline.frames.reshape(len(timeline) * 100, 28, 28).copy())
    _, predicted = classifier_outputs(load_classifier(), frames)
    asked = torch.arange(10).repeat_interleave(10).repeat(len(timeline))
    return (predicted == asked).float().reshape(len(timeline), 100).mean(1).numpy()


def test_the_file_is_as_specified(timeline, generator):
    assert len(timeline) >= 20 and timeline.steps[0] == 0
    assert timeline.seeds.tolist() == list(range(10))
    assert timeline.frames.shape == (len(timeline), 10, 10, 28, 28)
    assert int(timeline.steps[-1]) == 16_000  # the standard recipe's last step
    assert np.array_equal(timeline.frames[-1], expected_last_frame(generator, range(10)))
    assert (WEIGHTS / TIMELINE_FILE).stat().st_size < 8 * 2**20  # it stays small


def test_the_frames_learn_to_draw_the_asked_digits(accuracy_by_frame):
    assert accuracy_by_frame[0] <= 0.30  # noise
    assert accuracy_by_frame[-1] >= 0.98
    half = len(accuracy_by_frame) // 2
    assert accuracy_by_frame[half:].mean() > accuracy_by_frame[:half].mean()
    assert accuracy_by_frame[-3:].min() >= accuracy_by_frame[:3].max()


def test_d_realness_of_real_and_generated_is_there_for_the_run(timeline):
    after_start = slice(1, None)
    for name in ("d_real", "d_fake"):
        present = np.isfinite(timeline.curves[name][after_start])
        assert present.mean() >= 0.9, name
        values = timeline.curves[name][after_start][present]
        assert ((values > 0) & (values < 1)).all()
    assert np.isnan(timeline.curves["d_loss"][0])  # nothing was trained at step 0
    assert np.isfinite(timeline.curves["frechet"]).sum() >= 10  # the periodic checks


@pytest.mark.slow
def test_a_launched_app_answers_timeline_with_the_files_last_frame(timeline, tmp_path):
    from gradio_client import Client

    import app
    from tests.support.browser import free_port
    from tests.support.png_files import pixels, text_chunks

    demo = app.build_demo(WEIGHTS, auto_reload_s=None)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        path = Client(demo.local_url, verbose=False, download_files=str(tmp_path)).predict(
            int(timeline.steps[-1]), api_name="/timeline")
    finally:
        demo.close()
    scale = int(text_chunks(path)["scale"])
    cells = pixels(path)[::scale, ::scale]
    frame = np.stack([cells[2 + r * 30: 30 + r * 30, 2 + c * 30: 30 + c * 30] for r in range(10) for c in range(10)])
    assert np.array_equal(frame.reshape(10, 10, 28, 28), timeline.frames[-1])
