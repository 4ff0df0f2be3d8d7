"""Shared by the static-site tests: one export of the shipped weights per test session (with a
stand-in encoder and a made-up training timeline, since neither ships yet), a loopback server
for it, a runner for the page's plain ES modules under Node, and the hostile links both the
Node and the browser tests hold the page's reading of against gan.serving.views.parse_view.

The export needs the onnxruntime-web files: from the cache folder (.ci/run fills it before
the tests), or fetched with npm (`npm pack`) into it; without npm and without the cached files
the tests that need them skip, saying what to install. Any other failure to get them fails.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_WEIGHTS = REPO_ROOT / "weights"
WEB = REPO_ROOT / "gan" / "space" / "web"
_EXPORTS: dict[str, Path] = {}
TIMELINE_STEPS = (0, 50, 100, 500, 1000)

# Links with values the page cannot show (and a few it can, spelled oddly): the page's view and
# message must be parse_view's on the same parameters. Without the '#'.
HOSTILE_HASHES = [
    "tab=explore&digit=12&seed=-1&psi=abc&slant=99&tilt=1", "tab=x&digit=1e0", "tab=draw&latent=",
    "seed=%D9%A1%D9%A2", "psi=1_0", "digit=" + "1" * 5000, "digit=" + "1" * 4300,
    "tab=grid&mode=slerp&rows=0&cols=1e1",
    "tab=interpolate&method=%27x%22&steps=1.5&seed_a=4294967296&seed_b=1e30&digit_a=-0.0",
    "tab=explore&slant=-0.0&thickness=3.0&width=-3.0001", "tab=explore&__proto__=1&constructor=2",
    "tab=__proto__", "tab=generate&psi=nan&seed=inf&digit=%E2%80%8B", "psi=1e-5&seed=%201%20", "psi=0.00001",
    "psi=-1e-7&digit=+5", "psi=1e16", "psi=12345678901234567", "seed=" + "9" * 30, "tab=learn&step=abc&foo=1",
    "tab=draw&latent=" + "a" * 2001, "digit=%FF", "digit=%0A%C2%85", "tab=grid&1=2&0=3",
    "digit=1&digit=2&tab=explore", "tab=explore&psi=.5", "tab=explore&psi=5.", "tab=explore&psi=1_0.0_5",
    "digit=1__0", "digit=_1", "seed=Infinity", "psi=-iNf", "digit=%F0%9D%9F%8F", "digit=%EF%BC%99",
    "seed=0x10", "tab=learn&step=1000000001", "tab=generate&digit=3&seed=42&psi=1", "tab=TAB&digit=3",
    "tab=explore&digit=12&seed=-1&psi=abc&slant=99&%3Cscript%3E=1", "digit=%ED%A0%80", "seed=%G1&psi=%",
    "digit=+3+", "=1&tab=grid&&", "tab=explore&slant=1&slant=2&thickness=0",
]


class StandInEncoder(nn.Module):
    """A tiny random image -> latent network with the encoder's interface: (images [N,1,28,28]
    in [-1, 1], class_weights [N,10]) -> z [N,64]. It finds no handwriting; it lets the page's
    Draw path (preprocessing, encoder, restyle, morph) be checked against Python end to end."""

    def __init__(self, z_dim: int = 64, num_classes: int = 10):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(7)
            self.conv = nn.Conv2d(1, 4, 5, stride=4)
            self.fc = nn.Linear(4 * 6 * 6 + num_classes, z_dim)

    def forward(self, images: torch.Tensor, class_weights: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv(images)).flatten(1)
        return 4.0 * self.fc(torch.cat([h, class_weights], dim=1))


def standin_encoder_onnx(path: Path) -> Path:
    from gan.space.onnx_export import export_encoder

    export_encoder(StandInEncoder().eval(), path, z_dim=64)
    return path


def write_timeline(folder: Path, generator=None):
    """A made-up training timeline for the weights in `folder`, saved there: steps
    TIMELINE_STEPS, seeds 0-9, a last frame that is what the weights draw (as the loader
    checks) and earlier frames that blend it with noise; some curves not measured (NaN) at
    some steps, coverage at none."""
    from gan import load_generator
    from gan.model.timeline import Timeline, expected_last_frame, save_timeline

    generator = generator or load_generator(folder)
    seeds = np.arange(10, dtype=np.int64)
    last = expected_last_frame(generator, seeds)
    noise = np.random.default_rng(0).integers(0, 256, size=last.shape)
    count = len(TIMELINE_STEPS)
    frames = [(t / (count - 1) * last + (1 - t / (count - 1)) * noise).round().astype(np.uint8)
              for t in range(count - 1)] + [last]
    nan = float("nan")
    curves = {"accuracy": [nan, nan, 0.41, 0.88, 0.97], "frechet": [nan, 212.0, 95.5, 11.2, 3.4],
              "coverage": [nan] * count, "d_loss": [nan, 1.31, 1.12, 1.05, 0.98],
              "g_loss": [nan, 0.9, 1.4, 1.6, 1.7], "d_real": [nan, 0.93, 0.71, 0.62, 0.58],
              "d_fake": [nan, 0.08, 0.31, 0.4, 0.43]}
    timeline = Timeline(steps=np.array(TIMELINE_STEPS, dtype=np.int64), seeds=seeds, frames=np.stack(frames),
                        curves={k: np.array(v, dtype=np.float32) for k, v in curves.items()})
    save_timeline(timeline, folder)
    return timeline


def skip_without_the_runtime_files() -> None:
    """Skip (saying what to install) when the onnxruntime-web files are neither cached nor
    fetchable, because npm is missing."""
    from gan.space import ort_web

    if not ort_web.is_cached() and shutil.which("npm") is None:
        pytest.skip(f"npm is not installed and {ort_web.cache_folder()} lacks the onnxruntime-web "
                    f"files: install Node.js with npm (e.g. `apt-get install npm`) to run the "
                    "static Space tests")


def exported_site(tmp_path_factory) -> Path:
    """The shipped weights (plus the stand-in encoder.onnx and write_timeline's timeline)
    exported once per session."""
    if "site" not in _EXPORTS:
        from gan.space.static_site import build_static_site

        if not (SHIPPED_WEIGHTS / "model.safetensors").is_file():
            pytest.skip("no shipped weights in weights/")
        skip_without_the_runtime_files()
        weights = tmp_path_factory.mktemp("space-weights")
        for item in SHIPPED_WEIGHTS.iterdir():
            if item.is_file():
                shutil.copy2(item, weights / item.name)
        standin_encoder_onnx(weights / "encoder.onnx")
        write_timeline(weights)
        site = tmp_path_factory.mktemp("space") / "site"
        build_static_site(site, weights)
        _EXPORTS["site"], _EXPORTS["weights"] = site, weights
    return _EXPORTS["site"]


def exported_weights(tmp_path_factory) -> Path:
    """The weights folder exported_site exported (with its timeline)."""
    exported_site(tmp_path_factory)
    return _EXPORTS["weights"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extra_headers: dict[str, str] = {}

    def end_headers(self) -> None:
        for name, value in self.extra_headers.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serving(folder: Path, headers: dict[str, str] | None = None):
    """`python -m http.server -d folder` in a thread on 127.0.0.1, a free port, sending `headers`
    with every file too: yields the URL."""
    handler_class = type("_Handler", (_QuietHandler,), {"extra_headers": dict(headers or {})})
    handler = functools.partial(handler_class, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def run_node(script: str, payload: object, timeout: float = 60) -> object:
    """Run an ES module `script` under Node with the page's modules importable as ./web/...;
    `payload` arrives as JSON on stdin, and the script prints its JSON answer."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    prelude = ("import fs from 'fs';\nconst input = JSON.parse(fs.readFileSync(0, 'utf8'));\n"
               "const out = (value) => process.stdout.write(JSON.stringify(value));\n")
    body = script.replace("./web/", WEB.as_uri() + "/")
    done = subprocess.run([node, "--input-type=module", "-e", prelude + body], input=json.dumps(payload),
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"node failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)
