"""A Gradio app on ZeroGPU: the real `spaces` start-up and call path against a loopback
stand-in for the platform's device API (tests/support/zerogpu_standin.py).

The app runs in a subprocess with SPACES_ZERO_GPU=true, as on a ZeroGPU Space (started by
tests/support/zerogpu_app.py): `import spaces` patches torch, `demo.launch()` packs the
tensors moved to "cuda" and posts /startup-report, and each call of a `@spaces.GPU`
function is scheduled, run in a forked worker and released. Without a GPU the worker cannot
start CUDA, so the call fails after the whole protocol ran; with one (the stand-in hands out
CUDA_VISIBLE_DEVICES' first device) the call answers.

Skipped where the `spaces` package is not installed.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import httpx
import pytest

from tests.support.loopback_guard import BLOCKED_MARK
from tests.support.zerogpu_app import (REPO_ROOT, STANDIN_CGROUP, LaunchedApp, check_generate, launch_digitgan,
                                       launch_zerogpu_app, stop)
from tests.support.zerogpu_standin import STANDIN_NVIDIA_UUID, ZeroGPUStandIn

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("spaces") is None,
                       reason="the `spaces` package is not installed (pip install spaces)"),
]

# A ZeroGPU app in miniature: `spaces` first, a module moved to "cuda" at import (ZeroGPU
# keeps it on the CPU, then packs it at launch), one @spaces.GPU function whose duration
# depends on its input, one plain function that reports what the main process sees.
TINY_APP = '''\
import os
import spaces
import torch
import gradio as gr

torch.manual_seed(0)
layer = torch.nn.Linear(4, 2)
expected = layer(torch.ones(4)).tolist()
layer.to("cuda")


def seconds_for(n):
    return 5 + int(n)


def scaled(n):
    """layer(ones * n) on the GPU."""
    return [round(v, 4) for v in layer(torch.ones(4, device="cuda") * float(n)).tolist()]


if os.environ.get("TINY_APP_DECORATE", "1") == "1":
    scaled = spaces.GPU(duration=seconds_for)(scaled)


def describe():
    """What a plain (not decorated) handler sees in the main process."""
    return {"cuda_available": torch.cuda.is_available(),
            "layer_device": str(next(layer.parameters()).device),
            "layer_output": layer(torch.ones(4)).tolist(),
            "expected_output": expected,
            "pid": os.getpid()}


with gr.Blocks() as demo:
    number = gr.Number(value=1)
    result = gr.JSON()
    gr.Button("scaled").click(scaled, number, result, api_name="scaled")
    gr.Button("describe").click(describe, None, result, api_name="describe")

demo.launch()
'''


def gpu_device() -> str | None:
    """What the stand-in hands out as the scheduled device: None without a CUDA GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return visible or "0"


@pytest.fixture(scope="module")
def tiny_app_script(tmp_path_factory) -> Path:
    script = tmp_path_factory.mktemp("tiny_app") / "app.py"
    script.write_text(TINY_APP)
    return script


@pytest.fixture(scope="module")
def zerogpu_app(tiny_app_script, tmp_path_factory):
    """The tiny app launched under ZeroGPU, with its stand-in device API."""
    from gradio_client import Client

    with ZeroGPUStandIn(nvidia_uuid=gpu_device() or STANDIN_NVIDIA_UUID) as standin:
        app = launch_zerogpu_app(tiny_app_script, standin, tmp_path_factory.mktemp("zerogpu_app"))
        try:
            yield app, standin, Client(app.url, verbose=False)
        finally:
            stop(app)
            assert BLOCKED_MARK not in app.log(), app.log()


def test_launch_posts_one_startup_report_and_serves(zerogpu_app):
    app, standin, client = zerogpu_app
    reports = standin.requests_to("/startup-report")
    assert [(r.method, r.query, r.body) for r in reports] == [("POST", {}, None)]
    assert standin.requests_to("/schedule") == []   # nothing asks for a GPU before a call
    assert "ZeroGPU tensors packing" in app.log()     # the layer moved to "cuda" was packed


def test_a_plain_handler_sees_emulated_cuda_and_packed_weights(zerogpu_app):
    """Outside @spaces.GPU, torch.cuda.is_available() is True but a module moved to "cuda"
    at import is an empty stand-in after launch: it computes zeros, not its weights."""
    app, standin, client = zerogpu_app
    seen = client.predict(api_name="/describe")
    assert seen["pid"] == app.process.pid
    assert seen["cuda_available"] is True
    assert seen["layer_device"] == "cpu"
    assert seen["layer_output"] == [0.0, 0.0]
    assert seen["expected_output"] != [0.0, 0.0]


def calls_since(standin: ZeroGPUStandIn, start: int) -> list:
    return [r for r in standin.requests[start:] if r.path in ("/schedule", "/allow", "/release")]


def check_protocol(calls, app: LaunchedApp, *, duration_s: int, failed: bool) -> None:
    assert [r.path for r in calls] == ["/schedule", "/allow", "/release"]
    schedule, allow, release = calls
    assert schedule.method == allow.method == release.method == "POST"
    assert schedule.query["cgroupPath"] == STANDIN_CGROUP
    assert schedule.query["durationSeconds"] == str(duration_s)   # seconds_for(n), unscaled on H200
    assert schedule.query["enableQueue"] == "true"
    assert schedule.query["taskId"].isdigit()
    assert "token" not in schedule.query                          # no X-IP-Token from a local client
    token = allow.query["allowToken"]
    assert token.startswith("standin-allow-")
    assert int(allow.query["pid"]) not in (app.process.pid, 1)     # the forked worker asks
    assert release.query == {"allowToken": token, "fail": "true" if failed else "false"}


@pytest.mark.skipif(gpu_device() is not None, reason="with a GPU the call runs: see the cuda test")
def test_without_a_gpu_a_decorated_call_runs_the_protocol_then_fails(zerogpu_app):
    from gradio_client.exceptions import AppError

    app, standin, client = zerogpu_app
    start = len(standin.requests)
    with pytest.raises(AppError, match="RuntimeError"):
        client.predict(3, api_name="/scaled")
    check_protocol(calls_since(standin, start), app, duration_s=8, failed=True)
    assert "Found no NVIDIA driver" in app.log() or "CUDA" in app.log()


@pytest.mark.cuda
@pytest.mark.skipif(gpu_device() is None, reason="needs a CUDA GPU for the ZeroGPU worker")
def test_with_a_gpu_a_decorated_call_answers_from_the_worker(zerogpu_app):
    app, standin, client = zerogpu_app
    expected = client.predict(api_name="/describe")["expected_output"]
    start = len(standin.requests)
    answer = client.predict(1, api_name="/scaled")
    assert answer == [round(v, 4) for v in expected]
    check_protocol(calls_since(standin, start), app, duration_s=6, failed=False)


def test_an_app_without_decorated_functions_sends_no_startup_report(tiny_app_script, tmp_path):
    with ZeroGPUStandIn() as standin:
        app = launch_zerogpu_app(tiny_app_script, standin, tmp_path,
                                 extra_env={"TINY_APP_DECORATE": "0"})
        try:
            assert httpx.get(app.url, timeout=5).status_code == 200
        finally:
            stop(app)
    assert standin.requests == []
    assert BLOCKED_MARK not in app.log(), app.log()


# ----------------------------------------------------------------------------- DigitGAN's own app

def test_the_app_registers_its_gpu_function_before_launch_and_serves_from_the_cpu(tmp_path):
    from gradio_client import Client

    with ZeroGPUStandIn() as standin:
        app = launch_digitgan(REPO_ROOT / "app.py", standin, tmp_path)
        try:
            assert [r.path for r in standin.requests] == ["/startup-report"]
            client = Client(app.url, verbose=False)
            check_generate(client)
            # a Start asks the platform for the GPU for the run; without a GPU here the worker
            # cannot start CUDA, and the run says so instead of hanging
            payload = client.predict("custom", 20, 8, 0, api_name="/train_start")
            paths = [r.path for r in standin.requests]
            assert paths[:2] == ["/startup-report", "/schedule"] and "/release" in paths
            schedule = standin.requests_to("/schedule")[0]
            assert schedule.query["durationSeconds"] == "120"  # DIGITGAN_GPU_SECONDS' default
            assert payload["state"] == "dead"
            assert "the GPU call ended before the run did" in payload["message"]
        finally:
            stop(app)
    assert BLOCKED_MARK not in app.log(), app.log()


def test_off_zerogpu_the_app_starts_without_the_spaces_package(tmp_path):
    from gradio_client import Client

    blocker = tmp_path / "no_spaces"
    blocker.mkdir()
    (blocker / "spaces.py").write_text("raise ImportError('spaces is not installed here')\n")
    site = tmp_path / "site"  # launch_zerogpu_app writes the loopback guard there
    with ZeroGPUStandIn() as standin:
        app = launch_digitgan(REPO_ROOT / "app.py", standin, tmp_path, SPACES_ZERO_GPU="",
                              PYTHONPATH=os.pathsep.join([str(blocker), str(site), str(REPO_ROOT)]))
        try:
            check_generate(Client(app.url, verbose=False))
        finally:
            stop(app)
    assert standin.requests == []


def test_a_generated_zerogpu_folder_starts_on_zerogpu(tmp_path):
    from gradio_client import Client

    from gan.space.folder import build_space_folder

    out = build_space_folder(tmp_path / "space", kind="zerogpu")
    with ZeroGPUStandIn() as standin:
        app = launch_digitgan(out / "app.py", standin, tmp_path, DIGITGAN_WEIGHTS=str(out / "weights"))
        try:
            assert [r.path for r in standin.requests] == ["/startup-report"]
            check_generate(Client(app.url, verbose=False))
        finally:
            stop(app)
