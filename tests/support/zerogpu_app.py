"""An app started as on a ZeroGPU Space, in a subprocess against the loopback stand-in for
the platform's device API (tests/support/zerogpu_standin.py), with the loopback guard
(tests/support/loopback_guard.py) in its path; and DigitGAN's own app started that way, with
a check that it serves the shipped weights' digits.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.loopback_guard import SITECUSTOMIZE
from tests.support.zerogpu_standin import ZeroGPUStandIn

REPO_ROOT = Path(__file__).resolve().parents[2]
STANDIN_CGROUP = "/standin-cgroup"
START_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LaunchedApp:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def launch_zerogpu_app(script: Path, standin: ZeroGPUStandIn, folder: Path,
                       extra_env: dict[str, str] | None = None, python: str = sys.executable) -> LaunchedApp:
    """Start `script` as a ZeroGPU Space would, wait until it serves, return it."""
    site = folder / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    cgroup = folder / "cgroup"
    cgroup.write_text(f"5:devices:{STANDIN_CGROUP}\n")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SYSTEM", "SPACE_ID", "PYTHONPATH")}
    env.update({
        "SPACES_ZERO_GPU": "true",
        "SPACES_ZERO_DEVICE_API_URL": standin.url,
        "ZEROGPU_PROC_SELF_CGROUP_PATH": str(cgroup),
        # ZeroGPU empties and refills this folder at launch; never the user's ~/.zerogpu.
        "ZEROGPU_OFFLOAD_DIR": str(folder / "offload"),
        "ZEROGPU_MMAP_AUTOPRUNE_PATTERN": str(folder / "no-hub-cache" / "*"),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO_ROOT)]),
        **(extra_env or {}),
    })
    log_path = folder / "app.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([python, str(script)], cwd=folder, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    app = LaunchedApp(f"http://127.0.0.1:{port}/", process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the app exited ({process.returncode}) before serving:\n{app.log()}")
        try:
            if httpx.get(app.url, timeout=2).status_code == 200:
                return app
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop(app)
    raise AssertionError(f"the app did not serve within {START_TIMEOUT_S}s:\n{app.log()}")


def stop(app: LaunchedApp) -> None:
    app.process.terminate()
    try:
        app.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        app.process.kill()
        app.process.wait(timeout=20)


# ----------------------------------------------------------------------------- DigitGAN's own app

def expected_digit(digit: int, seed: int, psi: float):
    import numpy as np

    from gan.images import upscale
    from gan.model.weights import load_generator

    image = load_generator(REPO_ROOT / "weights").generate([digit], [seed], truncation_psi=psi)[0]
    return upscale(image.numpy(), 10).astype(np.uint8)


def check_generate(client) -> None:
    """/generate answers with the shipped weights' own digit: the generator serves from the
    CPU, never from a "cuda" copy that ZeroGPU empties at launch."""
    import numpy as np
    from PIL import Image

    path = client.predict(3, 42, 0.8, api_name="/generate")
    with Image.open(path) as png:
        assert np.array_equal(np.asarray(png.convert("L")), expected_digit(3, 42, 0.8))


def launch_digitgan(script: Path, standin: ZeroGPUStandIn, folder: Path, *, python: str = sys.executable,
                    **env) -> LaunchedApp:
    return launch_zerogpu_app(script, standin, folder, python=python, extra_env={
        "DIGITGAN_WEIGHTS": str(REPO_ROOT / "weights"), "DIGITGAN_ALLOW_TRAINING": "1",
        "DIGITGAN_RUNS_DIR": str(folder / "runs"), **env})
